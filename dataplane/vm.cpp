// SPDX-License-Identifier: Apache-2.0
// dataplane/vm.cpp: the interpreter of the compiled routing script. Per packet: no allocation,
// no syscall, no lock. Strings the script builds go to the worker's scratch arena (VmState);
// running out of it, like every other run-time limit, ends the run with out.error and a count.
#include "dataplane/vm.hpp"

#include <rte_byteorder.h>

#include <cstring>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "dataplane/counters.hpp"
#include "dataplane/pipeline.hpp"
#include "dataplane/transform.hpp"
#include "dataplane/vm_memo.hpp"

namespace viaduct::dp {
namespace {

using cfg::Fn;
using cfg::Op;
using cfg::PvKind;
using Kind = VmVal::Kind;

using sip::iequal;

// kIsMethod's mask bits and kMethodEq's b are sip::Method values (cfg/program.hpp MethodBit).
#define VD_METHOD_BIT(M) \
  static_assert(cfg::kMethod##M == 1u << static_cast<unsigned>(sip::Method::k##M))
VD_METHOD_BIT(Invite);
VD_METHOD_BIT(Ack);
VD_METHOD_BIT(Bye);
VD_METHOD_BIT(Cancel);
VD_METHOD_BIT(Register);
VD_METHOD_BIT(Options);
VD_METHOD_BIT(Info);
VD_METHOD_BIT(Update);
VD_METHOD_BIT(Prack);
VD_METHOD_BIT(Subscribe);
VD_METHOD_BIT(Notify);
VD_METHOD_BIT(Refer);
VD_METHOD_BIT(Message);
VD_METHOD_BIT(Publish);
#undef VD_METHOD_BIT
constexpr char lower(char c) noexcept { return sip::ascii_lower(c); }

int32_t max_forwards(const sip::SipView& v, uint32_t insert_value, uint32_t max_limit,
                     VmResult& out) noexcept {
  // maxfwd module: absent -> insert the given value as it is (Kamailio 5.6.3 caps only the
  // decrement: mf_process_maxfwd_header("100") with max_limit 70 inserts 100, measured);
  // 0 -> -1 (the script answers 483); otherwise decrement, capped at max_limit.
  if (!v.has_max_forwards) {
    if (out.maxfwd != VmResult::MaxFwd::kInsert) {
      out.mf_seq = ++out.n_top;  // its place among what goes on top
    }
    out.maxfwd = VmResult::MaxFwd::kInsert;
    out.maxfwd_value = insert_value;
    return 2;
  }
  if (v.max_forwards == 0) {
    return -1;
  }
  // The decremented value never exceeds max_limit (Kamailio: val > limit -> limit + 1, then -1).
  const uint32_t next = v.max_forwards - 1;
  out.maxfwd = VmResult::MaxFwd::kDecrement;
  out.maxfwd_value = next > max_limit ? max_limit : next;
  return 1;
}

bool host_is_myself(const Snapshot& snap, std::string_view host, uint16_t port) noexcept {
  for (const MyselfEntry& m : snap.myself) {
    if ((port == 0 || m.port == 0 || m.port == port) && iequal(m.host, host)) {
      return true;
    }
  }
  return false;
}

// A parsed URI (its spans relative to base): host[:port] in the myself set, the port defaulting
// to the scheme's (5061 for sips, else 5060), as Kamailio's check_self_uri.
[[gnu::always_inline]] inline bool parsed_uri_is_myself(const Snapshot& snap, const sip::Uri& uri,
                                                       const char* base) noexcept {
  uint16_t port = uri.port_num;
  if (port == 0) {
    port = iequal(uri.scheme.in(base), "sips") ? 5061 : 5060;
  }
  return host_is_myself(snap, uri.host.in(base), port);
}

// A URI held anywhere (message, program, scratch): host[:port] in the myself set.
bool uri_text_is_myself(const Snapshot& snap, std::string_view text) noexcept {
  if (text.empty() || text.size() > UINT16_MAX) {
    return false;
  }
  sip::Uri uri;
  if (!sip::parse_uri(text.data(), sip::Span{0, static_cast<uint16_t>(text.size())}, uri)) {
    return false;
  }
  return parsed_uri_is_myself(snap, uri, text.data());
}

// Kamailio's string-to-int: a whole decimal number (optional sign), else 0.
int64_t str_to_int(std::string_view s) noexcept {
  size_t i = 0;
  bool neg = false;
  if (i < s.size() && (s[i] == '-' || s[i] == '+')) {
    neg = s[i] == '-';
    ++i;
  }
  if (i == s.size()) {
    return 0;
  }
  int64_t v = 0;
  for (; i < s.size(); ++i) {
    if (s[i] < '0' || s[i] > '9' || v > (INT64_MAX / 10)) {
      return 0;
    }
    v = v * 10 + (s[i] - '0');
  }
  return neg ? -v : v;
}

VmVal span_val(const char* msg, sip::Span sp) noexcept {
  return sp.empty() ? VmVal{} : str_val(sp.in(msg));
}

int64_t to_int(const VmVal& v) noexcept {
  switch (v.kind) {
    case Kind::kInt:
      return v.i;
    case Kind::kStr:
      return str_to_int(v.s());
    case Kind::kNull:
      break;
  }
  return 0;
}

// A field's name against a long name and its compact letter (0: none), ignoring case.
bool name_matches(std::string_view field, std::string_view name, char compact) noexcept {
  return iequal(field, name) || (compact != 0 && field.size() == 1 && lower(field[0]) == compact);
}

// The value of the `index`-th field named `name` (-1: the last); false when there is none.
// Counts matching fields; the value is the whole field body, continuation lines included,
// trimmed.
// The next '\n' in [p, end), or end: eight bytes at a time (header lines are short, so a
// memchr call per line costs more than the search).
const char* next_lf(const char* p, const char* end) noexcept {
  constexpr uint64_t kOnes = 0x0101010101010101ull;
  constexpr uint64_t kHigh = 0x8080808080808080ull;
  while (end - p >= 8) {
    uint64_t w;
    std::memcpy(&w, p, 8);
    const uint64_t x = w ^ (kOnes * '\n');
    const uint64_t hit = (x - kOnes) & ~x & kHigh;
    if (hit != 0) {
      return p + (__builtin_ctzll(hit) >> 3);
    }
    p += 8;
  }
  while (p < end && *p != '\n') {
    ++p;
  }
  return p;
}

// The end of the field starting at p: past the '\n' of its last line (continuation lines,
// starting with SP or HT, belong to it), or end.
const char* field_end(const char* p, const char* end) noexcept {
  while (true) {
    const char* nl = next_lf(p, end);
    if (nl == end) {
      return end;
    }
    p = nl + 1;
    if (p >= end || (*p != ' ' && *p != '\t')) {
      return p;
    }
  }
}

// Calls fn(line_start) for the first byte of every line after the start line, in order, until
// fn returns false: 16 bytes at a time on x86 (SSE2), else eight (a header lookup walks every
// line, and lines are short).
template <typename F>
void for_each_line(const char* msg, const char* end, F&& fn) noexcept {
  const char* p = msg;
#if defined(__SSE2__)
  const __m128i lf = _mm_set1_epi8('\n');
  while (end - p >= 16) {
    uint32_t mask = static_cast<uint32_t>(_mm_movemask_epi8(
        _mm_cmpeq_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)), lf)));
    while (mask != 0) {
      const char* line = p + __builtin_ctz(mask) + 1;
      mask &= mask - 1;
      if (line < end && !fn(line)) {
        return;
      }
    }
    p += 16;
  }
#endif
  while (p < end) {
    p = next_lf(p, end);
    if (p == end) {
      return;
    }
    ++p;
    if (p < end && !fn(p)) {
      return;
    }
  }
}

// find_header() with the name's compact letter (0: none) already known: no table lookup.
bool find_field(const char* msg, const sip::SipView& v, std::string_view name, char compact,
                int index, sip::Span& out, uint32_t* count = nullptr) noexcept {
  const char first = lower(name.empty() ? '\0' : name[0]);
  const char* const end = msg + v.headers_end;
  uint32_t n = 0;
  bool found = false;
  for_each_line(msg, end, [&](const char* p) {
    // Cheap filter first: the name's first letter, or the compact form. Continuation lines
    // start with SP/HT and never pass it.
    const char c0 = lower(*p);
    if (c0 != first && (compact == 0 || c0 != compact)) {
      return true;
    }
    const char* c = p;
    while (c < end && *c != ':' && *c != '\n') {
      ++c;
    }
    if (c >= end || *c != ':') {
      return true;
    }
    const char* ne = c;
    while (ne > p && (ne[-1] == ' ' || ne[-1] == '\t')) {
      --ne;
    }
    if (!name_matches({p, static_cast<size_t>(ne - p)}, name, compact)) {
      return true;
    }
    if (index < 0 || static_cast<int>(n) == index) {
      const char* vs = c + 1;
      const char* ve = field_end(vs, end);
      while (vs < ve && (*vs == ' ' || *vs == '\t')) {
        ++vs;
      }
      while (ve > vs && (ve[-1] == '\r' || ve[-1] == '\n' || ve[-1] == ' ' || ve[-1] == '\t')) {
        --ve;
      }
      out = sip::Span{static_cast<uint16_t>(vs - msg), static_cast<uint16_t>(ve - vs)};
      found = true;
    }
    ++n;
    // The first instance is enough unless the caller counts or wants a later one.
    return !(found && count == nullptr && index >= 0);
  });
  if (count != nullptr) {
    *count = n;
  }
  return found;
}

bool find_header(const char* msg, const sip::SipView& v, std::string_view name, int index,
                 sip::Span& out, uint32_t* count = nullptr) noexcept {
  // Either spelling names both: "Via" finds v: fields and "v" finds Via: ones (Kamailio 5.6
  // parses the name given, $hdr(f) is the From header, measured: differential script 27).
  std::string_view full;
  const char compact = sip::compact_form(name, full);
  return find_field(msg, v, full, compact, index, out, count);
}

struct UriParts {
  bool ok = false;
  sip::Uri uri;
  const char* base = nullptr;
};
// `readable`: bytes from text.data() that may be read (the rest of the message when the text
// is in it: sip::parse_uri then reads the common URI in place); 0 when only the text may.
UriParts parse_text_uri(std::string_view text, size_t readable = 0) noexcept {
  UriParts u;
  u.base = text.data();
  u.ok = !text.empty() && text.size() <= UINT16_MAX &&
         sip::parse_uri(text.data(), sip::Span{0, static_cast<uint16_t>(text.size())}, u.uri,
                        readable);
  return u;
}

struct Run {
  Run(const Snapshot& snap_, const cfg::Program& prog_, const char* msg_, const sip::SipView& v_,
      const VmPacket& pkt_, VmState& st_, DispatchState& ds_, WorkerCounters& counters_,
      VmResult& out_) noexcept
      : snap(snap_), prog(prog_), msg(msg_), v(v_), pkt(pkt_), st(st_), ds(ds_),
        counters(counters_), out(out_), used(st_.scratch_from) {}
  ~Run() { st.scratch_used = static_cast<uint32_t>(used); }
  Run(const Run&) = delete;
  Run& operator=(const Run&) = delete;
  const Snapshot& snap;
  const cfg::Program& prog;
  const char* msg;
  const sip::SipView& v;
  const VmPacket& pkt;
  VmState& st;
  DispatchState& ds;
  WorkerCounters& counters;
  VmResult& out;

  size_t used;  // scratch bytes in use (VmState::scratch_from at the start)
  // Not initialised here (written before read): a run must not pay for clearing them.
  VmVal stack[cfg::kVmStackDepth];
  uint32_t sp = 0;
  VmVal temps[cfg::kVmTemps];  // switch subjects: dead once a case's body runs
  // while counters, a route's own above its caller's: a counter stays live while its loop's
  // body calls routes, so each route() moves the callee's up past those live at the call
  // (kCallRoute's b). The top route and 256 nested calls, 16 each at most: no bound to check
  // per call.
  uint32_t loops[(cfg::kMaxRouteDepth + 1) * cfg::kVmTemps];
  int32_t tails[cfg::kMaxRouteDepth + 1];  // per route call: a tail while's value (kTailSave)
  VmVal avps[cfg::kMaxScriptAvps];  // the script's slots are set to $null at the start
  int32_t retcode = 1;
  std::string_view ruri;  // the current Request-URI (after rewrites)
  // Scans of message bytes already done this run: the same operand is scanned once.
  struct RegexCache {
    const char* p;
    uint32_t len;
    uint32_t set;
    // RegexMatches' words, without its zeroing initializer: a run starts with n_rx = 0 and
    // fills an entry before reading it, so no run pays for clearing four of them.
    uint64_t m[cfg::kRegexMaxPatterns / 64];
    bool test(uint32_t id) const noexcept { return (m[id >> 6] >> (id & 63)) & 1; }
  };
  RegexCache rx[4];
  uint32_t n_rx = 0;
  // The dispatcher's failover list ($xavp(_dsdst_)): destinations in algorithm order, and the
  // entry in use (ds_next_* moves on).
  int32_t ds_list[kVmDsList];
  uint8_t ds_n = 0;
  uint8_t ds_cur = 0;
  bool failed = false;
  bool cond_failed = false;  // the condition being evaluated hit a failed conversion
  // The current R-URI parsed once (uri == myself, $rU, $rd, sanity_check all read it). Not
  // initialised (a run that reads no URI part does not pay for clearing it): valid once
  // ruri_parsed_for is set (its base is then ruri_parsed_for; a null text is parsed again).
  union {
    UriParts ruri_parts;
  };
  const char* ruri_parsed_for = nullptr;
  const UriParts& cur_ruri() noexcept {
    if (ruri_parsed_for != ruri.data() || ruri_parsed_for == nullptr ||
        ruri_parts_len != ruri.size()) {
      const bool in_msg = ruri.data() >= msg && ruri.data() + ruri.size() <= msg + v.len;
      // parse_text_uri()'s, written in place.
      ruri_parts.uri = sip::Uri{};
      ruri_parts.base = ruri.data();
      ruri_parts.ok = !ruri.empty() && ruri.size() <= UINT16_MAX &&
                      sip::parse_uri(ruri.data(), sip::Span{0, static_cast<uint16_t>(ruri.size())},
                                     ruri_parts.uri,
                                     in_msg ? static_cast<size_t>(msg + v.len - ruri.data()) : 0);
      ruri_parsed_for = ruri.data();
      ruri_parts_len = ruri.size();
    }
    return ruri_parts;
  }
  size_t ruri_parts_len = 0;

  char* alloc(size_t n) noexcept {
    if (n > kVmScratch - used) {
      ++st.scratch_overflow;
      failed = true;
      return nullptr;
    }
    char* p = st.scratch + used;
    used += n;
    return p;
  }
  // A copy in the scratch arena (values that must survive a later $var assignment).
  std::string_view keep(std::string_view s) noexcept {
    char* p = alloc(s.size());
    if (p == nullptr) {
      return {};
    }
    std::memcpy(p, s.data(), s.size());
    return {p, s.size()};
  }
  std::string_view to_str(const VmVal& x) noexcept {
    switch (x.kind) {
      case Kind::kStr:
        return x.s();
      case Kind::kInt: {
        char* p = alloc(24);
        if (p == nullptr) {
          return {};
        }
        const size_t n = format_int(x.i, p);
        used -= 24 - n;
        return {p, n};
      }
      case Kind::kNull:
        break;
    }
    return {};
  }
  bool push(const VmVal& x) noexcept {
    if (sp >= cfg::kVmStackDepth) {
      ++st.stack_overflow;
      failed = true;
      return false;
    }
    stack[sp++] = x;
    return true;
  }
  VmVal pop() noexcept { return sp > 0 ? stack[--sp] : VmVal{}; }
};

