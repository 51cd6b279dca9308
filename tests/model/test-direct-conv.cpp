// The direct few-output convolution against LibTorch's conv2d, on shapes that exercise every
// register blocking (1 to 4 outputs), the 8-pixel blocks and the scalar tail, batches and kernels
// other than 7x7; and the cases it must leave to conv2d.
#include "model/direct-conv.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <tuple>

namespace cg {
namespace {

bool cpu_takes_it() { return direct_conv_applies(torch::zeros({1, 1, 8, 8}), torch::zeros({1, 1, 1, 1}), 1, 0, 1); }

// Equal within 1e-5 of the output's range: the sums run in another order, with FMAs.
void expect_equal_to_conv2d(int64_t batch, int64_t in, int64_t out, int64_t h, int64_t w, int64_t k, bool bias,
                            bool channels_last = false) {
  SCOPED_TRACE(::testing::Message() << batch << "x" << in << "x" << h << "x" << w << " -> " << out << ", k " << k
                                    << (bias ? "" : ", no bias") << (channels_last ? ", channels-last" : ""));
  torch::manual_seed(in * 1000 + out * 100 + w);
  const auto format = channels_last ? torch::MemoryFormat::ChannelsLast : torch::MemoryFormat::Contiguous;
  const auto x = torch::randn({batch, in, h, w}).contiguous(format);
  const auto weight = torch::randn({out, in, k, k});
  const auto b = bias ? torch::randn({out}) : torch::Tensor();
  ASSERT_TRUE(direct_conv_applies(x, weight, 1, 0, 1));
  const auto want = torch::conv2d(x, weight, b);
  const auto got = direct_conv(x, weight, b);
  ASSERT_EQ(got.sizes(), want.sizes());
  EXPECT_TRUE(got.is_contiguous(format));  // the next layer reads the layout it was given
  EXPECT_LE((got - want).abs().max().item<float>(), 1e-5f * want.abs().max().item<float>());
}

TEST(DirectConv, EqualsConv2dForEveryBlocking) {
  if (!cpu_takes_it()) GTEST_SKIP() << "this CPU has no AVX2 and FMA: conv2d runs everywhere";
  for (int64_t out = 1; out <= kDirectConvMaxOutputs; ++out) {
    expect_equal_to_conv2d(1, 16, out, 70, 262, 7, true);        // whole blocks of 16 to 32 pixels, then tails
    expect_equal_to_conv2d(2, 5, out, 13, 8 + 7 - 1, 7, false);  // exactly one 8-pixel block
  }
  expect_equal_to_conv2d(3, 64, 3, 16, 37, 3, true);  // a batch, a 3x3 kernel, a 29-pixel row
  expect_equal_to_conv2d(1, 1, 3, 9, 40, 1, true);    // 1x1
}

// Channels-last, the engine's layout on the CPU: sums along the channels, blocks of 3 or 4
// pixels, then single pixels.
TEST(DirectConv, EqualsConv2dChannelsLast) {
  if (!cpu_takes_it()) GTEST_SKIP() << "this CPU has no AVX2 and FMA";
  for (int64_t out = 1; out <= kDirectConvMaxOutputs; ++out) {
    expect_equal_to_conv2d(1, 16, out, 20, 45, 7, true, true);
    expect_equal_to_conv2d(2, 8, out, 9, 14, 3, false, true);
  }
  expect_equal_to_conv2d(1, 64, 3, 40, 70, 7, true, true);
}

TEST(DirectConv, MatchesTheOutputLayerOfTheDefaultGenerator) {
  if (!cpu_takes_it()) GTEST_SKIP() << "this CPU has no AVX2 and FMA";
  // resnet_9blocks' last conv: 64 -> 3, 7x7, on a reflect-padded 256x256 frame.
  expect_equal_to_conv2d(1, 64, 3, 262, 262, 7, true);
}

TEST(DirectConv, LeavesOtherConvolutionsToConv2d) {
  const auto x = torch::zeros({1, 16, 32, 32});
  const auto w3 = torch::zeros({3, 16, 7, 7});
  EXPECT_FALSE(direct_conv_applies(x, torch::zeros({8, 16, 7, 7}), 1, 0, 1));     // too many outputs
  EXPECT_FALSE(direct_conv_applies(x, w3, 2, 0, 1));                              // strided
  EXPECT_FALSE(direct_conv_applies(x, w3, 1, 3, 1));                              // padded
  EXPECT_FALSE(direct_conv_applies(x, torch::zeros({3, 8, 7, 7}), 1, 0, 2));      // grouped
  EXPECT_FALSE(direct_conv_applies(x.to(torch::kDouble), w3, 1, 0, 1));           // not float32
  EXPECT_FALSE(direct_conv_applies(torch::zeros({1, 16, 32, 12}), w3, 1, 0, 1));  // rows under 8 pixels
  // Layouts it would have to copy: channels-last with channels not a multiple of 8, a strided view.
  EXPECT_FALSE(direct_conv_applies(torch::zeros({1, 12, 32, 32}).contiguous(torch::MemoryFormat::ChannelsLast),
                                   torch::zeros({3, 12, 7, 7}), 1, 0, 1));
  EXPECT_FALSE(direct_conv_applies(torch::zeros({1, 16, 32, 64}).slice(3, 0, 64, 2), w3, 1, 0, 1));
  // Training: autograd needs conv2d's backward.
  EXPECT_FALSE(direct_conv_applies(x, w3.clone().requires_grad_(), 1, 0, 1));
  torch::NoGradGuard no_grad;
  EXPECT_EQ(direct_conv_applies(x, w3.clone().requires_grad_(), 1, 0, 1), cpu_takes_it());
}

}  // namespace
}  // namespace cg
