// A scored synthetic task in the spirit of the paper's labels <-> photo experiments: domain A is
// facade label maps drawn like CMP Facades (flat colour rectangles on a wall colour), domain B
// is "photos" a fixed renderer makes from label maps. Because the renderer is known, a
// translation can be scored against the truth.
#pragma once

#include <opencv2/core.hpp>

#include <array>
#include <cstdint>
#include <string>

namespace cg {

// The classes drawn, with their CMP Facades names. Colours follow CMP's jet colouring of its
// 12 classes.
enum FacadeClass : uint8_t { kSky, kWall, kWindow, kDoor, kCornice, kSill, kBalcony, kPillar, kFacadeClasses };
const std::array<cv::Vec3b, kFacadeClasses>& facade_palette();  // RGB
const char* facade_class_name(int c);

// A random facade as a class-index map (CV_8U, size x size). Depends only on `seed`.
cv::Mat facade_layout(uint64_t seed, int size);
// Class indices -> RGB label map.
cv::Mat colour_labels(const cv::Mat& classes);
// The fixed renderer: class indices -> RGB "photo"; `noise_seed` drives only the sensor noise.
cv::Mat render_facade(const cv::Mat& classes, uint64_t noise_seed);
// RGB -> class index of the nearest palette colour, per pixel.
cv::Mat nearest_classes(const cv::Mat& rgb);

struct SynthOptions {
  std::string out;
  int count = 200;      // training images per domain
  int test_count = 50;  // test images per domain
  int size = 256;
  uint64_t seed = 1;
  bool aligned = false;  // write the paired (pix2pix) form instead, see below
};

// Writes OUT/trainA (label maps), trainB (photos of other, unrelated facades), testA with
// testA_truth (its renderings), testB with testB_truth (its label maps). Throws Error.
// With `aligned`: OUT/train and OUT/test of the official aligned layout, each image a label map
// (left) beside its rendering (right); the test facades are those of the unaligned testA and
// testA_truth of the same seed and size, so the two kinds of model are scored on one test set.
void write_synthetic_dataset(const SynthOptions& o);

}  // namespace cg
