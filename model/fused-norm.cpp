#include "fused-norm.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/core/GradMode.h>

#include <cmath>
#include <vector>

namespace cg {

namespace {

constexpr double kEps = 1e-5;  // InstanceNorm2d's default

// The index a reflection padding reads for position i of a padded side (reflection_pad2d's rule:
// the edge itself is not repeated). Needs pad < n.
inline int64_t reflect(int64_t i, int64_t n) {
  if (i < 0) return -i;
  if (i >= n) return 2 * (n - 1) - i;
  return i;
}

// Sums and sums of squares in double: single-pass statistics whose cancellation stays far below
// float rounding for activations.
struct Moments {
  std::vector<float> mean, inv_std;  // per (image, channel)
};

Moments finish(const std::vector<double>& sum, const std::vector<double>& sq, int64_t count) {
  Moments m;
  m.mean.resize(sum.size());
  m.inv_std.resize(sum.size());
  for (size_t i = 0; i < sum.size(); ++i) {
    const double mean = sum[i] / count;
    const double var = std::max(sq[i] / count - mean * mean, 0.0);
    m.mean[i] = static_cast<float>(mean);
    m.inv_std[i] = static_cast<float>(1.0 / std::sqrt(var + kEps));
  }
  return m;
}

// [N, C, H, W] contiguous: one plane per (image, channel).
Moments planes_moments(const float* x, int64_t planes, int64_t area) {
  std::vector<double> sum(planes), sq(planes);
  at::parallel_for(0, planes, 1, [&](int64_t begin, int64_t end) {
    for (int64_t p = begin; p < end; ++p) {
      const float* v = x + p * area;
      // Eight independent sums: lanes a compiler vectorises without reordering any one sum.
      double s[8] = {}, q[8] = {};
      int64_t i = 0;
      for (; i + 8 <= area; i += 8)
        for (int k = 0; k < 8; ++k) {
          s[k] += v[i + k];
          q[k] += double(v[i + k]) * v[i + k];
        }
      for (; i < area; ++i) {
        s[0] += v[i];
        q[0] += double(v[i]) * v[i];
      }
      sum[p] = s[0] + s[1] + s[2] + s[3] + s[4] + s[5] + s[6] + s[7];
      sq[p] = q[0] + q[1] + q[2] + q[3] + q[4] + q[5] + q[6] + q[7];
    }
  });
  return finish(sum, sq, area);
}

// [N, H, W, C] in memory: a pixel's channels together; each image's pixels split among threads,
// whose partial sums are added in a fixed order so that the result does not depend on timing.
Moments pixels_moments(const float* x, int64_t images, int64_t area, int64_t channels) {
  constexpr int64_t kChunk = 4096;  // pixels per partial sum
  const int64_t chunks = (area + kChunk - 1) / kChunk;
  std::vector<double> part_sum(images * chunks * channels), part_sq(images * chunks * channels);
  at::parallel_for(0, images * chunks, 1, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      const int64_t n = t / chunks, first = (t % chunks) * kChunk, last = std::min(first + kChunk, area);
      double* s = &part_sum[t * channels];
      double* q = &part_sq[t * channels];
      for (int64_t i = first; i < last; ++i) {
        const float* v = x + (n * area + i) * channels;
        for (int64_t c = 0; c < channels; ++c) {
          s[c] += v[c];
          q[c] += double(v[c]) * v[c];
        }
      }
    }
  });
  std::vector<double> sum(images * channels), sq(images * channels);
  for (int64_t n = 0; n < images; ++n)
    for (int64_t k = 0; k < chunks; ++k)
      for (int64_t c = 0; c < channels; ++c) {
        sum[n * channels + c] += part_sum[(n * chunks + k) * channels + c];
        sq[n * channels + c] += part_sq[(n * chunks + k) * channels + c];
      }
  return finish(sum, sq, area);
}

inline float normalise(float v, float mean, float inv_std, bool relu) {
  const float y = (v - mean) * inv_std;
  return relu && y < 0.0f ? 0.0f : y;
}

}  // namespace

bool fused_norm_applies(const at::Tensor& x, int64_t pad) {
  if (!x.device().is_cpu() || x.scalar_type() != at::kFloat || x.dim() != 4) return false;
  if (x.requires_grad() && c10::GradMode::is_enabled()) return false;
  if (!x.is_contiguous() && !x.is_contiguous(at::MemoryFormat::ChannelsLast)) return false;
  return x.size(2) > pad && x.size(3) > pad && x.numel() > 0;
}

at::Tensor fused_norm_relu_pad(const at::Tensor& x, bool relu, int64_t pad) {
  const int64_t n = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
  const int64_t oh = h + 2 * pad, ow = w + 2 * pad;
  const bool last = !x.is_contiguous();
  const auto format = last ? at::MemoryFormat::ChannelsLast : at::MemoryFormat::Contiguous;
  auto out = at::empty({n, c, oh, ow}, x.options().memory_format(format));
  const float* in = x.data_ptr<float>();
  float* o = out.data_ptr<float>();
  if (last) {
    const Moments m = pixels_moments(in, n, h * w, c);
    at::parallel_for(0, n * oh, 1, [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) {
        const int64_t img = r / oh, y = reflect(r % oh - pad, h);
        const float* mean = &m.mean[img * c];
        const float* inv = &m.inv_std[img * c];
        float* dst = o + r * ow * c;
        for (int64_t ox = 0; ox < ow; ++ox) {
          const float* src = in + ((img * h + y) * w + reflect(ox - pad, w)) * c;
          for (int64_t ch = 0; ch < c; ++ch) dst[ox * c + ch] = normalise(src[ch], mean[ch], inv[ch], relu);
        }
      }
    });
  } else {
    const Moments m = planes_moments(in, n * c, h * w);
    at::parallel_for(0, n * c, 1, [&](int64_t begin, int64_t end) {
      for (int64_t p = begin; p < end; ++p) {
        const float mean = m.mean[p], inv = m.inv_std[p];
        for (int64_t oy = 0; oy < oh; ++oy) {
          const float* src = in + (p * h + reflect(oy - pad, h)) * w;
          float* dst = o + (p * oh + oy) * ow;
          for (int64_t ox = 0; ox < pad; ++ox) dst[ox] = normalise(src[reflect(ox - pad, w)], mean, inv, relu);
          for (int64_t i = 0; i < w; ++i) dst[pad + i] = normalise(src[i], mean, inv, relu);
          for (int64_t ox = pad + w; ox < ow; ++ox) dst[ox] = normalise(src[reflect(ox - pad, w)], mean, inv, relu);
        }
      }
    });
  }
  return out;
}

}  // namespace cg
