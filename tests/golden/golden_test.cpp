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
//        [badck] [nock] [badipck]             (badck: a wrong, non-zero UDP checksum; nock:
//                                             UDP checksum 0, "none"; badipck: a wrong header
//                                             checksum)
//   ipv6 SRC > DST [hlim N] [next N] [len N] [cut N] [badck] [wrongck]   (len: the payload
//                                             length field; cut: drop the last N bytes of the
//                                             frame; badck: leave the ICMPv6/UDP checksum
//                                             zero; wrongck: a wrong, non-zero one)
//   ext6 hbh|dst|rt [segleft N] [opt TYPE LEN]... [hdrlen N] [next N]
//                                             an IPv6 extension header (one line each, in
//                                             order, before a Fragment header if any): options
//                                             of LEN zero bytes, PadN to 8 bytes; hdrlen: the
//                                             Hdr Ext Len field written instead of the real one
//   icmp6 echo-request id N seq N | ns TARGET [sll MAC] | na TARGET [tll MAC] [s] [o] | type N
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
// Lines before the first block that are not comments set the case up:
//   blocklist ADDR PORT       the destination is in the published blocklist (IPv4 or IPv6)
//   no-neighbour ADDR         the snapshot does not know that neighbour's MAC
//   events                    the worker's events to the control thread are rendered after
//                             each frame's result (`event TYPE ...`)
//
// VD_GOLDEN_UPDATE=1 rewrites the `== out` blocks of every case from what the pipeline does, and
// the pipeline fuzz target's seed corpus (corpus/, GoldenFuzzCorpus)
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
#include <rte_ring.h>
#include <rte_ring_elem.h>
#include <rte_udp.h>


#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "tests/golden/golden_world.hpp"
#include "tests/golden/pipeline_rig.hpp"
#include "tests/golden/rig_set.hpp"
#include "tests/support/packet_builder.hpp"

