// SPDX-License-Identifier: Apache-2.0
// tests/golden/pipeline_fuzz.cpp: libFuzzer target for the whole per-packet path (clang,
// -Dfuzz=true): Ethernet, VLAN, ARP, IPv4 and IPv6 with their extension headers, ICMP, UDP,
// reassembly, the SIP scanner, the routing script (the golden cases' one or one of the
// differential test's 38, picked by the input: rig_set.hpp), dispatch, the rewrite,
// fragmentation on the way out and the neighbour hold. Each input is a few frames through one
// fresh worker context (pipeline_rig.hpp: encoding and properties); a broken property aborts,
// as a crash or a sanitizer report does. Seed corpus: tests/golden/corpus/ (the golden cases'
// frames, the differential scripts' messages), which golden_test replays in every build.
#include <rte_eal.h>
#include <rte_mbuf.h>

#include <cstdio>
#include <cstdlib>
#include <iterator>

#include "tests/golden/rig_set.hpp"

namespace {

viaduct::test::RigSet* g_rigs = nullptr;

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  const char* eal[] = {"pipeline_fuzz", "--no-huge", "-m", "128", "--no-pci", "--no-shconf",
                       "--log-level=error", "-l", "0"};
  if (rte_eal_init(static_cast<int>(std::size(eal)), const_cast<char**>(eal)) < 0) {
    std::fprintf(stderr, "pipeline_fuzz: EAL init failed\n");
    std::abort();
  }
  rte_mempool* pool = rte_pktmbuf_pool_create("fuzz", 2047, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE, 0);
  rte_mempool* big = rte_pktmbuf_pool_create("fuzz_big", 15, 0, 0, UINT16_MAX, 0);
  std::string error = "no mempool";
  if (pool != nullptr && big != nullptr) {
    g_rigs = new viaduct::test::RigSet(pool, big, VD_DIFF_DATA, error);
  }
  if (g_rigs == nullptr || !g_rigs->ok()) {
    std::fprintf(stderr, "pipeline_fuzz: %s\n", error.c_str());
    std::abort();
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (const char* fault = g_rigs->run(viaduct::test::decode(data, size))) {
    std::fprintf(stderr, "pipeline_fuzz: property broken: %s\n", fault);
    std::abort();
  }
  return 0;
}
