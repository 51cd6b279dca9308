#include "engine/engine.h"

#include "engine/device.h"
#include "model/generator-layout.h"
#include "model/generator-script.h"
#include "model/model-file.h"
#include "model/safetensors.h"
#include "model/torch-error.h"

#include <ATen/ATen.h>
#include <ATen/detail/CUDAHooksInterface.h>
#include <c10/core/DeviceGuard.h>
#include <c10/core/InferenceMode.h>
#include <c10/core/StreamGuard.h>
#include <c10/core/impl/DeviceGuardImplInterface.h>
#include <torch/cuda.h>
#include <torch/nn/functional/upsampling.h>
#include <torch/script.h>

#include <dlfcn.h>

#include <algorithm>
#include <functional>
#include <limits>
#include <mutex>
#include <optional>
#include <thread>

namespace cg {

namespace {

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
    case Precision::kTF32: return "tf32";
    case Precision::kFP16: return "fp16";
    case Precision::kBF16: return "bf16";
  }
  return "?";
}

Precision parse_precision(const std::string& name) {
  for (Precision p : {Precision::kFP32, Precision::kTF32, Precision::kFP16, Precision::kBF16})
    if (name == precision_name(p)) return p;
  throw Error(ErrorKind::kSettings, "invalid precision '" + name + "' (use fp32, tf32, fp16 or bf16)");
}

const char* runtime_name(Runtime r) {
  switch (r) {
    case Runtime::kAuto: return "auto";
    case Runtime::kNative: return "native";
    case Runtime::kTorchScript: return "torchscript";
  }
  return "?";
}

Runtime parse_runtime(const std::string& name) {
  for (Runtime r : {Runtime::kAuto, Runtime::kNative, Runtime::kTorchScript})
    if (name == runtime_name(r)) return r;
  throw Error(ErrorKind::kSettings, "invalid runtime '" + name + "' (use auto, native or torchscript)");
}

const char* memory_format_name(MemoryFormat f) {
  switch (f) {
    case MemoryFormat::kAuto: return "auto";
    case MemoryFormat::kContiguous: return "contiguous";
    case MemoryFormat::kChannelsLast: return "channels-last";
  }
  return "?";
}

MemoryFormat parse_memory_format(const std::string& name) {
  for (MemoryFormat f : {MemoryFormat::kAuto, MemoryFormat::kContiguous, MemoryFormat::kChannelsLast})
    if (name == memory_format_name(f)) return f;
  throw Error(ErrorKind::kSettings, "invalid memory format '" + name + "' (use auto, contiguous or channels-last)");
}

namespace {

// cuDNN reads whether it may use TF32 from a process-wide setting when each convolution is
// dispatched. Engines of one process may want it differently, so each sets its own for the
// length of its forward's dispatch and puts the previous value back.
class CudaConvPrecision {
 public:
  explicit CudaConvPrecision(bool tf32) : lock_(mutex()) {
    auto& ctx = at::globalContext();
    previous_ = ctx.float32Precision(at::Float32Backend::CUDA, at::Float32Op::CONV);
    ctx.setFloat32Precision(at::Float32Backend::CUDA, at::Float32Op::CONV,
                            tf32 ? at::Float32Precision::TF32 : at::Float32Precision::IEEE);
  }
  ~CudaConvPrecision() {
    at::globalContext().setFloat32Precision(at::Float32Backend::CUDA, at::Float32Op::CONV, previous_);
  }
  CudaConvPrecision(const CudaConvPrecision&) = delete;
  CudaConvPrecision& operator=(const CudaConvPrecision&) = delete;

 private:
  static std::mutex& mutex() {
    static std::mutex m;
    return m;
  }
  std::lock_guard<std::mutex> lock_;
  at::Float32Precision previous_;
};

// Host threads for the channel copies in and out of pinned memory when the GPU computes: a few
// are plenty, and every element's streaming thread gets its own pool of them.
constexpr int kCudaHostThreads = 2;

}  // namespace

struct Engine::Impl {
  EngineOptions options;
  EngineInfo info;
  torch::jit::Module module;  // runs the generator under the TorchScript runtime
  Generator native{nullptr};  // runs it under the native one
  Layers layers;              // the generator's, from its metadata (the default one without): sizes passes
  int64_t input_nc = 3;
  SizeRule size_rule;  // the model's
  c10::Device device{c10::kCPU};
  at::ScalarType dtype = at::kFloat;
  at::MemoryFormat memory_format = at::MemoryFormat::Contiguous;
  bool tf32 = false;
  int64_t max_elements = 0;          // per pass; 0 = no limit
  int64_t fixed_w = 0, fixed_h = 0;  // 0: native size
  int threads = 0;                   // CPU threads for the host-side work
  int64_t warm_batch = 0;            // CUDA: batches are padded to this many frames

