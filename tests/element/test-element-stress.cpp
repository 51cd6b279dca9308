// Properties changed from other threads while frames flow, in the spirit of gst-plugins-good's
// videoflip test_stress_change_method: bypass and batch-size from one thread, model (a hot swap
// between two small models) and process-size from another, under 1,000 frames; and the same with
// frames in parallel (parallel-frames, temporal). Nothing may crash or deadlock, and every frame
// must come out, in order.
#include "model/model-file.h"
#include "model/official-import.h"
#include "tests/element/element-helpers.h"
#include "tests/test-helpers.h"

#include <gst/check/gstharness.h>
#include <gst/gst.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace cg {
namespace {

using test::BufferPtr;
using test::ErrorPtr;
using test::Harness;
using test::ObjectPtr;

// A deadlocked test would otherwise hang until meson's timeout without saying where: this aborts
// the process, with a message, if its scope lasts longer than `limit`.
class Watchdog {
 public:
  Watchdog(std::chrono::seconds limit, const char* what)
      : thread_([this, limit, what] {
          std::unique_lock<std::mutex> lock(mutex_);
          if (!done_cv_.wait_for(lock, limit, [this] { return done_; })) {
            std::fprintf(stderr, "%s: still running after %lld s, deadlocked?\n", what,
                         static_cast<long long>(limit.count()));
            std::abort();
          }
        }) {}
  ~Watchdog() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      done_ = true;
    }
    done_cv_.notify_all();
    thread_.join();
  }

 private:
  std::mutex mutex_;
  std::condition_variable done_cv_;
  bool done_ = false;
  std::thread thread_;  // last: it starts once the members it waits on exist
};

// Calls change(element, 0), change(element, 1) ... from a thread of its own until destroyed.
class PropertyChanger {
 public:
  PropertyChanger(GstElement* element, std::chrono::microseconds pause, std::function<void(GstElement*, int)> change)
      : thread_([this, element, pause, change] {
          for (int i = 0; !stop_; ++i) {
            change(element, i);
            ++changes_;
            std::this_thread::sleep_for(pause);
          }
        }) {}
  ~PropertyChanger() {
    stop_ = true;
    thread_.join();
  }
  int changes() const { return changes_; }

 private:
  std::atomic<bool> stop_{false};
  std::atomic<int> changes_{0};
  std::thread thread_;  // last: it starts once the flags exist
};

// The warnings and errors an element posts, from whichever thread posts them.
class BusLog {
 public:
  explicit BusLog(GstElement* element) : element_(element), bus_(gst_bus_new()) {
    gst_bus_set_sync_handler(bus_.get(), &BusLog::on_message, this, nullptr);
    gst_element_set_bus(element_, bus_.get());
  }
  ~BusLog() {
    gst_element_set_bus(element_, nullptr);
    gst_bus_set_sync_handler(bus_.get(), nullptr, nullptr, nullptr);
  }
  std::string text() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return text_;
  }

 private:
  static GstBusSyncReply on_message(GstBus*, GstMessage* message, gpointer data) {
    auto* self = static_cast<BusLog*>(data);
    GError* err = nullptr;
    if (GST_MESSAGE_TYPE(message) == GST_MESSAGE_ERROR) gst_message_parse_error(message, &err, nullptr);
    if (GST_MESSAGE_TYPE(message) == GST_MESSAGE_WARNING) gst_message_parse_warning(message, &err, nullptr);
    if (err) {
      const ErrorPtr error(err);
      std::lock_guard<std::mutex> lock(self->mutex_);
      self->text_ += std::string(GST_MESSAGE_TYPE_NAME(message)) + ": " + error->message + "\n";
    }
    return GST_BUS_DROP;
  }

  GstElement* element_;
  ObjectPtr<GstBus> bus_;
  mutable std::mutex mutex_;
  std::string text_;
};

// Two small generators with a training crop of 16, so that process-size=model stays cheap.
class Stress : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new test::TempDir();
    for (const char* name : {"g2-ngf8-dropout.pth", "g6-ngf16-running-stats.pth"}) {
      auto g = import_official_generator(test::fixture(name));
      auto meta = ModelMetadata::for_generator(g->options());
      meta.crop_size = 16;
      save_generator(g, meta, (*dir_) / (std::string(name) + ".pt"));
    }
  }
  static void TearDownTestSuite() { delete dir_; }
  static std::string model(int i) {
    return (*dir_) / (i % 2 ? "g6-ngf16-running-stats.pth.pt" : "g2-ngf8-dropout.pth.pt");
  }
  static test::TempDir* dir_;
};
test::TempDir* Stress::dir_ = nullptr;

// Frames of distinct contents and timestamps, 30 per second. Bypassed frames take microseconds,
// translated ones about a millisecond: without a pause most frames would arrive while bypass is on.
void push_numbered_frames(Harness& hn, int frames) {
  for (int i = 0; i < frames; ++i) {
    GstBuffer* in = gst_buffer_new_allocate(nullptr, GST_VIDEO_INFO_SIZE(&hn.info), nullptr);
    gst_buffer_memset(in, 0, static_cast<guint8>(i), GST_VIDEO_INFO_SIZE(&hn.info));
    GST_BUFFER_PTS(in) = i * GST_SECOND / 30;
    GST_BUFFER_DURATION(in) = GST_SECOND / 30;
    ASSERT_EQ(gst_harness_push(hn.h, in), GST_FLOW_OK) << "frame " << i;
    std::this_thread::sleep_for(std::chrono::microseconds(300));
  }
}

