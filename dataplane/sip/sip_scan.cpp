// SPDX-License-Identifier: Apache-2.0
// dataplane/sip/sip_scan.cpp: the one-pass SIP scanner that fills SipView.
//
// Shape: the start line, then one loop over header lines. A line that starts with SP/HTAB
// continues the current field (obsolete folding), so a field is processed when the next field
// (or the empty line) starts: each byte of the header section is classified once, values are
// then re-read only for the few headers that have a slot. Bare-LF line ends are tolerated
// (as Kamailio does); spans then cover the LF alone.
//
// Cost (perf/RESULTS.md, "SIP scanner, third pass (S9)"; callgrind instruction counts are the
// stable measure on the shared VM): about 2,340 instructions for the 900-byte sipp INVITE of
// perf/ (2,830 before that pass, 3,590 before the one before, 4,580 before the second one);
// 2,585 for the 200 OK with two Vias, 2,157 for the OPTIONS. The body is never read. Where
// they go, largest first:
//   - the header-line loop (about 1,150 for 10 lines): next_ctl() finds the end of each line 16
//     bytes a step (SSE2: control bytes only, in one signed compare that lets the bytes >= 0x80
//     through to a table check; quotes matter only to a line with another control byte, which
//     goes to scan_line()), fast_name() + classify_fast() read a letters-and-dash name and its
//     colon with one 16-byte load and two word compares; other names take the byte-wise
//     general path. Field values are handled inline in the loop (Scanner::field).
//   - value parsers of the slotted headers (about 700): fast_via() (~255 for one Via: the
//     transport as one word, the port's digits in one loop, ";branch=" without the name
//     search) and fast_name_addr_tag() (~130 each for From and To, ";tag=" first) take the
//     plain shapes in one pass, runs of letters, digits, '-' and '.' confirmed 16 bytes a step;
//     anything else goes to the general parsers of sip_parse.cpp. CSeq's common value is read
//     with one 16-byte load, inline; Max-Forwards' and Content-Length's digits (~90 for the last
//     field, out of line) without the overflow test below 10 digits.
//   - the start line, the SipView reset and the final checks (about 350): fast_start_line()
//     reads "METHOD sip:URI SIP/2.0" and "SIP/2.0 NNN reason" without the memchr() call for the
//     first LF (one search for the URI's end, or for the reason's CR); literal compares are
//     whole words (lit_eq), not memcmp() calls.
// Tried and dropped (perf/RESULTS.md): a 64-byte bitmap of line stops shared by consecutive
// lines, and reusing fast_name()'s 16-byte load for the line-end search: both cost more than
// they saved (lines average ~35 bytes). S9: inlining fast_via(), fast_name_addr_tag() or
// field_at_end(), or calling via_field() out of line: each cost more (register spills) than the
// call it saved.
#include <array>
#include <cstring>
#include <type_traits>
#include <utility>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "dataplane/sip/chars.hpp"
#include "dataplane/sip/sip.hpp"

namespace viaduct::sip {

using namespace detail;

namespace {

// More header fields than this is an attack or a bug, not a call.
constexpr uint16_t kMaxHeaders = kMaxHeaderFields;

enum class Kind : uint8_t {
  kVia,
  kFrom,
  kTo,
  kCallId,
  kCSeq,
  kMaxForwards,
  kContentLength,
  kRoute,
  kRecordRoute,
  kContact,
  kUserAgent,
  kOther,
};
// Kind is Hdr with kOther as kCount (detail::header_name() hands it out as an Hdr).
static_assert(static_cast<int>(Kind::kVia) == static_cast<int>(Hdr::kVia));
static_assert(static_cast<int>(Kind::kFrom) == static_cast<int>(Hdr::kFrom));
static_assert(static_cast<int>(Kind::kTo) == static_cast<int>(Hdr::kTo));
static_assert(static_cast<int>(Kind::kCallId) == static_cast<int>(Hdr::kCallId));
static_assert(static_cast<int>(Kind::kCSeq) == static_cast<int>(Hdr::kCSeq));
static_assert(static_cast<int>(Kind::kMaxForwards) == static_cast<int>(Hdr::kMaxForwards));
static_assert(static_cast<int>(Kind::kContentLength) == static_cast<int>(Hdr::kContentLength));
static_assert(static_cast<int>(Kind::kRoute) == static_cast<int>(Hdr::kRoute));
static_assert(static_cast<int>(Kind::kRecordRoute) == static_cast<int>(Hdr::kRecordRoute));
static_assert(static_cast<int>(Kind::kContact) == static_cast<int>(Hdr::kContact));
static_assert(static_cast<int>(Kind::kUserAgent) == static_cast<int>(Hdr::kUserAgent));
static_assert(static_cast<int>(Kind::kOther) == static_cast<int>(Hdr::kCount));

// `n` holds the N - 1 bytes of `lit`, ignoring case when kFold (`lit` is then lower case):
// OR-ing 0x20 as name_is() below. Up to 8 bytes are compared as one word, or as two overlapping
// words for 3, 5, 6 and 7 bytes (a memcpy of those sizes into a word is assembled byte by
// byte); nothing past the N - 1 bytes is read.
template <bool kFold, size_t N>
[[gnu::always_inline]] inline bool lit_eq(const char* n, const char (&lit)[N]) noexcept {
  constexpr size_t kLen = N - 1;
  if constexpr (kLen == 3 || (kLen >= 5 && kLen <= 7)) {
    using W = std::conditional_t<kLen == 3, uint16_t, uint32_t>;
    constexpr size_t kW = sizeof(W);
    W a = 0;
    W b = 0;
    W la = 0;
    W lb = 0;
    std::memcpy(&a, n, kW);
    std::memcpy(&b, n + kLen - kW, kW);
    for (size_t i = 0; i < kW; ++i) {
      la = static_cast<W>(la | static_cast<W>(static_cast<uint8_t>(lit[i])) << (8 * i));
      lb = static_cast<W>(lb | static_cast<W>(static_cast<uint8_t>(lit[kLen - kW + i])) << (8 * i));
    }
    if constexpr (kFold) {
      a = static_cast<W>(a | static_cast<W>(0x20202020u));
      b = static_cast<W>(b | static_cast<W>(0x20202020u));
    }
    return ((a ^ la) | (b ^ lb)) == 0;
  } else if constexpr (N - 1 <= 8) {
    uint64_t w = 0;
    uint64_t l = 0;
    uint64_t fold = 0;
    std::memcpy(&w, n, N - 1);
    for (size_t i = 0; i + 1 < N; ++i) {
      l |= static_cast<uint64_t>(static_cast<uint8_t>(lit[i])) << (8 * i);
      fold |= uint64_t{kFold ? 0x20u : 0u} << (8 * i);
    }
    return (w | fold) == l;
  } else {
    unsigned diff = 0;
    for (size_t i = 0; i + 1 < N; ++i) {
      diff |= static_cast<unsigned>(static_cast<uint8_t>(n[i] | (kFold ? 0x20 : 0)) ^
                                    static_cast<uint8_t>(lit[i]));
    }
    return diff == 0;
  }
}

// `n` equals the lowercase literal `lit` ignoring case. Exact for token input (the caller has
// checked the name is a token): OR-ing 0x20 lowercases letters and maps no other token byte
// onto a letter or '-'.
template <size_t N>
[[gnu::always_inline]] inline bool name_is(const char* n, const char (&lit)[N]) noexcept {
  return lit_eq<true>(n, lit);
}

// `n` holds the bytes of `lit` (case counts).
template <size_t N>
[[gnu::always_inline]] inline bool bytes_are(const char* n, const char (&lit)[N]) noexcept {
  return lit_eq<false>(n, lit);
}

Kind classify(const char* n, size_t len) noexcept {
  switch (len) {
    case 1:
      switch (n[0] | 0x20) {
        case 'v':
          return Kind::kVia;
        case 'f':
          return Kind::kFrom;
        case 't':
          return Kind::kTo;
        case 'i':
          return Kind::kCallId;
        case 'm':
          return Kind::kContact;
        case 'l':
          return Kind::kContentLength;
        default:
          return Kind::kOther;  // c k s e o u r(Refer-To) b x y a: no slot
      }
    case 2:
      return name_is(n, "to") ? Kind::kTo : Kind::kOther;
    case 3:
      return name_is(n, "via") ? Kind::kVia : Kind::kOther;
    case 4:
      if (name_is(n, "from")) {
        return Kind::kFrom;
      }
      return name_is(n, "cseq") ? Kind::kCSeq : Kind::kOther;
    case 5:
      return name_is(n, "route") ? Kind::kRoute : Kind::kOther;
    case 7:
      if (name_is(n, "call-id")) {
        return Kind::kCallId;
      }
      return name_is(n, "contact") ? Kind::kContact : Kind::kOther;
    case 10:
      return name_is(n, "user-agent") ? Kind::kUserAgent : Kind::kOther;
    case 12:
      if (name_is(n, "max-forwards")) {
        return Kind::kMaxForwards;
      }
      return name_is(n, "record-route") ? Kind::kRecordRoute : Kind::kOther;
    case 14:
      return name_is(n, "content-length") ? Kind::kContentLength : Kind::kOther;
    default:
      return Kind::kOther;
  }
}

// First offset in [p, end) holding SP, a control character (HT, CR and LF included) or DEL,
// or end: what a Request-URI may not contain. 16 bytes a step; bytes up to `limit` (the
// message's end) may be read.
inline size_t first_space_or_ctl(const char* msg, size_t p, size_t end,
                                 [[maybe_unused]] size_t limit) noexcept {
#if defined(__SSE2__)
  for (; p < end && p + 16 <= limit; p += 16) {
    const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(msg + p));
    const __m128i bad = _mm_or_si128(_mm_cmpeq_epi8(_mm_min_epu8(x, _mm_set1_epi8(0x20)), x),
                                     _mm_cmpeq_epi8(x, _mm_set1_epi8(0x7f)));
    const unsigned m = static_cast<unsigned>(_mm_movemask_epi8(bad));
    if (m != 0) {
      p += static_cast<size_t>(__builtin_ctz(m));
      return p < end ? p : end;
    }
  }
  if (p >= end) {
    return end;
  }
#endif
  while (p < end && !is_lws(msg[p]) && !is(msg[p], kCtl)) {
    ++p;
  }
  return p;
}

#if defined(__SSE2__)
// The common header line: a name of letters and '-' directly followed by ':', all within the
// 16 bytes at p (which must be readable). Returns the name's length, or 0 when the line needs
// the general path (other token characters, white space before the colon, a long name, or
// fewer than 16 bytes left).
[[gnu::always_inline]] inline size_t fast_name(const char* msg, size_t p,
                                                size_t len) noexcept {
  if (p + 16 > len) {
    return 0;
  }
  const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(msg + p));
  // (x | 0x20) in 'a'..'z', as a signed compare after adding 0x80 - 'a' (see run_of()).
  const __m128i letter = _mm_cmplt_epi8(
      _mm_add_epi8(_mm_or_si128(x, _mm_set1_epi8(0x20)), _mm_set1_epi8(0x80 - 'a')),
      _mm_set1_epi8(static_cast<char>(0x80 + 26)));
  const __m128i ok = _mm_or_si128(letter, _mm_cmpeq_epi8(x, _mm_set1_epi8('-')));
  const unsigned colon =
      static_cast<unsigned>(_mm_movemask_epi8(_mm_cmpeq_epi8(x, _mm_set1_epi8(':'))));
  // ok + 1 sets the bit of the first byte that is not a letter or '-' (and clears those below
  // it; the bits above are letters or '-', never a colon): it is a colon exactly when the line
  // has the shape. A colon at 0 gives n == 0, the general path.
  const unsigned hit = (static_cast<unsigned>(_mm_movemask_epi8(ok)) + 1) & colon;
  return hit != 0 ? static_cast<size_t>(__builtin_ctz(hit)) : 0;
}
#else
inline size_t fast_name(const char*, size_t, size_t) noexcept { return 0; }
#endif

