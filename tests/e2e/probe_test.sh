#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# End to end: dispatcher health probing (SIP OPTIONS from the dataplane) and the destination
# blocklist, with viaduct in the namespace lab.
#   - b1 and b2 run `viaduct-gen reflect --mode answer` (200 to OPTIONS, a call flow to INVITE);
#     b3 has no listener on 5060, so its kernel answers the probes with ICMP port unreachable.
#   - ds_ping_interval=1, ds_probing_mode=1, use_dst_blocklist=yes: b1/b2 show AP, b3 goes IP
#     and into dst_blocklist.view (ICMP reason 8) and the blocklist metric.
#   - b2 killed: it shows IP within a few seconds and new calls avoid it.
#   - dispatcher.ping_active 0 stops probing (b2 back up stays IP); 1 brings it back to AP.
#   - ds_default_socket udp:LB:5070 (a second listen socket): the probes leave from it, as
#     Kamailio's, and their replies come back to it.
#   - a dispatcher.reload that changes b3's flags shows the new line, not the learned state; a
#     cfg.reload with ds_ping_interval 0 forgets all learned state.
#   usage: probe_test.sh VIADUCT_BINARY VIADUCT_GEN_BINARY
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=$(realpath "$1")
gen=$(realpath "$2")
MGMT_PORT=${MGMT_PORT:-5066}

export LAB_NET=${LAB_NET:-74}
export LAB_METRICS_PORT=${LAB_METRICS_PORT:-9474}
source "$here/lib.sh"
lab_require sipp curl ip python3
failures=0
passes=0
lab_workdir viaduct-probe
# state URI: the FLAGS dispatcher.list shows for URI ("" when absent).
state() {
    lab_rpc '{"jsonrpc":"2.0","method":"dispatcher.list","id":1}' | python3 -c '
import json, sys
r = json.loads(sys.stdin.read())
for rec in r["result"]["RECORDS"]:
    for t in rec["SET"]["TARGETS"]:
        if t["DEST"]["URI"] == sys.argv[1]:
            print(t["DEST"]["FLAGS"])' "$1"
}
# wait_state URI FLAGS SECONDS
wait_state() {
    local i
    for i in $(seq 1 $(( $3 * 5 ))); do
        [ "$(state "$1")" = "$2" ] && return 0
        sleep 0.2
    done
    echo "  $1 is $(state "$1"), expected $2" >&2
    return 1
}
# blocked IP: prints the flags of IP's dst_blocklist.view entry ("" when none).
blocked() {
    lab_rpc '{"jsonrpc":"2.0","method":"dst_blocklist.view","id":2}' | python3 -c '
import json, sys
r = json.loads(sys.stdin.read())["result"]
for e in (r if isinstance(r, list) else []):
    if e["ip"] == sys.argv[1] and e["port"] == 5060 and e["protocol"] == "udp":
        print(e["flags"])' "$1"
}
start_reflector() {  # start_reflector I (0-based)
    ip netns exec "${LAB_BACKENDS[$1]}" "$gen" reflect --bind "${LAB_B_IPS[$1]}:5060" \
        --mode answer > "$work/refl$1.out" 2>&1 &
    REFL_PID[$1]=$!
    LAB_PIDS+=("$!")
}

B1="sip:${LAB_B_IPS[0]}:5060"
B2="sip:${LAB_B_IPS[1]}:5060"
B3="sip:${LAB_B_IPS[2]}:5060"

lab_up
lab_write_config "$work"
sed -i "s/^children=2\$/children=2\nuse_dst_blocklist=yes\ndst_blocklist_expire=30\nlisten=udp:${LAB_LB_IP}:5070/" "$work/viaduct.cfg"
sed -i 's/^modparam("dispatcher", "list_file", "dispatcher.list")$/&\nmodparam("dispatcher", "ds_ping_interval", 1)\nmodparam("dispatcher", "ds_probing_mode", 1)/' \
    "$work/viaduct.cfg"
sed -i "s/^modparam(\"dispatcher\", \"ds_probing_mode\", 1)\$/&\nmodparam(\"dispatcher\", \"ds_default_socket\", \"udp:${LAB_LB_IP}:5070\")/" \
    "$work/viaduct.cfg"
