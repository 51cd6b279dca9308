// Times the engine's bare translation or the element in a pipeline, frame by frame, and prints
// one JSON line: {"mode", "device", "ms": [per-frame milliseconds], "maxrss_kb"}. With --batch N,
// each entry is one batch's time divided by N; with --runtime both, the native and TorchScript
// runtimes' series are added side by side ("ms" is the native one). Driven side by side with the Python reference by
// bench_inference.py; on its own it is a quick probe. The element mode is compiled in only where
// GStreamer is found (CG_BENCH_WITH_GSTREAMER), so that the engine can be timed on machines
// without GStreamer.
#include "engine/engine.h"

#include <CLI/CLI.hpp>
#ifdef CG_BENCH_WITH_GSTREAMER
#include <gst/gst.h>
#endif

#include <chrono>
#include <fstream>
#include <iostream>
#include <memory>
#include <random>
#include <sstream>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

struct BenchOptions {
  std::string mode = "engine";
  std::string model;
  std::string device = "cpu";
  std::string precision = "fp32";
  std::string memory_format = "auto";
  std::string runtime = "auto";  // or "both": native and torchscript side by side
  int width = 256, height = 256, frames = 10, warmup = 2, threads = 0, batch = 1;
};

// One engine with its frames; time() translates one batch and returns milliseconds per frame.
struct TimedEngine {
  std::unique_ptr<cg::Engine> engine;
  std::vector<uint8_t> in, out;
  std::vector<cg::FrameView> vi, vo;

  TimedEngine(const BenchOptions& o, cg::Runtime runtime) {
    cg::EngineOptions eo;
    eo.model_path = o.model;
    eo.device = o.device;
    eo.precision = cg::parse_precision(o.precision);
    eo.threads = o.threads;
    eo.memory_format = cg::parse_memory_format(o.memory_format);
    eo.runtime = runtime;
    engine = std::make_unique<cg::Engine>(eo);
    // As the element does when its caps are set: cuDNN's autotuning and lazy loading happen here.
    engine->warm_up(o.width, o.height, static_cast<size_t>(o.batch));
    const size_t frame_bytes = static_cast<size_t>(o.width) * o.height * 4;
    in.resize(frame_bytes * o.batch);
    out.resize(in.size());
    std::mt19937 rng(1);
    for (auto& b : in) b = static_cast<uint8_t>(rng());
    for (int k = 0; k < o.batch; ++k) {
      vi.push_back({in.data() + k * frame_bytes, o.width, o.height, o.width * 4, 4, 0, 1, 2});
      vo.push_back({out.data() + k * frame_bytes, o.width, o.height, o.width * 4, 4, 0, 1, 2});
    }
  }
  std::string describe() const {
    const auto& i = engine->info();
    return i.device + ", " + i.precision + ", " + i.memory_format + ", " + i.runtime;
  }
  double time() {
    const auto t0 = Clock::now();
    engine->process_batch(vi.data(), vo.data(), vi.size());
    return std::chrono::duration<double, std::milli>(Clock::now() - t0).count() / static_cast<double>(vi.size());
  }
};

// One engine per runtime asked for, timed in interleaved rounds (the order alternating from round
// to round), so that a change in the machine's load or clock hits every runtime alike.
std::vector<std::vector<double>> bench_engine(const BenchOptions& o, const std::vector<cg::Runtime>& runtimes,
                                              std::string* device) {
  std::vector<std::unique_ptr<TimedEngine>> engines;
  for (cg::Runtime r : runtimes) engines.push_back(std::make_unique<TimedEngine>(o, r));
  *device = engines[0]->describe();
  std::vector<std::vector<double>> ms(engines.size());
  const int batches = (o.frames + o.batch - 1) / o.batch;
  for (int i = 0; i < o.warmup + batches; ++i) {
    for (size_t k = 0; k < engines.size(); ++k) {
      const size_t e = i % 2 ? engines.size() - 1 - k : k;
      const double dt = engines[e]->time();
      if (i >= o.warmup) ms[e].push_back(dt);
    }
  }
  return ms;
}

#ifdef CG_BENCH_WITH_GSTREAMER
struct ProbeData {
  std::vector<Clock::time_point> arrivals;
};

GstPadProbeReturn on_buffer(GstPad*, GstPadProbeInfo*, gpointer data) {
  static_cast<ProbeData*>(data)->arrivals.push_back(Clock::now());
  return GST_PAD_PROBE_OK;
}