consteval uint64_t word(std::string_view s) noexcept {  // little-endian, up to 8 bytes
  uint64_t w = 0;
  for (size_t i = 0; i < s.size() && i < 8; ++i) {
    w |= static_cast<uint64_t>(static_cast<uint8_t>(s[i])) << (8 * i);
  }
  return w;
}

// classify() for a name of letters and '-' (fast_name), with 16 readable bytes at n: two
// word loads, lowercased by OR-ing 0x20 (exact for letters and '-').
[[gnu::always_inline]] inline Kind classify_fast(const char* n, size_t len) noexcept {
  constexpr uint64_t kLower = 0x2020202020202020ull;
  uint64_t w0 = 0;
  uint64_t w1 = 0;
  std::memcpy(&w0, n, 8);
  std::memcpy(&w1, n + 8, 8);
  w0 |= kLower;
  w1 |= kLower;
  auto head = [&](size_t k) { return k >= 8 ? w0 : w0 & ((uint64_t{1} << (8 * k)) - 1); };
  auto tail = [&](size_t k) { return w1 & ((uint64_t{1} << (8 * k)) - 1); };
  switch (len) {
    case 1:
      return classify(n, 1);
    case 2:
      return head(2) == word("to") ? Kind::kTo : Kind::kOther;
    case 3:
      return head(3) == word("via") ? Kind::kVia : Kind::kOther;
    case 4:
      return head(4) == word("from")   ? Kind::kFrom
             : head(4) == word("cseq") ? Kind::kCSeq
                                       : Kind::kOther;
    case 5:
      return head(5) == word("route") ? Kind::kRoute : Kind::kOther;
    case 7:
      return head(7) == word("call-id")   ? Kind::kCallId
             : head(7) == word("contact") ? Kind::kContact
                                          : Kind::kOther;
    case 10:
      return w0 == word("user-age") && tail(2) == word("nt") ? Kind::kUserAgent : Kind::kOther;
    case 12:
      if (w0 == word("max-forw") && tail(4) == word("ards")) {
        return Kind::kMaxForwards;
      }
      return w0 == word("record-r") && tail(4) == word("oute") ? Kind::kRecordRoute
                                                                : Kind::kOther;
    case 14:
      return w0 == word("content-") && tail(6) == word("length") ? Kind::kContentLength
                                                                  : Kind::kOther;
    default:
      return Kind::kOther;
  }
}

// method_from_name() with the methods of a call compared first, as fixed-size words.
inline Method method_of(std::string_view name) noexcept {
  switch (name.size()) {
    case 3:
      if (bytes_are(name.data(), "ACK")) {
        return Method::kAck;
      }
      if (bytes_are(name.data(), "BYE")) {
        return Method::kBye;
      }
      break;
    case 6:
      if (bytes_are(name.data(), "INVITE")) {
        return Method::kInvite;
      }
      break;
    case 7:
      if (bytes_are(name.data(), "OPTIONS")) {
        return Method::kOptions;
      }
      break;
    default:
      break;
  }
  return method_from_name(name);
}

