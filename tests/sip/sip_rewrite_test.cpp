// SPDX-License-Identifier: Apache-2.0
// tests/sip/sip_rewrite_test.cpp: apply_edits (against a std::string oracle), the stateless
// branch, the Via edits and the stateless reply builder. Rewritten messages are scanned again.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "dataplane/sip/sip.hpp"
#include "tests/sip/sip_test_util.hpp"

namespace viaduct::sip {
namespace {

// ---- apply_edits --------------------------------------------------------------------------

std::string oracle(std::string_view msg, const std::vector<Edit>& edits) {
  std::string out;
  size_t pos = 0;
  for (const Edit& e : edits) {
    out.append(msg.substr(pos, e.off - pos));
    out.append(e.ins);
    pos = size_t{e.off} + e.del;
  }
  out.append(msg.substr(pos));
  return out;
}

TEST(ApplyEdits, MatchesStringOracleOnRandomEdits) {
  constexpr char kFill = '\x5a';
  std::vector<std::string> pool;  // insert texts live outside the buffer
  for (int seed : {1, 2, 3, 4}) {
    std::mt19937 rng(static_cast<unsigned>(seed));
    auto pick = [&rng](size_t lo, size_t hi) {
      return std::uniform_int_distribution<size_t>(lo, hi)(rng);
    };
    for (int iter = 0; iter < 2500; ++iter) {
      const size_t len = pick(0, 200);
      std::string msg(len, ' ');
      for (char& c : msg) {
        c = static_cast<char>('a' + pick(0, 25));
      }
      const size_t n = pick(0, kMaxEdits + 1);
      std::vector<size_t> cuts(2 * n);
      for (size_t& c : cuts) {
        c = pick(0, len);
      }
      std::sort(cuts.begin(), cuts.end());
      pool.assign(n, std::string());
      std::vector<Edit> edits;
      for (size_t i = 0; i < n; ++i) {
        pool[i].assign(pick(0, 40), static_cast<char>('A' + i));
        edits.push_back(Edit{static_cast<uint16_t>(cuts[2 * i]),
                             static_cast<uint16_t>(cuts[2 * i + 1] - cuts[2 * i]), pool[i]});
      }
      const std::string want = oracle(msg, edits);
      const size_t headroom = pick(0, 96);
      const size_t tailroom = pick(0, 96);
      const size_t cap = headroom + len + tailroom;
      std::vector<char> buf(cap, kFill);
      std::memcpy(buf.data() + headroom, msg.data(), len);
      const std::vector<char> before = buf;
      size_t head = headroom;
      size_t out_len = len;
      const bool ok = apply_edits(buf.data(), cap, head, out_len, edits);
      const bool fits = want.size() <= len + headroom || want.size() <= len + tailroom;
      SCOPED_TRACE(testing::Message() << "seed " << seed << " iter " << iter << " n " << n);
      if (n > kMaxEdits || !fits) {
        ASSERT_FALSE(ok);
        ASSERT_EQ(head, headroom);
        ASSERT_EQ(out_len, len);
        ASSERT_TRUE(buf == before);
        continue;
      }
      ASSERT_TRUE(ok);
      ASSERT_EQ(out_len, want.size());
      ASSERT_LE(head + out_len, cap);
      ASSERT_EQ(std::string_view(buf.data() + head, out_len), want);
      if (want.size() <= len + headroom) {
        // The tail (everything after the last edit) stays where it was.
        ASSERT_EQ(head + out_len, headroom + len);
      } else {
        ASSERT_EQ(head, headroom);
      }
      // Nothing outside the old and new message areas was touched.
      const size_t lo = std::min(head, headroom);
      const size_t hi = std::max(head + out_len, headroom + len);
      for (size_t i = 0; i < cap; ++i) {
        if (i < lo || i >= hi) {
          ASSERT_EQ(buf[i], before[i]) << i;
        }
      }
    }
  }
}

// One edit at every offset of messages of every length up to 140 bytes, inserting or deleting
// up to 70 bytes: every kept segment length (move_bytes' word, 16- and 32-byte cases and
// memmove) moved by every shift, overlapping its source, either way, and every insert length.
TEST(ApplyEdits, MovesEverySegmentLengthByEveryShift) {
  std::string msg(140, ' ');
  for (size_t i = 0; i < msg.size(); ++i) {
    msg[i] = static_cast<char>('!' + i % 90);
  }
  const std::string text(70, '#');
  for (size_t len : {size_t{0}, size_t{1}, size_t{3}, size_t{7}, size_t{16}, size_t{17},
                     size_t{33}, size_t{64}, size_t{65}, size_t{140}}) {
    for (size_t off = 0; off <= len; ++off) {
      for (size_t del = 0; off + del <= len && del <= 70; del += del < 20 ? 1 : 7) {
        for (size_t ins = 0; ins <= 70; ins += ins < 20 ? 1 : 5) {
          for (bool room_front : {true, false}) {
            const std::vector<Edit> e = {
                {static_cast<uint16_t>(off), static_cast<uint16_t>(del), {text.data(), ins}}};
            const std::string src = msg.substr(0, len);
            const std::string want = oracle(src, e);
            // Headroom for the growth (the front moves) or none (the tail moves).
            const size_t headroom = room_front ? 80 : 0;
            std::vector<char> buf(headroom + len + 80, '.');
            std::memcpy(buf.data() + headroom, src.data(), len);
            size_t head = headroom;
            size_t out_len = len;
            ASSERT_TRUE(apply_edits(buf.data(), buf.size(), head, out_len, e));
            ASSERT_EQ(std::string_view(buf.data() + head, out_len), want)
                << "len " << len << " off " << off << " del " << del << " ins " << ins;
          }
        }
      }
    }
  }
}

TEST(ApplyEdits, RejectsUnsortedOverlappingAndOutOfRangeEdits) {
  char buf[64] = "....0123456789";
  size_t head = 4;
  size_t len = 10;
  const Edit unsorted[] = {{5, 1, "x"}, {2, 1, "y"}};
  EXPECT_FALSE(apply_edits(buf, sizeof buf, head, len, unsorted));
  const Edit overlapping[] = {{2, 3, "x"}, {4, 1, "y"}};
  EXPECT_FALSE(apply_edits(buf, sizeof buf, head, len, overlapping));
  const Edit outside[] = {{8, 3, ""}};
  EXPECT_FALSE(apply_edits(buf, sizeof buf, head, len, outside));
  EXPECT_EQ(head, 4u);
  EXPECT_EQ(len, 10u);
  EXPECT_EQ(std::string_view(buf + 4, 10), "0123456789");
}

TEST(ApplyEdits, GrowsIntoHeadroomAndKeepsTheBodyInPlace) {
  char buf[32] = "........HEAD|BODY";
  const char* body = buf + 13;
  size_t head = 8;
  size_t len = 9;
  const Edit e[] = {{0, 0, "NEW:"}, {4, 0, "+"}};
  ASSERT_TRUE(apply_edits(buf, sizeof buf, head, len, e));
  EXPECT_EQ(std::string_view(buf + head, len), "NEW:HEAD+|BODY");
  EXPECT_EQ(std::string_view(body, 4), "BODY");
  EXPECT_EQ(head, 3u);
}

// ---- stateless_branch -------------------------------------------------------------------

constexpr std::string_view kInvite =
    "INVITE sip:bob@example.com SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKabc;rport\r\n"
    "Max-Forwards: 70\r\n"
    "From: Alice <sip:alice@example.com>;tag=a1\r\n"
    "To: Bob <sip:bob@example.com>\r\n"
    "Call-ID: call-1@192.0.2.10\r\n"
    "CSeq: 7 INVITE\r\n"
    "Content-Length: 0\r\n\r\n";

std::string branch_of(std::string_view msg) {
  SipView v;
  EXPECT_EQ(scan(msg.data(), msg.size(), v), ScanStatus::kOk) << msg;
  char out[kBranchLen];
  stateless_branch(msg.data(), v, out);
  return std::string(out, kBranchLen);
}

std::string replace(std::string s, std::string_view from, std::string_view to) {
  const size_t p = s.find(from);
  EXPECT_NE(p, std::string::npos) << from;
  return s.replace(p, from.size(), to);
}

TEST(StatelessBranch, FormatIsMagicCookiePlusSixteenHex) {
  const std::string b = branch_of(kInvite);
  ASSERT_EQ(b.size(), 23u);
  EXPECT_TRUE(b.starts_with("z9hG4bK"));
  EXPECT_EQ(b.find_first_not_of("0123456789abcdef", 7), std::string::npos) << b;
}

TEST(StatelessBranch, RetransmissionCancelAndNon2xxAckShareTheInviteBranch) {
  const std::string invite(kInvite);
  const std::string b = branch_of(invite);
  EXPECT_EQ(branch_of(invite), b);  // retransmission
  std::string cancel = replace(invite, "INVITE sip:", "CANCEL sip:");
  cancel = replace(cancel, "CSeq: 7 INVITE", "CSeq: 7 CANCEL");
  EXPECT_EQ(branch_of(cancel), b);
  std::string ack = replace(invite, "INVITE sip:", "ACK sip:");
  ack = replace(ack, "CSeq: 7 INVITE", "CSeq: 7 ACK");
  ack = replace(ack, "To: Bob <sip:bob@example.com>", "To: Bob <sip:bob@example.com>;tag=b9");
  ack = replace(ack, "Max-Forwards: 70", "Max-Forwards: 69");
  EXPECT_EQ(branch_of(ack), b);
}

TEST(StatelessBranch, DifferentTransactionsGetDifferentBranches) {
  const std::string invite(kInvite);
  const std::string b = branch_of(invite);
  EXPECT_NE(branch_of(replace(invite, "call-1@", "call-2@")), b);
  EXPECT_NE(branch_of(replace(invite, "CSeq: 7", "CSeq: 8")), b);
  EXPECT_NE(branch_of(replace(invite, "z9hG4bKabc", "z9hG4bKabd")), b);
  EXPECT_NE(branch_of(replace(invite, "tag=a1", "tag=a2")), b);
  EXPECT_NE(branch_of(replace(invite, "INVITE sip:bob@", "INVITE sip:bobby@")), b);
  EXPECT_NE(branch_of(replace(invite, "192.0.2.10:5060", "192.0.2.10:5062")), b);
}

// Every field of every length from 1 to 40 bytes, each byte changed in turn: all of these
// transactions get different branches (branch_field's byte, word, 16-byte and long cases; a
// byte left out of the hash, or the same word read twice, would make two of them equal).
TEST(StatelessBranch, EveryByteOfEveryFieldLengthCounts) {
  const std::string invite(kInvite);
  struct Field {
    std::string_view now;  // as it is in kInvite
    std::string prefix;    // what the variants start with
  };
  const Field fields[] = {
      {"call-1@192.0.2.10", ""},      // Call-ID
      {"tag=a1", "tag="},             // the From tag
      {"branch=z9hG4bKabc", "branch=z9hG4bK"},  // the top Via's branch
      {"INVITE sip:bob@", "INVITE sip:"},       // the Request-URI's user
  };
  std::vector<std::string> seen;
  std::vector<std::string> msgs;
  for (const Field& f : fields) {
    for (size_t n = 1; n <= 40; ++n) {
      std::string value(n, 'k');
      if (f.prefix == "INVITE sip:") {
        value += '@';
      }
      const std::string base = replace(invite, f.now, f.prefix + value);
      seen.push_back(branch_of(base));
      msgs.push_back(base);
      for (size_t i = 0; i < n; ++i) {
        std::string changed = value;
        changed[i] = 'q';
        msgs.push_back(replace(invite, f.now, f.prefix + changed));
        seen.push_back(branch_of(msgs.back()));
      }
    }
  }
  for (int port = 1; port <= 40; ++port) {  // the sent-by's port and host length
    msgs.push_back(replace(invite, "192.0.2.10:5060", "192.0.2.10:" + std::to_string(port)));
    seen.push_back(branch_of(msgs.back()));
    msgs.push_back(replace(invite, "192.0.2.10:5060", std::string(static_cast<size_t>(port), 'h')));
    seen.push_back(branch_of(msgs.back()));
  }
  std::vector<size_t> order(seen.size());
  for (size_t i = 0; i < order.size(); ++i) {
    order[i] = i;
  }
  std::sort(order.begin(), order.end(), [&seen](size_t a, size_t b) { return seen[a] < seen[b]; });
  for (size_t k = 1; k < order.size(); ++k) {
    EXPECT_NE(seen[order[k - 1]], seen[order[k]])
        << "two transactions, one branch:\n" << msgs[order[k - 1]] << "----\n" << msgs[order[k]];
  }
  EXPECT_EQ(seen.size(), 4u * (40 + 40 * 41 / 2) + 80);
}

// ---- build_via_line -------------------------------------------------------------------------

TEST(BuildViaLine, FormatsAndBracketsIpv6) {
  char out[128];
  // The default port is left out, as Kamailio writes its own Via.
  size_t n = build_via_line(out, sizeof out, "10.1.2.3", 5060, "z9hG4bKx");
  EXPECT_EQ(std::string_view(out, n), "Via: SIP/2.0/UDP 10.1.2.3;branch=z9hG4bKx\r\n");
  n = build_via_line(out, sizeof out, "10.1.2.3", 5062, "z9hG4bKx");
  EXPECT_EQ(std::string_view(out, n), "Via: SIP/2.0/UDP 10.1.2.3:5062;branch=z9hG4bKx\r\n");
  n = build_via_line(out, sizeof out, "2001:db8::1", 5070, "z9hG4bKy");
  EXPECT_EQ(std::string_view(out, n), "Via: SIP/2.0/UDP [2001:db8::1]:5070;branch=z9hG4bKy\r\n");
  const size_t need = build_via_line(out, sizeof out, "h", 1, "b");
  for (size_t cap = 0; cap < need; ++cap) {
    EXPECT_EQ(build_via_line(out, cap, "h", 1, "b"), 0u);
  }
}

// A host with a ':' anywhere (a raw IPv6 address) is bracketed, one without is not, at every
// length has_colon takes apart (bytes, two 4-byte words, two 8-byte words, memchr past 16).
TEST(BuildViaLine, BracketsAHostWithAColonAtEveryLengthAndPlace) {
  char out[128];
  for (size_t n = 1; n <= 24; ++n) {
    const std::string plain(n, 'a');
    size_t len = build_via_line(out, sizeof out, plain, 5060, "z9hG4bKx");
    EXPECT_EQ(std::string_view(out, len), "Via: SIP/2.0/UDP " + plain + ";branch=z9hG4bKx\r\n");
    for (size_t at = 0; at < n; ++at) {
      std::string host = plain;
      host[at] = ':';
      len = build_via_line(out, sizeof out, host, 5060, "z9hG4bKx");
      EXPECT_EQ(std::string_view(out, len),
                "Via: SIP/2.0/UDP [" + host + "];branch=z9hG4bKx\r\n")
          << "length " << n << ", ':' at " << at;
    }
  }
}

// build_stateless_via_line is build_via_line with stateless_branch's branch, byte for byte, for
// hosts with and without brackets, default and other ports, and refuses every cap it does not
// fit in.
TEST(BuildViaLine, StatelessLineIsTheLineWithTheStatelessBranch) {
  const std::string other = replace(std::string(kInvite), "tag=a1", "tag=a2");
  for (const std::string_view msg : {kInvite, std::string_view(other)}) {
    SipView v;
    ASSERT_EQ(scan(msg.data(), msg.size(), v), ScanStatus::kOk);
    const std::string branch = branch_of(msg);
    for (const std::string_view host : {"10.1.2.3", "2001:db8::1", "[2001:db8::2]", "h"}) {
      for (const uint16_t port : {uint16_t{5060}, uint16_t{5062}, uint16_t{1}}) {
        char want[128];
        const size_t n = build_via_line(want, sizeof want, host, port, branch);
        ASSERT_NE(n, 0u);
        char out[128];
        std::memset(out, '#', sizeof out);
        EXPECT_EQ(build_stateless_via_line(out, sizeof out, host, port, msg.data(), v), n);
        EXPECT_EQ(std::string_view(out, n), std::string_view(want, n)) << host << " " << port;
        EXPECT_EQ(out[n], '#');  // nothing past the line
        for (size_t cap = 0; cap < n; ++cap) {
          EXPECT_EQ(build_stateless_via_line(out, cap, host, port, msg.data(), v), 0u);
        }
      }
    }
  }
}

// ---- via_received_edits -----------------------------------------------------------------

struct ReceivedCase {
  const char* name;
  std::string_view via;   // the top Via value
  std::string_view want;  // the Via value after the edit
};

// Expected layouts measured on Kamailio 5.6.3 (forward() of these Vias from 192.0.2.1:6543):
// rport is filled in where it stands; a new received goes in front of the first parameter.
const ReceivedCase kReceived[] = {
    {"SameHostNoRportAddsNothing", "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1",
     "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1"},
    {"OtherHostAddsReceived", "SIP/2.0/UDP pc.example.com;branch=z9hG4bK1",
     "SIP/2.0/UDP pc.example.com;received=192.0.2.1;branch=z9hG4bK1"},
    {"TrailingBareRport", "SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bK1;rport",
     "SIP/2.0/UDP 10.0.0.5:5060;received=192.0.2.1;branch=z9hG4bK1;rport=6543"},
    {"BareRportBeforeBranch", "SIP/2.0/UDP 10.0.0.5;rport;branch=z9hG4bK1",
     "SIP/2.0/UDP 10.0.0.5;received=192.0.2.1;rport=6543;branch=z9hG4bK1"},
    {"SameHostWithRportStillAddsReceived", "SIP/2.0/UDP 192.0.2.1;rport",
     "SIP/2.0/UDP 192.0.2.1;received=192.0.2.1;rport=6543"},
    {"RportValueIsReplaced", "SIP/2.0/UDP 192.0.2.1:5070;branch=z9hG4bK1;rport=1234",
     "SIP/2.0/UDP 192.0.2.1:5070;received=192.0.2.1;branch=z9hG4bK1;rport=6543"},
    {"ExistingReceivedAndRportAreReplaced",
     "SIP/2.0/UDP h;received=10.9.9.9;branch=z9hG4bK1;rport=1;ttl=3",
     "SIP/2.0/UDP h;received=192.0.2.1;branch=z9hG4bK1;rport=6543;ttl=3"},
    {"ExistingReceivedLastIsReplacedInPlace",
     "SIP/2.0/UDP 192.0.2.1:5070;branch=z9hG4bK1;received=1.2.3.4",
     "SIP/2.0/UDP 192.0.2.1:5070;branch=z9hG4bK1;received=192.0.2.1"},
    {"NoParamsAfterTheSentBy", "SIP/2.0/UDP 10.9.9.9:5070",
     "SIP/2.0/UDP 10.9.9.9:5070;received=192.0.2.1"},
    {"SpacesAroundParams", "SIP/2.0/UDP 10.9.9.9:5070 ;branch=z9hG4bK1 ; rport",
     "SIP/2.0/UDP 10.9.9.9:5070 ;received=192.0.2.1;branch=z9hG4bK1 ;rport=6543"},
    {"RportBeforeALongBranch",  // the parameters in between are not copied (fuzzer find)
     "SIP/2.0/UDP 10.0.0.1:5060;rport;branch=z9hG4bKa1b2c3d4e5f6-a1b2c3d4e5f6-a1b2c3d4e5f6-"
     "a1b2c3d4e5f6-a1b2c3d4e5f6-a1b2c3d4e5f6-a1b2c3d4e5f6-a",
     "SIP/2.0/UDP 10.0.0.1:5060;received=192.0.2.1;rport=6543;branch=z9hG4bKa1b2c3d4e5f6-"
     "a1b2c3d4e5f6-a1b2c3d4e5f6-a1b2c3d4e5f6-a1b2c3d4e5f6-a1b2c3d4e5f6-a1b2c3d4e5f6-a"},
    {"Ipv6HostEqualToSource", "SIP/2.0/UDP [2001:db8::1];branch=z9hG4bK1",
     "SIP/2.0/UDP [2001:db8::1];branch=z9hG4bK1"},
};

class ViaReceivedEditTest : public ::testing::TestWithParam<ReceivedCase> {};

TEST_P(ViaReceivedEditTest, EditedViaValue) {
  const ReceivedCase& c = GetParam();
  const bool v6 = std::string_view(c.name).starts_with("Ipv6");
  const std::string msg = "OPTIONS sip:x@example.com SIP/2.0\r\nVia: " + std::string(c.via) +
                          "\r\nFrom: <sip:a@e>;tag=1\r\nTo: <sip:b@e>\r\nCall-ID: c\r\n"
                          "CSeq: 1 OPTIONS\r\n\r\n";
  SipView v;
  ASSERT_EQ(scan(msg.data(), msg.size(), v), ScanStatus::kOk);
  char out[kViaReceivedMax];
  Edit e[2];
  size_t n = 0;
  ASSERT_TRUE(via_received_edits(msg.data(), v, v6 ? "2001:db8::1" : "192.0.2.1", 6543, out,
                                 sizeof out, e, n));
  const std::string edited = oracle(msg, std::vector<Edit>(e, e + n));
  SipView v2;
  ASSERT_EQ(scan(edited.data(), edited.size(), v2), ScanStatus::kOk) << edited;
  EXPECT_EQ(v2.via1.value.in(edited.data()), c.want);
  if (c.via == c.want) {
    EXPECT_EQ(n, 0u);
  }
}

INSTANTIATE_TEST_SUITE_P(Cases, ViaReceivedEditTest, ::testing::ValuesIn(kReceived),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(ViaReceivedEdit, FalseWhenOutIsTooSmall) {
  SipView v;
  ASSERT_EQ(scan(kInvite.data(), kInvite.size(), v), ScanStatus::kOk);
  char out[8];
  Edit e[2];
  size_t n = 0;
  EXPECT_FALSE(via_received_edits(kInvite.data(), v, "198.51.100.7", 5060, out, sizeof out, e, n));
}

// force_rport() on a Via without rport, in a forwarded request (kRequest) and a local reply
// (kReply); expected layouts measured on Kamailio 5.6.3, from 192.0.2.1:6543.
TEST(ViaReceivedEdit, ForcedRportWhereKamailioPutsIt) {
  struct Case {
    std::string_view via;
    ForceRport force;
    std::string_view want;
  };
  const Case cases[] = {
      {"SIP/2.0/UDP 192.0.2.1:5070;branch=z9hG4bK1", ForceRport::kRequest,
       "SIP/2.0/UDP 192.0.2.1:5070;rport=6543;branch=z9hG4bK1"},
      {"SIP/2.0/UDP 10.9.9.9;branch=z9hG4bK1", ForceRport::kRequest,
       "SIP/2.0/UDP 10.9.9.9;rport=6543;received=192.0.2.1;branch=z9hG4bK1"},
      {"SIP/2.0/UDP 192.0.2.1:5070;branch=z9hG4bK1;received=1.2.3.4", ForceRport::kRequest,
       "SIP/2.0/UDP 192.0.2.1:5070;branch=z9hG4bK1;rport=6543;received=192.0.2.1"},
      {"SIP/2.0/UDP 10.9.9.9:5070;branch=z9hG4bK1", ForceRport::kReply,
       "SIP/2.0/UDP 10.9.9.9:5070;branch=z9hG4bK1;rport=6543;received=192.0.2.1"},
      {"SIP/2.0/UDP 10.9.9.9:5070;rport;branch=z9hG4bK1", ForceRport::kReply,
       "SIP/2.0/UDP 10.9.9.9:5070;rport=6543;branch=z9hG4bK1;received=192.0.2.1"},
      // A local reply appends received next to an existing one (Kamailio sends both).
      {"SIP/2.0/UDP 192.0.2.1:5070;branch=z9hG4bK1;received=1.2.3.4", ForceRport::kReply,
       "SIP/2.0/UDP 192.0.2.1:5070;branch=z9hG4bK1;received=1.2.3.4;rport=6543;"
       "received=192.0.2.1"},
  };
  for (const Case& c : cases) {
    const std::string msg = "OPTIONS sip:x@example.com SIP/2.0\r\nVia: " + std::string(c.via) +
                            "\r\nFrom: <sip:a@e>;tag=1\r\nTo: <sip:b@e>\r\nCall-ID: c\r\n"
                            "CSeq: 1 OPTIONS\r\n\r\n";
    SipView v;
    ASSERT_EQ(scan(msg.data(), msg.size(), v), ScanStatus::kOk);
    char out[kViaReceivedMax];
    Edit e[2];
    size_t n = 0;
    ASSERT_TRUE(
        via_received_edits(msg.data(), v, "192.0.2.1", 6543, out, sizeof out, e, n, c.force));
    const std::string edited = oracle(msg, std::vector<Edit>(e, e + n));
    SipView v2;
    ASSERT_EQ(scan(edited.data(), edited.size(), v2), ScanStatus::kOk) << edited;
    EXPECT_EQ(v2.via1.value.in(edited.data()), c.want);
  }
}

// ---- forwarding a request: our Via on top, received/rport on the previous hop's ----------

TEST(Rewrite, ForwardedRequestRescansWithOurViaOnTop) {
  SipView v;
  ASSERT_EQ(scan(kInvite.data(), kInvite.size(), v), ScanStatus::kOk);
  char branch[kBranchLen];
  stateless_branch(kInvite.data(), v, branch);
  char via_line[128];
  const size_t via_len = build_via_line(via_line, sizeof via_line, "203.0.113.1", 5060,
                                        std::string_view(branch, kBranchLen));
  ASSERT_NE(via_len, 0u);
  char params[kViaReceivedMax];
  Edit recv[2];
  size_t n_recv = 0;
  ASSERT_TRUE(via_received_edits(kInvite.data(), v, "198.51.100.7", 40000, params, sizeof params,
                                 recv, n_recv));
  std::vector<Edit> edits = {{v.top_via_line.off, 0, std::string_view(via_line, via_len)}};
  edits.insert(edits.end(), recv, recv + n_recv);

  constexpr size_t kHeadroom = 128;
  std::vector<char> buf(kHeadroom + kInvite.size() + 64);
  std::memcpy(buf.data() + kHeadroom, kInvite.data(), kInvite.size());
  size_t head = kHeadroom;
  size_t len = kInvite.size();
  ASSERT_TRUE(apply_edits(buf.data(), buf.size(), head, len, edits));
  EXPECT_EQ(head + len, kHeadroom + kInvite.size());  // the tail did not move

  const char* m = buf.data() + head;
  SipView out;
  ASSERT_EQ(scan(m, len, out), ScanStatus::kOk) << std::string_view(m, len);
  EXPECT_EQ(out.via_count, v.via_count + 1);
  EXPECT_EQ(out.via1.host.in(m), "203.0.113.1");
  EXPECT_EQ(out.via1.branch.in(m), std::string_view(branch, kBranchLen));
  EXPECT_EQ(out.via2.host.in(m), "192.0.2.10");
  EXPECT_EQ(out.via2.branch.in(m), "z9hG4bKabc");
  EXPECT_EQ(out.via2.received.in(m), "198.51.100.7");
  EXPECT_EQ(out.via2.rport.in(m), "40000");
  EXPECT_EQ(out.call_id.in(m), "call-1@192.0.2.10");
}

TEST(Rewrite, ForwardedSippInviteKeepsItsBody) {
  const std::string_view msg = test::kSippInvite;
  SipView v;
  ASSERT_EQ(scan(msg.data(), msg.size(), v), ScanStatus::kOk);
  char via_line[128];
  const size_t via_len =
      build_via_line(via_line, sizeof via_line, "10.0.0.1", 5060, "z9hG4bK0123456789abcdef");
  char params[kViaReceivedMax];
  Edit recv[2];
  size_t n_recv = 0;
  ASSERT_TRUE(via_received_edits(msg.data(), v, "10.0.0.99", 5061, params, sizeof params, recv,
                                 n_recv));
  std::vector<Edit> edits = {{v.top_via_line.off, 0, std::string_view(via_line, via_len)}};
  edits.insert(edits.end(), recv, recv + n_recv);
  std::vector<char> buf(128 + msg.size());
  std::memcpy(buf.data() + 128, msg.data(), msg.size());
  size_t head = 128;
  size_t len = msg.size();
  ASSERT_TRUE(apply_edits(buf.data(), buf.size(), head, len, edits));
  SipView out;
  ASSERT_EQ(scan(buf.data() + head, len, out), ScanStatus::kOk);
  EXPECT_EQ(out.via_count, 2);
  EXPECT_EQ(out.via2.received.in(buf.data() + head), "10.0.0.99");
  EXPECT_EQ(std::string_view(buf.data() + head + out.body_off, out.content_length), test::kSdp);
  EXPECT_EQ(head + len, buf.size());  // the body did not move
}

// ---- routing a reply back: our Via removed -----------------------------------------------

struct RemoveCase {
  const char* name;
  std::string_view vias;       // the Via header lines of a 200 OK, ours on top
  std::string_view want_vias;  // after removing ours
};

const RemoveCase kRemove[] = {
    {"AloneOnItsLine",
     "Via: SIP/2.0/UDP 203.0.113.1:5060;branch=z9hG4bKours\r\n"
     "Via: SIP/2.0/UDP 192.0.2.10;branch=z9hG4bKabc;received=198.51.100.7\r\n",
     "Via: SIP/2.0/UDP 192.0.2.10;branch=z9hG4bKabc;received=198.51.100.7\r\n"},
    {"CommaJoined",
     "Via: SIP/2.0/UDP 203.0.113.1:5060;branch=z9hG4bKours, SIP/2.0/UDP 192.0.2.10;"
     "branch=z9hG4bKabc\r\n",
     "Via: SIP/2.0/UDP 192.0.2.10;branch=z9hG4bKabc\r\n"},
    {"CommaJoinedWithSpaceBeforeCommaAndThreeValues",
     "v: SIP/2.0/UDP 203.0.113.1 ,SIP/2.0/UDP 192.0.2.10, SIP/2.0/TCP 192.0.2.11\r\n",
     "v: SIP/2.0/UDP 192.0.2.10, SIP/2.0/TCP 192.0.2.11\r\n"},
    {"CommaJoinedAcrossFold", "Via: SIP/2.0/UDP 203.0.113.1,\r\n SIP/2.0/UDP 192.0.2.10\r\n",
     "Via: SIP/2.0/UDP 192.0.2.10\r\n"},
    {"FoldedAlone",
     "Via: SIP/2.0/UDP 203.0.113.1\r\n ;branch=z9hG4bKours\r\nVia: SIP/2.0/UDP 192.0.2.10\r\n",
     "Via: SIP/2.0/UDP 192.0.2.10\r\n"},
};

class RemoveTopViaTest : public ::testing::TestWithParam<RemoveCase> {};

TEST_P(RemoveTopViaTest, ReplyRescansWithOneViaLess) {
  const RemoveCase& c = GetParam();
  const std::string rest =
      "From: <sip:a@e>;tag=1\r\nTo: <sip:b@e>;tag=2\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\n"
      "Content-Length: 4\r\n\r\nbody";
  const std::string msg = "SIP/2.0 200 OK\r\n" + std::string(c.vias) + rest;
  SipView v;
  ASSERT_EQ(scan(msg.data(), msg.size(), v), ScanStatus::kOk);
  EXPECT_EQ(v.via1.host.in(msg.data()), "203.0.113.1");
  const Edit e = remove_top_via_edit(msg.data(), v);
  std::vector<char> buf(msg.begin(), msg.end());
  size_t head = 0;
  size_t len = msg.size();
  ASSERT_TRUE(apply_edits(buf.data(), buf.size(), head, len, std::span(&e, 1)));
  const std::string_view got(buf.data() + head, len);
  EXPECT_EQ(got, "SIP/2.0 200 OK\r\n" + std::string(c.want_vias) + rest);
  SipView out;
  ASSERT_EQ(scan(got.data(), got.size(), out), ScanStatus::kOk);
  EXPECT_EQ(out.via_count, v.via_count - 1);
  EXPECT_EQ(out.via1.host.in(got.data()), "192.0.2.10");
}

INSTANTIATE_TEST_SUITE_P(Cases, RemoveTopViaTest, ::testing::ValuesIn(kRemove),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(RemoveTopVia, BareLfLine) {
  const std::string_view msg =
      "SIP/2.0 200 OK\nVia: SIP/2.0/UDP a\nVia: SIP/2.0/UDP b\nFrom: <sip:a@e>;tag=1\n"
      "To: <sip:b@e>\nCall-ID: c\nCSeq: 1 INVITE\n\n";
  SipView v;
  ASSERT_EQ(scan(msg.data(), msg.size(), v), ScanStatus::kOk);
  const Edit e = remove_top_via_edit(msg.data(), v);
  EXPECT_EQ(msg.substr(e.off, e.del), "Via: SIP/2.0/UDP a\n");
}

// ---- build_reply ----------------------------------------------------------------------------

TEST(BuildReply, StatelessReplyRescansWithReceivedAndToTag) {
  const std::string req = replace(std::string(kInvite), "Via: SIP/2.0/UDP 192.0.2.10",
                                  "Via: SIP/2.0/UDP 192.0.2.10:5060;rport;branch=z9hG4bKup, "
                                  "SIP/2.0/UDP 192.0.2.2\r\nv: SIP/2.0/TCP 192.0.2.3\r\nVia: "
                                  "SIP/2.0/UDP 192.0.2.10");
  SipView v;
  ASSERT_EQ(scan(req.data(), req.size(), v), ScanStatus::kOk) << req;
  ASSERT_EQ(v.via_count, 4);
  char out[1024];
  const size_t n = build_reply(req.data(), v, 503, "Service Unavailable", "198.51.100.7", 40000,
                               out, sizeof out);
  ASSERT_NE(n, 0u);
  const std::string_view reply(out, n);
  SipView r;
  ASSERT_EQ(scan(reply.data(), reply.size(), r), ScanStatus::kOk) << reply;
  EXPECT_FALSE(r.is_request);
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.reason.in(out), "Service Unavailable");
  EXPECT_EQ(r.method, Method::kInvite);
  EXPECT_EQ(r.via_count, 4);
  EXPECT_EQ(r.via1.branch.in(out), "z9hG4bKup");
  EXPECT_EQ(r.via1.received.in(out), "198.51.100.7");
  EXPECT_EQ(r.via1.rport.in(out), "40000");
  EXPECT_EQ(r.via2.host.in(out), "192.0.2.2");
  EXPECT_EQ(r.call_id.in(out), v.call_id.in(req.data()));
  EXPECT_EQ(r.cseq_num, 7u);
  EXPECT_EQ(r.from_tag.in(out), "a1");
  EXPECT_TRUE(r.to_tag.in(out).starts_with("vd"));
  EXPECT_EQ(r.to_tag.len, 18);
  EXPECT_TRUE(r.has_content_length);
  EXPECT_EQ(r.content_length, 0u);
  EXPECT_NE(reply.find("\r\nServer: viaduct\r\n"), std::string_view::npos);
  EXPECT_TRUE(reply.ends_with("Content-Length: 0\r\n\r\n"));

  // A retransmission gets the same reply, To-tag included.
  char again[1024];
  ASSERT_EQ(build_reply(req.data(), v, 503, "Service Unavailable", "198.51.100.7", 40000, again,
                        sizeof again),
            n);
  EXPECT_EQ(std::string_view(again, n), reply);
  // Every cap below the size returns 0 without writing past it.
  for (size_t cap = 0; cap < n; ++cap) {
    EXPECT_EQ(
        build_reply(req.data(), v, 503, "Service Unavailable", "198.51.100.7", 40000, again, cap),
        0u)
        << cap;
  }
}

TEST(BuildReply, KeepsAnExistingToTagAndFolding) {
  // The fields are copied as received, folding included, as Kamailio's sl does.
  const std::string_view req =
      "BYE sip:b@example.com SIP/2.0\r\n"
      "Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKb\r\n"
      "From: <sip:a@example.com>\r\n ;tag=fa\r\n"
      "To: <sip:b@example.com>;tag=tb\r\n"
      "Call-ID: c9\r\n"
      "CSeq: 3 BYE\r\n\r\n";
  SipView v;
  ASSERT_EQ(scan(req.data(), req.size(), v), ScanStatus::kOk);
  char out[512];
  const size_t n = build_reply(req.data(), v, 200, "OK", "192.0.2.1", 5060, out, sizeof out);
  ASSERT_NE(n, 0u);
  EXPECT_EQ(std::string_view(out, n),
            "SIP/2.0 200 OK\r\n"
            "Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKb\r\n"
            "From: <sip:a@example.com>\r\n ;tag=fa\r\n"
            "To: <sip:b@example.com>;tag=tb\r\n"
            "Call-ID: c9\r\n"
            "CSeq: 3 BYE\r\n"
            "Server: viaduct\r\n"
            "Content-Length: 0\r\n\r\n");
  EXPECT_EQ(build_reply(req.data(), v, 99, "Odd", "192.0.2.1", 5060, out, sizeof out), 0u);
  // The Server line as the script sets it (server_header), or none (server_signature=no).
  const std::string_view tail = "CSeq: 3 BYE\r\nContent-Length: 0\r\n\r\n";
  size_t m = build_reply(req.data(), v, 200, "OK", "192.0.2.1", 5060, out, sizeof out, false, {},
                         "");
  ASSERT_GE(m, tail.size());
  EXPECT_EQ(std::string_view(out + m - tail.size(), tail.size()), tail);
  m = build_reply(req.data(), v, 200, "OK", "192.0.2.1", 5060, out, sizeof out, false,
                  "Unsupported: x\r\n", "Server: edge\r\n");
  const std::string_view tail2 = "Unsupported: x\r\nServer: edge\r\nContent-Length: 0\r\n\r\n";
  ASSERT_GE(m, tail2.size());
  EXPECT_EQ(std::string_view(out + m - tail2.size(), tail2.size()), tail2);
}

// Names are matched ignoring case, whole: a longer token that starts like a copied name (other
// token characters after it: '_', '.', '~') is another field; the last field's name is read
// near the end of the message (no 16-byte read past it).
TEST(BuildReply, NamesMatchWholeTokensIgnoringCase) {
  const std::string_view req =
      "OPTIONS sip:b@x SIP/2.0\r\n"
      "VIA: SIP/2.0/UDP 1.2.3.4;branch=z9hG4bK-2\r\n"
      "FROM: <sip:a@x>;tag=1\r\n"
      "tO: <sip:b@x>\r\n"
      "CALL-ID: abc\r\n"
      "cseq: 1 OPTIONS\r\n"
      "v_a: no1\r\n"
      "Via.x: no2\r\n"
      "to~: no3\r\n"
      "Record-Route_: no4\r\n"
      "CSeq2: no5\r\n"
      "I: abc2\r\n\r\n";
  SipView v;
  ASSERT_EQ(scan(req.data(), req.size(), v), ScanStatus::kOk);
  char out[1024];
  const size_t n = build_reply(req.data(), v, 200, "OK", "1.2.3.4", 5060, out, sizeof out);
  ASSERT_NE(n, 0u);
  const std::string reply(out, n);
  for (const char* kept :
       {"\r\nVIA: SIP/2.0/UDP 1.2.3.4;branch=z9hG4bK-2", "\r\nFROM: <sip:a@x>;tag=1\r\n",
        "\r\ntO: <sip:b@x>;tag=vd", "\r\nCALL-ID: abc\r\n", "\r\ncseq: 1 OPTIONS\r\n",
        "\r\nI: abc2\r\n"}) {
    EXPECT_NE(reply.find(kept), std::string::npos) << kept << "\n" << reply;
  }
  for (const char* left : {"no1", "no2", "no3", "no4", "no5"}) {
    EXPECT_EQ(reply.find(left), std::string::npos) << left << "\n" << reply;
  }
}

TEST(BuildReply, CopiesFieldsAsReceivedInTheirOrder) {
  // Measured on Kamailio 5.6.3 (sl_send_reply from 127.0.0.2:5070): compact names, odd
  // spacing, a folded multi-value Via, the request's field order; the To-tag at the end of the
  // To line; received appended to the top Via; Record-Route copied back in a 180..299 reply
  // only; other fields (Max-Forwards, Content-Type...) left out.
  const std::string_view req =
      "OPTIONS sip:b@127.0.0.1 SIP/2.0\r\n"
      "f: <sip:a@x>;tag=1\r\n"
      "Record-Route: <sip:9.9.9.9;lr>\r\n"
      "v: SIP/2.0/UDP 10.9.9.9:5070;branch=z9hG4bK-1\r\n"
      "Max-Forwards: 70\r\n"
      "CSeq:   1 OPTIONS\r\n"
      "t :<sip:b@x> \r\n"
      "Via: SIP/2.0/UDP 1.1.1.1;branch=x2,\r\n SIP/2.0/UDP 2.2.2.2\r\n"
      "i: abc\r\n"
      "c: text/plain\r\n"
      "l: 0\r\n\r\n";
  SipView v;
  ASSERT_EQ(scan(req.data(), req.size(), v), ScanStatus::kOk);
  char out[1024];
  size_t n = build_reply(req.data(), v, 200, "OK", "127.0.0.2", 5070, out, sizeof out);
  ASSERT_NE(n, 0u);
  std::string reply(out, n);
  const size_t tag = reply.find(";tag=vd");
  ASSERT_NE(tag, std::string::npos);
  reply.replace(tag + 5, 18, "<tag>");
  EXPECT_EQ(reply,
            "SIP/2.0 200 OK\r\n"
            "f: <sip:a@x>;tag=1\r\n"
            "Record-Route: <sip:9.9.9.9;lr>\r\n"
            "v: SIP/2.0/UDP 10.9.9.9:5070;branch=z9hG4bK-1;received=127.0.0.2\r\n"
            "CSeq:   1 OPTIONS\r\n"
            "t :<sip:b@x> ;tag=<tag>\r\n"
            "Via: SIP/2.0/UDP 1.1.1.1;branch=x2,\r\n SIP/2.0/UDP 2.2.2.2\r\n"
            "i: abc\r\n"
            "Server: viaduct\r\n"
            "Content-Length: 0\r\n\r\n");
  SipView r;
  ASSERT_EQ(scan(out, n, r), ScanStatus::kOk);
  EXPECT_EQ(r.via_count, 3);
  EXPECT_EQ(r.to_tag.len, 18);
  n = build_reply(req.data(), v, 404, "Not Here", "127.0.0.2", 5070, out, sizeof out);
  ASSERT_NE(n, 0u);
  EXPECT_EQ(std::string_view(out, n).find("Record-Route"), std::string_view::npos);
  n = build_reply(req.data(), v, 180, "Ringing", "127.0.0.2", 5070, out, sizeof out);
  EXPECT_NE(std::string_view(out, n).find("\r\nRecord-Route: <sip:9.9.9.9;lr>\r\n"),
            std::string_view::npos);
  n = build_reply(req.data(), v, 179, "Early", "127.0.0.2", 5070, out, sizeof out);
  EXPECT_EQ(std::string_view(out, n).find("Record-Route"), std::string_view::npos);
  // A To-tag from 180 on only, as Kamailio's sl (a 100 Trying or 179 has none, measured).
  EXPECT_EQ(std::string_view(out, n).find(";tag=vd"), std::string_view::npos);
  n = build_reply(req.data(), v, 100, "Trying", "127.0.0.2", 5070, out, sizeof out);
  ASSERT_NE(n, 0u);
  EXPECT_EQ(std::string_view(out, n).find(";tag=vd"), std::string_view::npos);
  n = build_reply(req.data(), v, 180, "Ringing", "127.0.0.2", 5070, out, sizeof out);
  EXPECT_NE(std::string_view(out, n).find(";tag=vd"), std::string_view::npos);
}

// ---- proxy edits: R-URI, Record-Route, Route pop, header append and remove ---------------

const std::string kProxied =
    "INVITE sip:bob@lb.example.com SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 192.0.2.10;branch=z9hG4bKabc\r\n"
    "Route: <sip:lb.example.com;lr>, <sip:core.example.com;lr>\r\n"
    "Route: <sip:edge.example.com;lr>\r\n"
    "Record-Route: <sip:p1.example.com;lr>\r\n"
    "From: <sip:alice@example.com>;tag=1\r\n"
    "To: <sip:bob@example.com>\r\n"
    "Call-ID: proxy-1\r\n"
    "CSeq: 1 INVITE\r\n"
    "X-Trace: one\r\n"
    "x-trace: two,\r\n"
    " folded\r\n"
    "Content-Length: 4\r\n"
    "\r\n"
    "body";

SipView scanned(const std::string& m) {
  SipView v;
  EXPECT_EQ(scan(m.data(), m.size(), v), ScanStatus::kOk) << m;
  return v;
}

TEST(ProxyEdits, RequestUriRewrite) {
  const SipView v = scanned(kProxied);
  const std::string out = oracle(kProxied, {ruri_edit(v, "sip:bob@10.0.0.11:5080")});
  const SipView o = scanned(out);
  EXPECT_EQ(o.ruri.in(out.data()), "sip:bob@10.0.0.11:5080");
  EXPECT_EQ(out.substr(out.size() - 4), "body");
}

TEST(ProxyEdits, RecordRouteGoesAboveTheExistingOnes) {
  const SipView v = scanned(kProxied);
  char line[128];
  // No default port, as Kamailio's rr writes it (an explicit :5060 is another URI).
  const size_t n = build_record_route_line(line, sizeof line, "10.0.0.2", 5060);
  ASSERT_EQ(std::string_view(line, n), "Record-Route: <sip:10.0.0.2;lr>\r\n");
  const std::string out =
      oracle(kProxied, {record_route_edit(kProxied.data(), v, std::string_view(line, n))});
  const SipView o = scanned(out);
  EXPECT_EQ(o[Hdr::kRecordRoute].in(out.data()), "<sip:10.0.0.2;lr>");  // the newest on top
  // Above every field, as Kamailio's rr puts it: so above the existing ones too.
  EXPECT_EQ(out.find("Record-Route: <sip:10.0.0.2;lr>\r\n"), kProxied.find("\r\n") + 2);
  EXPECT_LT(out.find("Record-Route: <sip:10.0.0.2;lr>"), out.find("Record-Route: <sip:p1."));
  EXPECT_EQ(build_record_route_line(line, sizeof line, "2001:db8::2", 5062),
            std::string_view("Record-Route: <sip:[2001:db8::2]:5062;lr>\r\n").size());
  EXPECT_EQ(std::string_view(line, build_record_route_line(line, sizeof line, "10.0.0.2", 5080,
                                                           "ft1")),
            "Record-Route: <sip:10.0.0.2:5080;lr;ftag=ft1>\r\n");
  EXPECT_EQ(build_record_route_line(line, 10, "10.0.0.2", 5060), 0u);
}

TEST(ProxyEdits, FoldedFieldsAreEditedWhole) {  // fuzzer find: a value on a continuation line
  const std::string m = "INVITE sip:b@e SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n"
                        "Route:\r\n <sip:r1.example.com;lr>\r\n"
                        "Record-Route:\r\n <sip:p1.example.com;lr>\r\n"
                        "From: <sip:a@e>;tag=1\r\nTo: <sip:b@e>\r\nCall-ID: c\r\n"
                        "CSeq: 1 INVITE\r\n\r\n";
  SipView v = scanned(m);
  const std::string out =
      oracle(m, {record_route_edit(m.data(), v, "Record-Route: <sip:10.0.0.2;lr>\r\n")});
  // Inserted above every field (Kamailio's rr); the folded one stays whole.
  EXPECT_TRUE(out.starts_with("INVITE sip:b@e SIP/2.0\r\nRecord-Route: <sip:10.0.0.2;lr>\r\nVia: "))
      << out;
  EXPECT_NE(out.find("\r\nRecord-Route:\r\n <sip:p1.example.com;lr>\r\nFrom: "),
            std::string::npos)
      << out;
  EXPECT_EQ(scanned(out)[Hdr::kRecordRoute].in(out.data()), "<sip:10.0.0.2;lr>");
  bool has = false;
  const std::string popped = oracle(m, {route_pop_edit(m.data(), v, has)});
  EXPECT_EQ(popped.find("r1.example.com"), std::string::npos) << popped;
  EXPECT_EQ(popped.find("\r\nRoute:"), std::string::npos);
  v = scanned(popped);
  EXPECT_TRUE(v[Hdr::kRoute].empty());
}

TEST(ProxyEdits, RecordRouteWithoutOneGoesAboveTheTopVia) {
  const std::string m = "OPTIONS sip:x@e SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n"
                        "From: <sip:a@e>;tag=1\r\nTo: <sip:b@e>\r\nCall-ID: c\r\n"
                        "CSeq: 1 OPTIONS\r\n\r\n";
  const SipView v = scanned(m);
  const std::string out =
      oracle(m, {record_route_edit(m.data(), v, "Record-Route: <sip:10.0.0.2;lr>\r\n")});
  EXPECT_NE(out.find("SIP/2.0\r\nRecord-Route: <sip:10.0.0.2;lr>\r\nVia:"), std::string::npos);
  scanned(out);
  // A field before the top Via: still above everything (measured on Kamailio 5.6.3: above a
  // From or a Route that stands first).
  const std::string m2 = "OPTIONS sip:x@e SIP/2.0\r\nFrom: <sip:a@e>;tag=1\r\n"
                         "Via: SIP/2.0/UDP h;branch=z9hG4bK1\r\nTo: <sip:b@e>\r\nCall-ID: c\r\n"
                         "CSeq: 1 OPTIONS\r\n\r\n";
  const std::string out2 = oracle(
      m2, {record_route_edit(m2.data(), scanned(m2), "Record-Route: <sip:10.0.0.2;lr>\r\n")});
  EXPECT_TRUE(out2.starts_with("OPTIONS sip:x@e SIP/2.0\r\nRecord-Route: <sip:10.0.0.2;lr>\r\n"
                               "From: "))
      << out2;
}

TEST(ProxyEdits, RoutePopTakesOneValueThenTheWholeLine) {
  SipView v = scanned(kProxied);
  bool has = false;
  std::string out = oracle(kProxied, {route_pop_edit(kProxied.data(), v, has)});
  ASSERT_TRUE(has);
  v = scanned(out);
  EXPECT_EQ(v[Hdr::kRoute].in(out.data()), "<sip:core.example.com;lr>");
  out = oracle(out, {route_pop_edit(out.data(), v, has)});
  v = scanned(out);
  EXPECT_EQ(v[Hdr::kRoute].in(out.data()), "<sip:edge.example.com;lr>");
  out = oracle(out, {route_pop_edit(out.data(), v, has)});
  v = scanned(out);
  EXPECT_TRUE(v[Hdr::kRoute].empty());
  EXPECT_EQ(out.find("Route:"), out.find("Record-Route:") + 7);  // only Record-Route is left
  const Edit none = route_pop_edit(out.data(), v, has);
  EXPECT_FALSE(has);
  EXPECT_EQ(none.del, 0);
}

// loose_route()'s removals past the top value (Kamailio's rr, RFC 3261 16.6 step 6): values
// contiguous from the top, per field the whole line when nothing follows, else up to the next
// value; and the last value (a strict router's remote target) with the comma before it.
TEST(ProxyEdits, RouteCutRemovesValuesFromTheTopAcrossFields) {
  const std::string head = "BYE sip:10.0.0.2 SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n"
                           "From: <sip:a@e>;tag=1\r\nTo: <sip:b@e>;tag=2\r\nCall-ID: c\r\n"
                           "CSeq: 2 BYE\r\n";
  const auto at = [](const std::string& m, std::string_view text) {
    const size_t off = m.find(text);
    const size_t eol = m.find("\r\n", off);
    return Span{static_cast<uint16_t>(off), static_cast<uint16_t>(eol - off)};
  };
  // Three values in one field, two cut: the third stays.
  std::string m = head + "Route: <sip:o;r2=on;lr>, <sip:t>, <sip:x;lr>\r\n\r\n";
  SipView v = scanned(m);
  Span vals[3] = {v[Hdr::kRoute], at(m, "<sip:t>"), {}};
  Edit e[3];
  ASSERT_EQ(route_cut_edits(m.data(), v, vals, 2, e), 1u);
  std::string out = oracle(m, {e[0]});
  EXPECT_EQ(out, head + "Route: <sip:x;lr>\r\n\r\n");
  // One per field, the third value first in the third field with another after it.
  m = head + "Route: <sip:o;lr>\r\nRoute: <sip:o2;lr>\r\nRoute: <sip:t>, <sip:x;lr>\r\n\r\n";
  v = scanned(m);
  vals[0] = v[Hdr::kRoute];
  vals[1] = at(m, "<sip:o2;lr>");
  vals[2] = at(m, "<sip:t>");
  ASSERT_EQ(route_cut_edits(m.data(), v, vals, 3, e), 3u);
  out = oracle(m, {e[0], e[1], e[2]});
  EXPECT_EQ(out, head + "Route: <sip:x;lr>\r\n\r\n");
  // The two first values in one field, nothing after the second: the line goes.
  m = head + "Route: <sip:o;lr>, <sip:t>\r\nRoute: <sip:x;lr>\r\n\r\n";
  v = scanned(m);
  vals[0] = v[Hdr::kRoute];
  vals[1] = at(m, "<sip:t>");
  ASSERT_EQ(route_cut_edits(m.data(), v, vals, 2, e), 1u);
  EXPECT_EQ(oracle(m, {e[0]}), head + "Route: <sip:x;lr>\r\n\r\n");
  // Nothing to cut: no Route, or a value that does not parse.
  m = head + "\r\n";
  v = scanned(m);
  EXPECT_EQ(route_cut_edits(m.data(), v, vals, 2, e), 0u);
}

TEST(ProxyEdits, RouteLastValueTakesItsCommaOrItsLine) {
  const std::string head = "BYE sip:10.0.0.2 SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n"
                           "From: <sip:a@e>;tag=1\r\nTo: <sip:b@e>;tag=2\r\nCall-ID: c\r\n"
                           "CSeq: 2 BYE\r\n";
  std::string m = head + "Route: <sip:p;lr>, <sip:q;lr>, <sip:alice@h:5070>\r\n\r\n";
  SipView v = scanned(m);
  Span uri;
  Edit cut;
  ASSERT_TRUE(route_last_value(m.data(), v, v[Hdr::kRoute], uri, cut));
  EXPECT_EQ(uri.in(m.data()), "sip:alice@h:5070");
  EXPECT_EQ(oracle(m, {cut}), head + "Route: <sip:p;lr>, <sip:q;lr>\r\n\r\n");
  // Alone in its field: the field's line.
  m = head + "Route: <sip:p;lr>\r\nRoute: \"Bob\" <sip:bob@h>;x=1\r\n\r\n";
  v = scanned(m);
  const size_t off = m.find("\"Bob\"");
  const Span last{static_cast<uint16_t>(off),
                  static_cast<uint16_t>(m.find("\r\n", off) - off)};
  ASSERT_TRUE(route_last_value(m.data(), v, last, uri, cut));
  EXPECT_EQ(uri.in(m.data()), "sip:bob@h");
  EXPECT_EQ(oracle(m, {cut}), head + "Route: <sip:p;lr>\r\n\r\n");
  // A '"' inside the last <URI> and one before it: cutting it would leave a quote open.
  m = head + "Route: <sip:p;x=\"a;lr>, <sip:q;y=b\">\r\n\r\n";
  v = scanned(m);
  EXPECT_FALSE(route_last_value(m.data(), v, v[Hdr::kRoute], uri, cut));
  // A value that does not parse: nothing.
  m = head + "Route: <sip:p;lr>, <sip:q\r\n\r\n";
  v = scanned(m);
  EXPECT_FALSE(route_last_value(m.data(), v, v[Hdr::kRoute], uri, cut));
}

// A '"' inside the first Route's <URI> opens a quoted string for the scanner (not for the
// name-addr parser): popping that value would leave the rest of the field to scan outside the
// quotes, where the control byte a quoted-pair carried is refused. The cut is reported (the
// pipeline drops the message as malformed); quotes that close before the cut are not.
TEST(ProxyEdits, RoutePopReportsACutInsideAQuotedString) {
  const std::string head = "BYE sip:b@e SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n"
                           "From: <sip:a@e>;tag=1\r\nTo: <sip:b@e>;tag=2\r\nCall-ID: c\r\n"
                           "CSeq: 2 BYE\r\n";
  const std::string bad = head + "Route: <sip:10.0.0.2;x=\"a;lr>, <sip:p\\" +
                          std::string(1, '\0') + "q\";lr>\r\n\r\n";
  SipView v = scanned(bad);
  bool has = false;
  bool cut = false;
  route_pop_edit(bad.data(), v, has, &cut);
  EXPECT_TRUE(has);
  EXPECT_TRUE(cut);
  Edit two[2];
  cut = false;
  const Span top[1] = {v[Hdr::kRoute]};
  route_cut_edits(bad.data(), v, top, 1, two, &cut);
  EXPECT_TRUE(cut);
  // Without the report the cut would produce what the scanner refuses.
  const std::string popped = oracle(bad, {route_pop_edit(bad.data(), v, has)});
  SipView r;
  EXPECT_NE(scan(popped.data(), popped.size(), r), ScanStatus::kOk);

  const std::string good =
      head + "Route: \"our \\\"edge\\\"\" <sip:10.0.0.2;lr>, <sip:p;lr>\r\n\r\n";
  v = scanned(good);
  cut = false;
  const std::string out = oracle(good, {route_pop_edit(good.data(), v, has, &cut)});
  EXPECT_FALSE(cut);
  EXPECT_EQ(scanned(out)[Hdr::kRoute].in(out.data()), "<sip:p;lr>");
}

TEST(ProxyEdits, AppendAndRemoveHeaders) {
  const SipView v = scanned(kProxied);
  std::string out = oracle(kProxied, {append_header_edit(v, "X-Lb: viaduct\r\n")});
  EXPECT_NE(out.find("Content-Length: 4\r\nX-Lb: viaduct\r\n\r\nbody"), std::string::npos);
  scanned(out);

  Edit e[4];
  const size_t n = remove_header_edits(kProxied.data(), v, "x-trace", 0, e, 4);
  ASSERT_EQ(n, 2u);  // both spellings, the folded one with its continuation line
  out = oracle(kProxied, std::vector<Edit>(e, e + n));
  EXPECT_EQ(out.find("race"), std::string::npos);
  EXPECT_EQ(out.find("folded"), std::string::npos);
  const SipView o = scanned(out);
  EXPECT_EQ(o.hdr_count, v.hdr_count - 2);

  // Compact forms: removing "Call-ID" also takes "i:".
  const std::string m = "OPTIONS sip:x@e SIP/2.0\r\nv: SIP/2.0/UDP h;branch=z9hG4bK1\r\n"
                        "f: <sip:a@e>;tag=1\r\nt: <sip:b@e>\r\ni: c\r\nCSeq: 1 OPTIONS\r\n"
                        "Subject: a\r\n\r\n";
  const SipView mv = scanned(m);
  EXPECT_EQ(remove_header_edits(m.data(), mv, "call-id", 'i', e, 4), 1u);
  EXPECT_EQ(remove_header_edits(m.data(), mv, "subject", 's', e, 4), 1u);
  EXPECT_EQ(remove_header_edits(m.data(), mv, "x-none", 0, e, 4), 0u);
  EXPECT_EQ(remove_header_edits(kProxied.data(), v, "route", 0, e, 1), 2u);  // array too small
}

}  // namespace
}  // namespace viaduct::sip
