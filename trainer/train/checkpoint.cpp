#include "trainer/train/checkpoint.h"

#include "model/model-file.h"
#include "model/torch-error.h"

#include "common/atomic-file.h"
#include "model/pickle-ops.h"
#include "model/state-dict-reader.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Context.h>
#include <caffe2/serialize/inline_container.h>
#include <torch/serialize.h>
#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <string_view>

namespace cg {

namespace fs = std::filesystem;

namespace {

// JSON has no infinity or NaN; these go as text, which std::stod reads back.
nlohmann::ordered_json number(double v) {
  if (std::isfinite(v)) return v;
  return std::isnan(v) ? "nan" : (v > 0 ? "inf" : "-inf");
}

double number_from(const nlohmann::json& j) {
  return j.is_string() ? std::stod(j.get<std::string>()) : j.get<double>();
}

// LibTorch's generator on the CUDA device a run uses: dropout (pix2pix's generators) draws there.
// Kept as text in the metadata, per rank like the pools: a checkpoint saved on a GPU then loads
// where there is none, which simply does not read it.
constexpr const char* kCudaRngKey = "torch_cuda_rng";

std::string cuda_rng_state(const torch::Device& d) {
  at::Generator gen = at::globalContext().defaultGenerator(d);
  std::lock_guard<std::mutex> lock(gen.mutex());
  const at::Tensor state = gen.get_state().contiguous();
  static const char digits[] = "0123456789abcdef";
  std::string hex;
  for (int64_t i = 0; i < state.numel(); ++i) {
    const uint8_t b = state.data_ptr<uint8_t>()[i];
    hex += digits[b >> 4];
    hex += digits[b & 15];
  }
  return hex;
}

void set_cuda_rng_state(const torch::Device& d, const std::string& hex) {
  if (hex.size() % 2 != 0) throw std::invalid_argument("bad CUDA generator state");
  at::Tensor state = at::empty({static_cast<int64_t>(hex.size() / 2)}, at::kByte);
  for (size_t i = 0; i < hex.size() / 2; ++i)
    state.data_ptr<uint8_t>()[i] = static_cast<uint8_t>(std::stoi(hex.substr(2 * i, 2), nullptr, 16));
  at::Generator gen = at::globalContext().defaultGenerator(d);
  std::lock_guard<std::mutex> lock(gen.mutex());
  gen.set_state(state);
}

// What each rank has of its own: pools, random generators, the epoch's loss sums so far.
void add_rank_json(nlohmann::ordered_json& j, TrainableModel& m, const TrainState& s) {
  for (const auto& [name, pool] : m.pools()) j[name] = {{"count", pool->images().size()}, {"rng", pool->rng_state()}};
  for (const auto& [name, rng] : m.rngs()) j["rngs"][name] = rng->state();
  if (m.device.is_cuda()) j[kCudaRngKey] = cuda_rng_state(m.device);
  auto sums = nlohmann::ordered_json::array();
  for (double v : s.epoch_loss_sums) sums.push_back(number(v));
  j["epoch_losses"] = {{"sums", sums}, {"count", s.epoch_loss_count}};
}

void read_epoch_losses(const nlohmann::json& j, TrainState& s) {
  s.epoch_loss_sums.clear();
  s.epoch_loss_count = 0;
  if (!j.contains("epoch_losses")) return;  // older checkpoints: the epoch's mean covers the resumed part
  for (const auto& v : j["epoch_losses"].at("sums")) s.epoch_loss_sums.push_back(number_from(v));
  s.epoch_loss_count = j["epoch_losses"].at("count").get<int64_t>();
}

std::string meta_json(const TrainState& s, const TrainOptions& o, TrainableModel& m) {
  nlohmann::ordered_json j;
  j["format"] = "cg-trainer checkpoint";
  j["version"] = kCheckpointVersion;
  j["epoch"] = s.epoch;
  j["epoch_iter"] = s.epoch_iter;
  j["total_iters"] = s.total_iters;
  j["seed"] = std::to_string(s.seed);  // as text: JSON numbers lose 64-bit precision elsewhere
  j["elapsed_s"] = s.elapsed_s;
  j["ranks"] = s.ranks;
  j["options"] = o.to_map();
  j["plateau"] = {{"best", number(s.plateau.best)}, {"bad_epochs", s.plateau.bad_epochs}, {"factor", s.plateau.factor}};
  add_rank_json(j, m, s);
  if (m.scaler.enabled()) {
    const auto sc = m.scaler.state();
    j["loss_scaler"] = {{"scale", sc.scale}, {"growth_tracker", sc.growth_tracker}};
  }
  return j.dump();
}

void write_pool(torch::serialize::OutputArchive& ar, const char* key, const ImagePool& pool) {
  torch::serialize::OutputArchive sub;
  for (size_t i = 0; i < pool.images().size(); ++i) sub.write(std::to_string(i), pool.images()[i].cpu());
  ar.write(key, sub);
}

std::vector<at::Tensor> read_pool(torch::serialize::InputArchive& ar, const char* key, size_t count,
                                  const torch::Device& d) {
  torch::serialize::InputArchive sub;
  ar.read(key, sub);
  std::vector<at::Tensor> images;
  for (size_t i = 0; i < count; ++i) {
    at::Tensor t;
    sub.read(std::to_string(i), t);
    images.push_back(t.to(d));
  }
  return images;
}

// Test hook: simulates the process dying in the middle of writing a checkpoint (half the file in
// the temporary file, no rename), to prove the previous checkpoint survives.
void maybe_crash_midway(const std::string& target, const std::string& bytes) {
  const char* v = std::getenv("CG_TEST_CRASH_DURING_SAVE");
  if (!v || std::string(v) != "1") return;
  std::ofstream(temporary_path(target), std::ios::binary)
      .write(bytes.data(), static_cast<std::streamsize>(bytes.size() / 2));
  std::raise(SIGKILL);
}

CheckpointInfo parse_meta(const std::string& text, const std::string& path, nlohmann::json* out = nullptr) {
  CheckpointInfo info;
  try {
    auto j = nlohmann::json::parse(text);
    if (j.value("format", "") != "cg-trainer checkpoint")
      throw Error(ErrorKind::kCheckpoint, path + ": not a cg-trainer checkpoint");
    info.version = j.at("version").get<int>();
    if (info.version != kCheckpointVersion)
      throw Error(ErrorKind::kCheckpoint, path + ": checkpoint version " + std::to_string(info.version) +
                                              " is not supported (this build reads " +
                                              std::to_string(kCheckpointVersion) + ")");
    info.state.epoch = j.at("epoch").get<int>();
    info.state.epoch_iter = j.at("epoch_iter").get<int64_t>();
    info.state.total_iters = j.at("total_iters").get<int64_t>();
    info.state.seed = std::stoull(j.at("seed").get<std::string>());
    info.state.elapsed_s = j.at("elapsed_s").get<double>();
    info.state.ranks = j.value("ranks", 1);
    info.options = j.at("options").get<std::map<std::string, std::string>>();
    if (j.contains("plateau")) {
      info.state.plateau.best = number_from(j["plateau"].at("best"));
      info.state.plateau.bad_epochs = j["plateau"].at("bad_epochs").get<int>();
      info.state.plateau.factor = number_from(j["plateau"].at("factor"));
    }
    read_epoch_losses(j, info.state);
    if (out) *out = j;
  } catch (const nlohmann::json::exception& e) {
    throw Error(ErrorKind::kCheckpoint, path + ": damaged checkpoint metadata (" + e.what() + ")");
  } catch (const std::logic_error& e) {
    throw Error(ErrorKind::kCheckpoint, path + ": damaged checkpoint metadata (" + e.what() + ")");
  }
  return info;
}

void open_archive(torch::serialize::InputArchive& ar, const std::string& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) throw Error(ErrorKind::kCheckpoint, path + ": no such checkpoint");
  try {
    // Every tensor comes to the CPU first, wherever it was saved: a checkpoint written on CUDA
    // must load on a machine without it. The model's device is applied afterwards.
    ar.load_from(path, torch::Device(torch::kCPU));
  } catch (const c10::Error& e) {
    std::string why = e.what_without_backtrace();
    if (why.size() > 200) why = why.substr(0, 200) + "...";
    throw Error(ErrorKind::kCheckpoint, path + ": unreadable checkpoint (" + why + ")");
  }
}

void open_archive(torch::serialize::InputArchive& ar, const CheckpointFile& file) {
  try {
    ar.load_from(file.bytes.data(), file.bytes.size(), torch::Device(torch::kCPU));
  } catch (const c10::Error& e) {
    std::string why = e.what_without_backtrace();
    if (why.size() > 200) why = why.substr(0, 200) + "...";
    throw Error(ErrorKind::kCheckpoint, file.path + ": unreadable checkpoint (" + why + ")");
  }
}

// The archive's records read straight from the bytes in memory, without a copy.
class BytesReader : public caffe2::serialize::ReadAdapterInterface {
 public:
  explicit BytesReader(const std::string& bytes) : bytes_(bytes) {}
  size_t size() const override { return bytes_.size(); }
  size_t read(uint64_t pos, void* buf, size_t n, const char* /*what*/) const override {
    if (pos >= bytes_.size()) return 0;
    n = std::min<size_t>(n, bytes_.size() - static_cast<size_t>(pos));
    std::memcpy(buf, bytes_.data() + pos, n);
    return n;
  }