// Start line. On success sets the fields of `out` it covers.
// len: the whole message (fast paths may read up to there).
ScanStatus scan_start_line(const char* msg, size_t le, size_t len, SipView& out) noexcept {
  constexpr std::string_view kVersion = "SIP/2.0";
  const std::string_view line(msg, le);
  if (line.starts_with("SIP/")) {
    if (!line.starts_with(kVersion)) {
      return ScanStatus::kBadVersion;
    }
    if (le == kVersion.size() || line[kVersion.size()] != ' ') {
      return le > kVersion.size() && line[kVersion.size()] != ' ' && line[kVersion.size()] != '\t'
                 ? ScanStatus::kBadVersion  // "SIP/2.01 ..."
                 : ScanStatus::kBadStartLine;
    }
    size_t p = kVersion.size() + 1;
    const size_t d = skip_class(msg, p, le, kDigit);
    uint32_t code = 0;
    if (d - p != 3 || !parse_u32(std::string_view(msg + p, 3), code) || code < 100 || code > 699) {
      return ScanStatus::kBadStatus;
    }
    // The SP before the reason phrase is required; a missing one is tolerated at line end.
    if (d < le && msg[d] != ' ') {
      return ScanStatus::kBadStatus;
    }
    for (size_t i = d; i < le; ++i) {
      if (is(msg[i], kCtl)) {
        return ScanStatus::kBadStartLine;
      }
    }
    out.is_request = false;
    out.status = static_cast<uint16_t>(code);
    out.reason = d < le ? make_span(d + 1, le) : Span{};
    return ScanStatus::kOk;
  }
  // Request-Line = Method SP Request-URI SP SIP-Version, single SPs.
  const size_t m = skip_class(msg, 0, le, kToken);
  if (m == 0 || m >= le || msg[m] != ' ') {
    return ScanStatus::kNotSip;
  }
  // The common line ends in " SIP/2.0": its last SP is then that one ("SIP/2.0" has none).
  const bool sip20_end = le > m + 8 && std::memcmp(msg + le - 8, " SIP/2.0", 8) == 0;
  const size_t last_sp = sip20_end ? le - 8 : line.rfind(' ');
  if (last_sp == m) {
    return ScanStatus::kBadStartLine;  // no SIP-Version (RFC 4475 test.dat)
  }
  const std::string_view version = line.substr(last_sp + 1);
  if (!sip20_end && version != kVersion) {
    if (version.empty()) {
      return ScanStatus::kBadStartLine;  // trailing SP (RFC 4475 trws)
    }
    return version.starts_with("SIP/") ? ScanStatus::kBadVersion : ScanStatus::kNotSip;
  }
  // Request-URI: absoluteURI = scheme ":" ..., no LWS or control characters (RFC 4475
  // lwsstart, lwsruri, ltgtruri).
  const size_t u = m + 1;
  if (u >= last_sp || !is(msg[u], kAlpha)) {
    return ScanStatus::kBadStartLine;
  }
  size_t q = u;
  uint32_t scheme = 0;
  if (u + 4 <= last_sp) {
    std::memcpy(&scheme, msg + u, 4);
  }
  if ((scheme | 0x202020u) == static_cast<uint32_t>(word("sip:"))) {
    q = u + 3;  // "sip:" in any case, the common scheme: what the loop below finds
  } else {
    while (q < last_sp &&
           (is(msg[q], kAlpha | kDigit) || msg[q] == '+' || msg[q] == '-' || msg[q] == '.')) {
      ++q;
    }
  }
  if (q >= last_sp || msg[q] != ':') {
    return ScanStatus::kBadStartLine;
  }
  if (first_space_or_ctl(msg, q, last_sp, len) != last_sp) {
    return ScanStatus::kBadStartLine;
  }
  out.is_request = true;
  out.method_name = make_span(0, m);
  out.method = method_of(std::string_view(msg, m));
  out.ruri = make_span(u, last_sp);
  return ScanStatus::kOk;
}

#if defined(__SSE2__)
// First offset in [p, len) holding a control character other than HT, or DEL, or len:
// defined below, used by the start line too.
inline size_t next_ctl(const char* msg, size_t p, size_t len) noexcept;

// The common start lines, without the memchr() for the first LF and the byte-wise method token:
//   - "METHOD SP sip:URI SP SIP/2.0 CRLF", the method in upper-case letters, the URI with no SP
//     or control byte: one search for the URI's end, which then must be " SIP/2.0" CR LF;
//   - "SIP/2.0 SP 3DIGIT SP reason CRLF", the reason with no control byte but HT.
// Sets what scan_start_line() would set and `lf` (the line's LF) and returns true; false leaves
// `out` alone for the general path. Exact: the general path finds the same first LF (no control
// byte comes before it) and so the same line, and its checks all pass on these shapes.
inline bool fast_start_line(const char* msg, size_t len, SipView& out, size_t& lf) noexcept {
  if (len < 16) {
    return false;
  }
  uint64_t w = 0;
  std::memcpy(&w, msg, 8);
  if (w == word("SIP/2.0 ")) {
    const unsigned d0 = static_cast<unsigned>(static_cast<uint8_t>(msg[8])) - '0';
    const unsigned d1 = static_cast<unsigned>(static_cast<uint8_t>(msg[9])) - '0';
    const unsigned d2 = static_cast<unsigned>(static_cast<uint8_t>(msg[10])) - '0';
    if (d0 > 9 || d1 > 9 || d2 > 9 || msg[11] != ' ') {
      return false;
    }
    const unsigned code = d0 * 100 + d1 * 10 + d2;
    if (code < 100 || code > 699) {
      return false;
    }
    const size_t cr = next_ctl(msg, 12, len);
    if (cr + 1 >= len || msg[cr] != '\r' || msg[cr + 1] != '\n') {
      return false;
    }
    out.is_request = false;
    out.status = static_cast<uint16_t>(code);
    out.reason = make_span(12, cr);
    lf = cr + 1;
    return true;
  }
  // The method: upper-case letters (tokens) up to the first SP.
  const __m128i x = _mm_sub_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(msg)),
                                 _mm_set1_epi8('A'));
  const unsigned upper = static_cast<unsigned>(
      _mm_movemask_epi8(_mm_cmpeq_epi8(_mm_min_epu8(x, _mm_set1_epi8(25)), x)));
  const size_t m = static_cast<size_t>(__builtin_ctz(~upper));  // at most 16
  if (m == 0 || m >= 16 || msg[m] != ' ') {
    return false;
  }
  const size_t u = m + 1;
  const size_t e = first_space_or_ctl(msg, u, len, len);  // the URI's end
  if (e < u + 4 || e + 10 > len) {
    return false;
  }
  uint32_t scheme = 0;
  std::memcpy(&scheme, msg + u, 4);
  uint64_t version = 0;
  std::memcpy(&version, msg + e + 1, 8);
  if ((scheme | 0x202020u) != static_cast<uint32_t>(word("sip:")) ||
      version != word("SIP/2.0\r") || msg[e] != ' ' || msg[e + 9] != '\n') {
    return false;
  }
  out.is_request = true;
  out.method_name = make_span(0, m);
  out.method = method_of(std::string_view(msg, m));
  out.ruri = make_span(u, e);
  lf = e + 9;
  return true;
}
#else
inline bool fast_start_line(const char*, size_t, SipView&, size_t&) noexcept { return false; }
#endif

