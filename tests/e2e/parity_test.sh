#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Kamailio parity: the same routing script and dispatcher.list, run first by Kamailio (the
# reference implementation, Debian package) and then by viaduct, in the same namespace lab,
# with the same sipp Call-IDs. Every call must land on the same backend under both.
#   usage: parity_test.sh VIADUCT_BINARY
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=$(realpath "$1")
CALLS=${CALLS:-60}

LAB_NET=${LAB_NET:-79}
LAB_METRICS_PORT=9465
source "$here/lib.sh"
lab_require sipp kamailio curl ip
ok=0
lab_workdir viaduct-parity

lab_up
lab_write_config "$work"
# Hash routing bit for bit like Kamailio: viaduct's default is consistent (Maglev) hashing.
# Kamailio rejects the unknown modparam, and skips it: viaduct predefines VIADUCT.
sed -i '/modparam("dispatcher", "list_file"/a\
#!ifdef VIADUCT\
modparam("dispatcher", "ds_hash_mode", "kamailio")\
#!endif' "$work/viaduct.cfg"
grep -q 'ds_hash_mode", "kamailio"' "$work/viaduct.cfg" || { echo "FAIL - cfg not patched"; exit 1; }
# Two destinations with a higher priority and three with the default one: exercises Kamailio's
# index order (priority, then reverse file order) as well as the hash.
{
    echo "1 sip:${LAB_B_IPS[0]}:5060 0 0"
    echo "1 sip:${LAB_B_IPS[1]}:5060 0 0"
    echo "1 sip:${LAB_B_IPS[2]}:5060 0 0"
    echo "1 sip:${LAB_B_IPS[0]}:5062 0 5"
    echo "1 sip:${LAB_B_IPS[1]}:5062 0 5"
} > "$work/dispatcher.list"

# run_uas PHASE: two sipp UAS per backend (ports 5060 and 5062), each logging what it saw.
run_uas() {
    local phase=$1 i port
    for i in 0 1 2; do
        for port in 5060 5062; do
            ip netns exec "${LAB_BACKENDS[$i]}" sipp -sn uas -i "${LAB_B_IPS[$i]}" -p "$port" \
                -nostdin -trace_msg -message_file "$work/$phase.b$i.$port.msg" \
                > /dev/null 2>&1 &
            LAB_PIDS+=("$!")
        done
    done
    sleep 0.5
}
stop_all() {
    local p
    for p in "${LAB_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${LAB_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    LAB_PIDS=()
}
run_uac() {
    local phase=$1
    ip netns exec "$LAB_C" timeout 60 sipp -sn uac "${LAB_LB_IP}:5060" -i "$LAB_C_IP" -p 5060 \
        -m "$CALLS" -r 20 -nostdin -timeout 40 -timeout_error -cid_str "parity-%u@lab" \
        > "$work/$phase.uac.out" 2>&1
}
# assignments PHASE: "Call-ID backend.port" lines from the UAS logs of one phase.
assignments() {
    local phase=$1 f
    for f in "$work/$phase".b*.msg; do
        local where=${f#"$work/$phase."}
        where=${where%.msg}
        { grep -i '^Call-ID:' "$f" || true; } | awk -v w="$where" '{print $2, w}'
    done | sort -u
}

echo "== Kamailio $(kamailio -v | head -1 | awk '{print $3}') as the dispatcher"
ip -n "$LAB_LB" addr add "${LAB_LB_IP}/24" dev eth0
run_uas kamailio
ip netns exec "$LAB_LB" kamailio -f "$work/viaduct.cfg" -DD -E -w "$work" -P "$work/kam.pid" \
    > "$work/kamailio.log" 2>&1 &
LAB_PIDS+=("$!")
sleep 1.5
kam_rc=0
run_uac kamailio || kam_rc=$?
stop_all
ip -n "$LAB_LB" addr flush dev eth0
if [ "$kam_rc" != 0 ]; then
    echo "FAIL - sipp through Kamailio failed ($kam_rc)"; tail -20 "$work/kamailio.log"; exit 1
fi

echo "== viaduct as the dispatcher"
run_uas viaduct
lab_start_viaduct "$bin" "$work"
vd_rc=0
run_uac viaduct || vd_rc=$?
stop_all
if [ "$vd_rc" != 0 ]; then
    echo "FAIL - sipp through viaduct failed ($vd_rc)"; tail -20 "$work/viaduct.log"; exit 1
fi

assignments kamailio > "$work/kamailio.assign"
assignments viaduct > "$work/viaduct.assign"
n=$(wc -l < "$work/kamailio.assign")
echo "calls placed: $CALLS; Kamailio assignments: $n; viaduct assignments: $(wc -l < "$work/viaduct.assign")"
echo "Kamailio split: $(awk '{print $2}' "$work/kamailio.assign" | sort | uniq -c | tr '\n' ' ')"
if [ "$n" != "$CALLS" ]; then
    echo "FAIL - Kamailio assignments do not cover every call"; exit 1
fi
if ! diff -u "$work/kamailio.assign" "$work/viaduct.assign"; then
    echo "FAIL - viaduct chose a different backend than Kamailio for some calls"
    echo "parity: 0 passed, 1 failed"
    exit 1
fi
echo "parity: 1 passed, 0 failed (every call on the same backend)"
ok=1
