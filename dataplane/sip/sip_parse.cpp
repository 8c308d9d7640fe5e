// SPDX-License-Identifier: Apache-2.0
// dataplane/sip/sip_parse.cpp: Via, URI and name-addr accessors over a scanned message.
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "dataplane/sip/chars.hpp"
#include "dataplane/sip/sip.hpp"

namespace viaduct::sip {

using namespace detail;

const char* scan_status_name(ScanStatus s) noexcept {
  switch (s) {
#define VD_X(e, str)  \
  case ScanStatus::e: \
    return str;
    VD_SCAN_STATUS(VD_X)
#undef VD_X
  }
  return "unknown";
}

namespace detail {

Method method_from_name(std::string_view name) noexcept {
  struct Entry {
    std::string_view name;
    Method method;
  };
  static constexpr Entry kMethods[] = {
      {"INVITE", Method::kInvite},     {"ACK", Method::kAck},
      {"BYE", Method::kBye},           {"CANCEL", Method::kCancel},
      {"REGISTER", Method::kRegister}, {"OPTIONS", Method::kOptions},
      {"INFO", Method::kInfo},         {"UPDATE", Method::kUpdate},
      {"PRACK", Method::kPrack},       {"SUBSCRIBE", Method::kSubscribe},
      {"NOTIFY", Method::kNotify},     {"REFER", Method::kRefer},
      {"MESSAGE", Method::kMessage},   {"PUBLISH", Method::kPublish},
  };
  for (const Entry& e : kMethods) {
    if (e.name == name) {  // methods are case-sensitive (RFC 3261 7.1)
      return e.method;
    }
  }
  return Method::kOther;
}

// A generic-param value: a quoted string, or a run of characters up to LWS ; , or '"'.
// Tolerant on purpose: tags seen in the wild hold characters outside the token set.
// Returns the end of the value, or `p` when there is none, or `end + 1` when malformed.
size_t param_value_end(const char* msg, size_t p, size_t end) noexcept {
  if (p < end && msg[p] == '"') {
    return skip_quoted(msg, p, end);
  }
  while (p < end && !is_lws(msg[p]) && msg[p] != ';' && msg[p] != ',' && msg[p] != '"' &&
         !is(msg[p], kCtl)) {
    ++p;
  }
  return p;
}

}  // namespace detail

bool parse_name_addr(const char* msg, Span value, NameAddr& out) noexcept {
  out = NameAddr{};
  const size_t end = value.end();
  size_t p = skip_lws(msg, value.off, end);
  if (p >= end) {
    return false;
  }
  // Look for '<' outside quoted strings, before any ';' (which would start header params of a
  // bare addr-spec).
  size_t q = p;
  size_t lt = end;
  bool quoted_display = false;
  while (q < end) {
    const char c = msg[q];
    if (c == '"') {
      q = skip_quoted(msg, q, end);
      if (q > end) {
        return false;  // unterminated display name (RFC 4475 quotbal)
      }
      quoted_display = true;
      continue;
    }
    if (c == '<') {
      lt = q;
      break;
    }
    if (c == ';' || c == ',') {
      break;
    }
    ++q;
  }
  size_t after = 0;
  if (lt < end) {
    const void* gt_ptr = std::memchr(msg + lt + 1, '>', end - lt - 1);
    if (gt_ptr == nullptr) {
      return false;
    }
    const size_t gt = static_cast<size_t>(static_cast<const char*>(gt_ptr) - msg);
    out.uri = trim(msg, lt + 1, gt);
    // The display name: inside the quotes when it is one quoted string, else as written.
    out.display = trim(msg, p, lt);
    if (quoted_display && out.display.len >= 2 && msg[out.display.off] == '"' &&
        msg[out.display.end() - 1] == '"') {
      out.display = make_span(out.display.off + 1, out.display.end() - 1);
    }
    after = gt + 1;
  } else {
    if (quoted_display) {
      return false;  // a quoted display name needs <...>
    }
    q = p;
    while (q < end && !is_lws(msg[q]) && msg[q] != ';' && msg[q] != ',') {
      ++q;
    }
    out.uri = make_span(p, q);
    after = q;
  }
  if (out.uri.empty()) {
    return false;
  }
  // Header parameters: *( SEMI generic-param ).
  p = skip_lws(msg, after, end);
  if (p < end && msg[p] == ';') {
    out.params.off = static_cast<uint16_t>(p + 1);
  }
  size_t params_end = p;
  while (p < end && msg[p] != ',') {
    if (msg[p] != ';') {
      return false;
    }
    p = skip_lws(msg, p + 1, end);
    const size_t name_end = skip_class(msg, p, end, kToken);
    if (name_end == p) {
      return false;
    }
    const std::string_view name(msg + p, name_end - p);
    p = params_end = name_end;
    size_t r = skip_lws(msg, p, end);
    if (r < end && msg[r] == '=') {
      r = skip_lws(msg, r + 1, end);
      const size_t v_end = param_value_end(msg, r, end);
      if (v_end > end || v_end == r) {
        return false;
      }
      if (iequals(name, "tag") && out.tag.empty()) {
        out.tag = make_span(r, v_end);
      }
      p = params_end = v_end;
    }
    p = skip_lws(msg, p, end);
  }
  if (out.params.off != 0) {
    out.params.len = static_cast<uint16_t>(params_end - out.params.off);
  }
  out.end = static_cast<uint16_t>(p);
  return true;
}

namespace {

// Port digits: 1..5 digits, at most 65535.
bool parse_port(std::string_view s, uint16_t& out) noexcept {
  uint32_t v = 0;
  if (s.size() > 5 || !parse_u32(s, v) || v > 65535) {
    return false;
  }
  out = static_cast<uint16_t>(v);
  return true;
}

// host = "[" IPv6 "]" / hostname / IPv4. Returns the end of the host, or p when malformed.
size_t host_end(const char* msg, size_t p, size_t end) noexcept {
  if (p < end && msg[p] == '[') {
    size_t q = p + 1;
    while (q < end && (is(msg[q], kHex) || msg[q] == ':' || msg[q] == '.')) {
      ++q;
    }
    if (q >= end || msg[q] != ']' || q == p + 1) {
      return p;
    }
    return q + 1;
  }
  return skip_class(msg, p, end, kHostChar);
}

}  // namespace

namespace detail {

size_t parse_via_at(const char* msg, size_t p, size_t end, Via& out) noexcept {
  const size_t kBad = end + 1;
  out = Via{};
  p = skip_lws(msg, p, end);
  const size_t start = p;
  // sent-protocol: "SIP" LWS? "/" LWS? "2.0" LWS? "/" LWS? transport (RFC 4475 wsinv).
  size_t q = skip_class(msg, p, end, kToken);
  if (!iequals(std::string_view(msg + p, q - p), "sip")) {
    return kBad;
  }
  p = skip_lws(msg, q, end);
  if (p >= end || msg[p] != '/') {
    return kBad;
  }
  p = skip_lws(msg, p + 1, end);
  q = skip_class(msg, p, end, kToken);
  if (std::string_view(msg + p, q - p) != "2.0") {
    return kBad;
  }
  p = skip_lws(msg, q, end);
  if (p >= end || msg[p] != '/') {
    return kBad;
  }
  p = skip_lws(msg, p + 1, end);
  q = skip_class(msg, p, end, kToken);
  if (q == p) {
    return kBad;
  }
  out.transport = make_span(p, q);
  // LWS sent-by
  if (q >= end || !is_lws(msg[q])) {
    return kBad;
  }
  p = skip_lws(msg, q, end);
  q = host_end(msg, p, end);
  if (q == p) {
    return kBad;
  }
  out.host = make_span(p, q);
  size_t last = q;
  size_t r = skip_lws(msg, q, end);
  if (r < end && msg[r] == ':') {
    r = skip_lws(msg, r + 1, end);
    q = skip_class(msg, r, end, kDigit);
    if (!parse_port(std::string_view(msg + r, q - r), out.port_num)) {
      return kBad;
    }
    out.port = make_span(r, q);
    last = q;
  }
  // *( SEMI via-params )
  for (r = skip_lws(msg, last, end); r < end; r = skip_lws(msg, last, end)) {
    if (msg[r] != ';') {
      if (msg[r] != ',') {
        return kBad;
      }
      break;  // the next via-parm of a comma-joined line
    }
    const size_t semi = r;
    if (out.params.off == 0) {
      out.params.off = static_cast<uint16_t>(semi + 1);
    }
    r = skip_lws(msg, r + 1, end);
    q = skip_class(msg, r, end, kToken);
    if (q == r) {
      return kBad;  // empty parameter (RFC 4475 badinv01)
    }
    const std::string_view name(msg + r, q - r);
    last = q;
    Span val;
    r = skip_lws(msg, q, end);
    if (r < end && msg[r] == '=') {
      r = skip_lws(msg, r + 1, end);
      if (r < end && msg[r] == '"') {
        q = skip_quoted(msg, r, end);
        if (q > end) {
          return kBad;
        }
      } else {
        q = r;
        while (q < end && (is(msg[q], kToken) || msg[q] == ':' || msg[q] == '[' || msg[q] == ']')) {
          ++q;
        }
      }
      if (q == r) {
        return kBad;
      }
      val = make_span(r, q);
      last = q;
    }
    if (iequals(name, "branch")) {
      if (val.empty()) {
        return kBad;  // via-branch = "branch" EQUAL token
      }
      out.branch = val;
    } else if (iequals(name, "received")) {
      if (val.empty()) {
        return kBad;
      }
      out.received = val;
      out.received_param = make_span(semi, last);
    } else if (iequals(name, "maddr")) {
      out.maddr = val;
    } else if (iequals(name, "ttl")) {
      uint32_t ttl = 0;
      if (!parse_u32(val.in(msg), ttl) || ttl > 255 || val.len > 3) {
        return kBad;  // ttl = 1*3DIGIT, 0..255
      }
      out.ttl = val;
    } else if (iequals(name, "rport")) {
      uint16_t port = 0;
      if (!val.empty() && !parse_port(val.in(msg), port)) {
        return kBad;
      }
      out.has_rport = true;
      out.rport = val;
      out.rport_param = make_span(semi, last);
    }
  }
  out.value = make_span(start, last);
  out.params_end = static_cast<uint16_t>(last);
  if (out.params.off != 0) {
    out.params.len = static_cast<uint16_t>(last - out.params.off);
  }
  return r;
}

}  // namespace detail

bool parse_via(const char* msg, Span value, Via& out) noexcept {
  return parse_via_at(msg, value.off, value.end(), out) == value.end();
}

namespace {

#if defined(__SSE2__)
// Bits past 63 are none.
constexpr uint64_t bits_from(uint64_t m, size_t i) noexcept {
  return i >= 64 ? 0 : m & (~0ull << i);
}

// parse_uri for the common SIP URI, sip[s]:[user[:password]@]host[:port][;params][?headers]
// with a name or IPv4 host, up to 64 bytes: read in place when the 64 bytes from its start are
// readable (msg[0, readable)), else from a copy padded with 'a'; each class of byte the grammar
// stops at becomes one 64-bit mask from up to four 16-byte compares: the bytes LWS or CTL
// refuse, '@', ':', '?', bytes that are not host characters. The rest is bit arithmetic and the
// port's (at most five) digits. Returns 1 (parsed, out
// filled) or 0 (malformed) exactly as parse_uri_general() decides, or -1 when the URI is not of
// this shape (other schemes, an IPv6 reference, longer): the caller runs parse_uri_general().
// tests/sip/sip_parse_test.cpp and the fuzz properties (tests/sip/sip_properties.hpp) check
// that the two agree.
// kFill false: the verdict only (uri_valid()), `out` untouched; what only the spans need is not
// computed.
template <bool kFill>
int fast_sip_uri(const char* msg, size_t start, size_t end, size_t readable, Uri& out) noexcept {
  const size_t n = end - start;
  if (n > 64 || n < 5) {
    return -1;
  }
  alignas(16) char copy[64];
  const char* buf = msg + start;
  if (readable < start + 64) {
    std::memset(copy, 'a', sizeof copy);
    std::memcpy(copy, msg + start, n);
    buf = copy;
  }
  uint64_t bad = 0;
  uint64_t at = 0;
  uint64_t colon = 0;
  uint64_t qmark = 0;
  uint64_t nonhost = 0;
  uint64_t digits = 0;
  // Unrolled (at most four steps): each step's shift is then a constant, not a shift by cl
  // (three uops each on Intel, six per step): 13.2 -> 11.0 ns per URI.
#pragma GCC unroll 4
  for (size_t i = 0; i < 64; i += 16) {
    if (i >= n) {
      break;
    }
    const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(buf + i));
    // LWS or CTL: every byte <= 0x20 (HT, CR, LF, SP included) and DEL.
    const __m128i b = _mm_or_si128(_mm_cmpeq_epi8(_mm_min_epu8(x, _mm_set1_epi8(0x20)), x),
                                   _mm_cmpeq_epi8(x, _mm_set1_epi8(0x7f)));
    const auto mask = [&](__m128i m) {
      return static_cast<uint64_t>(static_cast<unsigned>(_mm_movemask_epi8(m))) << i;
    };
    bad |= mask(b);
    at |= mask(_mm_cmpeq_epi8(x, _mm_set1_epi8('@')));
    colon |= mask(_mm_cmpeq_epi8(x, _mm_set1_epi8(':')));
    qmark |= mask(_mm_cmpeq_epi8(x, _mm_set1_epi8('?')));
    // kHostChar: letters, digits, '-', '.', '_'. Unsigned range tests: min(y, k) == y.
    const __m128i d = _mm_sub_epi8(x, _mm_set1_epi8('0'));
    const __m128i digit = _mm_cmpeq_epi8(_mm_min_epu8(d, _mm_set1_epi8(9)), d);
    digits |= mask(digit);
    const __m128i l = _mm_sub_epi8(_mm_or_si128(x, _mm_set1_epi8(0x20)), _mm_set1_epi8('a'));
    const __m128i letter = _mm_cmpeq_epi8(_mm_min_epu8(l, _mm_set1_epi8(25)), l);
    const __m128i punct = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, _mm_set1_epi8('-')),
                                                    _mm_cmpeq_epi8(x, _mm_set1_epi8('.'))),
                                       _mm_cmpeq_epi8(x, _mm_set1_epi8('_')));
    nonhost |= mask(_mm_or_si128(_mm_or_si128(digit, letter), punct));  // inverted below
  }
  // Bytes past the URI (the padding, or the message's next bytes) are in no class, and stop the
  // host.
  const uint64_t inside = n == 64 ? ~0ull : (uint64_t{1} << n) - 1;
  bad &= inside;
  at &= inside;
  colon &= inside;
  qmark &= inside;
  nonhost = ~nonhost | ~inside;
  if (bad != 0 || colon == 0) {
    return 0;
  }
  const size_t c0 = static_cast<size_t>(__builtin_ctzll(colon));
  // "sip" / "sips", any case (OR 0x20 lowercases letters and maps no other byte onto s, i, p).
  const auto low = [&](size_t i) { return static_cast<char>(buf[i] | 0x20); };
  if (c0 < 3 || c0 > 4 || low(0) != 's' || low(1) != 'i' || low(2) != 'p' ||
      (c0 == 4 && low(3) != 's')) {
    return -1;
  }
  if constexpr (kFill) out.scheme = make_span(start, start + c0);
  size_t p = c0 + 1;
  if (at != 0) {
    const size_t a = static_cast<size_t>(__builtin_ctzll(at));  // after the colon: "sip" has none
    const uint64_t pw = bits_from(colon, p) & ((uint64_t{1} << a) - 1);
    const size_t user_end = pw != 0 ? static_cast<size_t>(__builtin_ctzll(pw)) : a;
    if (user_end == p) {
      return 0;
    }
    if constexpr (kFill) out.user = make_span(start + p, start + user_end);
    if (user_end < a) {
      if constexpr (kFill) out.password = make_span(start + user_end + 1, start + a);
    }
    p = a + 1;
  }
  if (p < n && buf[p] == '[') {
    return -1;
  }
  const auto run_end = [&](uint64_t stops, size_t from) {
    const uint64_t m = bits_from(stops, from);
    return m != 0 ? static_cast<size_t>(__builtin_ctzll(m)) : size_t{64};
  };
  size_t q = run_end(nonhost, p);
  if (q == p) {
    return 0;
  }
  if constexpr (kFill) out.host = make_span(start + p, start + q);
  p = q;
  if (p < n && buf[p] == ':') {
    // port = 1*5DIGIT: the digit mask (limited to the URI) ends the run.
    q = run_end(~(digits & inside), p + 1);
    if (q == p + 1 || q - p > 6) {
      return 0;
    }
    // The digits' weights summed at once, not a multiply-add chain through each digit.
    const char* d = buf + p + 1;
    const auto dg = [d](size_t k) { return static_cast<uint32_t>(d[k] - '0'); };
    uint32_t port = 0;
    switch (q - p - 1) {
      case 1:
        port = dg(0);
        break;
      case 2:
        port = dg(0) * 10 + dg(1);
        break;
      case 3:
        port = dg(0) * 100 + dg(1) * 10 + dg(2);
        break;
      case 4:
        port = dg(0) * 1000 + dg(1) * 100 + (dg(2) * 10 + dg(3));
        break;
      default:  // 5
        port = dg(0) * 10000 + dg(1) * 1000 + dg(2) * 100 + (dg(3) * 10 + dg(4));
        break;
    }
    if (port > 65535) {
      return 0;
    }
    if constexpr (kFill) {
      out.port_num = static_cast<uint16_t>(port);
      out.port = make_span(start + p + 1, start + q);
    }
    p = q;
  }
  if (p < n && buf[p] != ';' && buf[p] != '?') {
    return 0;
  }
  if constexpr (kFill) {
    if (p < n && buf[p] == ';') {
      const uint64_t qm = bits_from(qmark, p + 1);
      q = qm != 0 ? static_cast<size_t>(__builtin_ctzll(qm)) : n;
      out.params = make_span(start + p + 1, start + q);
      p = q;
    }
    if (p < n) {  // '?'
      out.headers = make_span(start + p + 1, end);
    }
  }
  return 1;
}
#endif

}  // namespace