// Fast paths for the values the scanner parses. Each handles the plain shape every UA sends
// (no LWS inside the value, no quoted parameter, no IPv6 reference) in one tight pass and
// answers kSlow for anything else, which the caller hands to the general parser in
// sip_parse.cpp (parse_via_at, parse_name_addr): the general parser decides every error, so a
// fast path only ever returns a result the general parser would also return. Building with
// -DVD_SIP_SCAN_CROSSCHECK runs both and aborts on any difference (the fuzz check).
constexpr size_t kSlow = ~size_t{0};

// Scanner-local classes (the shared table in chars.hpp has no bit left).
enum ScanClass : uint8_t {
  kViaValue = 1 << 0,    // via-param value bytes parse_via_at accepts: token, ':', '[', ']'
  kParamValue = 1 << 1,  // generic-param value bytes (param_value_end): not LWS ; , " or CTL
};

constexpr std::array<uint8_t, 256> make_scan_classes() {
  std::array<uint8_t, 256> t{};
  for (int c = 0; c < 256; ++c) {
    const char ch = static_cast<char>(c);
    uint8_t f = 0;
    if (is(ch, kToken) || ch == ':' || ch == '[' || ch == ']') {
      f |= kViaValue;
    }
    if (!is_lws(ch) && ch != ';' && ch != ',' && ch != '"' && !is(ch, kCtl)) {
      f |= kParamValue;
    }
    t[static_cast<size_t>(c)] = f;
  }
  return t;
}

inline constexpr std::array<uint8_t, 256> kScanClasses = make_scan_classes();

inline size_t skip_scan_class(const char* msg, size_t p, size_t end, uint8_t cls) noexcept {
  while (p < end && (kScanClasses[static_cast<uint8_t>(msg[p])] & cls) != 0) {
    ++p;
  }
  return p;
}

// The end of the run of `cls` bytes (kClasses when kScan is false, kScanClasses when true)
// from p, stopping at end. Bytes up to `limit` (the message's end) may be read. Common bytes
// are confirmed 16 at a step with SSE2: letters, digits, '-' and '.' belong to every class this
// is used with (token, host, via-param value); any other byte is looked up in the table, and the
// vector step resumes after it.
template <bool kScan>
inline size_t run_of(const char* msg, size_t p, size_t end, [[maybe_unused]] size_t limit,
                     uint8_t cls) noexcept {
  while (p < end) {
#if defined(__SSE2__)
    if (p + 16 <= limit) {
      const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(msg + p));
      // Ranges as signed compares: adding 0x80 - lo maps [lo, hi] onto the lowest signed
      // values, so one compare (less than 0x80 - lo + hi + 1) tests the range.
      const __m128i letter = _mm_cmplt_epi8(
          _mm_add_epi8(_mm_or_si128(x, _mm_set1_epi8(0x20)), _mm_set1_epi8(0x80 - 'a')),
          _mm_set1_epi8(static_cast<char>(0x80 + 26)));
      const __m128i dash_dot_digit = _mm_andnot_si128(  // '-' '.' '0'..'9', not '/'
          _mm_cmpeq_epi8(x, _mm_set1_epi8('/')),
          _mm_cmplt_epi8(_mm_add_epi8(x, _mm_set1_epi8(0x80 - '-')),
                         _mm_set1_epi8(static_cast<char>(0x80 + 13))));
      const unsigned m =
          ~static_cast<unsigned>(_mm_movemask_epi8(_mm_or_si128(letter, dash_dot_digit))) & 0xffffu;
      if (m == 0) {
        p += 16;
        continue;
      }
      p += static_cast<size_t>(__builtin_ctz(m));
      if (p >= end) {
        return end;
      }
    }
#endif
    const uint8_t c = static_cast<uint8_t>(msg[p]);
    if (((kScan ? kScanClasses[c] : kClasses[c]) & cls) == 0) {
      return p;
    }
    ++p;
  }
  return end;
}

// The first `c` in [p, end), or end: memchr() inline, 16 bytes a step (the call cost more than
// the search on a URI's few dozen bytes). Bytes up to `limit` may be read.
inline size_t find_byte(const char* msg, size_t p, size_t end, [[maybe_unused]] size_t limit,
                        char c) noexcept {
#if defined(__SSE2__)
  const __m128i k = _mm_set1_epi8(c);
  for (; p < end && p + 16 <= limit; p += 16) {
    const unsigned m = static_cast<unsigned>(_mm_movemask_epi8(
        _mm_cmpeq_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(msg + p)), k)));
    if (m != 0) {
      p += static_cast<size_t>(__builtin_ctz(m));
      return p < end ? p : end;
    }
  }
#endif
  while (p < end && msg[p] != c) {
    ++p;
  }
  return p < end ? p : end;
}

// param_value_end() of sip_parse.cpp for a value that is not quoted: the first LWS, ';', ',',
// '"' or control byte from p, or end.
inline size_t param_value_run(const char* msg, size_t p, size_t end,
                              [[maybe_unused]] size_t limit) noexcept {
#if defined(__SSE2__)
  for (; p + 16 <= limit && p < end; p += 16) {
    const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(msg + p));
    const __m128i ctl = _mm_or_si128(_mm_cmpeq_epi8(_mm_min_epu8(x, _mm_set1_epi8(0x20)), x),
                                     _mm_cmpeq_epi8(x, _mm_set1_epi8(0x7f)));  // SP included
    const __m128i sep = _mm_or_si128(
        _mm_cmpeq_epi8(x, _mm_set1_epi8(';')),
        _mm_or_si128(_mm_cmpeq_epi8(x, _mm_set1_epi8(',')), _mm_cmpeq_epi8(x, _mm_set1_epi8('"'))));
    const unsigned m = static_cast<unsigned>(_mm_movemask_epi8(_mm_or_si128(ctl, sep)));
    if (m != 0) {
      p += static_cast<size_t>(__builtin_ctz(m));
      return p < end ? p : end;
    }
  }
  if (p >= end) {
    return end;
  }
#endif
  return skip_scan_class(msg, p, end, kParamValue);
}

// parse_port() of sip_parse.cpp: 1..5 digits, at most 65535.
inline bool port_digits(const char* msg, size_t p, size_t q, uint16_t& out) noexcept {
  if (q == p || q - p > 5) {
    return false;
  }
  uint32_t v = 0;
  for (; p < q; ++p) {
    v = v * 10 + static_cast<uint32_t>(msg[p] - '0');
  }
  if (v > 65535) {
    return false;
  }
  out = static_cast<uint16_t>(v);
  return true;
}

