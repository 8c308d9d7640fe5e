// SPDX-License-Identifier: Apache-2.0
// dataplane/sip/sip.hpp: the SIP wire layer: zero-copy scanner, Via/URI accessors, in-place
// rewriter, stateless reply builder. Plain C++ over byte buffers, no DPDK, so the fast path,
// the slow path, the tools and the fuzzers share it.
//
// Every function here is safe on any input: it reads no byte outside [msg, msg + len), never
// allocates, never throws. Worker, per packet.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace viaduct::sip {

// A byte range of the message as offsets from its first byte (not pointers: the view survives a
// move of the message). len == 0 means absent.
struct Span {
  uint16_t off = 0;
  uint16_t len = 0;

  constexpr bool empty() const noexcept { return len == 0; }
  constexpr uint32_t end() const noexcept { return uint32_t{off} + len; }
  std::string_view in(const char* msg) const noexcept { return {msg + off, len}; }
};

// Method ids; bit (1 << value) is cfg::MethodBit.
enum class Method : uint8_t {
  kOther = 0,
  kInvite,
  kAck,
  kBye,
  kCancel,
  kRegister,
  kOptions,
  kInfo,
  kUpdate,
  kPrack,
  kSubscribe,
  kNotify,
  kRefer,
  kMessage,
  kPublish,
};

// Headers with a fixed slot, found in the one scan (long and compact forms).
// More header fields than this is an attack or a bug, not a call: scan() refuses the message
// (too_many_headers) and build_reply() will not write a reply that has more.
inline constexpr uint16_t kMaxHeaderFields = 256;

enum class Hdr : uint8_t {
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
  kUserAgent,  // no compact form; the first occurrence, even when its value is empty
               //   (SipView::has_user_agent tells an empty value from none)
  kCount,
};

// X-macro: enumerator, metric label. kOk first.
#define VD_SCAN_STATUS(X)                          \
  X(kOk, "ok")                                     \
  X(kNotSip, "not_sip")                            \
  X(kBadStartLine, "bad_start_line")               \
  X(kBadVersion, "bad_version")                    \
  X(kBadStatus, "bad_status")                      \
  X(kBadHeader, "bad_header")                      \
  X(kMissingHeader, "missing_header")              \
  X(kBadVia, "bad_via")                            \
  X(kBadCSeq, "bad_cseq")                          \
  X(kBadMaxForwards, "bad_max_forwards")           \
  X(kBadContentLength, "bad_content_length")       \
  X(kTruncated, "truncated")                       \
  X(kTooLarge, "too_large")                        \
  X(kTooManyHeaders, "too_many_headers")

enum class ScanStatus : uint8_t {
#define VD_X(e, s) e,
  VD_SCAN_STATUS(VD_X)
#undef VD_X
};
const char* scan_status_name(ScanStatus s) noexcept;

// One Via value (a via-parm), e.g. "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1;rport".
struct Via {
  Span value;        // the whole via-parm, trimmed, without the separating comma
  Span transport;    // "UDP"
  Span host;         // IPv6 references include the brackets
  Span port;         // digits; empty when absent
  uint16_t port_num = 0;  // 0 when absent
  Span branch;       // value of ;branch=
  Span received;     // value of ;received=
  Span maddr;        // value of ;maddr=
  Span ttl;          // value of ;ttl= (digits, 0..255)
  Span params;       // every via-param, from after the first ';' to params_end (other params)
  bool has_rport = false;
  Span rport;        // value of ;rport=, empty for a bare ;rport
  uint16_t params_end = 0;  // offset just after the last byte of the via-parm: where
                            // ";received=..;rport=.." is appended
  Span received_param;     // the whole ";received=..." parameter, from its ';' (rewriting)
  Span rport_param;        // the whole ";rport[=...]" parameter, from its ';' (rewriting)
};

// The bit a field name's first byte sets in SipView::names_seen: its low five bits, so a
// letter's two cases share one.
constexpr uint32_t name_bit(char c) noexcept {
  return uint32_t{1} << (static_cast<uint8_t>(c) & 31u);
}

struct SipView {
  bool is_request = false;
  Method method = Method::kOther;  // requests: from the request line; responses: from CSeq
  Span method_name;                // request line token (requests)
  Span ruri;                       // Request-URI (requests)
  uint16_t status = 0;             // responses
  Span reason;                     // responses

  Span hdr[static_cast<size_t>(Hdr::kCount)];  // value (trimmed) of the first occurrence
  uint16_t hdr_count = 0;          // number of header lines (fields)
  uint32_t names_seen = 0;         // name_bit() of the first byte of every field name hdr[]
                                   //   does not cover (Expires, Subject, X-...): such a name
                                   //   whose bit is clear is in no field (a lookup can stop);
                                   //   the start line's first byte may add one more bit

