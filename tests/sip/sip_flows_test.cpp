// SPDX-License-Identifier: Apache-2.0
// tests/sip/sip_flows_test.cpp: RFC 3665 call flows through the scanner. Each message of
// data/rfc3665/ must scan kOk with the fields its MANIFEST.tsv row names; within each flow the
// messages must then hang together the way RFC 3261 transactions do: responses carry their
// request's Via list, CSeq and tags; the ACK of a non-2xx and the CANCEL share the INVITE's top
// branch and stateless_branch(); new requests raise the CSeq, forwarded copies add one Via and
// take one off Max-Forwards.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <ostream>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "dataplane/sip/sip.hpp"
#include "tests/sip/sip_test_util.hpp"

namespace viaduct::sip {
namespace {

const std::string kDir = std::string(VD_SIP_DATA) + "/rfc3665/";

// One MANIFEST.tsv row; "-" in the file is an empty string here.
struct Row {
  std::string file, flow, msg, kind, method, status, vias, branch, cseq_num, cseq_method, call_id,
      from_tag, to_tag, max_forwards, content_length, rel;
};

// gtest prints a failing parameter with this: the file name, not the struct's bytes.
void PrintTo(const Row& r, std::ostream* os) { *os << r.file; }

std::vector<Row> load_manifest() {
  std::istringstream in(test::read_file(kDir + "MANIFEST.tsv"));
  std::vector<Row> rows;
  std::string line;
  std::getline(in, line);  // column names
  while (std::getline(in, line)) {
    if (line.empty()) {
      continue;
    }
    std::vector<std::string> f;
    std::istringstream cols(line);
    for (std::string c; std::getline(cols, c, '\t');) {
      f.push_back(c == "-" ? std::string() : c);
    }
    f.resize(16);
    rows.push_back(Row{f[0], f[1], f[2], f[3], f[4], f[5], f[6], f[7], f[8], f[9], f[10], f[11],
                       f[12], f[13], f[14], f[15]});
  }
  return rows;
}

const std::vector<Row>& manifest() {
  static const std::vector<Row> rows = load_manifest();
  return rows;
}

uint32_t num(const std::string& s) { return static_cast<uint32_t>(std::stoul(s)); }

// A gtest name: "3.2-F1-INVITE" -> "m3_2_F1_INVITE".
std::string ident(std::string s) {
  std::replace_if(
      s.begin(), s.end(), [](char c) { return c == '.' || c == '-'; }, '_');
  return "m" + s;
}

// ---- every message, against its row -----------------------------------------------------

class Rfc3665MessageTest : public ::testing::TestWithParam<Row> {};

TEST_P(Rfc3665MessageTest, ScansWithManifestFields) {
  const Row& r = GetParam();
  const std::string m = test::read_file(kDir + r.file);
  ASSERT_FALSE(m.empty()) << r.file;
  const char* p = m.data();
  // The files keep the wire form: CRLF line ends only.
  for (size_t i = 0; i < m.size(); ++i) {
    if (m[i] == '\n') {
      ASSERT_TRUE(i > 0 && m[i - 1] == '\r') << "bare LF at " << i;
    } else if (m[i] == '\r') {
      ASSERT_TRUE(i + 1 < m.size() && m[i + 1] == '\n') << "bare CR at " << i;
    }
  }
  SipView v;
  ASSERT_EQ(scan_status_name(scan(p, m.size(), v)), scan_status_name(ScanStatus::kOk));
  EXPECT_TRUE(test::spans_inside(v, m.size()));
  EXPECT_EQ(v.is_request, r.kind == "request");
  if (v.is_request) {
    EXPECT_EQ(v.method_name.in(p), r.method);
    EXPECT_EQ(v.method, r.method == "INVITE"     ? Method::kInvite
                        : r.method == "ACK"      ? Method::kAck
                        : r.method == "BYE"      ? Method::kBye
                        : r.method == "CANCEL"   ? Method::kCancel
                        : r.method == "REGISTER" ? Method::kRegister
                                                 : Method::kOther);
    EXPECT_TRUE(r.status.empty());
  } else {
    EXPECT_EQ(v.status, num(r.status));
    EXPECT_FALSE(v.reason.empty());
    EXPECT_TRUE(r.method.empty());
  }
  EXPECT_EQ(v.via_count, num(r.vias));
  EXPECT_EQ(v.via1.branch.in(p), r.branch);
  EXPECT_EQ(v.via1.transport.in(p), r.flow == "3.1" ? "TCP" : "TLS");
  EXPECT_EQ(v.via2.value.empty(), v.via_count < 2);
  EXPECT_TRUE(v.top_via_alone);  // RFC 3665 writes one Via value per line
  EXPECT_EQ(v.cseq_num, num(r.cseq_num));
  EXPECT_EQ(v.cseq_method.in(p), r.cseq_method);
  EXPECT_EQ(v.call_id.in(p), r.call_id);
  EXPECT_EQ(v.from_tag.in(p), r.from_tag);
  EXPECT_EQ(v.to_tag.in(p), r.to_tag);
  EXPECT_EQ(v.has_max_forwards, !r.max_forwards.empty());
  if (v.has_max_forwards) {
    EXPECT_EQ(v.max_forwards, num(r.max_forwards));
  }
  // Content-Length is exact: the body is the rest of the file, nothing more, nothing less.
  ASSERT_TRUE(v.has_content_length);
  EXPECT_EQ(v.content_length, num(r.content_length));
  EXPECT_EQ(m.size() - v.body_off, v.content_length);
  EXPECT_EQ(v.len, m.size());
  // The URIs the proxies route on parse.
  Uri u;
  if (v.is_request) {
    EXPECT_TRUE(parse_uri(p, v.ruri, u)) << v.ruri.in(p);
  }
  EXPECT_TRUE(parse_uri(p, header_uri(p, v[Hdr::kFrom]), u));
  EXPECT_TRUE(parse_uri(p, header_uri(p, v[Hdr::kTo]), u));
}

INSTANTIATE_TEST_SUITE_P(Rfc3665, Rfc3665MessageTest, ::testing::ValuesIn(manifest()),
                         [](const auto& info) {
                           const std::string& f = info.param.file;
                           return ident(f.substr(0, f.size() - 4));  // ".sip"
                         });

TEST(Rfc3665, ManifestCoversEveryFile) {
  ASSERT_GE(manifest().size(), 70u);
  std::set<std::string> seen;
  for (const Row& r : manifest()) {
    EXPECT_TRUE(seen.insert(r.file).second) << "twice: " << r.file;
    EXPECT_EQ(r.file, r.flow + "-" + r.msg + "-" + (r.kind == "request" ? r.method : r.status) +
                          ".sip");
  }
  // The flows named in the brief are all there.
  for (const char* f : {"2.1-F2-401.sip", "2.3-F1-REGISTER.sip", "3.1-F1-INVITE.sip",
                        "3.2-F23-200.sip", "3.8-F12-CANCEL.sip", "3.8-F18-487.sip",
                        "3.9-F9-486.sip", "3.9-F14-ACK.sip"}) {
    EXPECT_EQ(seen.count(f), 1u) << f;
  }
}

// ---- transaction matching within a flow --------------------------------------------------

// A scanned message of a flow.
struct Msg {
  const Row* row = nullptr;
  std::string bytes;
  SipView v;

