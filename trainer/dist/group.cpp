#include "trainer/dist/group.h"

#include "common/error.h"
#include "trainer/dist/backends.h"

#include <ATen/ATen.h>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include <algorithm>
#include <map>
#include <string>

namespace cg {

namespace {

std::string address(const World& w) { return w.master_addr + ":" + std::to_string(w.master_port); }

std::string short_text(const std::exception& e) {
  std::string why = e.what();
  if (auto* c = dynamic_cast<const c10::Error*>(&e)) why = c->what_without_backtrace();
  if (why.size() > 300) why = why.substr(0, 300) + "...";
  return why;
}

// Rank 0 serves the store; the others connect to it, waiting up to the timeout.
c10::intrusive_ptr<c10d::Store> rendezvous(const World& w, std::chrono::milliseconds timeout) {
  c10d::TCPStoreOptions o;
  o.port = static_cast<std::uint16_t>(w.master_port);
  o.isServer = w.leader() && !w.agent_store;
  o.numWorkers = w.world_size;
  o.timeout = timeout;
  try {
    auto store = c10::make_intrusive<c10d::TCPStore>(w.master_addr, o);
    // An agent's store outlives a restart: each attempt keeps its keys apart.
    return c10::make_intrusive<c10d::PrefixStore>("cg-trainer/attempt-" + std::to_string(w.restart_count), store);
  } catch (const std::exception& e) {
    const std::string why = short_text(e);
    if (w.leader() && why.find("EADDRINUSE") != std::string::npos)
      throw Error(ErrorKind::kUsage, "rank 0 cannot serve the rendezvous at " + address(w) +
                                         ": the port is in use (another run, or a stale one); pick another "
                                         "--master-port");
    throw Error(ErrorKind::kRuntime,
                "rank " + std::to_string(w.rank) + ": rendezvous at " + address(w) + " failed (" + why + ")");
  }
}

}  // namespace

struct Group::Impl {
  World world;
  GroupOptions options;
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::Backend> backend;
  c10::Device device{c10::kCPU};  // NCCL takes tensors on the rank's GPU only
  CommunicationStats stats;