  uint8_t via_count = 0;           // Via values (comma-joined ones counted), saturates at 255
  Span top_via_line;               // whole header line holding the top Via, name to CRLF
                                   //   included (folded continuation lines included)
  bool top_via_alone = true;       // the top Via line holds exactly one value
  Via via1;                        // top Via
  Via via2;                        // second Via (via2.value.empty() when there is none)

  Span call_id;                    // == hdr[kCallId]
  uint32_t cseq_num = 0;
  Span cseq_method;
  bool cseq_method_mismatch = false;  // a request whose CSeq method is not its method (RFC 4475
                                     //   mismatch01/02): scanned, as Kamailio does; sanity_check
                                     //   answers 400
  Span from_tag;
  Span to_tag;
  Span from_uri;                   // the addr-spec of From / To (inside <...> when present),
  Span to_uri;                     //   as header_uri() gives it
  bool has_max_forwards = false;
  uint32_t max_forwards = 0;
  Span max_forwards_value;         // digits of the first Max-Forwards value
  bool has_content_length = false;
  bool has_user_agent = false;     // a User-Agent field is present (hdr[kUserAgent] may be
                                   //   empty: "User-Agent:" with no value)
  uint32_t content_length = 0;
  uint16_t headers_end = 0;        // offset of the CRLF of the empty line ending the headers
  uint16_t body_off = 0;           // first byte of the body
  uint16_t len = 0;                // message length (excluding bytes past Content-Length)

  Span operator[](Hdr h) const noexcept { return hdr[static_cast<size_t>(h)]; }
};

inline constexpr size_t kMaxMessage = 65535;

// Scans one SIP message in [msg, msg + len). On kOk `out` is filled; otherwise it is
// unspecified and the caller drops the message, counting the status.
ScanStatus scan(const char* msg, size_t len, SipView& out) noexcept;

// Parses one Via value [value.off, value.end()) of msg. False when malformed.
bool parse_via(const char* msg, Span value, Via& out) noexcept;

struct Uri {
  Span scheme;   // "sip" / "sips" / "tel"
  Span user;
  Span password;
  Span host;     // IPv6 references include the brackets
  Span port;
  uint16_t port_num = 0;  // 0 when absent
  Span params;   // after the first ';', without it
  Span headers;  // after '?', without it
};

// A URI parameter's value (`params` as Uri::params holds them: ';'-separated, no quoting; the
// name case-insensitive); found tells whether it is there (a parameter without '=' has an empty
// value).
std::string_view uri_param(std::string_view params, std::string_view name, bool& found) noexcept;

// Parses a SIP/SIPS/tel URI held in [uri.off, uri.end()). False when malformed. `readable`: the
// bytes msg[0, readable) may be read (the message's length, when the URI is in one); with it
// the common URI is parsed without being copied first. 0: only the URI's bytes are read.
bool parse_uri(const char* msg, Span uri, Uri& out, size_t readable = 0) noexcept;
// parse_uri()'s verdict without the parts (sanity_check's URI checks): cheaper, the same answer.
bool uri_valid(const char* msg, Span uri, size_t readable = 0) noexcept;

// A name-addr or addr-spec header value (From, To, Contact, Route...): '"Bob" <sip:b@x>;tag=1',
// 'Bob <sip:b@x>', 'sip:b@x;tag=1'.
struct NameAddr {
  Span display;  // the display name: inside the quotes when quoted, trimmed when bare; empty
                 //   when there is none
  Span uri;      // the addr-spec (inside <...> when present)
  Span tag;      // value of ;tag=
  Span params;   // the header's own parameters, after the first ';' following the URI
  uint16_t end = 0;  // where parsing stopped: the value's end, or a ',' before another value
};

// Parses the first name-addr/addr-spec of a header value. False when malformed (unterminated
// quotes or <, a quoted display name without <...>, an empty URI, a bad parameter).
bool parse_name_addr(const char* msg, Span value, NameAddr& out) noexcept;

// Digest credentials (an Authorization or Proxy-Authorization value, RFC 2617 3.2.2) as
// Kamailio's parse_digest_cred() reads them: the parameters it keeps, with their values
// (unquoted); a parameter given twice keeps the last.
struct DigestCred {
  enum Field : uint8_t { kUsername, kRealm, kNonce, kUri, kResponse, kCnonce, kNc, kQop, kCount };
  std::string_view value[kCount];
  uint16_t present = 0;  // bit per Field
  bool has(Field f) const noexcept { return ((present >> f) & 1u) != 0; }
};
enum class CredScheme : uint8_t {
  kDigest,     // parsed into the DigestCred
  kOther,      // not "Digest" (Basic...), or shorter than "Digest " (Kamailio: unknown scheme)
  kMalformed,  // Digest, but a parameter without '=', an empty token or an unterminated quote
};
CredScheme parse_digest_cred(std::string_view value, DigestCred& out) noexcept;

