#include "trainer/data/dataset.h"
#include "trainer/data/image-io.h"
#include "trainer/data/preprocess.h"
#include "trainer/train/options.h"

#include "tests/generator-helpers.h"
#include "tests/test-helpers.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <opencv2/imgcodecs.hpp>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

namespace cg {
namespace {

namespace fs = std::filesystem;
using test::TempDir;

cv::Mat noise_image(int w, int h, int seed = 1) {
  cv::Mat m(h, w, CV_8UC3);
  cv::RNG rng(static_cast<uint64_t>(seed));
  rng.fill(m, cv::RNG::UNIFORM, 0, 256);
  return m;
}

void write_bytes(const std::string& path, const std::string& bytes) { std::ofstream(path, std::ios::binary) << bytes; }

TEST(ImageIo, ExtensionsInAnyCaseAndSorted) {
  TempDir d;
  for (const char* f : {"b.Png", "a.JPG", "c.jpeg", "d.BMP", "e.webp", "notes.txt", "f.gif"}) write_bytes(d / f, "x");
  fs::create_directory(d / "sub.png");
  const auto files = list_images(d.path.string());
  ASSERT_EQ(files.size(), 5u);
  EXPECT_EQ(fs::path(files[0]).filename(), "a.JPG");
  EXPECT_EQ(fs::path(files[4]).filename(), "e.webp");
}

// A write that fails says which file and why, as an I/O error, not an image one.
TEST(ImageIo, WriteFailureNamesTheFileAndTheReason) {
  TempDir d;
  write_bytes(d / "file", "x");
  const std::string path = d / "file/out.png";
  try {
    write_rgb(path, noise_image(8, 8));
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kIo);
    EXPECT_EQ(std::string(e.what()), path + ": cannot write (" + std::strerror(ENOTDIR) + ")");
  }
  // An extension no encoder knows is the image's problem.
  try {
    write_rgb(d / "out.nosuchformat", noise_image(8, 8));
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kImage) << e.what();
  }
}

TEST(ImageIo, GrayAlphaAnd16BitBecome8BitRgb) {
  TempDir d;
  cv::Mat gray(5, 7, CV_8U, cv::Scalar(100));
  cv::imwrite(d / "gray.png", gray);
  cv::Mat bgra(5, 7, CV_8UC4, cv::Scalar(10, 20, 30, 0));  // B, G, R, fully transparent
  cv::imwrite(d / "bgra.png", bgra);
  cv::Mat deep(5, 7, CV_16UC3, cv::Scalar(65535, 0, 257 * 40));
  cv::imwrite(d / "deep.png", deep);
  for (const char* f : {"gray.png", "bgra.png", "deep.png"}) {
    const cv::Mat m = read_rgb(d / f);
    EXPECT_EQ(m.type(), CV_8UC3) << f;
    EXPECT_EQ(m.cols, 7);
    EXPECT_EQ(m.rows, 5);
  }
  EXPECT_EQ(read_rgb(d / "gray.png").at<cv::Vec3b>(2, 3), cv::Vec3b(100, 100, 100));
  EXPECT_EQ(read_rgb(d / "bgra.png").at<cv::Vec3b>(0, 0), cv::Vec3b(30, 20, 10));  // RGB, alpha dropped
  EXPECT_EQ(read_rgb(d / "deep.png").at<cv::Vec3b>(0, 0), cv::Vec3b(40, 0, 255));
}

TEST(ImageIo, CorruptAndMissingFilesNameTheFile) {
  TempDir d;
  write_bytes(d / "bad.png", "\x89PNG\r\n\x1a\n this is not a png");
  try {
    read_rgb(d / "bad.png");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("bad.png"), std::string::npos) << e.what();
  }
  EXPECT_THROW(read_rgb(d / "missing.png"), Error);
}

