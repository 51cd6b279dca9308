#include "trainer/data/synth.h"

#include "trainer/data/image-io.h"
#include "trainer/train/options.h"
#include "trainer/train/random.h"

#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <vector>

namespace cg {

namespace fs = std::filesystem;

namespace {

// CMP Facades numbers its classes 1..12 and colours them along the jet colour map.
cv::Vec3b jet(int cmp_class) {
  const double x = (cmp_class - 1) / 11.0;
  auto ch = [](double v) { return static_cast<uint8_t>(std::lround(255.0 * std::clamp(v, 0.0, 1.0))); };
  return {ch(1.5 - std::abs(4 * x - 3)), ch(1.5 - std::abs(4 * x - 2)), ch(1.5 - std::abs(4 * x - 1))};
}

int uniform_int(Rng& r, int lo, int hi) { return lo + static_cast<int>(r.below(static_cast<uint64_t>(hi - lo + 1))); }
double uniform(Rng& r, double lo, double hi) { return lo + (hi - lo) * r.uniform(); }

void fill(cv::Mat& m, int x0, int y0, int x1, int y1, uint8_t c) {
  x0 = std::clamp(x0, 0, m.cols);
  x1 = std::clamp(x1, 0, m.cols);
  y0 = std::clamp(y0, 0, m.rows);
  y1 = std::clamp(y1, 0, m.rows);
  if (x1 > x0 && y1 > y0) m(cv::Rect(x0, y0, x1 - x0, y1 - y0)).setTo(c);
}

}  // namespace

const std::array<cv::Vec3b, kFacadeClasses>& facade_palette() {
  // CMP numbering: background 1, facade 2, window 3, door 4, cornice 5, sill 6, balcony 7, pillar 11.
  static const std::array<cv::Vec3b, kFacadeClasses> p = {jet(1), jet(2), jet(3), jet(4),
                                                          jet(5), jet(6), jet(7), jet(11)};
  return p;
}

const char* facade_class_name(int c) {
  static const char* names[] = {"background", "facade", "window", "door", "cornice", "sill", "balcony", "pillar"};
  return c >= 0 && c < kFacadeClasses ? names[c] : "?";
}

cv::Mat facade_layout(uint64_t seed, int S) {
  Rng r(seed);
  cv::Mat m(S, S, CV_8U, cv::Scalar(kWall));
  const int sky = uniform_int(r, 0, S / 8);
  fill(m, 0, 0, S, sky, kSky);
  const int floors = uniform_int(r, 3, 5), cols = uniform_int(r, 2, 5);
  const bool pillars = r.coin();
  const int pw = pillars ? std::max(3, S / 20) : 0;
  if (pillars) {
    fill(m, 0, sky, pw, S, kPillar);
    fill(m, S - pw, sky, S, S, kPillar);
  }
  const double fh = static_cast<double>(S - sky) / floors;
  const int ct = std::max(2, S / 48);  // cornice thickness
  const double cw = static_cast<double>(S - 2 * pw) / cols;
  const double ww = cw * uniform(r, 0.4, 0.65), wh = fh * uniform(r, 0.4, 0.58);
  const int door_col = uniform_int(r, 0, cols - 1);
  for (int f = 0; f < floors; ++f) {
    const int y0 = sky + static_cast<int>(std::lround(f * fh));
    fill(m, pw, y0, S - pw, y0 + ct, kCornice);
    const bool ground = f == floors - 1;
    const bool balcony = !ground && f > 0 && r.uniform() < 0.35;
    for (int c = 0; c < cols; ++c) {
      const double cx = pw + (c + 0.5) * cw;
      if (ground && c == door_col) {
        const int dw = static_cast<int>(ww * 1.1), dh = static_cast<int>(fh * 0.75);
        fill(m, static_cast<int>(cx - dw / 2.0), S - dh, static_cast<int>(cx + dw / 2.0), S, kDoor);
        continue;
      }
      const int wx0 = static_cast<int>(std::lround(cx - ww / 2)), wx1 = static_cast<int>(std::lround(cx + ww / 2));
      const int wy0 = y0 + ct + static_cast<int>(std::lround((fh - ct - wh) * 0.4)), wy1 = wy0 + static_cast<int>(wh);
      fill(m, wx0, wy0, wx1, wy1, kWindow);
      const int sh = std::max(2, S / 64);
      fill(m, wx0 - sh, wy1, wx1 + sh, wy1 + sh, kSill);
      if (balcony) fill(m, wx0 - 2 * sh, wy1 - static_cast<int>(wh * 0.3), wx1 + 2 * sh, wy1 + sh, kBalcony);
    }
  }
  return m;
}

cv::Mat colour_labels(const cv::Mat& classes) {
  cv::Mat out(classes.size(), CV_8UC3);
  const auto& p = facade_palette();
  for (int y = 0; y < classes.rows; ++y)
    for (int x = 0; x < classes.cols; ++x) out.at<cv::Vec3b>(y, x) = p[classes.at<uint8_t>(y, x)];
  return out;
}

cv::Mat render_facade(const cv::Mat& cls, uint64_t noise_seed) {
  const int H = cls.rows, W = cls.cols;
  // Distance of each pixel to the edge of its region, in pixels (for frames and shadows).
  cv::Mat window_mask = cls == kWindow;
  cv::Mat win_dist;
  cv::distanceTransform(window_mask, win_dist, cv::DIST_L1, 3);
  cv::Mat out(H, W, CV_32FC3);
  const double unit = std::max(1.0, W / 128.0);  // textures scale with the image
  for (int y = 0; y < H; ++y) {
    const double shade = 1.0 - 0.18 * y / H;  // light from above
    for (int x = 0; x < W; ++x) {
      const uint8_t c = cls.at<uint8_t>(y, x);
      cv::Vec3f v;
      switch (c) {
        case kSky: v = cv::Vec3f(150 + 60.f * y / H, 185 + 40.f * y / H, 235); break;
        case kWall: {
          const bool mortar = static_cast<int>(y / (3 * unit)) % 2 == 0 && static_cast<int>(x / (6 * unit)) % 2 == 0;
          v = cv::Vec3f(190, 150, 115) * (mortar ? 0.93f : 1.0f);
          // Shadow under cornices and sills.
          for (int k = 1; k <= static_cast<int>(3 * unit) && y - k >= 0; ++k) {
            const uint8_t a = cls.at<uint8_t>(y - k, x);
            if (a == kCornice || a == kSill || a == kBalcony) {
              v *= 0.7f + 0.1f * k / static_cast<float>(unit);
              break;
            }
          }
          break;
        }
        case kWindow: {
          const float d = win_dist.at<float>(y, x);
          if (d <= 2 * unit)
            v = cv::Vec3f(235, 232, 225);  // frame
          else
            v = cv::Vec3f(45, 65, 90) +
                cv::Vec3f(30, 30, 30) * static_cast<float>(1.0 - std::min(1.0, (d - 2 * unit) / (8 * unit)));
          break;
        }
        case kDoor:
          v = (static_cast<int>(x / (2 * unit)) % 3 == 0) ? cv::Vec3f(80, 45, 25) : cv::Vec3f(110, 65, 35);
          break;
        case kCornice: v = cv::Vec3f(228, 220, 200); break;
        case kSill: v = cv::Vec3f(215, 210, 200); break;
        case kBalcony: v = (static_cast<int>(x / unit) % 3 == 0) ? cv::Vec3f(90, 90, 95) : cv::Vec3f(40, 40, 45); break;
        case kPillar: v = cv::Vec3f(215, 200, 175); break;
        default: v = cv::Vec3f(0, 0, 0);
      }
      out.at<cv::Vec3f>(y, x) = v * static_cast<float>(shade);
    }
  }
  cv::GaussianBlur(out, out, cv::Size(3, 3), 0.6);
  cv::Mat noise(H, W, CV_32FC3);
  cv::RNG rng(noise_seed);
  rng.fill(noise, cv::RNG::NORMAL, 0.0, 3.0);
  out += noise;
  cv::Mat u8;
  out.convertTo(u8, CV_8UC3);
  return u8;
}

cv::Mat nearest_classes(const cv::Mat& rgb) {
  const auto& p = facade_palette();
  cv::Mat out(rgb.size(), CV_8U);
  for (int y = 0; y < rgb.rows; ++y)
    for (int x = 0; x < rgb.cols; ++x) {
      const cv::Vec3b v = rgb.at<cv::Vec3b>(y, x);
      int best = 0, best_d = INT32_MAX;
      for (int c = 0; c < kFacadeClasses; ++c) {
        int d = 0;
        for (int k = 0; k < 3; ++k) d += (v[k] - p[c][k]) * (v[k] - p[c][k]);
        if (d < best_d) best_d = d, best = c;
      }
      out.at<uint8_t>(y, x) = static_cast<uint8_t>(best);
    }
  return out;
}

void write_synthetic_dataset(const SynthOptions& o) {
  if (o.out.empty()) throw Error(ErrorKind::kUsage, "synth: --out is required");
  if (o.size < 32 || o.size % 4 != 0)
    throw Error(ErrorKind::kUsage, "synth: --size must be a multiple of 4 and at least 32");
  if (o.count < 1 || o.test_count < 1)
    throw Error(ErrorKind::kUsage, "synth: --count and --test-count must be positive");
  enum Stream : uint64_t { kTrainA = 1, kTrainB, kTestA, kTestB, kNoise };
  const fs::path root(o.out);
  const std::vector<const char*> folders =
      o.aligned ? std::vector<const char*>{"train", "test"}
                : std::vector<const char*>{"trainA", "trainB", "testA", "testB", "testA_truth", "testB_truth"};
  for (const char* d : folders) {
    std::error_code ec;
    fs::create_directories(root / d, ec);
    if (ec) throw Error(ErrorKind::kUsage, (root / d).string() + ": cannot create (" + ec.message() + ")");
  }
  auto name = [](int i) {
    char b[32];
    std::snprintf(b, sizeof b, "%05d.png", i);
    return std::string(b);
  };
  auto noise = [&](uint64_t stream, int i) { return derive_seed(o.seed, kNoise, stream, static_cast<uint64_t>(i)); };
  auto layout = [&](uint64_t stream, int i) {
    return facade_layout(derive_seed(o.seed, stream, static_cast<uint64_t>(i)), o.size);
  };
  // Label map | rendering, side by side.
  auto pair_image = [&](uint64_t stream, int i) {
    const cv::Mat classes = layout(stream, i);
    cv::Mat ab;
    cv::hconcat(colour_labels(classes), render_facade(classes, noise(stream, i)), ab);
    return ab;
  };
  try {
    if (o.aligned) {
      for (int i = 0; i < o.count; ++i) write_rgb((root / "train" / name(i)).string(), pair_image(kTrainA, i));
      for (int i = 0; i < o.test_count; ++i) write_rgb((root / "test" / name(i)).string(), pair_image(kTestA, i));
      return;
    }
    for (int i = 0; i < o.count; ++i) {
      write_rgb((root / "trainA" / name(i)).string(), colour_labels(layout(kTrainA, i)));
      write_rgb((root / "trainB" / name(i)).string(), render_facade(layout(kTrainB, i), noise(kTrainB, i)));
    }
    for (int i = 0; i < o.test_count; ++i) {
      const cv::Mat a = layout(kTestA, i), b = layout(kTestB, i);
      write_rgb((root / "testA" / name(i)).string(), colour_labels(a));
      write_rgb((root / "testA_truth" / name(i)).string(), render_facade(a, noise(kTestA, i)));
      write_rgb((root / "testB" / name(i)).string(), render_facade(b, noise(kTestB, i)));
      write_rgb((root / "testB_truth" / name(i)).string(), colour_labels(b));
    }
  } catch (const Error& e) {
    throw Error(ErrorKind::kUsage, std::string("synth: ") + e.what());
  }
}

}  // namespace cg