// After EOS: every frame pushed came out, in order.
void expect_every_frame_in_order(Harness& hn, int frames) {
  EXPECT_EQ(gst_harness_buffers_received(hn.h), static_cast<guint>(frames));
  for (int i = 0; i < frames; ++i) {
    BufferPtr out(gst_harness_try_pull(hn.h));
    ASSERT_NE(out, nullptr) << "frame " << i << " of " << frames << " missing";
    ASSERT_EQ(GST_BUFFER_PTS(out.get()), i * GST_SECOND / 30) << "frame " << i << " out of order";
  }
}

TEST_F(Stress, PropertiesChangeFromOtherThreadsWhileFramesFlow) {
  constexpr int kFrames = 1000;
  const auto t0 = std::chrono::steady_clock::now();
  const Watchdog watchdog(std::chrono::seconds(300), "Stress.PropertiesChangeFromOtherThreadsWhileFramesFlow");
  Harness hn("cyclegan device=cpu threads=1 batch-size=3 model=" + model(0), "RGB", 16, 16);
  const auto element = hn.element();
  const BusLog log(element.get());
  int fast_changes = 0, slow_changes = 0;
  {
    PropertyChanger fast(element.get(), std::chrono::microseconds(200), [](GstElement* e, int i) {
      g_object_set(e, "bypass", i % 4 == 0, "batch-size", 1u + i % 4, nullptr);
    });
    PropertyChanger slow(element.get(), std::chrono::milliseconds(40), [](GstElement* e, int i) {
      static const char* const kSizes[] = {"native", "model", "8x8", "20x12"};
      g_object_set(e, "model", model(i).c_str(), "process-size", kSizes[i % 4], nullptr);
    });
    push_numbered_frames(hn, kFrames);
    if (HasFatalFailure()) return;
    fast_changes = fast.changes();
    slow_changes = slow.changes();
  }
  // A batch may still be held: EOS sends it out first.
  ASSERT_TRUE(gst_harness_push_event(hn.h, gst_event_new_eos()));
  expect_every_frame_in_order(hn, kFrames);
  guint64 translated = 0;
  g_object_get(element.get(), "frames-processed", &translated, nullptr);
  std::printf(
      "stress: %d frames (%llu translated, the rest bypassed) in %.1f s; %d bypass/batch-size and %d "
      "model/process-size changes\n",
      kFrames, static_cast<unsigned long long>(translated),
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), fast_changes, slow_changes);
  EXPECT_GT(translated, 0u);
  EXPECT_LE(translated, static_cast<guint64>(kFrames));
  EXPECT_GT(fast_changes, 10);
  EXPECT_GT(slow_changes, 10);
  EXPECT_EQ(log.text(), "");  // no failed load, no stream error
}

// parallel-frames, bypass, batch-size and temporal toggled from one thread and the model swapped
// from another while frames are in flight on the workers.
TEST_F(Stress, ParallelFramesWhilePropertiesChangeFromOtherThreads) {
  constexpr int kFrames = 600;
  const auto t0 = std::chrono::steady_clock::now();
  const Watchdog watchdog(std::chrono::seconds(300), "Stress.ParallelFramesWhilePropertiesChangeFromOtherThreads");
  Harness hn("cyclegan device=cpu threads=2 parallel-frames=3 model=" + model(0), "RGB", 16, 16);
  const auto element = hn.element();
  const BusLog log(element.get());
  int fast_changes = 0, slow_changes = 0;
  {
    PropertyChanger fast(element.get(), std::chrono::microseconds(300), [](GstElement* e, int i) {
      g_object_set(e, "bypass", i % 5 == 0, "parallel-frames", 1u + i % 4, "batch-size", 1u + i % 3 / 2, "temporal",
                   i % 7 < 3 ? 1 : 0, nullptr);
    });
    PropertyChanger slow(element.get(), std::chrono::milliseconds(40),
                         [](GstElement* e, int i) { g_object_set(e, "model", model(i).c_str(), nullptr); });
    push_numbered_frames(hn, kFrames);
    if (HasFatalFailure()) return;
    fast_changes = fast.changes();
    slow_changes = slow.changes();
  }
  ASSERT_TRUE(gst_harness_push_event(hn.h, gst_event_new_eos()));  // drains the passes in flight
  expect_every_frame_in_order(hn, kFrames);
  guint64 translated = 0;
  g_object_get(element.get(), "frames-processed", &translated, nullptr);
  std::printf("parallel stress: %d frames (%llu translated) in %.1f s; %d fast and %d model changes\n", kFrames,
              static_cast<unsigned long long>(translated),
              std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), fast_changes, slow_changes);
  EXPECT_GT(translated, 0u);
  EXPECT_GT(fast_changes, 10);
  EXPECT_GT(slow_changes, 10);
  EXPECT_EQ(log.text(), "");
}

}  // namespace
}  // namespace cg
