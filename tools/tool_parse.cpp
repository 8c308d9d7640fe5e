// SPDX-License-Identifier: Apache-2.0
// tools/tool_parse.cpp: `viaduct-tool parse FILE|-`: scans one SIP message with the dataplane's
// scanner (sip::scan) and prints what it found as one JSON object on one line.
//
// Exit status: 0 when the message scans kOk, 1 when it does not, 2 on usage errors (no
// argument, a file that cannot be read). An invalid message prints `valid`, `error` (the
// scan_status_name label) and the Via values the tool's own walker finds: the SipView is
// unspecified after a failed scan, so nothing is taken from it then.
//
// The SipView keeps only the top two Via values, so `vias` comes from a walker of this file
// that visits every Via / `v` header line and splits each on commas outside quotes and <...>;
// each value then goes through sip::parse_via. It is a tool, not the fast path: clarity first.
#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "dataplane/sip/sip.hpp"
#include "tools/tool.hpp"

namespace viaduct::tool {

namespace {

using Json = nlohmann::ordered_json;  // keys in the order written: easier to read

// Reads all of `path` ("-": stdin) into out. False (errno-style message in err) on failure.
bool read_input(const std::string& path, std::string& out, std::string& err) {
  FILE* f = path == "-" ? stdin : std::fopen(path.c_str(), "rb");
  if (f == nullptr) {
    err = std::strerror(errno);
    return false;
  }
  char buf[16384];
  size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0) {
    out.append(buf, n);
  }
  const bool failed = std::ferror(f) != 0;
  if (failed) {
    err = std::strerror(errno);  // e.g. EISDIR for a directory
  }
  if (f != stdin) {
    std::fclose(f);
  }
  return !failed;
}

constexpr bool is_ws(char c) { return c == ' ' || c == '\t'; }
constexpr bool is_lws(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }
constexpr char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }

bool is_via_name(std::string_view n) {
  if (n.size() == 1) {
    return lower(n[0]) == 'v';
  }
  return n.size() == 3 && lower(n[0]) == 'v' && lower(n[1]) == 'i' && lower(n[2]) == 'a';
}

// The end of the line starting at p: the offset of its LF, or msg.size() when there is none.
size_t line_end(std::string_view msg, size_t p) {
  const size_t lf = msg.find('\n', p);
  return lf == std::string_view::npos ? msg.size() : lf;
}

// Trims LWS (folding leaves CR/LF inside a value) from both ends of [b, e).
sip::Span trimmed(std::string_view msg, size_t b, size_t e) {
  while (b < e && is_lws(msg[b])) {
    ++b;
  }
  while (e > b && is_lws(msg[e - 1])) {
    --e;
  }
  return sip::Span{static_cast<uint16_t>(b), static_cast<uint16_t>(e - b)};
}

// Every Via value of the header section, top first. Each Via field (name, colon, value and its
// folded continuation lines) is split on commas outside quoted strings and <...>. msg must be at
// most kMaxMessage bytes (the spans are 16-bit).
std::vector<sip::Span> via_values(std::string_view msg) {
  std::vector<sip::Span> out;
  size_t p = line_end(msg, 0) + 1;  // past the start line
  // A field is handled once the next one (or the end of the headers) starts: value_off is the
  // first byte after its colon, value_end the end of its last line's content.
  bool in_via = false;
  size_t value_off = 0;
  size_t value_end = 0;
  auto flush = [&] {
    if (!in_via) {
      return;
    }
    size_t q = value_off;
    size_t start = value_off;
    int angle = 0;
    bool quoted = false;
    for (; q < value_end; ++q) {
      const char c = msg[q];
      if (quoted) {
        if (c == '\\') {
          ++q;  // quoted-pair
        } else if (c == '"') {
          quoted = false;
        }
      } else if (c == '"') {
        quoted = true;
      } else if (c == '<') {
        ++angle;
      } else if (c == '>' && angle > 0) {
        --angle;
      } else if (c == ',' && angle == 0) {
        out.push_back(trimmed(msg, start, q));
        start = q + 1;
      }
    }
    out.push_back(trimmed(msg, start, std::min(q, value_end)));
    in_via = false;
  };
  while (p < msg.size()) {
    const size_t lf = line_end(msg, p);
    const size_t content_end = (lf > p && msg[lf - 1] == '\r') ? lf - 1 : lf;
    if (content_end == p) {
      break;  // the empty line ending the headers
    }
    if (is_ws(msg[p])) {
      value_end = content_end;  // a folded continuation of the current field
    } else {
      flush();
      const size_t colon = msg.find(':', p);
      if (colon == std::string_view::npos || colon >= content_end) {
        break;  // not a header line: the scanner says what is wrong with it
      }
      size_t name_end = colon;
      while (name_end > p && is_ws(msg[name_end - 1])) {
        --name_end;
      }
      in_via = is_via_name(msg.substr(p, name_end - p));
      value_off = colon + 1;
      value_end = content_end;
    }
    p = lf + 1;
  }
  flush();
  return out;
}

