#include "engine/engine.h"

#include "engine/device.h"
#include "model/model-file.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <c10/core/StreamGuard.h>
#include <c10/core/impl/DeviceGuardImplInterface.h>
#include <torch/cuda.h>
#include <torch/nn/functional/upsampling.h>
#include <torch/script.h>

#include <algorithm>
#include <mutex>
#include <optional>
#include <thread>

namespace cg {

namespace {

int64_t round_up(int64_t v, int64_t m) { return (v + m - 1) / m * m; }

// A processing side: a multiple of the model's 4, and at least 8.
int64_t model_side(int64_t v) { return round_up(std::max<int64_t>(v, kMinSize), kSizeMultiple); }

at::Tensor channel_index(const FrameView& f) {
  return at::tensor({int64_t{f.r}, int64_t{f.g}, int64_t{f.b}}, at::kLong);
}

at::Tensor pixels(const FrameView& f) {
  return at::from_blob(f.data, {f.height, f.width, f.pixel_stride}, {f.row_stride, f.pixel_stride, 1},
                       at::TensorOptions().dtype(at::kByte));
}

void check_frame(const FrameView& f, const char* what) {
  const bool ok = f.data && f.width > 0 && f.height > 0 && (f.pixel_stride == 3 || f.pixel_stride == 4) &&
                  f.row_stride >= f.width * f.pixel_stride && std::max({f.r, f.g, f.b}) < f.pixel_stride &&
                  std::min({f.r, f.g, f.b}) >= 0;
  if (!ok) throw Error(ErrorKind::kRuntime, std::string("invalid ") + what + " frame layout");
}

}  // namespace

const char* precision_name(Precision p) {
  switch (p) {
    case Precision::kFP32: return "fp32";
    case Precision::kFP16: return "fp16";
    case Precision::kBF16: return "bf16";
  }
  return "?";
}

struct Engine::Impl {
  EngineOptions options;
  EngineInfo info;
  torch::jit::Module module;
  c10::Device device{c10::kCPU};
  at::ScalarType dtype = at::kFloat;
  int64_t fixed_w = 0, fixed_h = 0;  // 0: native size
  int threads = 0;                   // CPU threads; 0 on CUDA

  // OpenMP keeps the thread count per calling thread, and frames arrive on a streaming thread
  // other than the one that built the engine: apply it on the thread that computes.
  void apply_threads() const {
    thread_local int applied = -1;
    if (threads > 0 && applied != threads) {
      at::set_num_threads(threads);
      applied = threads;
    }
  }

  // CUDA: frames are staged in pinned host buffers and copied without blocking on a stream of
  // the engine's own, so several elements in one process overlap and the copies can run
  // asynchronously. The buffers are kept while the frame shape stays the same.
  std::optional<c10::Stream> stream;
  at::Tensor staged_in, staged_out;
  std::mutex lock;  // serialises process_batch: the staging buffers are shared

  at::Tensor staging(at::Tensor& buffer, at::IntArrayRef sizes) const {
    if (!buffer.defined() || buffer.sizes() != sizes)
      buffer = at::empty(sizes, at::TensorOptions().dtype(at::kByte).pinned_memory(device.is_cuda()));
    return buffer;
  }
  at::Tensor translate(const at::Tensor& rgb_nhwc);

  // The constructor's steps.
  void choose_settings();
  void load_model();
  void prepare_cuda();
  void choose_processing_size();
  void check_precision();

