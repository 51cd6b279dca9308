// torchrun's environment and the c10d process group, with two ranks as two threads on loopback.
#include "common/error.h"
#include "trainer/dist/backends.h"
#include "trainer/dist/gradient-averager.h"
#include "trainer/dist/group.h"
#include "trainer/dist/world.h"

#include <ATen/ATen.h>
#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <numeric>

namespace cg {
namespace {

using ::testing::HasSubstr;

// The two ranks here are threads of one process, so their groups share c10d's flight recorder (a
// per-process log of collectives). With the wheel's LibTorch it crashed about one run in 40 when
// both ranks started a collective at once (a core dump showed a map insertion in
// FlightRecorder::recordWithResetEnabled on one rank while the other was in allreduce). A real
// rank is a process of its own; here the recorder is off, before any group exists.
[[maybe_unused]] const bool kFlightRecorderOff = setenv("TORCH_FR_BUFFER_SIZE", "0", 1) == 0;

EnvironmentReader environment(std::map<std::string, std::string> vars) {
  auto shared = std::make_shared<std::map<std::string, std::string>>(std::move(vars));
  return [shared](const char* name) -> const char* {
    auto it = shared->find(name);
    return it == shared->end() ? nullptr : it->second.c_str();
  };
}

std::string usage_error(const EnvironmentReader& env) {
  try {
    read_world(env);
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kUsage);
    return e.what();
  }
  return "accepted";
}

TEST(World, WithoutTorchrunTrainsAlone) {
  const World w = read_world(environment({{"RANK", "3"}}));
  EXPECT_FALSE(w.distributed());
  EXPECT_EQ(w.rank, 0);
}

TEST(World, ReadsTorchrunsVariables) {
  const World w = read_world(environment({{"WORLD_SIZE", "4"},
                                          {"RANK", "3"},
                                          {"LOCAL_RANK", "1"},
                                          {"LOCAL_WORLD_SIZE", "2"},
                                          {"MASTER_ADDR", "10.0.0.7"},
                                          {"MASTER_PORT", "29400"},
                                          {"TORCHELASTIC_RESTART_COUNT", "2"},
                                          {"TORCHELASTIC_USE_AGENT_STORE", "True"}}));
  EXPECT_TRUE(w.distributed());
  EXPECT_EQ(w.rank, 3);
  EXPECT_EQ(w.local_rank, 1);
  EXPECT_EQ(w.local_world_size, 2);
  EXPECT_EQ(w.master_addr, "10.0.0.7");
  EXPECT_EQ(w.master_port, 29400);
  EXPECT_EQ(w.restart_count, 2);
  EXPECT_TRUE(w.agent_store);
}

TEST(World, BadSetUpsNameTheVariable) {
  const std::map<std::string, std::string> good = {
      {"WORLD_SIZE", "2"}, {"RANK", "1"}, {"MASTER_ADDR", "127.0.0.1"}, {"MASTER_PORT", "29400"}};
  auto without = [&](const std::string& name) {
    auto v = good;
    v.erase(name);
    return environment(v);
  };
  auto with = [&](const std::string& name, const std::string& value) {
    auto v = good;
    v[name] = value;
    return environment(v);
  };
  EXPECT_THAT(usage_error(without("MASTER_ADDR")), HasSubstr("WORLD_SIZE=2 but MASTER_ADDR is not set"));
  EXPECT_THAT(usage_error(without("MASTER_PORT")), HasSubstr("MASTER_PORT is not set"));
  EXPECT_THAT(usage_error(without("RANK")), HasSubstr("RANK is not set"));
  EXPECT_THAT(usage_error(with("RANK", "2")), HasSubstr("RANK=2 is not a whole number from 0 to 1"));
  EXPECT_THAT(usage_error(with("MASTER_PORT", "29x")), HasSubstr("MASTER_PORT=29x"));
  EXPECT_THAT(usage_error(with("WORLD_SIZE", "-1")), HasSubstr("WORLD_SIZE=-1"));
}

// A port nobody listens on now (the kernel's pick; released before use).
int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t n = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &n);
  ::close(fd);
  return ntohs(a.sin_port);
}

World rank_of(int rank, int size, int port) {
  World w;
  w.rank = rank;
  w.world_size = size;
  w.master_addr = "127.0.0.1";
  w.master_port = port;
  return w;
}

