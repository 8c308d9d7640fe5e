// SPDX-License-Identifier: Apache-2.0
// tests/sip/sip_parse_test.cpp: parse_via, parse_uri and header_uri, table-driven.
#include <gtest/gtest.h>

#include <string>
#include <string_view>

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

}  // namespace
}  // namespace viaduct::sip