// ---- pseudo-variables ----

// From/To: the URI, and the display name.
bool name_addr(const char* msg, sip::Span value, sip::NameAddr& na) noexcept {
  return !value.empty() && sip::parse_name_addr(msg, value, na);
}

// The addr-spec of From or To: the scanner's (SipView::from_uri/to_uri), or parsed again when
// the view has none (a view not filled by scan()). Empty when malformed.
[[gnu::noinline]] sip::Span header_addr_parsed(const char* msg, const sip::SipView& v,
                                               sip::Hdr h) noexcept {
  sip::NameAddr na;
  return name_addr(msg, v[h], na) ? na.uri : sip::Span{};
}
// Inline: the scanner keeps both addr-specs as a rule, and then this is a load (a call was ~35
// instructions of sanity_check's per request); the parse is out of line.
[[gnu::always_inline]] inline sip::Span header_addr(const char* msg, const sip::SipView& v,
                                                    sip::Hdr h) noexcept {
  const sip::Span kept = h == sip::Hdr::kFrom ? v.from_uri : v.to_uri;
  return !kept.empty() ? kept : header_addr_parsed(msg, v, h);
}

VmVal pv_transformed(Run& r, const cfg::PvRef& pv, char* tmp) noexcept;
VmVal pv_extra(Run& r, const cfg::PvRef& pv) noexcept;

// `tmp` (48 bytes) holds numbers and addresses formatted here; the caller copies them.
VmVal pv_get(Run& r, const cfg::PvRef& pv, char* tmp) noexcept {
  if (pv.tr != 0) {
    return pv_transformed(r, pv, tmp);  // dataplane/transform.cpp
  }
  const char* msg = r.msg;
  const sip::SipView& v = r.v;
  const auto ip = [&](uint32_t be) {
    return str_val({tmp, format_ipv4(be, tmp)});
  };
  switch (pv.kind) {
    case PvKind::kNull:
      return {};
    case PvKind::kRuri:
      return r.ruri.empty() ? VmVal{} : str_val(r.ruri);
    case PvKind::kRuriUser:
    case PvKind::kRuriHost:
    case PvKind::kRuriPort:
    case PvKind::kRuriScheme: {
      const UriParts& u = r.cur_ruri();
      if (!u.ok) {
        return {};
      }
      if (pv.kind == PvKind::kRuriUser) {
        return span_val(u.base, u.uri.user);
      }
      if (pv.kind == PvKind::kRuriHost) {
        return span_val(u.base, u.uri.host);
      }
      if (pv.kind == PvKind::kRuriScheme) {
        return span_val(u.base, u.uri.scheme);
      }
      // Kamailio's $rp is a string (`$rp + 1` is "50801"), "5060" when the URI has no port.
      if (!u.uri.port.empty()) {
        return span_val(u.base, u.uri.port);
      }
      return str_val("5060");
    }
    case PvKind::kDuri:
      if (!r.out.du_uri.empty()) {
        return str_val(r.out.du_uri);
      }
      if (r.out.du >= 0 && static_cast<size_t>(r.out.du) < r.snap.destinations.size()) {
        return str_val(r.snap.destinations[static_cast<size_t>(r.out.du)].uri);
      }
      return {};
    case PvKind::kSrcIp:
      if (r.pkt.src_ip6 != nullptr) [[unlikely]] {
        return str_val({tmp, format_ipv6(*reinterpret_cast<const Ip6*>(r.pkt.src_ip6), tmp)});
      }
      return ip(r.pkt.src_ip_be);
    case PvKind::kSrcPort:
      return int_val(r.pkt.src_port);
    case PvKind::kRcvIp:
      if (r.pkt.dst_ip6 != nullptr) [[unlikely]] {
        return str_val({tmp, format_ipv6(*reinterpret_cast<const Ip6*>(r.pkt.dst_ip6), tmp)});
      }
      return ip(r.pkt.dst_ip_be);
    case PvKind::kRcvPort:
      return int_val(r.pkt.dst_port);
    case PvKind::kProto:
      return str_val("udp");
    case PvKind::kXavpDsDst:
    case PvKind::kXavpDsCtx:
    case PvKind::kShv:
      return pv_extra(r, pv);
    case PvKind::kSnd:
      if (r.pkt.snd_port == 0) {
        return {};  // not in onsend_route
      }
      // Kamailio 5.6.3 prints $snd(af) 2 (AF_INET) and $snd(proto) 1 (PROTO_UDP).
      return pv.arg == 0 ? ip(r.pkt.snd_ip_be)
                         : int_val(pv.arg == 1 ? r.pkt.snd_port : pv.arg == 2 ? 2 : 1);
    case PvKind::kAf:
      return int_val(r.pkt.src_ip6 != nullptr ? 6 : 4);
    case PvKind::kMethod:
      return v.is_request ? span_val(msg, v.method_name) : span_val(msg, v.cseq_method);
    case PvKind::kReplyStatus:
      return v.is_request ? VmVal{} : int_val(v.status);
    case PvKind::kReplyReason:
      return v.is_request ? VmVal{} : span_val(msg, v.reason);
    case PvKind::kFromUri:
    case PvKind::kFromUser:
    case PvKind::kFromHost:
    case PvKind::kFromName:
    case PvKind::kToUri:
    case PvKind::kToUser:
    case PvKind::kToHost:
    case PvKind::kToName: {
      const bool from = pv.kind == PvKind::kFromUri || pv.kind == PvKind::kFromUser ||
                        pv.kind == PvKind::kFromHost || pv.kind == PvKind::kFromName;
      const sip::Hdr h = from ? sip::Hdr::kFrom : sip::Hdr::kTo;
      if (pv.kind == PvKind::kFromName || pv.kind == PvKind::kToName) {
        sip::NameAddr na;
        // Kamailio 5.6 keeps a quoted display name's quotes (measured: '"Carol"').
        return name_addr(msg, v[h], na) ? span_val(msg, sip::display_as_written(msg, v.len, na))
                                        : VmVal{};
      }
      const sip::Span addr = header_addr(msg, v, h);
      if (addr.empty()) {
        return {};
      }
      if (pv.kind == PvKind::kFromUri || pv.kind == PvKind::kToUri) {
        return span_val(msg, addr);
      }
      sip::Uri u;
      if (!sip::parse_uri(msg, addr, u, v.len)) {
        return {};
      }
      return span_val(msg, (pv.kind == PvKind::kFromUser || pv.kind == PvKind::kToUser) ? u.user
                                                                                       : u.host);
    }
    case PvKind::kFromTag:
      return span_val(msg, v.from_tag);
    case PvKind::kToTag:
      return span_val(msg, v.to_tag);
    case PvKind::kCallId:
      return span_val(msg, v.call_id);
    case PvKind::kCSeq:
      // A string in Kamailio (`$cs + 1` is "11"); the number as the scanner read it.
      return str_val({tmp, format_int(v.cseq_num, tmp)});
    case PvKind::kMsgLen:
      return int_val(v.len);
    case PvKind::kUserAgent:
      // The scanner's slot (first field, trimmed); no header walk.
      if (v.has_user_agent) {
        return str_val(v[sip::Hdr::kUserAgent].in(msg));  // "" for an empty value
      }
      if (v.hdr_count != 0) {
        return {};  // a scanned message without User-Agent
      }
      [[fallthrough]];
    case PvKind::kHdr: {
      const std::string_view name =
          pv.kind == PvKind::kUserAgent ? std::string_view("User-Agent") : r.prog.strings[pv.arg];
      sip::Span sp;
      if (!find_header(msg, v, name, pv.index, sp)) {
        return VmVal{};
      }
      // maxfwd rewrites the value in the message buffer itself (Kamailio), so a later
      // $hdr(Max-Forwards) reads the decremented (and capped) value: measured by the
      // differential test (script 12).
      if (r.out.maxfwd == VmResult::MaxFwd::kDecrement && sp.off == v.max_forwards_value.off &&
          !v.max_forwards_value.empty()) {
        const size_t n = format_int(r.out.maxfwd_value, tmp);
        return str_val({tmp, n});
      }
      return str_val(sp.in(msg));
    }
    case PvKind::kVar:
      return r.st.vars[pv.arg].v;
    case PvKind::kAvp:
      return r.avps[pv.arg];
    case PvKind::kRetcode:
      return int_val(r.retcode);
  }
  return {};
}

// A pseudo-variable's value that stays valid for the whole run (tmp copied to scratch).
VmVal pv_value(Run& r, const cfg::PvRef& pv) noexcept {
  char tmp[48];
  VmVal x = pv_get(r, pv, tmp);
  if (x.kind == Kind::kInt) {
    x.p = nullptr;  // a transformation's int keeps its text only for format()
    x.len = 0;
  }
  if (x.kind == Kind::kStr && x.p == tmp) {
    const std::string_view k = r.keep(x.s());
    x = str_val(k);
  }
  return x;
}

// ---- transformations (dataplane/transform.cpp), $xavp(_dsdst_), $shv ----

char* tr_alloc(void* ctx, size_t n) noexcept { return static_cast<Run*>(ctx)->alloc(n); }
VmVal tr_pv(void* ctx, uint16_t idx) noexcept {
  Run& r = *static_cast<Run*>(ctx);
  return pv_value(r, r.prog.pvs[idx]);
}

// The pseudo-variable without its transformations, then the chain; $null when one fails.
VmVal pv_transformed(Run& r, const cfg::PvRef& pv, char* tmp) noexcept {
  cfg::PvRef base = pv;
  base.tr = 0;
  VmVal x = pv_get(r, base, tmp);
  if (x.kind == Kind::kStr && x.p >= tmp && x.p < tmp + 48) {
    x = str_val(r.keep(x.s()));  // results may be slices of it: off the caller's buffer
  }
  if (r.failed || pv.tr > r.prog.trs.size()) {
    return {};
  }
  const TrEnv env{&r, tr_alloc, tr_pv};
  return tr_apply(r.prog, r.prog.trs[pv.tr - 1u], x, env);
}

// $xavp(_dsdst_=>sock): the socket= attribute as proto:addr:port (Kamailio 5.6.3 prints a
// pointer instead: cfg/program.hpp); absent without one, as in Kamailio. Out of line: rare.
[[gnu::noinline]] VmVal dst_socket(Run& r, const Destination& d) noexcept {
  if (d.socket < 0 || static_cast<size_t>(d.socket) >= r.snap.listeners.size()) {
    return {};
  }
  const Listener& l = r.snap.listeners[static_cast<size_t>(d.socket)];
  static constexpr size_t kMax = 4 + 2 + 40 + 1 + 5;  // udp: [v6] : port
  char* p = r.alloc(kMax);
  if (p == nullptr) {
    return {};
  }
  size_t n = 0;
  std::memcpy(p, "udp:", 4);
  n += 4;
  if (l.v6) {
    p[n++] = '[';
    n += format_ipv6(l.ip6, p + n);
    p[n++] = ']';
  } else {
    n += format_ipv4(l.ip_be, p + n);
  }
  p[n++] = ':';
  n += format_int(rte_be_to_cpu_16(l.port_be), p + n);
  r.used -= kMax - n;
  return str_val({p, n});
}

// $xavp(_dsdst_[N]=>field): Kamailio's ds_next_dst removes the entry in use, so entry 0 is
// always the current destination; $xavp(_dsctx_=>cnt): how many the selection kept.
VmVal pv_extra(Run& r, const cfg::PvRef& pv) noexcept {
  if (pv.kind == PvKind::kShv) {
    // $shv(name): a consistent copy of what was last set (pv.shvSet, a script: cfg/program.hpp).
    const cfg::ShvTable* t = r.prog.shv.get();
    if (t == nullptr || pv.arg >= t->names.size()) {
      return {};
    }
    char* buf = r.alloc(cfg::kShvLen);
    if (buf == nullptr) {
      return {};
    }
    bool is_int = true;
    bool null = false;
    int64_t i = 0;
    uint32_t len = 0;
    t->get(pv.arg, is_int, i, buf, len, &null);
    if (is_int) {
      r.used -= cfg::kShvLen;
      return null ? VmVal{} : int_val(i);
    }
    r.used -= cfg::kShvLen - len;
    return str_val({buf, len});
  }
  // Without the failover flag (modparam flags 2) Kamailio keeps no list: _dsdst_ is absent and
  // _dsctx_=>cnt is 0 (measured, 5.6.3).
  if (pv.kind == PvKind::kXavpDsCtx) {
    return r.ds_n == 0 || !r.snap.dispatcher.xavp_ctx_cnt
               ? VmVal{}
               : int_val(r.snap.dispatcher.failover ? r.ds_n : 0);
  }
  const size_t at = size_t{r.ds_cur} + static_cast<size_t>(pv.index);
  if (!r.snap.dispatcher.failover || pv.index < 0 || at >= r.ds_n) {
    return {};
  }
  const Destination& d = r.snap.destinations[static_cast<size_t>(r.ds_list[at])];
  switch (static_cast<cfg::XavpDsField>(pv.arg)) {
    case cfg::XavpDsField::kUri:
      return str_val(d.uri);
    case cfg::XavpDsField::kGrp:
      return int_val(d.set);
    case cfg::XavpDsField::kDstId:
      // Kamailio fills dstid (the duid attribute) for the call-load algorithm (10) only, which
      // viaduct does not run (measured, 5.6.3: $null after algorithms 0-5 and 7).
      return {};
    case cfg::XavpDsField::kAttrs:
      return d.attrs.empty() || !r.snap.dispatcher.xavp_dst_attrs ? VmVal{} : str_val(d.attrs);
    case cfg::XavpDsField::kSock:
      return dst_socket(r, d);
  }
  return {};
}

// Appends a value's text at the end of the scratch arena (used by format()).
bool append(Run& r, std::string_view s) noexcept {
  char* p = r.alloc(s.size());
  if (p == nullptr) {
    return false;
  }
  std::memcpy(p, s.data(), s.size());
  return true;
}

