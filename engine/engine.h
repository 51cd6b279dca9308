// The GStreamer-free inference engine behind the cyclegan element: loads a G.pt or a G.safetensors
// of ours, picks the device, precision and threads, and translates packed 8-bit RGB frames.
// Deliberately free of LibTorch types, so the element's translation unit compiles without
// LibTorch headers.
#pragma once

#include "common/defaults.h"
#include "common/error.h"
#include "model/generator-layout.h"

#include <cstdint>
#include <memory>
#include <string>

namespace cg {

// fp32 is strict IEEE float on every device. tf32 lets CUDA's tensor cores round the
// convolutions' inputs to 10-bit mantissas (Ampere and newer; cuDNN's own default), and is fp32
// on the CPU. The values are the element's enum values: new ones go at the end.
enum class Precision { kFP32, kFP16, kBF16, kTF32 };

// How activations are laid out. auto: channels-last on the CPU (oneDNN runs NHWC without
// reordering), contiguous NCHW on CUDA (its instance norm and reflection pad work in NCHW, so
// NHWC there costs two copies per layer).
enum class MemoryFormat { kAuto, kContiguous, kChannelsLast };

// How the generator runs. native: the C++ forward built from the layer list and the weights,
// for files with our metadata (a G.pt of ours, a G.safetensors); torchscript: the G.pt's
// TorchScript through LibTorch's interpreter (a G.safetensors' generator is scripted on loading);
// auto: native where the file allows it, else TorchScript. The values are the element's enum
// values: new ones go at the end.
enum class Runtime { kAuto, kNative, kTorchScript };

struct EngineOptions {
  std::string model_path;
  std::string device = kDefaultDevice;  // auto | cpu | cuda | cuda:N
  Precision precision = Precision::kFP32;
  int threads = 0;  // CPU threads; 0 = every core
  // Processing size: 0 x 0 = the frame's own size (padded to the model's multiple); otherwise
  // frames are scaled to this size for the generator and scaled back.
  int process_width = 0;
  int process_height = 0;
  bool process_at_model_crop = false;  // use the training crop recorded in the model
  MemoryFormat memory_format = MemoryFormat::kAuto;
  Runtime runtime = Runtime::kAuto;
  // The most elements the generator's largest tensor may hold in one forward pass; batches are
  // split to stay under it. 0: the device's own limit (CUDA kernels index with 32 bits, so
  // 2^31 - 1 there; none on the CPU). Tests set a small one.
  int64_t max_elements = 0;
};

// A packed 8-bit frame with R, G and B at byte offsets r, g, b of each pixel_stride-byte pixel.
// Bytes of a 4-byte pixel that are not R, G or B (alpha, padding) are copied from input to output.
struct FrameView {
  uint8_t* data = nullptr;
  int width = 0;
  int height = 0;
  int row_stride = 0;
  int pixel_stride = 3;
  int r = 0, g = 1, b = 2;
};

struct EngineInfo {
  std::string device;  // e.g. "cpu (2 threads)", "cuda:0 (NVIDIA H200)"
  std::string precision;
  std::string architecture;  // from the model's metadata, or "unknown"
  int64_t crop_size = 0;
  SizeRule size_rule;         // the model's: what each frame is padded to
  std::string memory_format;  // "channels-last" or "contiguous"
  std::string runtime;        // "native" or "torchscript": what runs the generator
  std::string fallback_note;  // set when device=auto fell back to the CPU
  std::string warning;        // a setting that works but runs badly here (bf16 on most CPUs)
};

class Engine {
 public:
  // Loads and checks the model; throws Error naming the file and the reason.
  explicit Engine(const EngineOptions& options);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Translates `in` into `out` (same size and layout; may be the same memory). Throws Error.
  void process(const FrameView& in, const FrameView& out);
  // Translates n frames of one size and layout in a single forward pass (a batch): fewer, larger
  // kernels, which pays on GPUs for small frames. Same results as n calls to process(). Safe to
  // call from several threads: on the CPU the calls run at once, each on its caller's intra-op
  // threads (nothing of the engine is written by a pass), which is what the element's
  // parallel-frames uses; on CUDA they are serialised (one stream, shared staging buffers).
  // `threads` > 0 runs this call's CPU work on that many threads instead of the engine's.
  void process_batch(const FrameView* in, const FrameView* out, size_t n, int threads = 0);

  // Prepares for frames of this size in batches of `batch`: on CUDA it runs the passes once so
  // that cuDNN's autotuning, lazy kernel loading and (with runtime=torchscript) TorchScript's
  // profiling happen here rather than on the first real frames, and later batches of fewer frames
  // are padded to `batch` so they reuse the tuned shapes. On the CPU it does nothing: a pass costs
  // as much as a frame.
  void warm_up(int width, int height, size_t batch);

  // How many frames of this size one forward pass takes under the element-count limit; 0 when
  // even one frame is over it.
  int64_t frames_per_pass(int width, int height) const;

  const EngineInfo& info() const;
  const EngineOptions& options() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Ends the OpenMP team that the calling thread formed by translating frames, if it has one. A
// thread that stops translating for a while calls it (the element's streaming thread once
// parallel frames take over): libgomp counts idle teams against the cores, and once its threads
// outnumber them every team sleeps between layers instead of spinning (see Engine::Engine). Does
// nothing where LibTorch runs on another OpenMP runtime.
void release_thread_team() noexcept;

const char* precision_name(Precision p);
// "fp32", "tf32", "fp16" or "bf16"; throws Error(kSettings) otherwise.
Precision parse_precision(const std::string& name);
const char* runtime_name(Runtime r);
// "auto", "native" or "torchscript"; throws Error(kSettings) otherwise.
Runtime parse_runtime(const std::string& name);
const char* memory_format_name(MemoryFormat f);
// "auto", "contiguous" or "channels-last"; throws Error(kSettings) otherwise.
MemoryFormat parse_memory_format(const std::string& name);

}  // namespace cg
