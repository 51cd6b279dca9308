#include "direct-conv.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/core/GradMode.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define CG_DIRECT_CONV_X86 1
#endif

namespace cg {

namespace {

struct Shape {
  int64_t channels, in_h, in_w, kernel, out_h, out_w;
};

#ifdef CG_DIRECT_CONV_X86

constexpr int64_t kLanes = 8;  // floats in a 256-bit register

// `CO` outputs of `NB` x 8 pixels starting at column x of output row y, held in CO * NB registers
// (CO x NB of the 16 ymm registers) while every input channel's kernel rows stream past.
template <int CO, int NB>
__attribute__((target("avx2,fma"))) void block(const float* in, const float* w, const float* bias, float* out,
                                               const Shape& s, int64_t y, int64_t x) {
  __m256 acc[CO][NB];
  for (int co = 0; co < CO; ++co)
    for (int k = 0; k < NB; ++k) acc[co][k] = _mm256_set1_ps(bias ? bias[co] : 0.0f);
  for (int64_t ci = 0; ci < s.channels; ++ci) {
    for (int64_t ky = 0; ky < s.kernel; ++ky) {
      const float* row = in + (ci * s.in_h + y + ky) * s.in_w + x;
      // Weights laid out [channel][ky][kx][CO]: one kernel row's CO weights sit together.
      const float* wr = w + ((ci * s.kernel + ky) * s.kernel) * CO;
      for (int64_t kx = 0; kx < s.kernel; ++kx) {
        __m256 wv[CO];
        for (int co = 0; co < CO; ++co) wv[co] = _mm256_broadcast_ss(wr + kx * CO + co);
        for (int k = 0; k < NB; ++k) {
          const __m256 v = _mm256_loadu_ps(row + kx + k * kLanes);
          for (int co = 0; co < CO; ++co) acc[co][k] = _mm256_fmadd_ps(wv[co], v, acc[co][k]);
        }
      }
    }
  }
  for (int co = 0; co < CO; ++co)
    for (int k = 0; k < NB; ++k) _mm256_storeu_ps(out + (co * s.out_h + y) * s.out_w + x + k * kLanes, acc[co][k]);
}

// The last columns of a row that do not fill 8 lanes.
template <int CO>
void tail(const float* in, const float* w, const float* bias, float* out, const Shape& s, int64_t y, int64_t x) {
  for (; x < s.out_w; ++x) {
    float acc[CO];
    for (int co = 0; co < CO; ++co) acc[co] = bias ? bias[co] : 0.0f;
    for (int64_t ci = 0; ci < s.channels; ++ci)
      for (int64_t ky = 0; ky < s.kernel; ++ky) {
        const float* row = in + (ci * s.in_h + y + ky) * s.in_w + x;
        const float* wr = w + ((ci * s.kernel + ky) * s.kernel) * CO;
        for (int64_t kx = 0; kx < s.kernel; ++kx)
          for (int co = 0; co < CO; ++co) acc[co] += wr[kx * CO + co] * row[kx];
      }
    for (int co = 0; co < CO; ++co) out[(co * s.out_h + y) * s.out_w + x] = acc[co];
  }
}

template <int CO>
void image(const float* in, const float* w, const float* bias, float* out, const Shape& s, int64_t y0, int64_t y1) {
  // CO x kBlocks accumulators, CO broadcast weights and one input vector within 16 registers.
  constexpr int kBlocks = CO <= 2 ? 4 : CO == 3 ? 3 : 2;
  for (int64_t y = y0; y < y1; ++y) {
    int64_t x = 0;
    for (; x + kBlocks * kLanes <= s.out_w; x += kBlocks * kLanes) block<CO, kBlocks>(in, w, bias, out, s, y, x);
    for (; x + kLanes <= s.out_w; x += kLanes) block<CO, 1>(in, w, bias, out, s, y, x);
    tail<CO>(in, w, bias, out, s, y, x);
  }
}

// Channels-last: a pixel's channels sit together, so the sums run along the channels, 8 at a time,
// for NP pixels of one row at once; each pixel's CO sums are reduced across lanes at the end.
__attribute__((target("avx2,fma"))) inline float lane_sum(__m256 v) {
  __m128 q = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  q = _mm_add_ps(q, _mm_movehl_ps(q, q));
  q = _mm_add_ss(q, _mm_movehdup_ps(q));
  return _mm_cvtss_f32(q);
}

template <int CO, int NP>
__attribute__((target("avx2,fma"))) void pixels_last(const float* in, const float* w, const float* bias, float* out,
                                                     const Shape& s, int64_t y, int64_t x) {
  __m256 acc[CO][NP];
  for (int co = 0; co < CO; ++co)
    for (int p = 0; p < NP; ++p) acc[co][p] = _mm256_setzero_ps();
  const int64_t c = s.channels;
  for (int64_t ky = 0; ky < s.kernel; ++ky)
    for (int64_t kx = 0; kx < s.kernel; ++kx) {
      const float* px = in + ((y + ky) * s.in_w + x + kx) * c;
      // Weights laid out [ky][kx][output][channel].
      const float* wt = w + (ky * s.kernel + kx) * CO * c;
      for (int64_t cb = 0; cb < c; cb += kLanes) {
        __m256 wv[CO];
        for (int co = 0; co < CO; ++co) wv[co] = _mm256_loadu_ps(wt + co * c + cb);
        for (int p = 0; p < NP; ++p) {
          const __m256 v = _mm256_loadu_ps(px + p * c + cb);
          for (int co = 0; co < CO; ++co) acc[co][p] = _mm256_fmadd_ps(wv[co], v, acc[co][p]);
        }
      }
    }
  for (int p = 0; p < NP; ++p)
    for (int co = 0; co < CO; ++co)
      out[(y * s.out_w + x + p) * CO + co] = lane_sum(acc[co][p]) + (bias ? bias[co] : 0.0f);
}

template <int CO>
void image_last(const float* in, const float* w, const float* bias, float* out, const Shape& s, int64_t y0,
                int64_t y1) {
  constexpr int kPixels = CO <= 3 ? 4 : 3;  // CO x kPixels accumulators, CO weights, one input
  for (int64_t y = y0; y < y1; ++y) {
    int64_t x = 0;
    for (; x + kPixels <= s.out_w; x += kPixels) pixels_last<CO, kPixels>(in, w, bias, out, s, y, x);
    for (; x < s.out_w; ++x) pixels_last<CO, 1>(in, w, bias, out, s, y, x);
  }
}

using ImageFn = void (*)(const float*, const float*, const float*, float*, const Shape&, int64_t, int64_t);

ImageFn image_fn(int64_t outputs, bool channels_last) {
  switch (outputs) {
    case 1: return channels_last ? image_last<1> : image<1>;
    case 2: return channels_last ? image_last<2> : image<2>;
    case 3: return channels_last ? image_last<3> : image<3>;
    case 4: return channels_last ? image_last<4> : image<4>;
  }
  return nullptr;
}

bool is_channels_last(const at::Tensor& x) {
  return x.is_contiguous(at::MemoryFormat::ChannelsLast) && !x.is_contiguous() && x.size(1) % kLanes == 0;
}

#else

bool is_channels_last(const at::Tensor&) { return false; }

#endif

}  // namespace

bool cpu_has_avx2_fma() {
#ifdef CG_DIRECT_CONV_X86
  static const bool has = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return has;
#else
  return false;
#endif
}

bool direct_conv_applies(const at::Tensor& x, const at::Tensor& weight, int64_t stride, int64_t padding,
                         int64_t groups) {
  if (!cpu_has_avx2_fma()) return false;
  if (stride != 1 || padding != 0 || groups != 1) return false;
  if (!x.device().is_cpu() || x.scalar_type() != at::kFloat || weight.scalar_type() != at::kFloat) return false;
  if (x.dim() != 4 || weight.dim() != 4 || weight.size(0) > kDirectConvMaxOutputs) return false;
  if (weight.size(2) != weight.size(3) || x.size(1) != weight.size(1)) return false;
  if ((x.requires_grad() || weight.requires_grad()) && c10::GradMode::is_enabled()) return false;
  // Another layout would be copied first, which costs more than the convolution saves.
  if (!x.is_contiguous() && !is_channels_last(x)) return false;
  return x.size(3) - weight.size(3) + 1 >= 8 && x.size(2) >= weight.size(2);
}

at::Tensor direct_conv(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias) {
#ifdef CG_DIRECT_CONV_X86
  const int64_t outputs = weight.size(0);
  const int64_t k = weight.size(2);
  const Shape s{x.size(1), x.size(2), x.size(3), k, x.size(2) - k + 1, x.size(3) - k + 1};
  // Each layout is read as it lies (a copy into the other costs more than the convolution saves)
  // and the output keeps it.
  const bool last = is_channels_last(x);
  const auto format = last ? at::MemoryFormat::ChannelsLast : at::MemoryFormat::Contiguous;
  const auto in = x.contiguous(format);
  const auto w = last ? weight.permute({2, 3, 0, 1}).contiguous()   // [ky][kx][output][channel]
                      : weight.permute({1, 2, 3, 0}).contiguous();  // [channel][ky][kx][output]
  const auto b = bias.defined() ? bias.contiguous() : at::Tensor();
  auto out = at::empty({x.size(0), outputs, s.out_h, s.out_w}, x.options().memory_format(format));
  const ImageFn fn = image_fn(outputs, last);
  const float* in_p = in.data_ptr<float>();
  const float* w_p = w.data_ptr<float>();
  const float* b_p = b.defined() ? b.data_ptr<float>() : nullptr;
  float* out_p = out.data_ptr<float>();
  const int64_t rows = x.size(0) * s.out_h;
  // Rows are independent; each reads kernel rows of every channel, which neighbouring rows share.
  at::parallel_for(0, rows, 1, [&](int64_t begin, int64_t end) {
    while (begin < end) {
      const int64_t n = begin / s.out_h, y = begin % s.out_h;
      const int64_t stop = std::min(end - begin, s.out_h - y) + y;
      fn(in_p + n * s.channels * s.in_h * s.in_w, w_p, b_p, out_p + n * outputs * s.out_h * s.out_w, s, y, stop);
      begin += stop - y;
    }
  });
  return out;
#else
  return at::conv2d(x, weight, bias);
#endif
}

}  // namespace cg