// The display name as Kamailio gives it ($fn, $tn, {tobody.display}): with its quotes when
// quoted ('"Bob"'), as written when bare; empty when there is none. `msg` holds `size` bytes.
inline Span display_as_written(const char* msg, size_t size, const NameAddr& na) noexcept {
  const Span d = na.display;
  if (!d.empty() && d.off > 0 && msg[d.off - 1] == '"' && d.end() < size && msg[d.end()] == '"') {
    return Span{static_cast<uint16_t>(d.off - 1), static_cast<uint16_t>(d.len + 2)};
  }
  return d;
}

// The addr-spec inside a name-addr header value ("Bob" <sip:b@x>;tag=1 -> sip:b@x), or the bare
// addr-spec up to its params. Empty span when malformed.
Span header_uri(const char* msg, Span value) noexcept;

// ---- Rewriting -----------------------------------------------------------------------------

// One edit of the original message: delete `del` bytes at `off`, then insert `ins` there.
struct Edit {
  uint16_t off = 0;
  uint16_t del = 0;
  std::string_view ins;
};

// Most edits one apply_edits() call takes (the bookkeeping is fixed arrays on the stack).
inline constexpr size_t kMaxEdits = 48;

// ASCII case folding and case-insensitive equality (header names, schemes, parameters).
constexpr char ascii_lower(char c) noexcept {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}
constexpr bool iequal(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) {
    return false;
  }
  for (size_t i = 0; i < a.size(); ++i) {
    if (ascii_lower(a[i]) != ascii_lower(b[i])) {
      return false;
    }
  }
  return true;
}

// The compact form of a header name (RFC 3261 7.3.3 and the extensions Kamailio 5.6 parses,
// measured with remove_hf), or 0. A one-letter name is itself a compact form: `full` is then
// set to the long name (else to `name`).
inline char compact_form(std::string_view name, std::string_view& full) noexcept {
  struct Entry {
    std::string_view name;
    char c;
  };
  static constexpr Entry kCompact[] = {
      {"Call-ID", 'i'},        {"Contact", 'm'},        {"Content-Encoding", 'e'},
      {"Content-Length", 'l'}, {"Content-Type", 'c'},   {"From", 'f'},
      {"Subject", 's'},        {"Supported", 'k'},      {"To", 't'},
      {"Via", 'v'},            {"Event", 'o'},          {"Allow-Events", 'u'},
      {"Refer-To", 'r'},       {"Referred-By", 'b'},    {"Session-Expires", 'x'},
      {"Accept-Contact", 'a'}, {"Reject-Contact", 'j'}, {"Request-Disposition", 'd'},
      {"Identity", 'y'},
  };
  full = name;
  for (const Entry& e : kCompact) {
    if (name.size() == 1 && (name[0] | 0x20) == e.c) {
      full = e.name;
      return e.c;
    }
    if (iequal(name, e.name)) {
      return e.c;
    }
  }
  return 0;
}

// Sorts edits by offset; at one offset, inserts (in the order they were added) before a
// deletion starting there. With `resolve`, a pure deletion inside one already made (remove_hf
// of a field loose_route pops too, the same name twice, remove_hf("Via") and the removal of our
// own Via) is dropped; false when edits still overlap (remove_hf of a field we rewrite).
inline bool order_edits(Edit* edits, size_t& n, bool resolve) noexcept {
  for (size_t i = 1; i < n; ++i) {
    for (size_t j = i; j > 0; --j) {
      const Edit& a = edits[j - 1];
      const Edit& b = edits[j];
      if (a.off < b.off || (a.off == b.off && (b.del != 0 || a.del == 0))) {
        break;
      }
      const Edit t = edits[j];
      edits[j] = edits[j - 1];
      edits[j - 1] = t;
    }
  }
  if (!resolve) {
    return true;
  }
  size_t out = 0;
  uint32_t prev_end = 0;
  for (size_t i = 0; i < n; ++i) {
    const Edit& e = edits[i];
    if (e.off < prev_end) {
      if (e.ins.empty() && uint32_t{e.off} + e.del <= prev_end) {
        continue;  // already gone with the deletion that covers it
      }
      return false;
    }
    prev_end = uint32_t{e.off} + e.del;
    edits[out++] = e;
  }
  n = out;
  return true;
}