grep -q "ds_default_socket" "$work/viaduct.cfg" || { echo "FAIL - cfg not patched"; exit 1; }
# Kamailio's dispatcher events, run by the control thread on each transition.
cat >> "$work/viaduct.cfg" <<'CFG'
loadmodule "xlog.so"
event_route[dispatcher:dst-down] {
    xlog("L_ERR", "Destination down: $rm $ru ($du)\n");
}
event_route[dispatcher:dst-up] {
    xlog("L_ERR", "Destination up: $rm $ru\n");
}
CFG
cat >> "$work/viaduct.toml" <<TOML

[management]
listen = "127.0.0.1:${MGMT_PORT}"
TOML
declare -a REFL_PID
start_reflector 0
start_reflector 1
lab_start_viaduct "$bin" "$work"

# The source ports of the OPTIONS b1 gets in 2.5 s (a packet socket in its namespace).
probe_ports=$(ip netns exec "${LAB_BACKENDS[0]}" timeout 10 python3 -c '
import socket, struct, time
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.ntohs(0x0800))
s.settimeout(0.2)
end, ports = time.time() + 2.5, set()
while time.time() < end:
    try:
        f = s.recv(65535)
    except socket.timeout:
        continue
    ip = f[14:]
    if len(ip) < 28 or ip[9] != 17:
        continue
    udp = ip[(ip[0] & 15) * 4:]
    sport, dport = struct.unpack("!HH", udp[:4])
    if dport == 5060 and udp[8:16] == b"OPTIONS ":
        ports.add(sport)
print(" ".join(str(p) for p in sorted(ports)))' 2>&1 || true)
check "probes leave from ds_default_socket's port 5070 (seen: $probe_ports)" \
    test "$probe_ports" = 5070
check "b1 probed and active (AP)" wait_state "$B1" AP 6
check "b2 probed and active (AP)" wait_state "$B2" AP 6
check "b3 (ICMP port unreachable) inactive (IP)" wait_state "$B3" IP 6
b3flags=$(blocked "${LAB_B_IPS[2]}")
check "b3 in dst_blocklist.view with the ICMP reason (flags=$b3flags)" \
    test -n "$b3flags" -a $(( ${b3flags:-0} & 8 )) = 8
check "b1 not blocklisted" test -z "$(blocked "${LAB_B_IPS[0]}")"
check "viaduct_dst_blocklist_entries >= 1" test "$(lab_metric_now viaduct_dst_blocklist_entries)" -ge 1
check "ICMP unreachable counted" test "$(lab_metric_now viaduct_icmp_unreachable_received_total)" -ge 1
check "probes sent counted" test "$(lab_metric_now viaduct_dispatcher_probes_sent_total)" -ge 3
check "probe replies counted" test "$(lab_metric_now viaduct_dispatcher_probe_replies_total)" -ge 2
check "probe RTT histogram has b1 samples" \
    test "$(lab_metric_now viaduct_dispatcher_probe_rtt_seconds_count "$B1")" -ge 1
check "state gauge: b3 inactive" \
    test "$(lab_metric_now viaduct_dispatcher_destination_state "uri=\"$B3\",state=\"inactive\"")" = 1

# b2 goes away: the probe times out, b2 turns inactive within an interval or two.
kill "${REFL_PID[1]}"
check "b2 inactive after its reflector stopped" wait_state "$B2" IP 5
check "probe timeouts counted" test "$(lab_metric_now viaduct_dispatcher_probe_timeouts_total)" -ge 1
check "event_route[dispatcher:dst-down] ran for b2" \
    grep -q "Destination down: OPTIONS $B2 ($B2)" "$work/viaduct.log"
b2_before=$(lab_metric_now viaduct_dispatcher_forwarded_total "$B2")
b1_before=$(lab_metric_now viaduct_dispatcher_forwarded_total "$B1")
rc=0
ip netns exec "$LAB_C" timeout 60 sipp -sn uac "${LAB_LB_IP}:5060" -i "$LAB_C_IP" -p 5060 \
    -m 20 -r 20 -d 100 -nostdin -timeout 30 -timeout_error > "$work/uac.out" 2>&1 || rc=$?
