#include "trainer/train/temporal-consistency.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <limits>
#include <vector>

namespace cg {

namespace {

// Box-Muller on two of the generator's uniforms; the second value is not kept, so the
// generator's saved state is all there is to resume.
double standard_normal(Rng& rng) {
  const double u = 1.0 - rng.uniform();  // in (0, 1]: the logarithm stays finite
  return std::sqrt(-2.0 * std::log(u)) * std::cos(6.283185307179586 * rng.uniform());
}

// Control points every kMotionCell pixels, the corners included.
int64_t control_points(int64_t side) { return std::max<int64_t>(2, (side - 2) / kMotionCell + 2); }

}  // namespace

RandomMotion draw_motion(Rng& rng, const at::Tensor& images) {
  const int64_t n = images.size(0), h = images.size(2), w = images.size(3);
  const int64_t gh = control_points(h), gw = control_points(w);
  std::vector<float> coarse(static_cast<size_t>(n * 2 * gh * gw));
  for (auto& d : coarse) d = static_cast<float>(kMotionSigma * standard_normal(rng));
  std::vector<float> shift(static_cast<size_t>(n * 2));
  for (auto& s : shift) s = static_cast<float>(kMotionShift * (2.0 * rng.uniform() - 1.0));
  const auto noise_seed = rng.below(std::numeric_limits<uint64_t>::max());

  const auto on = images.options().dtype(at::kFloat);
  const at::Tensor displacement =
      at::upsample_bicubic2d(at::tensor(coarse).view({n, 2, gh, gw}).to(on.device()), {h, w}, /*align_corners=*/true) +
      at::tensor(shift).view({n, 2, 1, 1}).to(on.device());
  // Source pixel centres; grid_sample (align_corners false) puts pixel i's centre at (2i + 1) / side - 1.
  const at::Tensor x = at::linspace(0, static_cast<double>(w - 1), w, on).view({1, 1, w}) + displacement.select(1, 0);
  const at::Tensor y = at::linspace(0, static_cast<double>(h - 1), h, on).view({1, h, 1}) + displacement.select(1, 1);
  RandomMotion m;
  m.grid = at::stack({(2 * x + 1) / static_cast<double>(w) - 1, (2 * y + 1) / static_cast<double>(h) - 1}, -1);
  m.valid = ((x >= 0) & (x <= static_cast<double>(w - 1)) & (y >= 0) & (y <= static_cast<double>(h - 1)))
                .unsqueeze(1)
                .to(at::kFloat);
  // Drawn on the CPU from a seed of `rng`, so it does not depend on the device or its generator.
  const at::Generator noise_rng = at::make_generator<at::CPUGeneratorImpl>(noise_seed);
  m.noise =
      (at::randn(images.sizes(), noise_rng, at::TensorOptions().dtype(at::kFloat)) * kMotionNoise).to(on.device());
  return m;
}

at::Tensor RandomMotion::move(const at::Tensor& images) const {
  return at::grid_sampler(images, grid.to(images.scalar_type()), /*bilinear*/ 0, /*border*/ 1, /*align_corners=*/false);
}

}  // namespace cg
