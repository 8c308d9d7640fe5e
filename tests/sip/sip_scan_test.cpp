// SPDX-License-Identifier: Apache-2.0
// tests/sip/sip_scan_test.cpp: the scanner, table-driven (STYLE.md C4): cases are data, add a
// row per bug. RFC 4475 torture messages have their own table below.
#include <gtest/gtest.h>

#include <cstring>
#include <new>
#include <string>
#include <string_view>

#include "dataplane/sip/sip.hpp"
#include "tests/sip/sip_test_util.hpp"

namespace viaduct::sip {
namespace {

using test::kSippInvite;

struct ScanCase {
  const char* name;  // becomes the test name: keep it an identifier
  std::string_view msg;
  ScanStatus want;
  uint8_t vias = 0;
  std::string_view call_id = {};
  Method method = Method::kOther;
  uint16_t status = 0;
  std::string_view via1_host = {};
  std::string_view via2_host = {};
  bool top_alone = true;
  std::string_view from_tag = {};
  std::string_view to_tag = {};
  uint32_t cseq = 0;
  int64_t content_length = -1;  // -1: no Content-Length header
};

#define CRLF "\r\n"
// The four headers (besides Via) every message needs, for the rows about something else.
#define VD_HDRS(method)                                                                       \
  "From: <sip:a@example.com>;tag=ft" CRLF "To: <sip:b@example.com>" CRLF "Call-ID: cid1" CRLF \
  "CSeq: 1 " method CRLF

constexpr char kNulMsg[] =
    "OPTIONS sip:x@example.com SIP/2.0" CRLF "Via: SIP/2.0/UDP h" CRLF "Subject: a\0b" CRLF CRLF;

const ScanCase kCases[] = {
    // --- sipp default uac/uas scenarios -------------------------------------------------
    {.name = "SippInvite",
     .msg = kSippInvite,
     .want = ScanStatus::kOk,
     .vias = 1,
     .call_id = "1-12345@127.0.1.1",
     .method = Method::kInvite,
     .via1_host = "127.0.1.1",
     .from_tag = "12345SIPpTag001",
     .cseq = 1,
     .content_length = 129},
    {.name = "SippTrying",
     .msg = "SIP/2.0 100 Trying" CRLF
            "Via: SIP/2.0/UDP 127.0.1.1:5061;branch=z9hG4bK-12345-1-0;received=127.0.0.1" CRLF
            "From: sipp <sip:sipp@127.0.1.1:5061>;tag=12345SIPpTag001" CRLF
            "To: service <sip:service@127.0.0.1:5060>" CRLF "Call-ID: 1-12345@127.0.1.1" CRLF
            "CSeq: 1 INVITE" CRLF "Content-Length: 0" CRLF CRLF,
     .want = ScanStatus::kOk,
     .vias = 1,
     .call_id = "1-12345@127.0.1.1",
     .method = Method::kInvite,
     .status = 100,
     .via1_host = "127.0.1.1",
     .from_tag = "12345SIPpTag001",
     .cseq = 1,
     .content_length = 0},
    {.name = "SippRinging",
     .msg = "SIP/2.0 180 Ringing" CRLF
            "Via: SIP/2.0/UDP 127.0.1.1:5061;branch=z9hG4bK-12345-1-0;received=127.0.0.1" CRLF
            "From: sipp <sip:sipp@127.0.1.1:5061>;tag=12345SIPpTag001" CRLF
            "To: service <sip:service@127.0.0.1:5060>;tag=6789SIPpTag011" CRLF
            "Call-ID: 1-12345@127.0.1.1" CRLF "CSeq: 1 INVITE" CRLF
            "Contact: <sip:127.0.0.1:5060;transport=UDP>" CRLF "Content-Length: 0" CRLF CRLF,
     .want = ScanStatus::kOk,
     .vias = 1,
     .call_id = "1-12345@127.0.1.1",
     .method = Method::kInvite,
     .status = 180,
     .via1_host = "127.0.1.1",
     .from_tag = "12345SIPpTag001",
     .to_tag = "6789SIPpTag011",
     .cseq = 1,
     .content_length = 0},
    {.name = "SippOk",
     .msg = "SIP/2.0 200 OK" CRLF
            "Via: SIP/2.0/UDP 127.0.1.1:5061;branch=z9hG4bK-12345-1-0;received=127.0.0.1" CRLF
            "From: sipp <sip:sipp@127.0.1.1:5061>;tag=12345SIPpTag001" CRLF
            "To: service <sip:service@127.0.0.1:5060>;tag=6789SIPpTag011" CRLF
            "Call-ID: 1-12345@127.0.1.1" CRLF "CSeq: 1 INVITE" CRLF
            "Contact: <sip:127.0.0.1:5060;transport=UDP>" CRLF "Content-Type: application/sdp" CRLF
            "Content-Length:   129" CRLF CRLF "v=0" CRLF
            "o=user1 53655765 2353687637 IN IP4 127.0.0.1" CRLF "s=-" CRLF "c=IN IP4 127.0.0.1" CRLF
            "t=0 0" CRLF "m=audio 6000 RTP/AVP 0" CRLF "a=rtpmap:0 PCMU/8000" CRLF,
     .want = ScanStatus::kOk,
     .vias = 1,
     .call_id = "1-12345@127.0.1.1",
     .method = Method::kInvite,
     .status = 200,
     .via1_host = "127.0.1.1",
     .from_tag = "12345SIPpTag001",
     .to_tag = "6789SIPpTag011",
     .cseq = 1,
     .content_length = 129},
    {.name = "SippAck",
     .msg = "ACK sip:service@127.0.0.1:5060 SIP/2.0" CRLF
            "Via: SIP/2.0/UDP 127.0.1.1:5061;branch=z9hG4bK-12345-1-5" CRLF
            "From: sipp <sip:sipp@127.0.1.1:5061>;tag=12345SIPpTag001" CRLF
            "To: service <sip:service@127.0.0.1:5060>;tag=6789SIPpTag011" CRLF
            "Call-ID: 1-12345@127.0.1.1" CRLF "CSeq: 1 ACK" CRLF
            "Contact: sip:sipp@127.0.1.1:5061" CRLF "Max-Forwards: 70" CRLF
            "Subject: Performance Test" CRLF "Content-Length: 0" CRLF CRLF,
     .want = ScanStatus::kOk,
     .vias = 1,
     .call_id = "1-12345@127.0.1.1",
     .method = Method::kAck,
     .via1_host = "127.0.1.1",
     .from_tag = "12345SIPpTag001",
     .to_tag = "6789SIPpTag011",
     .cseq = 1,
     .content_length = 0},
    {.name = "SippBye",
     .msg = "BYE sip:service@127.0.0.1:5060 SIP/2.0" CRLF
            "Via: SIP/2.0/UDP 127.0.1.1:5061;branch=z9hG4bK-12345-1-7" CRLF
            "From: sipp <sip:sipp@127.0.1.1:5061>;tag=12345SIPpTag001" CRLF
            "To: service <sip:service@127.0.0.1:5060>;tag=6789SIPpTag011" CRLF
            "Call-ID: 1-12345@127.0.1.1" CRLF "CSeq: 2 BYE" CRLF
            "Contact: sip:sipp@127.0.1.1:5061" CRLF "Max-Forwards: 70" CRLF
            "Subject: Performance Test" CRLF "Content-Length: 0" CRLF CRLF,
     .want = ScanStatus::kOk,
     .vias = 1,
     .call_id = "1-12345@127.0.1.1",
     .method = Method::kBye,
     .via1_host = "127.0.1.1",
     .from_tag = "12345SIPpTag001",
     .to_tag = "6789SIPpTag011",
     .cseq = 2,
     .content_length = 0},
    {.name = "SippOptions",
     .msg = "OPTIONS sip:service@127.0.0.1:5060 SIP/2.0" CRLF
            "Via: SIP/2.0/UDP 127.0.1.1:5061;branch=z9hG4bK-12345-1-0" CRLF
            "From: sipp <sip:sipp@127.0.1.1:5061>;tag=1" CRLF
            "To: sut <sip:service@127.0.0.1:5060>" CRLF "Call-ID: 1-12345@127.0.1.1" CRLF
            "CSeq: 1 OPTIONS" CRLF "Contact: sip:sipp@127.0.1.1:5061" CRLF "Max-Forwards: 70" CRLF
            "Accept: application/sdp" CRLF "Content-Length: 0" CRLF CRLF,
     .want = ScanStatus::kOk,
     .vias = 1,
     .call_id = "1-12345@127.0.1.1",
     .method = Method::kOptions,
     .via1_host = "127.0.1.1",
     .from_tag = "1",
     .cseq = 1,
     .content_length = 0},
    {.name = "SippRegister",
     .msg = "REGISTER sip:127.0.0.1 SIP/2.0" CRLF
            "Via: SIP/2.0/UDP 127.0.1.1:5061;branch=z9hG4bK-12345-1-0;rport" CRLF
            "From: <sip:user1@127.0.0.1>;tag=12345SIPpTag001" CRLF "To: <sip:user1@127.0.0.1>" CRLF
            "Call-ID: 1-12345@127.0.1.1" CRLF "CSeq: 1 REGISTER" CRLF
            "Contact: <sip:user1@127.0.1.1:5061>;expires=3600" CRLF "Max-Forwards: 70" CRLF
            "Expires: 3600" CRLF "Content-Length: 0" CRLF CRLF,
     .want = ScanStatus::kOk,
     .vias = 1,
     .call_id = "1-12345@127.0.1.1",
     .method = Method::kRegister,
     .via1_host = "127.0.1.1",
     .from_tag = "12345SIPpTag001",
     .cseq = 1,
     .content_length = 0},
    // --- header syntax variants ----------------------------------------------------------
    {.name = "CompactFormsAndTwoViasInOneLine",
     .msg = "BYE sip:bob@example.com SIP/2.0" CRLF
            "v: SIP/2.0/UDP 10.0.0.2;branch=z9hG4bK2, SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1" CRLF
            "f: <sip:a@example.com>;tag=fa" CRLF "t: <sip:b@example.com>;tag=tb" CRLF "i: xyz" CRLF
            "CSeq: 2 BYE" CRLF "l: 0" CRLF "m: <sip:a@10.0.0.1>" CRLF
            "r: <sip:c@example.com>" CRLF CRLF,
     .want = ScanStatus::kOk,
     .vias = 2,
     .call_id = "xyz",
     .method = Method::kBye,
     .via1_host = "10.0.0.2",
     .via2_host = "10.0.0.1",
     .top_alone = false,
     .from_tag = "fa",
     .to_tag = "tb",
     .cseq = 2,
     .content_length = 0},
    {.name = "CaseInsensitiveNamesAndSpaceAroundColon",
     .msg = "OPTIONS sip:x@example.com SIP/2.0" CRLF "vIA  :SIP/2.0/UDP h1" CRLF
            "FROM\t: <sip:a@example.com>;TAG=up" CRLF "to:<sip:b@example.com>" CRLF
            "CALL-id :   c-2   " CRLF "cseq: 7 OPTIONS" CRLF CRLF,
     .want = ScanStatus::kOk,
     .vias = 1,
     .call_id = "c-2",
     .method = Method::kOptions,
     .via1_host = "h1",
     .from_tag = "up",
     .cseq = 7},
    {.name = "FoldedHeaders",
     .msg = "INVITE sip:x@example.com SIP/2.0" CRLF "Via: SIP/2.0/UDP h1;" CRLF
            " branch=z9hG4bKf," CRLF "\tSIP/2.0/TCP h2" CRLF "From: <sip:a@example.com>" CRLF
            "  ;tag=folded" CRLF "To: <sip:b@example.com>" CRLF "Call-ID:" CRLF " cf" CRLF
            "CSeq: 3" CRLF " INVITE" CRLF CRLF,
     .want = ScanStatus::kOk,
     .vias = 2,
     .call_id = "cf",
     .method = Method::kInvite,
     .via1_host = "h1",
     .via2_host = "h2",
     .top_alone = false,
     .from_tag = "folded",
     .cseq = 3},
    {.name = "SeveralViaLinesAndCommaJoined",
     .msg = "SIP/2.0 200 OK" CRLF "Via: SIP/2.0/UDP p1:5060;branch=z9hG4bKa" CRLF
            "Via: SIP/2.0/UDP p2;branch=z9hG4bKb, SIP/2.0/UDP p3;branch=z9hG4bKc" CRLF
            "v: SIP/2.0/TLS p4" CRLF VD_HDRS("INVITE") CRLF,
     .want = ScanStatus::kOk,
     .vias = 4,
     .call_id = "cid1",
     .method = Method::kInvite,
     .status = 200,
     .via1_host = "p1",
     .via2_host = "p2",
     .from_tag = "ft",
     .cseq = 1},
    {.name = "CommaInsideQuotedViaParamIsNotASeparator",
     .msg = "OPTIONS sip:x@example.com SIP/2.0" CRLF
            "Via: SIP/2.0/UDP h1;x=\"a,b\";branch=z9hG4bKq, SIP/2.0/UDP h2" CRLF VD_HDRS("OPTIONS")
                CRLF,
     .want = ScanStatus::kOk,
     .vias = 2,
     .call_id = "cid1",
     .method = Method::kOptions,
     .via1_host = "h1",
     .via2_host = "h2",
     .top_alone = false,
     .from_tag = "ft",
     .cseq = 1},
    {.name = "Ipv6ViaHostAndRportForms",
     .msg = "OPTIONS sip:x@example.com SIP/2.0" CRLF
            "Via: SIP/2.0/UDP [2001:db8::1]:5070;rport;branch=z9hG4bK6" CRLF
            "Via: SIP/2.0/UDP [::1];rport=5062;received=192.0.2.1" CRLF VD_HDRS("OPTIONS") CRLF,
     .want = ScanStatus::kOk,
     .vias = 2,
     .call_id = "cid1",
     .method = Method::kOptions,
     .via1_host = "[2001:db8::1]",
     .via2_host = "[::1]",
     .from_tag = "ft",
     .cseq = 1},
    {.name = "BareLfLineEnds",
     .msg = "OPTIONS sip:x@example.com SIP/2.0\n"
            "Via: SIP/2.0/UDP h1;branch=z9hG4bKlf\n"
            "From: <sip:a@example.com>;tag=lf\n"
            "To: <sip:b@example.com>\n"
            "Call-ID: lf1\n"
            "CSeq: 1 OPTIONS\n"
            "Content-Length: 2\n\n"
            "ok",
     .want = ScanStatus::kOk,
     .vias = 1,
     .call_id = "lf1",
     .method = Method::kOptions,
     .via1_host = "h1",
     .from_tag = "lf",
     .cseq = 1,
     .content_length = 2},
    {.name = "NoContentLengthBodyIsRestOfDatagram",
     .msg = "MESSAGE sip:x@example.com SIP/2.0" CRLF "Via: SIP/2.0/UDP h1" CRLF VD_HDRS("MESSAGE")
         CRLF "hello",
     .want = ScanStatus::kOk,
     .vias = 1,
     .call_id = "cid1",
     .method = Method::kMessage,
     .via1_host = "h1",
     .from_tag = "ft",
     .cseq = 1},
    {.name = "UnknownMethodAndTelUri",
     .msg = "FOO-BAR tel:+1-201-555-0123 SIP/2.0" CRLF "Via: SIP/2.0/UDP h1" CRLF
            "From: <sip:a@example.com>;tag=ft" CRLF "To: <tel:+1-201-555-0123>" CRLF
            "Call-ID: cid1" CRLF "CSeq: 1 FOO-BAR" CRLF CRLF,
     .want = ScanStatus::kOk,
     .vias = 1,
     .call_id = "cid1",
     .method = Method::kOther,
     .via1_host = "h1",
     .from_tag = "ft",
     .cseq = 1},
    {.name = "ResponseMethodComesFromCSeq",
     .msg = "SIP/2.0 486 Busy Here" CRLF "Via: SIP/2.0/UDP h1" CRLF VD_HDRS("BYE") CRLF,
     .want = ScanStatus::kOk,
     .vias = 1,
     .call_id = "cid1",
     .method = Method::kBye,
     .status = 486,
     .via1_host = "h1",
     .from_tag = "ft",
     .cseq = 1},
    {.name = "DuplicateEqualContentLengthIsFine",
     .msg = "MESSAGE sip:x@example.com SIP/2.0" CRLF "Via: SIP/2.0/UDP h1" CRLF VD_HDRS(
         "MESSAGE") "Content-Length: 2" CRLF "l: 02" CRLF CRLF "hi",
     .want = ScanStatus::kOk,
     .vias = 1,
     .call_id = "cid1",
     .method = Method::kMessage,
     .via1_host = "h1",
     .from_tag = "ft",
     .cseq = 1,
     .content_length = 2},
    // --- the quote state a folded line inherits: the scanner finds a line's end without it
    // and works it out again from the field's start when a continuation line needs it ------
    {.name = "ControlByteInQuotesAcrossAFold",
     .msg = "OPTIONS sip:x@example.com SIP/2.0" CRLF "Via: SIP/2.0/UDP h1" CRLF VD_HDRS(
         "OPTIONS") "Subject: \"a" CRLF " b\x01"
                    "c\"" CRLF CRLF,
     .want = ScanStatus::kOk,
     .vias = 1,
     .call_id = "cid1",
     .method = Method::kOptions,
     .via1_host = "h1",
     .from_tag = "ft",
     .cseq = 1},
    {.name = "ControlByteAfterQuotesClosedBeforeAFold",
     .msg = "OPTIONS sip:x@example.com SIP/2.0" CRLF "Via: SIP/2.0/UDP h1" CRLF VD_HDRS(
         "OPTIONS") "Subject: \"a\"" CRLF " b\x01"
                    "c" CRLF CRLF,
     .want = ScanStatus::kBadHeader},
    {.name = "EscapedQuoteKeepsQuotesOpenAcrossAFold",
     .msg = "OPTIONS sip:x@example.com SIP/2.0" CRLF "Via: SIP/2.0/UDP h1" CRLF VD_HDRS(
         "OPTIONS") "Subject: \"a\\\"" CRLF " \x01\"" CRLF CRLF,
     .want = ScanStatus::kOk,
     .vias = 1,
     .call_id = "cid1",
     .method = Method::kOptions,
     .via1_host = "h1",
     .from_tag = "ft",
     .cseq = 1},
    {.name = "BackslashBeforeTheFoldEscapesNothing",
     .msg = "OPTIONS sip:x@example.com SIP/2.0" CRLF "Via: SIP/2.0/UDP h1" CRLF VD_HDRS(
         "OPTIONS") "Subject: \"a\\" CRLF " \x01\"" CRLF CRLF,
     .want = ScanStatus::kOk,
     .vias = 1,
     .call_id = "cid1",
     .method = Method::kOptions,
     .via1_host = "h1",
     .from_tag = "ft",
     .cseq = 1},
    {.name = "ControlByteInQuotesOnOneLine",
     .msg = "OPTIONS sip:x@example.com SIP/2.0" CRLF "Via: SIP/2.0/UDP h1" CRLF VD_HDRS(
         "OPTIONS") "Subject: \"a\x7f\tb\"" CRLF CRLF,
     .want = ScanStatus::kOk,
     .vias = 1,
     .call_id = "cid1",
     .method = Method::kOptions,
     .via1_host = "h1",
     .from_tag = "ft",
     .cseq = 1},
    {.name = "DelOutsideQuotes",
     .msg = "OPTIONS sip:x@example.com SIP/2.0" CRLF "Via: SIP/2.0/UDP h1" CRLF VD_HDRS(
         "OPTIONS") "Subject: a\x7f" CRLF CRLF,
     .want = ScanStatus::kBadHeader},
    {.name = "TabsInsideValues",
     .msg = "OPTIONS SIP:x@example.com SIP/2.0" CRLF "Via:\tSIP/2.0/UDP h1" CRLF VD_HDRS(
         "OPTIONS") "Subject: a\tb\t" CRLF CRLF,
     .want = ScanStatus::kOk,
     .vias = 1,
     .call_id = "cid1",
     .method = Method::kOptions,
     .via1_host = "h1",
     .from_tag = "ft",
     .cseq = 1},
    // --- one row (at least) per ScanStatus reason -----------------------------------------
    {.name = "EmptyIsNotSip", .msg = "", .want = ScanStatus::kNotSip},
    {.name = "HttpIsNotSip",
     .msg = "GET / HTTP/1.1" CRLF "Host: x" CRLF CRLF,
     .want = ScanStatus::kNotSip},
    {.name = "BinaryIsNotSip", .msg = "\x16\x03\x01\x02\x00\x01", .want = ScanStatus::kNotSip},
    {.name = "RequestLineWithoutVersion",
     .msg = "OPTIONS sip:x@example.com" CRLF "Via: SIP/2.0/UDP h" CRLF CRLF,
     .want = ScanStatus::kBadStartLine},
    {.name = "RequestUriWithoutScheme",
     .msg = "OPTIONS x@example.com SIP/2.0" CRLF "Via: SIP/2.0/UDP h" CRLF CRLF,
     .want = ScanStatus::kBadStartLine},
    {.name = "StatusLineWithoutCode",
     .msg = "SIP/2.0" CRLF "Via: SIP/2.0/UDP h" CRLF CRLF,
     .want = ScanStatus::kBadStartLine},
    {.name = "RequestVersionTwoPointOne",
     .msg = "OPTIONS sip:x@example.com SIP/2.1" CRLF "Via: SIP/2.0/UDP h" CRLF CRLF,
     .want = ScanStatus::kBadVersion},
    {.name = "ResponseVersionOne",
     .msg = "SIP/1.0 200 OK" CRLF "Via: SIP/2.0/UDP h" CRLF CRLF,
     .want = ScanStatus::kBadVersion},
    {.name = "StatusBelowHundred",
     .msg = "SIP/2.0 099 Odd" CRLF "Via: SIP/2.0/UDP h" CRLF CRLF,
     .want = ScanStatus::kBadStatus},
    {.name = "StatusAboveSixNineNine",
     .msg = "SIP/2.0 700 Odd" CRLF "Via: SIP/2.0/UDP h" CRLF CRLF,
     .want = ScanStatus::kBadStatus},
    {.name = "StatusFourDigits",
     .msg = "SIP/2.0 2000 OK" CRLF "Via: SIP/2.0/UDP h" CRLF CRLF,
     .want = ScanStatus::kBadStatus},
    {.name = "HeaderWithoutColon",
     .msg = "OPTIONS sip:x@example.com SIP/2.0" CRLF "Via SIP/2.0/UDP h" CRLF CRLF,
     .want = ScanStatus::kBadHeader},
    {.name = "NulInHeaderValue",
     .msg = std::string_view(kNulMsg, sizeof kNulMsg - 1),
     .want = ScanStatus::kBadHeader},
    {.name = "BareCrInHeader",
     .msg = "OPTIONS sip:x@example.com SIP/2.0" CRLF "Subject: a\rb" CRLF CRLF,
     .want = ScanStatus::kBadHeader},
    {.name = "ContinuationBeforeAnyHeader",
     .msg = "OPTIONS sip:x@example.com SIP/2.0" CRLF " Via: SIP/2.0/UDP h" CRLF CRLF,
     .want = ScanStatus::kBadHeader},
    {.name = "MissingVia",
     .msg = "OPTIONS sip:x@example.com SIP/2.0" CRLF VD_HDRS("OPTIONS") CRLF,
     .want = ScanStatus::kMissingHeader},
    {.name = "MissingCallId",
     .msg = "OPTIONS sip:x@example.com SIP/2.0" CRLF "Via: SIP/2.0/UDP h" CRLF
            "From: <sip:a@example.com>;tag=ft" CRLF "To: <sip:b@example.com>" CRLF
            "CSeq: 1 OPTIONS" CRLF CRLF,
     .want = ScanStatus::kMissingHeader},
    {.name = "MissingCSeq",
     .msg = "OPTIONS sip:x@example.com SIP/2.0" CRLF "Via: SIP/2.0/UDP h" CRLF
            "From: <sip:a@example.com>;tag=ft" CRLF "To: <sip:b@example.com>" CRLF
            "Call-ID: c" CRLF CRLF,
     .want = ScanStatus::kMissingHeader},
    {.name = "ViaWithWrongVersion",
     .msg =
         "OPTIONS sip:x@example.com SIP/2.0" CRLF "Via: SIP/3.0/UDP h" CRLF VD_HDRS("OPTIONS") CRLF,
     .want = ScanStatus::kBadVia},
    {.name = "ViaWithoutTransport",
     .msg = "OPTIONS sip:x@example.com SIP/2.0" CRLF "Via: SIP/2.0 h" CRLF VD_HDRS("OPTIONS") CRLF,
     .want = ScanStatus::kBadVia},
    {.name = "ViaWithBadPort",
     .msg = "OPTIONS sip:x@example.com SIP/2.0" CRLF
            "Via: SIP/2.0/UDP h:70000" CRLF VD_HDRS("OPTIONS") CRLF,
     .want = ScanStatus::kBadVia},
    {.name = "ThirdViaMalformed",
     .msg = "OPTIONS sip:x@example.com SIP/2.0" CRLF
            "Via: SIP/2.0/UDP h1, SIP/2.0/UDP h2, HTTP/1.1 h3" CRLF VD_HDRS("OPTIONS") CRLF,
     .want = ScanStatus::kBadVia},
    {.name = "CSeqNotANumber",
     .msg = "OPTIONS sip:x@example.com SIP/2.0" CRLF "Via: SIP/2.0/UDP h" CRLF
            "From: <sip:a@example.com>;tag=ft" CRLF "To: <sip:b@example.com>" CRLF "Call-ID: c" CRLF
            "CSeq: one OPTIONS" CRLF CRLF,
     .want = ScanStatus::kBadCSeq},
    // A CSeq method that differs from the request's is scanned and flagged:
    // CSeqMethodMismatchIsScannedAndFlagged.
    {.name = "CSeqWithoutMethod",
     .msg = "OPTIONS sip:x@example.com SIP/2.0" CRLF "Via: SIP/2.0/UDP h" CRLF
            "From: <sip:a@example.com>;tag=ft" CRLF "To: <sip:b@example.com>" CRLF "Call-ID: c" CRLF
            "CSeq: 1" CRLF CRLF,
     .want = ScanStatus::kBadCSeq},
    {.name = "MaxForwardsNegative",
     .msg = "OPTIONS sip:x@example.com SIP/2.0" CRLF
            "Via: SIP/2.0/UDP h" CRLF VD_HDRS("OPTIONS") "Max-Forwards: -1" CRLF CRLF,
     .want = ScanStatus::kBadMaxForwards},
    {.name = "MaxForwardsNotANumber",
     .msg = "OPTIONS sip:x@example.com SIP/2.0" CRLF
            "Via: SIP/2.0/UDP h" CRLF VD_HDRS("OPTIONS") "Max-Forwards: seventy" CRLF CRLF,
     .want = ScanStatus::kBadMaxForwards},
    {.name = "MaxForwardsAbove255",  // RFC 4475 3.1.2.4 (scalar02): outside the legal range
     .msg = "OPTIONS sip:x@example.com SIP/2.0" CRLF
            "Via: SIP/2.0/UDP h" CRLF VD_HDRS("OPTIONS") "Max-Forwards: 256" CRLF CRLF,
     .want = ScanStatus::kBadMaxForwards},
    {.name = "EmptyFromIsNotSkipped",  // the first From counts, and it is empty
     .msg = "OPTIONS sip:x@example.com SIP/2.0" CRLF "Via: SIP/2.0/UDP h" CRLF "From:" CRLF
            VD_HDRS("OPTIONS") CRLF,
     .want = ScanStatus::kBadHeader},
    {.name = "EmptyCallId",
     .msg = "OPTIONS sip:x@example.com SIP/2.0" CRLF "Via: SIP/2.0/UDP h" CRLF "Call-ID:  " CRLF
            VD_HDRS("OPTIONS") CRLF,
     .want = ScanStatus::kBadHeader},
    {.name = "EmptyTo",
     .msg = "OPTIONS sip:x@example.com SIP/2.0" CRLF "Via: SIP/2.0/UDP h" CRLF "t:" CRLF
            VD_HDRS("OPTIONS") CRLF,
     .want = ScanStatus::kBadHeader},
    {.name = "ToWithASecondValue",  // fuzzer find: a reply's To-tag would land after "junk"
     .msg = "OPTIONS sip:x@example.com SIP/2.0" CRLF "Via: SIP/2.0/UDP h" CRLF
            "To: <sip:b@example.com>, junk" CRLF VD_HDRS("OPTIONS") CRLF,
     .want = ScanStatus::kBadHeader},
    {.name = "BranchWithoutValue",  // via-branch = "branch" EQUAL token
     .msg = "OPTIONS sip:x@example.com SIP/2.0" CRLF
            "Via: SIP/2.0/UDP h;branch" CRLF VD_HDRS("OPTIONS") CRLF,
     .want = ScanStatus::kBadVia},
    {.name = "ContentLengthNotANumber",
     .msg = "OPTIONS sip:x@example.com SIP/2.0" CRLF
            "Via: SIP/2.0/UDP h" CRLF VD_HDRS("OPTIONS") "Content-Length: five" CRLF CRLF,
     .want = ScanStatus::kBadContentLength},
    {.name = "TwoDifferentContentLengths",
     .msg = "OPTIONS sip:x@example.com SIP/2.0" CRLF "Via: SIP/2.0/UDP h" CRLF VD_HDRS(
         "OPTIONS") "Content-Length: 0" CRLF "l: 1" CRLF CRLF "x",
     .want = ScanStatus::kBadContentLength},
    {.name = "ContentLengthLargerThanData",
     .msg = "OPTIONS sip:x@example.com SIP/2.0" CRLF
            "Via: SIP/2.0/UDP h" CRLF VD_HDRS("OPTIONS") "Content-Length: 10" CRLF CRLF "short",
     .want = ScanStatus::kTruncated},
    {.name = "NoEmptyLine",
     .msg = "OPTIONS sip:x@example.com SIP/2.0" CRLF "Via: SIP/2.0/UDP h" CRLF VD_HDRS("OPTIONS"),
     .want = ScanStatus::kTruncated},
    {.name = "CutInsideHeaderLine",
     .msg = "OPTIONS sip:x@example.com SIP/2.0" CRLF "Via: SIP/2.0/UD",
     .want = ScanStatus::kTruncated},
    {.name = "StartLineOnly",
     .msg = "OPTIONS sip:x@example.com SIP/2.0",
     .want = ScanStatus::kTruncated},
};

#undef VD_HDRS
#undef CRLF

class SipScanTest : public ::testing::TestWithParam<ScanCase> {};

TEST_P(SipScanTest, StatusAndKeyFields) {
  const ScanCase& c = GetParam();
  const char* m = c.msg.data();
  SipView v;
  ASSERT_EQ(scan_status_name(scan(m, c.msg.size(), v)), scan_status_name(c.want));
  if (c.want != ScanStatus::kOk) {
    return;
  }
  EXPECT_TRUE(test::spans_inside(v, c.msg.size()));
  EXPECT_EQ(v.via_count, c.vias);
  EXPECT_EQ(v.call_id.in(m), c.call_id);
  EXPECT_EQ(v.method, c.method);
  EXPECT_EQ(v.status, c.status);
  EXPECT_EQ(v.is_request, c.status == 0);
  EXPECT_EQ(v.via1.host.in(m), c.via1_host);
  EXPECT_EQ(v.via2.host.in(m), c.via2_host);
  EXPECT_EQ(v.via2.value.empty(), c.vias < 2);
  EXPECT_EQ(v.top_via_alone, c.top_alone);
  EXPECT_EQ(v.from_tag.in(m), c.from_tag);
  EXPECT_EQ(v.to_tag.in(m), c.to_tag);
  EXPECT_EQ(v.cseq_num, c.cseq);
  EXPECT_EQ(v.has_content_length, c.content_length >= 0);
  if (c.content_length >= 0) {
    EXPECT_EQ(v.content_length, c.content_length);
    EXPECT_EQ(v.len, v.body_off + c.content_length);
  } else {
    EXPECT_EQ(v.len, c.msg.size());
  }
  // The top Via line: starts with a Via name, ends with the line end, holds via1.
  const std::string_view line = v.top_via_line.in(m);
  ASSERT_FALSE(line.empty());
  EXPECT_TRUE(line[0] == 'v' || line[0] == 'V') << line;
  EXPECT_EQ(line.back(), '\n');
  EXPECT_GE(v.via1.value.off, v.top_via_line.off);
  EXPECT_LE(v.via1.value.end(), v.top_via_line.end());
  EXPECT_EQ(c.msg.substr(v.headers_end, v.body_off - v.headers_end).find_first_not_of("\r\n"),
            std::string_view::npos);
}

INSTANTIATE_TEST_SUITE_P(Cases, SipScanTest, ::testing::ValuesIn(kCases),
                         [](const auto& info) { return std::string(info.param.name); });

// ---- Field-level details ---------------------------------------------------------------

TEST(SipScan, SippInviteFieldsAndSpans) {
  const std::string_view msg = kSippInvite;
  const char* m = msg.data();
  SipView v;
  ASSERT_EQ(scan(m, msg.size(), v), ScanStatus::kOk);
  EXPECT_EQ(v.method_name.in(m), "INVITE");
  EXPECT_EQ(v.ruri.in(m), "sip:service@127.0.0.1:5060");
  EXPECT_EQ(v.top_via_line.in(m), "Via: SIP/2.0/UDP 127.0.1.1:5061;branch=z9hG4bK-12345-1-0\r\n");
  EXPECT_EQ(v.via1.value.in(m), "SIP/2.0/UDP 127.0.1.1:5061;branch=z9hG4bK-12345-1-0");
  EXPECT_EQ(v.via1.transport.in(m), "UDP");
  EXPECT_EQ(v.via1.port_num, 5061);
  EXPECT_EQ(v.via1.branch.in(m), "z9hG4bK-12345-1-0");
  EXPECT_EQ(v.cseq_method.in(m), "INVITE");
  EXPECT_TRUE(v.has_max_forwards);
  EXPECT_EQ(v.max_forwards, 70u);
  EXPECT_EQ(v.max_forwards_value.in(m), "70");
  EXPECT_EQ(v[Hdr::kFrom].in(m), "sipp <sip:sipp@127.0.1.1:5061>;tag=12345SIPpTag001");
  EXPECT_EQ(v[Hdr::kTo].in(m), "service <sip:service@127.0.0.1:5060>");
  EXPECT_EQ(v[Hdr::kContact].in(m), "sip:sipp@127.0.1.1:5061");
  EXPECT_EQ(v[Hdr::kContentLength].in(m), "129");
  EXPECT_EQ(v[Hdr::kVia].in(m), v.via1.value.in(m));
  EXPECT_TRUE(v[Hdr::kRoute].empty());
  EXPECT_EQ(v.hdr_count, 10);
  // The fields hdr[] does not cover: Subject, Content-Type (and the start line's I).
  EXPECT_EQ(v.names_seen, sip::name_bit('S') | sip::name_bit('C') | sip::name_bit('I'));
  EXPECT_EQ(v.names_seen & sip::name_bit('e'), 0u) << "no name starts with E";
  EXPECT_EQ(msg.substr(v.body_off), test::kSdp);
  EXPECT_EQ(msg.substr(v.headers_end, 2), "\r\n");
  EXPECT_EQ(v.len, msg.size());
}

TEST(SipScan, CSeqMethodMismatchIsScannedAndFlagged) {
  SipView v;
  {
    const std::string_view msg = kSippInvite;
    ASSERT_EQ(scan(msg.data(), msg.size(), v), ScanStatus::kOk);
    EXPECT_FALSE(v.cseq_method_mismatch);
  }
  const std::string msg =
      "MESSAGE sip:b@example.com SIP/2.0\r\n"
      "Via: SIP/2.0/UDP a.example.com;branch=z9hG4bK1\r\n"
      "From: <sip:a@example.com>;tag=1\r\n"
      "To: <sip:b@example.com>\r\n"
      "Call-ID: c1\r\n"
      "CSeq: 5 OPTIONS\r\n"
      "Content-Length: 0\r\n\r\n";
  ASSERT_EQ(scan(msg.data(), msg.size(), v), ScanStatus::kOk);
  EXPECT_TRUE(v.cseq_method_mismatch);
  EXPECT_EQ(v.method_name.in(msg.data()), "MESSAGE");
  EXPECT_EQ(v.cseq_method.in(msg.data()), "OPTIONS");
  EXPECT_EQ(v.cseq_num, 5u);
}

TEST(SipScan, RefererCompactRIsNotRoute) {
  const std::string_view msg =
      "REFER sip:x@example.com SIP/2.0\r\nVia: SIP/2.0/UDP h\r\n"
      "From: <sip:a@example.com>;tag=1\r\nTo: <sip:b@example.com>\r\nCall-ID: c\r\n"
      "CSeq: 1 REFER\r\nr: <sip:c@example.com>\r\nRoute: <sip:p@example.com;lr>\r\n"
      "Record-Route: <sip:rr@example.com;lr>\r\n\r\n";
  SipView v;
  ASSERT_EQ(scan(msg.data(), msg.size(), v), ScanStatus::kOk);
  EXPECT_EQ(v.method, Method::kRefer);
  EXPECT_EQ(v[Hdr::kRoute].in(msg.data()), "<sip:p@example.com;lr>");
  EXPECT_EQ(v[Hdr::kRecordRoute].in(msg.data()), "<sip:rr@example.com;lr>");
}

TEST(SipScan, FoldedTopViaLineCoversContinuationLines) {
  const std::string_view msg =
      "OPTIONS sip:x@example.com SIP/2.0\r\n"
      "Via: SIP/2.0/UDP h1\r\n ;branch=z9hG4bKx\r\n"
      "Via: SIP/2.0/UDP h2\r\n"
      "From: <sip:a@example.com>;tag=1\r\nTo: <sip:b@example.com>\r\nCall-ID: c\r\n"
      "CSeq: 1 OPTIONS\r\n\r\n";
  SipView v;
  ASSERT_EQ(scan(msg.data(), msg.size(), v), ScanStatus::kOk);
  EXPECT_EQ(v.top_via_line.in(msg.data()), "Via: SIP/2.0/UDP h1\r\n ;branch=z9hG4bKx\r\n");
  EXPECT_EQ(v.via1.branch.in(msg.data()), "z9hG4bKx");
  EXPECT_TRUE(v.top_via_alone);
  EXPECT_EQ(v.via_count, 2);
}

TEST(SipScan, BareLfTopViaLineEndsAtLf) {
  const std::string_view msg =
      "OPTIONS sip:x@example.com SIP/2.0\nVia: SIP/2.0/UDP h1\nFrom: <sip:a@e>;tag=1\n"
      "To: <sip:b@e>\nCall-ID: c\nCSeq: 1 OPTIONS\n\n";
  SipView v;
  ASSERT_EQ(scan(msg.data(), msg.size(), v), ScanStatus::kOk);
  EXPECT_EQ(v.top_via_line.in(msg.data()), "Via: SIP/2.0/UDP h1\n");
  EXPECT_EQ(v.headers_end, msg.size() - 1);
  EXPECT_EQ(v.body_off, msg.size());
}

TEST(SipScan, TrailingBytesPastContentLengthAreIgnored) {
  const std::string msg = std::string(kSippInvite) + "garbage after the body";
  SipView v;
  ASSERT_EQ(scan(msg.data(), msg.size(), v), ScanStatus::kOk);
  EXPECT_EQ(v.len, kSippInvite.size());
}

TEST(SipScan, ViaCountSaturatesAt255) {
  std::string msg = "OPTIONS sip:x@example.com SIP/2.0\r\n";
  for (int i = 0; i < 100; ++i) {
    msg += "Via: SIP/2.0/UDP a, SIP/2.0/UDP b, SIP/2.0/UDP c\r\n";
  }
  msg += "From: <sip:a@e>;tag=1\r\nTo: <sip:b@e>\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\n\r\n";
  SipView v;
  ASSERT_EQ(scan(msg.data(), msg.size(), v), ScanStatus::kOk);
  EXPECT_EQ(v.via_count, 255);
}

TEST(SipScan, TooManyHeaderLines) {
  std::string msg = "OPTIONS sip:x@example.com SIP/2.0\r\nVia: SIP/2.0/UDP a\r\n";
  msg += "From: <sip:a@e>;tag=1\r\nTo: <sip:b@e>\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\n";
  for (int i = 0; i < 251; ++i) {
    msg += "X: y\r\n";
  }
  SipView v;
  ASSERT_EQ(scan(msg.data(), msg.size(), v), ScanStatus::kTruncated);  // 256 fields, no end
  EXPECT_EQ(scan((msg + "\r\n").data(), msg.size() + 2, v), ScanStatus::kOk);
  msg += "X: y\r\n\r\n";
  EXPECT_EQ(scan(msg.data(), msg.size(), v), ScanStatus::kTooManyHeaders);
}

TEST(SipScan, TooLarge) {
  std::string msg(kSippInvite);
  msg.resize(kMaxMessage + 1, 'x');
  SipView v;
  EXPECT_EQ(scan(msg.data(), msg.size(), v), ScanStatus::kTooLarge);
}

TEST(SipScan, EveryPrefixIsRejectedOrConsistent) {
  // Cutting a datagram anywhere never reads out of bounds (ASAN builds) and never yields spans
  // outside the cut.
  const std::string full(kSippInvite);
  for (size_t n = 0; n <= full.size(); ++n) {
    const std::string cut = full.substr(0, n);
    SipView v;
    if (scan(cut.data(), cut.size(), v) == ScanStatus::kOk) {
      EXPECT_TRUE(test::spans_inside(v, n)) << n;
    }
  }
}

TEST(SipScan, StatusNamesAreMetricLabels) {
  EXPECT_STREQ(scan_status_name(ScanStatus::kOk), "ok");
  EXPECT_STREQ(scan_status_name(ScanStatus::kBadContentLength), "bad_content_length");
  EXPECT_STREQ(scan_status_name(ScanStatus::kTooManyHeaders), "too_many_headers");
}

// ---- RFC 4475 torture messages -----------------------------------------------------------

struct TortureCase {
  const char* file;  // under tests/sip/data/rfc4475/
  ScanStatus want;
};

// Expected outcome per MANIFEST.tsv row. "valid" and "valid-but-semantic-error" messages are
// well formed and must scan kOk, except insuf.dat: a missing Call-ID/From/To is kMissingHeader by
// this scanner's contract (the manifest wants a 400 for it, which is the layer above dropping or
// answering on kMissingHeader). "invalid" ones are rejected where the checks of this scanner
// cover the defect; the others are accepted on purpose and commented.
const TortureCase kTorture[] = {
    {"wsinv.dat", ScanStatus::kOk},
    {"intmeth.dat", ScanStatus::kOk},
    {"esc01.dat", ScanStatus::kOk},
    {"escnull.dat", ScanStatus::kOk},
    {"esc02.dat", ScanStatus::kOk},
    {"lwsdisp.dat", ScanStatus::kOk},
    {"longreq.dat", ScanStatus::kOk},
    {"dblreq.dat", ScanStatus::kOk},
    {"semiuri.dat", ScanStatus::kOk},
    {"transports.dat", ScanStatus::kOk},
    {"mpart01.dat", ScanStatus::kOk},
    {"unreason.dat", ScanStatus::kOk},
    {"noreason.dat", ScanStatus::kOk},
    {"badinv01.dat", ScanStatus::kBadVia},        // empty Via values and params
    {"clerr.dat", ScanStatus::kTruncated},        // Content-Length 9999 > body
    {"ncl.dat", ScanStatus::kBadContentLength},   // -999
    {"scalar02.dat", ScanStatus::kBadCSeq},       // CSeq number > 2**32-1
    {"scalarlg.dat", ScanStatus::kBadCSeq},       // CSeq number > 2**32-1
    {"quotbal.dat", ScanStatus::kBadHeader},      // unterminated display name in To
    {"ltgtruri.dat", ScanStatus::kBadStartLine},  // <sip:...> Request-URI
    {"lwsruri.dat", ScanStatus::kBadStartLine},   // LWS inside the Request-URI
    {"lwsstart.dat", ScanStatus::kBadStartLine},  // two SPs between elements
    {"trws.dat", ScanStatus::kBadStartLine},      // trailing SPs
    // Accepted: the Request-URI headers are visible through parse_uri(ruri).headers, so the
    // pipeline can refuse to forward them; the scanner does not judge URI contents.
    {"escruri.dat", ScanStatus::kOk},
    // Accepted: Date is not a header the scanner reads.
    {"baddate.dat", ScanStatus::kOk},
    // Accepted: Contact is not validated by the scanner (only its first value is located).
    {"regbadct.dat", ScanStatus::kOk},
    // Accepted (the liberal choice the RFC allows): header_uri trims the spaces inside <>.
    {"badaspec.dat", ScanStatus::kOk},
    // Unquoted display names with commas (RFC 4475 3.3.8): From and To hold one value, so the
    // comma ends it and what follows is a second value: kBadHeader, found before the missing
    // empty line at the end of the archived file.
    {"baddn.dat", ScanStatus::kBadHeader},
    {"badvers.dat", ScanStatus::kBadVersion},  // SIP/7.0
    // Scanned with cseq_method_mismatch set (Kamailio forwards these; sanity_check answers 400).
    {"mismatch01.dat", ScanStatus::kOk},  // OPTIONS vs CSeq INVITE
    {"mismatch02.dat", ScanStatus::kOk},  // NEWMETHOD vs CSeq INVITE
    {"bigcode.dat", ScanStatus::kBadStatus},   // 4294967301
    {"badbranch.dat", ScanStatus::kOk},
    {"insuf.dat", ScanStatus::kMissingHeader},  // no Call-ID, From, To
    {"unkscm.dat", ScanStatus::kOk},
    {"novelsc.dat", ScanStatus::kOk},
    {"unksm2.dat", ScanStatus::kOk},
    {"bext01.dat", ScanStatus::kOk},
    {"invut.dat", ScanStatus::kOk},
    {"regaut01.dat", ScanStatus::kOk},
    // Two each of Call-ID, To, From, Max-Forwards, CSeq: the first of each counts; the layer
    // above may still answer 400.
    {"multi01.dat", ScanStatus::kOk},
    {"mcl01.dat", ScanStatus::kBadContentLength},  // 13 and 5
    {"bcast.dat", ScanStatus::kOk},
    {"zeromf.dat", ScanStatus::kOk},
    {"cparam01.dat", ScanStatus::kOk},
    {"cparam02.dat", ScanStatus::kOk},
    {"regescrt.dat", ScanStatus::kOk},
    {"sdp01.dat", ScanStatus::kOk},
    {"inv2543.dat", ScanStatus::kOk},
    {"test.dat", ScanStatus::kBadStartLine},  // Request-Line without SIP-Version
};

class Rfc4475Test : public ::testing::TestWithParam<TortureCase> {};

TEST_P(Rfc4475Test, ScanOutcomeMatchesManifest) {
  const TortureCase& c = GetParam();
  const std::string msg = test::read_file(std::string(VD_SIP_DATA) + "/rfc4475/" + c.file);
  ASSERT_FALSE(msg.empty()) << c.file;
  SipView v;
  EXPECT_EQ(scan_status_name(scan(msg.data(), msg.size(), v)), scan_status_name(c.want));
  if (c.want == ScanStatus::kOk) {
    EXPECT_TRUE(test::spans_inside(v, msg.size()));
  }
  // Every prefix (a datagram cut anywhere) is handled without reading past it.
  for (size_t n = 0; n < msg.size(); n += 7) {
    const std::string cut = msg.substr(0, n);
    if (scan(cut.data(), cut.size(), v) == ScanStatus::kOk) {
      EXPECT_TRUE(test::spans_inside(v, n));
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Torture, Rfc4475Test, ::testing::ValuesIn(kTorture), [](const auto& info) {
  std::string name(info.param.file);
  name.resize(name.size() - 4);  // ".dat"
  return name;
});

TEST(Rfc4475, ManifestRowsAllHaveACase) {
  const std::string manifest = test::read_file(std::string(VD_SIP_DATA) + "/rfc4475/MANIFEST.tsv");
  ASSERT_FALSE(manifest.empty());
  size_t rows = 0;
  for (size_t p = manifest.find('\n'); p != std::string::npos && p + 1 < manifest.size();
       p = manifest.find('\n', p + 1)) {
    const std::string file = manifest.substr(p + 1, manifest.find('\t', p + 1) - p - 1);
    bool found = false;
    for (const TortureCase& c : kTorture) {
      found = found || file == c.file;
    }
    EXPECT_TRUE(found) << file;
    ++rows;
  }
  EXPECT_EQ(rows, std::size(kTorture));
}

TEST(Rfc4475, TortureDetails) {
  const std::string dir = std::string(VD_SIP_DATA) + "/rfc4475/";
  SipView v;
  {
    const std::string m = test::read_file(dir + "wsinv.dat");
    ASSERT_EQ(scan(m.data(), m.size(), v), ScanStatus::kOk);
    EXPECT_EQ(v.via_count, 3);
    EXPECT_EQ(v.via1.transport.in(m.data()), "UDP");
    EXPECT_EQ(v.via1.host.in(m.data()), "192.0.2.2");
    EXPECT_EQ(v.via1.branch.in(m.data()), "390skdjuw");
    EXPECT_EQ(v.via2.host.in(m.data()), "spindle.example.com");
    EXPECT_EQ(v.via2.branch.in(m.data()), "z9hG4bK9ikj8");
    EXPECT_EQ(v.to_tag.in(m.data()), "1918181833n");
    EXPECT_EQ(v.from_tag.in(m.data()), "98asjd8");
    EXPECT_EQ(v.max_forwards, 68u);
    EXPECT_EQ(v.cseq_num, 9u);
    EXPECT_EQ(v.content_length, 150u);
    EXPECT_EQ(v.len, m.size());
  }
  {
    const std::string m = test::read_file(dir + "longreq.dat");
    ASSERT_EQ(scan(m.data(), m.size(), v), ScanStatus::kOk);
    EXPECT_EQ(v.via_count, 34);
  }
  {
    const std::string m = test::read_file(dir + "dblreq.dat");
    ASSERT_EQ(scan(m.data(), m.size(), v), ScanStatus::kOk);
    EXPECT_EQ(v.method, Method::kRegister);
    EXPECT_EQ(v.len, v.body_off);  // Content-Length 0: the trailing INVITE is ignored
    EXPECT_LT(v.len, m.size());
  }
  {
    const std::string m = test::read_file(dir + "esc02.dat");
    ASSERT_EQ(scan(m.data(), m.size(), v), ScanStatus::kOk);
    EXPECT_EQ(v.method, Method::kOther);  // RE%47IST%45R is not REGISTER
  }
  {
    const std::string m = test::read_file(dir + "unreason.dat");
    ASSERT_EQ(scan(m.data(), m.size(), v), ScanStatus::kOk);
    EXPECT_EQ(v.status, 200);
    EXPECT_TRUE(v.reason.in(m.data()).starts_with("= 2**3 * 5**2 "));
  }
  {
    const std::string m = test::read_file(dir + "noreason.dat");
    ASSERT_EQ(scan(m.data(), m.size(), v), ScanStatus::kOk);
    EXPECT_EQ(v.status, 100);
    EXPECT_TRUE(v.reason.empty());
  }
  {
    const std::string m = test::read_file(dir + "inv2543.dat");
    ASSERT_EQ(scan(m.data(), m.size(), v), ScanStatus::kOk);
    EXPECT_FALSE(v.has_content_length);
    EXPECT_FALSE(v.has_max_forwards);
    EXPECT_TRUE(v.via1.branch.empty());
    EXPECT_TRUE(v.from_tag.empty());
    EXPECT_EQ(v.len, m.size());
  }
  {
    const std::string m = test::read_file(dir + "mpart01.dat");
    ASSERT_EQ(scan(m.data(), m.size(), v), ScanStatus::kOk);
    EXPECT_EQ(v.content_length, 553u);
  }
}

// ---- The User-Agent slot and the From/To addr-specs (the interpreter's $ua, $fu, $tu and
// sanity_check read them instead of walking the headers again).

SipView scan_ok(const std::string& msg) {
  SipView v;
  EXPECT_EQ(scan(msg.data(), msg.size(), v), ScanStatus::kOk) << msg;
  return v;
}

std::string request_with(const std::string& from, const std::string& to,
                         const std::string& extra) {
  return "INVITE sip:b@example.com SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n"
         "From: " + from + "\r\nTo: " + to + "\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\n" + extra +
         "Content-Length: 0\r\n\r\n";
}

TEST(SipScanSlots, UserAgentFirstFieldAnySpelling) {
  const std::string from = "<sip:a@example.com>;tag=1";
  const std::string to = "<sip:b@example.com>";
  {
    const std::string m = request_with(from, to, "User-Agent: Friendly-Scanner 1.0 \r\n");
    const SipView v = scan_ok(m);
    EXPECT_TRUE(v.has_user_agent);
    EXPECT_EQ(v[Hdr::kUserAgent].in(m.data()), "Friendly-Scanner 1.0");
  }
  {
    const SipView v = scan_ok(request_with(from, to, ""));
    EXPECT_FALSE(v.has_user_agent);
    EXPECT_TRUE(v[Hdr::kUserAgent].empty());
  }
  {  // present but empty: not the same as absent
    const SipView v = scan_ok(request_with(from, to, "User-Agent:\r\nuser-agent: second\r\n"));
    EXPECT_TRUE(v.has_user_agent);
    EXPECT_TRUE(v[Hdr::kUserAgent].empty());
  }
  {  // the first of two; any case; white space before the colon (the scanner's general path)
    const std::string m =
        request_with(from, to, "USER-AGENT : first\r\nUser-Agent: second\r\n");
    const SipView v = scan_ok(m);
    EXPECT_EQ(v[Hdr::kUserAgent].in(m.data()), "first");
  }
  {  // folded onto a continuation line: the whole trimmed value
    const std::string m = request_with(from, to, "User-Agent: a\r\n b\r\n");
    const SipView v = scan_ok(m);
    EXPECT_EQ(v[Hdr::kUserAgent].in(m.data()), "a\r\n b");
  }
  {  // names that only look alike have no slot
    const SipView v =
        scan_ok(request_with(from, to, "User-Agents: x\r\nX-User-Agent: y\r\nUser-Agen: z\r\n"));
    EXPECT_FALSE(v.has_user_agent);
  }
  {  // the sipp INVITE: none
    const std::string_view m = kSippInvite;
    SipView v;
    ASSERT_EQ(scan(m.data(), m.size(), v), ScanStatus::kOk);
    EXPECT_FALSE(v.has_user_agent);
  }
}

// scan() resets its SipView with zero stores and top_via_alone = true (sip_scan.cpp, reset()):
// that must be what a default-constructed SipView holds, member for member.
TEST(SipScanReset, ResetIsTheDefault) {
  alignas(SipView) unsigned char reset_bytes[sizeof(SipView)] = {};
  alignas(SipView) unsigned char default_bytes[sizeof(SipView)] = {};
  reinterpret_cast<SipView*>(reset_bytes)->top_via_alone = true;
  new (default_bytes) SipView;  // the default member initialisers, over zero bytes
  EXPECT_EQ(std::memcmp(reset_bytes, default_bytes, sizeof(SipView)), 0);
}

// Nothing of a reused SipView survives a scan.
TEST(SipScanReset, ScanOverwritesEveryByte) {
  const std::string m(kSippInvite);
  alignas(SipView) unsigned char fresh[sizeof(SipView)] = {};
  alignas(SipView) unsigned char reused[sizeof(SipView)];
  std::memset(reused, 0xa5, sizeof reused);
  ASSERT_EQ(scan(m.data(), m.size(), *new (fresh) SipView), ScanStatus::kOk);
  ASSERT_EQ(scan(m.data(), m.size(), *reinterpret_cast<SipView*>(reused)), ScanStatus::kOk);
  EXPECT_EQ(std::memcmp(fresh, reused, sizeof(SipView)), 0);
}

TEST(SipScanSlots, FromAndToAddrSpecs) {
  struct Case {
    std::string value;
    std::string uri;
  } cases[] = {
      {"sipp <sip:sipp@10.0.0.10:5060>;tag=4242", "sip:sipp@10.0.0.10:5060"},
      {"<sip:b@example.com>", "sip:b@example.com"},
      {"\"Alice \\\"A\\\"\" <sip:alice@example.org>;tag=1", "sip:alice@example.org"},  // slow path
      {"sip:a@example.com;tag=x", "sip:a@example.com"},                         // bare addr-spec
      {"<sip:a@example.com >;tag=x", "sip:a@example.com"},                      // LWS before '>'
      {"< sip:a@example.com>;tag=x", "sip:a@example.com"},                      // LWS after '<'
      {"<tel:+1555>;tag=t", "tel:+1555"},
      {"<sip:a@[bad>;tag=t", "sip:a@[bad"},  // a malformed URI is kept: sanity_check refuses it
  };
  for (const Case& c : cases) {
    const std::string m = request_with(c.value, c.value, "");
    const SipView v = scan_ok(m);
    EXPECT_EQ(v.from_uri.in(m.data()), c.uri) << c.value;
    EXPECT_EQ(v.to_uri.in(m.data()), c.uri) << c.value;
    EXPECT_EQ(v.from_uri.in(m.data()), header_uri(m.data(), v[Hdr::kFrom]).in(m.data()));
  }
}

}  // namespace
}  // namespace viaduct::sip