  // After a failure kernels and copies may still be running on the stream, reading the staging
  // buffers and the weights: wait for them before either is reused or freed.
  void wait_for_stream() const noexcept {
    if (!stream) return;
    try {
      stream->synchronize();
    } catch (...) {
    }
  }
  ~Impl() { wait_for_stream(); }
};

// Device, threads and precision: what the settings ask of this machine.
void Engine::Impl::choose_settings() {
  device = parse_device(options.device, &info.fallback_note);
  if (device.is_cpu()) {
    threads =
        options.threads > 0 ? options.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    info.device = "cpu (" + std::to_string(threads) + " threads)";
  } else {
    info.device = device.str();
  }
  if (options.precision == Precision::kFP16 && device.is_cpu())
    throw Error(ErrorKind::kSettings, "precision=fp16 needs a CUDA device; on the CPU use fp32 or bf16");
  dtype = options.precision == Precision::kFP16   ? at::kHalf
          : options.precision == Precision::kBF16 ? at::kBFloat16
                                                  : at::kFloat;
  info.precision = precision_name(options.precision);
}

void Engine::Impl::load_model() {
  apply_threads();
  auto loaded = load_generator(options.model_path, device);
  module = loaded.module;
  info.architecture = loaded.has_metadata ? loaded.metadata.architecture : "unknown";
  info.crop_size = loaded.has_metadata ? loaded.metadata.crop_size : 256;
  if (dtype != at::kFloat) module.to(dtype);
  // NHWC lets oneDNN (CPU) and cuDNN (tensor cores) run the convolutions without reordering
  // every activation: about 15-20% faster on the CPU here. Same results up to float rounding.
  torch::NoGradGuard no_grad;
  for (auto p : module.parameters())
    if (p.dim() == 4) p.set_data(p.contiguous(at::MemoryFormat::ChannelsLast));
}

void Engine::Impl::prepare_cuda() {
  if (!device.is_cuda()) return;
  at::globalContext().setBenchmarkCuDNN(true);  // fixed frame sizes
  const auto* cuda = c10::impl::getDeviceGuardImpl(c10::kCUDA);
  // The weights were copied on the default stream; the engine's stream must see them.
  cuda->getDefaultStream(device).synchronize();
  stream = cuda->getStreamFromGlobalPool(device);
}

void Engine::Impl::choose_processing_size() {
  if (options.process_at_model_crop) {
    fixed_w = fixed_h = model_side(info.crop_size);
  } else if (options.process_width > 0 && options.process_height > 0) {
    fixed_w = model_side(options.process_width);
    fixed_h = model_side(options.process_height);
  }
}

// Reduced precision is checked once here rather than failing on the first frame.
void Engine::Impl::check_precision() {
  if (dtype == at::kFloat) return;
  c10::InferenceMode guard;
  module.forward({at::zeros({1, 3, kMinSize, kMinSize}, at::TensorOptions().device(device).dtype(dtype))});
}

Engine::Engine(const EngineOptions& o) : impl_(std::make_unique<Impl>()) {
  auto& s = *impl_;
  s.options = o;
  try {
    s.choose_settings();
    s.load_model();
    s.prepare_cuda();
    s.choose_processing_size();
    s.check_precision();
  } catch (const Error&) {
    throw;
  } catch (const c10::Error& e) {
    throw Error(ErrorKind::kModel, o.model_path + ": " + e.what_without_backtrace());
  } catch (const std::exception& e) {
    throw Error(ErrorKind::kModel, o.model_path + ": " + e.what());
  }
}

Engine::~Engine() = default;

const EngineInfo& Engine::info() const { return impl_->info; }
const EngineOptions& Engine::options() const { return impl_->options; }

// rgb_nhwc: uint8 [N, H, W, 3] on the CPU. Returns uint8 [N, H, W, 3] on the CPU.
at::Tensor Engine::Impl::translate(const at::Tensor& rgb_nhwc) {
  const int64_t h = rgb_nhwc.size(1), w = rgb_nhwc.size(2);
  // NHWC viewed as NCHW is channels-last, which the generator wants anyway: no reorder here.
  auto x = rgb_nhwc.to(device, /*non_blocking=*/true).permute({0, 3, 1, 2}).to(at::kFloat);
  x = x.mul_(1.0 / 127.5).sub_(1.0);
  const bool fixed = fixed_w > 0;
  if (fixed) {
    namespace F = torch::nn::functional;
    const bool down = fixed_w < w || fixed_h < h;
    x = F::interpolate(x, F::InterpolateFuncOptions()
                              .size(std::vector<int64_t>{fixed_h, fixed_w})
                              .mode(torch::kBilinear)
                              .align_corners(false)
                              .antialias(down));
  } else {
    const int64_t ph = model_side(h), pw = model_side(w);
    if (ph != h || pw != w) x = at::replication_pad2d(x, {0, pw - w, 0, ph - h});
  }
  auto y = module.forward({x.to(dtype).contiguous(at::MemoryFormat::ChannelsLast)}).toTensor().to(at::kFloat);
  if (fixed) {
    namespace F = torch::nn::functional;
    y = F::interpolate(y, F::InterpolateFuncOptions()
                              .size(std::vector<int64_t>{h, w})
                              .mode(torch::kBilinear)
                              .align_corners(false)
                              .antialias(h < fixed_h || w < fixed_w));
  } else {
    y = y.narrow(2, 0, h).narrow(3, 0, w);
  }
  auto out = y.add(1.0).mul_(127.5).round_().clamp_(0, 255).to(at::kByte).permute({0, 2, 3, 1});
  if (!device.is_cuda()) return out;
  auto host = staging(staged_out, out.sizes());
  host.copy_(out, /*non_blocking=*/true);
  stream->synchronize();
  return host;
}

void Engine::process(const FrameView& in, const FrameView& out) { process_batch(&in, &out, 1); }

void Engine::process_batch(const FrameView* in, const FrameView* out, size_t n) {
  if (n == 0) return;
  for (size_t i = 0; i < n; ++i) {
    check_frame(in[i], "input");
    check_frame(out[i], "output");
    if (in[i].width != out[i].width || in[i].height != out[i].height || in[i].pixel_stride != out[i].pixel_stride)
      throw Error(ErrorKind::kRuntime, "input and output frames differ in size or layout");
    if (in[i].width != in[0].width || in[i].height != in[0].height)
      throw Error(ErrorKind::kRuntime, "the frames of a batch differ in size");
  }
  auto& s = *impl_;
  try {
    std::lock_guard<std::mutex> guard(s.lock);
    s.apply_threads();
    c10::InferenceMode inference;
    c10::OptionalStreamGuard on_stream(s.stream);
    const int64_t count = static_cast<int64_t>(n);
    // One copy per frame, straight into the (pinned, on CUDA) batch; so in-place output is safe.
    auto batch = s.staging(s.staged_in, {count, in[0].height, in[0].width, 3});
    for (size_t i = 0; i < n; ++i) {
      auto row = batch.select(0, static_cast<int64_t>(i));
      at::index_select_out(row, pixels(in[i]), 2, channel_index(in[i]));
    }
    auto result = s.translate(batch);
    for (size_t i = 0; i < n; ++i) {
      auto dst = pixels(out[i]);
      if (out[i].data != in[i].data && in[i].pixel_stride == 4) {
        const int extra = 6 - in[i].r - in[i].g - in[i].b;  // the byte that is not R, G or B
        dst.select(2, extra).copy_(pixels(in[i]).select(2, extra));
      }
      dst.index_copy_(2, channel_index(out[i]), result.select(0, static_cast<int64_t>(i)));
    }
  } catch (const c10::Error& e) {
    s.wait_for_stream();
    throw Error(ErrorKind::kRuntime, s.options.model_path + ": inference failed: " + e.what_without_backtrace());
  }
}

}  // namespace cg
