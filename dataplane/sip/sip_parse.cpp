// SPDX-License-Identifier: Apache-2.0
// dataplane/sip/sip_parse.cpp: Via, URI and name-addr accessors over a scanned message.
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#include <tmmintrin.h>  // _mm_shuffle_epi8, in functions built for SSSE3 only (uri_masks_ssse3)
#include <immintrin.h>  // AVX2 and BMI, in functions built for them only (uri_masks_avx2)
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

namespace detail {

// Whether this CPU has SSSE3 (every x86-64 CPU since about 2011; the DPDK build asks for more):
// fast_sip_uri then classifies bytes with pshufb (uri_masks_ssse3). Until dynamic
// initialisation, and where a test clears it, with SSE2 compares (uri_masks).
#if defined(__SSE2__)
bool uri_ssse3 = [] {
  __builtin_cpu_init();
  return __builtin_cpu_supports("ssse3") != 0;
}();
bool uri_avx2 = [] {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") != 0 && __builtin_cpu_supports("bmi") != 0 &&
         __builtin_cpu_supports("bmi2") != 0;
}();
#else
bool uri_ssse3 = false;
bool uri_avx2 = false;
#endif

}  // namespace detail

namespace {

#if defined(__SSE2__)
// Bits past 63 are none.
constexpr uint64_t bits_from(uint64_t m, size_t i) noexcept {
  return i >= 64 ? 0 : m & (~0ull << i);
}

// lo <= x <= hi per byte, as unsigned bytes: x - lo <= hi - lo, moved to the signed range for
// pcmpgtb (one subtract and one compare; min/cmpeq needs a copy more).
inline __m128i in_range(__m128i x, char lo, char hi) noexcept {
  const __m128i s = _mm_sub_epi8(x, _mm_set1_epi8(static_cast<char>(lo + 0x80)));
  return _mm_cmplt_epi8(s, _mm_set1_epi8(static_cast<char>(hi - lo - 127)));
}

// One bit per byte of the 16 * kVec bytes from buf (bit i: buf[i]) for each class of byte the
// URI grammar stops at; bits from 16 * kVec on may hold anything (uri_from_masks limits every
// mask to the URI's bytes).
struct UriMasks {
  uint64_t bad = 0;      // LWS or CTL: every byte <= 0x20 (HT, CR, LF, SP included) and DEL
  uint64_t at = 0;       // '@'
  uint64_t digits = 0;   // '0'-'9' (and 0x10-0x19: bad)
  uint64_t nonhost = 0;  // not kHostChar (letters, digits, '-', '.', '_'; some bad bytes are)
  uint64_t colon = 0;    // ':' (kFill only)
};

// The '?' of the 16 * kVec bytes from buf: only for the spans of a URI with params.
template <int kVec>
[[gnu::always_inline]] inline uint64_t qmark_mask(const char* buf) noexcept {
  uint64_t m = 0;
#pragma GCC unroll 4
  for (int k = 0; k < kVec; ++k) {
    const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(buf + 16 * k));
    m |= static_cast<uint64_t>(static_cast<unsigned>(
             _mm_movemask_epi8(_mm_cmpeq_epi8(x, _mm_set1_epi8('?')))))
         << (16 * k);
  }
  return m;
}

template <bool kFill, int kVec>
[[gnu::always_inline]] inline UriMasks uri_masks(const char* buf) noexcept {
  UriMasks m;
  // Unrolled: each step's shift is a constant, not a shift by cl (three uops each on Intel).
#pragma GCC unroll 4
  for (int k = 0; k < kVec; ++k) {
    const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(buf + 16 * k));
    const auto mask = [k](__m128i v) {
      return static_cast<uint64_t>(static_cast<unsigned>(_mm_movemask_epi8(v))) << (16 * k);
    };
    m.bad |= mask(_mm_or_si128(_mm_cmpeq_epi8(_mm_min_epu8(x, _mm_set1_epi8(0x20)), x),
                               _mm_cmpeq_epi8(x, _mm_set1_epi8(0x7f))));
    m.at |= mask(_mm_cmpeq_epi8(x, _mm_set1_epi8('@')));
    // The host classes on y = x | 0x20, which lowercases the letters: one range for them. It
    // also maps a few bytes onto host characters (CR, 0x0e -> '-', '.'; 0x10-0x19 -> digits;
    // DEL -> 0x7f as '_'): all of them are bad, refused before any class is looked at.
    const __m128i y = _mm_or_si128(x, _mm_set1_epi8(0x20));
    const __m128i digit = in_range(y, '0', '9');
    m.digits |= mask(digit);
    m.nonhost |= mask(_mm_or_si128(_mm_or_si128(digit, in_range(y, 'a', 'z')),
                                   _mm_or_si128(in_range(y, '-', '.'),
                                                _mm_cmpeq_epi8(y, _mm_set1_epi8(0x7f)))));
    if constexpr (kFill) {
      m.colon |= mask(_mm_cmpeq_epi8(x, _mm_set1_epi8(':')));
    }
  }
  m.nonhost = ~m.nonhost;  // host characters until here
  return m;
}

