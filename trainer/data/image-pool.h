// The image buffer of Shrivastava et al. as the official code uses it: discriminators see a mix
// of the newest fakes and older ones, which steadies training.
#pragma once

#include "trainer/train/random.h"

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

namespace cg {

class ImagePool {
 public:
  explicit ImagePool(int64_t capacity = 50, uint64_t seed = 0) : capacity_(capacity), rng_(seed) {}

  // Per image of the batch: while the pool is not full, store it and return it; once full, with
  // probability 0.5 return a stored image and put the new one in its slot, otherwise return the
  // new one. A capacity of 0 returns the batch unchanged. Stored images are detached copies.
  at::Tensor query(const at::Tensor& images);

  int64_t capacity() const { return capacity_; }
  const std::vector<at::Tensor>& images() const { return images_; }
  std::string rng_state() const { return rng_.state(); }
  // Restores a saved pool (images and generator state).
  void restore(std::vector<at::Tensor> images, const std::string& rng_state);

 private:
  int64_t capacity_;
  Rng rng_;
  std::vector<at::Tensor> images_;
};

}  // namespace cg