// parse_via_at() for "SIP/2.0/TRANSPORT SP host[:port]*(;name[=value])" with no LWS after the
// sent-protocol's single SP and no quoted value. Returns what parse_via_at would (end, or the
// offset of the ',' before the next via-parm), or kSlow.
size_t fast_via(const char* msg, size_t p, size_t end, size_t limit, Via& out) noexcept {
  out = Via{};
  p = skip_lws(msg, p, end);
  const size_t start = p;
  if (p + 8 > end) {
    return kSlow;
  }
  uint64_t w = 0;
  std::memcpy(&w, msg + p, 8);
  // "SIP" in any case ('S', 's' are the only bytes OR-ing 0x20 onto 's', and so on), then
  // "/2.0/" exactly.
  if ((w | 0x202020) != word("sip/2.0/")) {
    return kSlow;
  }
  // The transport: UDP, TCP or TLS (any case) and the SP, in one word; others take run_of().
  size_t q = p + 11;
  uint32_t t = 0;
  if (p + 12 <= end) {
    std::memcpy(&t, msg + p + 8, 4);
    t |= 0x00202020u;
  }
  if (t != static_cast<uint32_t>(word("udp ")) && t != static_cast<uint32_t>(word("tcp ")) &&
      t != static_cast<uint32_t>(word("tls "))) {
    q = run_of<false>(msg, p + 8, end, limit, kToken);
    if (q == p + 8 || q + 1 >= end || msg[q] != ' ') {
      return kSlow;
    }
  } else if (q + 1 >= end) {
    return kSlow;
  }
  out.transport = make_span(p + 8, q);
  p = q + 1;
  q = run_of<false>(msg, p, end, limit, kHostChar);
  if (q == p) {
    return kSlow;  // LWS, an IPv6 reference, or an error
  }
  out.host = make_span(p, q);
  size_t last = q;
  if (q < end && msg[q] == ':') {
    // parse_port(): 1..5 digits, at most 65535 (a sixth digit sends the value to the general
    // parser, which refuses it).
    size_t d = q + 1;
    uint32_t v = 0;
    for (unsigned c = 0; d < end && d < q + 7 &&
                         (c = static_cast<unsigned>(static_cast<uint8_t>(msg[d])) - '0') <= 9;
         ++d) {
      v = v * 10 + c;
    }
    if (d == q + 1 || d == q + 7 || v > 65535) {
      return kSlow;
    }
    out.port_num = static_cast<uint16_t>(v);
    out.port = make_span(q + 1, d);
    last = d;
  }
  size_t r = last;
  while (r < end) {
    if (msg[r] != ';') {
      if (msg[r] != ',') {
        return kSlow;
      }
      break;
    }
    const size_t semi = r;
    if (out.params.off == 0) {
      out.params.off = static_cast<uint16_t>(semi + 1);
    }
    // ";branch=" (the name in any case), in every Via: what the code below does with it,
    // without the search for the name's end ('=' is not a token byte) and the name switch.
    if (r + 8 < end && name_is(msg + r + 1, "branch") && msg[r + 7] == '=') {
      const size_t v = run_of<true>(msg, r + 8, end, limit, kViaValue);
      if (v == r + 8) {
        return kSlow;  // a quoted value, LWS, or an error
      }
      out.branch = make_span(r + 8, v);
      last = v;
      r = v;
      continue;
    }
    q = run_of<false>(msg, r + 1, end, limit, kToken);
    if (q == r + 1) {
      return kSlow;
    }
    const std::string_view name(msg + r + 1, q - r - 1);
    last = q;
    Span val;
    if (q < end && msg[q] == '=') {
      const size_t v = run_of<true>(msg, q + 1, end, limit, kViaValue);
      if (v == q + 1) {
        return kSlow;  // a quoted value, LWS, or an error
      }
      val = make_span(q + 1, v);
      last = v;
    }
    // Names by length first: most parameters are none of the five. name_is(): the name is a
    // token, for which it is iequals() without a branch per byte.
    switch (name.size()) {
      case 6:
        if (name_is(name.data(), "branch")) {
          if (val.empty()) {
            return kSlow;
          }
          out.branch = val;
        }
        break;
      case 8:
        if (name_is(name.data(), "received")) {
          if (val.empty()) {
            return kSlow;
          }
          out.received = val;
          out.received_param = make_span(semi, last);
        }
        break;
      case 5:
        if (name_is(name.data(), "maddr")) {
          out.maddr = val;
        } else if (name_is(name.data(), "rport")) {
          uint16_t port = 0;
          if (!val.empty() && (skip_class(msg, val.off, val.end(), kDigit) != val.end() ||
                               !port_digits(msg, val.off, val.end(), port))) {
            return kSlow;
          }
          out.has_rport = true;
          out.rport = val;
          out.rport_param = make_span(semi, last);
        }
        break;
      case 3:
        if (name_is(name.data(), "ttl")) {
          uint32_t ttl = 0;
          if (!parse_u32(val.in(msg), ttl) || ttl > 255 || val.len > 3) {
            return kSlow;
          }
          out.ttl = val;
        }
        break;
      default:
        break;
    }
    r = last;
  }
  out.value = make_span(start, last);
  out.params_end = static_cast<uint16_t>(last);
  if (out.params.off != 0) {
    out.params.len = static_cast<uint16_t>(last - out.params.off);
  }
  return r;
}

// From/To: the tag and the addr-spec of "[display] <uri>*(;name[=value])" (value trimmed, not
// empty) with no quoted display name, no LWS after the '>' and no quoted parameter value: what
// parse_name_addr would give the scanner (the tag, the URI, and success with na.end == value
// end).
// False sends the value to parse_name_addr.
bool fast_name_addr_tag(const char* msg, Span value, [[maybe_unused]] size_t limit,
                        Span& tag, Span& uri) noexcept {
  const size_t end = value.end();
  size_t p = value.off;
  // The first '"', '<', ';' or ',' must be the '<'.
#if defined(__SSE2__)
  for (;; p += 16) {
    if (p >= end || p + 16 > limit) {
      while (p < end && msg[p] != '<' && msg[p] != '"' && msg[p] != ';' && msg[p] != ',') {
        ++p;
      }
      break;
    }
    const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(msg + p));
    const __m128i hit =
        _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, _mm_set1_epi8('<')),
                                  _mm_cmpeq_epi8(x, _mm_set1_epi8('"'))),
                     _mm_or_si128(_mm_cmpeq_epi8(x, _mm_set1_epi8(';')),
                                  _mm_cmpeq_epi8(x, _mm_set1_epi8(','))));
    const unsigned m = static_cast<unsigned>(_mm_movemask_epi8(hit));
    if (m != 0) {
      p += static_cast<size_t>(__builtin_ctz(m));
      break;
    }
  }
  if (p > end) {
    p = end;
  }
#else
  while (p < end && msg[p] != '<' && msg[p] != '"' && msg[p] != ';' && msg[p] != ',') {
    ++p;
  }
#endif
  if (p >= end || msg[p] != '<') {
    return false;
  }
  const size_t gt = find_byte(msg, p + 1, end, limit, '>');
  if (gt >= end) {
    return false;
  }
  if (gt == p + 1 || is_lws(msg[p + 1])) {
    return false;  // the URI may be empty
  }
  if (static_cast<uint8_t>(msg[gt - 1]) <= ' ') {
    return false;  // "<sip:b@x >": parse_name_addr trims the addr-spec
  }
  uri = make_span(p + 1, gt);
  tag = Span{};
  p = gt + 1;
  // The common first parameter, ";tag=" (the name in any case): what the loop below does with
  // it, without the search for the name's end ('=' is not a token byte).
  if (p + 6 <= end && name_is(msg + p + 1, "tag") && msg[p] == ';' && msg[p + 4] == '=') {
    const size_t v = param_value_run(msg, p + 5, end, limit);
    if (v == p + 5) {
      return false;
    }
    tag = make_span(p + 5, v);
    p = v;
  }
  while (p < end) {
    if (msg[p] != ';') {
      return false;
    }
    const size_t name_end = run_of<false>(msg, p + 1, end, limit, kToken);
    if (name_end == p + 1) {
      return false;
    }
    const size_t name_len = name_end - p - 1;
    const char* name = msg + p + 1;
    p = name_end;
    if (p < end && msg[p] == '=') {
      const size_t v = param_value_run(msg, p + 1, end, limit);
      if (v == p + 1) {
        return false;
      }
      if (name_len == 3 && tag.empty() && name_is(name, "tag")) {
        tag = make_span(p + 1, v);
      }
      p = v;
    }
  }
  return true;
}