GroupOptions quick() {
  GroupOptions o;
  o.timeout = std::chrono::seconds(20);
  return o;
}

// Runs `body(group)` on two ranks at once; rethrows the first failure.
void on_two_ranks(const std::function<void(Group&)>& body, GroupOptions options = quick()) {
  const int port = free_port();
  auto rank = [&](int r) {
    Group g(rank_of(r, 2, port), c10::Device(c10::kCPU), options);
    body(g);
  };
  auto other = std::async(std::launch::async, rank, 1);
  rank(0);
  other.get();
}

// Several buckets even for small tensors.
BucketOptions small_buckets(bool overlap = true) {
  BucketOptions o;
  o.first_bytes = 64;
  o.bytes = 160;
  o.overlap = overlap;
  return o;
}

TEST(GradientAverager, GradientsBecomeTheirMeanInBuckets) {
  on_two_ranks([](Group& g) {
    const double r = g.rank();
    std::vector<at::Tensor> params;
    for (int64_t n : {3, 40, 7}) {
      auto p = at::zeros({n}, at::kFloat).set_requires_grad(true);
      p.mutable_grad() = at::arange(n, at::kFloat) * (r + 1);  // rank 0: i, rank 1: 2i
      params.push_back(p);
    }
    params.push_back(at::zeros({5}).set_requires_grad(true));  // no gradient: counts as zeros
    GradientAverager a(
        g, params, [&] { return g.rank() == 1 ? 1.0 : 0.0; }, small_buckets());
    EXPECT_EQ(a.finish(), 1.0);  // rank 1's flag, with the first bucket
    EXPECT_GT(a.buckets(), 2u);
    for (size_t i = 0; i < 3; ++i) {
      const auto n = params[i].numel();
      EXPECT_TRUE(at::allclose(params[i].grad(), at::arange(n, at::kFloat) * 1.5)) << i;
    }
    EXPECT_TRUE(at::equal(params[3].grad(), at::zeros({5})));
    EXPECT_EQ(g.stats().bytes_reduced, (3 + 40 + 7 + 5) * 4);
    GradientAverager none(g, {}, [] { return 1.0; });
    EXPECT_EQ(none.finish(), 2.0);  // nothing to average: the flag travels alone
  });
}

// A small network whose gradients differ per rank (each sees its own input), trained for a few
// steps with the buckets sent during backward and, for comparison, at the end.
struct TwoLayers {
  std::vector<at::Tensor> params;
  TwoLayers() {  // the same weights on every rank, without a generator the two threads share
    double k = 0;
    for (auto shape : {std::vector<int64_t>{8, 4}, {8}, {4, 8}, {4}, {6, 4}, {6}}) {
      const int64_t n = std::accumulate(shape.begin(), shape.end(), int64_t{1}, std::multiplies<>());
      params.push_back(at::sin(at::arange(n, at::kFloat) * 0.7 + ++k).view(shape).set_requires_grad(true));
    }
  }
  // The loss on `x`, through the first pair once and the second twice when `twice`.
  at::Tensor loss(const at::Tensor& x, bool twice = false) {
    auto h = at::relu(at::linear(x, params[0], params[1]));
    auto y = at::linear(h, params[2], params[3]);
    auto z = at::linear(at::tanh(y), params[4], params[5]);
    auto l = z.pow(2).mean();
    return twice ? l + at::linear(at::relu(at::linear(x, params[0], params[1])), params[2], params[3]).mean() : l;
  }
};

// Steps of plain SGD on two ranks; returns rank 0's parameters after them.
std::vector<at::Tensor> train_two_ranks(bool overlap, int steps, int second_pass_from, std::vector<size_t>* early) {
  std::vector<at::Tensor> result;
  std::mutex m;
  on_two_ranks([&](Group& g) {
    TwoLayers net;
    GradientAverager a(g, net.params, nullptr, small_buckets(overlap));
    for (int step = 0; step < steps; ++step) {
      for (auto& p : net.params) p.mutable_grad() = at::Tensor();
      const auto x = at::full({3, 4}, 0.1 * (step + 1) * (g.rank() + 1)) + at::arange(12).view({3, 4}) * 0.01;
      net.loss(x, step >= second_pass_from).backward();
      if (step >= second_pass_from) net.loss(x * 2).backward();  // a second backward into the same weights
      a.finish();
      if (g.rank() == 0 && early) early->push_back(a.sent_early());
      at::NoGradGuard no_grad;
      for (auto& p : net.params) p.sub_(p.grad() * 0.1);
    }
    std::lock_guard<std::mutex> lock(m);
    if (g.rank() == 0)
      for (auto& p : net.params) result.push_back(p.detach().clone());
  });
  return result;
}