// uri_masks with pshufb (SSSE3): each byte's classes as bits, the AND of a lookup by its low
// nibble and one by its high nibble (simdjson's classifier); a class is a bit, a bit is a set
// (high nibbles) x (low nibbles). Bytes >= 0x80 have no bit (high table 0). As in uri_masks,
// some bad bytes also have host bits; they are refused first.
//   0x80 '@'        {4} x {0}
//   0x40 digits     {1,3} x {0-9}         (0x10-0x19: bad)
//   0x01 - .        {0,2} x {d,e}         (CR, 0x0e: bad)
//   0x02 letters    {4,6} x {1-f}         A-O a-o
//   0x04 letters _  {5,7} x {0-a,f}       P-Z p-z _ (DEL: bad)
//   0x08 bad        {0,1} x {0-f}         CTL, HT, CR, LF
//   0x10 bad        {2} x {0}             SP
//   0x20 bad        {7} x {f}             DEL
// About 22 instructions a 16-byte step for the four masks (uri_masks: about 33).
template <bool kFill, int kVec>
[[gnu::always_inline, gnu::target("ssse3")]] inline UriMasks uri_masks_ssse3(
    const char* buf) noexcept {
  const __m128i lo_table = _mm_setr_epi8(
      static_cast<char>(0xdc), 0x4e, 0x4e, 0x4e, 0x4e, 0x4e, 0x4e, 0x4e, 0x4e, 0x4e, 0x0e, 0x0a,
      0x0a, 0x0b, 0x0b, 0x2e);
  const __m128i hi_table = _mm_setr_epi8(0x09, 0x48, 0x11, 0x40, static_cast<char>(0x82), 0x04,
                                         0x02, 0x24, 0, 0, 0, 0, 0, 0, 0, 0);
  const __m128i nibble = _mm_set1_epi8(0x0f);
  UriMasks m;
#pragma GCC unroll 4
  for (int k = 0; k < kVec; ++k) {
    const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(buf + 16 * k));
    const auto mask = [k](__m128i v) {
      return static_cast<uint64_t>(static_cast<unsigned>(_mm_movemask_epi8(v))) << (16 * k);
    };
    const __m128i c =
        _mm_and_si128(_mm_shuffle_epi8(lo_table, _mm_and_si128(x, nibble)),
                      _mm_shuffle_epi8(hi_table, _mm_and_si128(_mm_srli_epi16(x, 4), nibble)));
    const __m128i zero = _mm_setzero_si128();
    // Inverted below: the bytes without a bad bit, then.
    m.bad |= mask(_mm_cmpeq_epi8(_mm_and_si128(c, _mm_set1_epi8(0x38)), zero));
    m.at |= mask(c);
    m.digits |= mask(_mm_add_epi8(c, c));
    m.nonhost |= mask(_mm_cmpeq_epi8(_mm_and_si128(c, _mm_set1_epi8(0x47)), zero));
    if constexpr (kFill) {
      m.colon |= mask(_mm_cmpeq_epi8(x, _mm_set1_epi8(':')));
    }
  }
  m.bad = ~m.bad;
  return m;
}