TEST(ImageIo, TensorRangeIsMinusOneToOne) {
  cv::Mat m(2, 2, CV_8UC3, cv::Scalar(0, 0, 0));
  m.at<cv::Vec3b>(0, 1) = {255, 255, 255};
  m.at<cv::Vec3b>(1, 0) = {255, 0, 128};
  auto t = image_to_tensor(m);
  ASSERT_EQ(t.sizes(), (std::vector<int64_t>{3, 2, 2}));
  EXPECT_FLOAT_EQ(t[0][0][0].item<float>(), -1.0f);
  EXPECT_FLOAT_EQ(t[0][0][1].item<float>(), 1.0f);
  EXPECT_FLOAT_EQ(t[0][1][0].item<float>(), 1.0f);   // R of (1, 0)
  EXPECT_FLOAT_EQ(t[1][1][0].item<float>(), -1.0f);  // G
  EXPECT_NEAR(t[2][1][0].item<float>(), 128 / 127.5 - 1, 1e-6);
  EXPECT_TRUE(tensor_to_image(t).at<cv::Vec3b>(1, 0) == cv::Vec3b(255, 0, 128));
}

struct ModeCase {
  const char* mode;
  int w, h, load, crop;
  int out_w, out_h;
  bool upscaled;
};

class Preprocess : public ::testing::TestWithParam<ModeCase> {};

TEST_P(Preprocess, ShapeAndRange) {
  const auto c = GetParam();
  // Wide black and white stripes: resampling keeps both extremes, so the range is checkable.
  cv::Mat img(c.h, c.w, CV_8UC3);
  for (int x = 0; x < c.w; ++x) img.col(x).setTo(cv::Scalar::all((x / 20) % 2 ? 255 : 0));
  PreprocessOptions o{parse_preprocess_mode(c.mode), c.load, c.crop, true};
  Rng rng(3);
  const auto r = preprocess(img, o, rng);
  EXPECT_EQ(r.image.cols, c.out_w);
  EXPECT_EQ(r.image.rows, c.out_h);
  EXPECT_EQ(r.upscaled, c.upscaled);
  const auto t = image_to_tensor(r.image);
  EXPECT_GE(t.min().item<float>(), -1.0f);
  EXPECT_LE(t.max().item<float>(), 1.0f);
  EXPECT_FLOAT_EQ(t.min().item<float>(), -1.0f);
  EXPECT_FLOAT_EQ(t.max().item<float>(), 1.0f);
}

INSTANTIATE_TEST_SUITE_P(Modes, Preprocess,
                         ::testing::Values(ModeCase{"resize_and_crop", 100, 60, 286, 256, 256, 256, false},
                                           ModeCase{"resize_and_crop", 300, 200, 72, 64, 64, 64, false},
                                           ModeCase{"crop", 100, 60, 286, 32, 32, 32, false},
                                           ModeCase{"crop", 100, 60, 286, 128, 128, 128, true},
                                           // width 64, height max(64 * 60 / 100, 32) = 38, to a multiple of 4
                                           ModeCase{"scale_width", 100, 60, 64, 32, 64, 40, false},
                                           ModeCase{"scale_width_and_crop", 100, 60, 64, 32, 32, 32, false},
                                           // sides to the nearest multiple of 4, halves to even as Python's round
                                           ModeCase{"none", 102, 58, 286, 256, 104, 56, false}),
                         [](const auto& info) {
                           return std::string(info.param.mode) + "_" + std::to_string(info.param.w) + "x" +
                                  std::to_string(info.param.h) + "_" + std::to_string(info.param.crop);
                         });

// The modes that keep an image's size round it to the generator's rule, not to a fixed 4: to the
// nearest multiple (halves to even), and up to the rule's minimum.
TEST(Preprocess, KeptSizesRoundToTheGeneratorsRule) {
  const cv::Mat img = noise_image(102, 58);
  auto sides = [&](PreprocessMode mode, const SizeRule& rule) {
    Rng rng(1);
    const cv::Mat out = preprocess(img, {mode, 64, 32, false, rule}, rng).image;
    return std::make_pair(out.cols, out.rows);
  };
  EXPECT_EQ(sides(PreprocessMode::kNone, {kSizeMultiple, kMinSize}), std::make_pair(104, 56));
  EXPECT_EQ(sides(PreprocessMode::kNone, {16, 16}), std::make_pair(96, 64));  // 6.375 and 3.625 multiples
  EXPECT_EQ(sides(PreprocessMode::kNone, {8, 8}), std::make_pair(104, 56));   // 12.75 and 7.25
  // unet_128's rule: 102 is nearest to 128, 58 to 0, which goes up to the minimum, 128.
  EXPECT_EQ(sides(PreprocessMode::kNone, size_rule(test::tiny_unet128())), std::make_pair(128, 128));
  // scale_width: 64 wide, max(64 * 58 / 102, 32) = 36 high, which 16 rounds to 32.
  EXPECT_EQ(sides(PreprocessMode::kScaleWidth, {16, 16}), std::make_pair(64, 32));
}

