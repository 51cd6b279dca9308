// Reading torch.save files and importing official generator weights.
#include "model/official-import.h"
#include "model/state-dict-reader.h"
#include "tests/test-helpers.h"

#include <gmock/gmock.h>
#include <torch/torch.h>

namespace cg {
namespace {

using test::error_of;
using test::fixture;
using ::testing::HasSubstr;

TEST(StateDict, ReadsOrderedDictInFileOrder) {
  auto sd = read_state_dict(fixture("g9.pth"));
  ASSERT_EQ(sd.size(), 48u);
  EXPECT_EQ(sd.front().first, "model.1.weight");
  EXPECT_EQ(sd.back().first, "model.26.bias");
  EXPECT_EQ(test::tensor_named(sd, "model.19.weight").sizes(), at::IntArrayRef({256, 128, 3, 3}));
}

TEST(StateDict, ReadsViewsDtypesAndPlainDicts) {
  auto v = read_state_dict(fixture("views.pth"));
  auto t = test::tensor_named(v, "t");
  EXPECT_TRUE(t.equal(torch::arange(24.0).reshape({4, 6}).t().contiguous()));
  EXPECT_TRUE(test::tensor_named(v, "s").equal(torch::arange(3.0, 7.0)));
  auto i = test::tensor_named(v, "i");
  EXPECT_EQ(i.scalar_type(), at::kLong);
  EXPECT_TRUE(i.equal(torch::tensor({1, -2, 3}, torch::kLong)));
  auto half = read_state_dict(fixture("g6-ngf16-half-dict.pth"));
  EXPECT_EQ(half.front().second.scalar_type(), at::kHalf);
}

TEST(Import, OfficialNineBlocksInfersArchitecture) {
  auto g = import_official_generator(fixture("g9.pth"));
  EXPECT_EQ(g->options().ngf, 64);
  EXPECT_EQ(g->options().n_blocks, 9);
  EXPECT_FALSE(g->options().use_dropout);
}

TEST(Import, RunningStatsIgnoredAndSixBlocksInferred) {
  auto g = import_official_generator(fixture("g6-ngf16-running-stats.pth"));
  EXPECT_EQ(g->options().ngf, 16);
  EXPECT_EQ(g->options().n_blocks, 6);
  auto io = read_state_dict(fixture("g6-ngf16-io.pth"));
  torch::NoGradGuard no_grad;
  auto y = g->forward(test::tensor_named(io, "input"));
  EXPECT_LT(test::max_abs_diff(y, test::tensor_named(io, "output")), 1e-4);
}

TEST(Import, HalfPrecisionDictLoads) {
  auto g = import_official_generator(fixture("g6-ngf16-half-dict.pth"));
  EXPECT_EQ(g->named_parameters()["model.1.weight"].scalar_type(), at::kFloat);
}

TEST(Import, DropoutVariantLoads) {
  auto g = import_official_generator(fixture("g2-ngf8-dropout.pth"));
  EXPECT_TRUE(g->options().use_dropout);
  EXPECT_EQ(g->options().n_blocks, 2);
  auto io = read_state_dict(fixture("g2-ngf8-dropout-io.pth"));
  torch::NoGradGuard no_grad;
  EXPECT_LT(test::max_abs_diff(g->forward(test::tensor_named(io, "input")), test::tensor_named(io, "output")), 1e-4);
}

TEST(Import, WrongArchitectureNamesTheKey) {
  EXPECT_THAT(error_of([] { import_official_generator(fixture("discriminator.pth")); }),
              HasSubstr("not a generator this importer knows"));
  auto bad = error_of([] { import_official_generator(fixture("g6-bad-shape.pth")); });
  EXPECT_THAT(bad, HasSubstr("model.13.conv_block.5.weight"));
  EXPECT_THAT(bad, HasSubstr("[64, 64, 5, 5]"));
  EXPECT_THAT(bad, HasSubstr("[64, 64, 3, 3]"));
  EXPECT_THAT(error_of([] { import_official_generator(fixture("g6-extra-key.pth")); }),
              HasSubstr("unexpected key 'model.30.weight'"));
}

TEST(Import, DamagedFilesGiveClearErrors) {
  const auto legacy = error_of([] { read_state_dict(fixture("g6-ngf16-legacy.pth")); });
  EXPECT_THAT(legacy, HasSubstr("legacy (pre-1.6)"));
  EXPECT_THAT(legacy, HasSubstr("torch.save(torch.load("));
  const auto trunc = error_of([] { read_state_dict(fixture("truncated.pth")); });
  EXPECT_THAT(trunc, HasSubstr("truncated.pth"));
  EXPECT_THAT(trunc, HasSubstr("damaged or truncated"));
  EXPECT_THAT(error_of([] { read_state_dict(fixture("not-zip.pth")); }), HasSubstr("not a PyTorch file"));
  EXPECT_THAT(error_of([] { read_state_dict(fixture("empty.pth")); }), HasSubstr("not a PyTorch file"));
  EXPECT_THAT(error_of([] { read_state_dict(fixture("no-such-file.pth")); }), HasSubstr("cannot open"));
  EXPECT_THAT(error_of([] { read_state_dict(test::fixture("")); }), HasSubstr("is a directory"));
}

// Found by fuzz-state-dict: a final convolution with 0 output channels reached the generator's
// constructor, whose check threw a LibTorch error instead of a cg::Error.
TEST(Import, EmptyConvolutionIsAModelError) {
  const std::string path = std::string(std::getenv("CG_REGRESSIONS")) + "/state-dict-empty-conv.pth";
  EXPECT_THAT(error_of([&] { infer_generator_options(read_state_dict(path), path); }),
              HasSubstr("state-dict-empty-conv.pth"));
}

// A block index too long for a 64-bit integer made std::stoll throw std::out_of_range.
TEST(Import, HugeBlockIndexIsAModelError) {
  const std::string path = std::string(std::getenv("CG_REGRESSIONS")) + "/state-dict-huge-block-index.pth";
  EXPECT_THAT(error_of([&] { infer_generator_options(read_state_dict(path), path); }),
              HasSubstr("implausible block count"));
}

TEST(StateDict, EveryPrefixOfAFileFailsCleanly) {
  // Truncation at any byte must give an error, never a crash.
  std::ifstream f(fixture("views.pth"), std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  ASSERT_GT(bytes.size(), 1000u);
  for (size_t n = 0; n < bytes.size(); n += 7)
    EXPECT_THROW(read_state_dict_bytes(bytes.data(), n, "prefix"), Error) << n;
  EXPECT_NO_THROW(read_state_dict_bytes(bytes.data(), bytes.size(), "whole"));
}

TEST(StateDict, CorruptedPickleBytesFailCleanly) {
  std::ifstream f(fixture("views.pth"), std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  // Flip bytes one at a time across the file: each result is either a clean error or a read.
  int errors = 0;
  for (size_t at = 0; at < bytes.size(); at += 3) {
    std::string b = bytes;
    b[at] = static_cast<char>(b[at] ^ 0x5a);
    try {
      read_state_dict_bytes(b.data(), b.size(), "flipped");
    } catch (const Error&) {
      ++errors;
    }
  }
  EXPECT_GT(errors, 0);
}

}  // namespace
}  // namespace cg
