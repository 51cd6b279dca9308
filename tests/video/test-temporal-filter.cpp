// The temporal filter on clips of known motion: it removes injected flicker along the motion,
// starts afresh where the input gives it no previous frame to follow, and leaves off untouched.
#include "tests/video/clips.h"
#include "video/temporal-filter.h"

#include <gtest/gtest.h>

namespace cg::video {
namespace {

double mean_warping_error(const std::vector<cv::Mat>& input, const std::vector<cv::Mat>& output) {
  FlowEstimator flow(FlowPreset::kMedium);
  double sum = 0;
  for (size_t t = 0; t + 1 < input.size(); ++t)
    sum += frame_pair(flow, input[t], input[t + 1]).warping_error(output[t], output[t + 1]);
  return sum / static_cast<double>(input.size() - 1);
}

double mse(const cv::Mat& a, const cv::Mat& b) {
  cv::Mat d;
  cv::absdiff(a, b, d);
  d.convertTo(d, CV_64F);
  const cv::Scalar s = cv::sum(d.mul(d));
  return (s[0] + s[1] + s[2]) / (3.0 * static_cast<double>(a.total()));
}

// A "translation" that flickers: the input plus independent noise in every frame. The filter,
// following the input's motion, averages the noise over frames and so lowers both the warping
// error and the distance to the clean frames.
TEST(TemporalFilter, LowersInjectedFlickerAlongTheMotion) {
  const auto input = test::panning_clip(96, 80, 12, 1.0, 0.5);
  const auto flickering = test::with_noise(input, 0.04, 3);
  TemporalFilter filter(FlowPreset::kFast);
  std::vector<cv::Mat> filtered;
  int blended = 0;
  for (size_t t = 0; t < input.size(); ++t) {
    cv::Mat out = flickering[t].clone();
    blended += filter.apply(input[t], out, 0.5);
    filtered.push_back(out);
  }
  EXPECT_EQ(blended, 11);  // every frame but the first
  EXPECT_EQ(cv::norm(filtered[0], flickering[0], cv::NORM_INF), 0.0);
  const double before = mean_warping_error(input, flickering), after = mean_warping_error(input, filtered);
  EXPECT_LT(after, 0.5 * before) << before << " -> " << after;
  double mse_before = 0, mse_after = 0;
  for (size_t t = 1; t < input.size(); ++t) {
    mse_before += mse(flickering[t], input[t]);
    mse_after += mse(filtered[t], input[t]);
  }
  EXPECT_LT(mse_after, 0.8 * mse_before);
}

// Frames larger than the flow's working size: the flow is found on a smaller copy and scaled
// back, and still follows the motion.
TEST(TemporalFilter, FollowsTheMotionOfFramesLargerThanItsFlowSize) {
  ASSERT_GT(640, TemporalFilter::kFlowSide);
  const auto input = test::panning_clip(640, 200, 6, 3.0, 1.0);
  const auto flickering = test::with_noise(input, 0.04, 8);
  TemporalFilter filter;
  std::vector<cv::Mat> filtered;
  for (size_t t = 0; t < input.size(); ++t) {
    cv::Mat out = flickering[t].clone();
    filter.apply(input[t], out, 0.5);
    filtered.push_back(out);
  }
  EXPECT_LT(mean_warping_error(input, filtered), 0.6 * mean_warping_error(input, flickering));
}

TEST(TemporalFilter, StrengthZeroChangesNothing) {
  const auto input = test::panning_clip(64, 48, 3, 1.0, 0.0);
  const auto flickering = test::with_noise(input, 0.04, 4);
  TemporalFilter filter;
  for (size_t t = 0; t < input.size(); ++t) {
    cv::Mat out = flickering[t].clone();
    EXPECT_FALSE(filter.apply(input[t], out, 0.0));
    EXPECT_EQ(cv::norm(out, flickering[t], cv::NORM_INF), 0.0);
  }
}

// Frames with no previous frame to follow are left as the generator made them.
TEST(TemporalFilter, StartsAfreshAtCutsSizesAndResets) {
  const auto a = test::panning_clip(64, 48, 2, 1.0, 0.0, 1), b = test::panning_clip(64, 48, 1, 0.0, 0.0, 99);
  const auto noisy_a = test::with_noise(a, 0.04, 5);
  TemporalFilter filter;
  cv::Mat out = noisy_a[0].clone();
  EXPECT_FALSE(filter.apply(a[0], out, 1.0));
  out = noisy_a[1].clone();
  EXPECT_TRUE(filter.apply(a[1], out, 1.0));
  // Another scene: nearly every pixel fails the flows' consistency check.
  cv::Mat cut = b[0].clone();
  EXPECT_FALSE(filter.apply(b[0], cut, 1.0));
  EXPECT_EQ(cv::norm(cut, b[0], cv::NORM_INF), 0.0);
  // Another size: the previous frame is never read.
  const auto small = test::panning_clip(40, 30, 1, 0.0, 0.0, 1);
  cv::Mat resized = small[0].clone();
  EXPECT_FALSE(filter.apply(small[0], resized, 1.0));
  EXPECT_EQ(cv::norm(resized, small[0], cv::NORM_INF), 0.0);
  // After a reset, the same frame again has nothing to follow.
  filter.reset();
  out = small[0].clone();
  EXPECT_FALSE(filter.apply(small[0], out, 1.0));
}

}  // namespace
}  // namespace cg::video
