#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# tests/tools/tool_ds_select_test.sh: `viaduct-tool ds-select` end to end through the built
# binary: Kamailio mode against an independent ds_get_hash (python3), Maglev mode's behaviour
# when a destination is down, round robin, weights, URI keys, and usage errors.
#   usage: tool_ds_select_test.sh VIADUCT_TOOL
set -uo pipefail
tool=$1
work=$(mktemp -d /tmp/viaduct-tool-ds-select.XXXXXX)
trap 'rm -rf "$work"' EXIT
failures=0
passes=0
pass() { passes=$((passes + 1)); }
fail() { echo "FAIL - $*"; failures=$((failures + 1)); }
check() {  # check NAME COMMAND...: passes when the command succeeds
    local name=$1
    shift
    if "$@"; then pass; else fail "$name"; fi
}

# Ten destinations of set 1, two of set 2 (with priorities: index order is priority, then the
# later line first).
{
    for i in $(seq 1 10); do echo "1 sip:10.0.0.$i:5060"; done
    echo "2 sip:10.0.1.1 0 0 weight=3"
    echo "2 sip:10.0.1.2 0 5 weight=1"
} > "$work/d.list"
seq 1 20000 | sed 's/$/-4711@client.example.net/' > "$work/keys"

# Kamailio mode, algorithm 0: ds_get_hash(Call-ID) % 10 in Kamailio's index order.
"$tool" ds-select --list "$work/d.list" --set 1 --alg 0 --mode kamailio < "$work/keys" \
    > "$work/kam.out" 2> "$work/err" || fail "kamailio mode exit status: $(cat "$work/err")"
python3 - "$work/keys" "$work/kam.out" <<'PY' && pass || fail "kamailio mode differs from ds_get_hash % n"
import sys
def fold(s, h):
    b = [x - 256 if x >= 128 else x for x in s.encode()]  # Kamailio's signed char
    i = 0
    while i + 4 <= len(b):
        v = ((b[i] << 24) + (b[i + 1] << 16) + (b[i + 2] << 8) + b[i + 3]) & 0xffffffff
        h = (h + (v ^ (v >> 3))) & 0xffffffff
        i += 4
    v = 0
    for x in b[i:]:
        v = ((v << 8) + x) & 0xffffffff
    return (h + (v ^ (v >> 3))) & 0xffffffff
def ds_get_hash(*parts):
    h = 0
    for p in parts:
        h = fold(p, h)
    h = (h + (h >> 11) + ((h >> 13) + (h >> 23))) & 0xffffffff
    return h or 1
order = ["sip:10.0.0.%d:5060" % i for i in range(10, 0, -1)]  # equal priorities: reversed
keys = open(sys.argv[1]).read().split("\n")[:-1]
got = open(sys.argv[2]).read().split("\n")[:-1]
assert len(keys) == len(got), (len(keys), len(got))
bad = [(k, g) for k, g in zip(keys, got) if order[ds_get_hash(k) % 10] != g]
assert not bad, bad[:5]
PY

# Kamailio mode, algorithm 1: the URI's user and host; port 5060 is left out.
printf 'sip:alice@example.com\nsip:alice@example.com:5060\n<bad>\n' |
    "$tool" ds-select --list "$work/d.list" --set 1 --alg 1 --mode kamailio > "$work/uri.out"