check "20 calls complete through b1 alone (sipp rc=$rc)" test "$rc" = 0
check "no call went to b2" test "$(lab_metric_now viaduct_dispatcher_forwarded_total "$B2")" = "$b2_before"
check "no call went to b3" test "$(lab_metric_now viaduct_dispatcher_forwarded_total "$B3")" = 0
check "calls went to b1" test "$(lab_metric_now viaduct_dispatcher_forwarded_total "$B1")" -ge $(( b1_before + 20 ))

# dispatcher.ping_active 0: no probing, so b2 coming back stays inactive...
lab_rpc '{"jsonrpc":"2.0","method":"dispatcher.ping_active","params":[0],"id":3}' > /dev/null
sent=$(lab_metric_now viaduct_dispatcher_probes_sent_total)
start_reflector 1
sleep 2.5
check "ping_active 0: no probe sent" test "$(lab_metric_now viaduct_dispatcher_probes_sent_total)" = "$sent"
check "ping_active 0: b2 stays IP" test "$(state "$B2")" = IP
# ...until probing is back on.
lab_rpc '{"jsonrpc":"2.0","method":"dispatcher.ping_active","params":[1],"id":4}' > /dev/null
check "ping_active 1: b2 back to AP" wait_state "$B2" AP 5
check "event_route[dispatcher:dst-up] ran for b2" \
    grep -q "Destination up: OPTIONS $B2" "$work/viaduct.log"
check "b2 answering again is out of the blocklist" test -z "$(blocked "${LAB_B_IPS[1]}")"

# dst_blocklist.delete_all empties the list (b3 comes back at its next probe).
out=$(lab_rpc '{"jsonrpc":"2.0","method":"dst_blocklist.delete_all","id":5}')
check "dst_blocklist.delete_all answers {}" test "$(python3 -c 'import json,sys; print(json.dumps(json.loads(sys.argv[1])["result"]))' "$out")" = '{}'

# A reload keeps the learned state (b3 stays IP right after it).
ip netns exec "$LAB_LB" kill -HUP "$LAB_VIADUCT_PID" 2> /dev/null || kill -HUP "$LAB_VIADUCT_PID"
sleep 0.3
check "after SIGHUP b3 is still IP" test "$(state "$B3")" = IP
check "after SIGHUP b1 is still AP" test "$(state "$B1")" = AP

# A reload takes a destination's state from the file when the file changed its line's flags
# (Kamailio's reload takes every flag from the file); a line left alone keeps what probing
# learned. Probing is paused first, so no probe result races the checks.
lab_rpc '{"jsonrpc":"2.0","method":"dispatcher.ping_active","params":[0],"id":6}' > /dev/null
sed -i "s|^1 ${B3} 0 0\$|1 ${B3} 8 0|" "$work/dispatcher.list"
out=$(lab_rpc '{"jsonrpc":"2.0","method":"dispatcher.reload","id":7}')
check "dispatcher.reload with b3's flags changed to 8" grep -q "successfully reloaded" <<< "$out"
check "b3 shows its new line (AP), not the learned IP" test "$(state "$B3")" = AP
check "b1's line unchanged: its learned AP is kept" test "$(state "$B1")" = AP
# A cfg.reload that turns probing off forgets what probing learned: the list's flags hold.
sed -i 's/^modparam("dispatcher", "ds_ping_interval", 1)$/modparam("dispatcher", "ds_ping_interval", 0)/' \
    "$work/viaduct.cfg"
lab_rpc '{"jsonrpc":"2.0","method":"dispatcher.ping_active","params":[1],"id":8}' > /dev/null
out=$(lab_rpc '{"jsonrpc":"2.0","method":"cfg.reload","id":9}')
check "cfg.reload with ds_ping_interval 0" grep -q "successfully reloaded" <<< "$out"
check "probing off: b1 shows its line's AX" test "$(state "$B1")" = AX
check "probing off: b3 shows its line's AP" test "$(state "$B3")" = AP

echo "passes=$passes failures=$failures"
[ "$failures" = 0 ]