 private:
  const std::string& bytes_;
};

bool is_text_op(uint8_t code) { return code == 'X' || code == 0x8c || code == 0x8d; }

// The "meta" string alone, without reading a tensor: the archive's data.pkl, walked for the
// string that follows the key "meta". None when the file is not laid out so; the full load then
// gives the reason.
using OpenReader = std::function<std::unique_ptr<caffe2::serialize::PyTorchStreamReader>()>;

std::optional<std::string> read_meta_only(const OpenReader& open) {
  try {
    const auto owner = open();
    auto& reader = *owner;
    if (!reader.hasRecord("data.pkl")) return std::nullopt;
    const auto [data, size] = reader.getRecord("data.pkl");
    const auto* p = static_cast<const uint8_t*>(data.get());
    std::string_view last;
    for (size_t pos = 0; pos < size;) {
      PickleOp op;
      if (read_pickle_op(p, size, pos, op) != PickleRead::kOk || op.code == '.') return std::nullopt;
      if (!is_text_op(op.code)) continue;
      if (last == "meta") return std::string(op.bytes);
      last = op.bytes;
    }
  } catch (const c10::Error&) {
  }
  return std::nullopt;
}

std::string read_meta_text(torch::serialize::InputArchive& ar, const std::string& path) {
  c10::IValue v;
  if (!ar.try_read("meta", v) || !v.isString())
    throw Error(ErrorKind::kCheckpoint, path + ": not a cg-trainer checkpoint (no metadata)");
  return v.toStringRef();
}

// The parts of a run that differ between the ranks of a distributed run: the image pools (whose
// counts and random states are in the metadata `j`), the model's generators and LibTorch's CPU and
// CUDA ones (the CUDA one in `j`).
void write_rank_parts(torch::serialize::OutputArchive& ar, TrainableModel& m) {
  for (const auto& [name, pool] : m.pools()) write_pool(ar, name, *pool);
  at::Generator gen = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(gen.mutex());
  ar.write("torch_cpu_rng", gen.get_state());
}

void read_rank_parts(torch::serialize::InputArchive& ar, const nlohmann::json& j, TrainableModel& m) {
  for (const auto& [name, pool] : m.pools())
    pool->restore(read_pool(ar, name, j.at(name).at("count").get<size_t>(), m.device),
                  j.at(name).at("rng").get<std::string>());
  // Absent from checkpoints older than the generator: it then starts from its seed.
  if (j.contains("rngs"))
    for (const auto& [name, rng] : m.rngs())
      if (j["rngs"].contains(name)) rng->set_state(j["rngs"][name].get<std::string>());
  at::Tensor rng;
  ar.read("torch_cpu_rng", rng);
  {
    at::Generator gen = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    gen.set_state(rng);
  }
  // Absent from a checkpoint saved on the CPU: a resume on CUDA then draws from the seed.
  if (m.device.is_cuda() && j.contains(kCudaRngKey)) set_cuda_rng_state(m.device, j[kCudaRngKey].get<std::string>());
}

std::string serialise(torch::serialize::OutputArchive& ar) {
  std::string bytes;
  ar.save_to([&bytes](const void* data, size_t size) {
    bytes.append(static_cast<const char*>(data), size);
    return size;
  });
  return bytes;
}

constexpr const char* kRankStateFormat = "cg-trainer rank state";

}  // namespace

