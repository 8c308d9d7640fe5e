#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# tests/tools/tool_parse_test.sh: `viaduct-tool parse` end to end: RFC 4475 messages, the
# RFC 3665 call flows and hand-written ones through the built binary; asserts on the exit status
# (0 valid, 1 invalid, 2 usage) and on the JSON fields (python3 reads the JSON).
#   usage: tool_parse_test.sh VIADUCT_TOOL RFC4475_DIR RFC3665_DIR
set -uo pipefail
tool=$1
rfc=$2
flows=$3
work=$(mktemp -d /tmp/viaduct-tool-parse.XXXXXX)
trap 'rm -rf "$work"' EXIT
failures=0
passes=0

# expect NAME WANT_RC INPUT [PY_EXPR]...: runs `parse INPUT` (INPUT "-" reads $work/stdin), checks
# the exit status, that stdout is one line of JSON, and that each Python expression over that
# object `j` is true.
expect() {
    local name=$1 want_rc=$2 input=$3
    shift 3
    local rc
    if [ "$input" = - ]; then
        "$tool" parse - < "$work/stdin" > "$work/stdout" 2> "$work/stderr"
    else
        "$tool" parse "$input" > "$work/stdout" 2> "$work/stderr"
    fi
    rc=$?
    if [ "$rc" != "$want_rc" ]; then
        echo "FAIL - $name: exit $rc, want $want_rc; stdout: $(cat "$work/stdout");" \
            "stderr: $(cat "$work/stderr")"
        failures=$((failures + 1))
        return
    fi
    if python3 -c '
import json, sys
text = open(sys.argv[1], encoding="utf-8").read()
if text.count("\n") != 1 or not text.endswith("\n"):
    sys.exit("  not exactly one line: %r" % text)
j = json.loads(text)
bad = [e for e in sys.argv[2:] if not eval(e, {"j": j})]
if bad:
    sys.exit("  false: %s\n  json: %s" % ("; ".join(bad), text.strip()))
' "$work/stdout" "$@"; then
        echo "ok   - $name"
        passes=$((passes + 1))
    else
        echo "FAIL - $name"
        failures=$((failures + 1))
    fi
}

# usage NAME ARGS...: exit status 2, nothing on stdout, a message on stderr.
usage() {
    local name=$1
    shift
    local out rc
    out=$("$tool" "$@" 2> "$work/stderr")
    rc=$?
    if [ "$rc" = 2 ] && [ -z "$out" ] && [ -s "$work/stderr" ]; then
        echo "ok   - $name"
        passes=$((passes + 1))
    else
        echo "FAIL - $name: exit $rc, stdout '$out', stderr '$(cat "$work/stderr")'"
        failures=$((failures + 1))
    fi
}

# msg FILE LINE...: writes the lines with CRLF ends and the empty line ending the headers.
msg() {
    local f=$work/$1
    shift
    : > "$f"
    for line in "$@"; do
        printf '%s\r\n' "$line" >> "$f"
    done
    printf '\r\n' >> "$f"
}

# --- RFC 4475 -------------------------------------------------------------------------------
expect "rfc4475 wsinv: folding, compact v, three Vias over two lines" 0 "$rfc/wsinv.dat" \
    'j["valid"] is True' '"error" not in j' 'j["kind"] == "request"' 'j["method"] == "INVITE"' \
    'j["ruri"] == "sip:vivekg@chair-dnrc.example.com;unknownparam"' \
    'j["call_id"] == "wsinv.ndaksdj@192.0.2.1"' 'j["cseq_num"] == 9' \
    'j["cseq_method"] == "INVITE"' 'j["from_uri"] == "sip:jdrosen@example.com"' \
    'j["from_tag"] == "98asjd8"' 'j["to_uri"] == "sip:vivekg@chair-dnrc.example.com"' \
    'j["to_tag"] == "1918181833n"' 'j["max_forwards"] == 68' 'j["content_length"] == 150' \
    '[v["host"] for v in j["vias"]] == ["192.0.2.2", "spindle.example.com", "192.168.255.111"]' \
    '[v["transport"] for v in j["vias"]] == ["UDP", "TCP", "UDP"]' \
    '[v["branch"] for v in j["vias"]] == ["390skdjuw", "z9hG4bK9ikj8", "z9hG4bK30239"]' \
    'all("port" not in v and "rport" not in v for v in j["vias"])' \
    'isinstance(j["headers"], int) and j["headers"] > 10' 'not any(k in j for k in ("status", "reason"))'
