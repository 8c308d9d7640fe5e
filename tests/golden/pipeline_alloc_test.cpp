// SPDX-License-Identifier: Apache-2.0
// tests/golden/pipeline_alloc_test.cpp: the per-packet path makes no heap allocation (issue 6's
// goal), measured over the whole of it: handle_packet() and service_held() on every frame of
// every golden case and of the pipeline fuzz corpus (every rig flag: checksums, the hold, its
// release and expiry), on random mutations of them, and on the differential test's 23 scripts
// with their messages (tests/e2e/data/diff: regex, xlog, transformations, $shv, pike,
// reply_route, onsend_route, record_route, sanity, the dispatcher's algorithms and failover).
// This binary replaces the global allocation functions with counting ones (so it is a test
// binary of its own); PipelineRig::around_pipeline counts only inside the pipeline's calls.
#include <gtest/gtest.h>
#include <rte_eal.h>
#include <rte_mbuf.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <new>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "tests/golden/pipeline_rig.hpp"

namespace {
std::atomic<bool> g_counting{false};
std::atomic<long> g_allocs{0};  // while g_counting
std::atomic<long> g_all{0};     // always (the counter's own test)
}  // namespace

void count_allocation() noexcept {
  g_all.fetch_add(1, std::memory_order_relaxed);
  if (g_counting.load(std::memory_order_relaxed)) {
    g_allocs.fetch_add(1, std::memory_order_relaxed);
  }
}

#include "tests/support/counting_alloc.hpp"