void save_checkpoint(const std::string& path, TrainableModel& m, const TrainState& state, const TrainOptions& options) {
  // Serialised to memory and written with checked writes: LibTorch's own save-to-file
  // terminates the process when the disk fills up (its zip writer throws from a destructor).
  std::string bytes;
  try {
    torch::serialize::OutputArchive ar;
    ar.write("meta", c10::IValue(meta_json(state, options, m)));
    for (const auto& [name, net] : m.networks()) {
      torch::serialize::OutputArchive sub;
      net->save(sub);
      ar.write(name, sub);
    }
    for (const auto& [name, opt] : m.optimizers()) {
      torch::serialize::OutputArchive sub;
      opt->save(sub);
      ar.write(name, sub);
    }
    write_rank_parts(ar, m);
    bytes = serialise(ar);
  } catch (const c10::Error& e) {
    throw Error(ErrorKind::kCheckpoint,
                path + ": cannot serialise the checkpoint (" + e.what_without_backtrace() + ")");
  }
  maybe_crash_midway(path, bytes);
  write_file_atomically(path, bytes);
}

CheckpointFile read_checkpoint_file(const std::string& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) throw Error(ErrorKind::kCheckpoint, path + ": no such checkpoint");
  CheckpointFile file{path, {}};
  std::ifstream in(path, std::ios::binary);
  const auto size = fs::file_size(path, ec);
  if (in && !ec) {
    file.bytes.resize(size);
    in.read(file.bytes.data(), static_cast<std::streamsize>(size));
  }
  if (!in || ec || in.gcount() != static_cast<std::streamsize>(size) || in.peek() != std::char_traits<char>::eof())
    throw Error(ErrorKind::kIo, path + ": cannot read the checkpoint (" +
                                    (ec ? ec.message() : std::string(std::strerror(errno))) + ")");
  return file;
}

