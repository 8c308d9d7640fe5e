// SPDX-License-Identifier: Apache-2.0
// tests/golden/golden_test.cpp: golden packet tests through the real pipeline. Each case file
// under cases/ is readable text: frames in (`== in` blocks), what comes out (`== out` blocks,
// rendered the same way: the frame sent, or `drop <reason>`, or `consumed`). The frames go
// through handle_packet() with the default script and dispatcher list below, one fresh worker
// context per case, so packet ids and learned neighbours are deterministic.
//
// Input frame lines (in order, each optional except as the protocol needs):
//   eth SRC_MAC > DST_MAC [type 0xNNNN]
//   vlan ID                                   (an 802.1Q tag)
//   ipv4 SRC > DST [ttl N] [tos N] [id N] [frag OFFSET_BYTES] [mf] [df] [proto N] [len N]
//   udp SPORT > DPORT [len N]
//   icmp echo-request id N seq N
//   arp request|reply SENDER_IP SENDER_MAC > TARGET_IP [TARGET_MAC]
//   payload                                   then the text lines, each ended with CRLF;
//                                             "Content-Length: auto" is filled in
//   payload-hex HEX...                        raw payload bytes (also continuation lines)
//   raw HEX...                                the whole frame, nothing else built
//   fragment K size S                         send only the K-th (1-based) IPv4 fragment of
//                                             the datagram above, S payload bytes each
// Output is rendered in the same vocabulary, with lengths and checksum verdicts.
//
// VD_GOLDEN_UPDATE=1 rewrites the `== out` blocks of every case from what the pipeline does
// (then review the diff: a golden file is a claim about behaviour).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <rte_arp.h>
#include <rte_eal.h>
#include <rte_ether.h>
#include <rte_icmp.h>
#include <rte_ip.h>
#include <rte_ip_frag.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_udp.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "tests/support/packet_builder.hpp"

