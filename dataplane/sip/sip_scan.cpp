// SPDX-License-Identifier: Apache-2.0
// dataplane/sip/sip_scan.cpp: the one-pass SIP scanner that fills SipView.
//
// Shape: the start line, then one loop over header lines. A line that starts with SP/HTAB
// continues the current field (obsolete folding), so a field is processed when the next field
// (or the empty line) starts: each byte of the header section is classified once, values are
// then re-read only for the few headers that have a slot. Bare-LF line ends are tolerated
// (as Kamailio does); spans then cover the LF alone.
#include <cstring>

#include "dataplane/sip/chars.hpp"
#include "dataplane/sip/sip.hpp"

namespace viaduct::sip {

using namespace detail;

namespace {

// More header fields than this is an attack or a bug, not a call.
constexpr uint16_t kMaxHeaders = 256;

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
  kOther,
};
static_assert(static_cast<int>(Kind::kContact) == static_cast<int>(Hdr::kContact));

Kind classify(std::string_view n) noexcept {
  if (n.size() == 1) {
    switch (lower(n[0])) {
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
  }
  switch (n.size()) {
    case 2:
      return iequals(n, "to") ? Kind::kTo : Kind::kOther;
    case 3:
      return iequals(n, "via") ? Kind::kVia : Kind::kOther;
    case 4:
      if (iequals(n, "from")) {
        return Kind::kFrom;
      }
      return iequals(n, "cseq") ? Kind::kCSeq : Kind::kOther;
    case 5:
      return iequals(n, "route") ? Kind::kRoute : Kind::kOther;
    case 7:
      if (iequals(n, "call-id")) {
        return Kind::kCallId;
      }
      return iequals(n, "contact") ? Kind::kContact : Kind::kOther;
    case 12:
      if (iequals(n, "max-forwards")) {
        return Kind::kMaxForwards;
      }
      return iequals(n, "record-route") ? Kind::kRecordRoute : Kind::kOther;
    case 14:
      return iequals(n, "content-length") ? Kind::kContentLength : Kind::kOther;
    default:
      return Kind::kOther;
  }
}

// Start line. On success sets the fields of `out` it covers.
ScanStatus scan_start_line(const char* msg, size_t le, SipView& out) noexcept {
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
  const size_t last_sp = line.rfind(' ');
  if (last_sp == m) {
    return ScanStatus::kBadStartLine;  // no SIP-Version (RFC 4475 test.dat)
  }
  const std::string_view version = line.substr(last_sp + 1);
  if (version != kVersion) {
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
  while (q < last_sp &&
         (is(msg[q], kAlpha | kDigit) || msg[q] == '+' || msg[q] == '-' || msg[q] == '.')) {
    ++q;
  }
  if (q >= last_sp || msg[q] != ':') {
    return ScanStatus::kBadStartLine;
  }
  for (; q < last_sp; ++q) {
    if (is_lws(msg[q]) || is(msg[q], kCtl)) {
      return ScanStatus::kBadStartLine;
    }
  }
  out.is_request = true;
  out.method_name = make_span(0, m);
  out.method = method_from_name(std::string_view(msg, m));
  out.ruri = make_span(u, last_sp);
  return ScanStatus::kOk;
}

struct Field {
  size_t line_off = 0;   // first byte of the header name
  size_t value_off = 0;  // first byte after the colon
  size_t value_end = 0;  // end of the last line's content (before its CRLF/LF)
  size_t line_end = 0;   // just after the last line's LF
  Kind kind = Kind::kOther;
};

class Scanner {
 public:
  Scanner(const char* msg, SipView& out) noexcept : msg_(msg), out_(out) {}

  ScanStatus field(const Field& f) noexcept {
    const Span value = trim(msg_, f.value_off, f.value_end);
    if (f.kind == Kind::kVia) {
      return via_field(f);
    }
    if (f.kind == Kind::kContentLength) {
      uint32_t n = 0;
      if (!parse_u32(value.in(msg_), n) || (out_.has_content_length && n != out_.content_length)) {
        return ScanStatus::kBadContentLength;  // RFC 4475 ncl, mcl01
      }
      out_.has_content_length = true;
      out_.content_length = n;
    }
    if (f.kind == Kind::kOther) {
      return ScanStatus::kOk;
    }
    Span& slot = out_.hdr[static_cast<size_t>(f.kind)];
    if (!slot.empty()) {
      return ScanStatus::kOk;  // only the first occurrence counts (RFC 4475 multi01)
    }
    slot = value;
    switch (f.kind) {
      case Kind::kFrom:
      case Kind::kTo: {
        NameAddr na;
        if (!value.empty() && !parse_name_addr(msg_, value, na)) {
          return ScanStatus::kBadHeader;  // e.g. unterminated display name (RFC 4475 quotbal)
        }
        (f.kind == Kind::kFrom ? out_.from_tag : out_.to_tag) = na.tag;
        break;
      }
      case Kind::kCSeq:
        return cseq(value);
      case Kind::kMaxForwards:
        if (!parse_u32(value.in(msg_), out_.max_forwards)) {
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
  ScanStatus cseq(Span value) noexcept {
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

  // Splits a Via field into its comma-separated values (not inside quotes or <...>) and parses
  // each: the first two fill via1/via2, the rest are only checked.
  ScanStatus via_field(const Field& f) noexcept {
    size_t p = f.value_off;
    const size_t end = f.value_end;
    unsigned in_field = 0;
    const bool first_field = out_.via_count == 0;
    while (true) {
      size_t q = p;
      int angle = 0;
      while (q < end && (msg_[q] != ',' || angle > 0)) {
        if (msg_[q] == '"') {
          q = skip_quoted(msg_, q, end);
          if (q > end) {
            return ScanStatus::kBadVia;
          }
          continue;
        }
        if (msg_[q] == '<') {
          ++angle;
        } else if (msg_[q] == '>' && angle > 0) {
          --angle;
        }
        ++q;
      }
      const Span value = trim(msg_, p, q);
      if (value.empty()) {
        return ScanStatus::kBadVia;  // RFC 4475 badinv01: ";;,;,,"
      }
      Via scratch;
      Via& via = out_.via_count == 0 ? out_.via1 : out_.via_count == 1 ? out_.via2 : scratch;
      if (!parse_via(msg_, value, via)) {
        return ScanStatus::kBadVia;
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
      out_.hdr[static_cast<size_t>(Hdr::kVia)] = trim(msg_, f.value_off, f.value_end);
    }
    return ScanStatus::kOk;
  }

  const char* msg_;
  SipView& out_;
};

// Scans one header line from p (its first byte already classified by the caller) to its LF.
// Tracks quoted strings across folded lines. Returns the offset of the LF, `len` when there is
// none, or `len + 1` on a control character outside a quoted string (or a bare CR).
size_t scan_line(const char* msg, size_t p, size_t len, bool& in_quote) noexcept {
  for (; p < len; ++p) {
    const char c = msg[p];
    if (!is(c, kLineStop)) [[likely]] {
      continue;
    }
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

}  // namespace

ScanStatus scan(const char* msg, size_t len, SipView& out) noexcept {
  out = SipView{};
  if (len > kMaxMessage) {
    return ScanStatus::kTooLarge;
  }
  if (len == 0) {
    return ScanStatus::kNotSip;
  }
  const void* lf_ptr = std::memchr(msg, '\n', len);
  const size_t lf =
      lf_ptr == nullptr ? len : static_cast<size_t>(static_cast<const char*>(lf_ptr) - msg);
  const size_t le = (lf > 0 && lf < len && msg[lf - 1] == '\r') ? lf - 1 : lf;
  if (ScanStatus s = scan_start_line(msg, le, out); s != ScanStatus::kOk) {
    return s;
  }
  if (lf >= len) {
    return ScanStatus::kTruncated;
  }

  Scanner scanner(msg, out);
  Field cur;
  bool have_field = false;
  bool in_quote = false;
  size_t p = lf + 1;
  while (true) {
    if (p >= len) {
      return ScanStatus::kTruncated;  // header section not closed by an empty line
    }
    const char c = msg[p];
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
      if (have_field) {
        if (ScanStatus s = scanner.field(cur); s != ScanStatus::kOk) {
          return s;
        }
      }
      out.headers_end = static_cast<uint16_t>(p);
      out.body_off = static_cast<uint16_t>(eol + 1);
      break;
    }
    size_t from = p;
    if (is_ws(c)) {
      if (!have_field) {
        return ScanStatus::kBadHeader;  // continuation with nothing to continue
      }
    } else {
      if (have_field) {
        if (ScanStatus s = scanner.field(cur); s != ScanStatus::kOk) {
          return s;
        }
      }
      // field-name HCOLON: token, optional SP/HTAB, ':'.
      const size_t name_end = skip_class(msg, p, len, kToken);
      const size_t colon = [&] {
        size_t q = name_end;
        while (q < len && is_ws(msg[q])) {
          ++q;
        }
        return q;
      }();
      if (name_end == p || colon >= len || msg[colon] != ':') {
        return colon >= len ? ScanStatus::kTruncated : ScanStatus::kBadHeader;
      }
      if (++out.hdr_count > kMaxHeaders) {
        return ScanStatus::kTooManyHeaders;
      }
      cur = Field{};
      cur.line_off = p;
      cur.value_off = colon + 1;
      cur.kind = classify(std::string_view(msg + p, name_end - p));
      have_field = true;
      in_quote = false;
      from = colon + 1;
    }
    const size_t nl = scan_line(msg, from, len, in_quote);
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
    if (out.cseq_method.in(msg) != out.method_name.in(msg)) {
      return ScanStatus::kBadCSeq;  // RFC 4475 mismatch01, mismatch02
    }
  } else {
    out.method = method_from_name(out.cseq_method.in(msg));
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