// uri_masks_ssse3's classifier (the same tables), 32 bytes a step with AVX2 (vpshufb looks up
// within each 16-byte lane, and both lanes hold the tables): kVec 2 is one step, 4 two. A
// 32-byte step is about 12 instructions for the four masks, against 2 x 22 with SSSE3, and
// gives each mask in one vpmovmskb.
// Its constants, 32 bytes each: both tables (uri_masks_ssse3's, once per lane), the nibble
// mask, the bad classes, the host classes, ':'.
struct UriAvx2Const {
  alignas(32) uint8_t v[6][32];
};
constexpr UriAvx2Const make_uri_avx2_const() noexcept {
  constexpr uint8_t lo[16] = {0xdc, 0x4e, 0x4e, 0x4e, 0x4e, 0x4e, 0x4e, 0x4e,
                              0x4e, 0x4e, 0x0e, 0x0a, 0x0a, 0x0b, 0x0b, 0x2e};
  constexpr uint8_t hi[16] = {0x09, 0x48, 0x11, 0x40, 0x82, 0x04, 0x02, 0x24,
                              0,    0,    0,    0,    0,    0,    0,    0};
  UriAvx2Const c{};
  for (int i = 0; i < 32; ++i) {
    c.v[0][i] = lo[i % 16];
    c.v[1][i] = hi[i % 16];
    c.v[2][i] = 0x0f;
    c.v[3][i] = 0x38;
    c.v[4][i] = 0x47;
    c.v[5][i] = ':';
  }
  return c;
}
constexpr UriAvx2Const kUriAvx2Const = make_uri_avx2_const();

template <bool kFill, int kVec>
[[gnu::always_inline, gnu::target("avx2,bmi,bmi2")]] inline UriMasks uri_masks_avx2(
    const char* buf) noexcept {
  static_assert(kVec == 2 || kVec == 4);
  // The constants read from memory (operands of the instructions that use them): GCC otherwise
  // builds each uniform one in three instructions (movabs, vmovq, vpbroadcastq) on every call.
  // The empty asm hides the array's contents from the optimiser.
  const uint8_t(*kc)[32] = kUriAvx2Const.v;
  asm("" : "+r"(kc));
  const auto ld = [kc](int i) { return reinterpret_cast<const __m256i*>(kc[i]); };
  UriMasks m;
#pragma GCC unroll 2
  for (int k = 0; k < kVec / 2; ++k) {
    const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(buf + 32 * k));
    // (A macro, not a lambda: a lambda has no AVX2 target to inline the intrinsic into.)
#define VD_MASK32(v) \
  (static_cast<uint64_t>(static_cast<uint32_t>(_mm256_movemask_epi8(v))) << (32 * k))
    // The low nibble's lookup takes x as is: vpshufb gives 0 for an index with bit 7 set, and
    // the bytes >= 0x80 are in no class anyway (the high table's upper half is 0).
    const __m256i c = _mm256_and_si256(
        _mm256_shuffle_epi8(*ld(0), x),
        _mm256_shuffle_epi8(*ld(1), _mm256_and_si256(_mm256_srli_epi16(x, 4), *ld(2))));
    const __m256i zero = _mm256_setzero_si256();
    // Inverted below: the bytes without a bad bit, then.
    m.bad |= VD_MASK32(_mm256_cmpeq_epi8(_mm256_and_si256(c, *ld(3)), zero));
    m.at |= VD_MASK32(c);
    m.digits |= VD_MASK32(_mm256_add_epi8(c, c));
    m.nonhost |= VD_MASK32(_mm256_cmpeq_epi8(_mm256_and_si256(c, *ld(4)), zero));
    if constexpr (kFill) {
      m.colon |= VD_MASK32(_mm256_cmpeq_epi8(x, *ld(5)));
    }
#undef VD_MASK32
  }
  m.bad = ~m.bad;
  return m;
}

constexpr uint32_t word4(const char (&s)[5]) noexcept {
  return static_cast<uint32_t>(static_cast<uint8_t>(s[0])) |
         static_cast<uint32_t>(static_cast<uint8_t>(s[1])) << 8 |
         static_cast<uint32_t>(static_cast<uint8_t>(s[2])) << 16 |
         static_cast<uint32_t>(static_cast<uint8_t>(s[3])) << 24;
}

