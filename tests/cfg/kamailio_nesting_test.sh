#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Long chains as generated configs write them, checked by Kamailio (the reference, `kamailio -c`)
# and by viaduct (`viaduct -c`, the whole front end): every else-if chain and parenthesis nesting
# Kamailio accepts, viaduct accepts, and `||` chains up to viaduct's limit.
# Kamailio 5.6's bison parser stops near 2,500 else-ifs (its 10,000-entry stack); `||` chains
# are bounded only by its pkg memory (-M; with the default 8 MiB it stops between 1,000 and 3,000
# terms), viaduct's by its nesting limit of 10,000 levels. Argument: VIADUCT.
set -u
viaduct=$1
command -v kamailio > /dev/null || { echo "FAIL: kamailio is not installed"; exit 1; }
work=$(mktemp -d /tmp/vd-nesting.XXXXXX)
trap 'rm -rf "$work"' EXIT
fails=0

gen() {  # gen KIND N > file
    python3 - "$1" "$2" <<'PY'
import sys
kind, n = sys.argv[1], int(sys.argv[2])
out = ['loadmodule "pv.so"', 'loadmodule "sl.so"', 'request_route {']
if kind == 'elif':
    out.append(' if ($rU == "u0") { sl_send_reply("200", "b0"); }')
    out += [f' else if ($rU == "u{i}") {{ sl_send_reply("200", "b{i}"); }}' for i in range(1, n)]
elif kind == 'or':
    out.append(' if (' + ' || '.join(f'$rU == "x{i}"' for i in range(n)) + ') { drop; }')
elif kind == 'paren':
    out.append(' $var(a) = ' + '(' * n + '1' + ')' * n + ';')
out.append('}')
print('\n'.join(out))
PY
}

check() {  # check KIND N: both accept
    local f=$work/$1-$2.cfg
    gen "$1" "$2" > "$f"
    local krc vrc
    kamailio -M 512 -c -f "$f" > "$work/kam.out" 2>&1
    krc=$?
    "$viaduct" -c -f "$f" > "$work/vd.out" 2>&1
    vrc=$?
    if [[ $krc -ne 0 ]]; then
        echo "FAIL: Kamailio rejects $1 x $2 (status $krc); the case is no longer what it tests:"
        grep -m3 -iE 'error|critical' "$work/kam.out"
        fails=$((fails + 1))
    elif [[ $vrc -ne 0 ]]; then
        echo "FAIL: Kamailio accepts $1 x $2, viaduct rejects it (status $vrc):"
        head -c 600 "$work/vd.out"; echo
        fails=$((fails + 1))
    else
        echo "ok: $1 x $2 accepted by both"
    fi
}

check elif 2400
check or 9000
check paren 3000
# Past Kamailio's parser stack: Kamailio refuses, viaduct, whose limit is 10,000 levels, does not.
f=$work/elif-3000.cfg
gen elif 3000 > "$f"
if kamailio -M 512 -c -f "$f" > "$work/kam.out" 2>&1; then
    echo "FAIL: Kamailio now accepts 3,000 else-ifs: raise this test's cases"
    fails=$((fails + 1))
elif ! "$viaduct" -c -f "$f" > "$work/vd.out" 2>&1; then
    echo "FAIL: viaduct rejects 3,000 else-ifs:"; head -c 600 "$work/vd.out"; echo
    fails=$((fails + 1))
else
    why=$(grep -m1 -o 'memory exhausted' "$work/kam.out")
    echo "ok: elif x 3000 refused by Kamailio ($why), accepted by viaduct"
fi
exit $((fails != 0))