std::string_view uri_param(std::string_view params, std::string_view name, bool& found) noexcept {
  found = false;
  size_t i = 0;
  while (i <= params.size()) {
    size_t e = params.find(';', i);
    if (e == std::string_view::npos) {
      e = params.size();
    }
    const std::string_view item = params.substr(i, e - i);
    const size_t eq = item.find('=');
    if (iequal(item.substr(0, eq), name)) {
      found = true;
      return eq == std::string_view::npos ? std::string_view{} : item.substr(eq + 1);
    }
    i = e + 1;
  }
  return {};
}

bool parse_uri(const char* msg, Span uri, Uri& out, size_t readable) noexcept {
#if defined(__SSE2__)
  if (uri.off < uri.end()) {
    out = Uri{};
    if (const int fast = fast_sip_uri<true>(msg, uri.off, uri.end(), readable, out); fast >= 0) {
      return fast == 1;
    }
  }
#endif
  return parse_uri_general(msg, uri, out);
}

bool uri_valid(const char* msg, Span uri, size_t readable) noexcept {
  Uri u;
#if defined(__SSE2__)
  if (uri.off < uri.end()) {
    if (const int fast = fast_sip_uri<false>(msg, uri.off, uri.end(), readable, u); fast >= 0) {
      return fast == 1;
    }
  }
#endif
  return parse_uri_general(msg, uri, u);
}