// fast_sip_uri on n <= 16 * kVec bytes at buf (64 of them readable), their masks m: 1 (parsed,
// out filled) or 0 (malformed) as parse_uri_general() decides, -1 when the URI is not of the
// common shape (the general parser's). `start` only offsets the spans. kVec < 4: every
// position this shifts the masks by is below 64, no shift needs a guard.
template <bool kFill, int kVec>
[[gnu::always_inline]] inline int uri_from_masks(const UriMasks& m, const char* buf, size_t start,
                                                 size_t n, Uri* out) noexcept {
  // Bytes past the URI (the padding, or the message's next bytes) are in no class, and stop the
  // host and the port.
  const uint64_t inside = kVec == 4 && n == 64 ? ~0ull : (uint64_t{1} << n) - 1;
  const auto from = [](uint64_t mk, size_t i) {
    return kVec == 4 ? bits_from(mk, i) : mk & (~0ull << i);
  };
  const auto run_end = [&](uint64_t stops, size_t i) {
    const uint64_t mk = from(stops, i);
    return kVec < 4 || mk != 0 ? static_cast<size_t>(__builtin_ctzll(mk)) : size_t{64};
  };
  if ((m.bad & inside) != 0) {
    return 0;
  }
  // "sip:" / "sips:", any case: OR 0x20 lowercases letters and maps no other byte onto s, i, p,
  // and only 0x1a (bad, refused above) onto ':'. So the first ':' is at 3 or 4; anything else
  // (no ':' at all included) is the general parser's.
  uint32_t w;
  std::memcpy(&w, buf, 4);
  w |= 0x20202020u;
  size_t p;
  if (w == word4("sip:")) {
    p = 4;
  } else if (w == word4("sips") && buf[4] == ':') {  // n >= 5
    p = 5;
  } else {
    return -1;
  }
  if constexpr (kFill) out->scheme = make_span(start, start + p - 1);
  if (const uint64_t at = m.at & inside; at != 0) {
    const size_t a = static_cast<size_t>(__builtin_ctzll(at));  // >= p: "sip:" has none
    // The user ends at the first ':' before the '@' (the password's); it must not be empty:
    // neither '@' nor ':' right after the scheme.
    if (buf[p] == '@' || buf[p] == ':') {
      return 0;
    }
    if constexpr (kFill) {
      // The scheme's ':' is the lowest before the '@': cleared (x & (x - 1)).
      uint64_t pw = m.colon & ((uint64_t{1} << a) - 1);
      pw &= pw - 1;
      const size_t user_end = pw != 0 ? static_cast<size_t>(__builtin_ctzll(pw)) : a;
      out->user = make_span(start + p, start + user_end);
      if (user_end < a) {
        out->password = make_span(start + user_end + 1, start + a);
      }
    }
    p = a + 1;
  }
  if constexpr (kVec == 4) {
    if (p >= n) {  // '@' last (buf[64] is not readable): no host
      return 0;
    }
  }
  size_t q = run_end(m.nonhost | ~inside, p);
  if (q == p) {
    // No host; or an IPv6 reference ('[' is no host character), the general parser's (at
    // p == n too: it then says no).
    return buf[p] == '[' ? -1 : 0;
  }
  if constexpr (kFill) out->host = make_span(start + p, start + q);
  p = q;
  if (p < n && buf[p] == ':') {
    // port = 1*5DIGIT: the digit mask (limited to the URI) ends the run.
    q = run_end(~(m.digits & inside), p + 1);
    const size_t len = q - p - 1;
    if (len - 1 >= 5) {  // 0 or more than 5
      return 0;
    }
    // The digits' weights summed at once, not a multiply-add chain through each digit. Only
    // five digits can pass 65535.
    const char* d = buf + p + 1;
    const auto dg = [d](size_t k) { return static_cast<uint32_t>(d[k] - '0'); };
    const auto five = [&] {
      return dg(0) * 10000 + dg(1) * 1000 + dg(2) * 100 + (dg(3) * 10 + dg(4));
    };
    if constexpr (kFill) {
      uint32_t port = 0;
      switch (len) {
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
          port = five();
          break;
      }
      if (port > 65535) {
        return 0;
      }
      out->port_num = static_cast<uint16_t>(port);
      out->port = make_span(start + p + 1, start + q);
    } else {
      if (len == 5 && five() > 65535) {
        return 0;
      }
    }
    p = q;
  }
  if (p < n && buf[p] != ';' && buf[p] != '?') {
    return 0;
  }
  if constexpr (kFill) {
    if (p < n && buf[p] == ';') {
      const uint64_t qm = from(qmark_mask<kVec>(buf) & inside, p + 1);
      q = qm != 0 ? static_cast<size_t>(__builtin_ctzll(qm)) : n;
      out->params = make_span(start + p + 1, start + q);
      p = q;
    }
    if (p < n) {  // '?'
      out->headers = make_span(start + p + 1, start + n);
    }
  }
  return 1;
}

// Out of line: its Uri on the stack would otherwise be uri_valid's frame on every call.
[[gnu::noinline]] bool uri_valid_general(const char* msg, Span uri) noexcept {
  Uri u;
  return parse_uri_general(msg, uri, u);
}

// The general parser's verdict (and spans), for the shapes the fast path hands over.
template <bool kFill>
bool general_uri(const char* msg, Span uri, Uri* out) noexcept {
  if constexpr (kFill) {
    return parse_uri_general(msg, uri, *out);
  } else {
    return uri_valid_general(msg, uri);
  }
}

