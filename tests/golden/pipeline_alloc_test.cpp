// SPDX-License-Identifier: Apache-2.0
// tests/golden/pipeline_alloc_test.cpp: the per-packet path makes no heap allocation (issue 6's
// goal), measured over the whole of it: handle_packet() and service_held() on every input of the
// pipeline fuzz corpus (the golden cases' frames with their script, the differential test's 38
// scripts with their messages: regex, xlog, transformations, $shv, pike, reply_route,
// onsend_route, record_route, sanity, the dispatcher's algorithms and failover) with every rig
// flag (checksums, the hold, its release and expiry), on random mutations of the golden frames,
// and on every differential script with all its messages through one worker context.
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

#include "tests/golden/rig_set.hpp"

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

TEST(PipelineAlloc, TheFuzzCorpusWithEveryFlag) {
  std::string error;
  RigSet rigs(AllocEnv::pool, AllocEnv::big_pool, VD_DIFF_DATA, error);
  ASSERT_TRUE(rigs.ok()) << error;
  for (size_t i = 0; i < rigs.size(); ++i) {
    rigs.rig(i).around_pipeline = count_inside;
  }
  size_t inputs = 0;
  for (const auto& [path, input] : read_corpus(VD_GOLDEN_CORPUS)) {
    for (const RigInput& in : with_every_low_flag(input)) {
      const char* fault = nullptr;
      EXPECT_EQ(allocs_of(rigs.rig_for(in), in, fault), 0)
          << path << " flags " << int{in.flags};
      EXPECT_EQ(fault, nullptr) << fault;
      ++inputs;
    }
  }
  EXPECT_GT(inputs, 600u);
}

TEST(PipelineAlloc, MutatedFrames) {
  std::string error;
  PipelineRig rig(AllocEnv::pool, AllocEnv::big_pool, error);
  ASSERT_TRUE(rig.ok()) << error;
  rig.around_pipeline = count_inside;
  std::vector<std::vector<uint8_t>> seeds;
  for (auto& [path, input] : read_corpus(VD_GOLDEN_CORPUS)) {
    for (std::vector<uint8_t>& f : input.frames) {
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
    mutate_frame(f, rng);
    in.frames.push_back(std::move(f));
    const char* fault = nullptr;
    allocs += allocs_of(rig, in, fault);
    ASSERT_EQ(fault, nullptr) << fault;
  }
  EXPECT_EQ(allocs, 0);
}

TEST(PipelineAlloc, TheDifferentialScriptsAndTheirMessages) {
  std::string error;
  RigSet rigs(AllocEnv::pool, AllocEnv::big_pool, VD_DIFF_DATA, error);
  ASSERT_TRUE(rigs.ok()) << error;
  ASSERT_GE(rigs.size(), 24u);
  for (size_t i = 1; i < rigs.size(); ++i) {
    PipelineRig& rig = rigs.rig(i);
    rig.around_pipeline = count_inside;
    RigInput in;
    in.frames = rigs.messages(i);  // all of them, in order, through one worker context
    for (uint8_t flags : {uint8_t{0}, kRigHold, uint8_t{kRigHold | kRigRelease}}) {
      in.flags = flags;
      const char* fault = nullptr;
      EXPECT_EQ(allocs_of(rig, in, fault), 0) << rigs.name(i) << " flags " << int{flags};
      EXPECT_EQ(fault, nullptr) << rigs.name(i) << ": " << fault;
    }
    EXPECT_GT(rig.sent(), 0u) << rigs.name(i) << ": nothing sent, nothing measured";
  }
}

}  // namespace
}  // namespace viaduct::test

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  ::testing::AddGlobalTestEnvironment(new viaduct::test::AllocEnv);
  return RUN_ALL_TESTS();
}
