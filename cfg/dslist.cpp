// SPDX-License-Identifier: Apache-2.0
#include "cfg/dslist.hpp"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string_view>

#include "cfg/net.hpp"

namespace viaduct::cfg {
namespace {

struct Field {
  std::string_view text;
  uint32_t col = 0;  // 1-based
};

bool parse_uint(std::string_view s, bool allow_hex, uint64_t max, uint64_t& out) {
  int base = 10;
  if (allow_hex && s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
    base = 16;
    s.remove_prefix(2);
  }
  if (s.empty()) {
    return false;
  }
  uint64_t v = 0;
  for (char c : s) {
    uint64_t d = 0;
    if (c >= '0' && c <= '9') {
      d = static_cast<uint64_t>(c - '0');
    } else if (base == 16 && c >= 'a' && c <= 'f') {
      d = static_cast<uint64_t>(c - 'a' + 10);
    } else if (base == 16 && c >= 'A' && c <= 'F') {
      d = static_cast<uint64_t>(c - 'A' + 10);
    } else {
      return false;
    }
    v = v * static_cast<uint64_t>(base) + d;
    if (v > max) {
      return false;
    }
  }
  out = v;
  return true;
}

bool istarts_with(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) {
    return false;
  }
  for (size_t i = 0; i < prefix.size(); ++i) {
    char c = s[i];
    if (c >= 'A' && c <= 'Z') {
      c = static_cast<char>(c - 'A' + 'a');
    }
    if (c != prefix[i]) {
      return false;
    }
  }
  return true;
}

// sip:[user@]host[:port][;params]; fills host/port/proto. `why` says what is wrong.
bool parse_sip_uri(std::string_view uri, DsDestination& d, std::string& why) {
  bool secure = false;
  if (istarts_with(uri, "sips:")) {
    secure = true;
    uri.remove_prefix(5);
  } else if (istarts_with(uri, "sip:")) {
    uri.remove_prefix(4);
  } else {
    why = "the URI must start with sip: or sips:";
    return false;
  }
  const size_t semi = uri.find(';');
  std::string_view hostport = uri.substr(0, semi);
  std::string_view params = semi == std::string_view::npos ? std::string_view() : uri.substr(semi);
  const size_t at = hostport.find('@');
  if (at != std::string_view::npos) {
    hostport.remove_prefix(at + 1);
  }
  if (hostport.empty()) {
    why = "missing host";
    return false;
  }
  std::string_view port_text;
  if (hostport.front() == '[') {
    const size_t close = hostport.find(']');
    if (close == std::string_view::npos) {
      why = "missing ']' after the IPv6 address";
      return false;
    }
    d.host = std::string(hostport.substr(1, close - 1));
    if (!is_ipv6(d.host)) {
      why = "'" + d.host + "' is not an IPv6 address";
      return false;
    }
    std::string_view rest = hostport.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') {
        why = "unexpected text after the host";
        return false;
      }
      port_text = rest.substr(1);
      if (port_text.empty()) {
        why = "missing port after ':'";
        return false;
      }
    }
  } else {
    const size_t colon = hostport.find(':');
    d.host = std::string(hostport.substr(0, colon));
    if (colon != std::string_view::npos) {
      port_text = hostport.substr(colon + 1);
      if (port_text.empty()) {
        why = "missing port after ':'";
        return false;
      }
    }
    if (d.host.empty()) {
      why = "missing host";
      return false;
    }
    uint32_t ip = 0;
    const bool numeric = d.host.find_first_not_of("0123456789.") == std::string::npos;
    if (numeric ? !parse_ipv4(d.host, ip) : !is_hostname(d.host)) {
      why = "bad host '" + d.host + "'";
      return false;
    }
  }
  d.port = secure ? 5061 : 5060;
  d.proto = secure ? Proto::kTls : Proto::kUdp;
  if (!port_text.empty() && !parse_port(port_text, d.port)) {
    why = "bad port '" + std::string(port_text) + "'";
    return false;
  }
  while (!params.empty()) {
    params.remove_prefix(1);  // ';'
    const size_t next = params.find(';');
    const std::string_view p = params.substr(0, next);
    if (istarts_with(p, "transport=")) {
      const std::string_view t = p.substr(10);
      Proto proto{};
      if (!parse_proto(t, proto) || proto == Proto::kSctp) {
        why = "unsupported transport '" + std::string(t) + "' (udp, tcp or tls)";
        return false;
      }
      d.proto = proto;
    }
    params = next == std::string_view::npos ? std::string_view() : params.substr(next);
  }
  return true;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && istarts_with(a, b);
}

