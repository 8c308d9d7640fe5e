// SPDX-License-Identifier: Apache-2.0
#include "dataplane/dispatch.hpp"

#include <rte_cycles.h>
// XXH3 inlined: the per-packet keys are short, and a call into libxxhash per field cost more
// than the hashing (callgrind: ~36 instructions a call, 9 calls per forwarded INVITE).
#define XXH_INLINE_ALL
#include <xxhash.h>

#include <climits>
#include <cstring>
#include <memory>
#if defined(__SSE4_2__)
#include <nmmintrin.h>  // the affinity key's CRC32-C (the dataplane is built for corei7 and up)
#endif

namespace viaduct::dp {
namespace {

using cfg::DsPvPart;
using sip::Hdr;
using sip::Span;

constexpr uint64_t kKeySeed = 0x7669616475637444ULL;  // "viaductD"
constexpr uint64_t kGolden = 0x9E3779B97F4A7C15ULL;   // 2^64 / golden ratio
// Probes into the Maglev table before a key gives up on it and takes the next usable entry.
// With a fraction f of the set unusable that happens with probability f^64.
constexpr int kMaxProbes = 64;

// Kamailio reads bytes through `char`, signed on the platforms it runs on: a byte >= 0x80
// contributes its sign-extended value. Keep that, or UTF-8 Call-IDs would hash differently.
uint32_t kamailio_fold(std::string_view x, uint32_t h) noexcept {
  auto c = [&](size_t i) -> uint32_t {
    return static_cast<uint32_t>(static_cast<int>(static_cast<signed char>(x[i])));
  };
  size_t i = 0;
  for (; i + 4 <= x.size(); i += 4) {
    const uint32_t v = (c(i) << 24) + (c(i + 1) << 16) + (c(i + 2) << 8) + c(i + 3);
    h += v ^ (v >> 3);
  }
  uint32_t v = 0;
  for (; i < x.size(); ++i) {
    v <<= 8;
    v += c(i);
  }
  return h + (v ^ (v >> 3));
}

uint32_t kamailio_finish(uint32_t h) noexcept {
  h = (h + (h >> 11)) + ((h >> 13) + (h >> 23));
  return h != 0 ? h : 1;
}

// splitmix64's finaliser: a bijective mix, for probe sequences and the random algorithm.
uint64_t mix64(uint64_t z) noexcept {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

// XXH3_64bits_withSeed(p, 0, seed), written out: for an empty input XXH3 (0.8, whose output is
// frozen) returns XXH64's avalanche of the seed xor two words of its default secret (bytes 56-71).
// The Maglev key's second part is empty for every algorithm but the URI ones, and the general
// call spent ~25 instructions finding that out. dispatch_test checks it against XXH3.
constexpr uint64_t kXxh3EmptySecret = 0x4c263a81e69035e0ULL ^ 0xcb00c391bb52283cULL;
inline uint64_t xxh3_empty(uint64_t seed) noexcept {
  uint64_t h = seed ^ kXxh3EmptySecret;
  h ^= h >> 33;
  h *= 0xC2B2AE3D27D4EB4FULL;  // XXH_PRIME64_2
  h ^= h >> 29;
  h *= 0x165667B19E3779F9ULL;  // XXH_PRIME64_3
  return h ^ (h >> 32);
}

// ds_key_hash(), inlined where the request path hashes.
inline uint64_t key_hash(const DsKey& key) noexcept {
  const uint64_t h = XXH3_64bits_withSeed(key.first.data(), key.first.size(), kKeySeed);
  return key.second.empty() ? xxh3_empty(h)
                            : XXH3_64bits_withSeed(key.second.data(), key.second.size(), h);
}

// Maps a uniform 64-bit value onto [0, n) without a division (n < 2^32).
uint32_t scale(uint64_t h, uint64_t n) noexcept {
  return static_cast<uint32_t>(((h >> 32) * n) >> 32);
}

bool is_ws(char c) noexcept { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && is_ws(s.front())) {
    s.remove_prefix(1);
  }
  while (!s.empty() && is_ws(s.back())) {
    s.remove_suffix(1);
  }
  return s;
}

// ---- selection over the set ----

// x modulo pool without a division when x is already below it (a cursor kept in range; it is
// only past the pool after a reload shrank the set). A division is 20-40 cycles of latency on the
// per-request path.
inline uint32_t wrap(uint32_t x, uint32_t pool) noexcept {
  return x < pool ? x : x % pool;
}

// Kamailio's probe: `start`, else the following entries in index order, wrapping, within the
// pool (with use_default Kamailio takes the hash modulo nr - 1 and probes modulo nr - 1 too, so
// the default is never probed into; select_destination() falls back to it).
int next_usable(const Snapshot& snap, const DestSet& set, uint32_t start) noexcept {
  uint32_t i = wrap(start, set.pool);
  for (uint32_t n = 0; n < set.pool; ++n) {
    if (snap.destinations[set.first + i].usable()) {
      return static_cast<int>(set.first + i);
    }
    i = i + 1 == set.pool ? 0 : i + 1;
  }
  return -1;
}

// use_default: the set's default (its last entry) when the pool gave nothing and it is usable.
int default_entry(const Snapshot& snap, const DestSet& set) noexcept {
  if (set.pool == set.count) {
    return -1;
  }
  const uint32_t d = set.first + set.count - 1;
  return snap.destinations[d].usable() ? static_cast<int>(d) : -1;
}

// Maglev lookup. The table covers every destination of the pool, so a key keeps its
// destination while that one is usable. A key whose destination is not usable probes further
// slots chosen by its own hash: each probe lands on any destination with its table share, so
// the keys of a destination that goes down spread evenly over all the usable ones, and keys of
// the other destinations do not move.
inline int maglev_pick(const Snapshot& snap, const DestSet& set, uint64_t h) noexcept {
  if (set.pool_usable == 0) {
    return -1;
  }
  if (set.maglev.empty()) {
    return next_usable(snap, set, static_cast<uint32_t>(h % set.pool));
  }
  const uint64_t m = set.maglev.size();
  uint64_t probe = h;
  for (int k = 0; k < kMaxProbes; ++k) {
    const uint32_t local = set.maglev[scale(probe, m)];
    if (local < set.pool && snap.destinations[set.first + local].usable()) {
      return static_cast<int>(set.first + local);
    }
    probe = mix64(h + static_cast<uint64_t>(k + 1) * kGolden);
  }
  return next_usable(snap, set, static_cast<uint32_t>(h % set.pool));
}

// Exact weighted choice: the n-th pick of this worker takes the point frac(n / golden ratio) of
// the weight line (a Weyl sequence), which visits the line evenly, so every destination gets
// its share within a few picks of exact, and never a long run of one destination.
int weighted_pick(const Snapshot& snap, const DestSet& set, const WeightedPick& w,
                  uint64_t& counter) noexcept {
  if (w.cum.empty()) {
    return -1;
  }
  const uint64_t t = scale(++counter * kGolden, w.cum.back());
  size_t lo = 0;
  size_t hi = w.cum.size() - 1;
  while (lo < hi) {  // first entry whose running sum exceeds t
    const size_t mid = (lo + hi) / 2;
    if (w.cum[mid] > t) {
      hi = mid;
    } else {
      lo = mid + 1;
    }
  }
  return next_usable(snap, set, w.local[lo]);  // usable by construction
}

// Kamailio's weight arrays: slot `cursor` of 100, then modulo and the next usable entry (modulo
// the pool: with use_default the default's slots go to entry 0, as in Kamailio).
int kamailio_slots(const Snapshot& snap, const DestSet& set, const std::vector<uint16_t>& slots,
                   uint64_t& cursor) noexcept {
  const uint32_t hash = slots.empty() ? 0u : slots[cursor % slots.size()];
  cursor = (cursor + 1) % kKamailioWeightSlots;
  return next_usable(snap, set, hash);
}

// Kamailio's round robin: the cursor moves past the entry actually used, so the entry after a
// down one is not picked twice in a row.
inline int round_robin(const Snapshot& snap, const DestSet& set, uint32_t& cursor) noexcept {
  const uint32_t start = wrap(cursor, set.pool);
  if (snap.destinations[set.first + start].usable()) [[likely]] {  // next_usable()'s first step
    cursor = start + 1 == set.pool ? 0 : start + 1;
    return static_cast<int>(set.first + start);
  }
  const int d = next_usable(snap, set, start);
  const uint32_t used = d < 0 ? start : static_cast<uint32_t>(d) - set.first;  // < pool
  cursor = used + 1 == set.pool ? 0 : used + 1;
  return d;
}

// Algorithm 13 (ds_manage_route_algo13): among the usable destinations with the highest
// latency-adjusted priority, the first one at or after the cursor.
int latency_round_robin(const Snapshot& snap, const DestSet& set, uint32_t& cursor) noexcept {
  int best = INT_MIN;
  for (uint32_t i = 0; i < set.pool; ++i) {
    const Destination& d = snap.destinations[set.first + i];
    if (d.usable() && d.latency_priority > best) {
      best = d.latency_priority;
    }
  }
  if (best == INT_MIN) {
    cursor = 0;
    return -1;
  }
  const uint32_t start = cursor % set.pool;
  for (uint32_t n = 0; n < set.pool; ++n) {
    const uint32_t i = (start + n) % set.pool;
    const Destination& d = snap.destinations[set.first + i];
    if (d.usable() && d.latency_priority == best) {
      cursor = (i + 1) % set.pool;
      return static_cast<int>(set.first + i);
    }
  }
  return -1;
}

uint64_t next_random(DispatchState& st) noexcept {
  if (st.rng == 0) {
    st.rng = mix64(reinterpret_cast<uintptr_t>(&st) ^ kGolden) | 1u;
  }
  st.rng += kGolden;
  return mix64(st.rng);
}

// Inlined (call_id_one's call cost the Call-ID hash ~10 instructions, and inline its empty
// second key part needs no test).
[[gnu::always_inline]] inline int hashed(const Snapshot& snap, const DestSet& set,
                                         const DsKey& key) noexcept {
  if (snap.dispatcher.mode == DsHashMode::kKamailio) {
    return next_usable(snap, set, kamailio_ds_hash(key.first, key.second) % set.pool);
  }
  return maglev_pick(snap, set, key_hash(key));
}

// ---- keys from the request ----

// The first header named `name` (case-insensitive) after the start line: its value, trimmed,
// continuation lines included.
bool find_header(const char* msg, const sip::SipView& v, std::string_view name,
                 std::string_view& value) noexcept {
  const size_t end = v.headers_end;
  size_t p = 0;
  while (p < end && msg[p] != '\n') {
    ++p;
  }
  ++p;
  while (p < end) {
    size_t eol = p;
    while (eol < end && msg[eol] != '\n') {
      ++eol;
    }
    while (eol + 1 < end && (msg[eol + 1] == ' ' || msg[eol + 1] == '\t')) {
      ++eol;
      while (eol < end && msg[eol] != '\n') {
        ++eol;
      }
    }
    const std::string_view line(msg + p, eol - p);
    const size_t colon = line.find(':');
    if (colon != std::string_view::npos) {
      std::string_view n = line.substr(0, colon);
      while (!n.empty() && (n.back() == ' ' || n.back() == '\t')) {
        n.remove_suffix(1);
      }
      if (sip::iequal(n, name)) {
        value = trim(line.substr(colon + 1));
        return true;
      }
    }
    p = eol + 1;
  }
  return false;
}

// Kamailio's ds_hash_authusername(): the first Proxy-Authorization's credentials when they
// parse as Digest, else the first Authorization's; the user part of their username (as its
// parse_username(): no "@domain", no "scheme:"), trimmed. False (algorithm 5 falls back to round robin) when
// neither parses or the user is empty: a parsed Proxy-Authorization with an empty user does
// not fall back to the Authorization.
bool auth_username(const char* msg, const sip::SipView& v, std::string_view& user) noexcept {
  for (const std::string_view name : {std::string_view("Proxy-Authorization"),
                                      std::string_view("Authorization")}) {
    std::string_view value;
    sip::DigestCred cred;
    if (!find_header(msg, v, name, value) ||
        sip::parse_digest_cred(value, cred) != sip::CredScheme::kDigest) {
      continue;
    }
    // parse_username(): a username of more than 2 bytes loses "@domain", then anything up to
    // a ':' ("sip:bob@example.com" is "bob"; measured, differential script 32).
    user = cred.value[sip::DigestCred::kUsername];
    if (user.size() > 2) {
      user = user.substr(0, user.find('@'));
      const size_t colon = user.find(':');
      if (colon != std::string_view::npos) {
        user.remove_prefix(colon + 1);
      }
    }
    user = trim(user);
    return !user.empty();
  }
  return false;
}

struct UriParts {
  bool ok = false;
  sip::Uri uri;
};

UriParts parse(const char* msg, Span s) noexcept {
  UriParts p;
  p.ok = !s.empty() && sip::parse_uri(msg, s, p.uri);
  return p;
}

// The value of a fixed-slot header named `name` (long or compact form), if it is one.
bool slot_header(const sip::SipView& v, std::string_view name, Span& out) noexcept {
  struct Alias {
    std::string_view name;
    std::string_view compact;
    Hdr hdr;
  };
  static constexpr Alias kAliases[] = {
      {"Via", "v", Hdr::kVia},
      {"From", "f", Hdr::kFrom},
      {"To", "t", Hdr::kTo},
      {"Call-ID", "i", Hdr::kCallId},
      {"CSeq", "", Hdr::kCSeq},
      {"Max-Forwards", "", Hdr::kMaxForwards},
      {"Content-Length", "l", Hdr::kContentLength},
      {"Route", "", Hdr::kRoute},
      {"Record-Route", "", Hdr::kRecordRoute},
      {"Contact", "m", Hdr::kContact},
  };
  for (const Alias& a : kAliases) {
    if (sip::iequal(name, a.name) || (!a.compact.empty() && sip::iequal(name, a.compact))) {
      out = v[a.hdr];
      return true;
    }
  }
  return false;
}

// One pseudo-variable of hash_pvar; absent values print as Kamailio's "<null>".
std::string_view pv_value(const DsPvPart& part, const char* msg, const sip::SipView& v) noexcept {
  constexpr std::string_view kNull = "<null>";
  auto span = [&](Span s) { return s.empty() ? kNull : s.in(msg); };
  auto from = [&] { return sip::header_uri(msg, v[Hdr::kFrom]); };
  auto to = [&] { return sip::header_uri(msg, v[Hdr::kTo]); };
  switch (part.kind) {
    case DsPvPart::Kind::kText:
      return part.text;
    case DsPvPart::Kind::kCallId:
      return span(v.call_id);
    case DsPvPart::Kind::kFromUri:
      return span(from());
    case DsPvPart::Kind::kFromUser: {
      const UriParts u = parse(msg, from());
      return u.ok ? span(u.uri.user) : kNull;
    }
    case DsPvPart::Kind::kFromHost: {
      const UriParts u = parse(msg, from());
      return u.ok ? span(u.uri.host) : kNull;
    }
    case DsPvPart::Kind::kFromTag:
      return span(v.from_tag);
    case DsPvPart::Kind::kToUri:
      return span(to());
    case DsPvPart::Kind::kToUser: {
      const UriParts u = parse(msg, to());
      return u.ok ? span(u.uri.user) : kNull;
    }
    case DsPvPart::Kind::kToHost: {
      const UriParts u = parse(msg, to());
      return u.ok ? span(u.uri.host) : kNull;
    }
    case DsPvPart::Kind::kToTag:
      return span(v.to_tag);
    case DsPvPart::Kind::kRUri:
      return span(v.ruri);
    case DsPvPart::Kind::kRUser: {
      const UriParts u = parse(msg, v.ruri);
      return u.ok ? span(u.uri.user) : kNull;
    }
    case DsPvPart::Kind::kRHost: {
      const UriParts u = parse(msg, v.ruri);
      return u.ok ? span(u.uri.host) : kNull;
    }
    case DsPvPart::Kind::kMethod:
      return span(v.method_name);
    case DsPvPart::Kind::kCSeq: {
      const std::string_view c = v[Hdr::kCSeq].in(msg);  // "<number> <method>"
      size_t n = 0;
      while (n < c.size() && c[n] >= '0' && c[n] <= '9') {
        ++n;
      }
      return n == 0 ? kNull : c.substr(0, n);
    }
    case DsPvPart::Kind::kHeader: {
      Span s;
      if (slot_header(v, part.text, s)) {
        return span(s);
      }
      std::string_view value;
      return find_header(msg, v, part.text, value) ? value : kNull;
    }
  }
  return kNull;
}

// Kamailio's ds_hash_pvar(): the format printed, trimmed, and not empty.
bool print_hash_pvar(const Snapshot& snap, const char* msg, const sip::SipView& v,
                     DispatchState& st, std::string_view& out) noexcept {
  size_t len = 0;
  for (const DsPvPart& part : snap.dispatcher.hash_pvar) {
    const std::string_view s = pv_value(part, msg, v);
    if (s.size() > sizeof(st.key) - len) {
      return false;
    }
    std::memcpy(st.key + len, s.data(), s.size());
    len += s.size();
  }
  out = trim(std::string_view(st.key, len));
  return !out.empty();
}

const DestSet* set_at(const Snapshot& snap, uint32_t set_index) noexcept {
  // pool == 0: a set build_dispatch_tables() never filled; never divide by it. The index is
  // compared in bytes: sets.size() is a division by sizeof(DestSet).
  const DestSet* const sets = snap.sets.data();
  const char* const end = reinterpret_cast<const char*>(std::to_address(snap.sets.end()));
  const auto bytes = static_cast<size_t>(end - reinterpret_cast<const char*>(sets));
  if (size_t{set_index} * sizeof(DestSet) >= bytes || sets[set_index].pool == 0) {
    return nullptr;
  }
  return &sets[set_index];
}

// ---- transaction affinity (CANCEL, ACK of a non-2xx) ----

uint32_t now_ticks(const DispatchState& st) noexcept {
  const uint64_t tsc = st.fake_tsc != 0    ? st.fake_tsc
                       : st.burst_tsc != 0 ? st.burst_tsc
                                           : rte_rdtsc();
  return static_cast<uint32_t>(tsc >> kDsTickShift);
}

uint32_t ttl_ticks(DispatchState& st) noexcept {
  if (st.tsc_hz == 0) {
    st.tsc_hz = rte_get_tsc_hz();
    if (st.tsc_hz == 0) {
      st.tsc_hz = 1000000000;  // no EAL (tools): any plausible rate keeps the TTL bounded
    }
  }
  return static_cast<uint32_t>((st.tsc_hz * kDsAffinityTtlSeconds) >> kDsTickShift);
}

bool expired(uint32_t expires, uint32_t now) noexcept {
  return static_cast<int32_t>(expires - now) <= 0;
}

#if defined(__SSE4_2__)
// CRC32-C of the text's bytes into `c`: its 8-byte words in order, the last one overlapping the
// one before (the length is in the caller's seed; 8 bytes are one word twice), or two 4-byte
// words, or bytes.
[[gnu::always_inline]] inline uint32_t crc_text(uint32_t c, std::string_view t) noexcept {
  const char* p = t.data();
  const size_t n = t.size();
  if (n >= 8) [[likely]] {
    // Words from the start while more than 16 bytes are left, then the two words that cover
    // the last 9 to 16 (overlapping): no loop at all up to 16 bytes.
    uint64_t w;
    size_t i = 0;
    for (; n - i > 16; i += 8) {
      std::memcpy(&w, p + i, 8);
      c = static_cast<uint32_t>(_mm_crc32_u64(c, w));
    }
    std::memcpy(&w, p + i, 8);
    c = static_cast<uint32_t>(_mm_crc32_u64(c, w));
    std::memcpy(&w, p + n - 8, 8);
    return static_cast<uint32_t>(_mm_crc32_u64(c, w));
  }
  if (n >= 4) {
    uint32_t w;
    std::memcpy(&w, p, 4);
    c = _mm_crc32_u32(c, w);
    std::memcpy(&w, p + n - 4, 4);
    return _mm_crc32_u32(c, w);
  }
  for (size_t i = 0; i < n; ++i) {
    c = _mm_crc32_u8(c, static_cast<uint8_t>(p[i]));
  }
  return c;
}
#endif

// The INVITE transaction a request belongs to, as its CANCEL and non-2xx ACK repeat it: Call-ID,
// CSeq number, top-Via branch, per set. The Call-ID as the scanner gives it: trimmed of LWS on
// both sides already (SipView::hdr), as trim() would (a second trim was ~21 instructions an
// INVITE).
// Two independent CRC32-C chains make the 64 bits (in line, no call: the two XXH3 calls and
// the registers saved around them were ~75 instructions an INVITE, this ~25): the high half
// over the CSeq number and the Call-ID's length, then the Call-ID; the low half over the set
// and the branch's length, then the branch. A CRC tells apart any two inputs that differ
// within 32 consecutive bits (so distinct CSeq numbers, sets and lengths always), and two
// random transactions collide 2^-64 of the time. It is no keyed hash, but neither was XXH3 with
// a fixed seed: whoever can make a CANCEL match another INVITE's key knows that transaction,
// and could send its real CANCEL.
// `set_id`: the set's id from the list (DestSet::id), not its index in the snapshot: a reload
// that adds or removes a set with a lower id shifts the indexes, and the CANCELs of INVITEs
// sent before it would miss.
[[gnu::always_inline]] inline uint64_t affinity_key(uint32_t set_id, const char* msg,
                                                    const sip::SipView& v) noexcept {
  const std::string_view cid = v.call_id.in(msg);
  const std::string_view branch = v.via1.branch.in(msg);
#if defined(__SSE4_2__)
  const uint32_t a = crc_text(static_cast<uint32_t>(_mm_crc32_u64(
                                  ~0u, v.cseq_num | static_cast<uint64_t>(cid.size()) << 32)),
                              cid);
  const uint32_t b = crc_text(static_cast<uint32_t>(_mm_crc32_u64(
                                  ~0u, set_id | static_cast<uint64_t>(branch.size()) << 32)),
                              branch);
  return static_cast<uint64_t>(a) << 32 | b;
#else
  // The set and the CSeq number go into the seed (a multiply each, not a third hash call); the
  // two hashes do not depend on each other (one chained through the other's seed was a latency
  // chain of two XXH3 calls on every INVITE).
  constexpr uint64_t kCseqMul = 0xC2B2AE3D27D4EB4Full;
  const uint64_t h = XXH3_64bits_withSeed(
      cid.data(), cid.size(), kKeySeed + set_id * kGolden + uint64_t{v.cseq_num} * kCseqMul);
  const uint64_t b = XXH3_64bits_withSeed(branch.data(), branch.size(), kKeySeed ^ kCseqMul);
  return h ^ ((b << 31) | (b >> 33));
#endif
}

DsAffinityEntry* affinity_bucket(DispatchState& st, uint64_t key) noexcept {
  return &st.affinity[((key >> 32) & (kDsAffinityBuckets - 1)) * kDsAffinityWays];
}

// The way an INVITE takes: its own entry when it is a retransmission (refreshed, even expired),
// else the last free or expired way, else the oldest entry, the first of equals (every entry
// lives as long, so the oldest expires first). Valid entries expire within the TTL of `now`, so
// the wrap-safe comparisons between them are a total order.
// Written as three short passes, the first comparing keys alone (a zero key of a free way can
// only equal a real key 2^-64 of the time, and the dest_id test then rules it out): a
// retransmission costs four compares, a new INVITE the free/expired scan from the last way.
[[gnu::always_inline]] inline void affinity_remember(DispatchState& st, uint64_t key,
                                                     uint32_t dest_id) noexcept {
  const uint32_t now = now_ticks(st);
  const uint32_t expires = now + ttl_ticks(st);
  DsAffinityEntry* b = affinity_bucket(st, key);
  DsAffinityEntry* victim = nullptr;
#pragma GCC unroll 4
  for (size_t w = 0; w < kDsAffinityWays; ++w) {
    if (b[w].key == key && b[w].dest_id != 0) [[unlikely]] {
      victim = &b[w];  // a retransmitted INVITE: refresh
      break;
    }
  }
  if (victim == nullptr) {
    for (size_t w = kDsAffinityWays; w-- > 0;) {
      if (b[w].dest_id == 0 || expired(b[w].expires, now)) {
        victim = &b[w];
        break;
      }
    }
  }
  if (victim == nullptr) {
    victim = &b[0];
    for (size_t w = 1; w < kDsAffinityWays; ++w) {
      if (static_cast<int32_t>(b[w].expires - victim->expires) < 0) {
        victim = &b[w];
      }
    }
  }
  victim->key = key;
  victim->dest_id = dest_id;
  victim->expires = expires;
}

uint32_t affinity_lookup(DispatchState& st, uint64_t key) noexcept {
  const uint32_t now = now_ticks(st);
  const DsAffinityEntry* b = affinity_bucket(st, key);
  for (size_t w = 0; w < kDsAffinityWays; ++w) {
    if (b[w].dest_id != 0 && b[w].key == key && !expired(b[w].expires, now)) {
      return b[w].dest_id;
    }
  }
  return 0;
}

// The destination of `set` with this id, if it is still usable.
int usable_by_id(const Snapshot& snap, const DestSet& set, uint32_t id) noexcept {
  for (uint32_t i = 0; i < set.count; ++i) {
    const Destination& d = snap.destinations[set.first + i];
    if (d.id == id) {
      return d.usable() ? static_cast<int>(set.first + i) : -1;
    }
  }
  return -1;
}

int select_in_pool(const Snapshot& snap, const DestSet& s, uint32_t set_index, uint32_t alg,
                   const DsKey* key, DispatchState& st) noexcept;

// A CANCEL or ACK: the destination its INVITE was given, when remembered and still usable;
// -1 otherwise (it is then dispatched anew). Out of line: the INVITE path stays short.
[[gnu::noinline]] int affinity_follow(const Snapshot& snap, const DestSet& set, const char* msg,
                                      const sip::SipView& v,
                                      DispatchState& st) noexcept {
  if (const uint32_t id = affinity_lookup(st, affinity_key(static_cast<uint32_t>(set.id), msg, v)); id != 0) {
    if (const int d = usable_by_id(snap, set, id); d >= 0) {
      ++st.affinity_hits;
      return d;
    }
  }
  return -1;
}

// select_destination() on a request whose algorithm does not follow the request's content (no
// hash key; or 5, which hashes the credentials an INVITE carries and its CANCEL never does, nor
// as a rule its ACK: both go through the cache whether the INVITE had credentials or not), so the
// INVITE's choice is remembered for its CANCEL and ACK. `key`: algorithm 5's, else nullptr.
// Inlined, with the INVITE's affinity_remember() (a call and its saved registers were ~35
// instructions an INVITE); the CANCEL/ACK lookup stays out of line.
[[gnu::always_inline]] inline int select_with_affinity(const Snapshot& snap, const DestSet& set,
                                                       uint32_t set_index, uint32_t alg,
                                                       const DsKey* key, const char* msg,
                                                       const sip::SipView& v,
                                                       DispatchState& st) noexcept {
  if (v.method == sip::Method::kCancel || v.method == sip::Method::kAck) [[unlikely]] {
    if (const int d = affinity_follow(snap, set, msg, v, st); d >= 0) {
      return d;
    }
  }
  // select_destination(snap, set_index, alg, key, st) without its checks: `set` is the set's,
  // and a key is missing only for the algorithms that go without one (not hashing, or 5).
  // Round robin, the usual front-end algorithm, without select_in_pool's call and switch.
  int d = alg == 4 ? round_robin(snap, set, st.rr[set_index % kMaxRoundRobinSets])
                   : select_in_pool(snap, set, set_index, alg, key, st);
  if (d < 0) {
    d = default_entry(snap, set);
  }
  if (d >= 0 && v.method == sip::Method::kInvite) {
    affinity_remember(st, affinity_key(static_cast<uint32_t>(set.id), msg, v),
                      snap.destinations[static_cast<size_t>(d)].id);
  }
  return d;
}

uint32_t addr_slot(uint32_t ip_be, uint16_t port_be) noexcept {
  const uint64_t k = (static_cast<uint64_t>(ip_be) << 16) | port_be;
  return static_cast<uint32_t>(mix64(k) & (kDsAddrSlots - 1));
}

void build_addr_table(const Snapshot& snap, DispatchState& st) noexcept {
  for (DsAddrSlot& s : st.addr) {
    s = DsAddrSlot{};
  }
  size_t n = 0;
  for (const Destination& d : snap.destinations) {
    if (n >= kDsAddrSlots / 2) {
      break;  // more than the counters cover; keep probes short
    }
    for (uint32_t i = addr_slot(d.ip_be, d.port_be);; i = (i + 1) & (kDsAddrSlots - 1)) {
      DsAddrSlot& s = st.addr[i];
      if (s.used == 0) {
        s = {d.ip_be, d.port_be, 1, d.id};
        ++n;
        break;
      }
      if (s.ip_be == d.ip_be && s.port_be == d.port_be) {
        break;  // the first destination with this address keeps it
      }
    }
  }
  st.addr_snap = &snap;
  st.addr_generation = snap.generation;
}

// use_default: the default closes the failover list (unless it was the selection itself),
// within the limit, whatever its state: measured on Kamailio 5.6.3, which appends it without
// looking at its flags (ds_next_dst then reaches an inactive default).
size_t with_default_last(const DestSet& s, uint32_t selected, int32_t* out, size_t n,
                         size_t max) noexcept {
  if (s.pool < s.count && selected != s.count - 1 && n < max) {
    out[n++] = static_cast<int32_t>(s.first + s.count - 1);
  }
  return n;
}

}  // namespace

uint32_t kamailio_ds_hash(std::string_view x) noexcept {
  return kamailio_finish(kamailio_fold(x, 0));
}

uint32_t kamailio_ds_hash(std::string_view x, std::string_view y) noexcept {
  return kamailio_finish(kamailio_fold(y, kamailio_fold(x, 0)));
}

uint64_t ds_key_hash(const DsKey& key) noexcept { return key_hash(key); }

bool ds_uri_key(const char* buf, Span uri, bool user_only, DsKey& out) noexcept {
  const UriParts p = parse(buf, uri);
  // A tel: URI has no host: Kamailio's parse_uri moves the number to the user and leaves an
  // empty host, so its key is the number alone (measured: a tel: From hashes, 5.6.3).
  const bool tel = sip::iequal(p.uri.scheme.in(buf), "tel");
  if (!p.ok || (p.uri.host.empty() && !tel)) {
    return false;
  }
  out.first = p.uri.user.in(buf);
  out.second = {};
  if (!user_only && !tel) {
    const bool sips = p.uri.scheme.len == 4;  // parse_uri accepts sip, sips and tel only
    const uint16_t default_port = sips ? 5061 : 5060;
    const Span hostport = !p.uri.port.empty() && p.uri.port_num != default_port
                              ? Span{p.uri.host.off, static_cast<uint16_t>(p.uri.port.end() -
                                                                           p.uri.host.off)}
                              : p.uri.host;
    out.second = hostport.in(buf);
  }
  return true;
}

DsKeyStatus ds_request_key(const Snapshot& snap, uint32_t alg, const char* msg,
                           const sip::SipView& v, DispatchState& st, DsKey& out) noexcept {
  out = DsKey{};
  const bool user_only = snap.dispatcher.hash_user_only;
  switch (alg) {
    case 0:
      out.first = v.call_id.in(msg);  // trimmed by the scanner
      return DsKeyStatus::kKey;
    case 1:
      return ds_uri_key(msg, sip::header_uri(msg, v[Hdr::kFrom]), user_only, out)
                 ? DsKeyStatus::kKey
                 : DsKeyStatus::kError;
    case 2:
      return ds_uri_key(msg, sip::header_uri(msg, v[Hdr::kTo]), user_only, out)
                 ? DsKeyStatus::kKey
                 : DsKeyStatus::kError;
    case 3:
      return ds_uri_key(msg, v.ruri, user_only, out) ? DsKeyStatus::kKey : DsKeyStatus::kError;
    case 5:
      return auth_username(msg, v, out.first) ? DsKeyStatus::kKey : DsKeyStatus::kNoKey;
    case 7:
      if (snap.dispatcher.hash_pvar.empty()) {
        return DsKeyStatus::kError;  // Kamailio: "can't get PV hash" without hash_pvar
      }
      return print_hash_pvar(snap, msg, v, st, out.first) ? DsKeyStatus::kKey
                                                           : DsKeyStatus::kError;
    default:
      return DsKeyStatus::kNoKey;
  }
}

namespace {

// The algorithm's choice among the pool (the whole set, or all but its default); -1 when none
// of the pool is usable.
int select_in_pool(const Snapshot& snap, const DestSet& s, uint32_t set_index, uint32_t alg,
                   const DsKey* key, DispatchState& st) noexcept {
  const size_t slot = set_index % kMaxRoundRobinSets;
  const bool kamailio = snap.dispatcher.mode == DsHashMode::kKamailio;
  switch (alg) {
    case 0:
    case 1:
    case 2:
    case 3:
    case 7:
      return hashed(snap, s, *key);  // the caller checked the key
    case 5:  // no credentials: round robin, as Kamailio
      return key != nullptr ? hashed(snap, s, *key) : round_robin(snap, s, st.rr[slot]);
    case 4:
      return round_robin(snap, s, st.rr[slot]);
    case 6: {
      const uint64_t r = next_random(st);
      return kamailio ? next_usable(snap, s, static_cast<uint32_t>((r >> 33) % s.pool))
                      : maglev_pick(snap, s, r);
    }
    case 9:
      return kamailio ? kamailio_slots(snap, s, s.kamailio_weight, st.weight[slot])
                      : weighted_pick(snap, s, s.weight, st.weight[slot]);
    case 11:
      return kamailio ? kamailio_slots(snap, s, s.kamailio_rweight, st.rweight[slot])
                      : weighted_pick(snap, s, s.rweight, st.rweight[slot]);
    case 13:
      return latency_round_robin(snap, s, st.rr[slot]);
    case 14:
      return s.round_robin_serial ? round_robin(snap, s, st.rr[slot]) : next_usable(snap, s, 0);
    case 15:
      return weighted_pick(snap, s, s.priority_weight, st.prio_weight[slot]);
    case 8:
    default:  // Kamailio: the first entry (the compiler rejects unknown algorithms)
      return next_usable(snap, s, 0);
  }
}

}  // namespace

int select_destination(const Snapshot& snap, uint32_t set_index, uint32_t alg, const DsKey* key,
                       DispatchState& st) noexcept {
  const DestSet* set = set_at(snap, set_index);
  if (set == nullptr) {
    return -1;
  }
  if (key == nullptr && ds_alg_hashes(alg) && alg != 5) {
    return -1;  // a hash algorithm without its key fails before choosing (Kamailio too)
  }
  const int d = select_in_pool(snap, *set, set_index, alg, key, st);
  return d >= 0 ? d : default_entry(snap, *set);
}

namespace {

// select_request() for the hash algorithms but 0: the key read from the request first. Out of
// line, so that the usual algorithms (0, and those select_with_affinity() serves) do not carry
// its key on their path.
[[gnu::noinline]] int select_keyed_request(const Snapshot& snap, const DestSet& set,
                                           uint32_t set_index, uint32_t alg, const char* msg,
                                           const sip::SipView& v, DispatchState& st) noexcept {
  DsKey key;
  switch (ds_request_key(snap, alg, msg, v, st, key)) {
    case DsKeyStatus::kKey:
      if (alg == 5) {
        return select_with_affinity(snap, set, set_index, alg, &key, msg, v, st);
      }
      return select_destination(snap, set_index, alg, &key, st);
    case DsKeyStatus::kNoKey:
      return select_with_affinity(snap, set, set_index, alg, nullptr, msg, v, st);
    case DsKeyStatus::kError:
      break;
  }
  return -1;
}

// select_destination() on a request, for a set already looked up (select_candidates() has it).
[[gnu::always_inline]] inline int select_request(const Snapshot& snap, const DestSet* set,
                                                 uint32_t set_index, uint32_t alg,
                                                 const char* msg, const sip::SipView& v,
                                                 DispatchState& st) noexcept {
  if (alg == 0) {
    // The Call-ID (ds_request_key's case 0), hashed on the set at hand: what
    // select_destination(snap, set_index, 0, &key, st) does, without its second set lookup.
    const int d = hashed(snap, *set, DsKey{v.call_id.in(msg), {}});
    return d >= 0 ? d : default_entry(snap, *set);
  }
  if (ds_alg_hashes(alg)) {
    return select_keyed_request(snap, *set, set_index, alg, msg, v, st);
  }
  return select_with_affinity(snap, *set, set_index, alg, nullptr, msg, v, st);
}

}  // namespace

int select_destination(const Snapshot& snap, uint32_t set_index, uint32_t alg, const char* msg,
                       const sip::SipView& v, DispatchState& st) noexcept {
  const DestSet* set = set_at(snap, set_index);
  if (set == nullptr) {
    return -1;
  }
  return select_request(snap, set, set_index, alg, msg, v, st);
}

namespace {

// round_robin_one() for a CANCEL or an ACK: where its INVITE went, else round robin.
[[gnu::noinline]] size_t round_robin_one_follow(const Snapshot& snap, const DestSet& set,
                                                uint32_t set_index, const char* msg,
                                                const sip::SipView& v, DispatchState& st,
                                                int32_t* out) noexcept {
  const int d = select_with_affinity(snap, set, set_index, 4, nullptr, msg, v, st);
  if (d < 0) {
    return 0;
  }
  out[0] = d;
  return 1;
}

// select_candidates() for the usual front end: round robin (algorithm 4), the selection alone
// (max 1: no failover list, as without modparam flags 2 or when the script never reads it).
// select_with_affinity() for algorithm 4 in a function of its own, without the general one's
// algorithm tests and failover walks; a CANCEL or an ACK goes on in round_robin_one_follow()
// (no call on the INVITE's path). With select_candidates() calling it last (no frame there):
// -20 instructions a request.
[[gnu::noinline]] size_t round_robin_one(const Snapshot& snap, const DestSet& set,
                                         uint32_t set_index, const char* msg,
                                         const sip::SipView& v, DispatchState& st,
                                         int32_t* out) noexcept {
  if (v.method == sip::Method::kCancel || v.method == sip::Method::kAck) [[unlikely]] {
    return round_robin_one_follow(snap, set, set_index, msg, v, st, out);
  }
  int d = round_robin(snap, set, st.rr[set_index % kMaxRoundRobinSets]);
  if (d < 0) {
    d = default_entry(snap, set);
    if (d < 0) {
      return 0;
    }
  }
  if (v.method == sip::Method::kInvite) {
    affinity_remember(st, affinity_key(static_cast<uint32_t>(set.id), msg, v),
                      snap.destinations[static_cast<size_t>(d)].id);
  }
  out[0] = d;
  return 1;
}

// select_candidates() for algorithm 0 (the Call-ID hashed), the selection alone (max 1): as
// round_robin_one(), without the general function's tests and walks.
[[gnu::noinline]] size_t call_id_one(const Snapshot& snap, const DestSet& set, const char* msg,
                                     const sip::SipView& v, int32_t* out) noexcept {
  int d = hashed(snap, set, DsKey{v.call_id.in(msg), {}});  // select_request()'s case 0
  if (d < 0) {
    d = default_entry(snap, set);
    if (d < 0) {
      return 0;
    }
  }
  out[0] = d;
  return 1;
}

// select_candidates() in general. select_candidates()'s own arguments (the set looked up again:
// a compare and a load), so that it calls this as its last act without a frame of its own.
[[gnu::noinline]] size_t candidates(const Snapshot& snap, uint32_t set_index, uint32_t alg,
                                    const char* msg, const sip::SipView& v, DispatchState& st,
                                    int32_t* out, size_t max) noexcept {
  const DestSet* set = set_at(snap, set_index);  // not null: select_candidates() checked
  const DestSet& s = *set;
  // Algorithm 13's failover order starts at its cursor before the selection moves it.
  const uint32_t cursor = alg == 13 ? st.rr[set_index % kMaxRoundRobinSets] : 0;
  const int first = select_request(snap, set, set_index, alg, msg, v, st);
  if (first < 0 || max == 0) {
    return 0;
  }
  out[0] = first;
  size_t n = 1;
  const uint32_t local = static_cast<uint32_t>(first) - s.first;
  if (max == 1) {
    return n;  // ds_select_dst without the failover flag: the choice alone, no walk of the set
  }
  if (alg == 13) {
    // Every other usable entry in round-robin order from the cursor, stably sorted by
    // latency-adjusted priority, highest first (insertion keeps the best max - 1).
    const uint32_t start = cursor % s.pool;
    for (uint32_t k = 0; k < s.pool && local < s.pool; ++k) {
      const uint32_t i = (start + k) % s.pool;
      const Destination& d = snap.destinations[s.first + i];
      if (i == local || !d.usable()) {
        continue;
      }
      size_t at = n;
      while (at > 1 &&
             snap.destinations[static_cast<size_t>(out[at - 1])].latency_priority <
                 d.latency_priority) {
        --at;
      }
      if (at >= max) {
        continue;
      }
      const size_t last = n < max ? n : max - 1;
      for (size_t j = last; j > at; --j) {
        out[j] = out[j - 1];
      }
      out[at] = static_cast<int32_t>(s.first + i);
      n = n < max ? n + 1 : n;
    }
    return with_default_last(s, local, out, n, max);
  }
  // Kamailio's order for every other algorithm: the entries of the pool after the selected one,
  // then those before it. When the default itself was selected nothing else of the pool is usable.
  // The index wraps by a compare, not `% pool` (a division per entry of the walk).
  if (local < s.pool) {
    uint32_t i = local;
    for (uint32_t k = 1; k < s.pool && n < max; ++k) {
      i = i + 1 == s.pool ? 0 : i + 1;  // (local + k) % pool
      if (snap.destinations[s.first + i].usable()) {
        out[n++] = static_cast<int32_t>(s.first + i);
      }
    }
  }
  return with_default_last(s, local, out, n, max);
}

}  // namespace

size_t select_candidates(const Snapshot& snap, uint32_t set_index, uint32_t alg, const char* msg,
                         const sip::SipView& v, DispatchState& st, int32_t* out,
                         size_t max) noexcept {
  const DestSet* set = set_at(snap, set_index);
  if (set == nullptr) {
    return 0;
  }
  if (max == 1) {
    if (alg == 4) {
      return round_robin_one(snap, *set, set_index, msg, v, st, out);
    }
    if (alg == 0) {
      return call_id_one(snap, *set, msg, v, out);
    }
  }
  return candidates(snap, set_index, alg, msg, v, st, out, max);
}

uint32_t destination_by_address(const Snapshot& snap, DispatchState& st, uint32_t ip_be,
                                uint16_t port_be) noexcept {
  if (st.addr_snap != &snap || st.addr_generation != snap.generation) [[unlikely]] {
    build_addr_table(snap, st);
  }
  for (uint32_t i = addr_slot(ip_be, port_be);; i = (i + 1) & (kDsAddrSlots - 1)) {
    const DsAddrSlot& s = st.addr[i];
    if (s.used == 0) {
      return 0;
    }
    if (s.ip_be == ip_be && s.port_be == port_be) {
      return s.dest_id;
    }
  }
}

}  // namespace viaduct::dp
