// cg-trainer flicker on synthetic clips of known motion and known flicker, and on bad input.
#include "tests/trainer/trainer-helpers.h"
#include "tests/video/clips.h"
#include "trainer/report/flicker.h"

#include <gmock/gmock.h>
#include <nlohmann/json.hpp>

#include <fstream>

namespace cg {
namespace {

using ::testing::HasSubstr;

class Flicker : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new test::TempDir();
    moving_ = new std::vector<cv::Mat>(test::panning_clip(96, 80, 8, 1.5, 0.0));
    input_ = test::write_clip(*moving_, *dir_ / "input");
  }
  static void TearDownTestSuite() {
    delete moving_;
    delete dir_;
  }
  static std::string clip(const std::vector<cv::Mat>& frames, const std::string& name) {
    return test::write_clip(frames, *dir_ / name);
  }
  static test::TempDir* dir_;
  static std::vector<cv::Mat>* moving_;
  static std::string input_;
};
test::TempDir* Flicker::dir_ = nullptr;
std::vector<cv::Mat>* Flicker::moving_ = nullptr;
std::string Flicker::input_;

TEST_F(Flicker, TheInputAgainstItselfIsItsOwnFloor) {
  const FlickerReport r = measure_flicker({input_, input_, ""});
  EXPECT_EQ(r.frames, 8);
  EXPECT_EQ(r.width, 96);
  EXPECT_EQ(r.height, 80);
  ASSERT_EQ(r.output_error.size(), 7u);
  EXPECT_EQ(r.output_error, r.input_error);
  // A clean pan leaves only the resampling of a smooth texture: a small floor.
  EXPECT_LT(FlickerReport::mean(r.input_error), 1e-3);
}

TEST_F(Flicker, AStillVideoHasNoWarpingError) {
  const std::vector<cv::Mat> still(5, (*moving_)[0]);
  const std::string s = clip(still, "still");
  const FlickerReport r = measure_flicker({s, s, ""});
  EXPECT_EQ(FlickerReport::mean(r.input_error), 0.0);
  EXPECT_EQ(FlickerReport::mean(r.output_error), 0.0);
}

// Independent noise of sigma per frame and channel adds sigma^2 (frame t) plus the variance of
// the bilinearly warped noise of frame t+1 to each channel's squared difference. Bilinear
// weights at a sub-pixel offset scale a variance by between 1/4 and 1 per axis pair here
// (the pan is horizontal: between 1/2 and 1), so over three channels the added error lies in
// [3 sigma^2 (1 + 1/2), 3 sigma^2 (1 + 1)]: 4.5 sigma^2 at the exact half-pixel offset of this pan.
TEST_F(Flicker, InjectedFlickerIsMeasuredAtItsStrength) {
  const double floor = FlickerReport::mean(measure_flicker({input_, input_, ""}).input_error);
  double previous = floor;
  for (double sigma : {0.02, 0.04}) {
    const std::string noisy = clip(test::with_noise(*moving_, sigma, 7), "noisy" + std::to_string(sigma));
    const FlickerReport r = measure_flicker({input_, noisy, input_});
    const double added = FlickerReport::mean(r.output_error) - floor;
    EXPECT_GE(added, 3 * sigma * sigma * 1.5 * 0.9) << "sigma " << sigma;
    EXPECT_LE(added, 3 * sigma * sigma * 2.0 * 1.1) << "sigma " << sigma;
    EXPECT_GT(FlickerReport::mean(r.output_error), previous);  // more noise, more flicker
    previous = FlickerReport::mean(r.output_error);
    // The reference is the clean clip: its PSNR says how far the noisy one strayed.
    EXPECT_NEAR(r.psnr_to_reference(), -10 * std::log10(sigma * sigma), 1.5);
    EXPECT_EQ(r.reference_error, r.input_error);
  }
}

