#include "fused-norm.h"

#include "model/direct-conv.h"

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

// The hot loops below are written once and compiled twice, for baseline x86-64 and for AVX2
// (twice the lanes), and chosen at run time like direct-conv.cpp's kernels.
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define CG_INLINE __attribute__((always_inline)) inline
#define CG_AVX2 __attribute__((target("avx2,fma")))
#else
#define CG_INLINE inline
#define CG_AVX2
#endif

// The statistics are summed in one order whatever the layout, so that an image gives the same
// bits alone, in a batch, contiguous or channels-last: chunks of kChunk pixels; in a chunk, eight
// lanes (pixel index mod 8); then the lanes in order, then the chunks in order. Eight independent
// lanes are also what a compiler vectorises without reordering any one sum.
constexpr int64_t kChunk = 1024;
constexpr int kLanes = 8;

// One chunk of one plane: lane sums into s[kLanes] and q[kLanes].
CG_INLINE void plane_chunk_impl(const float* v, int64_t pixels, double* s, double* q) {
  int64_t i = 0;
  for (; i + kLanes <= pixels; i += kLanes)
    for (int l = 0; l < kLanes; ++l) {
      s[l] += v[i + l];
      q[l] += double(v[i + l]) * v[i + l];
    }
  for (; i < pixels; ++i) {
    s[i % kLanes] += v[i];
    q[i % kLanes] += double(v[i]) * v[i];
  }
}
CG_AVX2 void plane_chunk_avx2(const float* v, int64_t pixels, double* s, double* q) {
  plane_chunk_impl(v, pixels, s, q);
}
void plane_chunk(const float* v, int64_t pixels, double* s, double* q) {
  if (cpu_has_avx2_fma()) return plane_chunk_avx2(v, pixels, s, q);
  plane_chunk_impl(v, pixels, s, q);
}

// One chunk of channels-last pixels: lane sums into s[kLanes][channels] and q[kLanes][channels].
CG_INLINE void pixel_chunk_impl(const float* x, int64_t pixels, int64_t channels, double* s, double* q) {
  for (int64_t i = 0; i < pixels; ++i) {
    const float* v = x + i * channels;
    double* sl = s + (i % kLanes) * channels;
    double* ql = q + (i % kLanes) * channels;
    for (int64_t c = 0; c < channels; ++c) {
      sl[c] += v[c];
      ql[c] += double(v[c]) * v[c];
    }
  }
}
CG_AVX2 void pixel_chunk_avx2(const float* x, int64_t pixels, int64_t channels, double* s, double* q) {
  pixel_chunk_impl(x, pixels, channels, s, q);
}
void pixel_chunk(const float* x, int64_t pixels, int64_t channels, double* s, double* q) {
  if (cpu_has_avx2_fma()) return pixel_chunk_avx2(x, pixels, channels, s, q);
  pixel_chunk_impl(x, pixels, channels, s, q);
}

// Adds each chunk's lanes in order, then the chunks in order. part: [stat][chunk][lane].
void combine(const std::vector<double>& part_s, const std::vector<double>& part_q, int64_t stats, int64_t chunks,
             std::vector<double>& sum, std::vector<double>& sq) {
  for (int64_t st = 0; st < stats; ++st) {
    double total_s = 0, total_q = 0;
    for (int64_t k = 0; k < chunks; ++k) {
      double cs = 0, cq = 0;
      for (int l = 0; l < kLanes; ++l) {
        cs += part_s[(st * chunks + k) * kLanes + l];
        cq += part_q[(st * chunks + k) * kLanes + l];
      }
      total_s += cs;
      total_q += cq;
    }
    sum[st] = total_s;
    sq[st] = total_q;
  }
}

// [N, C, H, W] contiguous: one plane per (image, channel).
Moments planes_moments(const float* x, int64_t planes, int64_t area) {
  const int64_t chunks = (area + kChunk - 1) / kChunk;
  std::vector<double> part_s(planes * chunks * kLanes), part_q(planes * chunks * kLanes);
  at::parallel_for(0, planes, 1, [&](int64_t begin, int64_t end) {
    for (int64_t p = begin; p < end; ++p)
      for (int64_t k = 0; k < chunks; ++k) {
        const int64_t first = k * kChunk;
        plane_chunk(x + p * area + first, std::min(kChunk, area - first), &part_s[(p * chunks + k) * kLanes],
                    &part_q[(p * chunks + k) * kLanes]);
      }
  });
  std::vector<double> sum(planes), sq(planes);
  combine(part_s, part_q, planes, chunks, sum, sq);
  return finish(sum, sq, area);
}