expect "rfc4475 longreq: 34 Vias, name case variants, compact v" 0 "$rfc/longreq.dat" \
    'len(j["vias"]) == 34' 'j["to_uri"].startswith("sip:user@example.com:6000;unknownparam1=")'
expect "rfc4475 transports: five transports" 0 "$rfc/transports.dat" \
    '[v["transport"] for v in j["vias"]] == ["UDP", "SCTP", "TLS", "UNKNOWN", "TCP"]' \
    'j["method"] == "OPTIONS"' 'j["cseq_num"] == 60' 'j["content_length"] == 0'
expect "rfc4475 mpart01: port and bare rport" 0 "$rfc/mpart01.dat" \
    'j["vias"] == [{"transport": "UDP", "host": "127.0.0.1", "port": 5070,
                    "branch": "z9hG4bK-d87543-4dade06d0bdb11ee-1--d87543-", "rport": True}]' \
    'j["content_length"] == 553' 'j["method"] == "MESSAGE"'
expect "rfc4475 intmeth: raw NUL in a display name, odd method" 0 "$rfc/intmeth.dat" \
    'j["method"] == j["cseq_method"]' 'j["method"].startswith("!interesting-Method")' \
    '"to_tag" not in j' 'j["max_forwards"] == 255'
expect "rfc4475 unreason: response, UTF-8 reason" 0 "$rfc/unreason.dat" \
    'j["kind"] == "response"' 'j["status"] == 200' 'j["reason"].startswith("= 2**3 * 5**2 ")' \
    '"простое" in j["reason"]' '"method" not in j and "ruri" not in j' 'j["cseq_method"] == "INVITE"'
expect "rfc4475 noreason: empty reason phrase is omitted" 0 "$rfc/noreason.dat" \
    'j["status"] == 100' '"reason" not in j'
expect "rfc4475 zeromf: Max-Forwards 0 is present" 0 "$rfc/zeromf.dat" 'j["max_forwards"] == 0'
expect "rfc4475 inv2543: no Content-Length, no branch, no tag" 0 "$rfc/inv2543.dat" \
    '"content_length" not in j' '"max_forwards" not in j' '"from_tag" not in j' \
    '"branch" not in j["vias"][0]'
expect "rfc4475 badinv01: bad_via, the values still listed" 1 "$rfc/badinv01.dat" \
    'j["valid"] is False' 'j["error"] == "bad_via"' \
    'j["vias"][0] == {"error": "bad_via", "value": "SIP/2.0/UDP 192.0.2.15;;"}' \
    'len(j["vias"]) == 4'
expect "rfc4475 clerr: Content-Length past the end" 1 "$rfc/clerr.dat" 'j["error"] == "truncated"'
expect "rfc4475 ncl: negative Content-Length" 1 "$rfc/ncl.dat" 'j["error"] == "bad_content_length"'
expect "rfc4475 scalar02: CSeq overflow" 1 "$rfc/scalar02.dat" 'j["error"] == "bad_cseq"'
expect "rfc4475 badvers: SIP/7.0" 1 "$rfc/badvers.dat" 'j["error"] == "bad_version"'
expect "rfc4475 bigcode: status 4294967301" 1 "$rfc/bigcode.dat" 'j["error"] == "bad_status"'
expect "rfc4475 insuf: missing headers" 1 "$rfc/insuf.dat" 'j["error"] == "missing_header"' \
    'j["valid"] is False' '"kind" not in j'
expect "rfc4475 test.dat: no SIP-Version" 1 "$rfc/test.dat" 'j["error"] == "bad_start_line"' \
    '"vias" not in j'