// A format string ("sip:$rU@$rd"): the parts written one after the other into the arena.
VmVal format(Run& r, const cfg::Fmt& f) noexcept {
  const size_t start = r.used;
  for (const cfg::FmtPart& part : f.parts) {
    if (!part.is_pv) {
      if (!append(r, r.prog.strings[part.idx])) {
        return {};
      }
      continue;
    }
    char tmp[48];
    const cfg::PvRef& pr = r.prog.pvs[part.idx];
    if (pr.tr != 0 || pr.kind == PvKind::kShv ||
        (pr.kind == PvKind::kXavpDsDst && pr.arg == static_cast<uint16_t>(cfg::XavpDsField::kSock)))
        [[unlikely]] {
      // Transformations (and $shv's copy, the _dsdst_ socket's text) build their results in
      // the arena, past this format's end: the text is moved down to where this part goes.
      const size_t mark = r.used;
      const VmVal x = pv_get(r, r.prog.pvs[part.idx], tmp);
      if (r.failed) {
        return {};
      }
      std::string_view t;
      if (x.kind == Kind::kStr || (x.kind == Kind::kInt && x.p != nullptr)) {
        t = x.s();  // an int that keeps its text (s.int, uri.port) prints that text
      } else if (x.kind == Kind::kInt) {
        t = {tmp, format_int(x.i, tmp)};
      }
      r.used = mark;
      char* p = r.alloc(t.size());
      if (p == nullptr) {
        return {};
      }
      if (!t.empty()) {
        std::memmove(p, t.data(), t.size());
      }
      continue;
    }
    const VmVal x = pv_get(r, r.prog.pvs[part.idx], tmp);
    bool ok = true;
    switch (x.kind) {
      case Kind::kStr:
        ok = append(r, x.s());
        break;
      case Kind::kInt: {
        const size_t n = format_int(x.i, tmp);
        ok = append(r, {tmp, n});
        break;
      }
      case Kind::kNull:
        // xlog prints $null as <null>; a failed transformation prints nothing (measured).
        ok = r.prog.pvs[part.idx].tr != 0 || append(r, "<null>");
        break;
    }
    if (!ok) {
      return {};
    }
  }
  return str_val({r.st.scratch + start, r.used - start});
}

VmVal operand(Run& r, const cfg::Operand& o) noexcept {
  switch (o.kind) {
    case cfg::Operand::Kind::kInt:
      return int_val(o.i);
    case cfg::Operand::Kind::kStr:
      return str_val(r.prog.strings[o.idx]);
    case cfg::Operand::Kind::kPv:
      return pv_value(r, r.prog.pvs[o.idx]);
    case cfg::Operand::Kind::kFmt:
      return format(r, r.prog.fmts[o.idx]);
    case cfg::Operand::Kind::kNone:
      break;
  }
  return {};
}

// ---- operators (Kamailio's typing: the left operand decides, undef takes the right's type) ----

// String equality (the only string comparison Kamailio's == and != make): lengths first, so a
// switch on $rm compares bytes with its one case of the same length.
bool equal_str(std::string_view a, std::string_view b) noexcept {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size()) == 0);
}

// Kamailio 5.6, measured (rvalue.c): a string converts to an int when it is a number; "abc"
// converts to 0 with a warning; "" and $null values are 0 in ==, != and the orderings (the
// constants $null and "" on the right of == and != are CmpOp::kEqNull & co). For ieq and ine
// "" does not convert at all: the comparison fails, and the condition it is in is false,
// negated or not.
enum class Conv : uint8_t { kOk, kFail };
int64_t to_int_cmp(const VmVal& x, bool empty_fails, Conv& conv) noexcept {
  switch (x.kind) {
    case Kind::kInt:
      return x.i;
    case Kind::kStr:
      if (x.len == 0 && empty_fails) {
        conv = Conv::kFail;
      }
      return str_to_int(x.s());
    case Kind::kNull:
      return 0;
  }
  return 0;
}

// rc for l OP r: 1, -1, or 0 meaning "the comparison failed" (the caller makes it false).
int32_t compare(Run& r, cfg::CmpOp op, VmVal l, VmVal rv) noexcept {
  using cfg::CmpOp;
  Conv conv = Conv::kOk;
  const auto result = [&](bool b) -> int32_t {
    return conv == Conv::kFail ? 0 : (b ? 1 : -1);
  };
  switch (op) {
    case CmpOp::kStrEq:
    case CmpOp::kStrNe: {
      const bool eq = equal_str(r.to_str(l), r.to_str(rv));
      return result(op == CmpOp::kStrEq ? eq : !eq);
    }
    case CmpOp::kIntEq:
    case CmpOp::kIntNe: {
      const bool eq = to_int_cmp(l, true, conv) == to_int_cmp(rv, true, conv);
      return result(op == CmpOp::kIntEq ? eq : !eq);
    }
    case CmpOp::kLt:
    case CmpOp::kLe:
    case CmpOp::kGt:
    case CmpOp::kGe: {
      // Ordering is always on integers ("10" > 9 is true in Kamailio).
      const int64_t a = to_int_cmp(l, false, conv);
      const int64_t b = to_int_cmp(rv, false, conv);
      switch (op) {
        case CmpOp::kLt:
          return result(a < b);
        case CmpOp::kLe:
          return result(a <= b);
        case CmpOp::kGt:
          return result(a > b);
        default:
          return result(a >= b);
      }
    }
    case CmpOp::kEqNoCase:
    case CmpOp::kNeNoCase: {
      const bool eq = iequal(r.to_str(l), r.to_str(rv));
      return result(op == CmpOp::kEqNoCase ? eq : !eq);
    }
    case CmpOp::kEqNull:
    case CmpOp::kNeNull:
      return (l.kind == Kind::kNull) == (op == CmpOp::kEqNull) ? 1 : -1;
    case CmpOp::kEqEmpty:
    case CmpOp::kNeEmpty:
      if (l.kind == Kind::kInt) {
        return op == CmpOp::kNeEmpty && l.i != 0 ? 1 : -1;
      }
      op = op == CmpOp::kEqEmpty ? CmpOp::kEq : CmpOp::kNe;
      break;
    case CmpOp::kEq:
    case CmpOp::kNe:
      break;
  }
  // == and !=: the left operand's type decides; undef takes the right's type.
  bool eq = false;
  if (l.kind == Kind::kNull) {
    if (rv.kind == Kind::kNull) {
      eq = true;  // undef == undef
    } else if (rv.kind == Kind::kInt) {
      eq = rv.i == 0;
    } else {
      eq = rv.len == 0;
    }
  } else if (l.kind == Kind::kInt) {
    eq = l.i == to_int_cmp(rv, false, conv);
  } else {
    eq = equal_str(l.s(), r.to_str(rv));
  }
  return result(op == CmpOp::kEq ? eq : !eq);
}

bool binary(Run& r, cfg::BinOp op, VmVal l, VmVal rv, VmVal& res) noexcept {
  using cfg::BinOp;
  if (op == BinOp::kAdd && l.kind != Kind::kInt) {
    // String concatenation (undef + x is "" + x).
    const std::string_view a = r.to_str(l);
    const std::string_view b = r.to_str(rv);
    if (r.failed) {
      return false;
    }
    char* p = r.alloc(a.size() + b.size());
    if (p == nullptr) {
      return false;
    }
    if (!a.empty()) {
      std::memcpy(p, a.data(), a.size());
    }
    if (!b.empty()) {
      std::memcpy(p + a.size(), b.data(), b.size());
    }
    res = str_val({p, a.size() + b.size()});
    return true;
  }
  // Integers are 32-bit in Kamailio.
  const auto a = static_cast<int32_t>(to_int(l));
  const auto b = static_cast<int32_t>(to_int(rv));
  int64_t x = 0;
  switch (op) {
    case BinOp::kAdd:
      x = static_cast<int32_t>(static_cast<uint32_t>(a) + static_cast<uint32_t>(b));
      break;
    case BinOp::kSub:
      x = static_cast<int32_t>(static_cast<uint32_t>(a) - static_cast<uint32_t>(b));
      break;
    case BinOp::kMul:
      x = static_cast<int32_t>(static_cast<uint32_t>(a) * static_cast<uint32_t>(b));
      break;
    case BinOp::kDiv:
    case BinOp::kMod:
      if (b == 0 || (a == INT32_MIN && b == -1)) {
        ++r.st.other_errors;  // Kamailio: "division by 0", the expression fails
        r.failed = true;
        return false;
      }
      x = op == BinOp::kDiv ? a / b : a % b;
      break;
    case BinOp::kBitAnd:
      x = a & b;
      break;
    case BinOp::kBitOr:
      x = a | b;
      break;
    case BinOp::kBitXor:
      x = a ^ b;
      break;
    case BinOp::kShl:
      x = static_cast<int32_t>(static_cast<uint32_t>(a) << (static_cast<uint32_t>(b) & 31u));
      break;
    case BinOp::kShr:
      x = a >> (static_cast<uint32_t>(b) & 31u);
      break;
  }
  res = int_val(x);
  return true;
}

VmVal unary(Run& r, cfg::UnOp op, VmVal x) noexcept {
  using cfg::UnOp;
  switch (op) {
    case UnOp::kNeg:
      return int_val(-static_cast<int32_t>(to_int(x)));
    case UnOp::kBitNot:
      return int_val(~static_cast<int32_t>(to_int(x)));
    case UnOp::kLogNot:  // C's `!` on a value (Kamailio: !-2 is 0); a call's is kPushBool's
      return int_val(to_int(x) == 0 ? 1 : 0);
    case UnOp::kDefined:
      return int_val(x.kind != Kind::kNull ? 1 : 0);
    case UnOp::kStrlen:
      return int_val(static_cast<int64_t>(r.to_str(x).size()));
    case UnOp::kStrempty:
      return int_val(r.to_str(x).empty() ? 1 : 0);
    case UnOp::kToInt:
      return int_val(to_int(x));
    case UnOp::kToStr:
      return x.kind == Kind::kStr ? x : str_val(r.to_str(x));
  }
  return {};
}

// ---- regular expressions ----


// Pattern `id` of set `set` against `subject`: one scan per (set, subject) per run when the
// subject is message bytes (they do not change during the run: r.rx), and one per worker while
// a subject of up to kRegexMemoText bytes stays in the memo (st.rx_memo). The answer is read
// where it lies (the memo slot, r.rx): a miss scans into its memo slot, and no RegexMatches is
// copied but into r.rx.
int32_t regex_match(Run& r, uint32_t set, uint32_t id, std::string_view subject) noexcept {
  const cfg::RegexTables* t = r.prog.regex.get();
  if (t == nullptr || set >= t->sets.size() || r.pkt.worker >= t->pool.workers()) [[unlikely]] {
    ++r.st.regex_errors;
    r.failed = true;
    return -1;
  }
  const cfg::RegexSet& rs = t->sets[set];
  if (subject.empty()) {  // an absent header, usually: the set knows that answer
    if (const cfg::RegexMatches* e = rs.empty_matches(); e != nullptr) {
      return e->test(id) ? 1 : -1;
    }
  }
  const bool in_msg = subject.data() >= r.msg && subject.data() + subject.size() <= r.msg + r.v.len;
  if (in_msg) {
    for (uint32_t i = 0; i < r.n_rx; ++i) {
      const Run::RegexCache& c = r.rx[i];
      if (c.set == set && c.p == subject.data() && c.len == subject.size()) {
        return c.test(id) ? 1 : -1;
      }
    }
  }
  // The answer `m`, remembered for the run when the subject is message bytes.
  const auto answer = [&](const cfg::RegexMatches& m) {
    if (in_msg) {
      Run::RegexCache& c = r.rx[r.n_rx < std::size(r.rx) ? r.n_rx++ : 0];
      c.p = subject.data();
      c.len = static_cast<uint32_t>(subject.size());
      c.set = set;
      static_assert(sizeof(c.m) == sizeof(m.words));
      std::memcpy(c.m, m.words.data(), sizeof(c.m));
    }
    return m.test(id) ? 1 : -1;
  };
  VmState& st = r.st;
  hs_scratch* const scratch = t->pool.get(r.pkt.worker);
  // An empty operand (an absent header) is answered by the set itself, precomputed. The memo
  // serves literal sets too (cfg/regex_literal.hpp): a hit costs less than even their scan
  // (perf/RESULTS.md, 2026-11-23).
  if (subject.empty() || subject.size() > kRegexMemoText) [[unlikely]] {
    cfg::RegexMatches m;
    st.regex_memo_misses += subject.empty() ? 0 : 1;
    if (!rs.scan(subject, scratch, m)) {
      ++st.regex_errors;
      r.failed = true;
      return -1;
    }
    return answer(m);
  }
  if (st.rx_memo_gen != r.snap.generation || st.rx_memo_prog != &r.prog || st.rx_epoch == 0)
      [[unlikely]] {
    st.rx_memo_gen = r.snap.generation;
    st.rx_memo_prog = &r.prog;
    st.rx_epoch = st.rx_epoch + 1 != 0 ? st.rx_epoch + 1 : 1;
  }
  RegexMemo& memo = st.rx_memo[memo_slot(subject.data(), subject.size(), set)];
  if (memo.epoch == st.rx_epoch && memo.set == set && memo.len == subject.size() &&
      memo_text_equal(memo.text, subject.data(), subject.size())) {
    ++st.regex_memo_hits;
    return answer(memo.m);
  }
  ++st.regex_memo_misses;
  // The slot is replaced: invalid until its new answer and text are in place.
  memo.epoch = 0;
  if (!rs.scan(subject, scratch, memo.m)) {
    ++st.regex_errors;
    r.failed = true;
    return -1;
  }
  memo.epoch = st.rx_epoch;
  memo.set = set;
  memo.len = static_cast<uint32_t>(subject.size());
  memo_text_copy(memo.text, subject.data(), subject.size());
  return answer(memo.m);
}

// ---- R-URI edits ----

// Sets the current R-URI (and the one the pipeline writes).
void set_ruri(Run& r, std::string_view uri) noexcept {
  r.ruri = uri;
  r.out.new_ruri = uri;
}

// Rebuilds the R-URI with some parts replaced (a null data() keeps that part; an empty user
// removes it).
// kHostAll (Kamailio's SET_HOSTALL_T, ds_select_domain's): the value replaces host, port,
// parameters and headers.
enum class UriPart : uint8_t { kUser, kHost, kPort, kHostPort, kHostAll };
int32_t rewrite_part(Run& r, UriPart part, std::string_view value) noexcept {
  const UriParts u = r.cur_ruri();
  if (!u.ok) {
    return -1;
  }
  const char* b = u.base;
  const sip::Uri& x = u.uri;
  const std::string_view scheme = x.scheme.in(b);
  std::string_view user = x.user.in(b);
  std::string_view pass = x.password.in(b);
  std::string_view host = x.host.in(b);
  std::string_view port = x.port.in(b);
  switch (part) {
    case UriPart::kUser:
      user = value;
      if (user.empty()) {
        pass = {};
      }
      break;
    case UriPart::kHost:
      host = value;
      break;
    case UriPart::kPort:
      port = value;
      break;
    case UriPart::kHostPort:
    case UriPart::kHostAll:
      host = value;  // "host:port" as one piece (kHostAll: with parameters and headers)
      port = {};
      break;
  }
  // Everything after host[:port] (params, headers) is kept as written, but by kHostAll.
  const uint32_t tail_off = x.port.empty() ? x.host.end() : x.port.end();
  const std::string_view tail =
      part == UriPart::kHostAll ? std::string_view{} : r.ruri.substr(tail_off);
  const size_t n = scheme.size() + 1 + user.size() + (pass.empty() ? 0 : pass.size() + 1) +
                   (user.empty() ? 0 : 1) + host.size() + (port.empty() ? 0 : port.size() + 1) +
                   tail.size();
  char* p = r.alloc(n);
  if (p == nullptr) {
    return -1;
  }
  size_t k = 0;
  const auto put = [&](std::string_view s) {
    if (!s.empty()) {  // an empty view may have no data (kHostAll's tail): memcpy wants one
      std::memcpy(p + k, s.data(), s.size());
      k += s.size();
    }
  };
  put(scheme);
  put(":");
  if (!user.empty()) {
    put(user);
    if (!pass.empty()) {
      put(":");
      put(pass);
    }
    put("@");
  }
  put(host);
  if (!port.empty()) {
    put(":");
    put(port);
  }
  put(tail);
  set_ruri(r, {p, k});
  return 1;
}