// [N, H, W, C] in memory: a pixel's channels together; the chunks of each image split among threads.
Moments pixels_moments(const float* x, int64_t images, int64_t area, int64_t channels) {
  const int64_t chunks = (area + kChunk - 1) / kChunk;
  // Per (image, chunk): [lane][channel], rearranged below into [image, channel][chunk][lane].
  std::vector<double> raw_s(images * chunks * kLanes * channels), raw_q(raw_s.size());
  at::parallel_for(0, images * chunks, 1, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      const int64_t n = t / chunks, first = (t % chunks) * kChunk;
      pixel_chunk(x + (n * area + first) * channels, std::min(kChunk, area - first), channels,
                  &raw_s[t * kLanes * channels], &raw_q[t * kLanes * channels]);
    }
  });
  std::vector<double> part_s(raw_s.size()), part_q(raw_q.size());
  for (int64_t n = 0; n < images; ++n)
    for (int64_t k = 0; k < chunks; ++k)
      for (int l = 0; l < kLanes; ++l)
        for (int64_t c = 0; c < channels; ++c) {
          const int64_t from = ((n * chunks + k) * kLanes + l) * channels + c;
          const int64_t to = (((n * channels + c) * chunks) + k) * kLanes + l;
          part_s[to] = raw_s[from];
          part_q[to] = raw_q[from];
        }
  std::vector<double> sum(images * channels), sq(images * channels);
  combine(part_s, part_q, images * channels, chunks, sum, sq);
  return finish(sum, sq, area);
}

CG_INLINE float normalise(float v, float mean, float inv_std, bool relu) {
  const float y = (v - mean) * inv_std;
  return relu && y < 0.0f ? 0.0f : y;
}

// One padded output row of `ow` pixels of `c` channels from input row `src_row` (channels-last).
CG_INLINE void pixel_row_impl(const float* src_row, float* dst, int64_t w, int64_t ow, int64_t c, int64_t pad,
                              const float* mean, const float* inv, bool relu) {
  for (int64_t ox = 0; ox < ow; ++ox) {
    const float* src = src_row + reflect(ox - pad, w) * c;
    float* d = dst + ox * c;
    for (int64_t ch = 0; ch < c; ++ch) d[ch] = normalise(src[ch], mean[ch], inv[ch], relu);
  }
}
CG_AVX2 void pixel_row_avx2(const float* src_row, float* dst, int64_t w, int64_t ow, int64_t c, int64_t pad,
                            const float* mean, const float* inv, bool relu) {
  pixel_row_impl(src_row, dst, w, ow, c, pad, mean, inv, relu);
}
void pixel_row(const float* src_row, float* dst, int64_t w, int64_t ow, int64_t c, int64_t pad, const float* mean,
               const float* inv, bool relu) {
  if (cpu_has_avx2_fma()) return pixel_row_avx2(src_row, dst, w, ow, c, pad, mean, inv, relu);
  pixel_row_impl(src_row, dst, w, ow, c, pad, mean, inv, relu);
}

// One padded plane (contiguous layout).
CG_INLINE void plane_impl(const float* in, float* out, int64_t h, int64_t w, int64_t pad, float mean, float inv,
                          bool relu) {
  const int64_t oh = h + 2 * pad, ow = w + 2 * pad;
  for (int64_t oy = 0; oy < oh; ++oy) {
    const float* src = in + reflect(oy - pad, h) * w;
    float* dst = out + oy * ow;
    for (int64_t ox = 0; ox < pad; ++ox) dst[ox] = normalise(src[reflect(ox - pad, w)], mean, inv, relu);
    for (int64_t i = 0; i < w; ++i) dst[pad + i] = normalise(src[i], mean, inv, relu);
    for (int64_t ox = pad + w; ox < ow; ++ox) dst[ox] = normalise(src[reflect(ox - pad, w)], mean, inv, relu);
  }
}
CG_AVX2 void plane_avx2(const float* in, float* out, int64_t h, int64_t w, int64_t pad, float mean, float inv,
                        bool relu) {
  plane_impl(in, out, h, w, pad, mean, inv, relu);
}
void plane(const float* in, float* out, int64_t h, int64_t w, int64_t pad, float mean, float inv, bool relu) {
  if (cpu_has_avx2_fma()) return plane_avx2(in, out, h, w, pad, mean, inv, relu);
  plane_impl(in, out, h, w, pad, mean, inv, relu);
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
        pixel_row(in + (img * h + y) * w * c, o + r * ow * c, w, ow, c, pad, &m.mean[img * c], &m.inv_std[img * c],
                  relu);
      }
    });
  } else {
    const Moments m = planes_moments(in, n * c, h * w);
    at::parallel_for(0, n * c, 1, [&](int64_t begin, int64_t end) {
      for (int64_t p = begin; p < end; ++p)
        plane(in + p * h * w, o + p * oh * ow, h, w, pad, m.mean[p], m.inv_std[p], relu);
    });
  }
  return out;
}

}  // namespace cg
