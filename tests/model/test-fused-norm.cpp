// Instance norm + ReLU + reflection padding in one pass against the three layers apart, in both
// layouts the engine uses; and the generator's inference forward, which fuses them, against its
// training forward, which does not.
#include "model/fused-norm.h"
#include "model/networks.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <vector>

namespace cg {
namespace {

// The three layers apart, computed in double on the contiguous layout: the exact value that both
// the fused pass and LibTorch's float kernels approximate.
torch::Tensor apart(const torch::Tensor& x, bool relu, int64_t pad) {
  auto y = torch::group_norm(x.to(torch::kDouble).contiguous(), x.size(1), {}, {}, 1e-5);
  if (relu) y = torch::relu(y);
  if (pad) y = torch::reflection_pad2d(y, {pad, pad, pad, pad});
  return y.to(torch::kFloat);
}

void expect_fused_equals_apart(int64_t n, int64_t c, int64_t h, int64_t w, bool relu, int64_t pad, bool last) {
  SCOPED_TRACE(::testing::Message() << n << "x" << c << "x" << h << "x" << w << (relu ? " relu" : "") << " pad " << pad
                                    << (last ? " channels-last" : ""));
  torch::manual_seed(c * 100 + w + pad);
  const auto format = last ? torch::MemoryFormat::ChannelsLast : torch::MemoryFormat::Contiguous;
  // An offset and a scale far from 0 and 1, as activations have, so that the statistics matter.
  const auto x = (torch::randn({n, c, h, w}) * 3 + 2).contiguous(format);
  ASSERT_TRUE(fused_norm_applies(x, pad));
  const auto got = fused_norm_relu_pad(x, relu, pad);
  const auto want = apart(x, relu, pad);
  ASSERT_EQ(got.sizes(), want.sizes());
  EXPECT_TRUE(got.is_contiguous(format));
  EXPECT_LE((got - want).abs().max().item<float>(), 1e-5f * want.abs().max().item<float>());
  if (relu) EXPECT_GE(got.min().item<float>(), 0.0f);
}

TEST(FusedNorm, EqualsNormReluPadApart) {
  for (bool last : {false, true}) {
    expect_fused_equals_apart(1, 16, 64, 64, true, 3, last);  // a student's full-resolution head
    expect_fused_equals_apart(2, 5, 7, 9, true, 2, last);     // a batch, odd channels and sides
    expect_fused_equals_apart(1, 8, 13, 6, false, 1, last);   // no ReLU
    expect_fused_equals_apart(1, 24, 10, 11, true, 0, last);  // no padding
    expect_fused_equals_apart(2, 3, 4, 4, false, 3, last);    // padding of side - 1
  }
}

// The statistics are summed in one order: an image gives the same bits alone or in a batch, in
// either layout (the element's batches must give its single frames' bytes).
TEST(FusedNorm, SameBitsAloneInABatchAndInEitherLayout) {
  torch::manual_seed(9);
  const auto x = torch::randn({3, 16, 45, 37}) * 2 + 1;  // chunks of 1024 pixels and a tail
  const auto want = fused_norm_relu_pad(x.narrow(0, 1, 1).contiguous(), true, 3);
  for (auto format : {torch::MemoryFormat::Contiguous, torch::MemoryFormat::ChannelsLast}) {
    EXPECT_TRUE(torch::equal(fused_norm_relu_pad(x.contiguous(format), true, 3).narrow(0, 1, 1), want));
    EXPECT_TRUE(torch::equal(fused_norm_relu_pad(x.narrow(0, 1, 1).contiguous(format), true, 3), want));
  }
}

TEST(FusedNorm, LeavesWhatItCannotTakeToTheLayers) {
  const auto x = torch::randn({1, 4, 8, 8});
  EXPECT_FALSE(fused_norm_applies(x, 8));                           // padding as wide as a side
  EXPECT_FALSE(fused_norm_applies(x.to(torch::kDouble), 1));        // not float32
  EXPECT_FALSE(fused_norm_applies(x.slice(3, 0, 8, 2), 1));         // a strided view
  EXPECT_FALSE(fused_norm_applies(torch::randn({4, 8, 8}), 1));     // not an image batch
  EXPECT_FALSE(fused_norm_applies(x.clone().requires_grad_(), 1));  // training
  EXPECT_TRUE(fused_norm_applies(x.contiguous(torch::MemoryFormat::ChannelsLast), 1));
}

// The inference forward fuses every norm/ReLU/pad run of the default layout (and runs the last
// conv directly); the training forward runs the layers as listed. Both against the same forward in
// double: the fused one is as close to it as the layers as listed are.
TEST(FusedNorm, InferenceForwardIsAsExactAsTheLayersAsListed) {
  GeneratorOptions o;
  o.ngf = 8;
  o.n_blocks = 2;
  torch::manual_seed(5);
  Generator g(o);
  g->eval();
  torch::NoGradGuard no_grad;
  for (auto& p : g->parameters()) p.normal_(0.0, 0.3);
  const auto x = torch::rand({2, 3, 36, 44}) * 2 - 1;
  std::vector<torch::Tensor> listed, fused;
  for (auto format : {torch::MemoryFormat::Contiguous, torch::MemoryFormat::ChannelsLast}) {
    listed.push_back(g->forward(x.contiguous(format)));
    g->prepare_inference(false);
    fused.push_back(g->forward_inference(x.contiguous(format)));
  }
  g->to(torch::kDouble);
  const auto exact = g->forward(x.to(torch::kDouble)).to(torch::kFloat);
  for (size_t f = 0; f < listed.size(); ++f) {
    const float listed_error = (listed[f] - exact).abs().max().item<float>();
    const float fused_error = (fused[f] - exact).abs().max().item<float>();
    EXPECT_LE(fused_error, 2 * listed_error + 1e-6f) << (f ? "channels-last" : "contiguous");
    EXPECT_LE(fused_error, 1e-4f);
  }
}

}  // namespace
}  // namespace cg