namespace viaduct::test {
namespace {

namespace fs = std::filesystem;
using dp::MacAddr;

// Two interfaces on port 0: untagged 10.0.0.2/24 (the backends' side) and VLAN 100
// 10.100.0.2/24 (a client side).
constexpr const char* kScript = R"(
listen=udp:10.0.0.2:5060
listen=udp:10.100.0.2:5060
alias=lb.example.com
loadmodule "sl.so"
loadmodule "textops.so"
loadmodule "maxfwd.so"
loadmodule "dispatcher.so"
loadmodule "rr.so"
request_route {
    if (!mf_process_maxfwd_header("10")) {
        sl_send_reply("483", "Too Many Hops");
        exit;
    }
    if (is_method("OPTIONS") && uri == myself) {
        sl_send_reply("200", "Keepalive");
        exit;
    }
    if (is_method("PUBLISH")) {
        drop;
    }
    if (is_method("SUBSCRIBE")) {  # proxy edits (subscribe-*.case)
        remove_hf("X-Internal");
        append_hf("X-Edge: lb\r\n");
        if (loose_route()) {
            forward();
            exit;
        }
        record_route();
    }
    if (!ds_select_dst("1", "0")) {
        sl_send_reply("503", "Service Unavailable");
        exit;
    }
    forward();
}
)";
constexpr const char* kList = "1 sip:10.0.0.11:5060\n1 sip:10.0.0.12:5060\n";
const MacAddr kOurMac{{2, 0, 0, 0, 0, 2}};

std::string mac_str(const uint8_t* b) {
  char s[18];
  std::snprintf(s, sizeof s, "%02x:%02x:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3], b[4], b[5]);
  return s;
}
bool parse_mac(const std::string& s, uint8_t* b) {
  unsigned v[6];
  if (std::sscanf(s.c_str(), "%x:%x:%x:%x:%x:%x", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]) !=
      6) {
    return false;
  }
  for (int i = 0; i < 6; ++i) {
    b[i] = static_cast<uint8_t>(v[i]);
  }
  return true;
}
std::string ip_str(uint32_t be) {
  char s[16];
  s[dp::format_ipv4(be, s)] = 0;
  return s;
}
std::string hex(const uint8_t* p, size_t n) {
  std::string out;
  char b[4];
  for (size_t i = 0; i < n; ++i) {
    if (i != 0 && i % 32 == 0) {
      out += "\n  ";
    } else if (i != 0) {
      out += ' ';
    }
    std::snprintf(b, sizeof b, "%02x", p[i]);
    out += b;
  }
  return out;
}
std::vector<uint8_t> parse_hex(const std::string& s) {
  std::vector<uint8_t> out;
  std::istringstream in(s);
  std::string tok;
  while (in >> tok) {
    out.push_back(static_cast<uint8_t>(std::stoul(tok, nullptr, 16)));
  }
  return out;
}
std::vector<std::string> words(const std::string& line) {
  std::istringstream in(line);
  std::vector<std::string> w;
  for (std::string t; in >> t;) {
    w.push_back(t);
  }
  return w;
}
// Value after keyword `k` in w, or dflt.
long opt(const std::vector<std::string>& w, const std::string& k, long dflt) {
  for (size_t i = 0; i + 1 < w.size(); ++i) {
    if (w[i] == k) {
      return std::stol(w[i + 1], nullptr, 0);
    }
  }
  return dflt;
}
bool flag(const std::vector<std::string>& w, const std::string& k) {
  return std::find(w.begin(), w.end(), k) != w.end();
}

// ---- building input frames -------------------------------------------------------------------

struct FrameSpec {
  std::vector<std::string> lines;
};

std::string fill_content_length(std::string msg) {
  const std::string kAuto = "Content-Length: auto\r\n";
  const size_t at = msg.find(kAuto);
  if (at == std::string::npos) {
    return msg;
  }
  const size_t body = msg.find("\r\n\r\n");
  const size_t body_len = body == std::string::npos ? 0 : msg.size() - (body + 4);
  msg.replace(at, kAuto.size(), "Content-Length: " + std::to_string(body_len) + "\r\n");
  return msg;
}

// Builds the frame bytes of one `== in` block. Empty with `error` set when the spec is bad.
std::vector<uint8_t> build(const FrameSpec& spec, std::string& error) {
  std::vector<uint8_t> f;
  std::vector<std::string> eth, vlan, ip, udp, icmp, arp;
  std::vector<uint8_t> payload;
  bool have_payload = false;
  std::vector<std::string> fragment;
  for (size_t i = 0; i < spec.lines.size(); ++i) {
    const std::string& l = spec.lines[i];
    const std::vector<std::string> w = words(l);
    if (w.empty()) {
      continue;
    }
    if (w[0] == "raw") {
      std::string all = l.substr(3);
      while (i + 1 < spec.lines.size() && !spec.lines[i + 1].empty() &&
             spec.lines[i + 1][0] == ' ') {
        all += spec.lines[++i];
      }
      return parse_hex(all);
    }
    if (w[0] == "eth") {
      eth = w;
    } else if (w[0] == "vlan") {
      vlan = w;
    } else if (w[0] == "ipv4") {
      ip = w;
    } else if (w[0] == "udp") {
      udp = w;
    } else if (w[0] == "icmp") {
      icmp = w;
    } else if (w[0] == "arp") {
      arp = w;
    } else if (w[0] == "fragment") {
      fragment = w;
    } else if (w[0] == "payload-hex") {
      std::string all = l.substr(11);
      while (i + 1 < spec.lines.size() && !spec.lines[i + 1].empty() &&
             spec.lines[i + 1][0] == ' ') {
        all += spec.lines[++i];
      }
      payload = parse_hex(all);
      have_payload = true;
    } else if (w[0] == "payload") {
      std::string msg;
      for (++i; i < spec.lines.size(); ++i) {
        msg += spec.lines[i] + "\r\n";
      }
      msg = fill_content_length(msg);
      payload.assign(msg.begin(), msg.end());
      have_payload = true;
    } else {
      error = "unknown input line: " + l;
      return {};
    }
  }
  if (eth.size() < 4) {
    error = "an input frame needs 'eth SRC > DST'";
    return {};
  }
  f.resize(12);
  if (!parse_mac(eth[1], f.data() + 6) || !parse_mac(eth[3], f.data())) {
    error = "bad MAC in: eth " + eth[1] + " > " + eth[3];
    return {};
  }
  auto put16 = [&](uint16_t v) {
    f.push_back(static_cast<uint8_t>(v >> 8));
    f.push_back(static_cast<uint8_t>(v));
  };
  if (!vlan.empty()) {
    put16(RTE_ETHER_TYPE_VLAN);
    put16(static_cast<uint16_t>(std::stoul(vlan.at(1))));
  }
  const uint16_t type = static_cast<uint16_t>(
      opt(eth, "type", !arp.empty() ? RTE_ETHER_TYPE_ARP : RTE_ETHER_TYPE_IPV4));
  put16(type);
  if (!arp.empty()) {
    rte_arp_hdr a{};
    a.arp_hardware = htons(RTE_ARP_HRD_ETHER);
    a.arp_protocol = htons(RTE_ETHER_TYPE_IPV4);
    a.arp_hlen = 6;
    a.arp_plen = 4;
    a.arp_opcode = htons(arp.at(1) == "reply" ? RTE_ARP_OP_REPLY : RTE_ARP_OP_REQUEST);
    a.arp_data.arp_sip = ipv4(arp.at(2).c_str());
    parse_mac(arp.at(3), a.arp_data.arp_sha.addr_bytes);
    a.arp_data.arp_tip = ipv4(arp.at(5).c_str());
    if (arp.size() > 6) {
      parse_mac(arp[6], a.arp_data.arp_tha.addr_bytes);
    }
    const auto* p = reinterpret_cast<const uint8_t*>(&a);
    f.insert(f.end(), p, p + sizeof a);
    return f;
  }
  if (ip.size() < 4) {
    if (have_payload) {
      f.insert(f.end(), payload.begin(), payload.end());
    }
    return f;
  }
  std::vector<uint8_t> l4;
  uint8_t proto = IPPROTO_UDP;
  if (!icmp.empty()) {
    proto = IPPROTO_ICMP;
    rte_icmp_hdr h{};
    h.icmp_type = icmp.at(1) == "echo-request" ? RTE_IP_ICMP_ECHO_REQUEST
                                               : static_cast<uint8_t>(opt(icmp, "type", 3));
    h.icmp_code = static_cast<uint8_t>(opt(icmp, "code", 0));
    h.icmp_ident = htons(static_cast<uint16_t>(opt(icmp, "id", 0)));
    h.icmp_seq_nb = htons(static_cast<uint16_t>(opt(icmp, "seq", 0)));
    const auto* p = reinterpret_cast<const uint8_t*>(&h);
    l4.assign(p, p + sizeof h);
    l4.insert(l4.end(), payload.begin(), payload.end());
    rte_icmp_hdr* hp = reinterpret_cast<rte_icmp_hdr*>(l4.data());
    hp->icmp_cksum = static_cast<uint16_t>(~rte_raw_cksum(l4.data(), l4.size()));
  } else if (!udp.empty()) {
    l4.resize(8);
    const uint16_t len = static_cast<uint16_t>(opt(udp, "len", 8 + payload.size()));
    const uint16_t sp = static_cast<uint16_t>(std::stoul(udp.at(1)));
    const uint16_t dp = static_cast<uint16_t>(std::stoul(udp.at(3)));
    l4[0] = static_cast<uint8_t>(sp >> 8);
    l4[1] = static_cast<uint8_t>(sp);
    l4[2] = static_cast<uint8_t>(dp >> 8);
    l4[3] = static_cast<uint8_t>(dp);
    l4[4] = static_cast<uint8_t>(len >> 8);
    l4[5] = static_cast<uint8_t>(len);
    l4.insert(l4.end(), payload.begin(), payload.end());
  } else {
    l4 = payload;  // a fragment's bytes, or another protocol's
  }
  rte_ipv4_hdr h{};
  h.version_ihl = RTE_IPV4_VHL_DEF;
  h.type_of_service = static_cast<uint8_t>(opt(ip, "tos", 0));
  h.total_length = htons(static_cast<uint16_t>(opt(ip, "len", 20 + l4.size())));
  h.packet_id = htons(static_cast<uint16_t>(opt(ip, "id", 1)));
  uint16_t frag = static_cast<uint16_t>(opt(ip, "frag", 0) / 8);
  if (flag(ip, "mf")) {
    frag |= RTE_IPV4_HDR_MF_FLAG;
  }
  if (flag(ip, "df")) {
    frag |= RTE_IPV4_HDR_DF_FLAG;
  }
  h.fragment_offset = htons(frag);
  h.time_to_live = static_cast<uint8_t>(opt(ip, "ttl", 64));
  h.next_proto_id = static_cast<uint8_t>(opt(ip, "proto", proto));
  h.src_addr = ipv4(ip.at(1).c_str());
  h.dst_addr = ipv4(ip.at(3).c_str());
  h.hdr_checksum = rte_ipv4_cksum(&h);
  if (!udp.empty() && icmp.empty() && l4.size() >= 8 && (frag & RTE_IPV4_HDR_OFFSET_MASK) == 0 &&
      !flag(ip, "mf")) {
    std::vector<uint8_t> tmp(sizeof h + l4.size());
    std::memcpy(tmp.data(), &h, sizeof h);
    std::memcpy(tmp.data() + sizeof h, l4.data(), l4.size());
    const uint16_t ck = rte_ipv4_udptcp_cksum(reinterpret_cast<rte_ipv4_hdr*>(tmp.data()),
                                              tmp.data() + sizeof h);
    l4[6] = static_cast<uint8_t>(ck & 0xff);  // already in network order in memory
    l4[7] = static_cast<uint8_t>(ck >> 8);
  }
  if (fragment.size() >= 4) {
    const size_t k = std::stoul(fragment[1]);
    const size_t size = std::stoul(fragment[3]) & ~size_t{7};
    const size_t off = (k - 1) * size;
    if (k == 0 || size == 0 || off >= l4.size()) {
      error = "fragment " + fragment[1] + " is past the datagram";
      return {};
    }
    const size_t chunk = std::min(size, l4.size() - off);
    const bool more = off + chunk < l4.size();
    l4 = std::vector<uint8_t>(l4.begin() + static_cast<std::ptrdiff_t>(off),
                              l4.begin() + static_cast<std::ptrdiff_t>(off + chunk));
    h.total_length = htons(static_cast<uint16_t>(20 + l4.size()));
    h.fragment_offset =
        htons(static_cast<uint16_t>(off / 8 | (more ? RTE_IPV4_HDR_MF_FLAG : 0)));
    h.hdr_checksum = 0;
    h.hdr_checksum = rte_ipv4_cksum(&h);
  }
  const auto* hp = reinterpret_cast<const uint8_t*>(&h);
  f.insert(f.end(), hp, hp + sizeof h);
  f.insert(f.end(), l4.begin(), l4.end());
  return f;
}

// ---- rendering output frames -----------------------------------------------------------------

bool printable_sip(const uint8_t* p, size_t n) {
  if (n == 0 || p[n - 1] != '\n') {
    return false;
  }
  for (size_t i = 0; i < n; ++i) {
    const uint8_t c = p[i];
    if (c == '\r') {
      if (i + 1 >= n || p[i + 1] != '\n') {
        return false;
      }
    } else if (c == '\n') {
      if (i == 0 || p[i - 1] != '\r') {
        return false;
      }
    } else if (c < 0x20 && c != '\t') {
      return false;
    }
  }
  return true;
}

std::string render_payload(const uint8_t* p, size_t n) {
  if (!printable_sip(p, n)) {
    return "payload-hex " + hex(p, n) + "\n";
  }
  std::string out = "payload\n";
  const std::string s(reinterpret_cast<const char*>(p), n);
  size_t at = 0;
  while (at < s.size()) {
    const size_t e = s.find("\r\n", at);
    out += s.substr(at, e - at) + "\n";
    at = e + 2;
  }
  return out;
}

std::string render(const uint8_t* f, size_t n) {
  std::ostringstream o;
  if (n < 14) {
    o << "raw " << hex(f, n) << "\n";
    return o.str();
  }
  o << "eth " << mac_str(f + 6) << " > " << mac_str(f) << "\n";
  size_t off = 12;
  uint16_t type = static_cast<uint16_t>(f[off] << 8 | f[off + 1]);
  if (type == RTE_ETHER_TYPE_VLAN && n >= 18) {
    o << "vlan " << ((f[off + 2] << 8 | f[off + 3]) & 0xfff) << "\n";
    off += 4;
    type = static_cast<uint16_t>(f[off] << 8 | f[off + 1]);
  }
  off += 2;
  if (type == RTE_ETHER_TYPE_ARP && n >= off + sizeof(rte_arp_hdr)) {
    rte_arp_hdr a;
    std::memcpy(&a, f + off, sizeof a);
    o << "arp " << (ntohs(a.arp_opcode) == RTE_ARP_OP_REPLY ? "reply " : "request ")
      << ip_str(a.arp_data.arp_sip) << " " << mac_str(a.arp_data.arp_sha.addr_bytes) << " > "
      << ip_str(a.arp_data.arp_tip) << " " << mac_str(a.arp_data.arp_tha.addr_bytes) << "\n";
    return o.str();
  }
  if (type != RTE_ETHER_TYPE_IPV4 || n < off + 20) {
    o << "type 0x" << std::hex << type << std::dec << "\npayload-hex " << hex(f + off, n - off)
      << "\n";
    return o.str();
  }
  rte_ipv4_hdr h;
  std::memcpy(&h, f + off, sizeof h);
  const size_t ihl = static_cast<size_t>(h.version_ihl & 0xf) * 4;
  const size_t tot = ntohs(h.total_length);
  const uint16_t frag = ntohs(h.fragment_offset);
  const bool ip_ok = rte_ipv4_cksum(reinterpret_cast<const rte_ipv4_hdr*>(f + off)) == 0 ||
                     rte_raw_cksum(f + off, ihl) == 0xffff;
  o << "ipv4 " << ip_str(h.src_addr) << " > " << ip_str(h.dst_addr)
    << " ttl " << int{h.time_to_live} << " tos " << int{h.type_of_service} << " id "
    << ntohs(h.packet_id) << " frag " << (frag & RTE_IPV4_HDR_OFFSET_MASK) * 8
    << ((frag & RTE_IPV4_HDR_MF_FLAG) != 0 ? " mf" : "")
    << ((frag & RTE_IPV4_HDR_DF_FLAG) != 0 ? " df" : "") << " len " << tot
    << " cksum " << (ip_ok ? "ok" : "BAD") << "\n";
  const uint8_t* l4 = f + off + ihl;
  const size_t l4_len = tot > ihl ? std::min(tot - ihl, n - off - ihl) : 0;
  if ((frag & (RTE_IPV4_HDR_OFFSET_MASK)) != 0) {
    o << "payload-hex " << hex(l4, l4_len) << "\n";
    return o.str();
  }
  if (h.next_proto_id == IPPROTO_ICMP && l4_len >= sizeof(rte_icmp_hdr)) {
    rte_icmp_hdr ic;
    std::memcpy(&ic, l4, sizeof ic);
    const bool ok = rte_raw_cksum(l4, l4_len) == 0xffff;
    o << "icmp " << (ic.icmp_type == RTE_IP_ICMP_ECHO_REPLY ? "echo-reply" : "type")
      << (ic.icmp_type == RTE_IP_ICMP_ECHO_REPLY ? "" : " " + std::to_string(ic.icmp_type))
      << " id " << ntohs(ic.icmp_ident) << " seq " << ntohs(ic.icmp_seq_nb) << " cksum "
      << (ok ? "ok" : "BAD") << "\n";
    if (l4_len > sizeof ic) {
      o << "payload-hex " << hex(l4 + sizeof ic, l4_len - sizeof ic) << "\n";
    }
    return o.str();
  }
  if (h.next_proto_id == IPPROTO_UDP && l4_len >= 8) {
    const size_t ulen = static_cast<size_t>(l4[4] << 8 | l4[5]);
    std::string ck = "none";
    if ((l4[6] | l4[7]) != 0 && (frag & RTE_IPV4_HDR_MF_FLAG) == 0) {
      ck = rte_ipv4_udptcp_cksum_verify(reinterpret_cast<const rte_ipv4_hdr*>(f + off), l4) == 0
               ? "ok"
               : "BAD";
    } else if ((frag & RTE_IPV4_HDR_MF_FLAG) != 0) {
      ck = "(fragment)";
    }
    o << "udp " << (l4[0] << 8 | l4[1]) << " > " << (l4[2] << 8 | l4[3]) << " len " << ulen
      << " cksum " << ck << "\n";
    o << render_payload(l4 + 8, l4_len - 8);
    return o.str();
  }
  o << "proto " << int{h.next_proto_id} << "\npayload-hex " << hex(l4, l4_len) << "\n";
  return o.str();
}

// ---- case files --------------------------------------------------------------------------------

struct CaseFile {
  std::vector<std::string> header;               // lines before the first block
  std::vector<FrameSpec> inputs;
  std::vector<std::vector<std::string>> outputs;  // `== out` blocks, in order
  std::vector<char> order;                        // 'i' / 'o' as the blocks appear
};

CaseFile read_case(const fs::path& p) {
  CaseFile c;
  std::ifstream in(p);
  std::string line;
  char mode = 'h';
  while (std::getline(in, line)) {
    if (line == "== in") {
      c.inputs.emplace_back();
      c.order.push_back('i');
      mode = 'i';
      continue;
    }
    if (line == "== out") {
      c.outputs.emplace_back();
      c.order.push_back('o');
      mode = 'o';
      continue;
    }
    if (mode == 'h') {
      c.header.push_back(line);
    } else if (mode == 'i') {
      c.inputs.back().lines.push_back(line);
    } else {
      c.outputs.back().push_back(line);
    }
  }
  // Trailing empty lines of a block are layout, not content (except inside a payload: a SIP
  // message ends with its empty line, written as one empty line before the next block).
  for (auto& o : c.outputs) {
    while (!o.empty() && o.back().empty()) {
      o.pop_back();
    }
  }
  for (auto& i : c.inputs) {
    const bool payload = std::any_of(i.lines.begin(), i.lines.end(),
                                     [](const std::string& l) { return l == "payload"; });
    if (!payload) {
      while (!i.lines.empty() && i.lines.back().empty()) {
        i.lines.pop_back();
      }
    } else {
      // Keep exactly the lines written; a separating blank line before the next block is the
      // author's: strip one only when there are two (message end + layout).
      while (i.lines.size() >= 2 && i.lines.back().empty() &&
             i.lines[i.lines.size() - 2].empty()) {
        i.lines.pop_back();
      }
    }
  }
  return c;
}

std::vector<std::string> split_lines(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string l; std::getline(in, l);) {
    out.push_back(l);
  }
  return out;
}