TEST(Preprocess, ModeNamesAndFacts) {
  ASSERT_EQ(preprocess_mode_names().size(), 5u);
  for (const auto& name : preprocess_mode_names()) EXPECT_EQ(preprocess_mode_name(parse_preprocess_mode(name)), name);
  try {
    parse_preprocess_mode("zoom");
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(),
                 "--preprocess zoom is not one of resize_and_crop, crop, scale_width, scale_width_and_crop, none");
  }
  // Every mode whose name says it crops takes fixed crops, and only those.
  for (const auto& name : preprocess_mode_names()) {
    const PreprocessMode m = parse_preprocess_mode(name);
    EXPECT_EQ(crops(m), name.find("crop") != std::string::npos) << name;
    EXPECT_EQ(resizes_before_crop(m), m == PreprocessMode::kResizeAndCrop || m == PreprocessMode::kScaleWidthAndCrop)
        << name;
  }
}

// DistributedSampler's rule: 5 items on 2 ranks are 3 each, the epoch padded by wrapping to 6.
TEST(Shard, PaddedByWrappingAndInterleaved) {
  DataOptions o;
  o.ranks = 2;
  o.batch_size = 2;
  EXPECT_EQ(shard_size(o, 5), 3);
  EXPECT_EQ(shard_batches(o, 5), 2);
  o.rank = 1;
  const auto first = batch_items(o, 5, 0), last = batch_items(o, 5, 1);
  ASSERT_EQ(first.size(), 2u);
  EXPECT_EQ(first[0].position, 1);
  EXPECT_EQ(first[1].position, 3);
  ASSERT_EQ(last.size(), 1u);
  EXPECT_EQ(last[0].position, 5);
  EXPECT_EQ(last[0].slot, 0);  // the padding wraps to the first item
  EXPECT_THROW(batch_items(o, 5, 2), std::out_of_range);
  o.ranks = 1;
  o.rank = 0;
  EXPECT_EQ(shard_batches(o, 5), 3);
}

TEST(PreprocessFlip, FlipsAboutHalfTheTimeAndOnlyWhenAllowed) {
  const cv::Mat img = noise_image(32, 32);
  int flipped = 0;
  for (uint64_t s = 0; s < 200; ++s) {
    Rng rng(s);
    const auto r = preprocess(img, {PreprocessMode::kNone, 32, 32, true}, rng);
    cv::Mat mirror;
    cv::flip(img, mirror, 1);
    const bool same = cv::norm(r.image, img, cv::NORM_INF) == 0;
    const bool mirrored = cv::norm(r.image, mirror, cv::NORM_INF) == 0;
    ASSERT_TRUE(same || mirrored);
    flipped += mirrored;
    Rng rng2(s);
    EXPECT_EQ(cv::norm(preprocess(img, {PreprocessMode::kNone, 32, 32, false}, rng2).image, img, cv::NORM_INF), 0);
  }
  EXPECT_GT(flipped, 70);
  EXPECT_LT(flipped, 130);
}

struct Folder {
  TempDir dir;
  Folder(int nA, int nB) {
    for (const char* d : {"trainA", "trainB"}) fs::create_directories(dir / d);
    for (int i = 0; i < nA; ++i) cv::imwrite(dir / ("trainA/a" + std::to_string(i) + ".png"), noise_image(40, 40, i));
    for (int i = 0; i < nB; ++i)
      cv::imwrite(dir / ("trainB/b" + std::to_string(i) + ".jpg"), noise_image(40, 40, 100 + i));
  }
  DataOptions options() const {
    DataOptions o;
    o.dataroot = dir.path.string();
    o.preprocess = {PreprocessMode::kResizeAndCrop, 36, 32, true};
    return o;
  }
};