# --- hand-written ---------------------------------------------------------------------------
msg vias.sip \
    "INVITE sip:bob@example.com:5070;transport=udp SIP/2.0" \
    "Via: SIP/2.0/UDP 10.0.0.3:5062;branch=z9hG4bKc;rport=5099;received=192.0.2.9, SIP/2.0/TCP [2001:db8::1]:5061;branch=z9hG4bKb;x=\"a,b\"" \
    "Max-Forwards: 69" \
    "v: SIP/2.0/UDP 10.0.0.1;rport;branch=z9hG4bKa , SIP/2.0/TLS h.example.com;received=192.0.2.1" \
    "From: \"Alice, A.\" <sip:alice@example.com>;tag=ft1" \
    "To: Bob <sip:bob@example.com>" \
    "VIA   : SIP/2.0/SCTP last.example.com:1" \
    "Call-ID: abc@10.0.0.1" \
    "CSeq: 314159 INVITE" \
    "Content-Length: 0"
expect "five Vias: comma-joined, repeated lines, compact, case, rport, received" 0 "$work/vias.sip" \
    'j["kind"] == "request"' 'j["ruri"] == "sip:bob@example.com:5070;transport=udp"' \
    'len(j["vias"]) == 5' \
    'j["vias"][0] == {"transport": "UDP", "host": "10.0.0.3", "port": 5062,
                      "branch": "z9hG4bKc", "received": "192.0.2.9", "rport": 5099}' \
    'j["vias"][1] == {"transport": "TCP", "host": "[2001:db8::1]", "port": 5061, "branch": "z9hG4bKb"}' \
    'j["vias"][2] == {"transport": "UDP", "host": "10.0.0.1", "branch": "z9hG4bKa", "rport": True}' \
    'j["vias"][3] == {"transport": "TLS", "host": "h.example.com", "received": "192.0.2.1"}' \
    'j["vias"][4] == {"transport": "SCTP", "host": "last.example.com", "port": 1}' \
    'j["from_uri"] == "sip:alice@example.com"' 'j["from_tag"] == "ft1"' \
    'j["to_uri"] == "sip:bob@example.com"' '"to_tag" not in j' 'j["cseq_num"] == 314159' \
    'j["max_forwards"] == 69' 'j["content_length"] == 0' 'j["headers"] == 9'

msg compact.sip \
    "SIP/2.0 486 Busy Here" \
    "v: SIP/2.0/UDP ss1.example.com:5060;branch=z9hG4bK2d4790.1;received=192.0.2.111" \
    "V: SIP/2.0/UDP client.example.com:5060;branch=z9hG4bK74bf9;received=192.0.2.101" \
    "f: Alice <sip:alice@example.com>;tag=9fxced76sl" \
    "t: Bob <sip:bob@example.com>;tag=314159" \
    "i: 3848276298220188511@atlanta.example.com" \
    "CSeq: 1 INVITE" \
    "l: 0"
expect "compact forms in a response" 0 "$work/compact.sip" \
    'j["kind"] == "response"' 'j["status"] == 486' 'j["reason"] == "Busy Here"' \
    'j["call_id"] == "3848276298220188511@atlanta.example.com"' \
    'j["from_tag"] == "9fxced76sl"' 'j["to_tag"] == "314159"' 'j["content_length"] == 0' \
    '[v["host"] for v in j["vias"]] == ["ss1.example.com", "client.example.com"]' \
    '[v["received"] for v in j["vias"]] == ["192.0.2.111", "192.0.2.101"]' \
    'j["headers"] == 7' '"max_forwards" not in j'

cp "$work/compact.sip" "$work/stdin"
expect "stdin input (-)" 0 - 'j["status"] == 486' 'len(j["vias"]) == 2'

# Arbitrary bytes: a control octet inside a quoted Call-ID must be escaped, invalid UTF-8 in
# the reason phrase must be replaced, not crash the JSON writer.
printf 'SIP/2.0 200 O\377K\376\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@h>;tag=1\r\nTo: <sip:b@h>\r\nCall-ID: "x\001y"\r\nCSeq: 1 OPTIONS\r\n\r\n' \
    > "$work/bytes.sip"
expect "control octets escaped, invalid UTF-8 replaced" 0 "$work/bytes.sip" \
    'j["reason"] == "O\ufffdK\ufffd"' 'j["call_id"] == "\"x\u0001y\""' \
    '"content_length" not in j'

msg folded.sip \
    "OPTIONS sip:x@example.com SIP/2.0" \
    "Via: SIP/2.0/UDP a.example.com;branch=z9hG4bK1," \
    "  SIP/2.0/UDP b.example.com" \
    "	;branch=z9hG4bK2" \
    "From: <sip:a@example.com>;tag=1" \
    "To: <sip:b@example.com>" \
    "Call-ID: c" \
    "CSeq: 1 OPTIONS"
