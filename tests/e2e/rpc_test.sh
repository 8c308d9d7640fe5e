#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# End to end: the management API (JSON-RPC) and reloads, with viaduct in the namespace lab.
#   - kamcli (Debian's 2.0, transport=socket: jsonrpcs' unix datagram transport) lists the sets,
#     asks core.version, and takes a backend out with dispatcher.set_state; sipp traffic then
#     avoids it.
#   - SIGHUP with a changed dispatcher.list: dispatcher.list shows the new sets, traffic follows
#     them, and the state set through the API is carried over by set + URI.
#   - A broken script leaves the running generation serving, over SIGHUP and over cfg.reload
#     (whose error carries the compiler's file:line:col).
#   - JSON-RPC over HTTP (curl): /RPC and /, errors, dispatcher.hash, stats, dst_blocklist.
#   usage: rpc_test.sh VIADUCT_BINARY
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=$(realpath "$1")
CALLS=${CALLS:-60}
RATE=${RATE:-30}
MGMT_PORT=5065

source "$here/lib.sh"
lab_require sipp curl ip kamcli python3
failures=0
passes=0
lab_workdir viaduct-rpc
# kamcli ARGS...: kamcli against viaduct's datagram socket; prints the JSON reply.
kam() {
    timeout 20 kamcli --no-default-configs -c "$work/kamcli.ini" "$@" 2>> "$work/kamcli.err"
}
# lab_rpc JSON [PATH]: one POST to the HTTP listener (inside the lb namespace).
# jget EXPR: evaluates a Python expression over the JSON on stdin (bound to r); prints it.
jget() {
    python3 -c '
import json, sys
try:
    r = json.loads(sys.stdin.read())
    v = eval(sys.argv[1])
except Exception as e:
    v = "<%s: %s>" % (type(e).__name__, e)
print(v if isinstance(v, str) else json.dumps(v))' "$1"
}
# dests JSON: "set uri flags" lines of a dispatcher.list reply, sorted.
dests() {
    python3 -c '
import json, sys
r = json.loads(sys.stdin.read())
for rec in r["result"]["RECORDS"]:
    s = rec["SET"]
    for t in s["TARGETS"]:
        print(s["ID"], t["DEST"]["URI"], t["DEST"]["FLAGS"])' | sort
}
# calls_to I: distinct calls backend I (1-3) has seen so far.
calls_to() { sipp_call_ids "$work/uas$1.msg" 2> /dev/null || true; }  # grep finds none: 0
# wait_metric NAME MIN: waits (5 s at most) until NAME >= MIN.
wait_metric() {
    local i
    for i in $(seq 1 50); do
        [ "$(lab_metric_now "$1")" -ge "$2" ] && return 0
        sleep 0.1
    done
    return 1
}

B1="sip:${LAB_B_IPS[0]}:5060"
B2="sip:${LAB_B_IPS[1]}:5060"
B3="sip:${LAB_B_IPS[2]}:5060"

lab_up
lab_write_config "$work"
cat >> "$work/viaduct.toml" <<TOML

[management]
listen = "127.0.0.1:${MGMT_PORT}"
socket = "$work/viaduct_rpc.sock"
TOML
cat > "$work/kamcli.ini" <<INI
[main]
domain=localhost

[jsonrpc]
transport=socket
srvaddr=$work/viaduct_rpc.sock
rcvaddr=$work/kamcli_rpc.sock
outformat=json
INI
lab_start_uas "$work"
lab_start_viaduct "$bin" "$work"

echo "== kamcli"
out=$(kam dispatcher list)
echo "$out" > "$work/list1.json"
check "kamcli dispatcher list: one set" test "$(jget 'r["result"]["NRSETS"]' <<< "$out")" = 1
check "kamcli dispatcher list: the three backends, active, not probed" \
    test "$(dests <<< "$out" | tr '\n' ' ')" = "1 $B1 AX 1 $B2 AX 1 $B3 AX "
version=$(kam rpc core.version | jget 'r["result"]')
check "kamcli rpc core.version: '$version'" grep -q '^viaduct [0-9]' <<< "$version"
uptime=$(kam uptime | jget 'r["result"]["uptime"]')
check "kamcli uptime: $uptime s" test "$uptime" -ge 0 -a "$uptime" -lt 600

out=$(kam rpc dispatcher.set_state i i:1 "$B1")
check "kamcli rpc dispatcher.set_state i 1 $B1" \
    test "$(jget 'r["result"]' <<< "$out")" = "Ok. Dispatcher state updated."
check "dispatcher list shows $B1 inactive (IX)" \
    grep -qx "1 $B1 IX" <<< "$(kam dispatcher list | dests)"
check "viaduct_dispatcher_destination_up is 0 for $B1" \
    test "$(lab_metric_now viaduct_dispatcher_destination_up "uri=\"$B1\"")" = 0