// ---- functions: one run hook per Fn (cfg/builtins.cpp has the table rows) ----

using FnHook = int32_t (*)(Run&, const cfg::FnCall&) noexcept;

int32_t send_reply(Run& r, uint16_t code, std::string_view reason) noexcept {
  if (r.out.action != VmResult::Action::kNone || r.v.method == sip::Method::kAck) {
    return -1;  // sl does not answer an ACK; one send per run
  }
  r.out.action = VmResult::Action::kReply;
  r.out.reply_code = code;
  r.out.reply_reason = reason;
  return 1;
}

int32_t fn_send_reply(Run& r, const cfg::FnCall& c) noexcept {
  const int64_t code = to_int(operand(r, c.args[0]));
  if (code < 100 || code > 699) {
    return -1;
  }
  const VmVal reason = operand(r, c.args[1]);
  std::string_view text = r.to_str(reason);
  if (reason.kind == Kind::kStr && c.args[1].kind == cfg::Operand::Kind::kPv) {
    text = r.keep(text);  // a $var may change before the pipeline reads it
  }
  return send_reply(r, static_cast<uint16_t>(code), text);
}

int32_t fn_forward_to(Run& r, const cfg::FnCall& c) noexcept {
  if (r.out.action != VmResult::Action::kNone) {
    return -1;
  }
  std::string_view uri;
  if (c.aux == 0) {
    uri = r.prog.strings[c.args[0].idx];  // "sip:host[:port]" built by the compiler
  } else {
    const std::string_view host = r.to_str(operand(r, c.args[0]));
    const int64_t port = c.nargs > 1 ? to_int(operand(r, c.args[1])) : 0;
    if (host.empty() || port < 0 || port > 65535 || r.failed) {
      return -1;
    }
    char num[24];
    const size_t pn = port != 0 ? format_int(port, num) : 0;
    char* p = r.alloc(4 + host.size() + (pn != 0 ? pn + 1 : 0));
    if (p == nullptr) {
      return -1;
    }
    size_t k = 0;
    std::memcpy(p, "sip:", 4);
    k += 4;
    std::memcpy(p + k, host.data(), host.size());
    k += host.size();
    if (pn != 0) {
      p[k++] = ':';
      std::memcpy(p + k, num, pn);
      k += pn;
    }
    uri = {p, k};
  }
  // forward(host, port) sends there without touching $du; the pipeline reads du_uri.
  r.out.du_uri = uri;
  r.out.du = -1;
  r.out.action = VmResult::Action::kForward;
  return 1;
}

int32_t fn_setflag(Run& r, const cfg::FnCall& c) noexcept {
  r.out.flags |= 1u << (static_cast<uint32_t>(c.args[0].i) & 31u);
  return 1;
}
int32_t fn_resetflag(Run& r, const cfg::FnCall& c) noexcept {
  r.out.flags &= ~(1u << (static_cast<uint32_t>(c.args[0].i) & 31u));
  return 1;
}
int32_t fn_isflagset(Run& r, const cfg::FnCall& c) noexcept {
  return (r.out.flags >> (static_cast<uint32_t>(c.args[0].i) & 31u)) & 1u ? 1 : -1;
}
int32_t fn_force_rport(Run& r, const cfg::FnCall&) noexcept {
  r.out.force_rport = true;
  return 1;
}
int32_t fn_add_local_rport(Run& r, const cfg::FnCall&) noexcept {
  r.out.add_local_rport = true;
  return 1;
}
int32_t fn_set_adv_address(Run& r, const cfg::FnCall& c) noexcept {
  r.out.adv_addr = r.prog.strings[c.args[0].idx];
  return 1;
}
int32_t fn_set_adv_port(Run& r, const cfg::FnCall& c) noexcept {
  r.out.adv_port = static_cast<uint16_t>(c.args[0].i);
  return 1;
}
int32_t fn_udp_mtu_try_proto(Run& r, const cfg::FnCall&) noexcept {
  r.out.mtu_try_proto = true;
  return 1;
}
int32_t fn_force_send_socket(Run& r, const cfg::FnCall& c) noexcept {
  r.out.send_socket = static_cast<int16_t>(c.aux);
  return 1;
}
int32_t fn_sethost(Run& r, const cfg::FnCall& c) noexcept {
  return rewrite_part(r, UriPart::kHost, r.to_str(operand(r, c.args[0])));
}
int32_t fn_setport(Run& r, const cfg::FnCall& c) noexcept {
  return rewrite_part(r, UriPart::kPort, r.to_str(operand(r, c.args[0])));
}
int32_t fn_setuser(Run& r, const cfg::FnCall& c) noexcept {
  return rewrite_part(r, UriPart::kUser, r.to_str(operand(r, c.args[0])));
}
int32_t fn_rewritehostport(Run& r, const cfg::FnCall& c) noexcept {
  return rewrite_part(r, UriPart::kHostPort, r.to_str(operand(r, c.args[0])));
}
int32_t fn_rewriteuri(Run& r, const cfg::FnCall& c) noexcept {
  const std::string_view uri = r.keep(r.to_str(operand(r, c.args[0])));
  if (uri.empty() || !parse_text_uri(uri).ok) {
    return -1;
  }
  set_ruri(r, uri);
  return 1;
}
int32_t fn_prefix(Run& r, const cfg::FnCall& c) noexcept {
  const std::string_view pre = r.to_str(operand(r, c.args[0]));
  const UriParts u = r.cur_ruri();
  if (!u.ok || r.failed) {
    return -1;
  }
  const std::string_view user = u.uri.user.in(u.base);
  char* p = r.alloc(pre.size() + user.size());
  if (p == nullptr) {
    return -1;
  }
  std::memcpy(p, pre.data(), pre.size());
  std::memcpy(p + pre.size(), user.data(), user.size());
  return rewrite_part(r, UriPart::kUser, {p, pre.size() + user.size()});
}
int32_t fn_strip(Run& r, const cfg::FnCall& c) noexcept {
  const int64_t n = to_int(operand(r, c.args[0]));
  const UriParts u = r.cur_ruri();
  if (!u.ok || n < 0) {
    return -1;
  }
  std::string_view user = u.uri.user.in(u.base);
  // Past the user's length Kamailio 5.6 logs "too long strip asked; deleting username" and
  // removes it all, '@' included, and the action succeeds (measured: differential script 29).
  user.remove_prefix(std::min(static_cast<size_t>(n), user.size()));
  return rewrite_part(r, UriPart::kUser, user);
}
int32_t fn_revert_uri(Run& r, const cfg::FnCall&) noexcept {
  r.ruri = r.v.ruri.in(r.msg);
  r.out.new_ruri = {};
  return 1;
}
int32_t fn_has_totag(Run& r, const cfg::FnCall&) noexcept {
  return r.v.to_tag.empty() ? -1 : 1;
}
int32_t fn_is_present_hf(Run& r, const cfg::FnCall& c) noexcept {
  sip::Span sp;
  return find_header(r.msg, r.v, r.prog.strings[c.args[0].idx], 0, sp) ? 1 : -1;
}
// The header line of append_hf/insert_hf (its first argument), kept for the pipeline; empty
// when there is none.
std::string_view header_line_arg(Run& r, const cfg::FnCall& c) noexcept {
  const std::string_view text = r.to_str(operand(r, c.args[0]));
  return c.args[0].kind == cfg::Operand::Kind::kPv ? r.keep(text) : text;
}
// One append_hf/insert_hf line into VmResult: `at` its offset (0: after the last header),
// `top` above every header field (insert_hf without a field to go before). The first
// kVmMaxAppend lines get a record each (one edit each). Past them a line joins the last record
// that goes to the same place, right after its text (moved to the top of the run's arena when
// something else was allocated since), so the number of lines is bounded by the arena
// (kVmScratch) and by the room of the message (sip::kMaxMessage with everything added), not
// by a count. A line that fits neither, or finds no record to join (insert_hf on top after
// Max-Forwards or Record-Route took the next place), is a counted failure: false, the
// function returns -1 and the run goes on (Kamailio fails such a call when it has no memory).
// Two texts of the arena or the program as one, in the arena (no copy when `b` follows `a`
// there already); empty when the arena is full.
std::string_view join_lines(Run& r, std::string_view a, std::string_view b) noexcept {
  const char* top_of_arena = r.st.scratch + r.used;
  if (a.data() + a.size() == b.data() && b.data() + b.size() <= top_of_arena &&
      b.data() >= r.st.scratch) {
    return {a.data(), a.size() + b.size()};
  }
  const bool a_on_top = a.data() + a.size() == top_of_arena && a.data() >= r.st.scratch;
  const size_t need = (a_on_top ? 0 : a.size()) + b.size();
  if (need > kVmScratch - r.used) {
    return {};
  }
  char* p = r.alloc(need);
  const char* start = a_on_top ? a.data() : p;
  if (!a_on_top) {
    std::memcpy(p, a.data(), a.size());
    p += a.size();
  }
  std::memcpy(p, b.data(), b.size());
  return {start, a.size() + b.size()};
}
// With every record in use: two records that go to the same place one after the other (the
// same field offset, or consecutive places on top) become one, which frees a record.
bool free_header_record(Run& r) noexcept {
  VmResult& o = r.out;
  for (size_t j = 0; j < o.n_append; ++j) {
    for (size_t k = j + 1; k < o.n_append; ++k) {
      const bool pair = o.append_top[j] == 0
                            ? o.append_top[k] == 0 && o.append_at[k] == o.append_at[j]
                            : o.append_top[k] == o.append_top[j] + 1;
      if (!pair) {
        continue;
      }
      const std::string_view both = join_lines(r, o.append_hf[j], o.append_hf[k]);
      if (both.empty()) {
        return false;
      }
      o.append_hf[j] = both;
      for (size_t m = k + 1; m < o.n_append; ++m) {
        o.append_hf[m - 1] = o.append_hf[m];
        o.append_at[m - 1] = o.append_at[m];
        o.append_top[m - 1] = o.append_top[m];
      }
      --o.n_append;
      return true;
    }
  }
  return false;
}
bool add_header_line(Run& r, std::string_view text, uint16_t at, bool top, size_t mark) noexcept {
  VmResult& o = r.out;
  size_t added = text.size();
  for (size_t i = 0; i < o.n_append; ++i) {
    added += o.append_hf[i].size();
  }
  if (r.v.len + added > sip::kMaxMessage) {
    ++r.st.other_errors;
    return false;
  }
  if (o.n_append < kVmMaxAppend) {
    const uint8_t i = o.n_append++;
    o.append_at[i] = at;
    o.append_top[i] = top ? ++o.n_top : 0;
    o.append_hf[i] = text;
    return true;
  }
  // The last record going to the same place takes the line after its own text.
  for (size_t j = o.n_append; j-- > 0;) {
    const bool same = top ? o.append_top[j] != 0 && o.append_top[j] == o.n_top
                          : o.append_top[j] == 0 && o.append_at[j] == at;
    if (!same) {
      continue;
    }
    const std::string_view old = o.append_hf[j];
    if (old.data() + old.size() == r.st.scratch + mark && text.size() <= kVmScratch - mark) {
      // The record's text ends where this call's arena use began (a loop of append_hf): the
      // line moves down to follow it and the call's temporaries are given back, so n lines
      // cost their own bytes, not n copies of the record.
      std::memmove(r.st.scratch + mark, text.data(), text.size());
      r.used = mark + text.size();
      o.append_hf[j] = {old.data(), old.size() + text.size()};
      return true;
    }
    const std::string_view both = join_lines(r, old, text);
    if (both.empty()) {
      break;
    }
    o.append_hf[j] = both;
    return true;
  }
  // Else a record is freed by joining two others, and the line gets it.
  if (free_header_record(r)) {
    const uint8_t i = o.n_append++;
    o.append_at[i] = at;
    o.append_top[i] = top ? ++o.n_top : 0;
    o.append_hf[i] = text;
    return true;
  }
  ++r.st.other_errors;  // the arena is full, or no two records go to one place
  return false;
}
int32_t fn_append_hf(Run& r, const cfg::FnCall& c) noexcept {
  const size_t mark = r.used;  // what this call allocates above it is its own
  const std::string_view text = header_line_arg(r, c);
  if (text.empty()) {
    return -1;
  }
  sip::Span at;
  const uint16_t off =
      c.nargs > 1 && find_header(r.msg, r.v, r.prog.strings[c.args[1].idx], -1, at)
          ? static_cast<uint16_t>(field_end(r.msg + at.off, r.msg + r.v.headers_end) - r.msg)
          : 0;
  return add_header_line(r, text, off, false, mark) ? 1 : -1;
}
// textops insert_hf(line[, name]): before the first field named `name`, else (no name, or no
// such field) on top, in script order with Max-Forwards and Record-Route (VmResult).
int32_t fn_insert_hf(Run& r, const cfg::FnCall& c) noexcept {
  const size_t mark = r.used;
  const std::string_view text = header_line_arg(r, c);
  if (text.empty()) {
    return -1;
  }
  sip::Span at;
  if (c.nargs > 1 && find_header(r.msg, r.v, r.prog.strings[c.args[1].idx], 0, at)) {
    const char* p = r.msg + at.off;
    while (p > r.msg && p[-1] != '\n') {
      --p;  // back to the start of the field's line
    }
    return add_header_line(r, text, static_cast<uint16_t>(p - r.msg), false, mark) ? 1 : -1;
  }
  return add_header_line(r, text, 0, true, mark) ? 1 : -1;
}
int32_t fn_remove_hf(Run& r, const cfg::FnCall& c) noexcept {
  const std::string_view name = r.prog.strings[c.args[0].idx];
  sip::Span sp;
  uint32_t n = 0;
  find_header(r.msg, r.v, name, -1, sp, &n);
  if (n == 0) {
    return -1;  // textops: nothing removed
  }
  if (r.out.n_remove >= kVmMaxRemove) {
    ++r.st.other_errors;
    return -1;
  }
  r.out.remove_hf[r.out.n_remove++] = name;
  return static_cast<int32_t>(n);
}
int32_t fn_record_route(Run& r, const cfg::FnCall& c) noexcept {
  if (!r.out.record_route) {
    r.out.rr_seq = ++r.out.n_top;  // its place among what goes on top
  }
  r.out.record_route = true;
  if (c.nargs > 0) {
    r.out.rr_params = r.keep(r.to_str(operand(r, c.args[0])));
  }
  return 1;
}