// Applies `edits` (sorted by off, non-overlapping, all inside the message) to the message held
// in buf[head, head + len), where buf has `cap` bytes. The result is again contiguous in buf; on
// return `head` and `len` describe it. Bytes in front of the last edit move (into the headroom
// buf[0, head) when the message grows, toward the body when it shrinks); the bytes after the
// last edit, the body, do not move. When the headroom is too small the tail is moved instead,
// into buf[head + len, cap). False (buffer unchanged) when it does not fit either way.
// The `ins` views must not point into buf.
bool apply_edits(char* buf, size_t cap, size_t& head, size_t& len,
                 std::span<const Edit> edits) noexcept;

// Deterministic stateless branch for a request we forward (RFC 3261 16.11): a hash of the top
// Via's branch and sent-by, the From tag, the Call-ID, the CSeq number and the Request-URI, so a
// retransmission, the CANCEL of an INVITE and the ACK of a non-2xx final reply get the same
// branch as the INVITE. Writes "z9hG4bK" + 16 lowercase hex digits (23 bytes) to out.
inline constexpr size_t kBranchLen = 23;
void stateless_branch(const char* msg, const SipView& v, char out[kBranchLen]) noexcept;

// The port a sent-by or SIP URI without one means (RFC 3261 19.1.2, 18.2.2).
inline constexpr uint16_t kDefaultSipPort = 5060;

// Writes "Via: SIP/2.0/UDP <host>:<port>;branch=<branch>\r\n" to out (":<port>" left out when
// it is 5060, as Kamailio writes its own Via); returns its length, or 0 when it does not fit.
size_t build_via_line(char* out, size_t cap, std::string_view host, uint16_t port,
                      std::string_view branch) noexcept;
// build_via_line with stateless_branch(msg, v) as the branch, hashed straight into the line.
size_t build_stateless_via_line(char* out, size_t cap, std::string_view host, uint16_t port,
                                const char* msg, const SipView& v) noexcept;

// The parameters RFC 3261 18.2.1 / RFC 3581 add to the top Via of a received request:
// ";received=<src_ip>" when the Via host differs from src_ip (or the Via has rport/received),
// and ";rport=<src_port>" filling in a bare rport (or replacing its value). As Kamailio 5.6.3
// does (measured): rport is filled in where it stands; a new received goes in front of the
// first parameter, right after the sent-by ("h:5060;received=..;rport=..;branch=.."), an
// existing one is replaced where it stands; so the other parameters are never copied: at most
// two edits, sorted by offset, whose inserts are written to out (kViaReceivedMax bytes are
// always enough). Sets n to the number of edits (0 when nothing is to be added). False when
// out is too small.
//
// force_rport() (Kamailio's FL_FORCE_RPORT) makes a Via without rport get ";rport=<src_port>"
// as if it had asked for it, without forcing received (measured against Kamailio 5.6.3):
// kRequest puts it where Kamailio puts it in a forwarded request, right after the sent-by
// (before a new received, or in front of an existing received), kReply where it puts it in a
// local reply: appended, before received, which a local reply always appends (a second one
// when the Via had received already, as Kamailio does).
inline constexpr size_t kViaReceivedMax = 96;
enum class ForceRport : uint8_t { kNo, kRequest, kReply };
bool via_received_edits(const char* msg, const SipView& v, std::string_view src_ip,
                        uint16_t src_port, char* out, size_t cap, Edit (&edits)[2],
                        size_t& n, ForceRport force = ForceRport::kNo) noexcept;

// The edit that removes the top Via from a reply: the whole header line when the Via was alone
// on it, otherwise that value and its comma.
Edit remove_top_via_edit(const char* msg, const SipView& v) noexcept;

// ---- Proxy edits (the slow path and the script functions use them; each is one Edit, or a few
// for remove_header_edits, to combine with the others in one apply_edits) ---------------------

// Replaces the Request-URI of a request (rewriteuri, sethost...: the caller builds the URI).
Edit ruri_edit(const SipView& v, std::string_view new_uri) noexcept;

// Writes "Record-Route: <sip:HOST:PORT;lr>\r\n" to out (IPv6 hosts bracketed, no ":PORT" when it is
// 5060, as Kamailio's rr writes it), with ";ftag=FTAG"
// after ;lr when ftag is not empty (the rr module's append_fromtag); returns its length, 0 when
// it does not fit. record_route_edit() inserts such a line where Kamailio's rr puts it: above
// every header field (so above the existing Record-Route fields too, as RFC 3261 16.6 wants).
size_t build_record_route_line(char* out, size_t cap, std::string_view host, uint16_t port,
                               std::string_view ftag = {}) noexcept;