namespace viaduct::test {
namespace {

namespace fs = std::filesystem;

void count_inside(bool entering) { g_counting.store(entering, std::memory_order_relaxed); }

class AllocEnv : public ::testing::Environment {
 public:
  void SetUp() override {
    const char* eal[] = {"pipeline_alloc_test", "--no-huge", "-m", "128", "--no-pci",
                         "--no-shconf", "--log-level=error", "-l", "0"};
    ASSERT_GE(rte_eal_init(static_cast<int>(std::size(eal)), const_cast<char**>(eal)), 0);
    pool = rte_pktmbuf_pool_create("alloc", 2047, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE, 0);
    big_pool = rte_pktmbuf_pool_create("alloc_big", 15, 0, 0, UINT16_MAX, 0);
    ASSERT_TRUE(pool != nullptr && big_pool != nullptr);
  }
  static inline rte_mempool* pool = nullptr;
  static inline rte_mempool* big_pool = nullptr;
};

std::vector<uint8_t> read_file(const fs::path& p) {
  std::ifstream is(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(is), std::istreambuf_iterator<char>()};
}

// Runs `in` through the rig and returns the heap allocations made inside the pipeline's calls.
long allocs_of(PipelineRig& rig, const RigInput& in, const char*& fault) {
  const long before = g_allocs.load();
  fault = rig.run(in);
  return g_allocs.load() - before;
}

TEST(PipelineAlloc, TheCounterSeesAllocationsInsideOnly) {
  const long all = g_all.load();
  const long inside = g_allocs.load();
  auto* outside = new int(1);
  count_inside(true);
  void* q = std::malloc(16);
  auto* p = new int(2);
  count_inside(false);
  EXPECT_GE(g_all.load() - all, 3);
  EXPECT_EQ(g_allocs.load() - inside, 2);
  std::free(q);
  delete p;
  delete outside;
}

TEST(PipelineAlloc, GoldenCasesAndTheFuzzCorpusWithEveryFlag) {
  std::string error;
  PipelineRig rig(AllocEnv::pool, AllocEnv::big_pool, error);
  ASSERT_TRUE(rig.ok()) << error;
  rig.around_pipeline = count_inside;
  size_t inputs = 0;
  for (const auto& e : fs::directory_iterator(VD_GOLDEN_CORPUS)) {
    const std::vector<uint8_t> data = read_file(e.path());
    RigInput in = decode(data.data(), data.size());
    for (uint8_t flags = 0; flags < 8; ++flags) {
      in.flags = flags;
      const char* fault = nullptr;
      EXPECT_EQ(allocs_of(rig, in, fault), 0) << e.path() << " flags " << int{flags};
      EXPECT_EQ(fault, nullptr) << fault;
      ++inputs;
    }
  }
  EXPECT_GT(inputs, 300u);
  EXPECT_GT(rig.sent(), 200u);
}

TEST(PipelineAlloc, MutatedFrames) {
  std::string error;
  PipelineRig rig(AllocEnv::pool, AllocEnv::big_pool, error);
  ASSERT_TRUE(rig.ok()) << error;
  rig.around_pipeline = count_inside;
  std::vector<std::vector<uint8_t>> seeds;
  for (const auto& e : fs::directory_iterator(VD_GOLDEN_CORPUS)) {
    const std::vector<uint8_t> data = read_file(e.path());
    for (std::vector<uint8_t>& f : decode(data.data(), data.size()).frames) {
      seeds.push_back(std::move(f));
    }
  }
  ASSERT_GT(seeds.size(), 40u);
  std::mt19937 rng(20261124u);
  long allocs = 0;
  for (int it = 0; it < 5000; ++it) {
    RigInput in;
    in.flags = static_cast<uint8_t>(rng() % 8);
    std::vector<uint8_t> f = seeds[rng() % seeds.size()];
    for (int e = 1 + static_cast<int>(rng() % 3); e > 0 && !f.empty(); --e) {
      f[rng() % std::min<size_t>(f.size(), 200)] = static_cast<uint8_t>(rng());
    }
    in.frames.push_back(std::move(f));
    const char* fault = nullptr;
    allocs += allocs_of(rig, in, fault);
    ASSERT_EQ(fault, nullptr) << fault;
  }
  EXPECT_EQ(allocs, 0);
}

// tests/e2e/data/diff: the messages of messages.txt (and NN-name.msgs) rendered as
// diff_kamailio.py renders them, with this test's addresses.
struct DiffMessage {
  std::string src;  // "1", "2" or "b1"
  std::vector<std::string> lines;
};

std::vector<DiffMessage> load_messages(const fs::path& path) {
  std::vector<DiffMessage> out;
  std::ifstream is(path);
  for (std::string line; std::getline(is, line);) {
    if (line.rfind("=== ", 0) == 0) {
      std::istringstream w(line.substr(4));
      std::string num;
      std::string src;
      w >> num >> src;
      out.push_back({src.substr(src.find('=') + 1), {}});
    } else if (!out.empty()) {
      out.back().lines.push_back(line);
    }
  }
  return out;
}

const std::map<std::string, std::string> kAddrs = {
    {"LB", "10.0.0.2"},   {"C1", "10.0.0.10"}, {"C2", "10.0.0.20"},
    {"B1", "10.0.0.11"},  {"B2", "10.0.0.12"}, {"B3", "10.0.0.13"},
    {"NET", "10.0.0"},    {"DSLIST", "dispatcher.list"}};  // the list's text goes in directly

std::string fill(std::string text, const std::map<std::string, std::string>& subst) {
  for (const auto& [k, v] : subst) {
    const std::string key = "{" + k + "}";
    for (size_t at = text.find(key); at != std::string::npos; at = text.find(key, at)) {
      text.replace(at, key.size(), v);
      at += v.size();
    }
  }
  return text;
}

std::string render(const DiffMessage& m, const std::string& src, const std::string& id) {
  std::vector<std::string> lines = m.lines;
  while (!lines.empty() && lines.back().empty()) {
    lines.pop_back();
  }
  std::map<std::string, std::string> subst = kAddrs;
  subst["SRC"] = src;
  subst["CID"] = id + "@test";
  subst["ID"] = id;
  std::string head;
  std::string body;
  bool in_body = false;
  for (const std::string& l : lines) {
    if (!in_body && l.empty()) {
      in_body = true;
    } else if (in_body) {
      body += fill(l, subst) + "\r\n";
    } else {
      head += fill(l, subst) + "\r\n";
    }
  }
  subst = {{"CL", std::to_string(body.size())}};
  return fill(head, subst) + "\r\n" + body;
}

std::vector<uint8_t> udp_bytes(const std::string& src, uint16_t sport, const std::string& payload) {
  rte_mbuf* m = rte_pktmbuf_alloc(AllocEnv::pool);
  std::vector<uint8_t> out;
  if (m != nullptr && fill_udp_frame(m, dp::MacAddr{{2, 0, 0, 0, 0, 0x10}}, kOurMac,
                                     ipv4(src.c_str()), sport, ipv4("10.0.0.2"), 5060,
                                     payload)) {
    const auto* b = rte_pktmbuf_mtod(m, const uint8_t*);
    out.assign(b, b + rte_pktmbuf_data_len(m));
  }
  rte_pktmbuf_free(m);
  return out;
}

TEST(PipelineAlloc, TheDifferentialScriptsAndTheirMessages) {
  const fs::path dir = VD_DIFF_DATA;
  const std::vector<DiffMessage> shared = load_messages(dir / "messages.txt");
  ASSERT_EQ(shared.size(), 20u);
  const std::string list = fill(
      [&] {
        std::ifstream is(dir / "dispatcher.list");
        return std::string(std::istreambuf_iterator<char>(is), std::istreambuf_iterator<char>());
      }(),
      kAddrs);
  std::vector<fs::path> scripts;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() == ".cfg") {
      scripts.push_back(e.path());
    }
  }
  std::sort(scripts.begin(), scripts.end());
  ASSERT_GE(scripts.size(), 23u);
  const std::map<std::string, dp::MacAddr> all = {{"10.0.0.10", {{2, 0, 0, 0, 0, 0x10}}},
                                                  {"10.0.0.20", {{2, 0, 0, 0, 0, 0x20}}},
                                                  {"10.0.0.11", {{2, 0, 0, 0, 0, 0x11}}},
                                                  {"10.0.0.12", {{2, 0, 0, 0, 0, 0x12}}},
                                                  {"10.0.0.13", {{2, 0, 0, 0, 0, 0x13}}}};
  std::map<std::string, dp::MacAddr> some = all;
  some.erase("10.0.0.11");
  for (const fs::path& path : scripts) {
    std::ifstream is(path);
    const std::string script =
        fill(std::string(std::istreambuf_iterator<char>(is), std::istreambuf_iterator<char>()),
             kAddrs);
    std::string error;
    auto full = make_snapshot(script, list, "10.0.0.2", kOurMac, all, error);
    ASSERT_NE(full, nullptr) << path << ": " << error;
    auto held = make_snapshot(script, list, "10.0.0.2", kOurMac, some, error);
    ASSERT_NE(held, nullptr) << path << ": " << error;
    PipelineRig rig(AllocEnv::pool, AllocEnv::big_pool, std::move(full), std::move(held), error);
    ASSERT_TRUE(rig.ok()) << error;
    rig.around_pipeline = count_inside;
    std::vector<DiffMessage> msgs = shared;
    fs::path extra = path;
    extra.replace_extension(".msgs");
    if (fs::exists(extra)) {
      for (DiffMessage& m : load_messages(extra)) {
        msgs.push_back(std::move(m));
      }
    }
    RigInput in;
    for (size_t i = 0; i < msgs.size(); ++i) {
      const std::string src = msgs[i].src == "b1" ? kAddrs.at("B1")
                              : msgs[i].src == "2" ? kAddrs.at("C2")
                                                   : kAddrs.at("C1");
      const std::string id = path.stem().string().substr(0, 2) + "-" + std::to_string(i + 1);
      in.frames.push_back(udp_bytes(src, 5060, render(msgs[i], src, id)));
      ASSERT_FALSE(in.frames.back().empty());
    }
    for (uint8_t flags : {uint8_t{0}, kRigHold, uint8_t{kRigHold | kRigRelease}}) {
      in.flags = flags;
      const char* fault = nullptr;
      EXPECT_EQ(allocs_of(rig, in, fault), 0) << path.filename() << " flags " << int{flags};
      EXPECT_EQ(fault, nullptr) << path.filename() << ": " << fault;
    }
    EXPECT_GT(rig.sent(), 0u) << path.filename() << ": nothing sent, nothing measured";
  }
}

}  // namespace
}  // namespace viaduct::test

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  ::testing::AddGlobalTestEnvironment(new viaduct::test::AllocEnv);
  return RUN_ALL_TESTS();
}