// trim() of a header value, with the common shape first: one SP after the colon, and a last
// byte that is not LWS (every LWS byte is <= SP).
inline Span trim_value(const char* msg, size_t off, size_t end) noexcept {
  if (off + 1 < end && msg[off] == ' ' && static_cast<uint8_t>(msg[off + 1]) > ' ' &&
      static_cast<uint8_t>(msg[end - 1]) > ' ') {
    return make_span(off + 1, end);
  }
  return trim(msg, off, end);
}

// parse_u32() of a value: up to 9 digits cannot overflow, so they take a loop without the
// check (and without the class table).
inline bool digits_u32(const char* msg, Span value, uint32_t& out) noexcept {
  if (value.len - 1u < 9) {
    uint32_t v = 0;
    for (size_t i = value.off; i < value.end(); ++i) {
      const unsigned c = static_cast<unsigned>(static_cast<uint8_t>(msg[i])) - '0';
      if (c > 9) {
        return false;
      }
      v = v * 10 + c;
    }
    out = v;
    return true;
  }
  return parse_u32(value.in(msg), out);
}

struct Field {
  size_t line_off = 0;   // first byte of the header name
  size_t value_off = 0;  // first byte after the colon
  size_t value_end = 0;  // end of the last line's content (before its CRLF/LF)
  size_t line_end = 0;   // just after the last line's LF
  Kind kind = Kind::kOther;
};

constexpr bool same(Span a, Span b) noexcept { return a.off == b.off && a.len == b.len; }
[[maybe_unused]] bool same(const Via& a, const Via& b) noexcept {
  return same(a.value, b.value) && same(a.transport, b.transport) && same(a.host, b.host) &&
         same(a.port, b.port) && a.port_num == b.port_num && same(a.branch, b.branch) &&
         same(a.received, b.received) && same(a.maddr, b.maddr) && same(a.ttl, b.ttl) &&
         same(a.params, b.params) && a.has_rport == b.has_rport && same(a.rport, b.rport) &&
         a.params_end == b.params_end && same(a.received_param, b.received_param) &&
         same(a.rport_param, b.rport_param);
}
#if defined(VD_SIP_SCAN_CROSSCHECK)
inline void crosscheck(bool ok) noexcept {
  if (!ok) {
    __builtin_trap();  // a fast path disagrees with the general parser
  }
}
#else
inline void crosscheck(bool) noexcept {}
#endif

class Scanner {
 public:
  Scanner(const char* msg, size_t len, SipView& out) noexcept : msg_(msg), len_(len), out_(out) {}

  // Inlined into the header-line loop (a call cost ~17 instructions a field in saved
  // registers); field_at_end() is the out-of-line copy for the last field.
  [[gnu::always_inline]] ScanStatus field(const Field& f) noexcept {
    if (f.kind == Kind::kOther) {
      return ScanStatus::kOk;
    }
    if (f.kind == Kind::kVia) {
      return via_field(f);
    }
    const Span value = trim_value(msg_, f.value_off, f.value_end);
    if (value.empty() &&
        (f.kind == Kind::kFrom || f.kind == Kind::kTo || f.kind == Kind::kCallId)) {
      return ScanStatus::kBadHeader;  // the first occurrence counts, and it has no value
    }
    if (f.kind == Kind::kContentLength) {
      uint32_t n = 0;
      if (!digits_u32(msg_, value, n) || (out_.has_content_length && n != out_.content_length)) {
        return ScanStatus::kBadContentLength;  // RFC 4475 ncl, mcl01
      }
      out_.has_content_length = true;
      out_.content_length = n;
    }
    Span& slot = out_.hdr[static_cast<size_t>(f.kind)];
    if (!slot.empty()) {
      return ScanStatus::kOk;  // only the first occurrence counts (RFC 4475 multi01)
    }
    slot = value;
    switch (f.kind) {
      case Kind::kFrom:
      case Kind::kTo: {
        Span& slot_tag = f.kind == Kind::kFrom ? out_.from_tag : out_.to_tag;
        Span& slot_uri = f.kind == Kind::kFrom ? out_.from_uri : out_.to_uri;
        Span tag;
        Span uri;
        const bool fast = fast_name_addr_tag(msg_, value, len_, tag, uri);
#if !defined(VD_SIP_SCAN_CROSSCHECK)
        if (fast) {
          slot_tag = tag;
          slot_uri = uri;
          break;
        }
#endif
        NameAddr na;
        if (!value.empty() && !parse_name_addr(msg_, value, na)) {
          crosscheck(!fast);
          return ScanStatus::kBadHeader;  // e.g. unterminated display name (RFC 4475 quotbal)
        }
        if (na.end != value.end()) {
          crosscheck(!fast);
          return ScanStatus::kBadHeader;  // From and To hold one value: "To: <sip:b@x>, junk"
        }
        crosscheck(!fast || (same(tag, na.tag) && same(uri, na.uri)));
        slot_tag = na.tag;
        slot_uri = na.uri;
        break;
      }
      case Kind::kCSeq:
        return cseq(value);
      case Kind::kUserAgent:
        // The first field counts even with an empty value (Kamailio's $ua is then ""): reached
        // again only after an empty first one, whose (empty) value is put back.
        if (out_.has_user_agent) {
          slot = Span{};
        }
        out_.has_user_agent = true;
        break;
      case Kind::kMaxForwards:
        // 0..255: RFC 4475 3.1.2.4 (scalar02) calls a larger value out of range.
        if (!digits_u32(msg_, value, out_.max_forwards) || out_.max_forwards > 255) {
          return ScanStatus::kBadMaxForwards;
        }
        out_.has_max_forwards = true;
        out_.max_forwards_value = value;
        break;
      default:
        break;
    }
    return ScanStatus::kOk;
  }

