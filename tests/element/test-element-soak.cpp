// Long runs and concurrency: memory, threads and file descriptors stay flat over many frames and
// model swaps; four pipelines sharing one model file run at once with identical results.
// CG_SOAK_FRAMES and CG_SOAK_SWAPS scale the soak (CI runs a short one; the README's figures come
// from 20000 frames and 100 swaps).
#include "model/model-file.h"
#include "model/official-import.h"
#include "tests/element/element-helpers.h"
#include "tests/test-helpers.h"

#include <gst/check/gstharness.h>
#include <gst/gst.h>
#include <gst/video/video.h>

#include <dirent.h>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <thread>

namespace cg {
namespace {

using test::BufferPtr;
using test::ErrorPtr;
using test::Harness;
using test::MessagePtr;
using test::ObjectPtr;

long status_field(const char* key) {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind(key, 0) == 0) return std::stol(line.substr(std::strlen(key)));
  return -1;
}
long rss_kb() { return status_field("VmRSS:"); }
long threads() { return status_field("Threads:"); }
long open_fds() {
  long n = 0;
  if (DIR* d = opendir("/proc/self/fd")) {
    while (readdir(d)) ++n;
    closedir(d);
  }
  return n;
}

int env_int(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v ? std::atoi(v) : fallback;
}

class Soak : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new test::TempDir();
    for (const char* name : {"g2-ngf8-dropout.pth", "g6-ngf16-running-stats.pth"}) {
      auto g = import_official_generator(test::fixture(name));
      save_generator(g, ModelMetadata::for_generator(g->options()), (*dir_) / (std::string(name) + ".pt"));
    }
  }
  static void TearDownTestSuite() { delete dir_; }
  static std::string model(int i) { return (*dir_) / (i ? "g6-ngf16-running-stats.pth.pt" : "g2-ngf8-dropout.pth.pt"); }
  static test::TempDir* dir_;
};
test::TempDir* Soak::dir_ = nullptr;

TEST_F(Soak, FramesAndSwapsKeepResourcesFlat) {
  const int frames = env_int("CG_SOAK_FRAMES", 3000);
  const int swaps = env_int("CG_SOAK_SWAPS", 15);
  const int warmup = std::min(500, frames / 5);
  Harness hn("cyclegan device=cpu threads=1 model=" + model(0), "RGBA", 16, 12);
  const auto e = hn.element();
  const GstVideoInfo& info = hn.info;
  long rss0 = 0, threads0 = 0, fds0 = 0, rss_max = 0;
  const int swap_every = swaps > 0 ? std::max(1, (frames - warmup) / swaps) : frames + 1;
  int swapped = 0;
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < frames; ++i) {
    GstBuffer* in = gst_buffer_new_allocate(nullptr, GST_VIDEO_INFO_SIZE(&info), nullptr);
    gst_buffer_memset(in, 0, static_cast<guint8>(i), GST_VIDEO_INFO_SIZE(&info));
    ASSERT_NE(hn.push_and_pull(in), nullptr) << "frame " << i;
    if (i == warmup) {
      rss0 = rss_kb();
      threads0 = threads();
      fds0 = open_fds();
    }
    if (i > warmup && (i - warmup - 1) % swap_every == 0 && swapped < swaps) {
      g_object_set(e.get(), "model", model(++swapped % 2).c_str(), nullptr);
    }
    if (i > warmup) rss_max = std::max(rss_max, rss_kb());
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // let the last swap finish
  const long rss1 = rss_kb(), threads1 = threads(), fds1 = open_fds();
  guint64 processed = 0;
  g_object_get(e.get(), "frames-processed", &processed, nullptr);
  std::printf(
      "soak: %d frames, %d swaps in %.1f s; RSS after warm-up %ld KiB, max %ld KiB, end %ld KiB; "
      "threads %ld -> %ld; fds %ld -> %ld\n",
      frames, swapped, secs, rss0, rss_max, rss1, threads0, threads1, fds0, fds1);
  EXPECT_EQ(processed, static_cast<guint64>(frames));
  EXPECT_EQ(swapped, swaps);
  // AddressSanitizer's quarantine holds freed memory back, so RSS says nothing there.
  if (!std::getenv("CG_SANITIZED")) {
    EXPECT_LT(rss_max - rss0, 32 * 1024) << "resident memory grew by more than 32 MiB";
  }
  EXPECT_LE(threads1, threads0 + 1);  // at most the finished loader not yet reaped
  EXPECT_EQ(fds1, fds0);
}

TEST_F(Soak, FourPipelinesShareOneModel) {
  constexpr int kPipelines = 4, kFrames = 40;
  std::vector<std::vector<size_t>> hashes(kPipelines);
  std::vector<std::string> errors(kPipelines);
  std::vector<std::thread> runners;
  for (int p = 0; p < kPipelines; ++p) {
    runners.emplace_back([&, p] {
      const std::string launch = "videotestsrc num-buffers=" + std::to_string(kFrames) +
                                 " pattern=ball ! video/x-raw,format=BGRx,width=40,height=24 ! cyclegan name=cg "
                                 "device=cpu model=" +
                                 model(1) + " ! fakesink name=sink signal-handoffs=true";
      GError* err = nullptr;
      ObjectPtr<GstElement> pipeline(gst_parse_launch(launch.c_str(), &err));
      const ErrorPtr parse_error(err);
      if (!pipeline) {
        errors[p] = parse_error ? parse_error->message : "parse";
        return;
      }
      ObjectPtr<GstElement> sink(gst_bin_get_by_name(GST_BIN(pipeline.get()), "sink"));
      g_signal_connect(sink.get(), "handoff", G_CALLBACK(+[](GstElement*, GstBuffer* buf, GstPad*, gpointer data) {
                         GstMapInfo map;
                         gst_buffer_map(buf, &map, GST_MAP_READ);
                         static_cast<std::vector<size_t>*>(data)->push_back(
                             std::hash<std::string_view>{}({reinterpret_cast<char*>(map.data), map.size}));
                         gst_buffer_unmap(buf, &map);
                       }),
                       &hashes[p]);
      gst_element_set_state(pipeline.get(), GST_STATE_PLAYING);
      ObjectPtr<GstBus> bus(gst_element_get_bus(pipeline.get()));
      MessagePtr msg(gst_bus_timed_pop_filtered(bus.get(), 120 * GST_SECOND,
                                                static_cast<GstMessageType>(GST_MESSAGE_EOS | GST_MESSAGE_ERROR)));
      if (!msg || GST_MESSAGE_TYPE(msg.get()) != GST_MESSAGE_EOS) errors[p] = "no EOS";
      gst_element_set_state(pipeline.get(), GST_STATE_NULL);
    });
  }
  for (auto& t : runners) t.join();
  for (int p = 0; p < kPipelines; ++p) {
    EXPECT_EQ(errors[p], "") << p;
    EXPECT_EQ(hashes[p].size(), static_cast<size_t>(kFrames)) << p;
    EXPECT_EQ(hashes[p], hashes[0]) << "pipeline " << p << " translated differently";
  }
}

}  // namespace
}  // namespace cg
