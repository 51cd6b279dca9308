#include "trainer/data/image-pool.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

namespace cg {
namespace {

at::Tensor image(float v) { return at::full({1, 3, 2, 2}, v); }

TEST(ImagePool, FillsFirstAndReturnsTheNewImages) {
  ImagePool pool(3, 11);
  for (int i = 0; i < 3; ++i) {
    auto out = pool.query(image(static_cast<float>(i)));
    EXPECT_TRUE(out.equal(image(static_cast<float>(i))));
  }
  ASSERT_EQ(pool.images().size(), 3u);
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(pool.images()[static_cast<size_t>(i)].equal(image(static_cast<float>(i))));
}

// Once full, each query follows the official rule with the pool's own draws: u > 0.5 swaps a
// random slot, otherwise the new image passes through. Replayed here with the same generator.
TEST(ImagePool, OnceFullSwapsWithProbabilityOneHalf) {
  const uint64_t seed = 5;
  ImagePool pool(4, seed);
  std::vector<float> model;  // the expected contents
  for (int i = 0; i < 4; ++i) {
    pool.query(image(static_cast<float>(i)));
    model.push_back(static_cast<float>(i));
  }
  Rng replay(seed);
  int swapped = 0;
  const int n = 400;
  for (int i = 0; i < n; ++i) {
    const float v = 100.0f + static_cast<float>(i);
    const float got = pool.query(image(v)).view(-1)[0].item<float>();
    if (replay.uniform() > 0.5) {
      const size_t slot = static_cast<size_t>(replay.below(4));
      EXPECT_EQ(got, model[slot]) << "query " << i;
      model[slot] = v;
      ++swapped;
    } else {
      EXPECT_EQ(got, v) << "query " << i;
    }
  }
  for (size_t s = 0; s < 4; ++s) EXPECT_EQ(pool.images()[s].view(-1)[0].item<float>(), model[s]);
  // About half of the queries return an older image.
  EXPECT_GT(swapped, n * 4 / 10);
  EXPECT_LT(swapped, n * 6 / 10);
}

TEST(ImagePool, BatchesArePooledPerImageAndDetached) {
  ImagePool pool(50, 1);
  auto batch = at::randn({2, 3, 4, 4}).set_requires_grad(true);
  auto out = pool.query(batch * 1.0);
  EXPECT_FALSE(out.requires_grad());
  EXPECT_TRUE(out.equal(batch.detach()));
  EXPECT_EQ(pool.images().size(), 2u);
  // Stored images are copies: changing the batch later does not change the pool.
  batch.detach().zero_();
  EXPECT_FALSE(pool.images()[0].equal(at::zeros({1, 3, 4, 4})));
}

TEST(ImagePool, SizeZeroReturnsTheInput) {
  ImagePool pool(0, 1);
  auto x = at::randn({2, 3, 4, 4});
  EXPECT_TRUE(pool.query(x).equal(x));
  EXPECT_TRUE(pool.images().empty());
}

TEST(ImagePool, RestoreContinuesTheSameSequence) {
  ImagePool a(2, 9);
  for (int i = 0; i < 6; ++i) a.query(image(static_cast<float>(i)));
  ImagePool b(2, 1234);
  std::vector<at::Tensor> copy;
  for (const auto& t : a.images()) copy.push_back(t.clone());
  b.restore(copy, a.rng_state());
  for (int i = 0; i < 20; ++i) {
    const float v = 50.0f + static_cast<float>(i);
    EXPECT_TRUE(a.query(image(v)).equal(b.query(image(v))));
  }
}

}  // namespace
}  // namespace cg