class GoldenEnv : public ::testing::Environment {
 public:
  void SetUp() override {
    const char* eal[] = {"golden_test", "--no-huge", "-m", "64", "--no-pci", "--no-shconf",
                         "--log-level=error", "-l", "0"};
    ASSERT_GE(rte_eal_init(static_cast<int>(std::size(eal)), const_cast<char**>(eal)), 0);
    pool = rte_pktmbuf_pool_create("golden", 255, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE, 0);
    ASSERT_NE(pool, nullptr);
    big_pool = rte_pktmbuf_pool_create("golden_big", 15, 0, 0, UINT16_MAX, 0);
    ASSERT_NE(big_pool, nullptr);
  }
  static inline rte_mempool* pool = nullptr;
  static inline rte_mempool* big_pool = nullptr;
};

std::vector<std::string> case_names() {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(VD_GOLDEN_DIR)) {
    if (e.path().extension() == ".case") {
      names.push_back(e.path().stem().string());
    }
  }
  std::sort(names.begin(), names.end());
  return names;
}

std::unique_ptr<ctl::OwnedSnapshot> golden_snapshot(std::string& error) {
  auto prog = std::make_shared<cfg::Program>();
  cfg::Diagnostics diags;
  ctl::BuildInputs in;
  if (!cfg::compile_string(kScript, "golden.cfg", "/tmp", {}, *prog, diags) ||
      !cfg::parse_dispatcher_list(kList, "golden.list", in.destinations, diags)) {
    error = diags.empty() ? "compile failed" : diags[0].str();
    return nullptr;
  }
  in.program = prog;
  dp::Iface plain;
  plain.port_id = 0;
  plain.ip_be = ipv4("10.0.0.2");
  plain.mask_be = htonl(0xffffff00u);
  plain.mac = kOurMac;
  dp::Iface tagged = plain;
  tagged.ip_be = ipv4("10.100.0.2");
  tagged.vlan = 100;
  in.ifaces = {plain, tagged};
  in.neighbours[ipv4("10.0.0.10")] = MacAddr{{2, 0, 0, 0, 0, 0x10}};
  in.neighbours[ipv4("10.0.0.11")] = MacAddr{{2, 0, 0, 0, 0, 0x11}};
  in.neighbours[ipv4("10.0.0.12")] = MacAddr{{2, 0, 0, 0, 0, 0x12}};
  in.neighbours[ipv4("10.100.0.10")] = MacAddr{{2, 0, 0, 0, 1, 0x10}};
  ctl::DestinationIds ids;
  auto snap = ctl::build_snapshot(in, ids);
  if (!snap) {
    error = snap.error().str();
    return nullptr;
  }
  return std::move(*snap);
}

