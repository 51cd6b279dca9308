#include "trainer/data/image-pool.h"

#include <ATen/ATen.h>

#include <stdexcept>

namespace cg {

at::Tensor ImagePool::query(const at::Tensor& images) {
  if (capacity_ == 0) return images;
  std::vector<at::Tensor> out;
  out.reserve(static_cast<size_t>(images.size(0)));
  for (int64_t i = 0; i < images.size(0); ++i) {
    at::Tensor image = images[i].detach().unsqueeze(0).clone();
    if (static_cast<int64_t>(images_.size()) < capacity_) {
      images_.push_back(image);
      out.push_back(image);
    } else if (rng_.uniform() > 0.5) {
      const size_t slot = static_cast<size_t>(rng_.below(static_cast<uint64_t>(capacity_)));
      out.push_back(images_[slot]);
      images_[slot] = image;
    } else {
      out.push_back(image);
    }
  }
  return at::cat(out, 0);
}

void ImagePool::restore(std::vector<at::Tensor> images, const std::string& rng_state) {
  if (static_cast<int64_t>(images.size()) > capacity_)
    throw std::runtime_error("saved image pool holds more images than its capacity");
  images_ = std::move(images);
  rng_.set_state(rng_state);
}

}  // namespace cg