  // Runs one collective to completion, timing it and turning c10d's failures into ours.
  void run(const std::string& what, const std::function<c10::intrusive_ptr<c10d::Work>()>& start) {
    const auto t0 = std::chrono::steady_clock::now();
    try {
      auto work = start();
      work->wait(options.timeout);
    } catch (const std::exception& e) {
      throw Error(ErrorKind::kRuntime, "rank " + std::to_string(world.rank) + ": " + what + " with the other " +
                                           std::to_string(world.world_size - 1) +
                                           " rank(s) failed, so one of them died, hung or disagreed (" + short_text(e) +
                                           ")");
    }
    stats.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
};

Group::Group(const World& world, const c10::Device& device, const GroupOptions& options)
    : impl_(std::make_unique<Impl>()) {
  auto& s = *impl_;
  s.world = world;
  s.options = options;
  s.device = device;
  s.store = rendezvous(world, options.timeout);
  try {
    s.backend = device.is_cuda() ? make_nccl_backend(s.store, world.rank, world.world_size, options.timeout)
                                 : make_gloo_backend(s.store, world, options.timeout);
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    throw Error(ErrorKind::kRuntime, "rank " + std::to_string(world.rank) + ": cannot join the process group at " +
                                         address(world) + " (" + short_text(e) + ")");
  }
}

Group::~Group() = default;

int Group::rank() const { return impl_->world.rank; }
int Group::size() const { return impl_->world.world_size; }
const CommunicationStats& Group::stats() const { return impl_->stats; }

void Group::broadcast(std::vector<at::Tensor> tensors, int root) {
  c10d::BroadcastOptions o;
  o.rootRank = root;
  o.timeout = impl_->options.timeout;
  for (auto& t : tensors) {
    std::vector<at::Tensor> one{t};
    impl_->run("broadcast", [&] { return impl_->backend->broadcast(one, o); });
  }
}

void Group::broadcast(std::string& bytes, const std::string& what, int root, int64_t piece_bytes) {
  auto& s = *impl_;
  c10d::BroadcastOptions o;
  o.rootRank = root;
  o.timeout = s.options.timeout;
  const bool sends = s.world.rank == root;
  std::vector<at::Tensor> size{
      at::tensor({sends ? static_cast<int64_t>(bytes.size()) : int64_t{0}}, at::kLong).to(s.device)};
  s.run("broadcasting the size of " + what, [&] { return s.backend->broadcast(size, o); });
  const int64_t n = size[0].cpu().item<int64_t>();
  if (!sends) bytes.assign(static_cast<size_t>(n), '\0');
  for (int64_t offset = 0; offset < n; offset += piece_bytes) {
    // Gloo sends from and receives into the string itself; NCCL through a piece on the GPU.
    const at::Tensor here =
        at::from_blob(&bytes[static_cast<size_t>(offset)], {std::min(piece_bytes, n - offset)}, at::kByte);
    std::vector<at::Tensor> piece{s.device.is_cpu() ? here : here.to(s.device)};
    s.run("broadcasting " + what, [&] { return s.backend->broadcast(piece, o); });
    if (!sends && !s.device.is_cpu()) here.copy_(piece[0].cpu());
  }
}

struct PendingSum {
  at::Tensor tensor;
  std::string what;
  c10::intrusive_ptr<c10d::Work> work;
  std::exception_ptr failed_to_start;
};

std::shared_ptr<PendingSum> Group::start_sum(at::Tensor t, const std::string& what) {
  auto sum = std::make_shared<PendingSum>();
  sum->tensor = t.to(impl_->device);  // NCCL takes tensors on the rank's GPU only; a no-op for gradients
  sum->what = what;
  // A failure here is reported by finish_sum, with the others': this may run inside backward.
  try {
    std::vector<at::Tensor> one{sum->tensor};
    sum->work = impl_->backend->allreduce(one);
  } catch (...) {
    sum->failed_to_start = std::current_exception();
  }
  return sum;
}

at::Tensor Group::finish_sum(PendingSum& sum) {
  impl_->run(sum.what, [&] {
    if (sum.failed_to_start) std::rethrow_exception(sum.failed_to_start);
    return sum.work;
  });
  return sum.tensor;
}

void Group::count_reduced(int64_t bytes) { impl_->stats.bytes_reduced += bytes; }

std::vector<double> Group::mean(const std::vector<double>& values) {
  auto& s = *impl_;
  std::vector<at::Tensor> one{at::tensor(values, at::kDouble).to(s.device)};
  s.run("averaging the losses", [&] { return s.backend->allreduce(one); });
  const auto t = one[0].div(s.world.world_size).cpu();
  return std::vector<double>(t.data_ptr<double>(), t.data_ptr<double>() + t.numel());
}

std::vector<int64_t> Group::gather(int64_t value) {
  auto& s = *impl_;
  std::vector<at::Tensor> in{at::tensor({value}, at::kLong).to(s.device)};
  std::vector<std::vector<at::Tensor>> out(1);
  for (int r = 0; r < s.world.world_size; ++r) out[0].push_back(at::empty({1}, in[0].options()));
  s.run("comparing a value", [&] { return s.backend->allgather(out, in); });
  std::vector<int64_t> values;
  for (const auto& t : out[0]) values.push_back(t.item<int64_t>());
  return values;
}

std::vector<std::string> Group::gather(const std::string& text) {
  auto& s = *impl_;
  const auto sizes = gather(static_cast<int64_t>(text.size()));
  const int64_t longest = std::max<int64_t>(1, *std::max_element(sizes.begin(), sizes.end()));
  at::Tensor mine = at::zeros({longest}, at::kByte);
  std::copy(text.begin(), text.end(), mine.data_ptr<uint8_t>());
  std::vector<at::Tensor> in{mine.to(s.device)};
  std::vector<std::vector<at::Tensor>> out(1);
  for (int r = 0; r < s.world.world_size; ++r) out[0].push_back(at::empty({longest}, in[0].options()));
  s.run("comparing a text", [&] { return s.backend->allgather(out, in); });
  std::vector<std::string> texts;
  for (size_t r = 0; r < out[0].size(); ++r) {
    const auto bytes = out[0][r].cpu();
    texts.emplace_back(reinterpret_cast<const char*>(bytes.data_ptr<uint8_t>()), static_cast<size_t>(sizes[r]));
  }
  return texts;
}

uint64_t fnv1a(const void* data, size_t size, uint64_t h) {
  const auto* bytes = static_cast<const unsigned char*>(data);
  for (size_t i = 0; i < size; ++i) h = (h ^ bytes[i]) * 1099511628211ull;
  return h;
}

uint64_t weights_checksum(const std::vector<at::Tensor>& params) {
  uint64_t h = kFnvOffset;  // every byte, in parameter order
  for (const auto& p : params) {
    const auto bytes = p.detach().cpu().contiguous();
    h = fnv1a(bytes.data_ptr(), bytes.nbytes(), h);
  }
  return h;
}

void require_same_on_every_rank(Group& group, int64_t value, const std::string& what) {
  const auto values = group.gather(value);
  std::string differ;
  for (size_t r = 1; r < values.size(); ++r)
    if (values[r] != values[0]) differ += (differ.empty() ? "" : ", ") + std::to_string(r);
  if (!differ.empty())
    throw Error(ErrorKind::kRuntime, what + " differ between ranks: rank(s) " + differ + " disagree with rank 0");
}

namespace {

// Unit and record separators keep any printable name or value apart.
constexpr char kFieldEnd = '\x1f';
constexpr char kFactEnd = '\x1e';

std::string facts_text(const Facts& facts) {
  std::string text;
  for (const auto& [name, value] : facts) text += name + kFieldEnd + value + kFactEnd;
  return text;
}

Facts facts_from(const std::string& text) {
  Facts facts;
  size_t at = 0;
  while (at < text.size()) {
    const size_t field = text.find(kFieldEnd, at), end = text.find(kFactEnd, at);
    if (field == std::string::npos || end == std::string::npos || field > end) break;
    facts.emplace_back(text.substr(at, field - at), text.substr(field + 1, end - field - 1));
    at = end + 1;
  }
  return facts;
}

std::string rank_list(const std::vector<int>& ranks) {
  std::string list = ranks.size() == 1 ? "rank " : "ranks ";
  for (size_t i = 0; i < ranks.size(); ++i) list += (i ? ", " : "") + std::to_string(ranks[i]);
  return list;
}

}  // namespace

void require_same_facts(Group& group, const Facts& facts, const std::string& what) {
  const std::string text = facts_text(facts);
  const auto digests = group.gather(static_cast<int64_t>(fnv1a(text.data(), text.size()) >> 1));
  if (std::all_of(digests.begin(), digests.end(), [&](int64_t d) { return d == digests[0]; })) return;
  const auto texts = group.gather(text);
  // Each fact's value on every rank, in the order rank 0 (then any other rank) names them.
  std::vector<std::string> names;
  std::map<std::string, std::vector<std::string>> values;
  for (size_t r = 0; r < texts.size(); ++r)
    for (auto& [name, value] : facts_from(texts[r])) {
      auto& v = values[name];
      if (v.empty()) {
        names.push_back(name);
        v.assign(texts.size(), "(not known)");
      }
      v[r] = value;
    }
  std::string lines;
  for (const auto& name : names) {
    const auto& v = values[name];
    if (std::all_of(v.begin(), v.end(), [&](const std::string& x) { return x == v[0]; })) continue;
    std::vector<std::pair<std::string, std::vector<int>>> by_value;  // in order of the lowest rank
    for (size_t r = 0; r < v.size(); ++r) {
      auto it = std::find_if(by_value.begin(), by_value.end(), [&](const auto& b) { return b.first == v[r]; });
      if (it == by_value.end()) it = by_value.insert(by_value.end(), {v[r], {}});
      it->second.push_back(static_cast<int>(r));
    }
    lines += "\n  " + name + ":";
    for (size_t i = 0; i < by_value.size(); ++i)
      lines += (i ? ";" : "") + std::string(" ") + by_value[i].first + " on " + rank_list(by_value[i].second);
  }
  throw Error(ErrorKind::kUsage, what + lines);
}

}  // namespace cg