TEST(GradientAverager, BucketsSentDuringBackwardGiveTheSameWeights) {
  std::vector<size_t> early;
  const auto overlapped = train_two_ranks(true, 5, 99, &early);
  const auto at_the_end = train_two_ranks(false, 5, 99, nullptr);
  ASSERT_EQ(overlapped.size(), at_the_end.size());
  for (size_t i = 0; i < overlapped.size(); ++i) EXPECT_TRUE(at::equal(overlapped[i], at_the_end[i])) << i;
  // The first step averages at the end and the second learns the order; then the buckets leave
  // during backward, all but those waiting for the first layer's gradients.
  ASSERT_EQ(early.size(), 5u);
  EXPECT_EQ(early[0], 0u);
  EXPECT_EQ(early[1], 0u);
  EXPECT_GT(early[2], 0u);
  EXPECT_EQ(early[3], early[2]);
}

TEST(GradientAverager, ASecondBackwardAfterABucketLeftIsAveragedRight) {
  std::vector<size_t> early;
  const auto overlapped = train_two_ranks(true, 6, 3, &early);
  const auto at_the_end = train_two_ranks(false, 6, 3, nullptr);
  for (size_t i = 0; i < overlapped.size(); ++i) EXPECT_TRUE(at::equal(overlapped[i], at_the_end[i])) << i;
  EXPECT_GT(early[2], 0u);  // before the second passes
  EXPECT_EQ(early[5], 0u);  // after one: everything at the end
}

TEST(Group, BroadcastMeanAndGather) {
  on_two_ranks([](Group& g) {
    auto t = at::full({4}, static_cast<float>(g.rank() + 10));
    g.broadcast({t});
    EXPECT_TRUE(at::equal(t, at::full({4}, 10.0f)));
    EXPECT_THAT(g.mean({1.0 + g.rank(), 4.0}), ::testing::ElementsAre(1.5, 4.0));
    EXPECT_THAT(g.gather(7 * g.rank()), ::testing::ElementsAre(0, 7));
  });
}

TEST(Group, BytesReachEveryRankInPieces) {
  on_two_ranks([](Group& g) {
    std::string bytes;
    if (g.rank() == 0)
      for (int i = 0; i < 1000; ++i) bytes += static_cast<char>(i * 7);
    else
      bytes = "rank 1's own, replaced";
    g.broadcast(bytes, "a checkpoint", 0, /*piece_bytes=*/300);  // four pieces, the last one short
    ASSERT_EQ(bytes.size(), 1000u);
    for (int i = 0; i < 1000; ++i) ASSERT_EQ(bytes[i], static_cast<char>(i * 7)) << i;
    std::string nothing = g.rank() == 0 ? "" : "stale";
    g.broadcast(nothing, "an empty file");
    EXPECT_EQ(nothing, "");
  });
}

TEST(Group, DifferingValuesNameTheRank) {
  on_two_ranks([](Group& g) {
    require_same_on_every_rank(g, 42, "options");
    try {
      require_same_on_every_rank(g, g.rank() == 0 ? 1 : 2, "weight checksums");
      ADD_FAILURE() << "differing values passed";
    } catch (const Error& e) {
      EXPECT_THAT(e.what(), HasSubstr("weight checksums differ between ranks: rank(s) 1 disagree with rank 0"));
    }
  });
}

TEST(Group, DifferingFactsNameTheValuesAndTheRanks) {
  on_two_ranks([](Group& g) {
    require_same_facts(g, {{"--ngf", "4"}, {"images in A", "8"}}, "agree");
    const std::string iters = g.rank() == 0 ? "2" : "3";
    try {
      require_same_facts(g, {{"--ngf", "4"}, {"--max-iters", iters}, {"images in A", "8"}}, "ranks differ:");
      ADD_FAILURE() << "differing facts passed";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kUsage);
      EXPECT_EQ(std::string(e.what()), "ranks differ:\n  --max-iters: 2 on rank 0; 3 on rank 1");
    }
    // A fact only some ranks know is named too.
    Facts facts = {{"--ngf", "4"}};
    if (g.rank() == 1) facts.emplace_back("starting epoch", "3");
    try {
      require_same_facts(g, facts, "ranks differ:");
      ADD_FAILURE() << "a fact of one rank passed";
    } catch (const Error& e) {
      EXPECT_EQ(std::string(e.what()), "ranks differ:\n  starting epoch: (not known) on rank 0; 3 on rank 1");
    }
  });
}