// The fast path with each classifier; the general parser when the URI is not of its shape (a
// tail call: neither the callers nor these keep msg and uri across a call of their own).
// The URI is [start, start + n) of msg, read from buf (msg + start, or a copy).
template <bool kFill, int kVec>
bool sip_uri_sse2(const char* msg, size_t start, size_t n, const char* buf, Uri* out) noexcept {
  const int r = uri_from_masks<kFill, kVec>(uri_masks<kFill, kVec>(buf), buf, start, n, out);
  return r >= 0 ? r != 0 : general_uri<kFill>(msg, make_span(start, start + n), out);
}

template <bool kFill, int kVec>
[[gnu::target("ssse3")]] bool sip_uri_ssse3(const char* msg, size_t start, size_t n,
                                            const char* buf, Uri* out) noexcept {
  const int r =
      uri_from_masks<kFill, kVec>(uri_masks_ssse3<kFill, kVec>(buf), buf, start, n, out);
  return r >= 0 ? r != 0 : general_uri<kFill>(msg, make_span(start, start + n), out);
}

// kVec 2: up to 32 bytes, one AVX2 step; 4: up to 64, two.
template <bool kFill, int kVec>
[[gnu::target("avx2,bmi,bmi2")]] bool sip_uri_avx2(const char* msg, size_t start, size_t n,
                                                  const char* buf, Uri* out) noexcept {
  const int r =
      uri_from_masks<kFill, kVec>(uri_masks_avx2<kFill, kVec>(buf), buf, start, n, out);
  return r >= 0 ? r != 0 : general_uri<kFill>(msg, make_span(start, start + n), out);
}

template <bool kFill>
inline bool sip_uri_by_length(const char* msg, size_t start, size_t n, const char* buf,
                              Uri* out) noexcept {
  if (uri_avx2) {
    if (n <= 32) {
      return sip_uri_avx2<kFill, 2>(msg, start, n, buf, out);
    }
    return sip_uri_avx2<kFill, 4>(msg, start, n, buf, out);
  }
  if (uri_ssse3) {
    if (n <= 16) {
      return sip_uri_ssse3<kFill, 1>(msg, start, n, buf, out);
    }
    if (n <= 32) {
      return sip_uri_ssse3<kFill, 2>(msg, start, n, buf, out);
    }
    return sip_uri_ssse3<kFill, 4>(msg, start, n, buf, out);
  }
  if (n <= 16) {
    return sip_uri_sse2<kFill, 1>(msg, start, n, buf, out);
  }
  if (n <= 32) {
    return sip_uri_sse2<kFill, 2>(msg, start, n, buf, out);
  }
  return sip_uri_sse2<kFill, 4>(msg, start, n, buf, out);
}

// The URI near the end of what may be read: from a copy. Out of line: its calls (memset,
// memcpy) would otherwise make the in-place path save and restore callee-saved registers.
template <bool kFill>
[[gnu::noinline, gnu::cold]] bool sip_uri_copied(const char* msg, Span uri, Uri* out) noexcept {
  alignas(16) char copy[64];
  std::memset(copy, 'a', sizeof copy);
  std::memcpy(copy, msg + uri.off, uri.len);
  return sip_uri_by_length<kFill>(msg, uri.off, uri.len, copy, out);
}