namespace viaduct::test {
namespace {

namespace fs = std::filesystem;
using dp::MacAddr;


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

bool ipv6_addr(const std::string& s, uint8_t* out) {
  return inet_pton(AF_INET6, s.c_str(), out) == 1;
}

// The IPv6 part of build(): header, then ICMPv6 or UDP (checksums computed) or the raw payload.
std::vector<uint8_t> build6(std::vector<uint8_t> f, const std::vector<std::string>& ip,
                            const std::vector<std::string>& udp,
                            const std::vector<std::string>& icmp, const std::vector<uint8_t>& payload,
                            const std::vector<std::string>& fragment,
                            const std::vector<std::vector<std::string>>& exts,
                            std::string& error) {
  rte_ipv6_hdr h{};
  h.vtc_flow = htonl(6u << 28);
  h.hop_limits = static_cast<uint8_t>(opt(ip, "hlim", 64));
  if (!ipv6_addr(ip.at(1), h.src_addr) || !ipv6_addr(ip.at(3), h.dst_addr)) {
    error = "bad IPv6 address in: ipv6 " + ip.at(1) + " > " + ip.at(3);
    return {};
  }
  std::vector<uint8_t> l4;
  uint8_t next = 59;  // no next header
  if (!icmp.empty()) {
    next = 58;
    l4.assign(4, 0);
    const std::string& kind = icmp.at(1);
    if (kind == "echo-request") {
      l4[0] = 128;
      const uint16_t id = static_cast<uint16_t>(opt(icmp, "id", 0));
      const uint16_t seq = static_cast<uint16_t>(opt(icmp, "seq", 0));
      l4.push_back(static_cast<uint8_t>(id >> 8));
      l4.push_back(static_cast<uint8_t>(id));
      l4.push_back(static_cast<uint8_t>(seq >> 8));
      l4.push_back(static_cast<uint8_t>(seq));
    } else if (kind == "ns" || kind == "na") {
      l4[0] = kind == "ns" ? 135 : 136;
      l4.resize(24);
      l4[4] = static_cast<uint8_t>((flag(icmp, "s") ? 0x40 : 0) | (flag(icmp, "o") ? 0x20 : 0));
      if (!ipv6_addr(icmp.at(2), l4.data() + 8)) {
        error = "bad target in: " + icmp.at(2);
        return {};
      }
      for (size_t i = 3; i + 1 < icmp.size(); ++i) {
        if (icmp[i] == "sll" || icmp[i] == "tll") {
          uint8_t mac[6];
          if (!parse_mac(icmp[i + 1], mac)) {
            error = "bad MAC " + icmp[i + 1];
            return {};
          }
          l4.push_back(icmp[i] == "sll" ? 1 : 2);
          l4.push_back(1);
          l4.insert(l4.end(), mac, mac + 6);
        }
      }
    } else {
      l4[0] = static_cast<uint8_t>(opt(icmp, "type", 1));
      l4[1] = static_cast<uint8_t>(opt(icmp, "code", 0));
    }
    l4.insert(l4.end(), payload.begin(), payload.end());
  } else if (!udp.empty()) {
    next = IPPROTO_UDP;
    l4.resize(8);
    const uint16_t len = static_cast<uint16_t>(opt(udp, "len", 8 + payload.size()));
    const uint16_t sp = static_cast<uint16_t>(std::stoul(udp.at(1)));
    const uint16_t dp = static_cast<uint16_t>(std::stoul(udp.at(3)));
    const uint8_t hdr[6] = {static_cast<uint8_t>(sp >> 8), static_cast<uint8_t>(sp),
                            static_cast<uint8_t>(dp >> 8), static_cast<uint8_t>(dp),
                            static_cast<uint8_t>(len >> 8), static_cast<uint8_t>(len)};
    std::memcpy(l4.data(), hdr, 6);
    l4.insert(l4.end(), payload.begin(), payload.end());
  } else {
    l4 = payload;
  }
  h.proto = static_cast<uint8_t>(opt(ip, "next", next));
  h.payload_len = htons(static_cast<uint16_t>(l4.size()));
  if ((h.proto == 58 || h.proto == IPPROTO_UDP) && l4.size() >= 8 && !flag(ip, "badck")) {
    std::vector<uint8_t> tmp(sizeof h + l4.size());
    std::memcpy(tmp.data(), &h, sizeof h);
    std::memcpy(tmp.data() + sizeof h, l4.data(), l4.size());
    const size_t ck_at = h.proto == 58 ? 2 : 6;
    uint16_t ck = rte_ipv6_udptcp_cksum(reinterpret_cast<rte_ipv6_hdr*>(tmp.data()),
                                        tmp.data() + sizeof h);
    if (flag(ip, "wrongck")) {
      ck = static_cast<uint16_t>(ck ^ 0x0101);  // still non-zero: a damaged datagram
    }
    std::memcpy(l4.data() + ck_at, &ck, 2);
  }
  h.payload_len = htons(static_cast<uint16_t>(opt(ip, "len", static_cast<long>(l4.size()))));
  if (fragment.size() >= 4) {
    // The K-th fragment of the datagram: a Fragment header (identification `id`, 1 by
    // default), S bytes of the upper-layer datagram (a multiple of 8 but the last).
    const size_t k = std::stoul(fragment[1]);
    const size_t size = std::stoul(fragment[3]) & ~size_t{7};
    const size_t off = (k - 1) * size;
    if (k == 0 || size == 0 || off >= l4.size()) {
      error = "fragment " + fragment[1] + " is past the datagram";
      return {};
    }
    const size_t chunk = std::min(size, l4.size() - off);
    const bool more = off + chunk < l4.size();
    const uint32_t id = static_cast<uint32_t>(opt(ip, "id", 1));
    std::vector<uint8_t> fr = {h.proto, 0, static_cast<uint8_t>(off >> 8),
                               static_cast<uint8_t>((off & 0xf8) | (more ? 1 : 0)),
                               static_cast<uint8_t>(id >> 24), static_cast<uint8_t>(id >> 16),
                               static_cast<uint8_t>(id >> 8), static_cast<uint8_t>(id)};
    fr.insert(fr.end(), l4.begin() + static_cast<std::ptrdiff_t>(off),
              l4.begin() + static_cast<std::ptrdiff_t>(off + chunk));
    l4 = std::move(fr);
    h.proto = 44;
    h.payload_len = htons(static_cast<uint16_t>(l4.size()));
  }
  if (!exts.empty()) {
    // The extension headers in front of the upper layer (or of the Fragment header), chained;
    // checksums above were taken with the upper layer's protocol, as RFC 8200 8.1 wants.
    std::vector<uint8_t> chain;
    uint8_t first = h.proto;
    for (size_t i = exts.size(); i-- > 0;) {
      const std::vector<std::string>& e = exts[i];
      const std::string kind = e.size() > 1 ? e[1] : "";
      const uint8_t type = kind == "hbh" ? 0 : kind == "dst" ? 60 : kind == "rt" ? 43 : 255;
      if (type == 255) {
        error = "ext6 wants hbh, dst or rt";
        return {};
      }
      std::vector<uint8_t> x = {static_cast<uint8_t>(opt(e, "next", first)), 0};
      if (type == 43) {
        x.push_back(0);  // routing type 0
        x.push_back(static_cast<uint8_t>(opt(e, "segleft", 0)));
        x.resize(8);
      } else {
        for (size_t k = 1; k + 2 < e.size(); ++k) {
          if (e[k] == "opt") {
            x.push_back(static_cast<uint8_t>(std::stoul(e[k + 1], nullptr, 0)));
            const size_t n = std::stoul(e[k + 2]);
            x.push_back(static_cast<uint8_t>(n));
            x.resize(x.size() + n);
          }
        }
        const size_t pad = (8 - x.size() % 8) % 8;
        if (pad == 1) {
          x.push_back(0);  // Pad1
        } else if (pad > 1) {
          x.push_back(1);  // PadN
          x.push_back(static_cast<uint8_t>(pad - 2));
          x.resize(x.size() + pad - 2);
        }
      }
      x[1] = static_cast<uint8_t>(opt(e, "hdrlen", static_cast<long>(x.size() / 8 - 1)));
      x.insert(x.end(), chain.begin(), chain.end());
      chain = std::move(x);
      first = type;
    }
    l4.insert(l4.begin(), chain.begin(), chain.end());
    h.proto = first;
    h.payload_len = htons(static_cast<uint16_t>(ntohs(h.payload_len) + chain.size()));
  }
  const auto* hp = reinterpret_cast<const uint8_t*>(&h);
  f.insert(f.end(), hp, hp + sizeof h);
  f.insert(f.end(), l4.begin(), l4.end());
  const size_t cut = static_cast<size_t>(opt(ip, "cut", 0));
  f.resize(cut < f.size() ? f.size() - cut : 0);
  return f;
}

// Builds the frame bytes of one `== in` block. Empty with `error` set when the spec is bad.
std::vector<uint8_t> build(const FrameSpec& spec, std::string& error) {
  std::vector<uint8_t> f;
  std::vector<std::string> eth, vlan, ip, udp, icmp, arp, ip6, icmp6;
  std::vector<uint8_t> payload;
  bool have_payload = false;
  std::vector<std::string> fragment;
  std::vector<std::vector<std::string>> exts;
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
    } else if (w[0] == "ipv6") {
      ip6 = w;
    } else if (w[0] == "icmp6") {
      icmp6 = w;
    } else if (w[0] == "ext6") {
      exts.push_back(w);
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
      opt(eth, "type", !arp.empty()   ? RTE_ETHER_TYPE_ARP
                       : !ip6.empty() ? RTE_ETHER_TYPE_IPV6
                                      : RTE_ETHER_TYPE_IPV4));
  put16(type);
  if (ip6.size() >= 4) {
    return build6(f, ip6, udp, icmp6, payload, fragment, exts, error);
  }
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
    uint16_t ck = rte_ipv4_udptcp_cksum(reinterpret_cast<rte_ipv4_hdr*>(tmp.data()),
                                        tmp.data() + sizeof h);
    if (flag(ip, "badck")) {
      ck = static_cast<uint16_t>(ck ^ 0x0101);  // still non-zero: a damaged datagram
    }
    if (flag(ip, "nock")) {
      ck = 0;
    }
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
  if (flag(ip, "badipck")) {
    h.hdr_checksum = static_cast<uint16_t>(h.hdr_checksum ^ 0x0101);
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

std::string ip6_str(const uint8_t* a) {
  char s[INET6_ADDRSTRLEN];
  inet_ntop(AF_INET6, a, s, sizeof s);
  return s;
}

// An IPv6 packet (header at p, n bytes to the end of the frame).
std::string render6(const uint8_t* p, size_t n) {
  std::ostringstream o;
  rte_ipv6_hdr h;
  std::memcpy(&h, p, sizeof h);
  const size_t plen = ntohs(h.payload_len);
  o << "ipv6 " << ip6_str(h.src_addr) << " > " << ip6_str(h.dst_addr) << " hlim "
    << int{h.hop_limits} << " tc " << ((ntohl(h.vtc_flow) >> 20) & 0xff) << " len " << plen
    << (sizeof h + plen > n ? " (TRUNCATED)" : "") << "\n";
  const uint8_t* l4 = p + sizeof h;
  const size_t l4_len = std::min(plen, n - sizeof h);
  if (h.proto == 44 && l4_len >= 8) {
    const unsigned fd = static_cast<unsigned>(l4[2] << 8 | l4[3]);
    o << "frag6 next " << int{l4[0]} << " offset " << (fd & ~7u) << ((fd & 1) != 0 ? " mf" : "")
      << " id " << ((uint32_t{l4[4]} << 24) | (uint32_t{l4[5]} << 16) | (l4[6] << 8) | l4[7])
      << "\n";
    return o.str();
  }
  const bool ck_ok = l4_len == plen &&
                     rte_ipv6_udptcp_cksum_verify(reinterpret_cast<const rte_ipv6_hdr*>(p), l4) == 0;
  if (h.proto == 58 && l4_len >= 8) {
    const uint8_t t = l4[0];
    if (t == 129 || t == 128) {
      o << "icmp6 " << (t == 129 ? "echo-reply" : "echo-request") << " id " << (l4[4] << 8 | l4[5])
        << " seq " << (l4[6] << 8 | l4[7]) << " cksum " << (ck_ok ? "ok" : "BAD") << "\n";
      if (l4_len > 8) {
        o << "payload-hex " << hex(l4 + 8, l4_len - 8) << "\n";
      }
      return o.str();
    }
    if ((t == 135 || t == 136) && l4_len >= 24) {
      o << "icmp6 " << (t == 135 ? "ns " : "na ") << ip6_str(l4 + 8);
      if (t == 136) {
        o << ((l4[4] & 0x80) != 0 ? " r" : "") << ((l4[4] & 0x40) != 0 ? " s" : "")
          << ((l4[4] & 0x20) != 0 ? " o" : "");
      }
      for (size_t off = 24; off + 8 <= l4_len && l4[off + 1] != 0; off += l4[off + 1] * 8u) {
        o << (l4[off] == 1 ? " sll " : l4[off] == 2 ? " tll " : " opt ") << mac_str(l4 + off + 2);
      }
      o << " cksum " << (ck_ok ? "ok" : "BAD") << "\n";
      return o.str();
    }
  }
  if (h.proto == IPPROTO_UDP && l4_len >= 8) {
    const size_t ulen = static_cast<size_t>(l4[4] << 8 | l4[5]);
    o << "udp " << (l4[0] << 8 | l4[1]) << " > " << (l4[2] << 8 | l4[3]) << " len " << ulen
      << " cksum " << (ck_ok ? "ok" : "BAD") << "\n";
    o << render_payload(l4 + 8, l4_len - 8);
    return o.str();
  }
  o << "next " << int{h.proto} << "\npayload-hex " << hex(l4, l4_len) << "\n";
  return o.str();
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
  if (type == RTE_ETHER_TYPE_IPV6 && n >= off + sizeof(rte_ipv6_hdr)) {
    return o.str() + render6(f + off, n - off);
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


// An event a worker posted, as text.
std::string render_event(const dp::Event& ev) {
  static constexpr const char* kNames[] = {"neigh_learned",     "neigh_miss", "probe_reply",
                                           "icmp_unreachable",  "send_failed", "mark_dst",
                                           "neigh6_learned",    "neigh6_miss"};
  const auto t = static_cast<size_t>(ev.type);
  std::ostringstream o;
  o << "event " << (t < std::size(kNames) ? kNames[t] : "unknown") << " iface " << ev.iface;
  const std::string addr = ev.ip_be != 0 ? ip_str(ev.ip_be) : "[" + ip6_str(ev.ip6) + "]";
  switch (ev.type) {
    case dp::Event::Type::kIcmpUnreachable:
      o << " " << addr << ":" << ntohs(ev.aux);
      break;
    case dp::Event::Type::kSendFailed:
      o << " " << dp::drop_name(static_cast<dp::Drop>(ev.pad & ~dp::kSendFailedWaited))
        << " " << addr << ":" << ntohs(ev.aux);
      if ((ev.pad & dp::kSendFailedWaited) != 0) {
        o << " after the hold time";
      }
      break;
    case dp::Event::Type::kNeighMiss:
    case dp::Event::Type::kNeighLearned:
      o << " " << ip_str(ev.ip_be) << " " << mac_str(ev.mac.b);
      break;
    case dp::Event::Type::kNeigh6Miss:
    case dp::Event::Type::kNeigh6Learned:
      o << " " << ip6_str(ev.ip6) << " " << mac_str(ev.mac.b);
      break;
    default:
      o << " ip " << ip_str(ev.ip_be) << " aux " << ev.aux;
      break;
  }
  return o.str();
}


class GoldenTest : public ::testing::TestWithParam<std::string> {};

TEST_P(GoldenTest, OutputMatches) {
  const fs::path path = fs::path(VD_GOLDEN_DIR) / (GetParam() + ".case");
  CaseFile c = read_case(path);
  ASSERT_FALSE(c.inputs.empty()) << path << ": no `== in` block";
  std::string error;
  auto snap = golden_snapshot(error, c.header);
  ASSERT_NE(snap, nullptr) << error;
  auto ctx = std::make_unique<dp::WorkerCtx>();
  dp::WorkerCounters counters;
  ctx->counters = &counters;
  // `events`: a ring as a daemon worker has one, drained after each frame.
  struct RingFree {
    void operator()(rte_ring* r) const { rte_ring_free(r); }
  };
  std::unique_ptr<rte_ring, RingFree> events;
  if (!directives(c.header, "events").empty()) {
    static int n_rings = 0;
    const std::string name = "golden_ev" + std::to_string(n_rings++);
    events.reset(rte_ring_create_elem(name.c_str(), sizeof(dp::Event), 64, 0,
                                      RING_F_SP_ENQ | RING_F_SC_DEQ));
    ASSERT_NE(events, nullptr);
    ctx->events = events.get();
  }
  // Reassembly and egress fragmentation as a daemon worker has them (a fresh table per case).
  rte_ip_frag_tbl* tbl = rte_ip_frag_table_create(16, 8, 64, rte_get_tsc_hz() * 2, 0);
  auto* dr = static_cast<rte_ip_frag_death_row*>(
      rte_zmalloc(nullptr, sizeof(rte_ip_frag_death_row), RTE_CACHE_LINE_SIZE));
  ASSERT_TRUE(tbl != nullptr && dr != nullptr);
  ctx->pool = GoldenEnv::pool;
  ctx->big_pool = GoldenEnv::big_pool;
  // Frames for a next hop without a MAC are held, as a daemon worker holds them: after each
  // input, those whose MAC the pipeline learned go out (`tx ... (held, sent)`); after the last
  // input the hold time is over for the rest (`drop no_neighbour (held, expired)`).
  ctx->neigh_hold_cycles = rte_get_tsc_hz() * dp::kNeighHoldSeconds;
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
  uint64_t expired_seen = 0;  // no_neighbour drops of held frames rendered so far
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
      const auto* b0 = rte_pktmbuf_mtod(ctx->frag_out[0], const uint8_t*);
      const bool six = rte_pktmbuf_data_len(ctx->frag_out[0]) > 14 && b0[12] == 0x86 &&
                       b0[13] == 0xdd;
      for (uint16_t k = 0; six && k < ctx->n_frags; ++k) {
        // IPv6: each fragment's Ethernet, IPv6 and Fragment header lines, then the datagram
        // (the unfragmentable IPv6 header with the Fragment header's next header).
        const rte_mbuf* f = ctx->frag_out[k];
        const auto* b = rte_pktmbuf_mtod(f, const uint8_t*);
        std::vector<std::string> lines = split_lines(render(b, rte_pktmbuf_data_len(f)));
        out.push_back("tx port " + std::to_string(v.tx_port) + " fragment " +
                      std::to_string(k + 1) + "/" + std::to_string(ctx->n_frags));
        for (size_t i = 0; i < 3 && i < lines.size(); ++i) {
          out.push_back(lines[i]);
        }
        const size_t plen = static_cast<size_t>(b[18] << 8 | b[19]);
        const size_t off = static_cast<size_t>((b[56] << 8 | b[57]) & ~7);
        if (k == 0) {
          whole.assign(b, b + 54);
          whole[20] = b[54];  // next header: the fragment's
        }
        if (off + 54 != whole.size()) {
          out.push_back("GAP OR OVERLAP at offset " + std::to_string(off));
        }
        whole.insert(whole.end(), b + 62, b + 54 + plen);
      }
      if (six) {
        whole[18] = static_cast<uint8_t>((whole.size() - 54) >> 8);
        whole[19] = static_cast<uint8_t>(whole.size() - 54);
        out.push_back("reassembled");
        for (std::string& l : split_lines(render(whole.data(), whole.size()))) {
          out.push_back(std::move(l));
        }
        rte_pktmbuf_free_bulk(ctx->frag_out, ctx->n_frags);
      }
      for (uint16_t k = 0; !six && k < ctx->n_frags; ++k) {
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
      if (!six) {
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
      }
    } else if (v.is_drop()) {
      out.push_back(std::string("drop ") + dp::drop_name(v.drop));
    } else if (v.kind == dp::Verdict::Kind::kHeld) {
      // The hold's last frame is this one, or the last fragment cut from it; else the
      // reassembly table keeps it.
      const rte_mbuf* last = ctx->hold.n != 0 ? ctx->hold.f[ctx->hold.n - 1].m : nullptr;
      if (last != nullptr && last == m) {
        out.push_back("held (waiting for the next hop's MAC)");
      } else if (last != nullptr && ctx->n_frags != 0 &&
                 last == ctx->frag_out[ctx->n_frags - 1]) {
        out.push_back("held (" + std::to_string(ctx->n_frags) +
                      " fragments waiting for the next hop's MAC)");
      } else {
        out.push_back("held (waiting for the rest of the datagram)");
      }
    } else {
      out.push_back("consumed");
    }
    if (v.kind != dp::Verdict::Kind::kHeld) {
      rte_pktmbuf_free(m);
    }
    // Held frames: those whose MAC is known now are sent; after the last input, the hold
    // time is over for the others.
    const bool last = &in == &c.inputs.back();
    rte_mbuf* sent[dp::NeighHold::kMax];
    const uint16_t n_sent = dp::service_held(snap->snap, *ctx, last ? UINT64_MAX : rte_rdtsc(),
                                             sent, dp::NeighHold::kMax);
    for (uint16_t k = 0; k < n_sent; ++k) {
      emit("tx port " + std::to_string(sent[k]->port) + " (held, sent)", sent[k]);
      rte_pktmbuf_free(sent[k]);
    }
    for (uint64_t k = counters.drops[static_cast<size_t>(dp::Drop::kNoNeighbour)].read();
         k > expired_seen; --k) {
      out.push_back("drop no_neighbour (held, expired)");
    }
    expired_seen = counters.drops[static_cast<size_t>(dp::Drop::kNoNeighbour)].read();
    while (!out.empty() && out.back().empty()) {
      out.pop_back();  // as read_case() does with the expectation
    }
    for (dp::Event ev; events != nullptr &&
                       rte_ring_sc_dequeue_elem(events.get(), &ev, sizeof(ev)) == 0;) {
      out.push_back(render_event(ev));
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

// Every input frame carries right checksums (an IPv4 header sum; a UDP sum over IPv4 and IPv6,
// where the frame holds the whole datagram as its lengths say) unless its case asks for a wrong
// one (badck, wrongck, nock, badipck): viaduct drops damaged datagrams, so a case about
// something else must not be one by accident.
TEST(GoldenInputs, CarryRightChecksums) {
  size_t ip_checked = 0;
  size_t udp_checked = 0;
  for (const std::string& name : case_names()) {
    for (const FrameSpec& in : read_case(fs::path(VD_GOLDEN_DIR) / (name + ".case")).inputs) {
      bool wrong_udp = false;
      bool no_udp_sum = false;
      bool wrong_ip = false;
      bool raw = false;
      for (const std::string& l : in.lines) {
        const std::vector<std::string> w = words(l);
        if (!w.empty() && (w[0] == "ipv4" || w[0] == "ipv6")) {
          wrong_udp = flag(w, "badck") || flag(w, "wrongck");
          no_udp_sum = flag(w, "nock");
          wrong_ip = flag(w, "badipck");
        }
        raw = raw || (!w.empty() && w[0] == "raw");
      }
      std::string error;
      const std::vector<uint8_t> f = build(in, error);
      ASSERT_TRUE(error.empty()) << name << ": " << error;
      if (raw || f.size() < 14) {
        continue;
      }
      size_t l2 = 14;
      uint16_t type = static_cast<uint16_t>(f[12] << 8 | f[13]);
      if (type == RTE_ETHER_TYPE_VLAN && f.size() >= 18) {
        l2 = 18;
        type = static_cast<uint16_t>(f[16] << 8 | f[17]);
      }
      const uint8_t* p = f.data() + l2;
      const size_t n = f.size() - l2;
      if (type == RTE_ETHER_TYPE_IPV4 && n >= 20) {
        const size_t ihl = static_cast<size_t>(p[0] & 0x0f) * 4;
        const size_t tot = static_cast<size_t>(p[2] << 8 | p[3]);
        EXPECT_EQ(rte_raw_cksum(p, std::min(ihl, n)) == 0xffff, !wrong_ip)
            << name << ": IPv4 header checksum";
        ++ip_checked;
        const bool whole = (p[6] & 0x3f) == 0 && p[7] == 0;  // no MF, offset 0
        if (p[9] == IPPROTO_UDP && whole && tot == n && n >= ihl + 8 &&
            static_cast<size_t>(p[ihl + 4] << 8 | p[ihl + 5]) == tot - ihl) {
          const bool zero = p[ihl + 6] == 0 && p[ihl + 7] == 0;
          const bool ok =
              rte_ipv4_udptcp_cksum_verify(reinterpret_cast<const rte_ipv4_hdr*>(p), p + ihl) == 0;
          EXPECT_EQ(ok || zero, !wrong_udp) << name << ": UDP checksum over IPv4";
          EXPECT_EQ(zero, no_udp_sum) << name << ": UDP checksum over IPv4 is 0";
          ++udp_checked;
        }
      } else if (type == RTE_ETHER_TYPE_IPV6 && n >= 48 && p[6] == IPPROTO_UDP) {
        const size_t plen = static_cast<size_t>(p[4] << 8 | p[5]);
        if (plen + 40 == n && static_cast<size_t>(p[44] << 8 | p[45]) == plen) {
          const bool ok =
              rte_ipv6_udptcp_cksum_verify(reinterpret_cast<const rte_ipv6_hdr*>(p), p + 40) == 0;
          EXPECT_EQ(ok && (p[46] | p[47]) != 0, !wrong_udp) << name << ": UDP checksum over IPv6";
          ++udp_checked;
        }
      }
    }
  }
  EXPECT_GT(ip_checked, 40u);
  EXPECT_GT(udp_checked, 40u);
}


// Every input frame of every case, mutated at random (a fixed seed: the run is reproducible),
// through handle_packet() in PipelineRig: it must never crash (CI also runs this under ASan +
// UBSan), never lose an mbuf, and what it sends must be a well-formed frame (pipeline_rig.hpp).
// Half the frames get their checksums put right again, so that mutations of the SIP message reach
// the scanner; a quarter run with two next hops unknown (held), half of those then released.
// VD_MUTATIONS overrides the count, VD_MUTATION_SEED the seed.
TEST(GoldenMutations, NoCrashNoLeakWellFormedOutput) {
  std::vector<std::vector<uint8_t>> seeds;
  std::string error;
  for (const std::string& name : case_names()) {
    for (const FrameSpec& in : read_case(fs::path(VD_GOLDEN_DIR) / (name + ".case")).inputs) {
      std::vector<uint8_t> b = build(in, error);
      if (!b.empty() && b.size() <= RTE_MBUF_DEFAULT_DATAROOM) {
        seeds.push_back(std::move(b));
      }
    }
  }
  ASSERT_GT(seeds.size(), 20u);
  rte_mempool* pool = rte_pktmbuf_pool_create("mutations", 2047, 0, 0,
                                              RTE_MBUF_DEFAULT_BUF_SIZE, 0);
  ASSERT_NE(pool, nullptr);
  {
    PipelineRig rig(pool, GoldenEnv::big_pool, error);
    ASSERT_TRUE(rig.ok()) << error;
    const char* env = std::getenv("VD_MUTATIONS");
    const long count = env != nullptr ? std::atol(env) : 40000;
    const char* seed_env = std::getenv("VD_MUTATION_SEED");
    std::mt19937 rng(seed_env != nullptr ? static_cast<uint32_t>(std::atol(seed_env))
                                         : 20261122u);
    for (long it = 0; it < count; ++it) {
      std::vector<uint8_t> f = seeds[rng() % seeds.size()];
      mutate_frame(f, rng);
      RigInput in;
      in.flags = static_cast<uint8_t>(rng() % 8);
      in.frames.push_back(std::move(f));
      const char* fault = rig.run(in);
      ASSERT_EQ(fault, nullptr) << fault << " (mutation " << it << ")";
    }
    EXPECT_GT(rig.sent(), static_cast<uint64_t>(count / 20));  // many stay intact enough to go
  }
  EXPECT_EQ(rte_mempool_avail_count(pool), 2047u) << "mbufs leaked";
  rte_mempool_free(pool);
}

// The pipeline fuzz target's seed corpus (tests/golden/corpus/, pipeline_rig.hpp's encoding):
// one input per golden case, its frames in order (flags 0, script 0), and one per differential
// script, its messages in order (script byte: the script's index in RigSet). VD_GOLDEN_UPDATE=1
// writes it again.
class GoldenFuzzCorpus : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    pool_ = rte_pktmbuf_pool_create("corpus", 2047, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE, 0);
    ASSERT_NE(pool_, nullptr);
    std::string error;
    rigs_ = new RigSet(pool_, GoldenEnv::big_pool, VD_DIFF_DATA, error);
    ASSERT_TRUE(rigs_->ok()) << error;
  }
  static void TearDownTestSuite() {
    delete rigs_;
    EXPECT_EQ(rte_mempool_avail_count(pool_), 2047u) << "mbufs leaked";
    rte_mempool_free(pool_);
  }
  // Checks (or with VD_GOLDEN_UPDATE writes) the seed `name` holding `in`.
  static void expect_seed(const std::string& name, const RigInput& in) {
    const std::vector<uint8_t> want = encode(in);
    const fs::path path = fs::path(VD_GOLDEN_CORPUS) / name;
    if (std::getenv("VD_GOLDEN_UPDATE") != nullptr) {
      fs::create_directories(VD_GOLDEN_CORPUS);
      std::ofstream(path, std::ios::binary)
          .write(reinterpret_cast<const char*>(want.data()),
                 static_cast<std::streamsize>(want.size()));
    }
    std::ifstream is(path, std::ios::binary);
    const std::vector<uint8_t> got((std::istreambuf_iterator<char>(is)),
                                   std::istreambuf_iterator<char>());
    EXPECT_TRUE(got == want) << path << " is not " << name
                             << "'s frames (VD_GOLDEN_UPDATE=1 writes it)";
  }
  static inline rte_mempool* pool_ = nullptr;
  static inline RigSet* rigs_ = nullptr;
};

TEST_F(GoldenFuzzCorpus, HoldsEveryCaseAndEveryDifferentialScript) {
  std::string error;
  size_t checked = 0;
  for (const std::string& name : case_names()) {
    RigInput in;
    for (const FrameSpec& f : read_case(fs::path(VD_GOLDEN_DIR) / (name + ".case")).inputs) {
      std::vector<uint8_t> b = build(f, error);
      ASSERT_TRUE(error.empty()) << name << ": " << error;
      if (b.size() <= RTE_MBUF_DEFAULT_DATAROOM && in.frames.size() < kRigMaxFrames) {
        in.frames.push_back(std::move(b));
      }
    }
    expect_seed(name, in);
    ++checked;
  }
  EXPECT_GT(checked, 40u);
  ASSERT_GE(rigs_->size(), 24u);
  ASSERT_LE(rigs_->size(), 256u);  // the index is the input's script byte
  for (size_t i = 1; i < rigs_->size(); ++i) {
    RigInput in;
    in.script = static_cast<uint8_t>(i);
    const auto& msgs = rigs_->messages(i);
    in.frames.assign(msgs.begin(), msgs.begin() + std::min(msgs.size(), kRigMaxFrames));
    expect_seed("diff-" + rigs_->name(i), in);
  }
}

// Every file of the corpus (the seeds, and inputs the fuzzer found and were merged in) through
// its script's rig with each combination of the low flags: no property broken.
TEST_F(GoldenFuzzCorpus, ReplaysCleanWithEveryFlag) {
  size_t files = 0;
  uint64_t sent = 0;
  for (const auto& [path, input] : read_corpus(VD_GOLDEN_CORPUS)) {
    for (const RigInput& in : with_every_low_flag(input)) {
      PipelineRig& rig = rigs_->rig_for(in);
      const uint64_t before = rig.sent();
      const char* fault = rig.run(in);
      EXPECT_EQ(fault, nullptr) << fault << ": " << path << " flags " << int{in.flags} << " script " << int{in.script};
      sent += rig.sent() - before;
    }
    ++files;
  }
  EXPECT_GT(files, 70u);
  EXPECT_GT(sent, files);
}

}  // namespace
}  // namespace viaduct::test

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  ::testing::AddGlobalTestEnvironment(new viaduct::test::GoldenEnv);
  return RUN_ALL_TESTS();
}