TEST(Dataset, EpochIsTheLargerDomainAndBatchesAreReproducible) {
  Folder f(3, 5);
  UnalignedDataset data(f.options());
  EXPECT_EQ(data.size(), 5);
  EXPECT_EQ(data.batches_per_epoch(), 5);
  const auto b1 = data.batch(42, 3, 2), b2 = data.batch(42, 3, 2);
  EXPECT_TRUE(b1.A.equal(b2.A));
  EXPECT_TRUE(b1.B.equal(b2.B));
  EXPECT_EQ(b1.A.sizes(), (std::vector<int64_t>{1, 3, 32, 32}));
  // Every A image appears in an epoch (in some order).
  std::set<std::string> seen;
  for (int64_t i = 0; i < data.batches_per_epoch(); ++i) seen.insert(data.batch(42, 1, i).paths_A[0]);
  EXPECT_EQ(seen.size(), 3u);
  // Another epoch shuffles differently (with 5 items, the chance of the same order is 1/120).
  std::vector<std::string> e1, e2;
  for (int64_t i = 0; i < 5; ++i) {
    e1.push_back(data.batch(42, 1, i).paths_B[0] + data.batch(42, 1, i).paths_A[0]);
    e2.push_back(data.batch(42, 2, i).paths_B[0] + data.batch(42, 2, i).paths_A[0]);
  }
  EXPECT_NE(e1, e2);
}

TEST(Dataset, SerialBatchesPairInOrder) {
  Folder f(3, 3);
  auto o = f.options();
  o.serial_batches = true;
  UnalignedDataset data(o);
  for (int64_t i = 0; i < 3; ++i) {
    const auto b = data.batch(1, 1, i);
    EXPECT_EQ(fs::path(b.paths_A[0]).filename(), "a" + std::to_string(i) + ".png");
    EXPECT_EQ(fs::path(b.paths_B[0]).filename(), "b" + std::to_string(i) + ".jpg");
  }
}

TEST(Dataset, BatchSizeStacksAndLastBatchIsShorter) {
  Folder f(5, 2);
  auto o = f.options();
  o.batch_size = 2;
  UnalignedDataset data(o);
  EXPECT_EQ(data.batches_per_epoch(), 3);
  EXPECT_EQ(data.batch(1, 1, 0).A.size(0), 2);
  EXPECT_EQ(data.batch(1, 1, 2).A.size(0), 1);
}

TEST(Dataset, CorruptImagesAreSkippedAndCounted) {
  Folder f(3, 2);
  write_bytes(f.dir / "trainA/broken.png", "not an image at all");
  UnalignedDataset data(f.options());
  EXPECT_EQ(data.files_A().size(), 4u);
  for (int64_t i = 0; i < data.batches_per_epoch(); ++i)
    EXPECT_EQ(data.batch(9, 1, i).paths_A[0].find("broken"), std::string::npos);
  ASSERT_EQ(data.problems().skipped.size(), 1u);
  EXPECT_EQ(fs::path(data.problems().skipped[0]).filename(), "broken.png");
}

TEST(Dataset, MissingAndEmptyFoldersAreClearErrors) {
  TempDir d;
  auto message = [](const DataOptions& o) {
    try {
      UnalignedDataset data(o);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  DataOptions o;
  o.dataroot = d / "nowhere";
  EXPECT_NE(message(o).find("nowhere"), std::string::npos);
  o.dataroot = d.path.string();
  EXPECT_NE(message(o).find("trainA: no such folder"), std::string::npos) << message(o);
  fs::create_directories(d / "trainA");
  fs::create_directories(d / "trainB");
  cv::imwrite(d / "trainA/x.png", noise_image(8, 8));
  EXPECT_NE(message(o).find("trainB: no images"), std::string::npos) << message(o);
  // Only unreadable files: an error at the first batch that needs one.
  write_bytes(d / "trainB/y.png", "junk");
  o.preprocess = {PreprocessMode::kNone, 8, 8, false};
  UnalignedDataset data(o);
  try {
    data.batch(1, 1, 0);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("none of its 1 images could be read"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace cg