// rr's loose_route, stateless, as Kamailio 5.6.3's rr module does it (RFC 3261 16.4, 16.6
// step 6):
// - after a loose router (the usual case): the top Route is ours -> it goes (with the value
//   after it when it is our double Record-Route's, ;r2=on); the Route then on top is the next
//   hop. No Route -> -1; only our Route(s) on a request without To-tag -> -1 (after removing
//   them). A next hop without ;lr is a strict router: its URI becomes the R-URI, its value goes,
//   and the R-URI as received is kept in a "Route: <...>" line after the last header.
// - after a strict router (an in-dialog request whose R-URI is ours): the top Route (past our
//   double Record-Route's value) is the next hop. Without ;lr it becomes the R-URI and goes;
//   with ;lr it is the destination and the last Route value moves back into the R-URI (the
//   remote target the strict router had put there), removed from the Route set.
// A URI with a maddr parameter is taken as "sip:" maddr [":" port] (rr's get_maddr_uri).
// A Route value and where it is: the value (from its start to its field's value end), parsed,
// and the number of its Route field (0 is the first).
struct RouteAt {
  sip::Span val;
  sip::NameAddr na;
  int field = 0;
};

// Moves `at` to the next Route value: after a comma in its field, else the next Route field's
// first. False (at unchanged) when there is none or it does not parse.
bool next_route(const Run& r, RouteAt& at) noexcept {
  sip::Span next;
  int field = at.field;
  if (at.na.end < at.val.end()) {
    uint16_t off = static_cast<uint16_t>(at.na.end + 1);
    while (off < at.val.end() && (r.msg[off] == ' ' || r.msg[off] == '\t')) {
      ++off;
    }
    next = sip::Span{off, static_cast<uint16_t>(at.val.end() - off)};
  } else {
    ++field;
    find_header(r.msg, r.v, "Route", field, next);
  }
  sip::NameAddr na;
  if (next.empty() || !sip::parse_name_addr(r.msg, next, na)) {
    return false;
  }
  at = RouteAt{next, na, field};
  return true;
}

// A Route value's URI as rr reads it, parsed once (in place: Route values are in the message):
// ours (check_self_uri), ours for a double Record-Route (;r2=on), a strict router (is_strict: no
// lr parameter; a URI that does not parse is taken as loose, and then fails as the destination
// on its own), and its maddr parameter (get_maddr_uri).
struct RouteUri {
  std::string_view text;
  bool mine = false;
  bool r2 = false;
  bool strict = false;
  std::string_view maddr;  // the value; null data(): no maddr parameter
  std::string_view port;
};
RouteUri route_uri(const Run& r, sip::Span uri) noexcept {
  RouteUri h;
  h.text = uri.in(r.msg);
  sip::Uri u;
  if (!sip::parse_uri(r.msg, uri, u, r.v.len)) {
    return h;
  }
  h.mine = parsed_uri_is_myself(r.snap, u, r.msg);
  h.port = u.port.in(r.msg);
  // One walk over the parameters for the three rr reads (three sip::uri_param calls measured
  // ~580 instructions more per loose_route(): 2,693 against 2,114, callgrind).
  const std::string_view params = u.params.in(r.msg);
  bool lr = false;
  size_t i = 0;
  while (i < params.size()) {
    size_t e = params.find(';', i);
    if (e == std::string_view::npos) {
      e = params.size();
    }
    const std::string_view item = params.substr(i, e - i);
    const size_t eq = item.find('=');
    const std::string_view name = item.substr(0, eq);
    const std::string_view value =
        eq == std::string_view::npos ? std::string_view{} : item.substr(eq + 1);
    if (iequal(name, "lr")) {
      lr = true;
    } else if (iequal(name, "r2")) {
      h.r2 = iequal(value, "on");
    } else if (iequal(name, "maddr") && h.maddr.data() == nullptr) {
      h.maddr = eq == std::string_view::npos ? item.substr(item.size()) : value;
    }
    i = e + 1;
  }
  h.strict = !lr;
  return h;
}

// Where rr sends to or what it writes into the R-URI for a Route URI: "sip:" maddr [":" port]
// with a maddr parameter, else the URI. `own`: to be written into the message (the R-URI),
// which is edited in place: a copy in the scratch arena, never a view of the message's bytes.
std::string_view route_target(Run& r, const RouteUri& h, bool own) noexcept {
  if (h.maddr.data() == nullptr) {
    return own ? r.keep(h.text) : h.text;
  }
  char* p = r.alloc(4 + h.maddr.size() + 1 + h.port.size());
  if (p == nullptr) {
    return {};
  }
  size_t n = 0;
  std::memcpy(p, "sip:", 4);
  n += 4;
  std::memcpy(p + n, h.maddr.data(), h.maddr.size());
  n += h.maddr.size();
  if (!h.port.empty()) {
    p[n++] = ':';
    std::memcpy(p + n, h.port.data(), h.port.size());
    n += h.port.size();
  }
  return {p, n};
}

// The current R-URI names us (rr's check_self_uri on the parsed R-URI); parsed once per run.
[[gnu::always_inline]] inline bool ruri_is_myself(Run& r) noexcept {
  const UriParts& u = r.cur_ruri();
  return u.ok && parsed_uri_is_myself(r.snap, u.uri, u.base);
}

// What loose_route removes from the top of the Route set: vals[0, n) (VmResult::route_cut;
// set the last value's cut first).
void cut_routes(Run& r, const sip::Span* vals, uint8_t n) noexcept {
  if (n == 0) {
    return;
  }
  r.out.route_pop = true;
  if (n == 1 && r.out.route_cuts == 0) {
    return;  // the top value alone: sip::route_pop_edit, the common path
  }
  for (uint8_t i = 0; i < n; ++i) {
    r.out.route_cut[i] = vals[i];
  }
  r.out.route_cuts = static_cast<uint8_t>((r.out.route_cuts & VmResult::kRouteCutLast) | n);
}

// after_strict: the R-URI is ours on an in-dialog request (a strict router sent it here).
int32_t loose_route_after_strict(Run& r, RouteAt at) noexcept {
  sip::Span vals[3];
  uint8_t nv = 0;
  RouteUri hop = route_uri(r, at.na.uri);
  if (r.prog.rr_double != 0 && hop.r2 && hop.mine) {
    vals[nv++] = at.val;
    if (!next_route(r, at)) {
      cut_routes(r, vals, nv);
      return -1;
    }
    hop = route_uri(r, at.na.uri);
  }
  if (hop.strict) {
    // The next hop is a strict router too: it goes into the R-URI, its value goes.
    set_ruri(r, route_target(r, hop, true));
    vals[nv++] = at.val;
  } else {
    r.out.du_uri = route_target(r, hop, false);
    r.out.du = -1;
    sip::Span last_field;
    sip::Span last_uri;
    sip::Edit cut;
    if (!find_header(r.msg, r.v, "Route", -1, last_field) ||
        !sip::route_last_value(r.msg, r.v, last_field, last_uri, cut)) {
      return -1;
    }
    set_ruri(r, route_target(r, route_uri(r, last_uri), true));
    r.out.route_cut[3] = sip::Span{cut.off, cut.del};
    r.out.route_cuts = VmResult::kRouteCutLast;
  }
  cut_routes(r, vals, nv);
  return 1;
}

int32_t fn_loose_route(Run& r, const cfg::FnCall&) noexcept {
  const sip::Span first = r.v[sip::Hdr::kRoute];
  RouteAt at;
  if (first.empty() || !sip::parse_name_addr(r.msg, first, at.na)) {
    return -1;
  }
  at.val = first;
  const bool preloaded = r.v.to_tag.empty();
  if (!preloaded && ruri_is_myself(r)) [[unlikely]] {
    return loose_route_after_strict(r, at);
  }
  sip::Span vals[3];
  uint8_t nv = 0;
  RouteUri hop = route_uri(r, at.na.uri);
  if (hop.mine) {
    vals[nv++] = at.val;
    // Our double Record-Route (Kamailio reads ;r2=on on ours and skips the value after it).
    const bool two = r.prog.rr_double != 0 && hop.r2;
    bool more = next_route(r, at);
    if (more && two) {
      vals[nv++] = at.val;
      more = next_route(r, at);
    }
    if (!more) {
      // Our Route(s) were the only ones: they go either way; a preloaded Route (an initial
      // request, no To-tag) is "not RR driven" and the function is false (Kamailio's rr, as
      // the differential test measured: the INVITE is then forwarded by its R-URI).
      cut_routes(r, vals, nv);
      return preloaded ? -1 : 1;
    }
    hop = route_uri(r, at.na.uri);
  }
  if (hop.strict) [[unlikely]] {
    // rr's handle_sr: the R-URI as received is kept in a Route line after the last header, the
    // strict router's URI becomes the R-URI, and its value goes.
    const std::string_view ruri = r.v.ruri.in(r.msg);
    const size_t mark = r.used;
    char* p = r.alloc(8 + ruri.size() + 3);
    if (p == nullptr) {
      return -1;
    }
    std::memcpy(p, "Route: <", 8);
    std::memcpy(p + 8, ruri.data(), ruri.size());
    std::memcpy(p + 8 + ruri.size(), ">\r\n", 3);
    if (!add_header_line(r, {p, 8 + ruri.size() + 3}, 0, false, mark)) {
      return -1;
    }
    set_ruri(r, route_target(r, hop, true));
    vals[nv++] = at.val;
  } else {
    r.out.du_uri = route_target(r, hop, false);
    r.out.du = -1;
  }
  cut_routes(r, vals, nv);
  return 1;
}

// An IPv6 address (text, brackets allowed) in one of the set's IPv6 networks.
bool ip6_in(const cfg::NetSet& set, std::string_view text) noexcept {
  Ip6 ip;
  if (!parse_ipv6(text, ip)) {
    return false;
  }
  for (const cfg::Net& n : set.nets) {
    Ip6 net;
    std::memcpy(net.b, n.ip6, 16);
    if (n.v6 && ip.same_prefix(net, n.prefix6)) {
      return true;
    }
  }
  return false;
}

bool ip_in(const cfg::NetSet& set, std::string_view text) noexcept {
  uint32_t ip = 0;
  if (!parse_ipv4(text, ip)) {
    return ip6_in(set, text);
  }
  for (const cfg::Net& n : set.nets) {
    if ((ip & n.mask_be) == n.ip_be && !n.v6) {  // an IPv6 network's IPv4 fields are 0/0
      return true;
    }
  }
  return false;
}

int32_t fn_is_in_subnet(Run& r, const cfg::FnCall& c) noexcept {
  const std::string_view ip = r.to_str(operand(r, c.args[0]));
  return ip_in(r.prog.nets[static_cast<size_t>(c.aux)], ip) ? 1 : -1;
}

// sanity: the checks a stateless front end needs, with the replies Kamailio 5.6.3's sanity
// module sends (measured: differential scripts 11, 19, 36 and 37). Its bits: 1 R-URI SIP
// version, 2 R-URI scheme, 4 required headers, 8 Via SIP version, 16 Via protocol, 32 CSeq
// method, 64 CSeq value, 128 Content-Length, 256 Expires, 512 Proxy-Require, 1024 parse the
// URIs, 2048 digest credentials, 4096 duplicated tags, 8192 Authorization, 16384 the first Via.
// The scan already refuses a bad request line, missing headers, a bad first Via or CSeq and a
// wrong Content-Length (1, 4, 8, 16, 64, 128, 16384); the others are checked here.
// cfg/compile.cpp packs the call: msg_checks in bits 0-14, uri_checks (1 R-URI, 2 From, 4 To,
// 8 Contact: which URIs check 1024 parses) in bits 16-19, then the module's autodrop and
// noreply parameters.
constexpr uint32_t kSanityAutodrop = 1u << 24;
constexpr uint32_t kSanityNoreply = 1u << 25;

// `s` without the spaces and tabs around it.
std::string_view trim_blank(std::string_view s) noexcept {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  return s;
}

// Under noreply the answer a failed check keeps for sanity_reply() sits in the result's reply
// code and reason while no reply is decided (action kNone: the pipeline reads neither then), so
// a run pays nothing for it. Code 0: none kept; kSanitySilent: a check failed without an answer
// (Kamailio's FL_MSG_NOREPLY: sanity_reply() sends nothing either).
constexpr uint16_t kSanitySilent = 1;

// A failed check's answer: sent, or under noreply kept for sanity_reply() (Kamailio's
// sanity_reply(): never to an ACK).
void sanity_answer(Run& r, uint32_t aux, uint16_t code, std::string_view reason) noexcept {
  if ((aux & kSanityNoreply) == 0) {
    send_reply(r, code, reason);
  } else if (r.v.method != sip::Method::kAck && r.out.action == VmResult::Action::kNone) {
    r.out.reply_code = code;
    r.out.reply_reason = reason;
  }
}

bool sanity_silent_fail(Run& r) noexcept {
  if (r.out.action == VmResult::Action::kNone) {
    r.out.reply_code = kSanitySilent;
  }
  return false;
}

// Checks 256 (the first Expires: at most 10 digits, up to 2^32) and 512 (the options of the
// first Proxy-Require, each in modparam proxy_require or answered 420 with an Unsupported:
// line naming it). Out of line: neither field is one the scanner keeps, so each costs a walk of
// the header lines.
[[gnu::noinline]] bool sanity_expires_proxy_require(Run& r, uint32_t aux) noexcept {
  sip::Span sp;
  if ((aux & 256u) != 0 && find_field(r.msg, r.v, "Expires", 0, 0, sp)) {
    const std::string_view t = sp.in(r.msg);
    if (t.empty()) {
      sanity_answer(r, aux, 400, "Missing number in Expires header");
      return false;
    }
    uint64_t n = 0;
    bool ok = t.size() <= 10;
    for (size_t i = 0; ok && i < t.size(); ++i) {
      ok = t[i] >= '0' && t[i] <= '9';
      n = n * 10 + static_cast<uint64_t>(t[i] - '0');
    }
    // Kamailio's str2valid_uint compares with "4294967296" and lets that value itself pass.
    if (!ok || n > uint64_t{UINT32_MAX} + 1) {
      sanity_answer(r, aux, 400, "Expires value is illegal");
      return false;
    }
  }
  if ((aux & 512u) == 0 || !find_field(r.msg, r.v, "Proxy-Require", 0, 0, sp)) {
    return true;
  }
  std::string_view rest = sp.in(r.msg);
  for (bool first = true; !rest.empty() || first; first = false) {
    const size_t comma = rest.find(',');
    const std::string_view opt = trim_blank(rest.substr(0, comma));
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    if (opt.empty()) {
      if (first) {
        sanity_answer(r, aux, 400, "Bad Proxy Require Header");
        return false;
      }
      continue;
    }
    bool supported = false;
    for (const std::string& ext : r.prog.sanity_proxy_require) {
      supported = supported || opt == ext;  // Kamailio compares them case-sensitively
    }
    if (supported) {
      continue;
    }
    // Kamailio adds the Unsupported: line to whatever reply the request gets next.
    constexpr std::string_view kName = "Unsupported: ";
    char* line = r.alloc(kName.size() + opt.size() + 2);
    if (line == nullptr) {
      return false;  // the arena is full: a run error, as for any string result
    }
    std::memcpy(line, kName.data(), kName.size());
    std::memcpy(line + kName.size(), opt.data(), opt.size());
    std::memcpy(line + kName.size() + opt.size(), "\r\n", 2);
    if (r.out.action == VmResult::Action::kNone) {
      r.out.reply_hdrs = {line, kName.size() + opt.size() + 2};
    }
    sanity_answer(r, aux, 420, "Bad Proxy Require Extension");
    return false;
  }
  return true;
}