expect "folded Via line split over three lines" 0 "$work/folded.sip" \
    '[(v["host"], v["branch"]) for v in j["vias"]] == [("a.example.com", "z9hG4bK1"), ("b.example.com", "z9hG4bK2")]'

msg nocseq.sip \
    "BYE sip:x@example.com SIP/2.0" \
    "Via: SIP/2.0/UDP a.example.com;branch=z9hG4bK1" \
    "From: <sip:a@example.com>;tag=1" \
    "To: <sip:b@example.com>;tag=2" \
    "Call-ID: c"
expect "missing CSeq: invalid, Vias still shown" 1 "$work/nocseq.sip" \
    'j["valid"] is False' 'j["error"] == "missing_header"' 'j["vias"][0]["host"] == "a.example.com"'

msg mismatch.sip \
    "BYE sip:x@example.com SIP/2.0" \
    "Via: SIP/2.0/UDP a.example.com;branch=z9hG4bK1" \
    "From: <sip:a@example.com>;tag=1" \
    "To: <sip:b@example.com>;tag=2" \
    "Call-ID: c" \
    "CSeq: 2 INVITE"
expect "CSeq method differs from the request method: scanned, flagged" 0 "$work/mismatch.sip" \
    'j["valid"] is True' 'j["cseq_method_mismatch"] is True' 'j["cseq_method"] == "INVITE"'

: > "$work/empty.sip"
expect "empty file" 1 "$work/empty.sip" 'j == {"valid": False, "error": "not_sip"}'

# --- RFC 3665 call flows: every message against its MANIFEST.tsv row ------------------------
# The Via walker of the tool must find as many values as the manifest lists (the scanner's own
# count is checked by sip-flows), with the top branch first.
if python3 - "$tool" "$flows" <<'PY'; then
import csv, json, subprocess, sys
tool, d = sys.argv[1], sys.argv[2]
bad = 0
rows = list(csv.DictReader(open(d + "/MANIFEST.tsv"), delimiter="\t"))
for r in rows:
    p = subprocess.run([tool, "parse", d + "/" + r["file"]], capture_output=True, text=True)
    j = json.loads(p.stdout)
    want = {
        "rc": 0, "kind": r["kind"], "vias": int(r["vias"]), "branch": r["branch"],
        "cseq_num": int(r["cseq_num"]), "cseq_method": r["cseq_method"], "call_id": r["call_id"],
        "content_length": int(r["content_length"]),
        "max_forwards": None if r["max_forwards"] == "-" else int(r["max_forwards"]),
        "from_tag": r["from_tag"], "to_tag": None if r["to_tag"] == "-" else r["to_tag"],
        "what": r["method"] if r["kind"] == "request" else int(r["status"]),
    }
    got = {
        "rc": p.returncode, "kind": j.get("kind"), "vias": len(j.get("vias", [])),
        "branch": j.get("vias", [{}])[0].get("branch"), "cseq_num": j.get("cseq_num"),
        "cseq_method": j.get("cseq_method"), "call_id": j.get("call_id"),
        "content_length": j.get("content_length"), "max_forwards": j.get("max_forwards"),
        "from_tag": j.get("from_tag"), "to_tag": j.get("to_tag"),
        "what": j.get("method") if r["kind"] == "request" else j.get("status"),
    }
    if got != want:
        bad += 1
        print("  %s: %s" % (r["file"], {k: (got[k], want[k]) for k in want if got[k] != want[k]}))
print("  %d RFC 3665 messages, %d mismatched" % (len(rows), bad))
sys.exit(1 if bad or len(rows) < 70 else 0)
PY
    echo "ok   - rfc3665 flows: every message matches its manifest row"
    passes=$((passes + 1))
else
    echo "FAIL - rfc3665 flows"
    failures=$((failures + 1))
fi

# --- usage errors ---------------------------------------------------------------------------
usage "no argument" parse
usage "missing file" parse "$work/does-not-exist.sip"
usage "a directory" parse "$work"
usage "no subcommand"
usage "two files" parse "$work/compact.sip" "$work/vias.sip"

echo "$passes passed, $failures failed"
[ "$failures" = 0 ]
