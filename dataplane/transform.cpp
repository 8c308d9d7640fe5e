// SPDX-License-Identifier: Apache-2.0
// dataplane/transform.cpp: the transformations of Kamailio's pv module, on the fast path. Every
// result is a slice of the input or a few bytes of the scratch arena (TrEnv::alloc); nothing
// allocates, logs or throws. Where Kamailio 5.6.3 fails (the value becomes $null) or returns an
// empty string was measured, case by case (see the tests named in transform.hpp).
#include "dataplane/transform.hpp"

#include <cstring>
#include <string_view>

#include "dataplane/sip/sip.hpp"

namespace viaduct::dp {
namespace {

using cfg::TrKind;
using Kind = VmVal::Kind;

VmVal null_val() noexcept { return VmVal{}; }
// An int that keeps the text it was read from (Kamailio's PV_VAL_INT|PV_VAL_STR values):
// printed as that text, the int elsewhere (see VmVal).
VmVal dual_val(int64_t i, std::string_view text) noexcept {
  VmVal v = int_val(i);
  v.p = text.data();
  v.len = static_cast<uint32_t>(text.size());
  return v;
}

using sip::iequal;
constexpr char lower(char c) noexcept { return sip::ascii_lower(c); }

char upper(char c) noexcept { return c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c; }
bool is_ws(char c) noexcept { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

// Decimal text of an int, in the arena (a result may be a slice of it).
std::string_view int_text(int64_t x, const TrEnv& env) noexcept {
  char* out = env.alloc(env.ctx, 24);
  if (out == nullptr) {
    return {};
  }
  return {out, format_int(x, out)};
}

// Kamailio's str2sint: an optional sign and at least one digit, nothing else; 32-bit.
bool parse_int(std::string_view s, int64_t& out) noexcept {
  size_t i = 0;
  bool neg = false;
  if (i < s.size() && (s[i] == '-' || s[i] == '+')) {
    neg = s[i] == '-';
    ++i;
  }
  if (i == s.size()) {
    return false;
  }
  int64_t v = 0;
  for (; i < s.size(); ++i) {
    if (s[i] < '0' || s[i] > '9') {
      return false;
    }
    v = v * 10 + (s[i] - '0');
    if (v > 2147483648LL) {
      return false;
    }
  }
  v = neg ? -v : v;
  if (v > 2147483647LL) {
    return false;
  }
  out = v;
  return true;
}

// A parameter's value (an int, a string, or a pseudo-variable read now).
VmVal param(const cfg::Program& prog, const cfg::TrStep& st, size_t k, const TrEnv& env) noexcept {
  if (k >= st.nparams) {
    return null_val();
  }
  const cfg::Operand& o = st.params[k];
  switch (o.kind) {
    case cfg::Operand::Kind::kInt:
      return int_val(o.i);
    case cfg::Operand::Kind::kStr:
      return str_val(prog.strings[o.idx]);
    case cfg::Operand::Kind::kPv:
      return env.pv(env.ctx, o.idx);
    default:
      break;
  }
  return null_val();
}
bool param_int(const cfg::Program& prog, const cfg::TrStep& st, size_t k, const TrEnv& env,
               int64_t& out) noexcept {
  const VmVal v = param(prog, st, k, env);
  if (v.kind == Kind::kInt) {
    out = v.i;
    return true;
  }
  return v.kind == Kind::kStr && parse_int(v.s(), out);
}
bool param_str(const cfg::Program& prog, const cfg::TrStep& st, size_t k, const TrEnv& env,
               std::string_view& out) noexcept {
  const VmVal v = param(prog, st, k, env);
  if (v.kind == Kind::kStr) {
    out = v.s();
    return true;
  }
  if (v.kind == Kind::kInt) {
    out = int_text(v.i, env);
    return out.data() != nullptr;
  }
  return false;
}

int hexval(char c) noexcept {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  if (c >= 'A' && c <= 'F') {
    return c - 'A' + 10;
  }
  return -1;
}

// A ';'-separated parameter list (name[=value], values quoted or not), as Kamailio's
// parse_params reads it: calls fn(name, value) per item; false when malformed or empty.
template <typename F>
bool for_each_param(std::string_view s, char sep, F&& fn) noexcept {
  size_t i = 0;
  const size_t n = s.size();
  bool any = false;
  while (i < n) {
    while (i < n && is_ws(s[i])) {
      ++i;
    }
    if (i == n) {
      break;
    }
    const size_t ns = i;
    while (i < n && s[i] != '=' && s[i] != sep && !is_ws(s[i])) {
      ++i;
    }
    if (i == ns) {
      return false;
    }
    const std::string_view name = s.substr(ns, i - ns);
    while (i < n && is_ws(s[i])) {
      ++i;
    }
    std::string_view value;
    if (i < n && s[i] == '=') {
      ++i;
      while (i < n && is_ws(s[i])) {
        ++i;
      }
      if (i < n && s[i] == '"') {
        const size_t vs = ++i;
        while (i < n && s[i] != '"') {
          i += s[i] == '\\' && i + 1 < n ? 2 : 1;
        }
        if (i >= n) {
          return false;
        }
        value = s.substr(vs, i - vs);
        ++i;
      } else {
        const size_t vs = i;
        while (i < n && s[i] != sep && !is_ws(s[i])) {
          ++i;
        }
        value = s.substr(vs, i - vs);
      }
      while (i < n && is_ws(s[i])) {
        ++i;
      }
    }
    if (i < n && s[i] != sep) {
      return false;
    }
    any = true;
    if (!fn(name, value)) {
      return true;  // the caller has what it wanted
    }
    if (i < n) {
      ++i;  // the separator
    }
  }
  return any;
}

bool parse_text_uri(std::string_view t, sip::Uri& u) noexcept {
  return !t.empty() && t.size() <= UINT16_MAX &&
         sip::parse_uri(t.data(), sip::Span{0, static_cast<uint16_t>(t.size())}, u);
}

std::string_view span_in(std::string_view base, sip::Span s) noexcept {
  return s.empty() ? std::string_view{} : std::string_view(base.data() + s.off, s.len);
}

// One transformation on the text `t` (the input as text) or `in` (s.len/s.int read ints).
VmVal step(const cfg::Program& prog, const cfg::TrStep& st, const VmVal& in, std::string_view t,
           const TrEnv& env) noexcept {
  switch (st.kind) {
    case TrKind::kSLen:
      return int_val(static_cast<int64_t>(t.size()));
    case TrKind::kSInt: {
      if (in.kind == Kind::kInt) {
        return in;
      }
      // Kamailio keeps the text beside the int: "+15" prints as "+15" (measured).
      int64_t x = 0;
      return parse_int(t, x) ? dual_val(x, t) : null_val();
    }
    case TrKind::kSSubstr: {
      int64_t off = 0;
      int64_t len = 0;
      if (!param_int(prog, st, 0, env, off) || !param_int(prog, st, 1, env, len) || len < 0) {
        return null_val();
      }
      const auto n = static_cast<int64_t>(t.size());
      if (off < 0) {
        off += n;
        if (off < 0) {
          return null_val();
        }
      } else if (off >= n) {
        return null_val();
      }
      if (len == 0 || len > n - off) {
        len = n - off;
      }
      return str_val(t.substr(static_cast<size_t>(off), static_cast<size_t>(len)));
    }
    case TrKind::kSSelect: {
      int64_t idx = 0;
      std::string_view sep;
      if (!param_int(prog, st, 0, env, idx) || !param_str(prog, st, 1, env, sep) || sep.empty()) {
        return null_val();
      }
      const char c = sep[0];
      size_t fields = 1;
      for (const char ch : t) {
        fields += ch == c ? 1 : 0;
      }
      if (idx < 0) {
        idx += static_cast<int64_t>(fields);
      }
      if (idx < 0 || idx >= static_cast<int64_t>(fields)) {
        return str_val(std::string_view(t.data(), 0));
      }
      size_t start = 0;
      for (int64_t k = 0; k < idx; ++k) {
        start = t.find(c, start) + 1;
      }
      size_t end = t.find(c, start);
      if (end == std::string_view::npos) {
        end = t.size();
      }
      return str_val(t.substr(start, end - start));
    }
    case TrKind::kSToLower:
    case TrKind::kSToUpper: {
      char* p = env.alloc(env.ctx, t.size());
      if (p == nullptr) {
        return null_val();
      }
      for (size_t i = 0; i < t.size(); ++i) {
        p[i] = st.kind == TrKind::kSToLower ? lower(t[i]) : upper(t[i]);
      }
      return str_val({p, t.size()});
    }
    case TrKind::kSStrip:
    case TrKind::kSStripTail: {
      int64_t k = 0;
      if (!param_int(prog, st, 0, env, k)) {
        return null_val();
      }
      if (k <= 0) {
        return str_val(t);
      }
      const size_t m = static_cast<uint64_t>(k) >= t.size() ? t.size() : static_cast<size_t>(k);
      return str_val(st.kind == TrKind::kSStrip ? t.substr(m) : t.substr(0, t.size() - m));
    }
    case TrKind::kSTrim:
    case TrKind::kSLTrim:
    case TrKind::kSRTrim: {
      size_t b = 0;
      size_t e = t.size();
      if (st.kind != TrKind::kSRTrim) {
        while (b < e && is_ws(t[b])) {
          ++b;
        }
      }
      if (st.kind != TrKind::kSLTrim) {
        while (e > b && is_ws(t[e - 1])) {
          --e;
        }
      }
      return str_val(t.substr(b, e - b));
    }
    case TrKind::kSBefore:
    case TrKind::kSAfter:
    case TrKind::kSRBefore:
    case TrKind::kSRAfter: {
      std::string_view x;
      if (!param_str(prog, st, 0, env, x) || x.empty()) {
        return null_val();
      }
      const bool rev = st.kind == TrKind::kSRBefore || st.kind == TrKind::kSRAfter;
      const size_t at = rev ? t.rfind(x) : t.find(x);
      const bool before = st.kind == TrKind::kSBefore || st.kind == TrKind::kSRBefore;
      if (at == std::string_view::npos) {
        // Measured: the whole string before a missing separator, nothing after it.
        return str_val(before ? t : std::string_view(t.data(), 0));
      }
      return str_val(before ? t.substr(0, at) : t.substr(at + x.size()));
    }
    case TrKind::kSEncodeHexa: {
      char* p = env.alloc(env.ctx, t.size() * 2);
      if (p == nullptr) {
        return null_val();
      }
      static constexpr char kHex[] = "0123456789abcdef";
      for (size_t i = 0; i < t.size(); ++i) {
        const auto b = static_cast<unsigned char>(t[i]);
        p[2 * i] = kHex[b >> 4];
        p[2 * i + 1] = kHex[b & 15];
      }
      return str_val({p, t.size() * 2});
    }
    case TrKind::kSDecodeHexa: {
      // An odd last digit is ignored (measured: "4a4" gives "J"); a non-hex digit fails.
      const size_t n = t.size() / 2;
      char* p = env.alloc(env.ctx, n);
      if (p == nullptr && n > 0) {
        return null_val();
      }
      for (size_t i = 0; i < n; ++i) {
        const int hi = hexval(t[2 * i]);
        const int lo = hexval(t[2 * i + 1]);
        if (hi < 0 || lo < 0) {
          return null_val();
        }
        p[i] = static_cast<char>((hi << 4) | lo);
      }
      return str_val({n > 0 ? p : t.data(), n});
    }
    case TrKind::kSNumeric: {
      char* p = env.alloc(env.ctx, t.size());
      if (p == nullptr && !t.empty()) {
        return null_val();
      }
      size_t k = 0;
      for (const char c : t) {
        if (c >= '0' && c <= '9') {
          p[k++] = c;
        }
      }
      return str_val({k > 0 ? p : t.data(), k});
    }
    case TrKind::kSMd5: {
      char* p = env.alloc(env.ctx, 32);
      if (p == nullptr) {
        return null_val();
      }
      md5_hex(t.data(), t.size(), p);
      return str_val({p, 32});
    }
    case TrKind::kSReplace: {
      std::string_view from;
      std::string_view to;
      if (!param_str(prog, st, 0, env, from) || !param_str(prog, st, 1, env, to) ||
          from.empty()) {
        return null_val();
      }
      size_t count = 0;
      for (size_t at = t.find(from); at != std::string_view::npos;
           at = t.find(from, at + from.size())) {
        ++count;
      }
      if (count == 0) {
        return str_val(t);
      }
      const size_t n = t.size() - count * from.size() + count * to.size();
      char* p = env.alloc(env.ctx, n);
      if (p == nullptr && n > 0) {
        return null_val();
      }
      size_t k = 0;
      size_t i = 0;
      for (size_t at = t.find(from); at != std::string_view::npos; at = t.find(from, i)) {
        std::memcpy(p + k, t.data() + i, at - i);
        k += at - i;
        std::memcpy(p + k, to.data(), to.size());
        k += to.size();
        i = at + from.size();
      }
      std::memcpy(p + k, t.data() + i, t.size() - i);
      k += t.size() - i;
      return str_val({n > 0 ? p : t.data(), k});
    }
    case TrKind::kUriUser:
    case TrKind::kUriHost:
    case TrKind::kUriPort:
    case TrKind::kUriPasswd:
    case TrKind::kUriParams:
    case TrKind::kUriParam:
    case TrKind::kUriHeaders:
    case TrKind::kUriTransport:
    case TrKind::kUriScheme: {
      sip::Uri u;
      if (!parse_text_uri(t, u)) {
        return null_val();
      }
      const auto part = [&](sip::Span s) { return str_val(span_in(t, s)); };
      switch (st.kind) {
        case TrKind::kUriUser:
          return part(u.user);
        case TrKind::kUriHost:
          return part(u.host);
        case TrKind::kUriPort:
          // An int with its text; without a port, int 0 with text "" (Kamailio's).
          return dual_val(u.port_num, span_in(t, u.port).data() != nullptr
                                          ? span_in(t, u.port)
                                          : std::string_view(t.data(), 0));
        case TrKind::kUriPasswd:
          return part(u.password);
        case TrKind::kUriParams:
          return part(u.params);
        case TrKind::kUriHeaders:
          return part(u.headers);
        case TrKind::kUriScheme:
          return part(u.scheme);
        case TrKind::kUriParam:
        case TrKind::kUriTransport: {
          std::string_view name = "transport";
          if (st.kind == TrKind::kUriParam && !param_str(prog, st, 0, env, name)) {
            return null_val();
          }
          bool found = false;
          const std::string_view params = span_in(t, u.params);
          const std::string_view v = sip::uri_param(params, name, found);
          return str_val(found && v.data() != nullptr ? v : std::string_view(t.data(), 0));
        }
        default:
          break;
      }
      return null_val();
    }
    case TrKind::kParamValue:
    case TrKind::kParamName:
    case TrKind::kParamCount:
    case TrKind::kParamIn: {
      char sep = ';';
      const size_t sep_at = st.kind == TrKind::kParamCount ? 0 : 1;
      if (st.nparams > sep_at) {
        std::string_view s;
        if (!param_str(prog, st, sep_at, env, s) || s.empty()) {
          return null_val();
        }
        sep = s[0];
      }
      std::string_view name;
      int64_t idx = 0;
      if ((st.kind == TrKind::kParamValue || st.kind == TrKind::kParamIn) &&
          !param_str(prog, st, 0, env, name)) {
        return null_val();
      }
      if (st.kind == TrKind::kParamName && !param_int(prog, st, 0, env, idx)) {
        return null_val();
      }
      int64_t count = 0;
      bool found = false;
      std::string_view out(t.data(), 0);
      const bool ok = for_each_param(t, sep, [&](std::string_view n, std::string_view v) {
        if (st.kind == TrKind::kParamName && count == idx) {
          out = n;
          found = true;
          return false;
        }
        ++count;
        if ((st.kind == TrKind::kParamValue || st.kind == TrKind::kParamIn) && iequal(n, name)) {
          out = v;
          found = true;
          return false;
        }
        return true;
      });
      if (!ok) {
        return null_val();
      }
      switch (st.kind) {
        case TrKind::kParamCount:
          return int_val(count);
        case TrKind::kParamIn:
          return int_val(found ? 1 : 0);
        default:
          return str_val(out);  // "" when missing (measured)
      }
    }
    case TrKind::kToBodyUri:
    case TrKind::kToBodyDisplay:
    case TrKind::kToBodyTag:
    case TrKind::kToBodyUser:
    case TrKind::kToBodyHost: {
      sip::NameAddr na;
      if (t.empty() || t.size() > UINT16_MAX ||
          !sip::parse_name_addr(t.data(), sip::Span{0, static_cast<uint16_t>(t.size())}, na)) {
        return null_val();
      }
      switch (st.kind) {
        case TrKind::kToBodyUri:
          return str_val(span_in(t, na.uri));
        case TrKind::kToBodyTag:
          return str_val(na.tag.empty() ? std::string_view(t.data(), 0) : span_in(t, na.tag));
        case TrKind::kToBodyDisplay:
          return str_val(span_in(t, sip::display_as_written(t.data(), t.size(), na)));
        default: {
          const std::string_view us = span_in(t, na.uri);
          sip::Uri u;
          if (!parse_text_uri(us, u)) {
            return null_val();
          }
          return str_val(span_in(us, st.kind == TrKind::kToBodyUser ? u.user : u.host));
        }
      }
    }
    case TrKind::kNameAddrName:
    case TrKind::kNameAddrUri: {
      // Kamailio's parse_nameaddr: the name is everything before '<' (quotes and the space
      // before '<' included, measured), the URI what is inside; no '<': the whole is the URI.
      const size_t lt = t.find('<');
      if (lt == std::string_view::npos) {
        return str_val(st.kind == TrKind::kNameAddrName ? std::string_view(t.data(), 0) : t);
      }
      const size_t gt = t.find('>', lt);
      if (gt == std::string_view::npos) {
        return null_val();
      }
      return str_val(st.kind == TrKind::kNameAddrName ? t.substr(0, lt)
                                                       : t.substr(lt + 1, gt - lt - 1));
    }
    case TrKind::kSPrefixes:
    case TrKind::kSPrefixesQuoted: {
      // pv's s.prefixes: "123" -> "1,12,123" (quoted: "'1','12','123'"); the optional length
      // keeps the prefixes up to it, 0 or more than the string's length is all of them; ""
      // gives "" (measured, 5.6.3). An int is taken as its text.
      size_t max = t.size();
      if (st.nparams > 0) {
        int64_t lim = 0;
        if (!param_int(prog, st, 0, env, lim)) {
          return null_val();
        }
        if (lim > 0 && static_cast<uint64_t>(lim) < max) {
          max = static_cast<size_t>(lim);
        }
      }
      const size_t q = st.kind == TrKind::kSPrefixesQuoted ? 1 : 0;
      // Prefix i (1..max) takes i bytes, its quotes and a comma (the last one has none).
      const size_t n = max == 0 ? 0 : max * (max + 1) / 2 + max * (2 * q + 1) - 1;
      char* p = env.alloc(env.ctx, n);
      if (p == nullptr && n > 0) {
        return null_val();
      }
      size_t k = 0;
      for (size_t i = 1; i <= max; ++i) {
        if (q != 0) {
          p[k++] = '\'';
        }
        std::memcpy(p + k, t.data(), i);
        k += i;
        if (q != 0) {
          p[k++] = '\'';
        }
        if (i < max) {
          p[k++] = ',';
        }
      }
      return str_val({n == 0 ? t.data() : p, k});
    }
  }
  return null_val();
}

// ---- MD5 (RFC 1321) ----

struct Md5 {
  uint32_t a = 0x67452301, b = 0xefcdab89, c = 0x98badcfe, d = 0x10325476;
  void block(const unsigned char* p) noexcept {
    static constexpr uint32_t kK[64] = {
        0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613,
        0xfd469501, 0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193,
        0xa679438e, 0x49b40821, 0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d,
        0x02441453, 0xd8a1e681, 0xe7d3fbc8, 0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed,
        0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a, 0xfffa3942, 0x8771f681, 0x6d9d6122,
        0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70, 0x289b7ec6, 0xeaa127fa,
        0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665, 0xf4292244,
        0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
        0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb,
        0xeb86d391};
    static constexpr unsigned kS[64] = {7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22,
                                        5, 9,  14, 20, 5, 9,  14, 20, 5, 9,  14, 20, 5, 9,  14, 20,
                                        4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23,
                                        6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21};
    uint32_t m[16];
    for (int i = 0; i < 16; ++i) {
      m[i] = static_cast<uint32_t>(p[4 * i]) | static_cast<uint32_t>(p[4 * i + 1]) << 8 |
             static_cast<uint32_t>(p[4 * i + 2]) << 16 | static_cast<uint32_t>(p[4 * i + 3]) << 24;
    }
    uint32_t aa = a, bb = b, cc = c, dd = d;
    for (unsigned i = 0; i < 64; ++i) {
      uint32_t f = 0;
      unsigned g = 0;
      if (i < 16) {
        f = (bb & cc) | (~bb & dd);
        g = i;
      } else if (i < 32) {
        f = (dd & bb) | (~dd & cc);
        g = (5 * i + 1) % 16;
      } else if (i < 48) {
        f = bb ^ cc ^ dd;
        g = (3 * i + 5) % 16;
      } else {
        f = cc ^ (bb | ~dd);
        g = (7 * i) % 16;
      }
      const uint32_t x = aa + f + kK[i] + m[g];
      aa = dd;
      dd = cc;
      cc = bb;
      bb = bb + ((x << kS[i]) | (x >> (32 - kS[i])));
    }
    a += aa;
    b += bb;
    c += cc;
    d += dd;
  }
};

}  // namespace

size_t format_int(int64_t x, char* out) noexcept {
  char tmp[24];
  size_t n = 0;
  const bool neg = x < 0;
  uint64_t u = neg ? 0 - static_cast<uint64_t>(x) : static_cast<uint64_t>(x);
  do {
    tmp[n++] = static_cast<char>('0' + u % 10);
    u /= 10;
  } while (u != 0);
  size_t k = 0;
  if (neg) {
    out[k++] = '-';
  }
  while (n > 0) {
    out[k++] = tmp[--n];
  }
  return k;
}

void md5_hex(const void* data, size_t len, char* out) noexcept {
  Md5 h;
  const auto* p = static_cast<const unsigned char*>(data);
  size_t i = 0;
  for (; i + 64 <= len; i += 64) {
    h.block(p + i);
  }
  unsigned char tail[128] = {};
  const size_t rest = len - i;
  std::memcpy(tail, p + i, rest);
  tail[rest] = 0x80;
  const size_t total = rest + 9 <= 64 ? 64 : 128;
  const uint64_t bits = static_cast<uint64_t>(len) * 8;
  for (int k = 0; k < 8; ++k) {
    tail[total - 8 + k] = static_cast<unsigned char>(bits >> (8 * k));
  }
  h.block(tail);
  if (total == 128) {
    h.block(tail + 64);
  }
  static constexpr char kHex[] = "0123456789abcdef";
  const uint32_t words[4] = {h.a, h.b, h.c, h.d};
  for (int w = 0; w < 4; ++w) {
    for (int k = 0; k < 4; ++k) {
      const auto byte = static_cast<unsigned char>(words[w] >> (8 * k));
      out[8 * w + 2 * k] = kHex[byte >> 4];
      out[8 * w + 2 * k + 1] = kHex[byte & 15];
    }
  }
}

VmVal tr_apply(const cfg::Program& prog, const cfg::TrChain& chain, VmVal in,
               const TrEnv& env) noexcept {
  VmVal v = in;
  for (const cfg::TrStep& st : chain.steps) {
    std::string_view t;
    switch (v.kind) {
      case Kind::kNull:
        return null_val();  // every transformation fails on $null (measured)
      case Kind::kStr:
        t = v.s();
        break;
      case Kind::kInt:
        if (st.kind == TrKind::kSInt) {
          continue;
        }
        if (v.p != nullptr) {
          t = v.s();  // an int with its text: the text (Kamailio reads the string form)
          break;
        }
        t = int_text(v.i, env);
        if (t.data() == nullptr) {
          return null_val();
        }
        break;
    }
    v = step(prog, st, v, t, env);
  }
  return v;
}

}  // namespace viaduct::dp