CheckpointInfo read_checkpoint_info(const std::string& path) {
  if (const auto meta = read_meta_only([&] { return std::make_unique<caffe2::serialize::PyTorchStreamReader>(path); }))
    return parse_meta(*meta, path);
  torch::serialize::InputArchive ar;
  open_archive(ar, path);
  return parse_meta(read_meta_text(ar, path), path);
}

CheckpointInfo read_checkpoint_info(const CheckpointFile& file) {
  if (const auto meta = read_meta_only([&] {
        return std::make_unique<caffe2::serialize::PyTorchStreamReader>(std::make_shared<BytesReader>(file.bytes));
      }))
    return parse_meta(*meta, file.path);
  torch::serialize::InputArchive ar;
  open_archive(ar, file);
  return parse_meta(read_meta_text(ar, file.path), file.path);
}

CheckpointInfo load_checkpoint(const std::string& path, TrainableModel& m) {
  return load_checkpoint(read_checkpoint_file(path), m);
}

CheckpointInfo load_checkpoint(const CheckpointFile& file, TrainableModel& m) {
  const std::string& path = file.path;
  torch::serialize::InputArchive ar;
  open_archive(ar, file);
  nlohmann::json j;
  auto info = parse_meta(read_meta_text(ar, path), path, &j);
  try {
    for (const auto& [name, net] : m.networks()) {
      torch::serialize::InputArchive sub;
      ar.read(name, sub);
      net->load(sub);
      net->to(m.device);
    }
    for (const auto& [name, opt] : m.optimizers()) {
      torch::serialize::InputArchive sub;
      ar.read(name, sub);
      opt->load(sub);
    }
    // Optimizer state is read to the CPU; the step must find it beside the parameters.
    for (const auto& [name, opt] : m.optimizers()) {
      for (auto& kv : opt->state()) {
        auto& s = static_cast<torch::optim::AdamParamState&>(*kv.second);
        s.exp_avg(s.exp_avg().to(m.device));
        s.exp_avg_sq(s.exp_avg_sq().to(m.device));
        if (s.max_exp_avg_sq().defined()) s.max_exp_avg_sq(s.max_exp_avg_sq().to(m.device));
      }
    }
    read_rank_parts(ar, j, m);
    // Absent when the checkpoint was not trained in fp16: the scaler then starts afresh.
    if (m.scaler.enabled() && j.contains("loss_scaler"))
      m.scaler.restore(
          {j["loss_scaler"].at("scale").get<double>(), j["loss_scaler"].at("growth_tracker").get<int64_t>()});
  } catch (const c10::Error& e) {
    throw Error(ErrorKind::kCheckpoint,
                path + ": does not match the networks built from its options (" + short_reason(e) + ")");
  } catch (const std::exception& e) {
    throw Error(ErrorKind::kCheckpoint, path + ": damaged checkpoint (" + std::string(e.what()) + ")");
  }
  return info;
}