out=$(kam rpc dispatcher.set_state i i:1 sip:10.255.0.1:5060)
check "set_state of an unknown destination: 500 State Update Failed" \
    test "$(jget '[r["error"]["code"], r["error"]["message"]]' <<< "$out")" = '[500, "State Update Failed"]'

before1=$(calls_to 1); before2=$(calls_to 2); before3=$(calls_to 3)
rc=0
lab_run_uac "$work" "$CALLS" "$RATE" || rc=$?
check "sipp: $CALLS calls completed with $B1 inactive (exit $rc)" test "$rc" = 0
got1=$(( $(calls_to 1) - before1 )); got2=$(( $(calls_to 2) - before2 )); got3=$(( $(calls_to 3) - before3 ))
check "inactive backend 1 got no call ($got1)" test "$got1" = 0
check "backends 2 and 3 got all $CALLS calls ($got2 + $got3)" test "$((got2 + got3))" = "$CALLS"

echo "== SIGHUP with a new dispatcher.list"
{
    echo "1 $B1 0 0"
    echo "1 $B2 0 0"
    echo "2 $B3 0 0"
} > "$work/dispatcher.list"
reloads=$(lab_metric_now viaduct_config_reloads_total)
kill -HUP "$LAB_VIADUCT_PID"
check "SIGHUP reload applied" wait_metric viaduct_config_reloads_total "$((reloads + 1))"
out=$(kam dispatcher list)
check "dispatcher list after SIGHUP: sets 1 {b1 b2} and 2 {b3}; b1 still inactive" \
    test "$(dests <<< "$out" | tr '\n' ' ')" = "1 $B1 IX 1 $B2 AX 2 $B3 AX "
before1=$(calls_to 1); before2=$(calls_to 2); before3=$(calls_to 3)
rc=0
lab_run_uac "$work" "$CALLS" "$RATE" || rc=$?
check "sipp: $CALLS calls completed after the reload (exit $rc)" test "$rc" = 0
got1=$(( $(calls_to 1) - before1 )); got2=$(( $(calls_to 2) - before2 )); got3=$(( $(calls_to 3) - before3 ))
check "set 1 is now {b1 inactive, b2}: b2 got every call ($got1/$got2/$got3)" \
    test "$got2" = "$CALLS" -a "$got1" = 0 -a "$got3" = 0

echo "== broken script"
generation=$(lab_metric_now viaduct_snapshot_generation)
failed=$(lab_metric_now viaduct_config_reload_failures_total)
cp "$work/viaduct.cfg" "$work/viaduct.cfg.good"
printf 'route[BROKEN] {\n    no_such_function();\n}\n' >> "$work/viaduct.cfg"
kill -HUP "$LAB_VIADUCT_PID"
check "SIGHUP with a broken script counted as a failed reload" \
    wait_metric viaduct_config_reload_failures_total "$((failed + 1))"
check "the generation did not change ($generation)" \
    test "$(lab_metric_now viaduct_snapshot_generation)" = "$generation"
check "the log names the error with file:line:col" \
    grep -qE "viaduct\.cfg:[0-9]+:[0-9]+: error" "$work/viaduct.log"
out=$(lab_rpc '{"jsonrpc":"2.0","method":"cfg.reload","id":1}')
echo "$out" > "$work/cfg_reload_broken.json"
check "cfg.reload with the broken script: an error naming viaduct.cfg:line:col" \
    grep -qE '"message":"Reload Failed: [^"]*viaduct\.cfg:[0-9]+:[0-9]+: error' <<< "$out"
check "the generation still did not change" \
    test "$(lab_metric_now viaduct_snapshot_generation)" = "$generation"
before2=$(calls_to 2)
rc=0
lab_run_uac "$work" 20 "$RATE" || rc=$?
check "the old generation keeps serving: 20 calls to b2 (exit $rc, got $(( $(calls_to 2) - before2 )))" \
    test "$rc" = 0 -a "$(( $(calls_to 2) - before2 ))" = 20
cp "$work/viaduct.cfg.good" "$work/viaduct.cfg"
out=$(kam rpc cfg.reload)
check "kamcli rpc cfg.reload with the script fixed" \
    test "$(jget 'r["result"]' <<< "$out")" = "Ok. Configuration successfully reloaded."
check "a new generation is published" \
    test "$(lab_metric_now viaduct_snapshot_generation)" -gt "$generation"

echo "== dispatcher.reload, set_state a"
echo "1 $B1 0 0" > "$work/dispatcher.list"
echo "1 $B3 0 0" >> "$work/dispatcher.list"
out=$(kam dispatcher reload)
check "kamcli dispatcher reload" \
    test "$(jget 'r["result"]' <<< "$out")" = "Ok. Dispatcher successfully reloaded."
