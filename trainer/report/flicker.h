// `cg-trainer flicker`: how much a translated video flickers, as the warping error of Lai et
// al. 2018 (video/flow.h) measured against the motion of the input video, next to the input's
// own warping error (the floor that flow error and real change in appearance leave) and, given a
// reference video (say the per-frame translation), the PSNR to it, since a frozen or blurred
// video also has a low warping error and must not be read as stable.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace cg {

struct FlickerOptions {
  std::string input;      // the video that was translated: its flow decides what moves where
  std::string output;     // the translation to measure
  std::string reference;  // optional: another translation of the input, compared by PSNR
};

struct FlickerReport {
  int frames = 0;             // of each video
  int width = 0, height = 0;  // the input's: the other videos are compared at this size
  // Per pair of consecutive frames t, t+1 (frames - 1 of them).
  std::vector<double> input_error, output_error, reference_error;
  std::vector<double> mse_to_reference;  // per frame, output against reference, 8-bit levels squared

  static double mean(const std::vector<double>& v);
  // Over the whole video, from the mean squared error of all its frames: a mean of per-frame
  // PSNRs would let identical frames (infinite PSNR) hide the others.
  double psnr_to_reference() const;
  std::string to_text() const;
  std::string to_json() const;
  // The per-pair error of the output (and the reference and the input) against the frame.
  void plot(const std::string& png) const;
};

// Reads the videos (anything OpenCV's VideoCapture opens: files GStreamer or FFmpeg decode, and
// image sequences such as frames/%04d.png) frame by frame, together. Throws Error(kUsage)
// naming the file for a missing or unreadable video, one of fewer than two frames, and videos
// whose frame counts differ.
FlickerReport measure_flicker(const FlickerOptions& options);

}  // namespace cg
