// SPDX-License-Identifier: Apache-2.0
// dataplane/sip/sip_rewrite.cpp: in-place edits, the stateless branch, Via edits and the
// stateless reply builder.
#include <algorithm>
#include <bit>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

// XXH3 inlined: the per-packet keys are short, and a call into libxxhash per field cost more
// than the hashing (callgrind: ~36 instructions a call, 9 calls per forwarded INVITE).
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "dataplane/sip/chars.hpp"
#include "dataplane/sip/move_bytes.hpp"
#include "dataplane/sip/sip.hpp"

namespace viaduct::sip {

using namespace detail;

namespace {

// The To-tag seed: an arbitrary constant, fixed forever (a change re-keys every local reply's
// To-tag).
constexpr XXH64_hash_t kToTagSeed = 0x7669616475637454ULL;   // "viaductT"

// Hashes the fields one after the other, each with the previous hash as the seed, so field
// boundaries matter ("ab"+"c" != "a"+"bc") without copying the fields into one buffer.
class FieldHash {
 public:
  explicit FieldHash(XXH64_hash_t seed) noexcept : h_(seed) {}
  void add(std::string_view s) noexcept { h_ = XXH3_64bits_withSeed(s.data(), s.size(), h_); }
  void add(uint32_t v) noexcept {
    unsigned char b[4] = {static_cast<unsigned char>(v), static_cast<unsigned char>(v >> 8),
                          static_cast<unsigned char>(v >> 16), static_cast<unsigned char>(v >> 24)};
    h_ = XXH3_64bits_withSeed(b, sizeof b, h_);
  }
  XXH64_hash_t value() const noexcept { return h_; }