  // OpenMP keeps the thread count per calling thread, and frames arrive on a streaming thread
  // other than the one that built the engine: apply it on the thread that computes. `count`
  // overrides the engine's for one call (parallel frames split the threads between them).
  void apply_threads(int count = 0) const {
    thread_local int applied = -1;
    const int wanted = count > 0 ? count : threads;
    if (wanted > 0 && applied != wanted) {
      at::set_num_threads(wanted);
      applied = wanted;
    }
  }

  // One thread while the engine is built, and the building thread's count back afterwards.
  struct OneThreadWhileBuilding {
    const Impl& engine;
    explicit OneThreadWhileBuilding(const Impl& e) : engine(e) { engine.apply_threads(1); }
    ~OneThreadWhileBuilding() { engine.apply_threads(); }
    OneThreadWhileBuilding(const OneThreadWhileBuilding&) = delete;
    OneThreadWhileBuilding& operator=(const OneThreadWhileBuilding&) = delete;
  };

  // CUDA: frames are staged in pinned host buffers and copied without blocking on a stream of
  // the engine's own, so several elements in one process overlap and the copies can run
  // asynchronously. The buffers are kept while the frame shape stays the same.
  std::optional<c10::Stream> stream;
  at::Tensor staged_in, staged_out;
  std::mutex lock;  // CUDA: serialises process_batch and warm_up, which share the staging buffers

  at::Tensor staging(at::Tensor& buffer, at::IntArrayRef sizes) const {
    if (!buffer.defined() || buffer.sizes() != sizes)
      buffer = at::empty(sizes, at::TensorOptions().dtype(at::kByte).pinned_memory(device.is_cuda()));
    return buffer;
  }
  std::pair<int64_t, int64_t> processing_size(int64_t h, int64_t w) const;
  int64_t model_side(int64_t v) const;
  int64_t frames_per_pass(int64_t h, int64_t w) const;
  at::Tensor forward(const at::Tensor& x);
  at::Tensor translate(const at::Tensor& rgb_nhwc);
  void translate_all(const at::Tensor& batch, size_t n, const std::function<void(size_t, const at::Tensor&)>& emit);

  // The constructor's steps.
  void choose_settings();
  void choose_memory_format();
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
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  if (device.is_cpu()) {
    threads = options.threads > 0 ? options.threads : cores;
    info.device = "cpu (" + std::to_string(threads) + " threads)";
  } else {
    threads = options.threads > 0 ? options.threads : std::min(kCudaHostThreads, cores);
    info.device = device.str();
  }
  if (options.precision == Precision::kFP16 && device.is_cpu())
    throw Error(ErrorKind::kSettings, "precision=fp16 needs a CUDA device; on the CPU use fp32 or bf16");
  dtype = options.precision == Precision::kFP16   ? at::kHalf
          : options.precision == Precision::kBF16 ? at::kBFloat16
                                                  : at::kFloat;
  tf32 = options.precision == Precision::kTF32 && device.is_cuda();
  info.precision = precision_name(options.precision);
  if (options.precision == Precision::kTF32 && device.is_cpu()) info.precision = "fp32 (tf32 is for CUDA)";
  if (options.precision == Precision::kBF16 && device.is_cpu()) info.warning = bf16_cpu_warning();
  constexpr int64_t kCudaIndexLimit = std::numeric_limits<int32_t>::max();
  max_elements = options.max_elements > 0 ? options.max_elements : device.is_cuda() ? kCudaIndexLimit : 0;
  choose_memory_format();
}

void Engine::Impl::choose_memory_format() {
  MemoryFormat f = options.memory_format;
  if (f == MemoryFormat::kAuto) f = device.is_cuda() ? MemoryFormat::kContiguous : MemoryFormat::kChannelsLast;
  memory_format = f == MemoryFormat::kChannelsLast ? at::MemoryFormat::ChannelsLast : at::MemoryFormat::Contiguous;
  info.memory_format = memory_format_name(f);
}