 private:
  // Inlined (the call cost ~25 instructions): the common value; cseq_general() for the rest.
  [[gnu::always_inline]] ScanStatus cseq(Span value) noexcept {
    const size_t end = value.end();
#if defined(__SSE2__)
    // The common value, "1*9DIGIT SP METHOD" in upper-case letters within 16 bytes: one load
    // gives the digits' run and the method's letters. What the general code below gives it:
    // 9 digits always fit in 32 bits, and upper-case letters are tokens.
    if (size_t{value.off} + 16 <= len_ && end - value.off <= 16) {
      const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(msg_ + value.off));
      const __m128i dx = _mm_sub_epi8(x, _mm_set1_epi8('0'));
      const __m128i ux = _mm_sub_epi8(x, _mm_set1_epi8('A'));
      const unsigned digits = static_cast<unsigned>(
          _mm_movemask_epi8(_mm_cmpeq_epi8(_mm_min_epu8(dx, _mm_set1_epi8(9)), dx)));
      const unsigned upper = static_cast<unsigned>(
          _mm_movemask_epi8(_mm_cmpeq_epi8(_mm_min_epu8(ux, _mm_set1_epi8(25)), ux)));
      const size_t nd = static_cast<size_t>(__builtin_ctz(~digits));  // at most 16
      const size_t n = end - value.off;
      // Bits nd + 1 .. n - 1: the method.
      const unsigned want = ((1u << n) - 1) & ~((2u << nd) - 1);
      if (nd - 1 < 9 && nd + 1 < n && msg_[value.off + nd] == ' ' && (upper & want) == want) {
        uint32_t v = 0;
        for (size_t i = 0; i < nd; ++i) {
          v = v * 10 + static_cast<uint32_t>(msg_[value.off + i] - '0');
        }
        out_.cseq_num = v;
        out_.cseq_method = make_span(value.off + nd + 1, end);
        return ScanStatus::kOk;
      }
    }
#endif
    return cseq_general(value);
  }

  [[gnu::noinline]] ScanStatus cseq_general(Span value) noexcept {
    const size_t end = value.end();
    const size_t d = skip_class(msg_, value.off, end, kDigit);
    // 1*DIGIT LWS Method; the number must fit in 32 bits (RFC 4475 scalar02, scalarlg).
    if (!parse_u32(std::string_view(msg_ + value.off, d - value.off), out_.cseq_num) || d >= end ||
        !is_lws(msg_[d])) {
      return ScanStatus::kBadCSeq;
    }
    const size_t m = skip_lws(msg_, d, end);
    if (skip_class(msg_, m, end, kToken) != end || m == end) {
      return ScanStatus::kBadCSeq;
    }
    out_.cseq_method = make_span(m, end);
    return ScanStatus::kOk;
  }

  // Parses the comma-separated values of a Via field: the first two fill via1/via2, the rest are
  // only checked. A comma ends a value only where the grammar allows one (after sent-by or a
  // parameter), so commas inside quoted parameter values need no separate pass.
  ScanStatus via_field(const Field& f) noexcept {
    size_t p = f.value_off;
    const size_t end = f.value_end;
    unsigned in_field = 0;
    const bool first_field = out_.via_count == 0;
    Via scratch;  // the third and later values: checked, not kept (both parsers reset it)
    while (true) {
      Via& via = out_.via_count == 0 ? out_.via1 : out_.via_count == 1 ? out_.via2 : scratch;
      size_t q = fast_via(msg_, p, end, len_, via);
#if defined(VD_SIP_SCAN_CROSSCHECK)
      if (q != kSlow) {
        Via slow;
        crosscheck(parse_via_at(msg_, p, end, slow) == q && same(slow, via));
      }
#endif
      if (q == kSlow) {
        q = parse_via_at(msg_, p, end, via);
      }
      if (q > end) {
        return ScanStatus::kBadVia;  // includes empty values (RFC 4475 badinv01: ";;,;,,")
      }
      if (out_.via_count < 255) {
        ++out_.via_count;
      }
      ++in_field;
      if (q >= end) {
        break;
      }
      p = q + 1;
    }
    if (first_field) {
      out_.top_via_line = make_span(f.line_off, f.line_end);
      out_.top_via_alone = in_field == 1;
      out_.hdr[static_cast<size_t>(Hdr::kVia)] = trim_value(msg_, f.value_off, f.value_end);
    }
    return ScanStatus::kOk;
  }

 public:
  // The members one by one, in registers: the loop's `cur` then need not live in memory (a
  // Field by value is copied through the stack).
  [[gnu::noinline]] ScanStatus field_at_end(size_t line_off, size_t value_off, size_t value_end,
                                            size_t line_end, Kind kind) noexcept {
    return field(Field{line_off, value_off, value_end, line_end, kind});
  }

 private:
  const char* msg_;
  size_t len_;  // the message's length: fast paths may read up to here
  SipView& out_;
};

// First offset in [p, len) holding a kLineStop byte (a control character other than HT, '"'
// or '\\'), or len. Header text is almost all plain printable bytes, so this runs 16 bytes a
// step; bytes >= 0x80 (UTF-8) are not stops. Reads nothing outside [msg, msg + len).
inline size_t next_stop(const char* msg, size_t p, size_t len) noexcept {
#if defined(__SSE2__)
  const __m128i k1f = _mm_set1_epi8(0x1f);
  const __m128i ktab = _mm_set1_epi8('\t');
  const __m128i kdel = _mm_set1_epi8(0x7f);
  const __m128i kquote = _mm_set1_epi8('"');
  const __m128i kbslash = _mm_set1_epi8('\\');
  for (; p + 16 <= len; p += 16) {
    const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(msg + p));
    // x <= 0x1f unsigned: min(x, 0x1f) == x.
    const __m128i ctl = _mm_andnot_si128(_mm_cmpeq_epi8(x, ktab),
                                         _mm_cmpeq_epi8(_mm_min_epu8(x, k1f), x));
    const __m128i other = _mm_or_si128(
        _mm_cmpeq_epi8(x, kdel), _mm_or_si128(_mm_cmpeq_epi8(x, kquote), _mm_cmpeq_epi8(x, kbslash)));
    const unsigned m = static_cast<unsigned>(_mm_movemask_epi8(_mm_or_si128(ctl, other)));
    if (m != 0) {
      return p + static_cast<size_t>(__builtin_ctz(m));
    }
  }
#endif
  while (p < len && !is(msg[p], kLineStop)) {
    ++p;
  }
  return p;
}

// First offset in [p, len) holding a control character other than HT (CR and LF included) or
// DEL, or len: where the common header line ends (its CR). Fewer tests per 16 bytes than
// next_stop(): no '"' or '\\' (the quote state matters only to a line with another control
// byte, which then takes scan_line()), and HT, rare in headers, is weeded out after the vector
// test (with the bytes >= 0x80 the vector test lets through). Reads nothing outside
// [msg, msg + len).
inline size_t next_ctl(const char* msg, size_t p, size_t len) noexcept {
#if defined(__SSE2__)
  const __m128i k1 = _mm_set1_epi8(1);
  const __m128i k21 = _mm_set1_epi8(0x21);
  for (; p + 16 <= len; p += 16) {
    const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(msg + p));
    // x + 1 < 0x21 as signed bytes: the control bytes, DEL and the bytes >= 0x80 in two
    // operations; HT and the high bytes (rare in headers: UTF-8 display names) are then
    // weeded out one by one.
    const __m128i cand = _mm_cmplt_epi8(_mm_add_epi8(x, k1), k21);
    for (unsigned m = static_cast<unsigned>(_mm_movemask_epi8(cand)); m != 0; m &= m - 1) {
      const size_t q = p + static_cast<size_t>(__builtin_ctz(m));
      if (is(msg[q], kCtl)) {
        return q;
      }
    }
  }
#endif
  while (p < len && !is(msg[p], kCtl)) {
    ++p;
  }
  return p;
}

// Scans one header line from p (its first byte already classified by the caller) to its LF.
// Tracks quoted strings across folded lines. Returns the offset of the LF, `len` when there is
// none, or `len + 1` on a control character outside a quoted string (or a bare CR).
size_t scan_line(const char* msg, size_t p, size_t len, bool& in_quote) noexcept {
  for (p = next_stop(msg, p, len); p < len; p = next_stop(msg, p + 1, len)) {
    const char c = msg[p];
    if (c == '\n') {
      return p;
    }
    if (c == '\r') {
      if (p + 1 < len && msg[p + 1] == '\n') {
        return p + 1;
      }
      return p + 1 < len ? len + 1 : len;  // bare CR, or CR at the very end (truncated)
    }
    if (c == '"') {
      in_quote = !in_quote;
    } else if (c == '\\') {
      if (in_quote && p + 1 < len && msg[p + 1] != '\r' && msg[p + 1] != '\n') {
        ++p;  // quoted-pair: any octet but CR/LF (RFC 4475 intmeth: NUL, BEL, DEL)
      }
    } else if (!in_quote) {
      return len + 1;
    }
  }
  return len;
}

