// SPDX-License-Identifier: Apache-2.0
// Settings (TOML): the full schema, defaults, and errors with their line and column.
#include "cfg/settings.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "test_util.hpp"

namespace viaduct::cfg {
namespace {

using test::brief;

constexpr const char* kMinimal =
    "[dpdk]\n"
    "eal_args = [\"--no-huge\"]\n"
    "[[interface]]\n"
    "port = \"net_af_packet0\"\n"
    "address = \"10.0.0.2\"\n";

TEST(Settings, FullFile) {
  Settings s;
  Diagnostics d;
  ASSERT_TRUE(load_settings(VD_TEST_DATA "/settings.toml", s, d)) << test::joined(d);
  EXPECT_EQ(s.eal_args.size(), 7u);
  EXPECT_EQ(s.eal_args[4], "--vdev=net_af_packet0,iface=veth0");
  EXPECT_EQ(s.worker_lcores, std::vector<uint32_t>{1});
  EXPECT_EQ(s.mbufs, 8191u);
  EXPECT_EQ(s.burst, 32);
  ASSERT_EQ(s.interfaces.size(), 1u);
  const InterfaceSettings& i = s.interfaces[0];
  EXPECT_EQ(i.port, "net_af_packet0");
  EXPECT_EQ(i.address, "10.0.0.2/24");
  EXPECT_EQ(i.ip_be, htonl(0x0a000002));
  EXPECT_EQ(i.prefix_len, 24);
  EXPECT_EQ(i.gateway, "10.0.0.1");
  EXPECT_EQ(i.gateway_be, htonl(0x0a000001));
  EXPECT_EQ(i.mtu, 1500);
  EXPECT_EQ(s.metrics_listen, "127.0.0.1:9464");
}

TEST(Settings, Defaults) {
  Settings s;
  Diagnostics d;
  ASSERT_TRUE(parse_settings(kMinimal, "s.toml", s, d)) << test::joined(d);
  EXPECT_TRUE(s.worker_lcores.empty());
  EXPECT_EQ(s.mbufs, 8191u);
  EXPECT_EQ(s.mbuf_data_room, 2176);
  EXPECT_EQ(s.burst, 32);
  EXPECT_EQ(s.interfaces[0].prefix_len, 32);
  EXPECT_EQ(s.interfaces[0].gateway_be, 0u);
  EXPECT_EQ(s.interfaces[0].mtu, 1500);
  EXPECT_EQ(s.metrics_listen, "127.0.0.1:9464");
}

TEST(Settings, Neighbours) {
  Settings s;
  Diagnostics d;
  ASSERT_TRUE(parse_settings(std::string(kMinimal) +
                                 "[neighbours]\ntimeout = 60\nhold = 1\n"
                                 "static = [ { address = \"10.0.0.9\", "
                                 "mac = \"02:00:00:0A:0b:09\" } ]\n",
                             "s.toml", s, d))
      << test::joined(d);
  EXPECT_EQ(s.neighbour_timeout, 60u);
  EXPECT_EQ(s.neighbour_hold, 1u);
  ASSERT_EQ(s.static_neighbours.size(), 1u);
  EXPECT_EQ(s.static_neighbours[0].ip_be, htonl(0x0a000009));
  EXPECT_EQ(s.static_neighbours[0].mac[3], 0x0a);
  EXPECT_EQ(s.static_neighbours[0].mac[5], 0x09);
  Settings dflt;
  ASSERT_TRUE(parse_settings(kMinimal, "s.toml", dflt, d));
  EXPECT_EQ(dflt.neighbour_timeout, 300u);
  EXPECT_EQ(dflt.neighbour_hold, 3u);  // the kernel's three solicitations a second apart
  EXPECT_FALSE(parse_settings(std::string(kMinimal) + "[neighbours]\nhold = 61\n", "s.toml", s, d));
  EXPECT_TRUE(dflt.static_neighbours.empty());
  EXPECT_FALSE(parse_settings(std::string(kMinimal) +
                                  "[neighbours]\nstatic = [ { address = \"10.0.0.9\", mac = \"02:00\" } ]\n",
                              "s.toml", s, d));
  EXPECT_NE(test::joined(d).find("'mac' must be six hex bytes"), std::string::npos);
}

// Settings `viaduct -c` accepted that fail at start or misroute: a worker lcore listed twice,
// the API on the metrics endpoint, a gateway or static neighbour that is our own address, a
// static MAC that is zero or multicast. Each is an error at its place.
TEST(Settings, WhatCannotWorkIsRefusedWhereItIsWritten) {
  const auto refused = [](const std::string& text, const std::string& why) {
    Settings s;
    Diagnostics d;
    EXPECT_FALSE(parse_settings(text, "s.toml", s, d)) << text;
    EXPECT_NE(test::joined(d).find(why), std::string::npos) << test::joined(d);
  };
  refused("[dpdk]\neal_args = [\"--no-huge\"]\nworkers = [1, 1]\n[[interface]]\n"
          "port = \"p\"\naddress = \"10.0.0.2/24\"\n",
          "s.toml:3:15: error: worker lcore 1 is listed twice");
  refused(std::string(kMinimal) + "[metrics]\nlisten = \"127.0.0.1:9000\"\n"
          "[management]\nlisten = \"127.0.0.1:9000\"\n",
          "s.toml:9:10: error: [management] listen 127.0.0.1:9000 is also [metrics] listen");
  refused("[dpdk]\neal_args = [\"--no-huge\"]\n[[interface]]\nport = \"p\"\n"
          "address = \"10.0.0.2/24\"\ngateway = \"10.0.0.2\"\n",
          "gateway 10.0.0.2 is the interface's own address");
  for (const char* mac : {"ff:ff:ff:ff:ff:ff", "00:00:00:00:00:00", "01:00:5e:00:00:01"}) {
    refused(std::string(kMinimal) + "[neighbours]\nstatic = [ { address = \"10.0.0.9\", mac = \"" +
                mac + "\" } ]\n",
            "'mac' must be a unicast MAC address");
  }
  refused(std::string(kMinimal) +
              "[neighbours]\nstatic = [ { address = \"10.0.0.2\", mac = \"02:00:00:00:00:09\" } ]\n",
          "static neighbour 10.0.0.2 is an interface's own address");
  Settings s;
  Diagnostics d;
  EXPECT_TRUE(parse_settings("[dpdk]\neal_args = [\"--no-huge\"]\nworkers = [1, 2]\n"
                             "[[interface]]\nport = \"p\"\naddress = \"10.0.0.2/24\"\n"
                             "gateway = \"10.0.0.1\"\n",
                             "s.toml", s, d))
      << test::joined(d);
}

TEST(Settings, Ipv6AddressGatewayAndStaticNeighbour) {
  Settings s;
  Diagnostics d;
  ASSERT_TRUE(parse_settings(std::string(kMinimal) +
                                 "address6 = \"2001:DB8::2/56\"\ngateway6 = \"fe80::1\"\n"
                                 "[[interface]]\nport = \"p1\"\naddress = \"10.1.0.2\"\n"
                                 "address6 = \"2001:db8:1::2\"\n"
                                 "[neighbours]\nstatic = [ { address = \"2001:db8::9\", "
                                 "mac = \"02:00:00:00:00:09\" } ]\n",
                             "s.toml", s, d))
      << test::joined(d);
  ASSERT_EQ(s.interfaces.size(), 2u);
  const InterfaceSettings& i = s.interfaces[0];
  EXPECT_EQ(i.address6, "2001:DB8::2/56");
  const uint8_t want[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};
  EXPECT_EQ(0, std::memcmp(i.ip6, want, 16));
  EXPECT_EQ(i.prefix6_len, 56);
  EXPECT_EQ(i.gateway6, "fe80::1");
  EXPECT_EQ(i.gateway6_ip[0], 0xfe);
  EXPECT_EQ(i.gateway6_ip[15], 1);
  EXPECT_EQ(s.interfaces[1].prefix6_len, 64);  // the default prefix length
  EXPECT_EQ(s.interfaces[1].ip6[5], 1);
  ASSERT_EQ(s.static_neighbours.size(), 1u);
  EXPECT_TRUE(s.static_neighbours[0].v6);
  EXPECT_EQ(s.static_neighbours[0].ip_be, 0u);
  EXPECT_EQ(s.static_neighbours[0].ip6[15], 9);
  // No IPv6 unless asked for.
  Settings plain;
  ASSERT_TRUE(parse_settings(kMinimal, "s.toml", plain, d));
  EXPECT_TRUE(plain.interfaces[0].address6.empty());
}

TEST(Settings, VlansShareAPort) {
  Settings s;
  Diagnostics d;
  ASSERT_TRUE(parse_settings("[dpdk]\neal_args = []\n"
                             "[[interface]]\nport = \"p\"\naddress = \"10.0.0.1/24\"\n"
                             "[[interface]]\nport = \"p\"\naddress = \"10.1.0.1/24\"\nvlan = 100\n",
                             "s.toml", s, d))
      << test::joined(d);
  ASSERT_EQ(s.interfaces.size(), 2u);
  EXPECT_EQ(s.interfaces[0].vlan, 0);
  EXPECT_EQ(s.interfaces[1].vlan, 100);
}

TEST(Settings, MetricsDisabledAndTwoInterfaces) {
  Settings s;
  Diagnostics d;
  const std::string text = std::string(kMinimal) +
                           "[[interface]]\nport = \"0000:00:08.0\"\naddress = \"192.168.1.1/16\"\n"
                           "gateway = \"192.168.200.1\"\nmtu = 9000\nrx_queues = 2\n"
                           "[metrics]\nlisten = \"\"\n";
  ASSERT_TRUE(parse_settings(text, "s.toml", s, d)) << test::joined(d);
  ASSERT_EQ(s.interfaces.size(), 2u);
  EXPECT_EQ(s.interfaces[1].prefix_len, 16);
  EXPECT_EQ(s.interfaces[1].mtu, 9000);
  EXPECT_EQ(s.interfaces[1].rx_queues, 2);
  EXPECT_EQ(s.metrics_listen, "");
}

struct BadCase {
  const char* name;
  const char* text;
  std::vector<std::string> errors;
};

const BadCase kBad[] = {
    {"TomlSyntax",
     "[dpdk]\neal_args = [\"a\"\n",
     {"3:1: Error while parsing array: encountered end-of-file"}},  // toml++: 2:17
    {"UnknownTopKey",
     "[dpdk]\neal_args = []\n[[interface]]\nport = \"p\"\naddress = \"10.0.0.1\"\n[extra]\nx = 1\n",
     {"6:2: unknown key 'extra'"}},
    {"UnknownDpdkKey",
     "[dpdk]\neal_args = []\nhuge = true\n[[interface]]\nport = \"p\"\naddress = \"10.0.0.1\"\n",
     {"3:1: unknown key 'huge' in [dpdk]"}},
    {"UnknownInterfaceKey",
     "[dpdk]\neal_args = []\n[[interface]]\nport = \"p\"\naddress = \"10.0.0.1\"\nvrf = 3\n",
     {"6:1: unknown key 'vrf' in [[interface]]"}},
    {"MissingEalArgs",
     "[dpdk]\nburst = 8\n[[interface]]\nport = \"p\"\naddress = \"10.0.0.1\"\n",
     {"1:1: missing 'eal_args' in [dpdk]"}},
    {"MissingDpdk",
     "[[interface]]\nport = \"p\"\naddress = \"10.0.0.1\"\n",
     {"0:0: missing [dpdk] table (eal_args is required)"}},
    {"EalArgsType",
     "[dpdk]\neal_args = [\"a\", 1]\n[[interface]]\nport = \"p\"\naddress = \"10.0.0.1\"\n",
     {"2:18: 'eal_args' must be an array of strings"}},
    {"BurstRange",
     "[dpdk]\neal_args = []\nburst = 512\n[[interface]]\nport = \"p\"\naddress = \"10.0.0.1\"\n",
     {"3:9: 'burst' must be 1..256, not 512"}},
    {"ExceptionTapName",
     "[dpdk]\neal_args = []\n[[interface]]\nport = \"p\"\naddress = \"10.0.0.1\"\n"
     "exception_tap = \"a name that is far too long\"\n",
     {"6:17: 'exception_tap' must be an interface name of 1..15 characters without spaces, '/', "
      "',', '=' or ':', not \"a name that is far too long\""}},
    {"VlanRange",
     "[dpdk]\neal_args = []\n[[interface]]\nport = \"p\"\naddress = \"10.0.0.1\"\nvlan = 4095\n",
     {"6:8: 'vlan' must be 1..4094, not 4095"}},
    {"SamePortSameVlanTwice",
     "[dpdk]\neal_args = []\n[[interface]]\nport = \"p\"\naddress = \"10.0.0.1\"\n"
     "[[interface]]\nport = \"p\"\naddress = \"10.0.1.1\"\n",
     {"7:8: port p (untagged) is already an [[interface]]; give each one its own vlan"}},
    {"MbufDataRoomRange",
     "[dpdk]\neal_args = []\nmbuf_data_room = 512\n[[interface]]\nport = \"p\"\naddress = \"10.0.0.1\"\n",
     {"3:18: 'mbuf_data_room' must be 1024..65535, not 512"}},
    {"BurstType",
     "[dpdk]\neal_args = []\nburst = \"32\"\n[[interface]]\nport = \"p\"\naddress = \"10.0.0.1\"\n",
     {"3:9: 'burst' must be an integer"}},
    {"NoInterface", "[dpdk]\neal_args = []\n", {"0:0: at least one [[interface]] is required"}},
    {"MissingPortAndAddress",
     "[dpdk]\neal_args = []\n[[interface]]\nmtu = 1500\n",
     {"3:1: missing 'port' in [[interface]]", "3:1: missing 'address' in [[interface]]"}},
    {"BadAddress",
     "[dpdk]\neal_args = []\n[[interface]]\nport = \"p\"\naddress = \"10.0.0.1/33\"\n",
     {"5:11: 'address' must be an IPv4 address with an optional prefix length (\"10.0.0.2/24\"), "
      "not \"10.0.0.1/33\""}},
    {"GatewayOutsideSubnet",
     "[dpdk]\neal_args = []\n[[interface]]\nport = \"p\"\naddress = \"10.0.0.2/24\"\ngateway = "
     "\"10.0.1.1\"\n",
     {"6:11: gateway 10.0.1.1 is outside the interface subnet 10.0.0.2/24"}},
    {"GatewayNotIpv4",
     "[dpdk]\neal_args = []\n[[interface]]\nport = \"p\"\naddress = \"10.0.0.2/24\"\ngateway = "
     "\"::1\"\n",
     {"6:11: 'gateway' must be an IPv4 address, not \"::1\""}},
    {"BadAddress6Prefix",
     "[dpdk]\neal_args = []\n[[interface]]\nport = \"p\"\naddress = \"10.0.0.1\"\n"
     "address6 = \"2001:db8::2/129\"\n",
     {"6:12: 'address6' must be a unicast, non-link-local IPv6 address with an optional prefix "
      "length (\"2001:db8::2/64\"), not \"2001:db8::2/129\""}},
    // A long tail after the '/' (cfg_fuzz found this one): an error, no signed overflow
    // (UBSan) from reading every character as a digit.
    {"BadAddressPrefixTail",
     "[dpdk]\neal_args = []\n[[interface]]\nport = \"p\"\naddress = \"10.0.0.1/6.0.1>80809\"\n",
     {"5:11: 'address' must be an IPv4 address with an optional prefix length (\"10.0.0.2/24\"), "
      "not \"10.0.0.1/6.0.1>80809\""}},
    {"BadAddress6PrefixTail",
     "[dpdk]\neal_args = []\n[[interface]]\nport = \"p\"\naddress = \"10.0.0.1\"\n"
     "address6 = \"2001:db8::2/6.0.1>8080\"\n",
     {"6:12: 'address6' must be a unicast, non-link-local IPv6 address with an optional prefix "
      "length (\"2001:db8::2/64\"), not \"2001:db8::2/6.0.1>8080\""}},
    // toml++ says 1:9 (past the newline) for the end of this text (cfg_fuzz found it).
    {"EndOfFileAfterNewline",
     "a = [1,\n",
     {"2:1: Error while parsing array: encountered end-of-file"}},
    {"EndOfFileWithoutNewline",
     "a = [1,",
     {"1:8: Error while parsing array: encountered end-of-file"}},
    {"EndOfFileAfterEmptyLine",
     "a = [\n\n",
     {"3:1: Error while parsing array: encountered end-of-file"}},
    {"Address6IsIpv4",
     "[dpdk]\neal_args = []\n[[interface]]\nport = \"p\"\naddress = \"10.0.0.1\"\n"
     "address6 = \"10.0.0.1\"\n",
     {"6:12: 'address6' must be a unicast, non-link-local IPv6 address with an optional prefix "
      "length (\"2001:db8::2/64\"), not \"10.0.0.1\""}},
    {"Address6LinkLocal",
     "[dpdk]\neal_args = []\n[[interface]]\nport = \"p\"\naddress = \"10.0.0.1\"\n"
     "address6 = \"fe80::2\"\n",
     {"6:12: 'address6' must be a unicast, non-link-local IPv6 address with an optional prefix "
      "length (\"2001:db8::2/64\"), not \"fe80::2\""}},
    {"Gateway6WithoutAddress6",
     "[dpdk]\neal_args = []\n[[interface]]\nport = \"p\"\naddress = \"10.0.0.1\"\n"
     "gateway6 = \"fe80::1\"\n",
     {"6:12: 'gateway6' needs 'address6' on the interface"}},
    {"Gateway6Multicast",
     "[dpdk]\neal_args = []\n[[interface]]\nport = \"p\"\naddress = \"10.0.0.1\"\n"
     "address6 = \"2001:db8::2\"\ngateway6 = \"ff02::1\"\n",
     {"7:12: 'gateway6' must be a unicast IPv6 address (often the router's link-local fe80:: "
      "one), not \"ff02::1\""}},
    {"StaticNeighbourBadAddress",
     "[dpdk]\neal_args = []\n[[interface]]\nport = \"p\"\naddress = \"10.0.0.1\"\n"
     "[neighbours]\nstatic = [ { address = \"2001:db8::zz\", mac = \"02:00:00:00:00:09\" } ]\n",
     {"7:24: 'address' must be an IPv4 or IPv6 address, not \"2001:db8::zz\""}},
    {"MtuRange",
     "[dpdk]\neal_args = []\n[[interface]]\nport = \"p\"\naddress = \"10.0.0.1\"\nmtu = 100\n",
     {"6:7: 'mtu' must be 576..9000, not 100"}},
    {"InterfaceNotArray",
     "[dpdk]\neal_args = []\n[interface]\nport = \"p\"\n",
     {"3:1: 'interface' must be an array of tables ([[interface]])"}},
    {"BadMetricsListen",
     "[dpdk]\neal_args = []\n[[interface]]\nport = \"p\"\naddress = "
     "\"10.0.0.1\"\n[metrics]\nlisten = \"localhost\"\n",
     {"7:10: 'listen' must be \"address:port\" (or \"\" to disable), not \"localhost\""}},
    {"SeveralErrors",
     "[dpdk]\neal_args = []\nworkers = [-1]\n[[interface]]\nport = 5\naddress = \"10.0.0.1\"\nfoo "
     "= 1\n",
     {"3:12: a worker lcore id must be an integer 0..1023", "5:8: 'port' must be a string",
      "7:1: unknown key 'foo' in [[interface]]"}},
};

class SettingsBadTest : public ::testing::TestWithParam<BadCase> {};

TEST_P(SettingsBadTest, Errors) {
  const BadCase& c = GetParam();
  Settings s;
  Diagnostics d;
  EXPECT_FALSE(parse_settings(c.text, "s.toml", s, d));
  std::vector<std::string> got = brief(d);
  std::sort(got.begin(), got.end());
  std::vector<std::string> want = c.errors;
  std::sort(want.begin(), want.end());
  EXPECT_EQ(got, want);
}

INSTANTIATE_TEST_SUITE_P(Cases, SettingsBadTest, ::testing::ValuesIn(kBad),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(Settings, MissingFile) {
  Settings s;
  Diagnostics d;
  EXPECT_FALSE(load_settings(VD_TEST_DATA "/nope.toml", s, d));
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].file, VD_TEST_DATA "/nope.toml");
}

// verify_udp_checksum: true unless set; a boolean, per interface.
TEST(Settings, VerifyUdpChecksum) {
  Settings s;
  Diagnostics d;
  ASSERT_TRUE(parse_settings("[dpdk]\neal_args = []\n"
                             "[[interface]]\nport = \"p\"\naddress = \"10.0.0.1/24\"\n"
                             "[[interface]]\nport = \"q\"\naddress = \"10.1.0.1/24\"\n"
                             "verify_udp_checksum = false\n",
                             "s.toml", s, d))
      << test::joined(d);
  ASSERT_EQ(s.interfaces.size(), 2u);
  EXPECT_TRUE(s.interfaces[0].verify_udp_checksum);
  EXPECT_FALSE(s.interfaces[1].verify_udp_checksum);
  Settings bad;
  Diagnostics e;
  EXPECT_FALSE(parse_settings("[dpdk]\neal_args = []\n"
                              "[[interface]]\nport = \"p\"\naddress = \"10.0.0.1/24\"\n"
                              "verify_udp_checksum = \"no\"\n",
                              "s.toml", bad, e));
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0].line, 6u);
  EXPECT_EQ(e[0].col, 23u);
  EXPECT_EQ(e[0].message, "'verify_udp_checksum' must be true or false");
}

}  // namespace
}  // namespace viaduct::cfg