// A frozen output has nothing that flickers, but does not follow the input's motion: measured
// along that motion it is far from stable, and far from the per-frame translation.
TEST_F(Flicker, AFrozenOutputIsNotRatedStable) {
  const std::vector<cv::Mat> frozen(moving_->size(), (*moving_)[0]);
  const FlickerReport r = measure_flicker({input_, clip(frozen, "frozen"), input_});
  EXPECT_GT(FlickerReport::mean(r.output_error), 5 * FlickerReport::mean(r.input_error));
  EXPECT_LT(r.psnr_to_reference(), 25.0);
}

TEST_F(Flicker, OutputOfAnotherSizeIsComparedAtTheInputsSize) {
  std::vector<cv::Mat> big;
  for (const auto& f : *moving_) {
    cv::Mat b;
    cv::resize(f, b, {192, 160}, 0, 0, cv::INTER_LINEAR);
    big.push_back(b);
  }
  const FlickerReport r = measure_flicker({input_, clip(big, "big"), ""});
  EXPECT_EQ(r.width, 96);
  EXPECT_LT(FlickerReport::mean(r.output_error), 3 * FlickerReport::mean(r.input_error) + 1e-4);
}

TEST_F(Flicker, CommandPrintsPlotsAndWritesJson) {
  const std::string noisy = clip(test::with_noise(*moving_, 0.03, 9), "cli-noisy");
  const std::string png = *dir_ / "flicker.png";
  const auto text =
      test::run_trainer({"flicker", "--input", input_, "--output", noisy, "--reference", input_, "--plot", png});
  ASSERT_EQ(text.status, 0) << text.output;
  EXPECT_THAT(text.output, HasSubstr("frames: 8 (7 pairs) at 96x80"));
  EXPECT_THAT(text.output, HasSubstr("warping error of the output:"));
  EXPECT_THAT(text.output, HasSubstr("PSNR of the output to the reference:"));
  const cv::Mat plot = cv::imread(png);
  EXPECT_EQ(plot.cols, 960);
  const auto json = test::run_trainer({"flicker", "--input", input_, "--output", noisy, "--json"});
  ASSERT_EQ(json.status, 0) << json.output;
  const auto j = nlohmann::json::parse(json.output);
  EXPECT_EQ(j["frames"], 8);
  EXPECT_EQ(j["per_pair"]["output"].size(), 7u);
  EXPECT_GT(j["output_to_input_ratio"].get<double>(), 2.0);
  EXPECT_FALSE(j.contains("psnr_output_to_reference_db"));
}

TEST_F(Flicker, BadInputGetsAClearMessage) {
  const std::string text_file = *dir_ / "notes.mp4";
  std::ofstream(text_file) << "not a video\n";
  const std::string one = clip({(*moving_)[0]}, "one");
  const std::string shorter = clip({moving_->begin(), moving_->begin() + 5}, "shorter");
  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{"--input", *dir_ / "missing.mp4", "--output", input_}, "missing.mp4: no such file"},
      {{"--input", text_file, "--output", input_}, "notes.mp4: "},
      {{"--input", one, "--output", one}, "has one frame; flicker needs at least two"},
      {{"--input", input_, "--output", shorter}, "different frame counts (" + input_ + " 8, " + shorter + " 5)"},
      {{"--input", input_, "--output", input_, "--reference", shorter}, "different frame counts"},
      {{"--input", *dir_ / "input", "--output", input_}, "is a folder; for an image sequence give a pattern"},
      {{"--input", input_, "--output", input_, "--plot", "/nonexistent-dir/f.png"}, "/nonexistent-dir/f.png"},
  };
  for (const auto& c : cases) {
    std::vector<std::string> args = {"flicker"};
    args.insert(args.end(), c.args.begin(), c.args.end());
    const auto r = test::run_trainer(args);
    EXPECT_EQ(r.status, 1) << c.message << "\n" << r.output;
    EXPECT_THAT(r.output, HasSubstr(c.message)) << r.output;
  }
}

}  // namespace
}  // namespace cg