check "dispatcher list: set 1 {b1 still inactive, b3}" \
    test "$(kam dispatcher list | dests | tr '\n' ' ')" = "1 $B1 IX 1 $B3 AX "
echo "1 $B1 0 0" > "$work/dispatcher.list"
echo "1 sip:[broken 0 0" >> "$work/dispatcher.list"
out=$(kam dispatcher reload)
check "a broken dispatcher.list is refused with file:line:col ($(jget 'r["error"]["message"]' <<< "$out"))" \
    grep -qE 'dispatcher\.list:2:[0-9]+' <<< "$(jget 'r["error"]["message"]' <<< "$out")"
check "and changes nothing" \
    test "$(kam dispatcher list | dests | tr '\n' ' ')" = "1 $B1 IX 1 $B3 AX "
out=$(kam rpc dispatcher.set_state a i:1 "$B1")
check "set_state a brings b1 back (AX)" \
    grep -qx "1 $B1 AX" <<< "$(kam dispatcher list | dests)"
# Kamailio's other spellings: the digits 0-3, and only the first two characters count.
out=$(kam rpc dispatcher.set_state inactive i:1 "$B1")
check "set_state inactive is i (IX)" grep -qx "1 $B1 IX" <<< "$(kam dispatcher list | dests)"
out=$(kam rpc dispatcher.set_state 1 i:1 "$B1")
check "set_state 1 is a (AX)" grep -qx "1 $B1 AX" <<< "$(kam dispatcher list | dests)"

echo "== HTTP"
out=$(lab_rpc '{"jsonrpc":"2.0","method":"dispatcher.list","id":"x"}')
check "POST /RPC dispatcher.list, id echoed" \
    test "$(jget '[r["id"], r["result"]["NRSETS"]]' <<< "$out")" = '["x", 1]'
out=$(lab_rpc '{"jsonrpc":"2.0","method":"core.version","id":2}' /)
check "POST / core.version" grep -q '"result":"viaduct ' <<< "$out"
code=$(ip netns exec "$LAB_LB" curl -s -o "$work/nosuch.json" -w '%{http_code}' --max-time 10 \
    -d '{"jsonrpc":"2.0","method":"no.such","id":3}' "http://127.0.0.1:${MGMT_PORT}/RPC")
check "unknown method: HTTP 500, 500 Method Not Found" \
    test "$code $(jget '[r["error"]["code"], r["error"]["message"]]' < "$work/nosuch.json")" = \
    '500 [500, "Method Not Found"]'
code=$(ip netns exec "$LAB_LB" curl -s -o /dev/null -w '%{http_code}' --max-time 10 \
    -d 'x' "http://127.0.0.1:${MGMT_PORT}/metrics")
check "other paths: 404" test "$code" = 404
out=$(lab_rpc '{"jsonrpc":"2.0","method":"dispatcher.hash","params":[4,"abc"],"id":4}')
check "dispatcher.hash 4 abc as Kamailio 5.6 answers it" \
    test "$(jget 'r["result"]' <<< "$out")" = '{"hashid": 7167810, "slot": 2}'
out=$(lab_rpc '{"jsonrpc":"2.0","method":"dst_blocklist.view","id":5}')
check "dst_blocklist.view: empty (the lab does not turn use_dst_blocklist on)" test "$(jget 'r["result"]' <<< "$out")" = '{}'
out=$(lab_rpc '{"jsonrpc":"2.0","method":"dst_blocklist.delete_all","id":6}')
check "dst_blocklist.delete_all: success" test "$(jget 'r["result"]' <<< "$out")" = '{}'
fwd=$(lab_metric_now viaduct_sip_requests_forwarded_total)
out=$(kam stats core:)
check "kamcli stats core: fwd_requests agrees with /metrics ($fwd)" \
    grep -qx "core:fwd_requests = $fwd" <<< "$(jget '"\n".join(r["result"])' <<< "$out")"
out=$(kam rpc dispatcher.ping_active i:0)
check "dispatcher.ping_active 0" \
    test "$(jget 'r["result"]' <<< "$out")" = '{"NewPingState": 0, "OldPingState": 1}'

if ! kill -0 "$LAB_VIADUCT_PID" 2>/dev/null; then
    echo "FAIL - viaduct died"; failures=$((failures + 1))
fi
kill -TERM "$LAB_VIADUCT_PID"
stopped=no
for i in $(seq 1 50); do
    if ! kill -0 "$LAB_VIADUCT_PID" 2>/dev/null; then stopped=yes; break; fi
    sleep 0.1
done
check "viaduct stops within 5 s of SIGTERM" test "$stopped" = yes
check "the management socket is removed at exit" test ! -e "$work/viaduct_rpc.sock"

echo "e2e rpc: $passes passed, $failures failed"
[ "$failures" = 0 ]
