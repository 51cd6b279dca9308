// A temporal regulariser that needs only still images (--lambda-temporal), after ReReVST (Wang et
// al. 2020, "Consistent Video Style Transfer via Compound Regularization") and unsupervised
// Recycle-GAN (Wang et al. 2022): a random smooth motion W and a little noise n make a second
// "frame" W(x) + n of a training image x, and a generator is asked to move its output with its
// input, G(W(x) + n) = W(G(x)). Generators trained on stills alone answer small input changes with
// large output changes; on video that is flicker.
#pragma once

#include "trainer/train/random.h"

#include <ATen/core/Tensor.h>

namespace cg {

// The motion's size, in pixels of the training images: a displacement drawn per control point of
// a coarse grid (standard deviation kMotionSigma, one point every kMotionCell pixels, upsampled
// bicubically, which smooths it), plus a shift of the whole image, uniform in +-kMotionShift per
// axis. ReReVST's values: camera pans and slow scene motion at 256 px.
inline constexpr double kMotionSigma = 8.0;
inline constexpr double kMotionShift = 10.0;
inline constexpr int64_t kMotionCell = 64;
// The noise of the second frame, in the [-1, 1] units of the images: about one 8-bit level, the
// order of a camera's frame-to-frame sensor noise (ReReVST draws 0.001-0.002 of [0, 1]).
inline constexpr double kMotionNoise = 0.01;

// One random motion per image of a batch, with the noise of the second frame.
struct RandomMotion {
  at::Tensor grid;   // N x H x W x 2: where each output pixel is read from, in grid_sample's units
  at::Tensor valid;  // N x 1 x H x W: 1 where that source lies inside the image, else 0
  at::Tensor noise;  // N x C x H x W

  // Images moved by the motion (bilinear, differentiable). Pixels read from outside take the
  // nearest edge pixel: a plain fill would be an object the first frame does not have, and would
  // shift the instance-norm statistics of the whole second frame with it.
  at::Tensor move(const at::Tensor& images) const;
  // The second frame of `images`: moved, plus the noise.
  at::Tensor second_frame(const at::Tensor& images) const { return move(images) + noise; }
};

// Draws a motion for a batch shaped and placed like `images` (N x C x H x W, float). Every draw
// comes from `rng`, which a checkpoint saves, so a resumed run draws what an uninterrupted one
// would.
RandomMotion draw_motion(Rng& rng, const at::Tensor& images);

}  // namespace cg
