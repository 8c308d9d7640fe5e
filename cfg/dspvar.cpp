// SPDX-License-Identifier: Apache-2.0
#include "cfg/dspvar.hpp"

#include <array>
#include <utility>

namespace viaduct::cfg {
namespace {

bool is_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

bool is_token_char(char c) {
  return is_name_char(c) || c == '-' || c == '.' || c == '!' || c == '%' || c == '*' ||
         c == '+' || c == '`' || c == '\'' || c == '~';
}

using Kind = DsPvPart::Kind;

// Kamailio's names are case-sensitive ($fU is the user, $fu the URI).
constexpr std::array<std::pair<std::string_view, Kind>, 14> kNames = {{
    {"ci", Kind::kCallId},
    {"fu", Kind::kFromUri},
    {"fU", Kind::kFromUser},
    {"fd", Kind::kFromHost},
    {"ft", Kind::kFromTag},
    {"tu", Kind::kToUri},
    {"tU", Kind::kToUser},
    {"td", Kind::kToHost},
    {"tt", Kind::kToTag},
    {"ru", Kind::kRUri},
    {"rU", Kind::kRUser},
    {"rd", Kind::kRHost},
    {"rm", Kind::kMethod},
    {"cs", Kind::kCSeq},
}};

}  // namespace

bool parse_ds_hash_pvar(std::string_view fmt, std::vector<DsPvPart>& out, std::string& why,
                        size_t& err_off) {
  out.clear();
  bool has_pv = false;
  size_t i = 0;
  auto text = [&](std::string_view t) {
    if (t.empty()) {
      return;
    }
    if (!out.empty() && out.back().kind == Kind::kText) {
      out.back().text += t;
    } else {
      out.push_back(DsPvPart{Kind::kText, std::string(t)});
    }
  };
  while (i < fmt.size()) {
    const size_t dollar = fmt.find('$', i);
    if (dollar == std::string_view::npos) {
      text(fmt.substr(i));
      break;
    }
    text(fmt.substr(i, dollar - i));
    err_off = dollar;
    size_t j = dollar + 1;
    if (j < fmt.size() && fmt[j] == '(') {
      why = "pseudo-variable transformations and $(...) forms are not supported in hash_pvar "
            "(supported: " + std::string(kDsPvSupported) + ")";
      return false;
    }
    while (j < fmt.size() && is_name_char(fmt[j])) {
      ++j;
    }
    const std::string_view name = fmt.substr(dollar + 1, j - dollar - 1);
    if (name.empty()) {
      why = "a '$' without a pseudo-variable name in hash_pvar";
      return false;
    }
    if (name == "hdr") {
      if (j >= fmt.size() || fmt[j] != '(') {
        why = "$hdr needs a header name: $hdr(Name)";
        return false;
      }
      const size_t close = fmt.find(')', j);
      const std::string_view hname =
          close == std::string_view::npos ? std::string_view() : fmt.substr(j + 1, close - j - 1);
      bool ok = close != std::string_view::npos && !hname.empty();
      for (char c : hname) {
        ok = ok && is_token_char(c);
      }
      if (!ok) {
        why = "bad header name in $hdr(...) (one header name, no index or transformation)";
        return false;
      }
      out.push_back(DsPvPart{Kind::kHeader, std::string(hname)});
      has_pv = true;
      i = close + 1;
      continue;
    }
    bool found = false;
    for (const auto& [n, k] : kNames) {
      if (n == name) {
        out.push_back(DsPvPart{k, ""});
        found = true;
        break;
      }
    }
    if (!found || (j < fmt.size() && fmt[j] == '(')) {
      why = "pseudo-variable '$" + std::string(name) +
            "' is not available to hash_pvar on the fast path (supported: " +
            std::string(kDsPvSupported) + ")";
      return false;
    }
    has_pv = true;
    i = j;
  }
  if (!has_pv) {
    err_off = 0;
    why = "hash_pvar holds no pseudo-variable, so every request would hash the same";
    return false;
  }
  return true;
}

}  // namespace viaduct::cfg