std::string rank_state_path(const std::string& checkpoint, int rank) {
  return checkpoint + ".rank" + std::to_string(rank);
}

void save_rank_state(const std::string& path, TrainableModel& m, const TrainState& state) {
  std::string bytes;
  try {
    nlohmann::ordered_json j;
    j["format"] = kRankStateFormat;
    // The checkpoint it goes with: rank 0 renames its file before this rank renames its own, so
    // a kill between the two leaves a pair of different iterations.
    j["epoch"] = state.epoch;
    j["epoch_iter"] = state.epoch_iter;
    j["total_iters"] = state.total_iters;
    add_rank_json(j, m, state);
    torch::serialize::OutputArchive ar;
    ar.write("meta", c10::IValue(j.dump()));
    write_rank_parts(ar, m);
    bytes = serialise(ar);
  } catch (const c10::Error& e) {
    throw Error(ErrorKind::kCheckpoint, path + ": cannot serialise the rank's state (" + short_reason(e) + ")");
  }
  write_file_atomically(path, bytes);
}

std::optional<std::string> load_rank_state(const std::string& path, TrainableModel& m, TrainState& state) {
  std::error_code ec;
  if (!fs::exists(path, ec)) return path + ": missing (this rank never saved beside this checkpoint)";
  torch::serialize::InputArchive ar;
  open_archive(ar, path);
  try {
    const auto j = nlohmann::json::parse(read_meta_text(ar, path));
    if (j.value("format", "") != kRankStateFormat)
      throw Error(ErrorKind::kCheckpoint, path + ": not a cg-trainer rank state");
    const auto at = [&](const char* key) { return j.contains(key) ? j[key].get<int64_t>() : int64_t{-1}; };
    if (at("total_iters") != state.total_iters || at("epoch") != state.epoch || at("epoch_iter") != state.epoch_iter)
      return path + ": belongs to iteration " +
             (j.contains("total_iters") ? std::to_string(at("total_iters")) + " (epoch " + std::to_string(at("epoch")) +
                                              ", iteration " + std::to_string(at("epoch_iter")) + ")"
                                        : std::string("(not recorded: an older cg-trainer wrote it)")) +
             ", but the checkpoint to iteration " + std::to_string(state.total_iters) + " (epoch " +
             std::to_string(state.epoch) + ", iteration " + std::to_string(state.epoch_iter) +
             "), as when a run stops between rank 0's save and this rank's";
    read_rank_parts(ar, j, m);
    read_epoch_losses(j, state);
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    throw Error(ErrorKind::kCheckpoint, path + ": damaged rank state (" + std::string(e.what()) + ")");
  }
  return std::nullopt;
}

}  // namespace cg