 private:
  XXH64_hash_t h_;
};

// v as 16 lowercase hex digits, most significant first. SSE2: the nibbles spread to bytes and
// turned into digits 16 at a time (the digit loop was ~130 instructions per forwarded request).
void write_hex16(char* out, uint64_t v) noexcept {
#if defined(__SSE2__)
  const __m128i x = _mm_cvtsi64_si128(static_cast<long long>(__builtin_bswap64(v)));
  const __m128i low4 = _mm_set1_epi8(0x0f);
  const __m128i hi = _mm_and_si128(_mm_srli_epi16(x, 4), low4);
  const __m128i lo = _mm_and_si128(x, low4);
  const __m128i nib = _mm_unpacklo_epi8(hi, lo);  // one nibble a byte, most significant first
  const __m128i letter = _mm_and_si128(_mm_cmpgt_epi8(nib, _mm_set1_epi8(9)),
                                       _mm_set1_epi8('a' - '0' - 10));
  const __m128i text = _mm_add_epi8(_mm_add_epi8(nib, _mm_set1_epi8('0')), letter);
  _mm_storeu_si128(reinterpret_cast<__m128i*>(out), text);
#else
  constexpr char kHexDigits[] = "0123456789abcdef";
  for (int i = 15; i >= 0; --i) {
    out[i] = kHexDigits[v & 0xf];
    v >>= 4;
  }
#endif
}

// The stateless branch's keys: arbitrary odd constants, fixed forever (a change re-keys every
// in-flight transaction: the branch of a retransmission forwarded after an upgrade differs).
constexpr uint64_t kBranchKey[] = {0xa0761d6478bd642fULL, 0xe7037ed1a0b428dbULL,
                                   0x8ebc6af09c88c6e3ULL, 0x589965cc75374cc3ULL,
                                   0x1d8e4e27c47d124fULL, 0x9fb21c651e98df25ULL,
                                   0xc2b2ae3d27d4eb4fULL};

// Little-endian word loads (the branch is the same on every host).
[[gnu::always_inline]] inline uint64_t le64(const char* p) noexcept {
  uint64_t w;
  std::memcpy(&w, p, sizeof w);
  if constexpr (std::endian::native == std::endian::big) {
    w = __builtin_bswap64(w);
  }
  return w;
}
[[gnu::always_inline]] inline uint64_t le32(const char* p) noexcept {
  uint32_t w;
  std::memcpy(&w, p, sizeof w);
  if constexpr (std::endian::native == std::endian::big) {
    w = __builtin_bswap32(w);
  }
  return w;
}

// The 128-bit product folded to 64 bits (wyhash's and XXH3's mixing step).
[[gnu::always_inline]] inline uint64_t mix128(uint64_t a, uint64_t b) noexcept {
  __extension__ using U128 = unsigned __int128;
  const U128 p = static_cast<U128>(a) * b;
  return static_cast<uint64_t>(p) ^ static_cast<uint64_t>(p >> 64);
}

// One field of the stateless branch: its bytes p[0, n) as two words (overlapping loads, never
// outside the field: 9 to 16 bytes as the first and last eight, 4 to 8 as the first and last
// four, 1 to 3 as the first, middle and last byte; given n, different bytes give different
// words), longer fields 16 bytes a step chained through the key (the order of the steps
// matters), the length spread over the key.
[[gnu::always_inline]] inline uint64_t branch_field(const char* p, size_t n,
                                                    uint64_t key) noexcept {
  // The length times an odd constant: added to the key, a length's low bits could cancel a
  // difference in the bytes (tag=qkkkkkkk and tag=qkkkkkkkkkkkkk had one branch: the unit
  // test StatelessBranch.EveryByteOfEveryFieldLengthCounts).
  uint64_t seed = key ^ (n * 0x9E3779B97F4A7C15ULL);
  uint64_t lo = 0;
  uint64_t hi = 0;
  if (n > 16) {
    const char* const last = p + n - 16;
    do {
      seed = mix128(le64(p) ^ kBranchKey[5], le64(p + 8) ^ seed);
      p += 16;
    } while (p < last);
    lo = le64(last);
    hi = le64(last + 8);
  } else if (n >= 8) {
    lo = le64(p);
    hi = le64(p + n - 8);
  } else if (n >= 4) {
    lo = le32(p);
    hi = le32(p + n - 4);
  } else if (n != 0) {
    lo = uint64_t{static_cast<unsigned char>(p[0])} << 16 |
         uint64_t{static_cast<unsigned char>(p[n >> 1])} << 8 |
         static_cast<unsigned char>(p[n - 1]);
  }
  return mix128(lo ^ kBranchKey[6], hi ^ seed);
}

// Whether s holds a ':' (a raw IPv6 address). 4 to 16 bytes, our Via's host as a rule, as two
// overlapping words tested for a ':' byte (the exact zero-byte test on w ^ "::::::::"), inline;
// else memchr (a call, ~25 instructions per forward).
[[gnu::always_inline]] inline bool has_colon(std::string_view s) noexcept {
  constexpr uint64_t kOnes = 0x0101010101010101ULL;
  const auto zero_byte = [](uint64_t w) { return ((w - kOnes) & ~w & (kOnes << 7)) != 0; };
  const size_t n = s.size();
  const char* p = s.data();
  if (n >= 8 && n <= 16) {
    return zero_byte(le64(p) ^ (kOnes * ':')) || zero_byte(le64(p + n - 8) ^ (kOnes * ':'));
  }
  if (n >= 4 && n < 8) {
    return zero_byte((le32(p) | le32(p + n - 4) << 32) ^ (kOnes * ':'));
  }
  return s.find(':') != std::string_view::npos;
}

// Bounded appender: remembers overflow instead of writing past cap.
class Writer {
 public:
  Writer(char* out, size_t cap) noexcept : out_(out), cap_(cap) {}

  void put(std::string_view s) noexcept {
    if (!ok_ || s.size() > cap_ - n_) {
      ok_ = false;
      return;
    }
    if (!s.empty()) {
      std::memcpy(out_ + n_, s.data(), s.size());
    }
    n_ += s.size();
  }
  // Copies a header value onto one line: folding CR/LF are dropped, the SP/HTAB after them
  // stays as the separator.
  void put_unfolded(std::string_view s) noexcept {
    size_t i = 0;
    while (i < s.size()) {
      size_t j = i;
      while (j < s.size() && s[j] != '\r' && s[j] != '\n') {
        ++j;
      }
      put(s.substr(i, j - i));
      while (j < s.size() && (s[j] == '\r' || s[j] == '\n')) {
        ++j;
      }
      i = j;
    }
  }
  void put_u16(uint16_t v) noexcept {
    char tmp[5];
    put(std::string_view(tmp, write_u16(tmp, v)));
  }
  bool ok() const noexcept { return ok_; }
  size_t size() const noexcept { return n_; }