namespace detail {

bool parse_uri_general(const char* msg, Span uri, Uri& out) noexcept {
  out = Uri{};
  const size_t start = uri.off;
  const size_t end = uri.end();
  if (start >= end) {
    return false;
  }
  for (size_t i = start; i < end; ++i) {
    if (is_lws(msg[i]) || is(msg[i], kCtl)) {
      return false;
    }
  }
  const void* colon_ptr = std::memchr(msg + start, ':', end - start);
  if (colon_ptr == nullptr) {
    return false;
  }
  const size_t colon = static_cast<size_t>(static_cast<const char*>(colon_ptr) - msg);
  const std::string_view scheme(msg + start, colon - start);
  out.scheme = make_span(start, colon);
  size_t p = colon + 1;
  if (iequals(scheme, "tel")) {
    // tel:number *(;param): the number is the user part; there is no host.
    size_t q = p;
    while (q < end && msg[q] != ';' && msg[q] != '?') {
      ++q;
    }
    if (q == p) {
      return false;
    }
    out.user = make_span(p, q);
    p = q;
  } else if (iequals(scheme, "sip") || iequals(scheme, "sips")) {
    // No character after the userinfo may be '@' (RFC 3261 25.1: params, headers and hosts
    // exclude it), so the first '@' closes the userinfo, even when the user part holds ';', '?'
    // or ':' (RFC 4475 semiuri, intmeth).
    const void* at_ptr = std::memchr(msg + p, '@', end - p);
    if (at_ptr != nullptr) {
      const size_t at = static_cast<size_t>(static_cast<const char*>(at_ptr) - msg);
      const void* pw_ptr = std::memchr(msg + p, ':', at - p);
      const size_t user_end =
          pw_ptr == nullptr ? at : static_cast<size_t>(static_cast<const char*>(pw_ptr) - msg);
      if (user_end == p) {
        return false;
      }
      out.user = make_span(p, user_end);
      if (user_end < at) {
        out.password = make_span(user_end + 1, at);
      }
      p = at + 1;
    }
    size_t q = host_end(msg, p, end);
    if (q == p) {
      return false;
    }
    out.host = make_span(p, q);
    p = q;
    if (p < end && msg[p] == ':') {
      q = skip_class(msg, p + 1, end, kDigit);
      if (!parse_port(std::string_view(msg + p + 1, q - p - 1), out.port_num)) {
        return false;
      }
      out.port = make_span(p + 1, q);
      p = q;
    }
    if (p < end && msg[p] != ';' && msg[p] != '?') {
      return false;
    }
  } else {
    return false;
  }
  if (p < end && msg[p] == ';') {
    size_t q = p + 1;
    while (q < end && msg[q] != '?') {
      ++q;
    }
    out.params = make_span(p + 1, q);
    p = q;
  }
  if (p < end && msg[p] == '?') {
    out.headers = make_span(p + 1, end);
  }
  return true;
}

}  // namespace detail

Span header_uri(const char* msg, Span value) noexcept {
  NameAddr na;
  if (!parse_name_addr(msg, value, na)) {
    return Span{};
  }
  return na.uri;
}

}  // namespace viaduct::sip