Edit record_route_edit(const char* msg, const SipView& v, std::string_view line) noexcept;

// Offset of the first header field (just after the start line).
size_t first_header_offset(const char* msg, const SipView& v) noexcept;

// Loose routing (RFC 3261 16.4): the edit that removes the first Route value (the whole field
// line when it holds one value, else that value and its comma). has_route is false (and the
// edit empty) when the request has no Route. `cut_in_quote` (when given) is set when the value
// ends where the scanner is inside a quoted string (a '"' inside the <URI>, which the name-addr
// parser does not treat as one): what follows would then scan differently, control bytes that
// were quoted unquoted; the message is malformed and the caller drops it.
Edit route_pop_edit(const char* msg, const SipView& v, bool& has_route,
                    bool* cut_in_quote = nullptr) noexcept;

// loose_route() removing more than the top Route value, as Kamailio's rr does: our double
// Record-Route (two values of ours, ;r2=on), a strict router's value (RFC 3261 16.6 step 6).
// `vals` are Route values in order from the first one, contiguous (vals[0] the top), each from
// its start to the end of its field's value; n at most 3. The edits that remove them all: per
// field, the whole line when nothing follows its last removed value, else from the field's
// first value to the next value (commas and LWS with them). Returns how many (at most n, in
// order); 0 when there is no Route or a value does not parse. `cut_in_quote` as
// route_pop_edit's.
size_t route_cut_edits(const char* msg, const SipView& v, const Span* vals, size_t n, Edit* out,
                       bool* cut_in_quote = nullptr) noexcept;

// The last Route value (the last value of the last Route field, `field` that field's value):
// its URI in `uri`, and the edit that removes it (Kamailio's rr after a strict router, the
// remote target moved back into the R-URI): from the end of the value before it in the field
// through its own end, or the whole field line when it is the field's only value. False when
// a value of the field does not parse, or when the cut would change the scanner's quote state
// (a '"' inside a <URI>: the rest of the field would scan differently).
bool route_last_value(const char* msg, const SipView& v, Span field, Span& uri,
                      Edit& cut) noexcept;

// append_hf: inserts `line` ("Name: value\r\n") after the last header field.
Edit append_header_edit(const SipView& v, std::string_view line) noexcept;

// remove_hf: edits deleting every field named `name` (case-insensitive; the compact form when
// `compact` is not 0), continuation lines included. Writes at most `cap` edits, sorted; returns
// how many fields there are (more than `cap`: the caller's array was too small).
size_t remove_header_edits(const char* msg, const SipView& v, std::string_view name,
                           char compact, Edit* out, size_t cap) noexcept;

// Builds a complete stateless reply to the request `req` (scanned into v) in out: status line,
// the request's Via (the top one with received/rport appended as ForceRport::kReply lays them
// out), From, To (with a To-tag at its end when the request's To has none), Call-ID, CSeq
// fields, and its Record-Route fields in a 180..299 reply, copied as received and in the
// request's order (compact names, spacing and folding kept, as Kamailio's sl does), then
// `server` (the Server line, "Server: name\r\n", or empty for none; a null view: viaduct's own,
// "Server: viaduct"), Content-Length: 0.
// The To-tag is derived deterministically from the request (retransmissions get the same one).
// force_rport: the top Via gets rport=<src_port> as if it had asked (ForceRport::kReply).
// Returns the length, or 0 when it does not fit in cap.
// `extra`: whole header lines ("Name: value\r\n") put before Server, as Kamailio's reply lumps.
size_t build_reply(const char* req, const SipView& v, uint16_t code, std::string_view reason,
                   std::string_view src_ip, uint16_t src_port, char* out, size_t cap,
                   bool force_rport = false, std::string_view extra = {},
                   std::string_view server = {}) noexcept;

// The To-tag build_reply() gives a local reply (from 180 on) to `req`: "vd" and 16 hex digits
// of a hash of the Call-ID, the From-tag, the CSeq number and the top Via's branch.
inline constexpr size_t kLocalToTagLen = 18;
void local_to_tag(const char* req, const SipView& v, char (&tag)[kLocalToTagLen]) noexcept;
// An ACK for one of our local replies: its To-tag is the one local_to_tag() gave the reply (the
// ACK of a non-2xx keeps the INVITE's Call-ID, From-tag, CSeq number and top Via branch, RFC
// 3261 17.1.1.3). Kamailio's sl absorbs such an ACK before the script runs (sl_filter_ACK).
bool is_local_reply_ack(const char* msg, const SipView& v) noexcept;

}  // namespace viaduct::sip