// parse_uri for the common SIP URI, sip[s]:[user[:password]@]host[:port][;params][?headers]
// with a name or IPv4 host, up to 64 bytes: read in place when the 64 bytes from its start are
// readable (msg[0, readable)), else from a copy padded with 'a'. One, two or four 16-byte steps
// (one or two 32-byte ones with AVX2) by the length (no loop), each giving a mask (a bit per
// byte) for each class of byte the grammar stops at: the bytes LWS or CTL refuse, '@', digits,
// non-host characters; ':' for the spans only, '?' only for a URI with params. The classes come
// from two pshufb nibble lookups, 32 bytes a step where the CPU has AVX2 and BMI2
// (uri_masks_avx2, detail::uri_avx2), else 16 where it has SSSE3 (uri_masks_ssse3,
// detail::uri_ssse3), else from SSE2 compares (uri_masks). The scheme is one 4-byte compare;
// the rest is bit arithmetic on the masks, a few bytes looked at (after the scheme, after the
// host) and the port's (at most five) digits (uri_from_masks). Gives parse_uri_general()'s
// answer (and spans) on every input: itself where the URI has this shape, else by calling
// parse_uri_general() (other schemes, an IPv6 reference, shorter than 5 or longer than 64
// bytes). tests/sip/sip_parse_test.cpp and the fuzz properties (tests/sip/sip_properties.hpp)
// check that the two agree, with each classifier.
// kFill false: the verdict only (uri_valid()), `out` unused (null); what only the spans need is
// not computed (the ':' and '?' masks, the user's end, the port's value below five digits).
// Instructions per call on vm-bench's 23-25-byte From, To and R-URI (callgrind): uri_valid
// 256 -> 137 (SSSE3) -> 94 (AVX2), parse_uri 286 -> 211 -> 154 (perf/RESULTS.md).
template <bool kFill>
bool fast_sip_uri(const char* msg, Span uri, size_t readable, Uri* out) noexcept {
  if (uri.len > 64 || uri.len < 5) {
    return general_uri<kFill>(msg, uri, out);
  }
  if (readable < size_t{uri.off} + 64) {
    return sip_uri_copied<kFill>(msg, uri, out);
  }
  return sip_uri_by_length<kFill>(msg, uri.off, uri.len, msg + uri.off, out);
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
  out = Uri{};
  return fast_sip_uri<true>(msg, uri, readable, &out);  // the general parser's where it must
#else
  return parse_uri_general(msg, uri, out);
#endif
}

bool uri_valid(const char* msg, Span uri, size_t readable) noexcept {
#if defined(__SSE2__)
  // The verdict only: no Uri to fill (none is constructed).
  return fast_sip_uri<false>(msg, uri, readable, nullptr);
#else
  Uri u;
  return parse_uri_general(msg, uri, u);
#endif
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

CredScheme parse_digest_cred(std::string_view s, DigestCred& out) noexcept {
  out = DigestCred{};
  const auto lws = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  const auto trim_leading = [&](std::string_view& t) {
    while (!t.empty() && lws(t.front())) {
      t.remove_prefix(1);
    }
  };
  trim_leading(s);
  constexpr std::string_view kDigest = "digest";
  if (s.size() < kDigest.size() + 1 || !iequal(s.substr(0, kDigest.size()), kDigest) ||
      !(lws(s[kDigest.size()]) || s[kDigest.size()] == ',')) {
    return CredScheme::kOther;
  }
  s.remove_prefix(kDigest.size() + 1);
  trim_leading(s);
  static constexpr std::string_view kNames[DigestCred::kCount] = {
      "username", "realm", "nonce", "uri", "response", "cnonce", "nc", "qop"};
  while (true) {
    // name [LWS] '=' [LWS] (quoted-string | token), then on to the next ',' (Kamailio skips
    // whatever stands before it).
    size_t i = 0;
    while (i < s.size() && s[i] != '=' && !lws(s[i])) {
      ++i;
    }
    const std::string_view name = s.substr(0, i);
    s.remove_prefix(i);
    trim_leading(s);
    if (s.empty() || s.front() != '=') {
      return CredScheme::kMalformed;
    }
    s.remove_prefix(1);
    trim_leading(s);
    if (s.empty()) {
      return CredScheme::kMalformed;
    }
    std::string_view value;
    if (s.front() == '"') {
      const size_t close = s.size() < 2 ? std::string_view::npos : s.find('"', 1);
      if (close == std::string_view::npos) {
        return CredScheme::kMalformed;
      }
      value = s.substr(1, close - 1);
      s.remove_prefix(close + 1);
    } else {
      size_t n = 0;
      while (n < s.size() && !lws(s[n]) && s[n] != ',') {
        ++n;
      }
      if (n == 0) {
        return CredScheme::kMalformed;
      }
      value = s.substr(0, n);
      s.remove_prefix(n);
    }
    for (uint8_t f = 0; f < DigestCred::kCount; ++f) {
      if (iequal(name, kNames[f])) {
        out.value[f] = value;
        out.present = static_cast<uint16_t>(out.present | (1u << f));
        break;
      }
    }
    const size_t comma = s.find(',');
    if (comma == std::string_view::npos) {
      return CredScheme::kDigest;
    }
    s.remove_prefix(comma + 1);
    trim_leading(s);
  }
}

Span header_uri(const char* msg, Span value) noexcept {
  NameAddr na;
  if (!parse_name_addr(msg, value, na)) {
    return Span{};
  }
  return na.uri;
}

}  // namespace viaduct::sip
