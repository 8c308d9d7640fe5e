// SPDX-License-Identifier: Apache-2.0
// dispatcher.list: valid lines of every shape and each malformed field, with its location.
#include "cfg/dslist.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "test_util.hpp"

namespace viaduct::cfg {
namespace {

using test::brief;

struct ValidCase {
  const char* name;
  const char* line;
  int set;
  const char* host;
  uint16_t port;
  Proto proto;
  uint32_t flags;
  int priority;
  const char* attrs;
};

const ValidCase kValid[] = {
    {"Minimal", "1 sip:10.0.0.1", 1, "10.0.0.1", 5060, Proto::kUdp, 0, 0, ""},
    {"Port", "2 sip:10.0.0.1:5070", 2, "10.0.0.1", 5070, Proto::kUdp, 0, 0, ""},
    {"AllFields", "3 sip:10.0.0.1:5060 8 10 duid=a;weight=50", 3, "10.0.0.1", 5060, Proto::kUdp, 8,
     10, "duid=a;weight=50"},
    {"HexFlags", "1 sip:10.0.0.1 0x12 0", 1, "10.0.0.1", 5060, Proto::kUdp, 18, 0, ""},
    {"TransportTcp", "1 sip:10.0.0.1;transport=tcp", 1, "10.0.0.1", 5060, Proto::kTcp, 0, 0, ""},
    {"TransportTlsUpper", "1 sip:10.0.0.1:5071;TRANSPORT=TLS;lr", 1, "10.0.0.1", 5071, Proto::kTls,
     0, 0, ""},
    {"Sips", "1 sips:proxy.example.com", 1, "proxy.example.com", 5061, Proto::kTls, 0, 0, ""},
    {"Ipv6", "1 sip:[2001:db8::1]:5080", 1, "2001:db8::1", 5080, Proto::kUdp, 0, 0, ""},
    {"Ipv6NoPort", "1 sip:[::1]", 1, "::1", 5060, Proto::kUdp, 0, 0, ""},
    {"UserPart", "1 sip:lb@10.0.0.1:5062", 1, "10.0.0.1", 5062, Proto::kUdp, 0, 0, ""},
    {"Tabs", "\t7\tsip:gw-1.example.net\t\t1\t2\tx=1", 7, "gw-1.example.net", 5060, Proto::kUdp, 1,
     2, "x=1"},
    {"TrailingComment", "1 sip:10.0.0.1 0 0 # backup", 1, "10.0.0.1", 5060, Proto::kUdp, 0, 0, ""},
    {"SetZero", "0 sip:10.0.0.1", 0, "10.0.0.1", 5060, Proto::kUdp, 0, 0, ""},
};

class DsValidTest : public ::testing::TestWithParam<ValidCase> {};

TEST_P(DsValidTest, Parses) {
  const ValidCase& c = GetParam();
  std::vector<DsDestination> out;
  Diagnostics d;
  ASSERT_TRUE(parse_dispatcher_list(c.line, "d.list", out, d)) << test::joined(d);
  ASSERT_EQ(out.size(), 1u);
  const DsDestination& x = out[0];
  EXPECT_EQ(x.set, c.set);
  EXPECT_EQ(x.host, c.host);
  EXPECT_EQ(x.port, c.port);
  EXPECT_EQ(x.proto, c.proto);
  EXPECT_EQ(x.flags, c.flags);
  EXPECT_EQ(x.priority, c.priority);
  EXPECT_EQ(x.attrs, c.attrs);
  EXPECT_EQ(x.line, 1u);
}

INSTANTIATE_TEST_SUITE_P(Cases, DsValidTest, ::testing::ValuesIn(kValid),
                         [](const auto& info) { return std::string(info.param.name); });

struct BadCase {
  const char* name;
  const char* text;
  std::vector<std::string> errors;
};

const BadCase kBad[] = {
    {"BadSetId", "x sip:10.0.0.1", {"1:1: bad set id 'x' (a non-negative integer)"}},
    {"NegativeSetId", "-1 sip:10.0.0.1", {"1:1: bad set id '-1' (a non-negative integer)"}},
    {"MissingUri", "\n  1  ", {"2:6: missing destination URI"}},
    {"NotSip",
     "1 http://x",
     {"1:3: bad destination URI 'http://x': the URI must start with sip: or sips:"}},
    {"BadHost",
     "1 sip:10.0.0.256",
     {"1:3: bad destination URI 'sip:10.0.0.256': bad host '10.0.0.256'"}},
    {"EmptyHost", "1 sip::5060", {"1:3: bad destination URI 'sip::5060': missing host"}},
    {"BadPort", "1 sip:10.0.0.1:0", {"1:3: bad destination URI 'sip:10.0.0.1:0': bad port '0'"}},
    {"BadIpv6",
     "1 sip:[zz::1]",
     {"1:3: bad destination URI 'sip:[zz::1]': 'zz::1' is not an IPv6 address"}},
    {"BadTransport",
     "1 sip:a;transport=sctp",
     {"1:3: bad destination URI 'sip:a;transport=sctp': unsupported transport 'sctp' (udp, tcp or "
      "tls)"}},
    {"BadFlags", "1 sip:a 0xZZ", {"1:9: bad flags '0xZZ' (decimal or 0x hex)"}},
    {"BadPriority", "1 sip:a 0 -5", {"1:11: bad priority '-5' (a non-negative integer)"}},
    {"ExtraField",
     "1 sip:a 0 0 a=1 b=2",
     {"1:17: unexpected 'b=2' after the attributes (attributes are one word: duid=a;weight=50)"}},
    {"BadWeight",
     "1 sip:a 0 0 duid=x;weight=abc",
     {"1:20: bad attributes: bad weight 'abc' (0..1000000)"}},
    {"WeightTooLarge",
     "1 sip:a 0 0 rweight=1000001",
     {"1:13: bad attributes: bad rweight '1000001' (0..1000000)"}},
    {"BadLatency",
     "1 sip:a 0 0 latency=-3",
     {"1:13: bad attributes: bad latency '-3' (milliseconds)"}},
    {"UnterminatedQuote",
     "1 sip:a 0 0 duid=\"abc",
     {"1:18: bad attributes: unterminated quoted value"}},
    {"AllErrorsReported",
     "# header\nx sip:a\n1 sip:a\n2 ftp:a\n",
     {"2:1: bad set id 'x' (a non-negative integer)",
      "4:3: bad destination URI 'ftp:a': the URI must start with sip: or sips:"}},
};

class DsBadTest : public ::testing::TestWithParam<BadCase> {};

TEST_P(DsBadTest, Errors) {
  const BadCase& c = GetParam();
  std::vector<DsDestination> out;
  Diagnostics d;
  EXPECT_FALSE(parse_dispatcher_list(c.text, "d.list", out, d));
  EXPECT_EQ(brief(d), c.errors);
  for (const Diagnostic& x : d) {
    EXPECT_EQ(x.file, "d.list");
  }
}

INSTANTIATE_TEST_SUITE_P(Cases, DsBadTest, ::testing::ValuesIn(kBad),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(DsList, SpecialAttributesAreParsedAndTheStringKept) {
  std::vector<DsDestination> out;
  Diagnostics d;
  ASSERT_TRUE(parse_dispatcher_list(
      "1 sip:10.0.0.1 0 5 DUID=gw1;Weight=250;rweight=7;latency=40;cc=1;socket=udp:1.2.3.4:5060;\n"
      "1 sip:10.0.0.2 0 0 duid=\"a;b\";x=1;ping_from=sip:probe@lb.example\n"
      "1 sip:10.0.0.3\n",
      "d.list", out, d))
      << test::joined(d);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0].duid, "gw1");
  EXPECT_EQ(out[0].weight, 250u);  // beyond Kamailio's 100: viaduct's weights are exact
  EXPECT_EQ(out[0].rweight, 7u);
  EXPECT_EQ(out[0].latency, 40);
  EXPECT_TRUE(out[0].congestion_control);
  // As written but for the trailing ';', which Kamailio 5.6.3 drops too (differential script 34).
  EXPECT_EQ(out[0].attrs, "DUID=gw1;Weight=250;rweight=7;latency=40;cc=1;socket=udp:1.2.3.4:5060");
  EXPECT_EQ(out[0].socket, "udp:1.2.3.4:5060");
  EXPECT_EQ(out[1].duid, "a;b");
  EXPECT_EQ(out[1].ping_from, "sip:probe@lb.example");
  EXPECT_EQ(out[1].socket, "");
  EXPECT_EQ(out[1].weight, 0u);
  EXPECT_EQ(out[1].attrs, "duid=\"a;b\";x=1;ping_from=sip:probe@lb.example");
  EXPECT_EQ(out[2].weight, 0u);
  EXPECT_FALSE(out[2].congestion_control);
}

TEST(DsList, FileWithCommentsAndBlankLines) {
  std::vector<DsDestination> out;
  Diagnostics d;
  ASSERT_TRUE(load_dispatcher_list(VD_TEST_DATA "/dispatcher.list", out, d)) << test::joined(d);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0].uri, "sip:10.0.0.10:5060");
  EXPECT_EQ(out[0].attrs, "duid=a;weight=50");
  EXPECT_EQ(out[0].line, 2u);
  EXPECT_EQ(out[1].priority, 1);
  EXPECT_EQ(out[2].set, 2);
  EXPECT_EQ(out[2].host, "2001:db8::1");
  EXPECT_EQ(out[2].port, 5070);
}

TEST(DsList, EmptyAndCrlf) {
  std::vector<DsDestination> out;
  Diagnostics d;
  EXPECT_TRUE(parse_dispatcher_list("", "d.list", out, d));
  EXPECT_TRUE(out.empty());
  EXPECT_TRUE(parse_dispatcher_list("# only\r\n\r\n1 sip:10.0.0.1\r\n", "d.list", out, d));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].line, 3u);
  EXPECT_EQ(out[0].host, "10.0.0.1");
}

TEST(DsList, MissingFile) {
  std::vector<DsDestination> out;
  Diagnostics d;
  EXPECT_FALSE(load_dispatcher_list(VD_TEST_DATA "/nope.list", out, d));
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].line, 0u);
}

}  // namespace
}  // namespace viaduct::cfg