// Checks 2048 (digest credentials) and 8192 (Authorization): every Authorization, then every
// Proxy-Authorization, parsed as Kamailio's check_digest_only() does. A scheme other than
// Digest stops the walk: check 2048 then fails without an answer, 8192 passes.
[[gnu::noinline]] bool sanity_credentials(Run& r, uint32_t aux) noexcept {
  for (const std::string_view name : {std::string_view("Authorization"),
                                      std::string_view("Proxy-Authorization")}) {
    sip::Span sp;
    for (int i = 0; find_field(r.msg, r.v, name, 0, i, sp); ++i) {
      sip::DigestCred cred;
      switch (sip::parse_digest_cred(sp.in(r.msg), cred)) {
        case sip::CredScheme::kOther:
          return (aux & 2048u) == 0;
        case sip::CredScheme::kMalformed:
          sanity_answer(r, aux, 400, "Bad Auth Header");
          return false;
        case sip::CredScheme::kDigest:
          break;
      }
      using F = sip::DigestCred;
      const std::string_view qop = cred.value[F::kQop];
      const bool qop_auth = sip::iequal(qop, "auth") || sip::iequal(qop, "auth-int");
      if (!cred.has(F::kUsername) || !cred.has(F::kRealm) || !cred.has(F::kNonce) ||
          !cred.has(F::kUri) || !cred.has(F::kResponse) ||
          (qop_auth && (!cred.has(F::kCnonce) || !cred.has(F::kNc)))) {
        sanity_answer(r, aux, 400, "Bad Auth Credentials");
        return false;
      }
      if (cred.value[F::kUsername].empty()) {
        sanity_answer(r, aux, 400, "Auth Empty User");
        return false;
      }
      if (cred.value[F::kNonce].empty()) {
        sanity_answer(r, aux, 400, "Auth Empty Nonce");
        return false;
      }
      if (cred.value[F::kResponse].empty()) {
        sanity_answer(r, aux, 400, "Auth Empty Response");
        return false;
      }
    }
  }
  return true;
}

// Check 4096: more than one tag parameter in From or To ("Many From Tag Params", "Many To Tag
// Params").
[[gnu::noinline]] bool sanity_duplicate_tags(Run& r, uint32_t aux) noexcept {
  for (const sip::Hdr h : {sip::Hdr::kFrom, sip::Hdr::kTo}) {
    sip::NameAddr na;
    if (r.v[h].empty() || !sip::parse_name_addr(r.msg, r.v[h], na)) {
      return sanity_silent_fail(r);
    }
    std::string_view params = na.params.in(r.msg);
    int tags = 0;
    while (!params.empty()) {
      const size_t semi = params.find(';');
      const std::string_view param = params.substr(0, semi);
      tags += sip::iequal(trim_blank(param.substr(0, param.find('='))), "tag") ? 1 : 0;
      params = semi == std::string_view::npos ? std::string_view() : params.substr(semi + 1);
    }
    if (tags > 1) {
      sanity_answer(r, aux, 400, h == sip::Hdr::kFrom ? "Many From Tag Params"
                                                      : "Many To Tag Params");
      return false;
    }
  }
  return true;
}

// The checks; false when one failed (answered, or kept for sanity_reply()).
bool sanity_passes(Run& r, uint32_t aux) noexcept {
  const uint32_t mask = aux & 0x7fffu;
  const uint32_t uris = (aux >> 16) & 0xfu;
  const sip::SipView& v = r.v;
  const char* msg = r.msg;
  const bool parse_uris = (mask & 1024u) != 0;
  if ((mask & 2u) != 0 || (parse_uris && (uris & 1u) != 0)) {
    if (!r.cur_ruri().ok) {
      sanity_answer(r, aux, 400, "Bad Request URI");
      return false;
    }
  }
  if ((mask & 32u) != 0 && v.cseq_method_mismatch) {
    sanity_answer(r, aux, 400, "CSeq method does not match request method");
    return false;
  }
  // Checks 256 and 512 look for Expires and Proxy-Require, 2048 and 8192 for Authorization and
  // Proxy-Authorization, names the view keeps nothing of: only when such a field name starts
  // with E, P or A (the scanner's names_seen) is there one to walk to.
  const uint32_t ep = ((mask & 256u) != 0 ? sip::name_bit('E') : 0u) |
                      ((mask & 512u) != 0 ? sip::name_bit('P') : 0u);
  if ((v.names_seen & ep) != 0 && !sanity_expires_proxy_require(r, aux)) [[unlikely]] {
    return false;
  }
  if (parse_uris) {
    // The reason phrases are Kamailio 5.6.3's, measured ("Ivalid" included). Without the
    // header itself Kamailio fails the check without a reply.
    // The scanner has parsed From and To as name-addrs and kept their addr-specs; only the
    // verdict of parsing them is needed (sip::uri_valid). Written out for the two headers (a
    // loop over a table of them cost ~15 instructions a request).
    if ((uris & 2u) != 0) {
      if (v[sip::Hdr::kFrom].empty()) {
        return sanity_silent_fail(r);
      }
      if (!sip::uri_valid(msg, header_addr(msg, v, sip::Hdr::kFrom), v.len)) {
        sanity_answer(r, aux, 400, "Invalid From Header");
        return false;
      }
    }
    if ((uris & 4u) != 0) {
      if (v[sip::Hdr::kTo].empty()) {
        return sanity_silent_fail(r);
      }
      if (!sip::uri_valid(msg, header_addr(msg, v, sip::Hdr::kTo), v.len)) {
        sanity_answer(r, aux, 400, "Ivalid To Header");
        return false;
      }
    }
    if ((uris & 8u) != 0 && !v[sip::Hdr::kContact].empty()) {
      // The first Contact: `*`, or a name-addr whose URI parses (later values are not looked
      // at by this check).
      const sip::Span cv = v[sip::Hdr::kContact];
      if (trim_blank(cv.in(msg)) != "*") {
        sip::NameAddr na;
        if (!sip::parse_name_addr(msg, cv, na) && (na.end == 0 || msg[na.end] != ',')) {
          sanity_answer(r, aux, 400, "Bad Contact Header");
          return false;
        }
        if (!sip::uri_valid(msg, na.uri, v.len)) {
          sanity_answer(r, aux, 400, "Bad Contact URI");
          return false;
        }
      }
    }
  }
  const uint32_t auth = (mask & (2048u | 8192u)) != 0
                            ? sip::name_bit('A') | sip::name_bit('P')
                            : 0u;
  if ((v.names_seen & auth) != 0 && !sanity_credentials(r, aux)) [[unlikely]] {
    return false;
  }
  return (mask & 4096u) == 0 || sanity_duplicate_tags(r, aux);
}

int32_t fn_sanity_check(Run& r, const cfg::FnCall& c) noexcept {
  const auto aux = static_cast<uint32_t>(c.aux);
  if ((aux & kSanityNoreply) != 0 && r.out.action == VmResult::Action::kNone &&
      r.out.reply_code != kSanitySilent) {
    r.out.reply_code = 0;  // Kamailio's ksr_sanity_info_init()
  }
  if (sanity_passes(r, aux)) {
    return 1;
  }
  // autodrop (the default): 0 ends the script, as any function returning 0 does.
  return (aux & kSanityAutodrop) != 0 ? 0 : -1;
}

// sanity_reply(): under modparam noreply 1, the answer the last failed sanity_check() kept
// (500 "Server Sanity Failure" when it kept none; nothing after a check that fails without an
// answer); without noreply, or for an ACK, nothing. aux: the noreply parameter.
int32_t fn_sanity_reply(Run& r, const cfg::FnCall& c) noexcept {
  if (c.aux == 0 || r.v.method == sip::Method::kAck) {
    return 1;
  }
  if (r.out.action != VmResult::Action::kNone) {
    return -1;  // one answer per request
  }
  if (r.out.reply_code == kSanitySilent) {
    return 1;
  }
  if (r.out.reply_code == 0) {
    return send_reply(r, 500, "Server Sanity Failure") > 0 ? 1 : -1;
  }
  return send_reply(r, r.out.reply_code, r.out.reply_reason) > 0 ? 1 : -1;
}

int32_t fn_xlog(Run& r, const cfg::FnCall& c) noexcept {
  const size_t mark = r.used;
  const std::string_view text = r.to_str(operand(r, c.args[0]));
  VmLogRing& ring = r.st.log;
  const uint32_t h = ring.head.load(std::memory_order_relaxed);
  if (h - ring.tail.load(std::memory_order_acquire) >= kVmLogRecords) {
    ring.dropped.fetch_add(1, std::memory_order_relaxed);
  } else {
    VmLogRecord& rec = ring.rec[h % kVmLogRecords];
    const size_t n = text.size() < kVmLogLen ? text.size() : kVmLogLen;
    if (n != 0) {
      std::memcpy(rec.text, text.data(), n);
    }
    rec.len = static_cast<uint16_t>(n);
    rec.level = c.aux;
    ring.head.store(h + 1, std::memory_order_release);
  }
  r.used = mark;  // the formatted text is no longer needed
  r.failed = false;  // a log line too long for the arena is cut, not an error
  return 1;
}

// textops search(re): the whole message (headers and body), REG_NEWLINE semantics.
int32_t fn_search(Run& r, const cfg::FnCall& c) noexcept {
  const auto aux = static_cast<uint32_t>(c.aux);
  return regex_match(r, aux >> 16, aux & 0xffffu, {r.msg, r.v.len});
}

int32_t fn_is_myself(Run& r, const cfg::FnCall& c) noexcept {
  const std::string_view s = r.to_str(operand(r, c.args[0]));
  return uri_text_is_myself(r.snap, s) ? 1 : -1;
}

// ---- dispatcher ----

// The index of set `id` in the snapshot, or -1. By pointer: the vector's size() divides by
// sizeof(DestSet) on every test of the loop.
[[gnu::always_inline]] inline int32_t set_index_of(const Snapshot& snap, int64_t id) noexcept {
  const DestSet* const sets = snap.sets.data();
  const DestSet* const end = sets + snap.sets.size();
  for (const DestSet* s = sets; s != end; ++s) {
    if (s->id == id) {
      return static_cast<int32_t>(s - sets);
    }
  }
  return -1;
}

// A destination's URI without its sip: or sips: scheme, as the list wrote it: ds_select_domain
// & co replace the R-URI's host, port, parameters and headers with it (Kamailio's
// SET_HOSTALL_T, measured: sip:+1555@gw;user=phone becomes sip:+1555@127.0.0.13:5080).
std::string_view dest_hostall(const Destination& d) noexcept {
  std::string_view u = d.uri;
  const auto scheme = [&](std::string_view s) {
    return u.size() > s.size() && iequal(u.substr(0, s.size()), s);
  };
  if (scheme("sip:")) {
    u.remove_prefix(4);
  } else if (scheme("sips:")) {
    u.remove_prefix(5);
  }
  return u;
}

// Makes entry `i` of the failover list the one in use: $du, or the R-URI's host:port. Inline:
// for ds_select_dst, the usual caller, it is two stores.
[[gnu::always_inline]] inline int32_t ds_apply(Run& r, cfg::DsApply how, int32_t d) noexcept {
  const Destination& dst = r.snap.destinations[static_cast<size_t>(d)];
  switch (how) {
    case cfg::DsApply::kDst:
      r.out.du = d;
      r.out.du_uri = {};
      return 1;
    case cfg::DsApply::kDomain:
      return rewrite_part(r, UriPart::kHostAll, dest_hostall(dst));
    case cfg::DsApply::kNone:
      return 1;
  }
  return -1;
}

// An integer argument: a constant as is (the usual ds_select_dst(1, 4)), else evaluated.
int64_t int_arg(Run& r, const cfg::Operand& o) noexcept {
  return o.kind == cfg::Operand::Kind::kInt ? o.i : to_int(operand(r, o));
}

// ds_select_dst's arguments: the set id; the algorithm, -1 for one Kamailio does not define
// (run-time values are checked as the compiler checks constants: 10, 12, 64 are slow paths);
// the limit, at most kVmDsList (a larger one means as much), 0 for none that is positive.
struct DsSelectArgs {
  int64_t set_id;
  int32_t alg;
  int32_t limit;
};
DsSelectArgs ds_select_checked(int64_t set_id, int64_t alg, int64_t limit) noexcept {
  const bool known = static_cast<uint64_t>(alg) <= 15 && alg != 10 && alg != 12;
  return {set_id, known ? static_cast<int32_t>(alg) : -1,
          limit <= 0 ? 0 : static_cast<int32_t>(std::min<int64_t>(limit, int64_t{kVmDsList}))};
}
// Arguments that are not all constants, evaluated. Out of line: the usual constant ones
// (ds_select_dst(1, 4)) need no frame for operand()'s value.
[[gnu::noinline]] DsSelectArgs ds_select_args(Run& r, const cfg::FnCall& c) noexcept {
  const int64_t set_id = int_arg(r, c.args[0]);
  const int64_t alg = int_arg(r, c.args[1]);
  return ds_select_checked(set_id, alg,
                           c.nargs > 2 ? int_arg(r, c.args[2]) : static_cast<int64_t>(kVmDsList));
}

int32_t fn_ds_select(Run& r, const cfg::FnCall& c) noexcept {
  const DsSelectArgs a =
      c.nargs == 2 && c.args[0].kind == cfg::Operand::Kind::kInt &&
              c.args[1].kind == cfg::Operand::Kind::kInt
          ? ds_select_checked(c.args[0].i, c.args[1].i, kVmDsList)
          : ds_select_args(r, c);
  r.ds_n = 0;
  r.ds_cur = 0;
  if (a.alg < 0 || a.limit == 0) {
    return -1;
  }
  const int32_t s = set_index_of(r.snap, a.set_id);
  if (s < 0) {
    return -1;
  }
  // Without modparam flags 2 (failover) only the chosen destination is kept, as Kamailio; nor
  // when the script never reads past it (cfg::Program::reads_ds_list): the walk over the rest
  // of the set would be seen by nothing.
  const size_t limit =
      r.snap.dispatcher.failover && r.prog.reads_ds_list ? static_cast<size_t>(a.limit) : 1;
  const size_t n = select_candidates(r.snap, static_cast<uint32_t>(s),
                                     static_cast<uint32_t>(a.alg), r.msg, r.v, r.ds, r.ds_list,
                                     limit);
  if (n == 0) {
    return -1;
  }
  r.ds_n = static_cast<uint8_t>(n);
  const int32_t d = r.ds_list[0];
  r.counters.selected[r.snap.destinations[static_cast<size_t>(d)].id % kMaxDestinations].add();
  return ds_apply(r, static_cast<cfg::DsApply>(c.aux), d);
}

// ds_select_dst under modparam force_dst 0: Kamailio's "destination already set" while $du is
// set (false, nothing changed: neither the list nor a round-robin cursor).
int32_t fn_ds_select_unless_du(Run& r, const cfg::FnCall& c) noexcept {
  if (r.out.du >= 0 || !r.out.du_uri.empty()) {
    return -1;
  }
  return fn_ds_select(r, c);
}

int32_t fn_ds_next(Run& r, const cfg::FnCall& c) noexcept {
  if (r.ds_cur + 1u >= r.ds_n) {
    // No further destination. Kamailio removes the current entry before it looks for the
    // next, so past the last one the list is empty: $xavp(_dsdst_) is $null and
    // ds_set_dst/ds_mark_dst return false ($du stays; measured: differential script 30).
    if (r.snap.dispatcher.failover && r.ds_cur < r.ds_n) {
      r.ds_cur = r.ds_n;
    }
    return -1;
  }
  ++r.ds_cur;
  const int32_t d = r.ds_list[r.ds_cur];
  r.counters.selected[r.snap.destinations[static_cast<size_t>(d)].id % kMaxDestinations].add();
  return ds_apply(r, static_cast<cfg::DsApply>(c.aux), d);
}

