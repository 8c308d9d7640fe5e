// SPDX-License-Identifier: Apache-2.0
// tests/sip/sip_alloc_test.cpp: the scan / rewrite / reply paths make no heap allocation.
// This binary replaces the global allocation functions with counting ones, so it is a test
// binary of its own.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string_view>

#include "dataplane/sip/sip.hpp"
#include "tests/sip/sip_test_util.hpp"

namespace {
std::atomic<long> g_allocs{0};
}  // namespace

void count_allocation() noexcept { g_allocs.fetch_add(1, std::memory_order_relaxed); }

#include "tests/support/counting_alloc.hpp"

namespace viaduct::sip {
namespace {

TEST(SipAlloc, CounterSeesAllocations) {
  const long before = g_allocs.load();
  auto* p = new int(1);
  void* q = std::malloc(16);
  EXPECT_GE(g_allocs.load() - before, 2);
  std::free(q);
  delete p;
}

TEST(SipAlloc, ScanRewriteAndReplyDoNotAllocate) {
  // A realistic INVITE (sipp's, with an rport and a second Via) in a packet-sized buffer.
  static char buf[4096];
  constexpr size_t kHeadroom = 256;
  const std::string_view invite = test::kSippInvite;
  const std::string_view first_line = "INVITE sip:service@127.0.0.1:5060 SIP/2.0\r\n";
  const std::string_view vias =
      "Via: SIP/2.0/UDP 127.0.1.1:5061;branch=z9hG4bK-12345-1-0;rport, SIP/2.0/UDP 10.0.0.9\r\n";
  const std::string_view rest = invite.substr(invite.find("From:"));
  size_t len = 0;
  std::memcpy(buf + kHeadroom, first_line.data(), first_line.size());
  len += first_line.size();
  std::memcpy(buf + kHeadroom + len, vias.data(), vias.size());
  len += vias.size();
  std::memcpy(buf + kHeadroom + len, rest.data(), rest.size());
  len += rest.size();

  char reply[1024];
  char via_line[128];
  char params[kViaReceivedMax];
  char branch[kBranchLen];
  const long before = g_allocs.load();
  size_t head = kHeadroom;
  SipView v;
  const ScanStatus st = scan(buf + head, len, v);
  Uri ruri;
  const bool uri_ok = parse_uri(buf + head, v.ruri, ruri);
  const Span from_uri = header_uri(buf + head, v[Hdr::kFrom]);
  stateless_branch(buf + head, v, branch);
  const size_t via_len = build_via_line(via_line, sizeof via_line, "10.0.0.1", 5060,
                                        std::string_view(branch, kBranchLen));
  Edit recv[2];
  size_t n_recv = 0;
  const bool recv_ok = via_received_edits(buf + head, v, "198.51.100.7", 40000, params,
                                          sizeof params, recv, n_recv);
  const size_t reply_len = build_reply(buf + head, v, 503, "Service Unavailable", "198.51.100.7",
                                       40000, reply, sizeof reply);
  Edit edits[3] = {{v.top_via_line.off, 0, std::string_view(via_line, via_len)}};
  for (size_t i = 0; i < n_recv; ++i) {
    edits[1 + i] = recv[i];
  }
  const bool applied = apply_edits(buf, sizeof buf, head, len, std::span(edits, 1 + n_recv));
  SipView fwd;
  const ScanStatus st2 = scan(buf + head, len, fwd);
  const Edit remove = remove_top_via_edit(buf + head, fwd);
  const bool removed = apply_edits(buf, sizeof buf, head, len, std::span(&remove, 1));
  const long allocs = g_allocs.load() - before;

  EXPECT_EQ(allocs, 0);
  EXPECT_EQ(st, ScanStatus::kOk);
  EXPECT_TRUE(uri_ok);
  EXPECT_FALSE(from_uri.empty());
  EXPECT_NE(via_len, 0u);
  EXPECT_TRUE(recv_ok);
  EXPECT_NE(reply_len, 0u);
  EXPECT_TRUE(applied);
  EXPECT_EQ(st2, ScanStatus::kOk);
  EXPECT_EQ(fwd.via_count, 3);
  EXPECT_TRUE(removed);
}

}  // namespace
}  // namespace viaduct::sip
