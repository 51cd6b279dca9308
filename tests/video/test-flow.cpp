// Optical flow, warping, the occlusion test and the warping error on frames with known motion.
#include "tests/video/clips.h"
#include "video/flow.h"

#include <gtest/gtest.h>

namespace cg::video {
namespace {

cv::Mat constant_flow(cv::Size size, float dx, float dy) { return cv::Mat(size, CV_32FC2, cv::Scalar(dx, dy)); }

TEST(Flow, WarpBringsTheNextFrameBack) {
  const auto clip = test::panning_clip(64, 48, 2, 3, 2);
  const cv::Mat back = warp(clip[1], constant_flow(clip[0].size(), 3, 2));
  // Where x + F(x) is inside the frame, whole-pixel motion is undone exactly.
  const cv::Rect inside(0, 0, 64 - 3, 48 - 2);
  EXPECT_EQ(cv::norm(back(inside), clip[0](inside), cv::NORM_INF), 0.0);
}

TEST(Flow, DisFindsAKnownPan) {
  const auto clip = test::panning_clip(96, 80, 2, 1.5, -1.0);
  FlowEstimator flow(FlowPreset::kMedium);
  const cv::Mat f = flow(clip[0], clip[1]), b = flow(clip[1], clip[0]);
  const cv::Rect inside(10, 10, 76, 60);
  const cv::Scalar mf = cv::mean(f(inside)), mb = cv::mean(b(inside));
  EXPECT_NEAR(mf[0], 1.5, 0.1);
  EXPECT_NEAR(mf[1], -1.0, 0.1);
  EXPECT_NEAR(mb[0], -1.5, 0.1);
  EXPECT_NEAR(mb[1], 1.0, 0.1);
  // The fast presets find it too, less precisely.
  FlowEstimator fast(FlowPreset::kUltrafast);
  EXPECT_NEAR(cv::mean(fast(clip[0], clip[1])(inside))[0], 1.5, 0.3);
}

TEST(Flow, VisibleWhereTheFlowsAgreeAndStayInside) {
  const cv::Size size(40, 30);
  const cv::Mat m = visible_mask(constant_flow(size, 3, 0), constant_flow(size, -3, 0));
  // Every pixel but those that move out of the frame (the right three columns).
  EXPECT_EQ(cv::countNonZero(m), (40 - 3) * 30);
  EXPECT_EQ(cv::countNonZero(m(cv::Rect(37, 0, 3, 30))), 0);
  // A backward flow that does not undo the forward one: |F + B|^2 = 9 > 0.01 * 9 + 0.5.
  EXPECT_EQ(cv::countNonZero(visible_mask(constant_flow(size, 3, 0), constant_flow(size, 0, 0))), 0);
  // Small disagreement is tolerated: |F + B|^2 = 0.25 <= 0.01 * (9 + 6.25) + 0.5.
  EXPECT_EQ(cv::countNonZero(visible_mask(constant_flow(size, 3, 0), constant_flow(size, -2.5, 0))), (40 - 3) * 30);
}

TEST(Flow, MotionBoundariesAreOccluded) {
  // The left half still, the right half moving: the seam is a motion boundary.
  cv::Mat f = constant_flow({40, 30}, 0, 0), b = constant_flow({40, 30}, 0, 0);
  f(cv::Rect(20, 0, 20, 30)).setTo(cv::Scalar(0, 2));
  b(cv::Rect(20, 0, 20, 30)).setTo(cv::Scalar(0, -2));
  const cv::Mat m = visible_mask(f, b);
  EXPECT_EQ(cv::countNonZero(m.col(19)) + cv::countNonZero(m.col(20)), 0);
  EXPECT_EQ(cv::countNonZero(m.col(5)), 30);
}

TEST(Flow, MaskedSquaredErrorSumsChannelsAndAveragesVisiblePixels) {
  const cv::Mat black(4, 4, CV_8UC3, cv::Scalar(0, 0, 0)), white(4, 4, CV_8UC3, cv::Scalar(255, 255, 255));
  cv::Mat half(4, 4, CV_8U, cv::Scalar(0));
  half(cv::Rect(0, 0, 2, 4)).setTo(1);
  EXPECT_DOUBLE_EQ(masked_squared_error(black, white, half), 3.0);
  cv::Mat mixed = black.clone();
  mixed(cv::Rect(0, 0, 2, 4)).setTo(cv::Scalar(51, 0, 0));  // 0.2 in one channel, visible half only
  EXPECT_NEAR(masked_squared_error(black, mixed, cv::Mat(4, 4, CV_8U, cv::Scalar(1))), 0.04 / 2, 1e-12);
  EXPECT_EQ(masked_squared_error(black, white, cv::Mat(4, 4, CV_8U, cv::Scalar(0))), 0.0);
}

}  // namespace
}  // namespace cg::video