int32_t fn_ds_set(Run& r, const cfg::FnCall& c) noexcept {
  // ds_set_dst/ds_set_domain read $xavp(_dsdst_), which Kamailio fills only with failover on
  // (modparam flags 2): without it they change nothing and return false, after ds_select as
  // after ds_select_dst (measured on 5.6.3, differential script 25).
  if (!r.snap.dispatcher.failover || r.ds_cur >= r.ds_n) {
    return -1;
  }
  return ds_apply(r, static_cast<cfg::DsApply>(c.aux), r.ds_list[r.ds_cur]);
}

int32_t fn_ds_mark_dst(Run& r, const cfg::FnCall& c) noexcept {
  // The last used destination: the failover list's current entry ($xavp(_dsdst_)'s first).
  // Kamailio 5.6 reads it from the xavp alone, which exists only with failover on (modparam
  // flags 2): without it, or with $du set by hand, it marks nothing and returns false.
  if (!r.snap.dispatcher.failover || r.ds_cur >= r.ds_n) {
    return -1;
  }
  const int32_t d = r.ds_list[r.ds_cur];
  r.out.mark_dst = d;
  r.out.mark_state = static_cast<uint32_t>(c.aux);
  return 1;
}

// ds_is_from_list([group[, mode[, uri]]]): mode 1 ignores the port, 2 the protocol (every
// destination is UDP here), 4 wants an active destination; group -1 or none: every set.
int32_t fn_ds_is_from_list(Run& r, const cfg::FnCall& c) noexcept {
  const int64_t group = c.nargs > 0 ? to_int(operand(r, c.args[0])) : -1;
  const int64_t mode = c.nargs > 1 ? to_int(operand(r, c.args[1])) : 0;
  uint32_t ip_be = r.pkt.src_ip_be;
  uint16_t port = r.pkt.src_port;
  // An IPv6 source (or URI host) is compared with the IPv6 destinations only.
  Ip6 ip6;
  bool v6 = r.pkt.src_ip6 != nullptr;
  if (v6) {
    std::memcpy(ip6.b, r.pkt.src_ip6, 16);
  }
  if (c.nargs > 2) {
    const std::string_view u = r.to_str(operand(r, c.args[2]));
    if (!u.empty()) {
      const UriParts p = parse_text_uri(u);
      v6 = false;
      if (!p.ok || (!parse_ipv4(p.uri.host.in(p.base), ip_be) &&
                    !(v6 = parse_ipv6(p.uri.host.in(p.base), ip6)))) {
        return -1;
      }
      port = p.uri.port_num != 0 ? p.uri.port_num : 5060;
    }
  }
  const uint16_t port_be = static_cast<uint16_t>((port >> 8) | (port << 8));
  for (const Destination& d : r.snap.destinations) {
    if (group >= 0 && d.set != group) {
      continue;
    }
    if (d.v6 != v6 || (v6 ? !(d.ip6 == ip6) : d.ip_be != ip_be) ||
        ((mode & 1) == 0 && d.port_be != port_be)) {
      continue;
    }
    if ((mode & 4) != 0 && !d.usable()) {
      continue;
    }
    return 1;
  }
  return -1;
}

int32_t fn_ds_list_exists(Run& r, const cfg::FnCall& c) noexcept {
  return set_index_of(r.snap, to_int(operand(r, c.args[0]))) >= 0 ? 1 : -1;
}

int32_t fn_ds_is_active(Run& r, const cfg::FnCall& c) noexcept {
  const int32_t s = set_index_of(r.snap, to_int(operand(r, c.args[0])));
  if (s < 0) {
    return -1;
  }
  const DestSet& set = r.snap.sets[static_cast<size_t>(s)];
  const std::string_view uri = c.nargs > 1 ? r.to_str(operand(r, c.args[1])) : std::string_view{};
  for (uint32_t i = 0; i < set.count; ++i) {
    const Destination& d = r.snap.destinations[set.first + i];
    if (d.usable() && (uri.empty() || iequal(uri, d.uri))) {
      return 1;
    }
  }
  return -1;
}

// pike_check_req(): the limits are read again when the program changes (first run, reload).
// ds_mark_addr(state, group, uri): ds_mark_dst for the destination of `group` with `uri`.
int32_t fn_ds_mark_addr(Run& r, const cfg::FnCall& c) noexcept {
  const int32_t s = set_index_of(r.snap, to_int(operand(r, c.args[1])));
  if (s < 0) {
    return -1;
  }
  const std::string_view uri = r.to_str(operand(r, c.args[2]));
  const DestSet& set = r.snap.sets[static_cast<size_t>(s)];
  for (uint32_t i = 0; i < set.count; ++i) {
    if (iequal(uri, r.snap.destinations[set.first + i].uri)) {
      r.out.mark_dst = static_cast<int32_t>(set.first + i);
      r.out.mark_state = static_cast<uint32_t>(c.aux);
      return 1;
    }
  }
  return -1;
}

int32_t fn_pike_check_req(Run& r, const cfg::FnCall&) noexcept {
  PikeTable& t = r.st.pike;
  if (t.configured_for != r.prog.serial) {
    t.configure(pike_params(r.prog));
    t.configured_for = r.prog.serial;
  }
  uint32_t key = r.pkt.src_ip_be;
  if (r.pkt.src_ip6 != nullptr) [[unlikely]] {
    // An IPv6 source: its 128 bits folded into the table's 32-bit key (IPv6 sources share the
    // table with IPv4 ones; a fold collision only shares a counter).
    uint32_t w[4];
    std::memcpy(w, r.pkt.src_ip6, 16);
    key = w[0] ^ w[1] ^ w[2] ^ w[3];
  }
  return t.check(key, t.now_ms(r.ds.burst_tsc));
}

// pike_check_ip(ip): the same count for the address given (Kamailio 5.6.3's pike has it); a
// value that is not an IPv4 address is a run-time error (-1).
int32_t fn_pike_check_ip(Run& r, const cfg::FnCall& c) noexcept {
  PikeTable& t = r.st.pike;
  if (t.configured_for != r.prog.serial) {
    t.configure(pike_params(r.prog));
    t.configured_for = r.prog.serial;
  }
  uint32_t ip_be = 0;
  if (!parse_ipv4(r.to_str(operand(r, c.args[0])), ip_be)) {
    ++r.st.other_errors;
    return -1;
  }
  return t.check(ip_be, t.now_ms(r.ds.burst_tsc));
}

constexpr FnHook kFnHooks[] = {
    fn_send_reply,      fn_forward_to,        fn_setflag,         fn_resetflag,
    fn_isflagset,       fn_force_rport,       fn_add_local_rport, fn_set_adv_address,
    fn_set_adv_port,    fn_udp_mtu_try_proto, fn_force_send_socket, fn_sethost,
    fn_setport,         fn_setuser,           fn_rewriteuri,      fn_rewritehostport,
    fn_prefix,          fn_strip,             fn_revert_uri,      fn_has_totag,
    fn_is_present_hf,   fn_append_hf,         fn_remove_hf,       fn_record_route,
    fn_loose_route,     fn_is_in_subnet,      fn_sanity_check,    fn_xlog,
    fn_is_myself,       fn_search,            fn_ds_select,       fn_ds_next,
    fn_ds_set,          fn_ds_mark_dst,       fn_ds_is_from_list, fn_ds_list_exists,
    fn_ds_is_active,    fn_pike_check_req,    fn_ds_mark_addr,    fn_pike_check_ip,
    fn_insert_hf,       fn_ds_select_unless_du, fn_sanity_reply,
};
static_assert(std::size(kFnHooks) == static_cast<size_t>(Fn::kCount),
              "one run hook per cfg::Fn, in order");

// ---- assignment ----

bool store(Run& r, const cfg::PvRef& pv, VmVal x) noexcept {
  switch (pv.kind) {
    case PvKind::kVar: {
      VmState::Var& var = r.st.vars[pv.arg];
      if (x.kind == Kind::kNull) {
        var.v = int_val(0);  // $var(x) = $null resets it to 0
      } else if (x.kind == Kind::kInt) {
        var.v = x;
      } else {
        if (x.len > kVmVarLen) {
          ++r.st.var_overflow;
          r.failed = true;
          return false;
        }
        if (x.len != 0) {
          std::memmove(var.buf, x.p, x.len);
        }
        var.v = str_val({var.buf, x.len});
      }
      return true;
    }
    case PvKind::kAvp:
      if (x.kind == Kind::kStr) {
        x = str_val(r.keep(x.s()));
      }
      r.avps[pv.arg] = x;
      return !r.failed;
    case PvKind::kShv: {
      // Shared by every worker, lock-free (cfg::ShvTable::store): an integer is one relaxed
      // store; a string is copied under the slot's sequence lock. $null makes it $null.
      using cfg::ShvKind;
      const ShvKind k = x.kind == Kind::kStr   ? ShvKind::kStr
                        : x.kind == Kind::kInt ? ShvKind::kInt
                                               : ShvKind::kNull;
      const bool ok =
          r.prog.shv->store(pv.arg, k, x.i, k == ShvKind::kStr ? x.s() : std::string_view());
      if (!ok) {
        ++r.st.var_overflow;  // longer than cfg::kShvLen
        r.failed = true;
      }
      return ok;
    }
    case PvKind::kDuri:
      if (x.kind == Kind::kNull) {
        r.out.du_uri = {};
        r.out.du = -1;
        return true;
      }
      r.out.du_uri = r.keep(r.to_str(x));
      r.out.du = -1;
      return !r.failed;
    case PvKind::kRuri: {
      if (x.kind == Kind::kNull) {
        return true;
      }
      const std::string_view uri = r.keep(r.to_str(x));
      if (r.failed || !parse_text_uri(uri).ok) {
        return true;  // Kamailio refuses a bad URI (an error in the log); the run goes on
      }
      set_ruri(r, uri);
      return true;
    }
    case PvKind::kRuriUser:
      rewrite_part(r, UriPart::kUser, x.kind == Kind::kNull ? std::string_view() : r.to_str(x));
      return !r.failed;
    case PvKind::kRuriHost:
      if (x.kind != Kind::kNull) {
        rewrite_part(r, UriPart::kHost, r.to_str(x));
      }
      return !r.failed;
    case PvKind::kRuriPort:
      rewrite_part(r, UriPart::kPort, x.kind == Kind::kNull ? std::string_view() : r.to_str(x));
      return !r.failed;
    default:
      return true;  // the compiler accepts no other target
  }
}

// route(NAME) with NAME computed at run time: a binary search of the sorted route[...] names
// (no allocation); -1 when none has that name (exact bytes, as Kamailio's lookup).
int32_t named_route(const cfg::Program& prog, std::string_view name) noexcept {
  size_t lo = 0;
  size_t hi = prog.named_routes.size();
  while (lo < hi) {
    const size_t mid = lo + (hi - lo) / 2;
    const uint32_t idx = prog.named_routes[mid];
    const int c = std::string_view(prog.routes[idx].name).compare(name);
    if (c == 0) {
      return static_cast<int32_t>(idx);
    }
    if (c < 0) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  return -1;
}

// kCallRouteDyn's lookup, out of line (rare): the route index of the name on the stack, or -1.
[[gnu::noinline]] int32_t dynamic_route(Run& r) noexcept {
  return named_route(r.prog, r.to_str(r.pop()));
}

// The interpreter loop; vm_run around it (inlined there: one function, as before it had a
// wrapper, so the per-message cost stays the loop's).
[[gnu::always_inline]] inline void run_script(const Snapshot& snap, const char* msg,
                                              const sip::SipView& v, const VmPacket& pkt,
                                              VmState& st, DispatchState& ds,
                                              WorkerCounters& counters, VmResult& out,
                                              uint32_t route) noexcept;

}  // namespace

bool uri_is_myself(const Snapshot& snap, const char* msg, sip::Span uri_span) noexcept {
  return uri_text_is_myself(snap, uri_span.in(msg));
}

void vm_run(const Snapshot& snap, const char* msg, const sip::SipView& v, const VmPacket& pkt,
            VmState& st, DispatchState& ds, WorkerCounters& counters, VmResult& out,
            uint32_t route) noexcept {
  run_script(snap, msg, v, pkt, st, ds, counters, out, route);  // one call site: inlined once
  // onsend_route starts from these (dataplane/reply_route.cpp): the request's flags.
  st.msg_flags = out.flags;
}

