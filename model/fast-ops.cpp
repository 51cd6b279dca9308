#include "model/fast-ops.h"

#include <ATen/ATen.h>

#include <vector>

namespace cg {

namespace {
// For output phase p (0 = even rows, 1 = odd rows) and 2x2 tap d (input row m + d), the row of
// the 3x3 transposed kernel that contributes: even rows take kernel row 1 from input m; odd rows
// take row 2 from m and row 0 from m + 1.
at::Tensor phase_selector(const at::Tensor& like) {
  auto s = at::zeros({2, 2, 3}, like.options());
  s[0][0][1] = 1;
  s[1][0][2] = 1;
  s[1][1][0] = 1;
  return s;
}
}  // namespace

at::Tensor subpixel_weight(const at::Tensor& w) {
  // w: [in, out, 3, 3] -> [out, in, 3, 3]
  auto wt = w.permute({1, 0, 2, 3});
  auto s = phase_selector(w);
  // result[o, py, px, i, dy, dx] = sum_{ky,kx} s[py,dy,ky] s[px,dx,kx] wt[o,i,ky,kx]
  auto r = at::einsum("pak,qbl,oikl->opqiab", {s, s, wt});
  return r.reshape({wt.size(0) * 4, wt.size(1), 2, 2});
}

at::Tensor subpixel_bias(const at::Tensor& b) { return b.repeat_interleave(4); }

at::Tensor transposed_weight(const at::Tensor& r) {
  // Where phase_selector puts kernel row k: (phase, tap) = (1, 1), (0, 0), (1, 0) for k = 0, 1, 2.
  constexpr int64_t phase[3] = {1, 0, 1}, tap[3] = {1, 0, 0};
  const int64_t out = r.size(0) / 4, in = r.size(1);
  const auto r6 = r.reshape({out, 2, 2, in, 2, 2});
  std::vector<at::Tensor> rows;
  for (int ky = 0; ky < 3; ++ky) {
    std::vector<at::Tensor> cols;
    for (int kx = 0; kx < 3; ++kx)
      cols.push_back(r6.select(1, phase[ky]).select(1, phase[kx]).select(2, tap[ky]).select(2, tap[kx]));
    rows.push_back(at::stack(cols, 2));
  }
  return at::stack(rows, 2).permute({1, 0, 2, 3}).contiguous();
}

at::Tensor transposed_bias(const at::Tensor& b) { return b.reshape({-1, 4}).select(1, 0).contiguous(); }

at::Tensor subpixel_upsample(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias) {
  auto padded = at::constant_pad_nd(x, {0, 1, 0, 1}, 0);
  return at::pixel_shuffle(at::conv2d(padded, weight, bias), 2);
}

namespace {
// Reflects `p` entries at both ends of dimension `dim`, the edge itself not repeated.
at::Tensor reflect_dim(const at::Tensor& x, int64_t dim, int64_t p) {
  const int64_t n = x.size(dim);
  auto before = x.narrow(dim, 1, p).flip(dim);
  auto after = x.narrow(dim, n - 1 - p, p).flip(dim);
  return at::cat({before, x, after}, dim);
}
}  // namespace

at::Tensor reflect_pad(const at::Tensor& x, int64_t p) {
  if (p == 0) return x;
  return reflect_dim(reflect_dim(x, -1, p), -2, p);
}

at::Tensor instance_norm(const at::Tensor& x) { return at::group_norm(x, x.size(1), {}, {}, 1e-5); }

}  // namespace cg
