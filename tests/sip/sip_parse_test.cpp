// SPDX-License-Identifier: Apache-2.0
// tests/sip/sip_parse_test.cpp: parse_via, parse_uri and header_uri, table-driven.
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <string_view>

#include "dataplane/sip/chars.hpp"  // parse_uri_general
#include "dataplane/sip/sip.hpp"

namespace viaduct::sip {
namespace {

Span whole(std::string_view s) { return Span{0, static_cast<uint16_t>(s.size())}; }

struct ViaCase {
  const char* name;
  std::string_view value;
  bool ok;
  std::string_view transport = {};
  std::string_view host = {};
  uint16_t port = 0;
  std::string_view branch = {};
  std::string_view received = {};
  bool has_rport = false;
  std::string_view rport = {};
  std::string_view trimmed = {};  // value after trimming; defaults to `value`
};

const ViaCase kVias[] = {
    {.name = "Minimal", .value = "SIP/2.0/UDP h", .ok = true, .transport = "UDP", .host = "h"},
    {.name = "PortAndBranch",
     .value = "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1",
     .ok = true,
     .transport = "UDP",
     .host = "10.0.0.1",
     .port = 5060,
     .branch = "z9hG4bK1"},
    {.name = "Ipv6HostWithPort",
     .value = "SIP/2.0/TCP [2001:db8::9:1]:5070;branch=z9hG4bKv6",
     .ok = true,
     .transport = "TCP",
     .host = "[2001:db8::9:1]",
     .port = 5070,
     .branch = "z9hG4bKv6"},
    {.name = "BareRport",
     .value = "SIP/2.0/UDP h;rport;branch=z9hG4bKr",
     .ok = true,
     .transport = "UDP",
     .host = "h",
     .branch = "z9hG4bKr",
     .has_rport = true},
    {.name = "RportWithValueAndReceived",
     .value = "SIP/2.0/UDP h:5062;received=192.0.2.7;rport=6000",
     .ok = true,
     .transport = "UDP",
     .host = "h",
     .port = 5062,
     .received = "192.0.2.7",
     .has_rport = true,
     .rport = "6000"},
    {.name = "ParamNamesCaseInsensitiveOthersSkipped",
     .value = "SIP/2.0/UDP h;TTL=1;Branch=z9hG4bKc;maddr=224.0.0.1;RPORT;x",
     .ok = true,
     .transport = "UDP",
     .host = "h",
     .branch = "z9hG4bKc",
     .has_rport = true},
    {.name = "LwsEverywhere",
     .value = "  SIP  /  2.0  /  TLS   h.example.com  :  5061  ;  branch  =  z9hG4bKw  ",
     .ok = true,
     .transport = "TLS",
     .host = "h.example.com",
     .port = 5061,
     .branch = "z9hG4bKw",
     .trimmed = "SIP  /  2.0  /  TLS   h.example.com  :  5061  ;  branch  =  z9hG4bKw"},
    {.name = "LowercaseProtocolName",
     .value = "sip/2.0/udp h",
     .ok = true,
     .transport = "udp",
     .host = "h"},
    {.name = "QuotedParamValue",
     .value = "SIP/2.0/UDP h;x=\"a;b\";branch=z9hG4bKq",
     .ok = true,
     .transport = "UDP",
     .host = "h",
     .branch = "z9hG4bKq"},
    {.name = "ReceivedIpv6",
     .value = "SIP/2.0/UDP h;received=2001:db8::1",
     .ok = true,
     .transport = "UDP",
     .host = "h",
     .received = "2001:db8::1"},
    {.name = "WrongVersion", .value = "SIP/2.1/UDP h", .ok = false},
    {.name = "NotSip", .value = "HTTP/2.0/UDP h", .ok = false},
    {.name = "NoTransport", .value = "SIP/2.0/ h", .ok = false},
    {.name = "NoHost", .value = "SIP/2.0/UDP", .ok = false},
    {.name = "NoSpaceBeforeHost", .value = "SIP/2.0/UDP;h", .ok = false},
    {.name = "PortTooLarge", .value = "SIP/2.0/UDP h:65536", .ok = false},
    {.name = "EmptyPort", .value = "SIP/2.0/UDP h:", .ok = false},
    {.name = "EmptyParam", .value = "SIP/2.0/UDP h;;branch=1", .ok = false},
    {.name = "EmptyParamValue", .value = "SIP/2.0/UDP h;branch=", .ok = false},
    {.name = "EmptyReceived", .value = "SIP/2.0/UDP h;received", .ok = false},
    {.name = "RportNotANumber", .value = "SIP/2.0/UDP h;rport=abc", .ok = false},
    {.name = "UnclosedIpv6", .value = "SIP/2.0/UDP [::1", .ok = false},
    {.name = "TrailingGarbage", .value = "SIP/2.0/UDP h x", .ok = false},
    {.name = "Empty", .value = "", .ok = false},
};

class ParseViaTest : public ::testing::TestWithParam<ViaCase> {};

TEST_P(ParseViaTest, Fields) {
  const ViaCase& c = GetParam();
  const char* m = c.value.data();
  Via via;
  ASSERT_EQ(parse_via(m, whole(c.value), via), c.ok);
  if (!c.ok) {
    return;
  }
  EXPECT_EQ(via.transport.in(m), c.transport);
  EXPECT_EQ(via.host.in(m), c.host);
  EXPECT_EQ(via.port_num, c.port);
  EXPECT_EQ(via.port.empty(), c.port == 0);
  EXPECT_EQ(via.branch.in(m), c.branch);
  EXPECT_EQ(via.received.in(m), c.received);
  EXPECT_EQ(via.has_rport, c.has_rport);
  EXPECT_EQ(via.rport.in(m), c.rport);
  const std::string_view trimmed = c.trimmed.empty() ? c.value : c.trimmed;
  EXPECT_EQ(via.value.in(m), trimmed);
  EXPECT_EQ(via.params_end, via.value.end());
  if (c.has_rport) {
    EXPECT_TRUE(via.rport_param.in(m).starts_with(";"));
  }
}

INSTANTIATE_TEST_SUITE_P(Cases, ParseViaTest, ::testing::ValuesIn(kVias),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(ParseVia, SpanInsideLargerMessage) {
  const std::string_view msg = "xxVia: SIP/2.0/UDP a:1;branch=z9hG4bKs, SIP/2.0/UDP b";
  Via via;
  const Span value{7, 31};
  ASSERT_EQ(value.in(msg.data()), "SIP/2.0/UDP a:1;branch=z9hG4bKs");
  ASSERT_TRUE(parse_via(msg.data(), value, via));
  EXPECT_EQ(via.host.in(msg.data()), "a");
  EXPECT_EQ(via.params_end, value.end());
}

struct UriCase {
  const char* name;
  std::string_view uri;
  bool ok;
  std::string_view scheme = {};
  std::string_view user = {};
  std::string_view password = {};
  std::string_view host = {};
  uint16_t port = 0;
  std::string_view params = {};
  std::string_view headers = {};
};

const UriCase kUris[] = {
    {.name = "HostOnly",
     .uri = "sip:example.com",
     .ok = true,
     .scheme = "sip",
     .host = "example.com"},
    {.name = "UserHostPort",
     .uri = "sip:alice@10.0.0.1:5070",
     .ok = true,
     .scheme = "sip",
     .user = "alice",
     .host = "10.0.0.1",
     .port = 5070},
    {.name = "SipsWithParamsAndHeaders",
     .uri = "sips:bob@example.com;transport=tls;lr?subject=hi&x=y",
     .ok = true,
     .scheme = "sips",
     .user = "bob",
     .host = "example.com",
     .params = "transport=tls;lr",
     .headers = "subject=hi&x=y"},
    {.name = "Password",
     .uri = "sip:carol:secret@example.com",
     .ok = true,
     .scheme = "sip",
     .user = "carol",
     .password = "secret",
     .host = "example.com"},
    {.name = "EscapedUser",
     .uri = "sip:sips%3Auser%40example.com@example.net",
     .ok = true,
     .scheme = "sip",
     .user = "sips%3Auser%40example.com",
     .host = "example.net"},
    {.name = "SemicolonInUser",  // RFC 4475 semiuri
     .uri = "sip:user;par=u%40example.net@example.com",
     .ok = true,
     .scheme = "sip",
     .user = "user;par=u%40example.net",
     .host = "example.com"},
    {.name = "Ipv6Host",
     .uri = "sip:[2001:db8::10]:5060;maddr=x",
     .ok = true,
     .scheme = "sip",
     .host = "[2001:db8::10]",
     .port = 5060,
     .params = "maddr=x"},
    {.name = "UpperCaseScheme",
     .uri = "SIP:a@B.example",
     .ok = true,
     .scheme = "SIP",
     .user = "a",
     .host = "B.example"},
    {.name = "Tel",
     .uri = "tel:+1-201-555-0123;phone-context=example.com",
     .ok = true,
     .scheme = "tel",
     .user = "+1-201-555-0123",
     .params = "phone-context=example.com"},
    {.name = "UnknownScheme", .uri = "http://example.com", .ok = false},
    {.name = "NoScheme", .uri = "alice@example.com", .ok = false},
    {.name = "EmptyUser", .uri = "sip:@example.com", .ok = false},
    {.name = "EmptyHost", .uri = "sip:alice@", .ok = false},
    {.name = "BadPort", .uri = "sip:a@h:99999", .ok = false},
    {.name = "Lws", .uri = "sip:a@h; lr", .ok = false},
    {.name = "GarbageAfterHost", .uri = "sip:a@h/x", .ok = false},
    {.name = "EmptyTel", .uri = "tel:", .ok = false},
};

class ParseUriTest : public ::testing::TestWithParam<UriCase> {};

TEST_P(ParseUriTest, Fields) {
  const UriCase& c = GetParam();
  const char* m = c.uri.data();
  Uri uri;
  ASSERT_EQ(parse_uri(m, whole(c.uri), uri), c.ok);
  if (!c.ok) {
    return;
  }
  EXPECT_EQ(uri.scheme.in(m), c.scheme);
  EXPECT_EQ(uri.user.in(m), c.user);
  EXPECT_EQ(uri.password.in(m), c.password);
  EXPECT_EQ(uri.host.in(m), c.host);
  EXPECT_EQ(uri.port_num, c.port);
  EXPECT_EQ(uri.params.in(m), c.params);
  EXPECT_EQ(uri.headers.in(m), c.headers);
}

INSTANTIATE_TEST_SUITE_P(Cases, ParseUriTest, ::testing::ValuesIn(kUris),
                         [](const auto& info) { return std::string(info.param.name); });

struct HeaderUriCase {
  const char* name;
  std::string_view value;
  std::string_view uri;  // empty: malformed
};

const HeaderUriCase kHeaderUris[] = {
    {"QuotedDisplayName", "\"Bob\" <sip:b@x>;tag=1", "sip:b@x"},
    {"TokenDisplayName", "Bob Smith <sip:b@x;lr>;tag=1", "sip:b@x;lr"},
    {"NoDisplayName", "<sip:b@x>", "sip:b@x"},
    {"NoSpaceBeforeAngle", "caller<sip:caller@example.com>;tag=3", "sip:caller@example.com"},
    {"AngleInsideQuotes", "\"a <b>\" <sip:c@d>", "sip:c@d"},
    {"EscapedQuoteInDisplay", "\"J \\\"R\\\"\" <sip:j@x>", "sip:j@x"},
    {"BareAddrSpecStopsAtSemicolon", "sip:a@b;tag=x", "sip:a@b"},
    {"BareAddrSpecWithLws", "  sip:a@b ; tag = x", "sip:a@b"},
    {"SpacesInsideAngles", "\"W\" < sip:t@example.org >", "sip:t@example.org"},
    {"UnterminatedQuote", "\"Mr. J. User <sip:j@example.com>", ""},
    {"MissingCloseAngle", "<sip:b@x", ""},
    {"QuotedDisplayWithoutAngles", "\"Bob\" sip:b@x", ""},
    {"EmptyAngles", "<>", ""},
    {"Empty", "", ""},
};

class HeaderUriTest : public ::testing::TestWithParam<HeaderUriCase> {};

TEST_P(HeaderUriTest, Uri) {
  const HeaderUriCase& c = GetParam();
  EXPECT_EQ(header_uri(c.value.data(), whole(c.value)).in(c.value.data()), c.uri);
}

INSTANTIATE_TEST_SUITE_P(Cases, HeaderUriTest, ::testing::ValuesIn(kHeaderUris),
                         [](const auto& info) { return std::string(info.param.name); });

// The issue's Via accessors beyond the ones the fast path reads: maddr, ttl, the other params.
TEST(ParseVia, MaddrTtlAndOtherParams) {
  const std::string v = "SIP/2.0/UDP 10.0.0.1:5060;ttl=16 ;maddr=224.2.0.1;branch=z9hG4bK1;x-y=z";
  Via via;
  ASSERT_TRUE(parse_via(v.data(), Span{0, static_cast<uint16_t>(v.size())}, via));
  EXPECT_EQ(via.ttl.in(v.data()), "16");
  EXPECT_EQ(via.maddr.in(v.data()), "224.2.0.1");
  EXPECT_EQ(via.branch.in(v.data()), "z9hG4bK1");
  EXPECT_EQ(via.params.in(v.data()), "ttl=16 ;maddr=224.2.0.1;branch=z9hG4bK1;x-y=z");
  for (const std::string bad : {"SIP/2.0/UDP h;ttl=256", "SIP/2.0/UDP h;ttl=x", "SIP/2.0/UDP h;ttl"}) {
    EXPECT_FALSE(parse_via(bad.data(), Span{0, static_cast<uint16_t>(bad.size())}, via)) << bad;
  }
  const std::string plain = "SIP/2.0/UDP h";
  ASSERT_TRUE(parse_via(plain.data(), Span{0, static_cast<uint16_t>(plain.size())}, via));
  EXPECT_TRUE(via.params.empty());
  EXPECT_TRUE(via.maddr.empty());
}

struct NameAddrCase {
  const char* name;
  std::string_view value;
  std::string_view display, uri, tag, params;
};

const NameAddrCase kNameAddr[] = {
    {"QuotedDisplay", "\"Bob Smith\" <sip:bob@example.com>;tag=a1;x=1", "Bob Smith",
     "sip:bob@example.com", "a1", "tag=a1;x=1"},
    {"QuotedDisplayWithEscape", "\"B\\\"ob\" <sip:b@x>", "B\\\"ob", "sip:b@x", "", ""},
    {"BareDisplay", "Bob <sip:bob@example.com>", "Bob", "sip:bob@example.com", "", ""},
    {"NoDisplay", "<sip:bob@example.com;transport=udp>;tag=9", "", "sip:bob@example.com;transport=udp",
     "9", "tag=9"},
    {"AddrSpec", "sip:bob@example.com;tag=z", "", "sip:bob@example.com", "z", "tag=z"},
    {"Tel", "<tel:+15551234>", "", "tel:+15551234", "", ""},
};

class NameAddrTest : public ::testing::TestWithParam<NameAddrCase> {};

TEST_P(NameAddrTest, Fields) {
  const NameAddrCase& c = GetParam();
  const std::string v(c.value);
  NameAddr na;
  ASSERT_TRUE(parse_name_addr(v.data(), Span{0, static_cast<uint16_t>(v.size())}, na));
  EXPECT_EQ(na.display.in(v.data()), c.display);
  EXPECT_EQ(na.uri.in(v.data()), c.uri);
  EXPECT_EQ(na.tag.in(v.data()), c.tag);
  EXPECT_EQ(na.params.in(v.data()), c.params);
  EXPECT_EQ(na.end, v.size());
}

INSTANTIATE_TEST_SUITE_P(Cases, NameAddrTest, ::testing::ValuesIn(kNameAddr),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(NameAddr, MalformedAndSecondValue) {
  NameAddr na;
  for (const std::string bad : {"\"Bob <sip:b@x>", "\"Bob\" sip:b@x", "<sip:b@x", "<>"}) {
    EXPECT_FALSE(parse_name_addr(bad.data(), Span{0, static_cast<uint16_t>(bad.size())}, na))
        << bad;
  }
  const std::string two = "<sip:a@x>, <sip:b@y>";
  ASSERT_TRUE(parse_name_addr(two.data(), Span{0, static_cast<uint16_t>(two.size())}, na));
  EXPECT_EQ(na.uri.in(two.data()), "sip:a@x");
  EXPECT_EQ(two[na.end], ',');
}

// ---- parse_uri's fast path for the common SIP URI (sip_parse.cpp fast_sip_uri) against the
// general parser: the same answer and the same spans, on the shapes it takes, the ones it hands
// over (tel, IPv6, longer than 64 bytes) and the malformed ones it must refuse itself.

// Once with only the URI readable (parse_uri copies it), once in place in a larger buffer whose
// next bytes are each of the bytes the fast path stops at (they must not count).
// Each time with every byte classifier of the fast path the CPU has (AVX2 32 bytes a step,
// pshufb where the CPU has SSSE3, SSE2 compares), and in place with exactly 64 bytes readable
// from the URI's start (the least it reads in place).
bool same_parse_with(std::string_view text, std::string& why);
bool same_parse(std::string_view text, std::string& why) {
  const bool cpu_avx2 = detail::uri_avx2;
  const bool cpu_ssse3 = detail::uri_ssse3;
  bool ok = true;
  struct Classifier {
    bool avx2;
    bool ssse3;
    const char* name;
  };
  for (const Classifier c : {Classifier{cpu_avx2, cpu_ssse3, " (AVX2)"},
                             Classifier{false, cpu_ssse3, " (pshufb)"},
                             Classifier{false, false, " (SSE2)"}}) {
    detail::uri_avx2 = c.avx2;
    detail::uri_ssse3 = c.ssse3;
    ok = ok && same_parse_with(text, why);
    if (!ok) {
      why += c.name;
      break;
    }
  }
  detail::uri_avx2 = cpu_avx2;
  detail::uri_ssse3 = cpu_ssse3;
  return ok;
}

bool same_parse_with(std::string_view text, std::string& why) {
  std::string buf(text);
  buf += "@:?;[ 5x\r\n";
  buf += std::string(64, ':');
  for (const size_t readable : {size_t{0}, size_t{64}, buf.size()}) {
    const Span all{0, static_cast<uint16_t>(text.size())};
    Uri fast;
    Uri ref;
    const bool ok = parse_uri(buf.data(), all, fast, readable);
    if (ok != detail::parse_uri_general(buf.data(), all, ref)) {
      why = readable == 0 ? "answer differs (copied)" : "answer differs (in place)";
      return false;
    }
    if (uri_valid(buf.data(), all, readable) != ok) {
      why = readable == 0 ? "uri_valid differs (copied)" : "uri_valid differs (in place)";
      return false;
    }
    auto same = [](Span a, Span b) { return a.off == b.off && a.len == b.len; };
    if (ok && !(same(fast.scheme, ref.scheme) && same(fast.user, ref.user) &&
                same(fast.password, ref.password) && same(fast.host, ref.host) &&
                same(fast.port, ref.port) && fast.port_num == ref.port_num &&
                same(fast.params, ref.params) && same(fast.headers, ref.headers))) {
      why = readable == 0 ? "spans differ (copied)" : "spans differ (in place)";
      return false;
    }
  }
  return true;
}

TEST(ParseUriFast, AgreesWithTheGeneralParser) {
  const std::string long_params(70, 'x');
  const std::string cases[] = {
      "sip:service@10.0.0.2:5060",
      "sip:10.0.0.2:5060",
      "sip:monitor@10.0.0.10",
      "sips:bob@example.com;transport=tls",
      "SIP:Bob@Example.COM:5061;lr?subject=x",
      "sIpS:a@b",
      "sip:a:pw@h",
      "sip:a:@h",               // empty password
      "sip::pw@h",              // empty user
      "sip:@h",
      "sip:a@",
      "sip:a@h:",
      "sip:a@h:0",
      "sip:a@h:65535",
      "sip:a@h:65536",
      "sip:a@h:000001",         // six digits
      "sip:a@h:00001",          // five digits
      "sip:a@h:5060x",
      "sip:a@h;",
      "sip:a@h?",
      "sip:a@h;a?b;c?d",
      "sip:a@h?x;y",
      "sip:a@h/x",
      "sip:a@h_1.example-x.org",
      "sip:user;par=u%40x@host",  // ';' in the user part
      "sip:a?b@host",
      "sip:a@b@c",
      "sip:a@h x",
      "sip:a@h\t",
      std::string("sip:a@h\x7f", 8),
      std::string("sip:a@\x01h", 8),
      std::string("sip:a@h\0", 8),
      "sip:\xc3\xa9@h",
      "sip:a@\xc3\xa9",
      "sip:[2001:db8::1]:5060",  // IPv6: the general parser
      "sip:a@[::1]",
      "tel:+1-201-555-0123",
      "tel:",
      "sipx:a@h",
      "si:a@h",
      "sip",
      "sip:",
      "sip:h",
      ":a@h",
      "sip:service@10.0.0.2:5060;transport=udp;user=phone;x=" + long_params,  // > 64 bytes
      std::string(4, 's') + ":abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz@host1234567",
  };
  for (const std::string& c : cases) {
    std::string why;
    EXPECT_TRUE(same_parse(c, why)) << why << ": " << c;
  }
  // Every length around the 16-byte steps and the 64-byte limit, and every byte value at every
  // position of a common URI (stops, classes, padding).
  const std::string base = "sip:alice.smith@pbx-01.example.org:5070;transport=udp?h=v";
  for (size_t n = 1; n <= base.size(); ++n) {
    std::string why;
    EXPECT_TRUE(same_parse(base.substr(0, n), why)) << why << ": " << base.substr(0, n);
  }
  for (size_t len : {size_t{5}, size_t{15}, size_t{16}, size_t{17}, size_t{20}, size_t{31},
                     size_t{32}, size_t{33}, size_t{48}, size_t{63}, size_t{64}, size_t{65}}) {
    std::string u = "sip:u@h.example.org:5060;a=" + std::string(80, 'b');
    u.resize(len);
    for (size_t i = 0; i < len; ++i) {
      for (int b = 0; b < 256; ++b) {
        std::string m = u;
        m[i] = static_cast<char>(b);
        std::string why;
        ASSERT_TRUE(same_parse(m, why)) << why << " at " << i << " byte " << b;
      }
    }
  }
}

// Every separator and class boundary byte at every position (and two of them at every pair of
// positions) of URIs around the 16-byte steps: user, password, host, port and params shapes.
TEST(ParseUriFast, SeparatorsEverywhere) {
  const std::string stops = "@:;?[]-._/09azAZ\x7f\x80 \t";
  const std::string bases[] = {
      "sip:sipp@10.0.0.10:5060",                       // 23: vm-bench's From
      "sip:service@10.0.0.2:5060",                     // 25: vm-bench's R-URI
      "sips:a:b@h.example.org:65535;x",                // 30
      "sip:a@pbx-01.example.org:5070;transport=udp",   // 43
      "sip:alice@host.example.org:12345;lr?x=y&z=w1",  // 44
      "sip:u@h:1",                                     // 9
      "sip:0123456789abcdef@example.com:5060;a=b?c=d",  // 46
  };
  for (const std::string& base : bases) {
    for (size_t i = 0; i < base.size(); ++i) {
      for (const char c : stops) {
        std::string m = base;
        m[i] = c;
        std::string why;
        ASSERT_TRUE(same_parse(m, why)) << why << ": " << m;
        for (size_t j = i + 1; j < base.size(); ++j) {
          for (const char d : {'@', ':', ';', '?'}) {
            std::string m2 = m;
            m2[j] = d;
            ASSERT_TRUE(same_parse(m2, why)) << why << ": " << m2;
          }
        }
      }
    }
    // Every length of it and of it padded to 64 bytes (the 16-byte steps' edges).
    std::string longer = base + ";p=" + std::string(64, 'v');
    for (size_t n = 1; n <= 66; ++n) {
      std::string why;
      ASSERT_TRUE(same_parse(longer.substr(0, n), why)) << why << ": " << longer.substr(0, n);
    }
  }
  // Ports of every length at every step edge: "sip:h:" padded so the digits straddle 16 and 32.
  for (size_t pad = 0; pad < 40; ++pad) {
    for (const std::string port : {"1", "65535", "65536", "99999", "123456", "0", "00080"}) {
      const std::string u = "sip:" + std::string(pad + 1, 'h') + ":" + port;
      std::string why;
      ASSERT_TRUE(same_parse(u, why)) << why << ": " << u;
      ASSERT_TRUE(same_parse(u + ";x", why)) << why << ": " << u << ";x";
    }
  }
}

// Generated URIs, mostly of the common shape with random parts and lengths up to past 64
// bytes (the 32-byte AVX2 step's edge included) and now and then a stray separator, control or
// high byte, each against the general parser with every classifier (same_parse). The seed is
// fixed: a failure repeats.
TEST(ParseUriFast, GeneratedUrisAgreeWithTheGeneralParser) {
  std::mt19937_64 rng(20261123);
  const auto pick = [&rng](std::string_view from) {
    return from[static_cast<size_t>(rng() % from.size())];
  };
  const auto run = [&](std::string_view alphabet, size_t max_len) {
    std::string out;
    const size_t n = static_cast<size_t>(rng() % (max_len + 1));
    for (size_t i = 0; i < n; ++i) {
      out += pick(alphabet);
    }
    return out;
  };
  const std::string_view user_chars = "abcdefxyzABCZ0123456789-_.!~*'()&=+$,;?/%";
  const std::string_view host_chars = "abcdefxyzABCZ0123456789-._";
  const std::string_view any_stop = "@:;?[]-._/09azAZ \t\r\n\x7f\x80\xff\x01\"<>";
  int parsed = 0;
  for (int i = 0; i < 200000; ++i) {
    std::string u = rng() % 8 == 0 ? "sips:" : (rng() % 16 == 0 ? "SIP:" : "sip:");
    if (rng() % 4 != 0) {
      u += run(user_chars, 20);
      if (rng() % 6 == 0) {
        u += ':' + run(user_chars, 8);
      }
      u += '@';
    }
    u += run(host_chars, 30);
    if (rng() % 2 == 0) {
      u += ':' + run("0123456789", 6);
    }
    if (rng() % 3 == 0) {
      u += ';' + run("abcdefghijklmnopqrstuvwxyz=;-", 24);
    }
    if (rng() % 6 == 0) {
      u += '?' + run("abcxyz=&;?", 12);
    }
    if (rng() % 5 == 0 && !u.empty()) {
      u[static_cast<size_t>(rng() % u.size())] = pick(any_stop);
    }
    std::string why;
    ASSERT_TRUE(same_parse(u, why)) << why << ": " << u;
    Uri ref;
    parsed += detail::parse_uri_general(u.data(), Span{0, static_cast<uint16_t>(u.size())}, ref);
  }
  // The generator reaches both answers often.
  EXPECT_GT(parsed, 50000);
  EXPECT_LT(parsed, 190000);
}

TEST(ParseUriFast, FieldsOfTheCommonForms) {
  const std::string u = "sip:service@10.0.0.2:5060;transport=udp?x=1";
  Uri uri;
  ASSERT_TRUE(parse_uri(u.data(), Span{0, static_cast<uint16_t>(u.size())}, uri));
  EXPECT_EQ(uri.scheme.in(u.data()), "sip");
  EXPECT_EQ(uri.user.in(u.data()), "service");
  EXPECT_EQ(uri.host.in(u.data()), "10.0.0.2");
  EXPECT_EQ(uri.port.in(u.data()), "5060");
  EXPECT_EQ(uri.port_num, 5060);
  EXPECT_EQ(uri.params.in(u.data()), "transport=udp");
  EXPECT_EQ(uri.headers.in(u.data()), "x=1");
  // Inside a larger buffer: spans are offsets of that buffer, bytes around are not read as URI.
  const std::string m = "To: <sip:b@x.org:5080>\r\n";
  ASSERT_TRUE(parse_uri(m.data(), Span{5, 16}, uri));
  EXPECT_EQ(uri.host.in(m.data()), "x.org");
  EXPECT_EQ(uri.port_num, 5080);
  EXPECT_FALSE(parse_uri(m.data(), Span{5, 0}, uri));
}

}  // namespace
}  // namespace viaduct::sip