TEST(Group, ChecksumSeesOneBit) {
  auto a = at::randn({100});
  auto b = a.clone();
  EXPECT_EQ(weights_checksum({a}), weights_checksum({b}));
  b.view(at::kInt)[17].bitwise_xor_(1);  // the lowest mantissa bit of one weight
  EXPECT_NE(weights_checksum({a}), weights_checksum({b}));
}

TEST(Group, PortInUseIsAClearError) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(::listen(fd, 1), 0);
  socklen_t n = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &n);
  try {
    Group g(rank_of(0, 2, ntohs(a.sin_port)), c10::Device(c10::kCPU), quick());
    ADD_FAILURE() << "a port in use was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kUsage);
    EXPECT_THAT(e.what(), HasSubstr("the port is in use"));
  }
  ::close(fd);
}

// Each rank's Gloo device listens on its own machine's address, never on MASTER_ADDR's (which
// is not local on any machine but the master): tests/dist/test_two_hosts.py runs it across two
// network namespaces.
TEST(GlooEndpoints, TheLocalAddressThatReachesTheMaster) {
  const GlooEndpoints e = gloo_endpoints(rank_of(1, 2, 29400), environment({}));
  EXPECT_TRUE(e.interfaces.empty());
  EXPECT_EQ(e.address, "127.0.0.1");
}

TEST(GlooEndpoints, GlooSocketIfnameNamesTheInterfaces) {
  const GlooEndpoints e = gloo_endpoints(rank_of(1, 2, 29400), environment({{"GLOO_SOCKET_IFNAME", "lo,lo"}}));
  EXPECT_THAT(e.interfaces, ::testing::ElementsAre("lo", "lo"));
  EXPECT_TRUE(e.address.empty());
  try {
    gloo_endpoints(rank_of(1, 2, 29400), environment({{"GLOO_SOCKET_IFNAME", "lo,cgnosuch0"}}));
    ADD_FAILURE() << "a missing interface was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kUsage);
    EXPECT_THAT(e.what(), HasSubstr("GLOO_SOCKET_IFNAME=lo,cgnosuch0: this machine has no network interface "
                                    "cgnosuch0 (it has: lo"));
  }
}

TEST(GlooEndpoints, AGroupOnANamedInterfaceWorks) {
  ASSERT_EQ(setenv("GLOO_SOCKET_IFNAME", "lo", 1), 0);
  on_two_ranks([](Group& g) { EXPECT_THAT(g.gather(g.rank() + 5), ::testing::ElementsAre(5, 6)); });
  unsetenv("GLOO_SOCKET_IFNAME");
}

// Rank 1 never comes: rank 0 gives up within the timeout instead of waiting for ever.
TEST(Group, AMissingRankFailsWithinTheTimeout) {
  GroupOptions o = quick();
  o.timeout = std::chrono::seconds(2);
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_THROW(Group(rank_of(0, 2, free_port()), c10::Device(c10::kCPU), o), Error);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(30));
}

// Rank 1 joins, then stops taking part: rank 0's next collective fails within the timeout.
TEST(Group, ARankThatStopsFailsTheOthersWithinTheTimeout) {
  GroupOptions o = quick();
  o.timeout = std::chrono::seconds(3);
  const int port = free_port();
  std::promise<void> done;
  auto quitter = std::async(std::launch::async, [&] {
    Group g(rank_of(1, 2, port), c10::Device(c10::kCPU), o);
    done.get_future().wait();  // alive, but never calls the collective
  });
  Group g(rank_of(0, 2, port), c10::Device(c10::kCPU), o);
  const auto t0 = std::chrono::steady_clock::now();
  try {
    g.mean({1.0});
    ADD_FAILURE() << "a collective without rank 1 completed";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("rank 0: averaging the losses"));
  }
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(30));
  done.set_value();
}

}  // namespace
}  // namespace cg