class GoldenTest : public ::testing::TestWithParam<std::string> {};

TEST_P(GoldenTest, OutputMatches) {
  const fs::path path = fs::path(VD_GOLDEN_DIR) / (GetParam() + ".case");
  CaseFile c = read_case(path);
  ASSERT_FALSE(c.inputs.empty()) << path << ": no `== in` block";
  std::string error;
  auto snap = golden_snapshot(error);
  ASSERT_NE(snap, nullptr) << error;
  auto ctx = std::make_unique<dp::WorkerCtx>();
  dp::WorkerCounters counters;
  ctx->counters = &counters;
  // Reassembly and egress fragmentation as a daemon worker has them (a fresh table per case).
  rte_ip_frag_tbl* tbl = rte_ip_frag_table_create(16, 8, 64, rte_get_tsc_hz() * 2, 0);
  auto* dr = static_cast<rte_ip_frag_death_row*>(
      rte_zmalloc(nullptr, sizeof(rte_ip_frag_death_row), RTE_CACHE_LINE_SIZE));
  ASSERT_TRUE(tbl != nullptr && dr != nullptr);
  ctx->pool = GoldenEnv::pool;
  ctx->big_pool = GoldenEnv::big_pool;
  ctx->frag_tbl = tbl;
  ctx->death_row = dr;
  struct Cleanup {
    rte_ip_frag_tbl* t;
    rte_ip_frag_death_row* d;
    ~Cleanup() {
      rte_ip_frag_free_death_row(d, 0);
      rte_ip_frag_table_destroy(t);
      rte_free(d);
    }
  } cleanup{tbl, dr};
  // One rendered result per input, as text lines.
  std::vector<std::vector<std::string>> got;
  for (const FrameSpec& in : c.inputs) {
    const std::vector<uint8_t> bytes = build(in, error);
    ASSERT_FALSE(bytes.empty()) << path << ": " << error;
    rte_mbuf* m = rte_pktmbuf_alloc(GoldenEnv::pool);
    ASSERT_NE(m, nullptr);
    char* d = rte_pktmbuf_append(m, static_cast<uint16_t>(bytes.size()));
    ASSERT_NE(d, nullptr) << "frame too large for one mbuf";
    std::memcpy(d, bytes.data(), bytes.size());
    m->port = 0;
    const dp::Verdict v = dp::handle_packet(snap->snap, m, *ctx);
    std::vector<std::string> out;
    auto emit = [&](const std::string& head, const rte_mbuf* f) {
      out.push_back(head);
      for (std::string& l : split_lines(render(rte_pktmbuf_mtod(f, const uint8_t*),
                                               rte_pktmbuf_data_len(f)))) {
        out.push_back(std::move(l));
      }
    };
    if (v.is_tx()) {
      emit("tx port " + std::to_string(v.tx_port), m);
    } else if (v.kind == dp::Verdict::Kind::kTxMany) {
      // Each fragment's Ethernet and IPv4 lines, then the datagram they add up to (offsets
      // must follow each other without gap or overlap).
      std::vector<uint8_t> whole;
      for (uint16_t k = 0; k < ctx->n_frags; ++k) {
        const rte_mbuf* f = ctx->frag_out[k];
        const auto* b = rte_pktmbuf_mtod(f, const uint8_t*);
        std::vector<std::string> lines = split_lines(render(b, rte_pktmbuf_data_len(f)));
        out.push_back("tx port " + std::to_string(v.tx_port) + " fragment " +
                      std::to_string(k + 1) + "/" + std::to_string(ctx->n_frags));
        out.push_back(lines.at(0));
        out.push_back(lines.at(1));
        rte_ipv4_hdr h;
        std::memcpy(&h, b + 14, sizeof h);
        const size_t off = (ntohs(h.fragment_offset) & RTE_IPV4_HDR_OFFSET_MASK) * 8u;
        const size_t len = ntohs(h.total_length) - 20u;
        if (k == 0) {
          whole.assign(b, b + 14 + 20);
        }
        if (off + 34 != whole.size()) {
          out.push_back("GAP OR OVERLAP at offset " + std::to_string(off));
        }
        whole.insert(whole.end(), b + 34, b + 34 + len);
      }
      auto* h = reinterpret_cast<rte_ipv4_hdr*>(whole.data() + 14);
      h->total_length = htons(static_cast<uint16_t>(whole.size() - 14));
      h->fragment_offset = 0;
      h->hdr_checksum = 0;
      h->hdr_checksum = rte_ipv4_cksum(h);
      out.push_back("reassembled");
      for (std::string& l : split_lines(render(whole.data(), whole.size()))) {
        out.push_back(std::move(l));
      }
      rte_pktmbuf_free_bulk(ctx->frag_out, ctx->n_frags);
    } else if (v.is_drop()) {
      out.push_back(std::string("drop ") + dp::drop_name(v.drop));
    } else if (v.kind == dp::Verdict::Kind::kHeld) {
      out.push_back("held (waiting for the rest of the datagram)");
    } else {
      out.push_back("consumed");
    }
    if (v.kind != dp::Verdict::Kind::kHeld) {
      rte_pktmbuf_free(m);
    }
    while (!out.empty() && out.back().empty()) {
      out.pop_back();  // as read_case() does with the expectation
    }
    got.push_back(std::move(out));
  }
  if (std::getenv("VD_GOLDEN_UPDATE") != nullptr) {
    std::ofstream o(path);
    for (const std::string& l : c.header) {
      o << l << "\n";
    }
    for (size_t i = 0; i < c.inputs.size(); ++i) {
      o << "== in\n";
      for (const std::string& l : c.inputs[i].lines) {
        o << l << "\n";
      }
      o << "== out\n";
      for (const std::string& l : got[i]) {
        o << l << "\n";
      }
      if (i + 1 < c.inputs.size()) {
        o << "\n";
      }
    }
    GTEST_SKIP() << "rewrote " << path;
  }
  // Each input's `== out` block follows it.
  ASSERT_EQ(c.outputs.size(), c.inputs.size()) << path << ": one `== out` per `== in`";
  for (size_t i = 0; i < got.size(); ++i) {
    std::string want_s;
    std::string got_s;
    for (const std::string& l : c.outputs[i]) {
      want_s += l + "\n";
    }
    for (const std::string& l : got[i]) {
      got_s += l + "\n";
    }
    EXPECT_EQ(want_s, got_s) << path << ": frame " << i + 1
                             << " (VD_GOLDEN_UPDATE=1 rewrites the expectation)";
  }
}

INSTANTIATE_TEST_SUITE_P(Cases, GoldenTest, ::testing::ValuesIn(case_names()),
                         [](const auto& info) {
                           std::string n = info.param;
                           std::replace_if(n.begin(), n.end(),
                                           [](char ch) { return !std::isalnum(ch); }, '_');
                           return n;
                         });

}  // namespace
}  // namespace viaduct::test

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  ::testing::AddGlobalTestEnvironment(new viaduct::test::GoldenEnv);
  return RUN_ALL_TESTS();
}