// The attributes field, "name=value;name=value" as Kamailio's parse_params() reads it (a value
// may be quoted; a trailing ';' is allowed). Fills the special attributes of `d`; `col` is the
// field's column, so errors point at the offending attribute.
bool parse_attrs(std::string_view attrs, uint32_t col, DsDestination& d, uint32_t& err_col,
                 std::string& why) {
  size_t pos = 0;
  while (pos < attrs.size()) {
    const size_t start = pos;
    size_t end = attrs.find(';', pos);
    if (end == std::string_view::npos) {
      end = attrs.size();
    }
    // A quoted value may hold ';'.
    const size_t eq = attrs.find('=', pos);
    if (eq != std::string_view::npos && eq < end && eq + 1 < attrs.size() && attrs[eq + 1] == '"') {
      const size_t close = attrs.find('"', eq + 2);
      if (close == std::string_view::npos) {
        err_col = col + static_cast<uint32_t>(eq + 1);
        why = "unterminated quoted value";
        return false;
      }
      end = attrs.find(';', close);
      if (end == std::string_view::npos) {
        end = attrs.size();
      }
    }
    const std::string_view item = attrs.substr(start, end - start);
    pos = end + 1;
    if (item.empty()) {
      continue;
    }
    const size_t ieq = item.find('=');
    const std::string_view name = item.substr(0, ieq);
    std::string_view value =
        ieq == std::string_view::npos ? std::string_view() : item.substr(ieq + 1);
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
      value = value.substr(1, value.size() - 2);
    }
    err_col = col + static_cast<uint32_t>(start);
    uint64_t v = 0;
    if (iequals(name, "weight") || iequals(name, "rweight")) {
      if (!parse_uint(value, false, kDsMaxWeight, v)) {
        why = "bad " + std::string(name) + " '" + std::string(value) + "' (0.." +
              std::to_string(kDsMaxWeight) + ")";
        return false;
      }
      (iequals(name, "weight") ? d.weight : d.rweight) = static_cast<uint32_t>(v);
    } else if (iequals(name, "duid")) {
      d.duid = std::string(value);
    } else if (iequals(name, "latency")) {
      if (!parse_uint(value, false, INT32_MAX, v)) {
        why = "bad latency '" + std::string(value) + "' (milliseconds)";
        return false;
      }
      d.latency = static_cast<int>(v);
    } else if (iequals(name, "socket")) {
      d.socket = std::string(value);
    } else if (iequals(name, "ping_from")) {
      d.ping_from = std::string(value);
    } else if (iequals(name, "cc")) {
      if (!parse_uint(value, false, INT32_MAX, v)) {
        why = "bad cc '" + std::string(value) + "' (0 or 1)";
        return false;
      }
      d.congestion_control = v != 0;
    }
  }
  return true;
}

}  // namespace

bool parse_dispatcher_list(const std::string& text, const std::string& name,
                           std::vector<DsDestination>& out, Diagnostics& diags) {
  bool ok = true;
  auto error = [&](uint32_t line, uint32_t col, std::string msg) {
    diags.push_back(Diagnostic{Diagnostic::Severity::kError, name, line, col, std::move(msg)});
    ok = false;
  };
  std::string_view rest = text;
  uint32_t line_no = 0;
  while (!rest.empty()) {
    ++line_no;
    const size_t nl = rest.find('\n');
    std::string_view line = rest.substr(0, nl);
    rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
    if (!line.empty() && line.back() == '\r') {
      line.remove_suffix(1);
    }
    std::vector<Field> fields;
    for (size_t i = 0; i < line.size();) {
      if (line[i] == ' ' || line[i] == '\t') {
        ++i;
        continue;
      }
      if (line[i] == '#') {
        break;  // a comment, to the end of the line
      }
      const size_t start = i;
      while (i < line.size() && line[i] != ' ' && line[i] != '\t') {
        ++i;
      }
      fields.push_back(Field{line.substr(start, i - start), static_cast<uint32_t>(start + 1)});
    }
    if (fields.empty()) {
      continue;
    }
    DsDestination d;
    d.line = line_no;
    uint64_t v = 0;
    if (!parse_uint(fields[0].text, false, INT32_MAX, v)) {
      error(line_no, fields[0].col,
            "bad set id '" + std::string(fields[0].text) + "' (a non-negative integer)");
      continue;
    }
    d.set = static_cast<int>(v);
    if (fields.size() < 2) {
      error(line_no, static_cast<uint32_t>(line.size() + 1), "missing destination URI");
      continue;
    }
    d.uri = std::string(fields[1].text);
    std::string why;
    if (!parse_sip_uri(fields[1].text, d, why)) {
      error(line_no, fields[1].col, "bad destination URI '" + d.uri + "': " + why);
      continue;
    }
    if (fields.size() > 2) {
      if (!parse_uint(fields[2].text, true, UINT32_MAX, v)) {
        error(line_no, fields[2].col,
              "bad flags '" + std::string(fields[2].text) + "' (decimal or 0x hex)");
        continue;
      }
      d.flags = static_cast<uint32_t>(v);
    }
    if (fields.size() > 3) {
      if (!parse_uint(fields[3].text, false, INT32_MAX, v)) {
        error(line_no, fields[3].col,
              "bad priority '" + std::string(fields[3].text) + "' (a non-negative integer)");
        continue;
      }
      d.priority = static_cast<int>(v);
    }
    if (fields.size() > 4) {
      d.attrs = std::string(fields[4].text);
      if (!d.attrs.empty() && d.attrs.back() == ';') {
        d.attrs.pop_back();  // as Kamailio keeps them: one trailing ';' dropped
      }
      uint32_t err_col = fields[4].col;
      if (!parse_attrs(fields[4].text, fields[4].col, d, err_col, why)) {
        error(line_no, err_col, "bad attributes: " + why);
        continue;
      }
    }
    if (fields.size() > 5) {
      error(line_no, fields[5].col,
            "unexpected '" + std::string(fields[5].text) +
                "' after the attributes (attributes are one word: duid=a;weight=50)");
      continue;
    }
    out.push_back(std::move(d));
  }
  return ok;
}

bool load_dispatcher_list(const std::string& path, std::vector<DsDestination>& out,
                          Diagnostics& diags) {
  std::string text;
  if (!read_file(path, text, diags)) {
    return false;
  }
  return parse_dispatcher_list(text, path, out, diags);
}

}  // namespace viaduct::cfg