  const char* p() const { return bytes.data(); }
  std::string_view s(Span sp) const { return sp.in(bytes.data()); }
  std::string branch() const {
    char b[kBranchLen];
    stateless_branch(p(), v, b);
    return std::string(b, kBranchLen);
  }
};

std::vector<std::string> flow_names() {
  std::vector<std::string> out;
  for (const Row& r : manifest()) {
    if (std::find(out.begin(), out.end(), r.flow) == out.end()) {
      out.push_back(r.flow);
    }
  }
  return out;
}

// The same sent-by and branch (received/rport differ between a request and its response).
void expect_same_top_via(const Msg& a, const Msg& b, const std::string& what) {
  EXPECT_EQ(a.s(a.v.via1.transport), b.s(b.v.via1.transport)) << what;
  EXPECT_EQ(a.s(a.v.via1.host), b.s(b.v.via1.host)) << what;
  EXPECT_EQ(a.v.via1.port_num, b.v.via1.port_num) << what;
  EXPECT_EQ(a.s(a.v.via1.branch), b.s(b.v.via1.branch)) << what;
}

class Rfc3665FlowTest : public ::testing::TestWithParam<std::string> {};

TEST_P(Rfc3665FlowTest, TransactionsMatch) {
  const std::string& flow = GetParam();
  std::map<std::string, Msg> msgs;  // by label
  std::vector<const Msg*> order;
  for (const Row& r : manifest()) {
    if (r.flow != flow) {
      continue;
    }
    Msg& m = msgs[r.msg];
    m.row = &r;
    m.bytes = test::read_file(kDir + r.file);
    ASSERT_EQ(scan(m.p(), m.bytes.size(), m.v), ScanStatus::kOk) << r.file;
    order.push_back(&m);
  }
  ASSERT_GE(order.size(), 2u);
  // Labels are F1..Fn in order.
  for (size_t i = 0; i < order.size(); ++i) {
    EXPECT_EQ(order[i]->row->msg, "F" + std::to_string(i + 1));
  }
  const std::string call_id(order[0]->s(order[0]->v.call_id));

  auto target = [&](const Msg& m) -> const Msg& {
    const std::string& rel = m.row->rel;
    const Msg& t = msgs.at(rel.substr(rel.find(':') + 1));
    EXPECT_TRUE(t.v.is_request) << m.row->file << " -> " << t.row->file;
    return t;
  };
  // The final response to INVITE `inv` on its hop (the last one in the flow).
  auto final_response = [&](const Msg& inv) -> const Msg* {
    const Msg* out = nullptr;
    for (const Msg* m : order) {
      if (!m->v.is_request && m->v.status >= 200 && m->row->rel == "resp:" + inv.row->msg) {
        out = m;
      }
    }
    return out;
  };

  std::set<std::string> invite_branches;
  // Per originator (From URI), the highest CSeq of its new requests, and the latest copy of
  // each (CSeq, method) for the forwarded-copy rule.
  std::map<std::string, uint32_t> last_cseq;
  std::map<std::string, const Msg*> last_copy;
  for (const Msg* mp : order) {
    const Msg& m = *mp;
    const SipView& v = m.v;
    const std::string& rel = m.row->rel;
    const std::string file = m.row->file;
    SCOPED_TRACE(file);
    EXPECT_EQ(m.s(v.call_id), call_id);  // each RFC 3665 flow is one Call-ID

    if (!v.is_request) {
      // A response: same Via list as its request on this hop, same CSeq, From and Call-ID;
      // the To tag of an in-dialog request is kept.
      ASSERT_TRUE(rel.starts_with("resp:")) << rel;
      const Msg& req = target(m);
      expect_same_top_via(m, req, "top Via of the response vs its request");
      EXPECT_EQ(v.via_count, req.v.via_count);
      if (v.via_count >= 2) {
        EXPECT_EQ(m.s(v.via2.branch), req.s(req.v.via2.branch));
        EXPECT_EQ(m.s(v.via2.host), req.s(req.v.via2.host));
      }
      EXPECT_FALSE(v.via1.received.empty()) << "the server stamps received on the top Via";
      EXPECT_EQ(v.cseq_num, req.v.cseq_num);
      EXPECT_EQ(m.s(v.cseq_method), req.s(req.v.method_name));
      EXPECT_EQ(v.method, req.v.method);
      EXPECT_EQ(m.s(v.from_tag), req.s(req.v.from_tag));
      if (!req.v.to_tag.empty()) {
        EXPECT_EQ(m.s(v.to_tag), req.s(req.v.to_tag));
      }
      if (v.status >= 200 && req.v.method != Method::kCancel) {
        EXPECT_FALSE(v.to_tag.empty()) << "a final response has a To tag";
      }
      continue;
    }

    const std::string key(m.s(header_uri(m.p(), v[Hdr::kFrom])));
    if (v.method == Method::kAck || v.method == Method::kCancel) {
      ASSERT_FALSE(rel.empty()) << "ACK and CANCEL name their INVITE";
      const Msg& inv = target(m);
      EXPECT_EQ(inv.v.method, Method::kInvite);
      // CSeq number of the INVITE, own method (RFC 3261 9.1, 17.1.1.3, 13.2.2.4).
      EXPECT_EQ(v.cseq_num, inv.v.cseq_num);
      EXPECT_EQ(m.s(v.cseq_method), m.s(v.method_name));
      EXPECT_EQ(m.s(v.from_tag), inv.s(inv.v.from_tag));
      EXPECT_EQ(m.s(v.call_id), inv.s(inv.v.call_id));
      if (rel.starts_with("cancel:") || rel.starts_with("ack-non2xx:")) {
        // Same transaction as the INVITE: one Via equal to the INVITE's top one, the same
        // Request-URI, and so the same stateless branch a proxy gives the INVITE.
        EXPECT_EQ(v.via_count, 1);
        expect_same_top_via(m, inv, "top Via of the ACK/CANCEL vs its INVITE");
        EXPECT_EQ(m.s(v.ruri), inv.s(inv.v.ruri));
        EXPECT_EQ(m.branch(), inv.branch()) << "stateless_branch of " << file << " and "
                                            << inv.row->file;
      }
      if (rel.starts_with("cancel:")) {
        EXPECT_EQ(v.method, Method::kCancel);
        EXPECT_EQ(m.s(v[Hdr::kTo]), inv.s(inv.v[Hdr::kTo])) << "CANCEL's To is the INVITE's";
      } else if (rel.starts_with("ack-non2xx:")) {
        EXPECT_EQ(v.method, Method::kAck);
        const Msg* fin = final_response(inv);
        ASSERT_NE(fin, nullptr) << "no final response to " << inv.row->file;
        EXPECT_GE(fin->v.status, 300);
        EXPECT_EQ(m.s(v.to_tag), fin->s(fin->v.to_tag)) << "ACK's To tag is the response's";
      } else {
        ASSERT_TRUE(rel.starts_with("ack-2xx:")) << rel;
        EXPECT_EQ(v.method, Method::kAck);
        const Msg* fin = final_response(inv);
        ASSERT_NE(fin, nullptr) << "no final response to " << inv.row->file;
        EXPECT_LT(fin->v.status, 300);
        EXPECT_GE(fin->v.status, 200);
        EXPECT_EQ(m.s(v.to_tag), fin->s(fin->v.to_tag));
        // The ACK of a 2xx is a transaction of its own.
        EXPECT_NE(m.s(v.via1.branch), inv.s(inv.v.via1.branch));
        EXPECT_NE(m.branch(), inv.branch());
      }
      continue;
    }

    // Any other request starts a transaction: either a new request of its originator, with a
    // higher CSeq than any before, or a proxy's copy of one: one more Via (the proxy's on top
    // of the previous hop's), one less Max-Forwards, the same CSeq.
    EXPECT_TRUE(rel.empty()) << rel;
    const std::string copy_key = key + " " + std::string(m.s(v.cseq_method)) + " " +
                                 std::to_string(v.cseq_num);
    if (auto it = last_copy.find(copy_key); it != last_copy.end()) {
      const Msg& prev = *it->second;
      EXPECT_EQ(v.via_count, prev.v.via_count + 1) << "copy of " << prev.row->file;
      EXPECT_EQ(m.s(v.via2.branch), prev.s(prev.v.via1.branch));
      EXPECT_EQ(m.s(v.via2.host), prev.s(prev.v.via1.host));
      EXPECT_EQ(v.max_forwards + 1, prev.v.max_forwards);
      EXPECT_NE(m.s(v.via1.branch), prev.s(prev.v.via1.branch));
    } else {
      auto [seq, fresh] = last_cseq.try_emplace(key, v.cseq_num);
      if (!fresh) {
        EXPECT_GT(v.cseq_num, seq->second) << "a new request of " << key << " raises CSeq";
        seq->second = v.cseq_num;
      }
      EXPECT_EQ(v.via_count, 1) << "a new request carries only its sender's Via";
      EXPECT_EQ(v.max_forwards, 70u);
    }
    last_copy[copy_key] = &m;
    if (v.method == Method::kInvite) {
      EXPECT_TRUE(invite_branches.insert(m.branch()).second)
          << "stateless_branch must differ between the INVITE transactions of a flow";
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Rfc3665, Rfc3665FlowTest, ::testing::ValuesIn(flow_names()),
                         [](const auto& info) { return ident(info.param); });

}  // namespace
}  // namespace viaduct::sip