// out = SipView{} in 16-byte stores (the assignment was ~60 scalar stores, memset a `rep stos`
// with its start-up cost): every member's default is zero but top_via_alone's, which
// tests/sip/sip_scan_test.cpp (ResetIsTheDefault) checks.
static_assert(std::is_trivially_copyable_v<SipView> && sizeof(SipView) >= 16);
inline void reset(SipView& out) noexcept {
#if defined(__SSE2__)
  // Straight-line stores (GCC turns a loop of them back into `rep stos`).
  char* o = reinterpret_cast<char*>(&out);
  const __m128i z = _mm_setzero_si128();
  [&]<size_t... I>(std::index_sequence<I...>) {
    (_mm_storeu_si128(reinterpret_cast<__m128i*>(o + 16 * I), z), ...);
  }(std::make_index_sequence<sizeof out / 16>{});
  _mm_storeu_si128(reinterpret_cast<__m128i*>(o + sizeof out - 16), z);
#else
  std::memset(static_cast<void*>(&out), 0, sizeof out);
#endif
  out.top_via_alone = true;
}

}  // namespace

Hdr detail::header_name(const char* msg, size_t p, size_t end, size_t limit,
                        size_t& name_end) noexcept {
  if (const size_t n = fast_name(msg, p, limit); n != 0 && p + n <= end) {
    name_end = p + n;
    return static_cast<Hdr>(classify_fast(msg + p, n));
  }
  name_end = skip_class(msg, p, end, kToken);
  return static_cast<Hdr>(classify(msg + p, name_end - p));
}

ScanStatus scan(const char* msg, size_t len, SipView& out) noexcept {
  reset(out);
  if (len > kMaxMessage) {
    return ScanStatus::kTooLarge;
  }
  if (len == 0) {
    return ScanStatus::kNotSip;
  }
  size_t lf = 0;
  if (!fast_start_line(msg, len, out, lf)) {
    const void* lf_ptr = std::memchr(msg, '\n', len);
    lf = lf_ptr == nullptr ? len : static_cast<size_t>(static_cast<const char*>(lf_ptr) - msg);
    const size_t le = (lf > 0 && lf < len && msg[lf - 1] == '\r') ? lf - 1 : lf;
    if (ScanStatus s = scan_start_line(msg, le, len, out); s != ScanStatus::kOk) {
      return s;
    }
    if (lf >= len) {
      return ScanStatus::kTruncated;
    }
  }

  Scanner scanner(msg, len, out);
  Field cur;  // kind kOther until the first field line
  const size_t first_line = lf + 1;
  unsigned hdr_count = 0;
  size_t p = first_line;
  while (true) {
    if (p >= len) {
      return ScanStatus::kTruncated;  // header section not closed by an empty line
    }
    const char c = msg[p];
    size_t from = p;
    bool continuation = false;
    // One test for the rare first bytes: the empty line, a continuation (SP/HTAB), a control
    // byte (refused with the name below).
    if (static_cast<uint8_t>(c) <= ' ') [[unlikely]] {
      size_t eol = 0;  // offset of the LF ending the empty line, once found
      if (c == '\n') {
        eol = p;
      } else if (c == '\r') {
        if (p + 1 >= len) {
          return ScanStatus::kTruncated;
        }
        if (msg[p + 1] != '\n') {
          return ScanStatus::kBadHeader;
        }
        eol = p + 1;
      }
      if (eol != 0) {
        if (cur.kind != Kind::kOther) {
          if (ScanStatus s = scanner.field_at_end(cur.line_off, cur.value_off, cur.value_end,
                                                  cur.line_end, cur.kind);
              s != ScanStatus::kOk) {
            return s;
          }
        }
        out.hdr_count = static_cast<uint16_t>(hdr_count);
        out.headers_end = static_cast<uint16_t>(p);
        out.body_off = static_cast<uint16_t>(eol + 1);
        break;
      }
      if (is_ws(c)) {
        if (p == first_line) {
          return ScanStatus::kBadHeader;  // continuation with nothing to continue
        }
        continuation = true;
      }
    }
    if (!continuation) {
      if (cur.kind != Kind::kOther) {
        if (ScanStatus s = scanner.field(cur); s != ScanStatus::kOk) {
          return s;
        }
      }
      // field-name HCOLON: token, optional SP/HTAB, ':'.
      size_t name_end = p + fast_name(msg, p, len);
      size_t colon = name_end;
      Kind kind = Kind::kOther;
      if (name_end != p) [[likely]] {
        kind = classify_fast(msg + p, name_end - p);
      } else {
        name_end = skip_class(msg, p, len, kToken);
        colon = name_end;
        while (colon < len && is_ws(msg[colon])) {
          ++colon;
        }
        if (name_end == p || colon >= len || msg[colon] != ':') {
          return colon >= len ? ScanStatus::kTruncated : ScanStatus::kBadHeader;
        }
        kind = classify(msg + p, name_end - p);
      }
      if (++hdr_count > kMaxHeaders) {
        return ScanStatus::kTooManyHeaders;
      }
      cur.line_off = p;  // value_end and line_end are set below
      cur.value_off = colon + 1;
      cur.kind = kind;
      from = colon + 1;
    }
    // The common line: its first control byte is the CR of its CR LF, which ends it whatever
    // its quoted strings (what scan_line() would find). Otherwise scan_line() decides, from the
    // quote state the field's earlier lines leave (none on its first line).
    size_t nl = next_ctl(msg, from, len);
    if (nl + 1 < len && msg[nl] == '\r' && msg[nl + 1] == '\n') [[likely]] {
      ++nl;
    } else {
      bool in_quote = from != cur.value_off && quote_state(msg, cur.value_off, from);
      nl = scan_line(msg, from, len, in_quote);
    }
    if (nl > len) {
      return ScanStatus::kBadHeader;
    }
    if (nl == len) {
      return ScanStatus::kTruncated;
    }
    cur.value_end = (msg[nl - 1] == '\r') ? nl - 1 : nl;
    cur.line_end = nl + 1;
    p = nl + 1;
  }

  if (out.via_count == 0 || out[Hdr::kFrom].empty() || out[Hdr::kTo].empty() ||
      out[Hdr::kCallId].empty() || out[Hdr::kCSeq].empty()) {
    return ScanStatus::kMissingHeader;
  }
  out.call_id = out[Hdr::kCallId];
  if (out.is_request) {
    // RFC 4475 mismatch01/02: Kamailio parses and forwards these; only sanity_check rejects them.
    // Methods are short: up to 8 bytes compared as words (both are followed by at least a CR
    // LF and the empty line, so 8 bytes from either are inside the message).
    const Span a = out.cseq_method;
    const Span b = out.method_name;
    if (a.len != b.len) {
      out.cseq_method_mismatch = true;
    } else if (a.len != 0 && a.len <= 8 && size_t{a.off} + 8 <= len && size_t{b.off} + 8 <= len) {
      uint64_t wa = 0;
      uint64_t wb = 0;
      std::memcpy(&wa, msg + a.off, 8);
      std::memcpy(&wb, msg + b.off, 8);
      out.cseq_method_mismatch = ((wa ^ wb) << (64 - 8 * a.len)) != 0;
    } else {
      out.cseq_method_mismatch = a.in(msg) != b.in(msg);
    }
  } else {
    out.method = method_of(out.cseq_method.in(msg));
  }
  const size_t avail = len - out.body_off;
  if (out.has_content_length) {
    if (out.content_length > avail) {
      return ScanStatus::kTruncated;  // RFC 4475 clerr
    }
    out.len = static_cast<uint16_t>(out.body_off + out.content_length);
  } else {
    out.len = static_cast<uint16_t>(len);
  }
  return ScanStatus::kOk;
}

}  // namespace viaduct::sip