// Per-frame time = the interval between successive frames (successive batches, divided by the
// batch size) leaving the element: the pipeline's throughput, test-source and conversions included.
std::vector<double> bench_element(const BenchOptions& o) {
  std::ostringstream launch;
  // A queue puts the test source on its own thread, as a decoder would be.
  const int batches = (o.frames + o.batch - 1) / o.batch + o.warmup + 1;
  launch << "videotestsrc num-buffers=" << batches * o.batch
         << " pattern=snow ! video/x-raw,format=RGBx,width=" << o.width << ",height=" << o.height
         << " ! queue ! cyclegan name=cg model=\"" << o.model << "\" device=" << o.device
         << " precision=" << o.precision << " threads=" << o.threads << " batch-size=" << o.batch;
  // Only when asked, so that the default launch line works with an element of any version.
  if (o.memory_format != "auto") launch << " memory-format=" << o.memory_format;
  launch << " ! fakesink sync=false";
  GError* err = nullptr;
  GstElement* pipeline = gst_parse_launch(launch.str().c_str(), &err);
  // A recoverable error (an unknown property, say) still returns a pipeline: a timing of another
  // configuration than the one asked for, so it is an error too.
  if (!pipeline || err) {
    const std::string message = err ? err->message : "cannot build the pipeline";
    if (err) g_error_free(err);
    if (pipeline) gst_object_unref(pipeline);
    throw std::runtime_error(message + " (" + launch.str() + ")");
  }
  GstElement* cg = gst_bin_get_by_name(GST_BIN(pipeline), "cg");
  GstPad* pad = gst_element_get_static_pad(cg, "src");
  ProbeData probe;
  gst_pad_add_probe(pad, GST_PAD_PROBE_TYPE_BUFFER, on_buffer, &probe, nullptr);
  gst_element_set_state(pipeline, GST_STATE_PLAYING);
  GstBus* bus = gst_element_get_bus(pipeline);
  GstMessage* msg =
      gst_bus_timed_pop_filtered(bus, GST_CLOCK_TIME_NONE, (GstMessageType)(GST_MESSAGE_EOS | GST_MESSAGE_ERROR));
  std::string error;
  if (msg && GST_MESSAGE_TYPE(msg) == GST_MESSAGE_ERROR) {
    GError* e = nullptr;
    gst_message_parse_error(msg, &e, nullptr);
    error = e->message;
    g_error_free(e);
  }
  if (msg) gst_message_unref(msg);
  gst_element_set_state(pipeline, GST_STATE_NULL);
  gst_object_unref(bus);
  gst_object_unref(pad);
  gst_object_unref(cg);
  gst_object_unref(pipeline);
  if (!error.empty()) throw std::runtime_error(error);
  std::vector<double> ms;
  const size_t n = static_cast<size_t>(o.batch);
  for (size_t i = (o.warmup + 1) * n; i < probe.arrivals.size(); i += n)
    ms.push_back(std::chrono::duration<double, std::milli>(probe.arrivals[i] - probe.arrivals[i - n]).count() / n);
  return ms;
}
#endif

}  // namespace

int main(int argc, char** argv) {
  BenchOptions o;
  CLI::App app{"cg-bench: per-frame timings of the cyclegan engine or element"};
  app.add_option("--mode", o.mode, "engine or element")->check(CLI::IsMember({"engine", "element"}));
  app.add_option("--model", o.model, "G.pt")->required();
  app.add_option("--device", o.device, "cpu, cuda, cuda:N, auto")->capture_default_str();
  app.add_option("--precision", o.precision, "fp32, tf32, fp16, bf16")
      ->check(CLI::IsMember({"fp32", "tf32", "fp16", "bf16"}));
  app.add_option("--memory-format", o.memory_format, "auto, contiguous, channels-last")
      ->check(CLI::IsMember({"auto", "contiguous", "channels-last"}))
      ->capture_default_str();
  app.add_option("--width", o.width)->check(CLI::Range(1, 16384))->capture_default_str();
  app.add_option("--height", o.height)->check(CLI::Range(1, 16384))->capture_default_str();
  app.add_option("--frames", o.frames)->check(CLI::Range(1, 100000))->capture_default_str();
  app.add_option("--warmup", o.warmup)->check(CLI::Range(0, 1000))->capture_default_str();
  app.add_option("--threads", o.threads, "0 = all cores")->capture_default_str();
  app.add_option("--batch", o.batch, "frames per forward pass")->check(CLI::Range(1, 64))->capture_default_str();
  app.add_option("--runtime", o.runtime,
                 "auto, native, torchscript, or both: native and torchscript timed in interleaved rounds (engine "
                 "mode), each under \"ms_native\" and \"ms_torchscript\"")
      ->check(CLI::IsMember({"auto", "native", "torchscript", "both"}))
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  try {
    std::vector<double> ms;
    std::string device = o.device;
    std::string side_by_side;  // with --runtime both: the two series
    if (o.mode == "engine" && o.runtime == "both") {
      const auto both = bench_engine(o, {cg::Runtime::kNative, cg::Runtime::kTorchScript}, &device);
      ms = both[0];
      const auto series = [](const std::vector<double>& v) {
        std::ostringstream s;
        for (size_t i = 0; i < v.size(); ++i) s << (i ? ", " : "") << v[i];
        return s.str();
      };
      side_by_side = ", \"ms_native\": [" + series(both[0]) + "], \"ms_torchscript\": [" + series(both[1]) + "]";
    } else if (o.mode == "engine") {
      ms = bench_engine(o, {cg::parse_runtime(o.runtime)}, &device)[0];
    } else {
      if (o.runtime != "auto") throw std::runtime_error("--runtime is for --mode engine");
#ifdef CG_BENCH_WITH_GSTREAMER
      gst_init(&argc, &argv);
      ms = bench_element(o);
#else
      throw std::runtime_error("built without GStreamer: only --mode engine is available");
#endif
    }
    // VmHWM, not getrusage: ru_maxrss carries the parent's peak across fork and exec.
    long hwm_kb = 0;
    std::ifstream status("/proc/self/status");
    for (std::string line; std::getline(status, line);)
      if (line.rfind("VmHWM:", 0) == 0) hwm_kb = std::stol(line.substr(6));
    std::cout << "{\"mode\": \"" << o.mode << "\", \"device\": \"" << device << "\", \"ms\": [";
    for (size_t i = 0; i < ms.size(); ++i) std::cout << (i ? ", " : "") << ms[i];
    std::cout << "]" << side_by_side << ", \"maxrss_kb\": " << hwm_kb << "}\n";
  } catch (const std::exception& e) {
    std::cerr << "cg-bench: error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