void Engine::Impl::load_model() {
  const std::string& path = options.model_path;
  ModelMetadata metadata;
  bool has_metadata = false;
  GeneratorOptions g;  // the generator's layers: what sizes passes
  if (is_safetensors_file(path)) {
    const SafetensorsFile file = read_safetensors(path);
    if (!has_generator_metadata(file))
      throw Error(ErrorKind::kModel, path +
                                         ": a safetensors file without cyclegan-gst metadata, so its generator is "
                                         "unknown; convert it with `cg-trainer export --from " +
                                         path + " --to G.safetensors` (or --to G.pt)");
    auto read = generator_from_safetensors(file, path);
    native = read.generator;
    metadata = read.metadata;
    has_metadata = true;
    g = metadata.generator;
    size_rule = metadata.size_rule();
    if (options.runtime == Runtime::kTorchScript) {
      module = generator_script(*native, metadata.batch_stats);
      module.to(device);
      native = nullptr;
    }
  } else {
    auto loaded = load_generator(path, device);
    metadata = loaded.metadata;
    has_metadata = loaded.has_metadata;
    size_rule = loaded.size_rule;
    g = loaded.generator_options();
    if (has_metadata && options.runtime != Runtime::kTorchScript) {
      native = trainable_generator(loaded, path);
    } else if (options.runtime == Runtime::kNative) {
      throw Error(ErrorKind::kModel, path +
                                         ": runtime=native needs a model with cyclegan-gst metadata, and this "
                                         "TorchScript file has none (use runtime=auto or torchscript)");
    } else {
      module = loaded.module;
    }
  }
  info.runtime = native ? "native" : "torchscript";
  info.architecture = has_metadata ? metadata.architecture() : "unknown";
  info.crop_size = has_metadata ? metadata.crop_size : kDefaultCropSize;
  layers = generator_layers(g);
  input_nc = g.input_nc;
  info.size_rule = size_rule;
  torch::NoGradGuard no_grad;
  if (native) {
    native->to(device, dtype);
    // The weights in the activations' layout, as for TorchScript below.
    for (auto p : native->parameters())
      if (p.dim() == 4) p.set_data(p.contiguous(memory_format));
    native->prepare_inference(metadata.batch_stats);
    return;
  }
  if (dtype != at::kFloat) module.to(dtype);
  // The weights in the activations' layout, so convolutions need no reorder: on the CPU NHWC
  // is about 15-20% faster here. Same results up to float rounding.
  for (auto p : module.parameters())
    if (p.dim() == 4) p.set_data(p.contiguous(memory_format));
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

// Reduced precision is checked once here rather than failing on the first frame, and reported
// as the setting it is rather than as a broken model.
void Engine::Impl::check_precision() {
  if (dtype == at::kFloat) return;
  const std::string where = device.is_cuda() ? device.str() : "the CPU";
  if (dtype == at::kBFloat16 && device.is_cuda()) {
    c10::DeviceGuard on(device);
    if (!at::detail::getCUDAHooks().supportsBFloat16ConvolutionWithCuDNNv8())
      throw Error(ErrorKind::kSettings, "precision=bf16 needs a GPU of compute capability 8.0 (Ampere) or newer; " +
                                            where + " is older: use fp16 or fp32");
  }
  try {
    c10::InferenceMode guard;
    forward(at::zeros({1, input_nc, size_rule.min, size_rule.min}, at::TensorOptions().device(device)));
  } catch (...) {
    // Out of memory says nothing about the precision, and is reported as what it is.
    rethrow_as_error(ErrorKind::kSettings,
                     std::string("precision=") + precision_name(options.precision) + " does not run on " + where);
  }
}

Engine::Engine(const EngineOptions& o) : impl_(std::make_unique<Impl>()) {
  auto& s = *impl_;
  s.options = o;
  // Each step reports its own kind of failure: a bad device or precision is a setting, a bad file
  // the model's fault, and a device without room for the weights runs out of memory.
  try {
    s.choose_settings();
  } catch (...) {
    rethrow_as_error(ErrorKind::kSettings, "device=" + o.device);
  }
  // libgomp keeps a team of threads for every thread that ever ran a parallel region, and once the
  // process holds more of them than there are cores, all teams stop spinning between regions and
  // sleep: each of a small model's ~150 layers per frame then waits for a futex wake-up (the nano
  // student in the element, 256x256 on 2 cores: 30 fps, 39-53 without). So the thread that builds
  // the engine (the application's, the reloader's) does it on one thread and forms no team; only
  // the threads that translate frames do.
  Impl::OneThreadWhileBuilding one_thread(s);
  try {
    s.load_model();
  } catch (...) {
    rethrow_as_error(ErrorKind::kModel, o.model_path);
  }
  try {
    s.prepare_cuda();
    s.choose_processing_size();
  } catch (...) {
    rethrow_as_error(ErrorKind::kRuntime, o.model_path + " on " + s.device.str());
  }
  s.check_precision();
}

Engine::~Engine() = default;

void release_thread_team() noexcept {
  // LibTorch's libgomp, among the libraries already loaded: the element is a plugin, whose
  // libraries are not in the global scope. omp_pause_resource_all ends the calling thread's pool.
  using Pause = int (*)(int);
  static const Pause pause = []() -> Pause {
    void* gomp = dlopen("libgomp.so.1", RTLD_LAZY | RTLD_NOLOAD);
    return gomp ? reinterpret_cast<Pause>(dlsym(gomp, "omp_pause_resource_all")) : nullptr;
  }();
  constexpr int kSoft = 1;  // omp_pause_soft
  if (pause) pause(kSoft);
}

const EngineInfo& Engine::info() const { return impl_->info; }
const EngineOptions& Engine::options() const { return impl_->options; }

// A processing side: a multiple of the generator's size multiple, and at least its minimum.
int64_t Engine::Impl::model_side(int64_t v) const { return size_rule.padded(v); }

// The size the generator sees for an h x w frame.
std::pair<int64_t, int64_t> Engine::Impl::processing_size(int64_t h, int64_t w) const {
  if (fixed_w > 0) return {fixed_h, fixed_w};
  return {model_side(h), model_side(w)};
}

int64_t Engine::Impl::frames_per_pass(int64_t h, int64_t w) const {
  if (max_elements <= 0) return std::numeric_limits<int64_t>::max();
  const auto [ph, pw] = processing_size(h, w);
  return max_elements / largest_activation(layers, input_nc, ph, pw);
}

int64_t Engine::frames_per_pass(int width, int height) const { return impl_->frames_per_pass(height, width); }

// x: float [N, C, H, W] in [-1, 1] on the device, any layout. The generator in the engine's
// precision, memory format and (on CUDA) convolution mode; float out.
at::Tensor Engine::Impl::forward(const at::Tensor& x) {
  auto in = x.to(dtype).contiguous(memory_format);
  std::optional<CudaConvPrecision> mode;
  if (device.is_cuda()) mode.emplace(tf32);
  auto y = native ? native->forward_inference(in) : module.forward({in}).toTensor();
  return y.to(at::kFloat);
}

// rgb_nhwc: uint8 [N, H, W, 3] on the CPU. Returns uint8 [N, H, W, 3] on the CPU.
at::Tensor Engine::Impl::translate(const at::Tensor& rgb_nhwc) {
  const int64_t h = rgb_nhwc.size(1), w = rgb_nhwc.size(2);
  const auto [ph, pw] = processing_size(h, w);
  // NHWC viewed as NCHW is channels-last, which the CPU's generator wants anyway: no reorder.
  auto x = rgb_nhwc.to(device, /*non_blocking=*/true).permute({0, 3, 1, 2}).to(at::kFloat);
  x = x.mul_(1.0 / 127.5).sub_(1.0);
  const bool fixed = fixed_w > 0;
  namespace F = torch::nn::functional;
  if (fixed) {
    const bool down = pw < w || ph < h;
    x = F::interpolate(x, F::InterpolateFuncOptions()
                              .size(std::vector<int64_t>{ph, pw})
                              .mode(torch::kBilinear)
                              .align_corners(false)
                              .antialias(down));
  } else if (ph != h || pw != w) {
    x = at::replication_pad2d(x, {0, pw - w, 0, ph - h});
  }
  auto y = forward(x);
  if (fixed) {
    y = F::interpolate(y, F::InterpolateFuncOptions()
                              .size(std::vector<int64_t>{h, w})
                              .mode(torch::kBilinear)
                              .align_corners(false)
                              .antialias(h < ph || w < pw));
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

// The first n frames of `batch` in passes that respect the element-count limit; `emit` gets each
// frame's result (valid until the next pass).
void Engine::Impl::translate_all(const at::Tensor& batch, size_t n,
                                 const std::function<void(size_t, const at::Tensor&)>& emit) {
  const int64_t h = batch.size(1), w = batch.size(2), total = batch.size(0);
  const int64_t per_pass = frames_per_pass(h, w);
  if (per_pass < 1) {
    const auto [ph, pw] = processing_size(h, w);
    throw Error(ErrorKind::kRuntime,
                "a " + std::to_string(w) + "x" + std::to_string(h) + " frame is too large for one pass on " +
                    device.str() + ": the generator's largest tensor would hold " +
                    std::to_string(largest_activation(layers, input_nc, ph, pw)) + " elements, over the limit of " +
                    std::to_string(max_elements) + "; set process-size to a smaller WxH to translate it smaller");
  }
  for (int64_t first = 0; first < static_cast<int64_t>(n); first += per_pass) {
    const int64_t count = std::min(per_pass, total - first);
    auto result = translate(batch.narrow(0, first, count));
    for (int64_t i = 0; i < count && first + i < static_cast<int64_t>(n); ++i)
      emit(static_cast<size_t>(first + i), result.select(0, i));
  }
}

void Engine::warm_up(int width, int height, size_t batch) {
  auto& s = *impl_;
  if (!s.device.is_cuda() || width <= 0 || height <= 0 || batch == 0) return;
  try {
    std::lock_guard<std::mutex> guard(s.lock);
    s.apply_threads();
    c10::InferenceMode inference;
    c10::OptionalStreamGuard on_stream(s.stream);
    auto frames = s.staging(s.staged_in, {static_cast<int64_t>(batch), height, width, 3});
    frames.zero_();
    // TorchScript profiles the first run and optimises on the second; the third is the steady one.
    for (int run = 0; run < 3; ++run) s.translate_all(frames, batch, [](size_t, const at::Tensor&) {});
    s.warm_batch = static_cast<int64_t>(batch);
  } catch (...) {
    s.wait_for_stream();
    rethrow_as_error(ErrorKind::kRuntime, s.options.model_path + ": warm-up failed");
  }
}

void Engine::process(const FrameView& in, const FrameView& out) { process_batch(&in, &out, 1); }

namespace {
void check_batch(const FrameView* in, const FrameView* out, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    check_frame(in[i], "input");
    check_frame(out[i], "output");
    if (in[i].width != out[i].width || in[i].height != out[i].height || in[i].pixel_stride != out[i].pixel_stride)
      throw Error(ErrorKind::kRuntime, "input and output frames differ in size or layout");
    if (in[i].width != in[0].width || in[i].height != in[0].height)
      throw Error(ErrorKind::kRuntime, "the frames of a batch differ in size");
  }
}

// Writes the RGB of `rgb` ([H, W, 3]) into `out`; a 4-byte pixel's other byte comes from `in`.
void write_frame(const FrameView& in, const FrameView& out, const at::Tensor& rgb) {
  auto dst = pixels(out);
  if (out.data != in.data && in.pixel_stride == 4) {
    const int extra = 6 - in.r - in.g - in.b;  // the byte that is not R, G or B
    dst.select(2, extra).copy_(pixels(in).select(2, extra));
  }
  dst.index_copy_(2, channel_index(out), rgb);
}
}  // namespace

void Engine::process_batch(const FrameView* in, const FrameView* out, size_t n, int threads) {
  if (n == 0) return;
  check_batch(in, out, n);
  auto& s = *impl_;
  try {
    // On the CPU a pass only reads the engine (weights, sub-pixel weights, TorchScript's forward
    // under InferenceMode) and stages its frames in a tensor of its own, so calls need no lock
    // and parallel frames really run at once.
    const bool cuda = s.device.is_cuda();
    std::unique_lock<std::mutex> guard(s.lock, std::defer_lock);
    if (cuda) guard.lock();
    s.apply_threads(threads);
    c10::InferenceMode inference;
    c10::OptionalStreamGuard on_stream(s.stream);
    // A short batch (the last one of a stream) is padded to the warmed-up size on CUDA, so it
    // reuses the tuned kernels instead of autotuning a new shape; the padding frames are unused.
    const int64_t count = cuda ? std::max(static_cast<int64_t>(n), s.warm_batch) : static_cast<int64_t>(n);
    // One copy per frame, straight into the (pinned, on CUDA) batch; so in-place output is safe.
    at::Tensor own;
    auto batch = s.staging(cuda ? s.staged_in : own, {count, in[0].height, in[0].width, 3});
    for (size_t i = 0; i < n; ++i) {
      auto row = batch.select(0, static_cast<int64_t>(i));
      at::index_select_out(row, pixels(in[i]), 2, channel_index(in[i]));
    }
    s.translate_all(batch, n, [&](size_t i, const at::Tensor& rgb) { write_frame(in[i], out[i], rgb); });
  } catch (...) {
    // Whatever failed, the stream may still be reading the staging buffers: wait for it first.
    s.wait_for_stream();
    rethrow_as_error(ErrorKind::kRuntime, s.options.model_path + ": inference failed");
  }
}

}  // namespace cg