check "uri keys: default port ignored" test "$(sed -n 1p "$work/uri.out")" = "$(sed -n 2p "$work/uri.out")"
check "uri keys: unparsable -> none" test "$(sed -n 3p "$work/uri.out")" = none
want=$(python3 -c '
def fold(s, h):
    b = list(s.encode()); i = 0
    while i + 4 <= len(b):
        v = (b[i] << 24) + (b[i+1] << 16) + (b[i+2] << 8) + b[i+3]; h = (h + (v ^ (v >> 3))) & 0xffffffff; i += 4
    v = 0
    for x in b[i:]: v = ((v << 8) + x) & 0xffffffff
    return (h + (v ^ (v >> 3))) & 0xffffffff
h = fold("example.com", fold("alice", 0)); h = (h + (h >> 11) + ((h >> 13) + (h >> 23))) & 0xffffffff
print("sip:10.0.0.%d:5060" % (10 - h % 10))')
check "uri keys: ds_get_hash(user, host)" test "$(sed -n 1p "$work/uri.out")" = "$want"

# Maglev mode: one destination down moves only its keys, spread over the nine others.
"$tool" ds-select --list "$work/d.list" --set 1 --alg 0 < "$work/keys" > "$work/m.out"
"$tool" ds-select --list "$work/d.list" --set 1 --alg 0 --down sip:10.0.0.3:5060 \
    < "$work/keys" > "$work/m3.out"
paste -d' ' "$work/m.out" "$work/m3.out" | awk '
    $1 != $2 { moved++; if ($1 != "sip:10.0.0.3:5060") bad++; to[$2]++ }
    $2 == "sip:10.0.0.3:5060" { bad++ }
    END {
        n = 0; for (k in to) n++
        frac = moved / NR
        if (bad > 0 || n != 9 || frac < 0.08 || frac > 0.12) {
            printf "moved %d (%.3f), from live destinations %d, spread over %d\n", moved, frac, bad, n
            exit 1
        }
    }' && pass || fail "maglev: down destination"
"$tool" ds-select --list "$work/d.list" --set 1 --alg 0 --down sip:10.0.0.3:5060 \
    --down sip:10.0.0.4:5060 < "$work/keys" > "$work/m34.out"
paste -d' ' "$work/m3.out" "$work/m34.out" | awk '$1 != $2 && $1 != "sip:10.0.0.4:5060" { exit 1 }' \
    && pass || fail "maglev: a second --down moves only its own keys"

# Round robin (index order: priority 5 first), and exact weights 3:1 on set 2.
printf 'x\nx\nx\nx\n' | "$tool" ds-select --list "$work/d.list" --set 2 --alg 4 > "$work/rr.out"
check "round robin" test "$(tr '\n' ' ' < "$work/rr.out")" = \
    "sip:10.0.1.2 sip:10.0.1.1 sip:10.0.1.2 sip:10.0.1.1 "
seq 1 4000 | "$tool" ds-select --list "$work/d.list" --set 2 --alg 9 | sort | uniq -c |
    awk '{ c[$2] = $1 } END { a = c["sip:10.0.1.1"]; b = c["sip:10.0.1.2"];
          if (a < 2995 || a > 3005 || a + b != 4000) { print a, b; exit 1 } }' \
    && pass || fail "weights 3:1"
seq 1 10 | "$tool" ds-select --list "$work/d.list" --set 2 --alg 8 --down sip:10.0.1.2 |
    sort -u > "$work/serial.out"
check "serial skips the down entry" test "$(cat "$work/serial.out")" = sip:10.0.1.1

# Usage errors: 2; a bad list: 1.
expect_rc() {
    local name=$1 want=$2
    shift 2
    "$@" < /dev/null > /dev/null 2>&1
    local rc=$?
    if [ "$rc" = "$want" ]; then pass; else fail "$name: exit $rc, want $want"; fi
}
expect_rc "algorithm 10" 2 "$tool" ds-select --list "$work/d.list" --set 1 --alg 10
expect_rc "algorithm 12" 2 "$tool" ds-select --list "$work/d.list" --set 1 --alg 12
expect_rc "unknown set" 2 "$tool" ds-select --list "$work/d.list" --set 9 --alg 0
expect_rc "unknown --down" 2 "$tool" ds-select --list "$work/d.list" --set 1 --alg 0 --down sip:x
expect_rc "bad mode" 2 "$tool" ds-select --list "$work/d.list" --set 1 --alg 0 --mode ring
echo "1 ftp:x" > "$work/bad.list"
expect_rc "bad list" 1 "$tool" ds-select --list "$work/bad.list" --set 1 --alg 0
expect_rc "missing list" 1 "$tool" ds-select --list "$work/nope.list" --set 1 --alg 0

echo "tool-ds-select: $passes passed, $failures failed"
[ "$failures" = 0 ]
