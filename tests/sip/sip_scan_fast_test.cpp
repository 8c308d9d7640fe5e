// SPDX-License-Identifier: Apache-2.0
// tests/sip/sip_scan_fast_test.cpp: the edges of the scanner's fast paths (dataplane/sip/
// sip_scan.cpp): the start lines read without memchr, the Via transport word and port digits,
// the ";tag=" first parameter, CSeq in one 16-byte load, the digit runs of Content-Length and
// Max-Forwards, the CSeq/method comparison. Each shape the fast path takes is set next to the
// shapes it must hand to the general code, at lengths around the 16-byte steps; Via and From/To
// are checked against the general parsers (parse_via_at, parse_name_addr) field by field.
#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "dataplane/sip/chars.hpp"
#include "dataplane/sip/sip.hpp"

namespace viaduct::sip {
namespace {

constexpr std::string_view kRest =
    "Via: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@example.com>;tag=1\r\n"
    "To: <sip:b@example.com>\r\nCall-ID: c\r\n";

std::string request(std::string_view start_line, std::string_view cseq = "1 INVITE") {
  return std::string(start_line) + "\r\n" + std::string(kRest) + "CSeq: " + std::string(cseq) +
         "\r\nContent-Length: 0\r\n\r\n";
}

// --- start lines --------------------------------------------------------------------------

struct StartCase {
  std::string line;  // without its CR LF
  ScanStatus want;
  std::string_view method = {};  // requests: the method's text
  std::string_view ruri = {};
  uint16_t status = 0;  // replies
  std::string_view reason = {};
};

TEST(SipScanFast, RequestLines) {
  const StartCase cases[] = {
      {"INVITE sip:b@example.com SIP/2.0", ScanStatus::kOk, "INVITE", "sip:b@example.com"},
      {"ACK sip:b SIP/2.0", ScanStatus::kOk, "ACK", "sip:b"},
      {"A sip:b SIP/2.0", ScanStatus::kOk, "A", "sip:b"},
      // Methods around the 16-byte load: 15 letters then SP fits, 16 does not (general path).
      {"ABCDEFGHIJKLMNO sip:b SIP/2.0", ScanStatus::kOk, "ABCDEFGHIJKLMNO", "sip:b"},
      {"ABCDEFGHIJKLMNOP sip:b SIP/2.0", ScanStatus::kOk, "ABCDEFGHIJKLMNOP", "sip:b"},
      {"ABCDEFGHIJKLMNOPQ sip:b SIP/2.0", ScanStatus::kOk, "ABCDEFGHIJKLMNOPQ", "sip:b"},
      // Other token bytes and lower case: the general path.
      {"invite sip:b SIP/2.0", ScanStatus::kOk, "invite", "sip:b"},
      {"NEW-METHOD sip:b SIP/2.0", ScanStatus::kOk, "NEW-METHOD", "sip:b"},
      {"INVITE1 sip:b SIP/2.0", ScanStatus::kOk, "INVITE1", "sip:b"},
      // URIs of every length around 16 and 32 bytes.
      {"INVITE sip:123456789012 SIP/2.0", ScanStatus::kOk, "INVITE", "sip:123456789012"},
      {"INVITE sip:1234567890123 SIP/2.0", ScanStatus::kOk, "INVITE", "sip:1234567890123"},
      {"INVITE sip:12345678901234 SIP/2.0", ScanStatus::kOk, "INVITE", "sip:12345678901234"},
      {"INVITE sip:123456789012345678901234567890 SIP/2.0", ScanStatus::kOk, "INVITE",
       "sip:123456789012345678901234567890"},
      {"INVITE SIP:b SIP/2.0", ScanStatus::kOk, "INVITE", "SIP:b"},
      {"INVITE sips:b SIP/2.0", ScanStatus::kOk, "INVITE", "sips:b"},
      {"INVITE tel:+1555 SIP/2.0", ScanStatus::kOk, "INVITE", "tel:+1555"},
      {"INVITE sip: SIP/2.0", ScanStatus::kOk, "INVITE", "sip:"},
      {"INVITE sip SIP/2.0", ScanStatus::kBadStartLine},
      {"INVITE si SIP/2.0", ScanStatus::kBadStartLine},
      {"INVITE  sip:b SIP/2.0", ScanStatus::kBadStartLine},
      {"INVITE sip:b  SIP/2.0", ScanStatus::kBadStartLine},
      {"INVITE sip:b SIP/2.0 ", ScanStatus::kBadStartLine},
      {"INVITE sip:b\tSIP/2.0", ScanStatus::kBadStartLine},
      {"INVITE sip:b SIP/2.1", ScanStatus::kBadVersion},
      {"INVITE sip:b sip/2.0", ScanStatus::kNotSip},
      {"INVITE sip:b SIP/2.0x", ScanStatus::kBadVersion},
      {"INVITE sip:a\x80z SIP/2.0", ScanStatus::kOk, "INVITE", "sip:a\x80z"},
      {"INVITE sip:a\x7fz SIP/2.0", ScanStatus::kBadStartLine},
      {"INVITE sip:b SIP/2.0 SIP/2.0", ScanStatus::kBadStartLine},
  };
  for (const StartCase& c : cases) {
    const std::string m = request(c.line);
    SipView v;
    ASSERT_EQ(scan(m.data(), m.size(), v), c.want) << c.line;
    if (c.want != ScanStatus::kOk) {
      continue;
    }
    EXPECT_TRUE(v.is_request) << c.line;
    EXPECT_EQ(v.method_name.in(m.data()), c.method) << c.line;
    EXPECT_EQ(v.method, detail::method_from_name(c.method)) << c.line;
    EXPECT_EQ(v.ruri.in(m.data()), c.ruri) << c.line;
    EXPECT_EQ(v.cseq_method_mismatch, c.method != "INVITE") << c.line;
    EXPECT_EQ(v[Hdr::kVia].off, c.line.size() + 2 + 5) << c.line;  // the next line follows
  }
}

TEST(SipScanFast, RequestLineEnds) {
  const std::string line = "OPTIONS sip:b@example.com SIP/2.0";
  // A bare LF: the general path, the same view.
  const std::string crlf = request(line, "1 OPTIONS");
  std::string lf = crlf;
  lf.erase(line.size(), 1);
  SipView a;
  SipView b;
  ASSERT_EQ(scan(crlf.data(), crlf.size(), a), ScanStatus::kOk);
  ASSERT_EQ(scan(lf.data(), lf.size(), b), ScanStatus::kOk);
  EXPECT_EQ(a.method, Method::kOptions);
  EXPECT_EQ(b.method, Method::kOptions);
  EXPECT_EQ(a.ruri.in(crlf.data()), b.ruri.in(lf.data()));
  EXPECT_EQ(a.method_name.len, b.method_name.len);
  EXPECT_EQ(b[Hdr::kVia].off + 1, a[Hdr::kVia].off);
  // CR not followed by LF, and the message cut inside the line end.
  std::string cr = crlf;
  cr[line.size() + 1] = 'X';
  SipView c;
  EXPECT_EQ(scan(cr.data(), cr.size(), c), ScanStatus::kNotSip);  // the line runs to the next LF
  const ScanStatus cut_want[] = {ScanStatus::kBadVersion, ScanStatus::kTruncated,
                                 ScanStatus::kBadVersion, ScanStatus::kTruncated};
  for (size_t i = 0; i < 4; ++i) {
    const std::string cut = crlf.substr(0, line.size() - 1 + i);
    SipView d;
    EXPECT_EQ(scan(cut.data(), cut.size(), d), cut_want[i]) << i;
  }
  // Short messages (fewer than 16 bytes) never take the fast path.
  const std::string tiny = "A s:b SIP/2.0\r\n";
  SipView e;
  EXPECT_EQ(scan(tiny.data(), tiny.size(), e), ScanStatus::kTruncated);
  EXPECT_EQ(e.ruri.in(tiny.data()), "s:b");
}

TEST(SipScanFast, StatusLines) {
  const StartCase cases[] = {
      {"SIP/2.0 200 OK", ScanStatus::kOk, {}, {}, 200, "OK"},
      {"SIP/2.0 100 Trying", ScanStatus::kOk, {}, {}, 100, "Trying"},
      {"SIP/2.0 699 x", ScanStatus::kOk, {}, {}, 699, "x"},
      {"SIP/2.0 200 ", ScanStatus::kOk, {}, {}, 200, ""},
      {"SIP/2.0 200 Very long reason phrase, well past sixteen bytes",
       ScanStatus::kOk,
       {},
       {},
       200,
       "Very long reason phrase, well past sixteen bytes"},
      {"SIP/2.0 200 O\tK", ScanStatus::kOk, {}, {}, 200, "O\tK"},
      {"SIP/2.0 200 \xc3\xa9t\xc3\xa9", ScanStatus::kOk, {}, {}, 200, "\xc3\xa9t\xc3\xa9"},
      {"SIP/2.0 200", ScanStatus::kOk, {}, {}, 200, ""},  // the general path
      {"SIP/2.0 099 Low", ScanStatus::kBadStatus},
      {"SIP/2.0 700 High", ScanStatus::kBadStatus},
      {"SIP/2.0 2x0 Bad", ScanStatus::kBadStatus},
      {"SIP/2.0 2000 Long", ScanStatus::kBadStatus},
      {"SIP/2.0 20 Short", ScanStatus::kBadStatus},
      {"SIP/2.0 200\tOK", ScanStatus::kBadStatus},
      {"SIP/2.0 200 O\x01K", ScanStatus::kBadStartLine},
      {"SIP/2.0 200 O\x7fK", ScanStatus::kBadStartLine},
      {"SIP/2.0  200 OK", ScanStatus::kBadStatus},
      {"SIP/2.1 200 OK", ScanStatus::kBadVersion},
  };
  for (const StartCase& c : cases) {
    const std::string m = request(c.line);
    SipView v;
    ASSERT_EQ(scan(m.data(), m.size(), v), c.want) << c.line;
    if (c.want != ScanStatus::kOk) {
      continue;
    }
    EXPECT_FALSE(v.is_request) << c.line;
    EXPECT_EQ(v.status, c.status) << c.line;
    EXPECT_EQ(v.reason.in(m.data()), c.reason) << c.line;
    EXPECT_EQ(v.method, Method::kInvite) << c.line;  // from CSeq
  }
}

// --- CSeq ---------------------------------------------------------------------------------

TEST(SipScanFast, CSeqValues) {
  struct Case {
    std::string value;
    ScanStatus want;
    uint32_t num = 0;
    std::string_view method = {};
  } cases[] = {
      {"1 INVITE", ScanStatus::kOk, 1, "INVITE"},
      {"0 INVITE", ScanStatus::kOk, 0, "INVITE"},
      {"123456789 INVITE", ScanStatus::kOk, 123456789, "INVITE"},  // 16 bytes
      {"1234567890 INVITE", ScanStatus::kOk, 1234567890, "INVITE"},
      {"4294967295 INVITE", ScanStatus::kOk, 4294967295u, "INVITE"},
      {"4294967296 INVITE", ScanStatus::kBadCSeq},
      {"0000000000001 INVITE", ScanStatus::kOk, 1, "INVITE"},
      {"12345678 REGISTER", ScanStatus::kOk, 12345678, "REGISTER"},  // 17 bytes
      {"1234567 REGISTER", ScanStatus::kOk, 1234567, "REGISTER"},    // 16 bytes
      {"1 ABCDEFGHIJKLMN", ScanStatus::kOk, 1, "ABCDEFGHIJKLMN"},    // 16 bytes
      {"1 ABCDEFGHIJKLMNO", ScanStatus::kOk, 1, "ABCDEFGHIJKLMNO"},  // 17 bytes
      {"1 invite", ScanStatus::kOk, 1, "invite"},
      {"1 NEW-METHOD", ScanStatus::kOk, 1, "NEW-METHOD"},
      {"1 INVITE2", ScanStatus::kOk, 1, "INVITE2"},
      {"1  INVITE", ScanStatus::kOk, 1, "INVITE"},
      {"1\tINVITE", ScanStatus::kOk, 1, "INVITE"},
      {"1 A", ScanStatus::kOk, 1, "A"},
      {"1INVITE", ScanStatus::kBadCSeq},
      {"1 ", ScanStatus::kBadCSeq},  // trimmed to "1": no method
      {"1 INV ITE", ScanStatus::kBadCSeq},
      {"1 INV;ITE", ScanStatus::kBadCSeq},
      {"INVITE", ScanStatus::kBadCSeq},
      {" INVITE", ScanStatus::kBadCSeq},
      {"x1 INVITE", ScanStatus::kBadCSeq},
  };
  for (const Case& c : cases) {
    const std::string m = request("INVITE sip:b@example.com SIP/2.0", c.value);
    SipView v;
    ASSERT_EQ(scan(m.data(), m.size(), v), c.want) << c.value;
    if (c.want == ScanStatus::kOk) {
      EXPECT_EQ(v.cseq_num, c.num) << c.value;
      EXPECT_EQ(v.cseq_method.in(m.data()), c.method) << c.value;
      EXPECT_EQ(v.cseq_method_mismatch, c.method != "INVITE") << c.value;
    }
  }
}

// CSeq as the last header, its value against the message's end: the 16-byte load is then not
// allowed and the general code decides.
TEST(SipScanFast, CSeqAtTheEnd) {
  const std::string m = "INVITE sip:b SIP/2.0\r\n" + std::string(kRest) + "CSeq: 7 INVITE\r\n\r\n";
  SipView v;
  ASSERT_EQ(scan(m.data(), m.size(), v), ScanStatus::kOk);
  EXPECT_EQ(v.cseq_num, 7u);
  EXPECT_EQ(v.cseq_method.in(m.data()), "INVITE");
  EXPECT_FALSE(v.cseq_method_mismatch);
}

TEST(SipScanFast, MethodAgainstCSeq) {
  struct Case {
    std::string_view method;
    std::string_view cseq_method;
  } cases[] = {
      {"INVITE", "INVITE"},
      {"INVITE", "INVITF"},
      {"INVITE", "JNVITE"},
      {"INVITE", "INVIT"},
      {"ABCDEFGH", "ABCDEFGH"},
      {"ABCDEFGH", "ABCDEFGX"},
      {"ABCDEFGHI", "ABCDEFGHI"},
      {"ABCDEFGHI", "ABCDEFGHX"},
      {"A", "A"},
      {"A", "B"},
      {"invite", "INVITE"},
  };
  for (const Case& c : cases) {
    const std::string m =
        request(std::string(c.method) + " sip:b SIP/2.0", "2 " + std::string(c.cseq_method));
    SipView v;
    ASSERT_EQ(scan(m.data(), m.size(), v), ScanStatus::kOk) << c.method << c.cseq_method;
    EXPECT_EQ(v.cseq_method_mismatch, c.method != c.cseq_method) << c.method << c.cseq_method;
  }
}

// --- Content-Length and Max-Forwards digits -----------------------------------------------

TEST(SipScanFast, DigitRuns) {
  struct Case {
    std::string value;
    bool ok;
    uint32_t n = 0;
  } cases[] = {
      {"0", true, 0},
      {"7", true, 7},
      {"123456789", true, 123456789},
      {"1234567890", true, 1234567890},
      {"4294967295", true, 4294967295u},
      {"4294967296", false},
      {"000000000000000000000070", true, 70},
      {"12a", false},
      {"1 2", false},
      {"-1", false},
      {"+1", false},
  };
  for (const Case& c : cases) {
    // Max-Forwards: 0..255.
    std::string m = request("INVITE sip:b SIP/2.0");
    m.insert(m.find("Content-Length"), "Max-Forwards: " + c.value + "\r\n");
    SipView v;
    const bool mf_ok = c.ok && c.n <= 255;
    ASSERT_EQ(scan(m.data(), m.size(), v), mf_ok ? ScanStatus::kOk : ScanStatus::kBadMaxForwards)
        << c.value;
    if (mf_ok) {
      EXPECT_EQ(v.max_forwards, c.n) << c.value;
      EXPECT_EQ(v.max_forwards_value.in(m.data()), c.value) << c.value;
    }
    // Content-Length: the body must be there.
    std::string body(c.ok && c.n < 100 ? c.n : 0, 'b');
    std::string cl = request("INVITE sip:b SIP/2.0");
    cl.replace(cl.find("Content-Length: 0"), 17, "Content-Length: " + c.value);
    cl += body;
    SipView w;
    const ScanStatus s = scan(cl.data(), cl.size(), w);
    if (!c.ok) {
      EXPECT_EQ(s, ScanStatus::kBadContentLength) << c.value;
    } else if (c.n < 100) {
      ASSERT_EQ(s, ScanStatus::kOk) << c.value;
      EXPECT_EQ(w.content_length, c.n) << c.value;
      EXPECT_TRUE(w.has_content_length);
    } else {
      EXPECT_EQ(s, ScanStatus::kTruncated) << c.value;
    }
  }
}

// --- Via, against parse_via_at ------------------------------------------------------------

bool same(Span a, Span b) { return a.off == b.off && a.len == b.len; }

void expect_same_via(const Via& a, const Via& b, const std::string& what) {
  EXPECT_TRUE(same(a.value, b.value)) << what;
  EXPECT_TRUE(same(a.transport, b.transport)) << what;
  EXPECT_TRUE(same(a.host, b.host)) << what;
  EXPECT_TRUE(same(a.port, b.port)) << what;
  EXPECT_EQ(a.port_num, b.port_num) << what;
  EXPECT_TRUE(same(a.branch, b.branch)) << what;
  EXPECT_TRUE(same(a.received, b.received)) << what;
  EXPECT_TRUE(same(a.maddr, b.maddr)) << what;
  EXPECT_TRUE(same(a.ttl, b.ttl)) << what;
  EXPECT_TRUE(same(a.params, b.params)) << what;
  EXPECT_EQ(a.has_rport, b.has_rport) << what;
  EXPECT_TRUE(same(a.rport, b.rport)) << what;
  EXPECT_EQ(a.params_end, b.params_end) << what;
  EXPECT_TRUE(same(a.received_param, b.received_param)) << what;
  EXPECT_TRUE(same(a.rport_param, b.rport_param)) << what;
}

TEST(SipScanFast, ViaAgainstTheGeneralParser) {
  const std::string values[] = {
      "SIP/2.0/UDP 10.0.0.10:5060;branch=z9hG4bK-4242-1-0",
      "SIP/2.0/udp h;branch=z9hG4bK1",
      "SIP/2.0/Tcp h;branch=z9hG4bK1",
      "SIP/2.0/TLS h:5061;branch=z9hG4bK1",
      "sip/2.0/uDp h",
      "SIP/2.0/SCTP h;branch=z9hG4bK1",
      "SIP/2.0/WS h;branch=z9hG4bK1",
      "SIP/2.0/WSS h;branch=z9hG4bK1",
      "SIP/2.0/UD h",
      "SIP/2.0/UDPX h",
      "SIP/2.0/UDP  h",
      "SIP/2.0/UDP\th",
      "SIP/2.0/UD; h",
      "SIP/2.0/UDP",
      "SIP/2.0/UDP ",
      "SIP/2.0/UDP h:",
      "SIP/2.0/UDP h:0",
      "SIP/2.0/UDP h:1",
      "SIP/2.0/UDP h:12345",
      "SIP/2.0/UDP h:65535",
      "SIP/2.0/UDP h:65536",
      "SIP/2.0/UDP h:99999",
      "SIP/2.0/UDP h:123456",
      "SIP/2.0/UDP h:0000065535",
      "SIP/2.0/UDP h:5060x",
      "SIP/2.0/UDP h:5060 ;branch=z9hG4bK1",
      "SIP/2.0/UDP h:5060;rport;branch=z9hG4bK1",
      "SIP/2.0/UDP h:5060;rport=5060;received=192.0.2.1;branch=z9hG4bK1",
      "SIP/2.0/UDP h;RPORT=123456",
      "SIP/2.0/UDP h;ttl=255;maddr=224.0.0.1",
      "SIP/2.0/UDP h;TTL=256",
      "SIP/2.0/UDP h;BRANCH=z9hG4bKabcdefghijklmnopqrstuvwxyz0123456789",
      "SIP/2.0/UDP h;branch=",
      "SIP/2.0/UDP h;branch",
      "SIP/2.0/UDP h;branch;x=1",
      "SIP/2.0/UDP h;branchx=1",
      "SIP/2.0/UDP h;branc=1",
      "SIP/2.0/UDP h;branch=a;branch=b",
      "SIP/2.0/UDP h;branch=a b",
      "SIP/2.0/UDP h;branch==a",
      "SIP/2.0/UDP h;branch=1234567890123456",
      "SIP/2.0/UDP h;branch=123456789012345",
      "SIP/2.0/UDP h;branch=12345678901234567",
      "SIP/2.0/UDP h;brAnch=x,SIP/2.0/UDP g",
      "SIP/2.0/UDP h;received=192.0.2.1;branch=z9hG4bK1;rport",
      "SIP/2.0/UDP h;branch=\"quoted\"",
      "SIP/2.0/UDP [2001:db8::1]:5060;branch=z9hG4bK1",
      "SIP/2.0/UDP h;branch=z9hG4bK1, SIP/2.0/TCP g:5070;branch=z9hG4bK2",
      "SIP/2.0/UDP a-very-long-host-name.example.com:5060;branch=z9hG4bK776asdhds",
  };
  for (const std::string& val : values) {
    const std::string m = "INVITE sip:b SIP/2.0\r\nVia: " + val + "\r\n" +
                          std::string(kRest.substr(kRest.find("From"))) +
                          "CSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n";
    const size_t off = m.find("Via: ") + 4;  // the value, from the colon's next byte
    const size_t end = off + 1 + val.size();
    Via want;
    const size_t q = detail::parse_via_at(m.data(), off, end, want);
    SipView v;
    const ScanStatus s = scan(m.data(), m.size(), v);
    if (q > end) {
      EXPECT_EQ(s, ScanStatus::kBadVia) << val;
      continue;
    }
    ASSERT_EQ(s, ScanStatus::kOk) << val;
    expect_same_via(v.via1, want, val);
    if (q < end) {
      Via second;
      ASSERT_LE(detail::parse_via_at(m.data(), q + 1, end, second), end) << val;
      expect_same_via(v.via2, second, val);
      EXPECT_EQ(v.via_count, 2) << val;
    } else {
      EXPECT_EQ(v.via_count, 1) << val;
    }
  }
}

// --- From/To, against parse_name_addr -----------------------------------------------------

TEST(SipScanFast, TagAgainstTheGeneralParser) {
  const std::string values[] = {
      "<sip:a@example.com>;tag=1",
      "<sip:a@example.com>;TAG=1",
      "<sip:a@example.com>;Tag=abcdefghijklmnopqrstuvwxyz",
      "<sip:a@example.com>;tag=",
      "<sip:a@example.com>;tag",
      "<sip:a@example.com>;tagx=1",
      "<sip:a@example.com>;tag=1;tag=2",
      "<sip:a@example.com>;x=1;tag=2",
      "<sip:a@example.com>;tag=1 ;x=2",
      "<sip:a@example.com>;tag=\"q\"",
      "<sip:a@example.com>;tag=a,b",
      "<sip:a@example.com>;tag:1",
      "<sip:a@example.com>;ta=1",
      "<sip:a@example.com>;tag=1;",
      "sipp <sip:sipp@10.0.0.10:5060>;tag=4242SIPpTag001",
      "<sip:a@example.com>",
      "<sip:a@example.com>;",
  };
  for (const std::string& val : values) {
    const std::string m = "INVITE sip:b SIP/2.0\r\nVia: SIP/2.0/UDP h\r\nFrom: " + val +
                          "\r\nTo: " + val + "\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\n\r\n";
    const size_t off = m.find("From: ") + 6;
    const Span value{static_cast<uint16_t>(off), static_cast<uint16_t>(val.size())};
    NameAddr na;
    const bool ok = parse_name_addr(m.data(), value, na) && na.end == value.end();
    SipView v;
    const ScanStatus s = scan(m.data(), m.size(), v);
    if (!ok) {
      EXPECT_EQ(s, ScanStatus::kBadHeader) << val;
      continue;
    }
    ASSERT_EQ(s, ScanStatus::kOk) << val;
    EXPECT_TRUE(same(v.from_tag, na.tag)) << val;
    EXPECT_TRUE(same(v.from_uri, na.uri)) << val;
    EXPECT_EQ(v.to_tag.in(m.data()), na.tag.in(m.data())) << val;
  }
}

}  // namespace
}  // namespace viaduct::sip