Json via_json(const char* msg, sip::Span value) {
  auto str = [msg](sip::Span s) { return std::string(s.in(msg)); };
  Json j;
  sip::Via via;
  if (!sip::parse_via(msg, value, via)) {
    j["error"] = sip::scan_status_name(sip::ScanStatus::kBadVia);
    j["value"] = str(value);
    return j;
  }
  j["transport"] = str(via.transport);
  j["host"] = str(via.host);
  if (!via.port.empty()) {
    j["port"] = via.port_num;
  }
  if (!via.branch.empty()) {
    j["branch"] = str(via.branch);
  }
  if (!via.received.empty()) {
    j["received"] = str(via.received);
  }
  if (via.has_rport) {
    if (via.rport.empty()) {
      j["rport"] = true;
    } else {
      j["rport"] = std::stoul(str(via.rport));  // digits, <= 65535: parse_via checked
    }
  }
  return j;
}

// The JSON object for msg, and whether it scanned kOk.
Json describe(const std::string& input, bool& valid) {
  const char* msg = input.data();
  auto str = [msg](sip::Span s) { return std::string(s.in(msg)); };
  auto put = [&](Json& j, const char* key, sip::Span s) {
    if (!s.empty()) {
      j[key] = str(s);
    }
  };
  sip::SipView v;
  const sip::ScanStatus status = sip::scan(msg, input.size(), v);
  valid = status == sip::ScanStatus::kOk;
  Json j;
  j["valid"] = valid;
  if (!valid) {
    j["error"] = sip::scan_status_name(status);
  } else {
    j["kind"] = v.is_request ? "request" : "response";
    if (v.is_request) {
      put(j, "method", v.method_name);
      put(j, "ruri", v.ruri);
    } else {
      j["status"] = v.status;
      put(j, "reason", v.reason);
    }
    put(j, "call_id", v.call_id);
    j["cseq_num"] = v.cseq_num;
    put(j, "cseq_method", v.cseq_method);
    if (v.is_request) {
      j["cseq_method_mismatch"] = v.cseq_method_mismatch;
    }
    put(j, "from_uri", sip::header_uri(msg, v[sip::Hdr::kFrom]));
    put(j, "from_tag", v.from_tag);
    put(j, "to_uri", sip::header_uri(msg, v[sip::Hdr::kTo]));
    put(j, "to_tag", v.to_tag);
    if (v.has_max_forwards) {
      j["max_forwards"] = v.max_forwards;
    }
    if (v.has_content_length) {
      j["content_length"] = v.content_length;
    }
  }
  // Past kMaxMessage the 16-bit spans cannot address the bytes (and scan said too_large).
  if (input.size() <= sip::kMaxMessage) {
    Json vias = Json::array();
    for (sip::Span s : via_values(input)) {
      vias.push_back(via_json(msg, s));
    }
    if (valid || !vias.empty()) {
      j["vias"] = std::move(vias);
    }
  }
  if (valid) {
    j["headers"] = v.hdr_count;
  }
  return j;
}

}  // namespace

void register_parse(CLI::App& app, int& rc) {
  auto path = std::make_shared<std::string>();
  CLI::App* sub = app.add_subcommand(
      "parse", "Scan one SIP message (FILE, or - for stdin) and print it as one JSON line");
  sub->add_option("file", *path, "message file, or - for stdin")->required();
  sub->callback([path, &rc] {
    std::string input;
    std::string err;
    if (!read_input(*path, input, err)) {
      std::cerr << "viaduct-tool parse: " << *path << ": " << err << "\n";
      rc = 2;
      return;
    }
    bool valid = false;
    const Json j = describe(input, valid);
    // replace: a message may hold any bytes; invalid UTF-8 becomes U+FFFD instead of throwing.
    std::cout << j.dump(-1, ' ', false, Json::error_handler_t::replace) << "\n";
    rc = valid ? 0 : 1;
  });
}

}  // namespace viaduct::tool