namespace {

// Whether every way the interpreter moves pc stays inside the code: jump targets and route
// entries in range, and the last instruction one that does not fall through (so the return
// address after a route call is always an instruction). The compiler only makes such programs;
// a worker checks once per program, and the loop then needs no bounds check per step.
bool code_is_closed(const cfg::Program& prog) noexcept {
  const size_t n = prog.code.size();
  if (n == 0) {
    return false;
  }
  for (const cfg::Route& rt : prog.routes) {
    if (rt.entry >= n) {
      return false;
    }
  }
  for (const cfg::Insn& in : prog.code) {
    if (static_cast<uint8_t>(in.op) > static_cast<uint8_t>(Op::kTailSave)) {
      return false;  // the loop's dispatch has no case for it
    }
    switch (in.op) {
      case Op::kJump:
      case Op::kJumpIfFalse:
      case Op::kJumpIfTrue:
      case Op::kLoopStep:
        if (in.a >= n || (in.op == Op::kLoopStep && in.b >= cfg::kVmTemps)) {
          return false;
        }
        break;
      case Op::kCallRoute:
        if (in.a >= prog.routes.size() || in.b > cfg::kVmTemps) {
          return false;
        }
        break;
      case Op::kCallRouteDyn:
        if (in.b > cfg::kVmTemps) {
          return false;  // r.loops is sized for kVmTemps a call
        }
        break;
      case Op::kStoreTemp:
      case Op::kLoadTemp:
      case Op::kLoopInit:
        if (in.a >= cfg::kVmTemps) {
          return false;
        }
        break;
      case Op::kTailReturn:
      case Op::kTailSave:
        if (in.b > 2) {
          return false;
        }
        break;
      case Op::kMethodSwitch:
        if (in.c >= prog.method_tables.size()) {
          return false;
        }
        for (const uint32_t to : prog.method_tables[in.c].to) {
          if (to >= n) {
            return false;
          }
        }
        break;
      default:
        break;
    }
  }
  const auto cond_jump = [&](size_t i) {
    return i < n && (prog.code[i].op == Op::kJumpIfFalse || prog.code[i].op == Op::kJumpIfTrue);
  };
  for (size_t i = 0; i < n; ++i) {  // a fused jump (and not) is there to be taken
    const cfg::Insn& in = prog.code[i];
    // kRegexMatchPv: its regex_match follows (skipped), then what a fused jump takes.
    size_t at = i;
    if (in.op == Op::kRegexMatchPv) {
      if (i + 1 >= n || prog.code[i + 1].op != Op::kRegexMatch) {
        return false;
      }
      at = i + 1;
    }
    size_t jump = 0;
    switch (in.fused_jump) {
      case 0:
        continue;
      case 1:
        if (!cond_jump(at + 1)) {
          return false;
        }
        jump = at + 1;
        break;
      case 2:
        if (in.op == Op::kNot || in.op == Op::kMethodEq || at + 1 >= n ||
            prog.code[at + 1].op != Op::kNot || !cond_jump(at + 2)) {
          return false;
        }
        jump = at + 2;
        break;
      default:
        return false;
    }
    // The step takes the jump as the instruction says (Insn::to, jump_true): the jump's own.
    if (in.to != prog.code[jump].a ||
        in.jump_true != (prog.code[jump].op == Op::kJumpIfTrue ? 1 : 0)) {
      return false;
    }
  }
  const Op last = prog.code.back().op;
  return last == Op::kReturn || last == Op::kTailReturn || last == Op::kExit ||
         last == Op::kDrop || last == Op::kJump;
}

// The conditional jump that follows `in` (Insn::fused_jump, after its not when 2), taken for
// it: what executing that jump would do, without its own dispatch and without reading it
// (its target and sense are in `in`). `pc` is just past `in` (and the regex_match a
// kRegexMatchPv skips): the jump is at pc + fused_jump - 1.
[[gnu::always_inline]] inline const cfg::Insn* fused_jump(const cfg::Insn* code,
                                                          const cfg::Insn& in,
                                                          const cfg::Insn* pc, int32_t rc,
                                                          Run& r) noexcept {
  r.cond_failed = false;
  return (rc > 0) == (in.jump_true != 0) ? code + in.to : pc + in.fused_jump;
}

// After an instruction that set rc, marked fused_jump 1 or 2: the not (2) and the conditional
// jump that follow it, run in this step. Not taken when the run must end first (a failure, or
// a function that returned 0: the loop's test after the step ends it).
#define VD_FUSED_JUMP()                                  \
  if (in.fused_jump != 0 && !r.failed && rc != 0) {      \
    if (in.fused_jump == 2 && !r.cond_failed) {          \
      rc = rc > 0 ? -1 : 1;                              \
    }                                                    \
    pc = fused_jump(code, in, pc, rc, r);                      \
    continue;                                            \
  }

[[gnu::always_inline]] inline void run_script(const Snapshot& snap, const char* msg,
                                              const sip::SipView& v, const VmPacket& pkt,
                                              VmState& st, DispatchState& ds,
                                              WorkerCounters& counters, VmResult& out,
                                              uint32_t route) noexcept {
  const cfg::Program& prog = *snap.program;
  const cfg::Insn* code = prog.code.data();
  if (st.program_serial != prog.serial) [[unlikely]] {
    // A new script (or the first run): its $var slots start at 0; what the runs check of it
    // is worked out once.
    for (VmState::Var& var : st.vars) {
      var.v = int_val(0);
    }
    st.program_serial = prog.serial;
    st.program_closed = code_is_closed(prog);
    st.program_routes = static_cast<uint32_t>(prog.routes.size());
  }
  if (route >= st.program_routes || !st.program_closed) [[unlikely]] {
    // No such route or no code: nothing runs. Code that is not closed: an error.
    if (route < st.program_routes && !prog.code.empty()) {
      ++st.other_errors;
      out.error = true;
    }
    return;
  }
  Run r(snap, prog, msg, v, pkt, st, ds, counters, out);
  r.ruri = v.ruri.in(msg);
  for (size_t i = 0; i < prog.avps.size(); ++i) {
    r.avps[i] = VmVal{};
  }
  // pc points at the next instruction (an index costs a shift and an add per step).
  const cfg::Insn* stack[cfg::kMaxRouteDepth];
  uint16_t loop_bases[cfg::kMaxRouteDepth];  // the caller's loop_base, per call
  uint32_t depth = 0;
  uint32_t loop_base = 0;  // where this route's while counters start in r.loops
  const cfg::Insn* pc = code + prog.routes[route].entry;
  int32_t rc = 1;
  // No bounds check on pc: the program is closed (code_is_closed()). One down-counter bounds the
  // steps; one test after each instruction covers both ways a run ends early.
  for (uint32_t budget = kVmStepBudget; budget != 0; --budget) {
    const cfg::Insn& in = *pc;
    ++pc;
    switch (in.op) {
      // The instructions that cannot fail nor leave rc 0 `continue`: the test after the
      // switch is for the others.
      case Op::kNop:
        continue;
      case Op::kJump:
        pc = code + in.a;
        continue;
      case Op::kJumpIfFalse:
        r.cond_failed = false;
        if (rc <= 0) {
          pc = code + in.a;
        }
        continue;
      case Op::kJumpIfTrue:
        r.cond_failed = false;
        if (rc > 0) {
          pc = code + in.a;
        }
        continue;
      case Op::kNot:
        if (!r.cond_failed) {
          rc = rc > 0 ? -1 : 1;
        }
        if (in.fused_jump != 0) {
          pc = fused_jump(code, in, pc, rc, r);  // rc is 1 or -1: nothing to check after
        }
        continue;
      case Op::kSetRc:
        rc = static_cast<int32_t>(in.a);
        break;
      case Op::kCallRoute:  // in.a is a route (code_is_closed())
        if (depth >= cfg::kMaxRouteDepth) {
          ++st.depth_limit;
          out.error = true;
          return;
        }
        loop_bases[depth] = static_cast<uint16_t>(loop_base);
        loop_base += in.b;
        stack[depth++] = pc;
        pc = code + prog.routes[in.a].entry;
        continue;
      case Op::kReturn:
        rc = in.b != 0 ? static_cast<int32_t>(to_int(r.pop())) : static_cast<int32_t>(in.a);
        r.retcode = rc;
        if (depth == 0 || rc == 0) {
          out.route_rc = rc;
          return;  // return in the main route, or return(0): the script ends
        }
        pc = stack[--depth];
        loop_base = loop_bases[depth];
        break;
      case Op::kTailReturn: {
        // Off the end of a route: its value is the last action's; 0 does not end the script.
        // b 0 follows a call: its value is $rc (rc is -1 where a route's value was 0).
        const int32_t val = in.b == 0   ? r.retcode
                            : in.b == 1 ? static_cast<int32_t>(in.a)
                                        : r.tails[depth];
        r.retcode = val;
        if (depth == 0) {
          out.route_rc = val;
          return;
        }
        rc = val != 0 ? val : -1;  // false where the caller tests it; $rc says 0
        pc = stack[--depth];
        loop_base = loop_bases[depth];
        continue;
      }
      case Op::kTailSave:
        r.tails[depth] = in.b == 0 ? r.retcode : in.b == 1 ? 1 : 0;
        continue;
      case Op::kExit:
        return;
      case Op::kDrop:
        out.dropped = true;
        return;
      case Op::kUriIsMyself: {
        rc = v.is_request && ruri_is_myself(r) ? 1 : -1;
        VD_FUSED_JUMP();
        continue;
      }
      case Op::kIsMethod:
        if (in.b != 0) {
          const uint32_t idx = in.b - 1u;
          rc = (idx < prog.strings.size() && v.method_name.in(msg) == prog.strings[idx]) ? 1
                                                                                         : -1;
        } else {
          rc = ((in.a >> static_cast<uint32_t>(v.method)) & 1u) != 0 &&
                       v.method != sip::Method::kOther
                   ? 1
                   : -1;
        }
        r.retcode = rc;
        VD_FUSED_JUMP();
        continue;
      case Op::kSlSendReply:
        rc = send_reply(r, static_cast<uint16_t>(in.a), prog.strings[in.b]);
        r.retcode = rc;
        break;
      case Op::kMfProcessMaxfwd:
        rc = max_forwards(v, in.a, snap.maxfwd_limit, out);
        r.retcode = rc;
        VD_FUSED_JUMP();
        break;
      case Op::kForward:
        if (out.action != VmResult::Action::kNone) {
          rc = -1;
        } else {
          out.action = VmResult::Action::kForward;
          rc = 1;
        }
        r.retcode = rc;
        continue;
      case Op::kPushInt:
        r.push(int_val(static_cast<int32_t>(in.a)));
        break;
      case Op::kPushStr:
        r.push(str_val(prog.strings[in.a]));
        break;
      case Op::kPushNull:
        r.push(VmVal{});
        break;
      case Op::kPushPv:
        r.push(pv_value(r, prog.pvs[in.a]));
        break;
      case Op::kPushFmt:
        r.push(format(r, prog.fmts[in.a]));
        break;
      case Op::kPushRc:
        r.push(int_val(rc));
        break;
      case Op::kPushBool:
        r.push(int_val(rc > 0 ? 1 : 0));
        // The comparison is used up as a value: its failed conversion must not reach a `!`
        // later in the script (it only keeps a `!` directly around it false).
        r.cond_failed = false;
        break;
      case Op::kBinary: {
        const VmVal rv = r.pop();
        const VmVal l = r.pop();
        VmVal res{};
        if (binary(r, static_cast<cfg::BinOp>(in.b), l, rv, res)) {
          r.push(res);
        }
        break;
      }
      case Op::kUnary:
        r.push(unary(r, static_cast<cfg::UnOp>(in.b), r.pop()));
        break;
      case Op::kCompare: {
        const VmVal rv = r.pop();
        const VmVal l = r.pop();
        rc = compare(r, static_cast<cfg::CmpOp>(in.b), l, rv);
        if (rc == 0) {
          rc = -1;
          r.cond_failed = true;  // a `!` around it does not make it true
        }
        VD_FUSED_JUMP();
        break;
      }
      case Op::kTest: {
        // Kamailio's truth of a value in a condition: as an int, > 0 (a string is converted,
        // "abc" gives 0; $null is 0).
        rc = to_int(r.pop()) > 0 ? 1 : -1;
        VD_FUSED_JUMP();
        break;
      }
      case Op::kStore:
        store(r, prog.pvs[in.a], r.pop());
        break;
      case Op::kIsMyself: {
        const VmVal x = r.pop();
        if (x.kind != Kind::kStr) {
          rc = -1;
        } else if (in.a == static_cast<uint32_t>(cfg::MyselfWhat::kUri)) {
          rc = uri_text_is_myself(snap, x.s()) ? 1 : -1;
        } else {
          rc = host_is_myself(snap, x.s(), 0) ? 1 : -1;
        }
        VD_FUSED_JUMP();
        break;
      }
      case Op::kIpMatch: {
        const VmVal x = r.pop();
        rc = x.kind == Kind::kStr && ip_in(prog.nets[in.a], x.s()) ? 1 : -1;
        VD_FUSED_JUMP();
        break;
      }
      case Op::kStoreTemp: {
        VmVal x = r.pop();
        r.temps[in.a] = x;
        break;
      }
      case Op::kLoadTemp:
        r.push(r.temps[in.a]);
        break;
      case Op::kLoopInit:
        r.loops[loop_base + in.a] = 0;
        continue;
      case Op::kLoopStep:
        // Kamailio 5.6, measured: past max_while_loops it logs "runaway while", leaves the
        // loop and the script goes on after it. Counted here.
        if (prog.max_while_loops != 0 && ++r.loops[loop_base + in.b] > prog.max_while_loops) {
          ++st.while_limit;
          rc = -1;
          pc = code + in.a;
          continue;
        }
        break;
      case Op::kMethodEq: {
        if (in.b != 0) {
          // The scanner's Method is the exact name's (requests: the request line's; replies:
          // CSeq's, as $rm): equal values, equal bytes.
          rc = static_cast<uint32_t>(v.method) == in.b ? 1 : -1;
        } else {
          const std::string_view m = (v.is_request ? v.method_name : v.cseq_method).in(msg);
          const std::string_view want = prog.strings[in.a];
          rc = m.size() == want.size() && std::memcmp(m.data(), want.data(), m.size()) == 0 ? 1
                                                                                         : -1;
        }
        if (in.fused_jump != 0) {
          pc = fused_jump(code, in, pc, rc, r);
        }
        continue;  // rc is 1 or -1, nothing failed: nothing to check after
      }
      case Op::kRegexMatch: {
        const VmVal x = r.pop();
        // $null is matched as "" (Kamailio converts undef to an empty string).
        rc = regex_match(r, in.a, in.b, x.kind == Kind::kNull ? std::string_view() : r.to_str(x));
        VD_FUSED_JUMP();
        break;
      }
      case Op::kCallFn: {
        const cfg::FnCall& c = prog.calls[in.a];
        rc = kFnHooks[static_cast<size_t>(c.fn)](r, c);
        r.retcode = rc;
        VD_FUSED_JUMP();
        break;
      }
      case Op::kMethodSwitch: {
        // The chain of `case` labels this starts, as one lookup: where its jumps would take
        // this method, and the rc and cond_failed they would leave.
        const cfg::MethodTable& t = prog.method_tables[in.c];
        const uint32_t m = static_cast<uint32_t>(v.method) & (cfg::kMethodValues - 1);
        rc = ((t.hit >> m) & 1u) != 0 ? 1 : -1;
        r.cond_failed = false;
        pc = code + t.to[m];
        continue;
      }
      case Op::kRegexMatchPv: {
        // push_pv then regex_match (the next instruction, skipped), as those two would: a full
        // stack fails the run; a pseudo-variable that fails its conversion ends it before the
        // match. The scanner's User-Agent (`$ua =~`, the usual operand) is read in place.
        if (r.sp >= cfg::kVmStackDepth) [[unlikely]] {
          ++st.stack_overflow;
          r.failed = true;
          break;
        }
        const cfg::PvRef& pv = prog.pvs[in.c];
        std::string_view subject;
        if (pv.kind == PvKind::kUserAgent && pv.tr == 0 &&
            (v.has_user_agent || v.hdr_count != 0)) {
          if (v.has_user_agent) {
            subject = v[sip::Hdr::kUserAgent].in(msg);  // as pv_get's: $null reads as ""
          }
        } else {
          const VmVal x = pv_value(r, pv);
          if (r.failed) {
            break;
          }
          if (x.kind != Kind::kNull) {
            subject = r.to_str(x);
          }
        }
        ++pc;  // the regex_match
        rc = regex_match(r, in.a, in.b, subject);
        VD_FUSED_JUMP();
        break;
      }
      case Op::kCallRouteDyn: {
        const int32_t to = dynamic_route(r);
        if (to < 0) {
          // Kamailio 5.6.3 logs "route ... not found", the action is false, $rc keeps its
          // value and the script goes on (measured). Counted here.
          ++st.other_errors;
          rc = -1;
          break;
        }
        if (depth >= cfg::kMaxRouteDepth) {
          ++st.depth_limit;
          out.error = true;
          return;
        }
        loop_bases[depth] = static_cast<uint16_t>(loop_base);
        loop_base += in.b;
        stack[depth++] = pc;
        pc = code + prog.routes[static_cast<uint32_t>(to)].entry;
        break;
      }
      default:
        __builtin_unreachable();  // code_is_closed() refused any other op value
    }
    if (r.failed || rc == 0) [[unlikely]] {
      out.error = r.failed;  // else a function returned 0: that ends the script (Kamailio)
      return;
    }
  }
  ++st.other_errors;
  out.error = true;  // step budget exhausted: a loop the compiler could not bound
}
#undef VD_FUSED_JUMP

}  // namespace
}  // namespace viaduct::dp