 private:
  char* out_;
  size_t cap_;
  size_t n_ = 0;
  bool ok_ = true;
};

// The host without IPv6 brackets, for comparing with a source address.
[[gnu::always_inline]] inline std::string_view bare_host(std::string_view h) noexcept {
  if (h.size() >= 2 && h.front() == '[' && h.back() == ']') {
    return h.substr(1, h.size() - 2);
  }
  return h;
}

}  // namespace

bool apply_edits(char* buf, size_t cap, size_t& head_io, size_t& len_io,
                 std::span<const Edit> edits) noexcept {
  // Copies: buf's bytes may alias the references, which every memmove would then reload.
  const size_t head = head_io;
  const size_t len = len_io;
  const size_t n = edits.size();
  if (n == 0) {
    return true;
  }
  if (n > kMaxEdits || head > cap || len > cap - head) {
    return false;
  }
  // The kept segments of the original: segment i is [end of edit i - 1, edits[i].off), the tail
  // [end of the last edit, len). No bookkeeping arrays (they cost the common forward, two or
  // three edits, ~100 instructions to fill and walk): the checks and the new length; then one
  // pass when nothing moves right, else the segments moving left, front to back, and back to
  // front the segments moving right, each edit's insert after the segment behind it.
  size_t prev_end = 0;
  size_t new_len = len;
  bool shrinks = false;  // an edit deletes more than it inserts
  bool grows = false;    // an edit inserts more than it deletes
  for (const Edit& e : edits) {
    if (e.off < prev_end || size_t{e.off} + e.del > len) {
      return false;
    }
    new_len += e.ins.size() - e.del;  // modulo 2^64: the deletions are at most len
    shrinks |= e.ins.size() < e.del;
    grows |= e.ins.size() > e.del;
    prev_end = size_t{e.off} + e.del;
  }
  // Where the result starts: keep the tail in place (front into the headroom, or toward the
  // body when shrinking); failing that keep the front in place and push the tail into the
  // tailroom.
  size_t new_head = 0;
  if (head + len >= new_len) {
    new_head = head + len - new_len;  // the result ends where the message ended
  } else if (new_len <= cap - head) {
    new_head = head;
  } else {
    return false;
  }
  // A segment moving left never overwrites the source of a later segment moving right and
  // vice versa (outputs and sources are both in order); an insert lands behind the outputs of
  // the segments in front of it, past the sources of those moving right, once those behind it
  // have moved.
  const char* const src = buf + head;
  char* const dst = buf + new_head;
  if (!grows) {
    // A routed reply (our Via removed): no segment moves left (each moves right by what the
    // edits after it take out; new_len <= len, so the tail stays); one pass, back to front.
    move_right_pass(dst, src, edits, new_len - (len - prev_end));
    head_io = new_head;
    len_io = new_len;
    return true;
  }
  size_t out_pos = 0;
  prev_end = 0;
  if (!shrinks && new_head + new_len == head + len) {
    // A forward (our Via inserted, Max-Forwards replaced by as many digits; no edit that
    // deletes more than it inserts, which could move a later segment right): no
    // segment moves right (each moves left by what the edits after it add) and the tail stays;
    // one pass, each insert right after its segment, in front of every source still to move.
    move_left_pass(dst, src, edits);
    head_io = new_head;
    len_io = new_len;
    return true;
  }
  for (const Edit& e : edits) {
    const size_t kept = e.off - prev_end;
    if (new_head + out_pos < head + prev_end && kept != 0) {
      move_bytes(dst + out_pos, src + prev_end, kept);
    }
    out_pos += kept + e.ins.size();
    prev_end = size_t{e.off} + e.del;
  }
  // The tail, either way: the last to move left, the first to move right.
  if (new_head + out_pos != head + prev_end && len != prev_end) {
    move_bytes(dst + out_pos, src + prev_end, len - prev_end);
  }
  move_right_pass(dst, src, edits, out_pos);
  head_io = new_head;
  len_io = new_len;
  return true;
}

namespace {

// The stateless branch's 64 bits (stateless_branch writes them as hex after "z9hG4bK").
// RFC 3261 16.11 / Kamailio char_msg_val(): everything here is equal in an INVITE, its
// retransmissions, its CANCEL and the ACK of a non-2xx reply. The To-tag is deliberately
// left out (the ACK has one, the INVITE not), and so is the CSeq method.
// Each field is mixed on its own (branch_field: its words through one 64x64->128 multiply,
// the length and a key of its own, the two numbers in the keys of the fields they follow),
// and the five results are combined and avalanched once: no call, no per-field finalizer.
// Five inlined XXH3 calls cost 236 instructions per forwarded INVITE (callgrind), this 153.
[[gnu::always_inline]] inline uint64_t branch_hash(const char* msg, const SipView& v) noexcept {
  constexpr uint64_t kStep = 0x9E3779B97F4A7C15ULL;
  const auto field = [msg](Span s, uint64_t key) {
    return branch_field(msg + s.off, s.len, key);
  };
  const uint64_t a = field(v.via1.branch, kBranchKey[0]);
  const uint64_t b = field(v.via1.host, kBranchKey[1] + kStep * (1 + uint64_t{v.via1.port_num}));
  const uint64_t c = field(v.from_tag, kBranchKey[2]);
  const uint64_t d = field(v.call_id, kBranchKey[3] + kStep * (1 + uint64_t{v.cseq_num}));
  const uint64_t e = field(v.ruri, kBranchKey[4]);
  const auto rotl = [](uint64_t x, int k) { return (x << k) | (x >> (64 - k)); };
  const uint64_t h = a ^ rotl(b, 13) ^ rotl(c, 26) ^ rotl(d, 39) ^ rotl(e, 52);
  return mix128(h ^ kBranchKey[5], kBranchKey[6]);
}

constexpr std::string_view kMagicCookie = "z9hG4bK";

// The stateless branch's kBranchLen bytes at out: the magic cookie, then the hash in hex.
[[gnu::always_inline]] inline void put_stateless_branch(char* out, const char* msg,
                                                        const SipView& v) noexcept {
  std::memcpy(out, kMagicCookie.data(), kMagicCookie.size());
  write_hex16(out + kMagicCookie.size(), branch_hash(msg, v));
}

// build_via_line with the branch's branch_len bytes written by put_branch(o).
template <class PutBranch>
[[gnu::always_inline]] inline size_t via_line(char* out, size_t cap, std::string_view host,
                                              uint16_t port, size_t branch_len,
                                              PutBranch put_branch) noexcept {
  static constexpr std::string_view kHead = "Via: SIP/2.0/UDP ";
  static constexpr std::string_view kBranch = ";branch=";
  // A raw IPv6 address gets the brackets a Via sent-by needs.
  const bool bracket = has_colon(host) && !host.starts_with('[');
  // Kamailio leaves the default port out of its own Via (measured, 5.6.3).
  char port_text[5];
  const size_t port_len = port != kDefaultSipPort ? write_u16(port_text, port) : 0;
  // The length first, then plain copies (per packet: a bounded writer tested every piece).
  const size_t n = kHead.size() + (bracket ? 2 : 0) + host.size() +
                   (port_len != 0 ? 1 + port_len : 0) + kBranch.size() + branch_len + 2;
  if (n > cap) {
    return 0;
  }
  char* o = out;
  std::memcpy(o, kHead.data(), kHead.size());
  o += kHead.size();
  if (bracket) {
    *o++ = '[';
  }
  move_bytes(o, host.data(), host.size());  // inline up to 64 bytes: a call cost ~11 more
  o += host.size();
  if (bracket) {
    *o++ = ']';
  }
  if (port_len != 0) {
    *o++ = ':';
    std::memcpy(o, port_text, port_len);
    o += port_len;
  }
  std::memcpy(o, kBranch.data(), kBranch.size());
  o += kBranch.size();
  put_branch(o);
  o += branch_len;
  *o++ = '\r';
  *o++ = '\n';
  return n;
}

}  // namespace

void stateless_branch(const char* msg, const SipView& v, char out[kBranchLen]) noexcept {
  put_stateless_branch(out, msg, v);
}

size_t build_via_line(char* out, size_t cap, std::string_view host, uint16_t port,
                      std::string_view branch) noexcept {
  return via_line(out, cap, host, port, branch.size(),
                  [branch](char* o) { move_bytes(o, branch.data(), branch.size()); });
}

size_t build_stateless_via_line(char* out, size_t cap, std::string_view host, uint16_t port,
                                const char* msg, const SipView& v) noexcept {
  // The branch written in place: no copy of a branch buffer just stored (its 16-byte load
  // would wait for the two stores that wrote it), one call instead of two.
  return via_line(out, cap, host, port, kBranchLen,
                  [msg, &v](char* o) { put_stateless_branch(o, msg, v); });
}

namespace {

// Orders the received/rport edits the way apply_edits needs them and Kamailio lays them out:
// by offset; at one offset an insert before a replacement (";received=" inserted in front of a
// first-param ";rport" being filled in), two inserts in the order given (rport first).
void order_two(Edit (&edits)[2], size_t n) noexcept {
  if (n == 2 && (edits[1].off < edits[0].off ||
                 (edits[1].off == edits[0].off && edits[1].del == 0 && edits[0].del != 0))) {
    std::swap(edits[0], edits[1]);
  }
}

// via_received_edits for a forwarded request (reply false) or a local reply (reply true).
// Inlined into its two callers (a call with ten arguments, per forwarded request).
[[gnu::always_inline]] inline bool received_edits(const char* msg, const SipView& v,
                                                  std::string_view src_ip, uint16_t src_port,
                                                  char* out, size_t cap, Edit (&edits)[2],
                                                  size_t& n, bool force, bool reply) noexcept {
  const Via& via = v.via1;
  const bool add_rport = via.has_rport || force;
  const bool has_received = !via.received.empty();
  const bool add_received =
      bare_host(via.host.in(msg)) != bare_host(src_ip) || via.has_rport || has_received;
  if (!add_received && !add_rport) {
    n = 0;  // the common request: sent from the address its Via names, no rport
    return true;
  }
  // Where Kamailio inserts new parameters into a forwarded request's Via: in front of the
  // first parameter (at its ';'), else after the sent-by. A local reply appends them.
  const Span sent_by_end = via.port.empty() ? via.host : via.port;
  const uint16_t params_start = via.params.empty() || via.params.off == 0
                                    ? static_cast<uint16_t>(sent_by_end.end())
                                    : static_cast<uint16_t>(via.params.off - 1);
  n = 0;
  Writer w(out, cap);
  Edit received{};
  if (add_received) {
    w.put(";received=");
    w.put(bare_host(src_ip));
    const std::string_view ins(out, w.size());
    if (reply) {
      // A local reply appends received even next to an existing one (Kamailio 5.6.3 then
      // sends two; its msg_translator.c lists this among its known limitations).
      received = Edit{via.params_end, 0, ins};
    } else if (has_received) {
      received = Edit{via.received_param.off, via.received_param.len, ins};
    } else {
      received = Edit{params_start, 0, ins};
    }
  }
  Edit rport{};
  if (add_rport) {
    const size_t at = w.size();
    w.put(";rport=");
    w.put_u16(src_port);
    const std::string_view ins(out + at, w.size() - at);
    if (via.has_rport) {
      rport = Edit{via.rport_param.off, via.rport_param.len, ins};
    } else if (reply) {
      rport = Edit{via.params_end, 0, ins};
    } else if (has_received) {
      rport = Edit{via.received_param.off, 0, ins};
    } else {
      rport = Edit{params_start, 0, ins};
    }
  }
  if (!w.ok()) {
    return false;
  }
  if (add_rport) {
    edits[n++] = rport;
  }
  if (add_received) {
    edits[n++] = received;
  }
  order_two(edits, n);
  return true;
}

}  // namespace

bool via_received_edits(const char* msg, const SipView& v, std::string_view src_ip,
                        uint16_t src_port, char* out, size_t cap, Edit (&edits)[2],
                        size_t& n, ForceRport force) noexcept {
  return received_edits(msg, v, src_ip, src_port, out, cap, edits, n, force != ForceRport::kNo,
                        force == ForceRport::kReply);
}

Edit remove_top_via_edit(const char* msg, const SipView& v) noexcept {
  if (v.top_via_alone) {
    return Edit{v.top_via_line.off, v.top_via_line.len, {}};
  }
  // "Via: A , B" -> "Via: B": the value, the LWS and comma after it, and the LWS before the
  // next value.
  const size_t end = v.top_via_line.end();
  size_t p = skip_lws(msg, v.via1.value.end(), end);
  if (p < end && msg[p] == ',') {
    p = skip_lws(msg, p + 1, end);
  }
  return Edit{v.via1.value.off, static_cast<uint16_t>(p - v.via1.value.off), {}};
}

Edit ruri_edit(const SipView& v, std::string_view new_uri) noexcept {
  return Edit{v.ruri.off, v.ruri.len, new_uri};
}

size_t build_record_route_line(char* out, size_t cap, std::string_view host, uint16_t port,
                               std::string_view ftag) noexcept {
  Writer w(out, cap);
  const bool v6 = host.find(':') != std::string_view::npos && !host.starts_with("[");
  w.put("Record-Route: <sip:");
  if (v6) {
    w.put("[");
  }
  w.put(host);
  if (v6) {
    w.put("]");
  }
  // As in our Via, no default port: with it the URI would be a different one (RFC 3261
  // 19.1.4), and Kamailio writes none.
  if (port != kDefaultSipPort) {
    w.put(":");
    w.put_u16(port);
  }
  w.put(";lr");
  if (!ftag.empty()) {
    w.put(";ftag=");
    w.put(ftag);
  }
  w.put(">\r\n");
  return w.ok() ? w.size() : 0;
}

namespace {

// Start of the header line holding offset p (just after the previous LF).
size_t line_start(const char* msg, size_t p) noexcept {
  while (p > 0 && msg[p - 1] != '\n') {
    --p;
  }
  return p;
}

// Start of the header field holding offset p: its first line, above any continuation lines
// (a value may begin on a folded line: "Record-Route:" CRLF SP "<sip:...>").
size_t field_start(const char* msg, size_t p) noexcept {
  p = line_start(msg, p);
  while (p > 0 && is_ws(msg[p])) {
    p = line_start(msg, p - 1);
  }
  return p;
}

// End of the header field whose last value byte is just before p: after the LF ending its last
// line (continuation lines are inside the value span already).
size_t field_end(const char* msg, size_t p, size_t limit) noexcept {
  const void* nl = std::memchr(msg + p, '\n', limit - p);
  return nl == nullptr ? limit : static_cast<size_t>(static_cast<const char*>(nl) - msg) + 1;
}

}  // namespace

size_t first_header_offset(const char* msg, const SipView& v) noexcept {
  // The start line ends a few bytes past the Request-URI (or the reason phrase).
  const size_t from = v.is_request ? v.ruri.end() : v.reason.off;
  const void* nl = from < v.headers_end ? std::memchr(msg + from, '\n', v.headers_end - from)
                                        : nullptr;
  return nl == nullptr ? v.top_via_line.off
                       : static_cast<size_t>(static_cast<const char*>(nl) - msg) + 1;
}

Edit record_route_edit(const char* msg, const SipView& v, std::string_view line) noexcept {
  // Kamailio 5.6.3's rr inserts it above every header field (measured: above a Route or From
  // standing before the top Via, and above the existing Record-Route fields wherever they are).
  return Edit{static_cast<uint16_t>(first_header_offset(msg, v)), 0, line};
}

Edit route_pop_edit(const char* msg, const SipView& v, bool& has_route,
                    bool* cut_in_quote) noexcept {
  const Span route = v[Hdr::kRoute];
  has_route = !route.empty();
  if (!has_route) {
    return Edit{v.headers_end, 0, {}};
  }
  NameAddr na;
  if (parse_name_addr(msg, route, na) && na.end < route.end()) {
    // "Route: <a>, <b>" -> "Route: <b>": the value, its comma and the LWS after it.
    const size_t next = skip_lws(msg, size_t{na.end} + 1, route.end());
    if (cut_in_quote != nullptr && quote_state(msg, route.off, next)) [[unlikely]] {
      *cut_in_quote = true;
    }
    return Edit{route.off, static_cast<uint16_t>(next - route.off), {}};
  }
  const size_t from = field_start(msg, route.off);
  const size_t to = field_end(msg, route.end(), v.headers_end);
  return Edit{static_cast<uint16_t>(from), static_cast<uint16_t>(to - from), {}};
}

size_t route_cut_edits(const char* msg, const SipView& v, const Span* vals, size_t n, Edit* out,
                       bool* cut_in_quote) noexcept {
  if (v[Hdr::kRoute].empty() || n == 0) {
    return 0;
  }
  size_t k = 0;
  for (size_t i = 0; i < n;) {
    if (vals[i].empty() || vals[i].end() > v.headers_end) {
      return 0;
    }
    // vals[i..j]: the removed values of one field, vals[i] its first value.
    const size_t from_line = field_start(msg, vals[i].off);
    size_t j = i;
    while (j + 1 < n && !vals[j + 1].empty() && field_start(msg, vals[j + 1].off) == from_line) {
      ++j;
    }
    NameAddr na;
    if (!parse_name_addr(msg, vals[j], na)) {
      return 0;
    }
    const bool more = na.end < vals[j].end() && msg[na.end] == ',';
    const size_t from = more ? vals[i].off : from_line;
    const size_t to = more ? skip_lws(msg, size_t{na.end} + 1, vals[j].end())
                           : field_end(msg, na.end, v.headers_end);
    if (more && cut_in_quote != nullptr && quote_state(msg, from, to)) [[unlikely]] {
      *cut_in_quote = true;  // from: a field's value start, outside quotes
    }
    out[k++] = Edit{static_cast<uint16_t>(from), static_cast<uint16_t>(to - from), {}};
    i = j + 1;
  }
  return k;
}

bool route_last_value(const char* msg, const SipView& v, Span field, Span& uri,
                      Edit& cut) noexcept {
  NameAddr na;
  size_t prev_end = 0;  // 0: the value is the field's first
  Span cur = field;
  for (;;) {
    if (cur.empty() || !parse_name_addr(msg, cur, na)) {
      return false;
    }
    if (na.end >= cur.end() || msg[na.end] != ',') {
      break;
    }
    prev_end = na.end;
    const size_t next = skip_lws(msg, size_t{na.end} + 1, field.end());
    cur = Span{static_cast<uint16_t>(next), static_cast<uint16_t>(field.end() - next)};
  }
  uri = na.uri;
  if (prev_end != 0) {
    // A '"' inside a <URI> (not a quote to the name-addr parser, one to the scanner): the cut
    // must leave the scanner's quote state where it was, or the rest would scan differently.
    if (quote_state(msg, field.off, prev_end) != quote_state(msg, field.off, na.end)) {
      return false;
    }
    cut = Edit{static_cast<uint16_t>(prev_end), static_cast<uint16_t>(na.end - prev_end), {}};
  } else {
    const size_t from = field_start(msg, field.off);
    const size_t to = field_end(msg, na.end, v.headers_end);
    cut = Edit{static_cast<uint16_t>(from), static_cast<uint16_t>(to - from), {}};
  }
  return true;
}

Edit append_header_edit(const SipView& v, std::string_view line) noexcept {
  return Edit{v.headers_end, 0, line};
}

size_t remove_header_edits(const char* msg, const SipView& v, std::string_view name,
                           char compact, Edit* out, size_t cap) noexcept {
  size_t found = 0;
  // Walk the header fields from the first one (the line after the start line).
  const void* first_nl = std::memchr(msg, '\n', v.headers_end);
  size_t p = first_nl == nullptr ? v.headers_end
                                 : static_cast<size_t>(static_cast<const char*>(first_nl) - msg) + 1;
  while (p < v.headers_end) {
    size_t end = p;
    while (true) {  // this line and its continuation lines
      end = field_end(msg, end, v.headers_end);
      if (end >= v.headers_end || !is_ws(msg[end])) {
        break;
      }
    }
    const size_t name_end = skip_class(msg, p, end, kToken);
    const std::string_view n(msg + p, name_end - p);
    bool match = n.size() == name.size();
    for (size_t i = 0; match && i < n.size(); ++i) {
      match = lower(n[i]) == lower(name[i]);
    }
    if (!match && compact != 0 && n.size() == 1) {
      match = lower(n[0]) == lower(compact);
    }
    if (match) {
      if (found < cap) {
        out[found] = Edit{static_cast<uint16_t>(p), static_cast<uint16_t>(end - p), {}};
      }
      ++found;
    }
    p = end;
  }
  return found;
}

void local_to_tag(const char* req, const SipView& v, char (&tag)[kLocalToTagLen]) noexcept {
  FieldHash h(kToTagSeed);
  h.add(v.call_id.in(req));
  h.add(v.from_tag.in(req));
  h.add(v.cseq_num);
  h.add(v.via1.branch.in(req));
  tag[0] = 'v';
  tag[1] = 'd';
  write_hex16(tag + 2, h.value());
}

bool is_local_reply_ack(const char* msg, const SipView& v) noexcept {
  if (v.method != Method::kAck || v.to_tag.len != kLocalToTagLen) {
    return false;
  }
  char tag[kLocalToTagLen];
  local_to_tag(msg, v, tag);
  return std::memcmp(msg + v.to_tag.off, tag, kLocalToTagLen) == 0;
}

size_t build_reply(const char* req, const SipView& v, uint16_t code, std::string_view reason,
                   std::string_view src_ip, uint16_t src_port, char* out, size_t cap,
                   bool force_rport, std::string_view extra,
                   std::string_view server) noexcept {
  if (code < 100 || code > 699 || v.via_count == 0) {
    return 0;
  }
  char params[kViaReceivedMax];
  Edit top[2];
  size_t n_top = 0;
  // received (and a forced rport) appended to the top Via, as Kamailio's sl does.
  if (!received_edits(req, v, src_ip, src_port, params, sizeof params, top, n_top, force_rport,
                      true)) {
    return 0;
  }
  Writer w(out, cap);
  w.put("SIP/2.0 ");
  char digits[5];
  w.put(std::string_view(digits, write_u16(digits, code)));
  w.put(" ");
  w.put(reason);
  w.put("\r\n");

  // Kamailio copies the fields a reply needs as they were received, in the request's order:
  // name as written (compact forms too), separator, folding. Record-Route goes back in a
  // 180..299 reply (measured, 5.6.3). Walks the header section again (cold path).
  const bool copy_rr = code >= 180 && code < 300;
  const void* first_nl = std::memchr(req, '\n', v.headers_end);
  size_t p = first_nl == nullptr
                 ? v.headers_end
                 : static_cast<size_t>(static_cast<const char*>(first_nl) - req) + 1;
  bool to_done = false;
  size_t fields = 2;  // Server and Content-Length
  while (p < v.headers_end) {
    size_t end = p;
    while (true) {  // this line and its continuation lines
      end = field_end(req, end, v.headers_end);
      if (end >= v.headers_end || !is_ws(req[end])) {
        break;
      }
    }
    size_t name_end = p;
    const Hdr kind = header_name(req, p, end, v.len, name_end);
    const std::string_view field(req + p, end - p);
    const size_t before = w.size();
    if (p == v.top_via_line.off) {
      // The top Via with received/rport spliced in.
      size_t at = p;
      for (size_t i = 0; i < n_top; ++i) {
        w.put(std::string_view(req + at, top[i].off - at));
        w.put(top[i].ins);
        at = size_t{top[i].off} + top[i].del;
      }
      w.put(std::string_view(req + at, end - at));
    } else if (!to_done && kind == Hdr::kTo) {
      to_done = true;
      if (v.to_tag.empty() && code >= 180) {
        // Kamailio's sl adds a To-tag from 180 on (sl_funcs.c: code >= 180), so a 100 Trying
        // goes without one. The tag goes at the end of the field, before its line break.
        size_t cut = field.size();
        if (cut > 0 && field[cut - 1] == '\n') {
          --cut;
        }
        if (cut > 0 && field[cut - 1] == '\r') {
          --cut;
        }
        char tag[kLocalToTagLen];
        local_to_tag(req, v, tag);
        w.put(field.substr(0, cut));
        w.put(";tag=");
        w.put(std::string_view(tag, sizeof tag));
        w.put(field.substr(cut));
      } else {
        w.put(field);
      }
    } else if (kind == Hdr::kVia || kind == Hdr::kFrom || kind == Hdr::kTo ||
               kind == Hdr::kCallId || kind == Hdr::kCSeq ||
               (copy_rr && kind == Hdr::kRecordRoute)) {
      w.put(field);
    }
    if (w.size() != before && ++fields > kMaxHeaderFields) {
      return 0;  // a reply our own scanner would refuse (too_many_headers): none is sent
    }
    p = end;
  }
  w.put(extra);
  if (server.data() == nullptr) {
    w.put("Server: viaduct\r\nContent-Length: 0\r\n\r\n");  // viaduct's own, in one copy
  } else {
    w.put(server);
    w.put("Content-Length: 0\r\n\r\n");
  }
  return w.ok() ? w.size() : 0;
}

}  // namespace viaduct::sip
