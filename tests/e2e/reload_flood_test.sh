#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# End to end: reloads under a flood lose nothing, and a destination without a neighbour is
# blocklisted (send error), with viaduct on net_af_packet in the namespace lab.
#   1. viaduct-gen sends COUNT INVITEs (default 100000) at RATE per second through viaduct
#      (round robin over three backends counting what they receive: viaduct-gen reflect
#      --mode sink) while the script and the dispatcher.list are reloaded every RELOAD_EVERY
#      seconds, alternately by SIGHUP and by the JSON-RPC dispatcher.reload, with a list that
#      changes each time, and once with a broken list (a failed reload changes nothing).
#      Zero loss: the backends receive every datagram the generator sent, viaduct's counters
#      agree, every reload is counted (and the failed one as a failure).
#   2. The backends answer (reflect --mode answer): replies are counted per destination and
#      class. A fourth destination on the link that answers no ARP: the forwards to it are held
#      for its MAC and fail (no_neighbour) once ARP has gone unanswered for 3 s; it is then
#      blocklisted with Kamailio's send-error reason (2), counted.
#   3. 60 reloads with 20 destinations never seen before each, then the backends again: every
#      reload applies (destination ids are given again) and the backends' per-destination
#      series count from 0; the destination without an ARP answer, now out of the list, is no
#      longer asked for.
#   usage: reload_flood_test.sh VIADUCT_BINARY VIADUCT_GEN_BINARY
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=$(realpath "$1")
gen=$(realpath "$2")
COUNT=${COUNT:-100000}
RATE=${RATE:-10000}
RELOAD_EVERY=${RELOAD_EVERY:-0.5}
MGMT_PORT=${MGMT_PORT:-5067}

export LAB_NET=${LAB_NET:-66}
export LAB_METRICS_PORT=${LAB_METRICS_PORT:-9466}
source "$here/lib.sh"
lab_require curl ip python3
failures=0
passes=0
RELOADER_PID=""
lab_cleanup_more() {
    [ -n "$RELOADER_PID" ] && kill "$RELOADER_PID" 2> /dev/null || true
}
lab_workdir viaduct-reload-flood

declare -a SINK_PID
start_backends() {  # start_backends MODE
    local i
    for i in 0 1 2; do
        ip netns exec "${LAB_BACKENDS[$i]}" "$gen" reflect --bind "${LAB_B_IPS[$i]}:5060" \
            --mode "$1" --json > "$work/$1$i.json" 2> "$work/$1$i.err" &
        SINK_PID[$i]=$!
        LAB_PIDS+=("$!")
    done
    sleep 0.3
}
stop_backends() {
    local i
    for i in 0 1 2; do
        kill -TERM "${SINK_PID[$i]}" 2> /dev/null || true
    done
    for i in 0 1 2; do
        wait "${SINK_PID[$i]}" 2> /dev/null || true
    done
}

# Two lists that differ (order and weights), and a broken one.
write_list() {  # write_list VARIANT
    local f="$work/dispatcher.list.new"
    case $1 in
        0) printf '1 sip:%s:5060 0 0 weight=10\n1 sip:%s:5060 0 0\n1 sip:%s:5060 0 0\n' \
               "${LAB_B_IPS[0]}" "${LAB_B_IPS[1]}" "${LAB_B_IPS[2]}" > "$f" ;;
        1) printf '1 sip:%s:5060 0 5\n1 sip:%s:5060 0 5 weight=20\n1 sip:%s:5060 0 5\n' \
               "${LAB_B_IPS[2]}" "${LAB_B_IPS[0]}" "${LAB_B_IPS[1]}" > "$f" ;;
        broken) printf '1 sip:%s:5060 0 0\n1 sip:no such host\n' "${LAB_B_IPS[0]}" > "$f" ;;
        extra) printf '1 sip:%s:5060\n1 sip:%s:5060\n1 sip:%s:5060\n1 sip:%s.99:5060\n' \
                   "${LAB_B_IPS[0]}" "${LAB_B_IPS[1]}" "${LAB_B_IPS[2]}" "$LAB_SUBNET" > "$f" ;;
    esac
    mv "$f" "$work/dispatcher.list"
}

lab_up
lab_write_config "$work"
sed -i 's/^#!define DS_ALG 0$/#!define DS_ALG 4/' "$work/viaduct.cfg"
sed -i 's/^children=2$/children=2\nuse_dst_blocklist=yes\ndst_blocklist_expire=60/' "$work/viaduct.cfg"
cat >> "$work/viaduct.toml" <<TOML

[management]
listen = "127.0.0.1:${MGMT_PORT}"
TOML
write_list 0
start_backends sink
lab_start_viaduct "$bin" "$work"

# ---- 1. the flood, with reloads ----
reloads0=$(lab_metric_now viaduct_config_reloads_total)
fails0=$(lab_metric_now viaduct_config_reload_failures_total)
reloader() {
    local n=0 ok=0 bad=0
    while [ ! -e "$work/flood.done" ]; do
        sleep "$RELOAD_EVERY"
        n=$((n + 1))
        if [ "$n" = 3 ]; then
            write_list broken
            bad=$((bad + 1))
        else
            write_list $((n % 2))
            ok=$((ok + 1))
        fi
        # The script changes too: a comment with the reload's number.
        sed -i "s/^# reload .*//; 1a # reload $n" "$work/viaduct.cfg"
        if [ $((n % 2)) = 0 ]; then
            kill -HUP "$LAB_VIADUCT_PID"
        else
            lab_rpc '{"jsonrpc":"2.0","method":"dispatcher.reload","id":1}' > /dev/null
        fi
        sleep 0.05  # the reload is done by the control thread within a loop turn
    done
    echo "$ok $bad" > "$work/reloads"
}
reloader &
RELOADER_PID=$!
t0=$(date +%s.%N)
rc=0
ip netns exec "$LAB_C" timeout 300 "$gen" send --target "${LAB_LB_IP}:5060" \
    --bind "${LAB_C_IP}:5060" --kind invite --size 400 --count "$COUNT" --rate "$RATE" \
    --linger 1 --json > "$work/send.json" 2> "$work/send.err" || rc=$?
t1=$(date +%s.%N)
touch "$work/flood.done"
wait "$RELOADER_PID" || true
RELOADER_PID=""
sleep 1  # the last datagrams reach the backends
stop_backends
read -r ok_reloads bad_reloads < "$work/reloads"

sent=$(lab_json_field "$work/send.json" datagrams_sent)
send_failed=$(lab_json_field "$work/send.json" send_failed)
got=0
for i in 0 1 2; do
    n=$(lab_json_field "$work/sink$i.json" received)
    echo "  backend $((i + 1)) received $n"
    got=$((got + n))
done
text=$(lab_metrics)
rx=$(lab_metric "$text" viaduct_sip_requests_received_total)
fwd=$(lab_metric "$text" viaduct_sip_requests_forwarded_total)
drops=$(lab_metric "$text" viaduct_drops_total)
reloads=$(( $(lab_metric "$text" viaduct_config_reloads_total) - reloads0 ))
rfails=$(( $(lab_metric "$text" viaduct_config_reload_failures_total) - fails0 ))
echo "  sent $sent INVITEs in $(python3 -c "print(round($t1 - $t0, 1))") s at $RATE/s" \
     "(send failures $send_failed); viaduct received $rx, forwarded $fwd, dropped $drops;" \
     "backends received $got; reloads $reloads ok + $rfails failed" \
     "(reloader: $ok_reloads + $bad_reloads)"
if [ "$got" != "$sent" ]; then
    # Where it went: dropped by viaduct (by reason), or never received (the kernel's af_packet
    # ring full: compare rx_packets with what was sent), or lost after viaduct sent it.
    echo "  loss of $((sent - got)): viaduct's drops by reason, frames in and out:"
    { grep '^viaduct_drops_total' <<< "$text" | grep -v ' 0$' || true; } | sed 's/^/    /'
    { grep -E '^viaduct_(rx|tx)_packets_total' <<< "$text" || true; } | sed 's/^/    /'
fi
check "generator exit 0 (rc=$rc)" test "$rc" = 0
check "generator sent all $COUNT" test "$sent" = "$COUNT" -a "$send_failed" = 0
check "viaduct received every INVITE ($rx of $sent)" test "$rx" = "$sent"
check "viaduct forwarded every INVITE ($fwd of $sent)" test "$fwd" = "$sent"
check "zero loss: the backends received every INVITE ($got of $sent)" test "$got" = "$sent"
check "several reloads during the flood ($ok_reloads ok + $bad_reloads broken)" \
    test "$ok_reloads" -ge 4 -a "$bad_reloads" = 1
check "every good reload counted ($reloads)" test "$reloads" = "$ok_reloads"
check "the broken one counted as a failure ($rfails)" test "$rfails" = 1
per_backend_ok=1
for ip in "${LAB_B_IPS[@]}"; do
    f=$(lab_metric "$text" viaduct_dispatcher_forwarded_total "sip:${ip}:5060")
    [ "$f" -gt $(( sent / 6 )) ] || per_backend_ok=0
done
check "round robin spread the flood over the three backends" test "$per_backend_ok" = 1

# ---- 2. replies by class; a destination without a neighbour gets blocklisted ----
start_backends answer
write_list extra
lab_rpc '{"jsonrpc":"2.0","method":"dispatcher.reload","id":2}' > /dev/null
sleep 0.3
rc=0
ip netns exec "$LAB_C" timeout 60 "$gen" send --target "${LAB_LB_IP}:5060" \
    --bind "${LAB_C_IP}:5060" --kind invite --size 400 --count 120 --rate 24 \
    --linger 1 --json > "$work/send2.json" 2> "$work/send2.err" || rc=$?
stop_backends
text=$(lab_metrics)
B1="sip:${LAB_B_IPS[0]}:5060"
DEAD="${LAB_SUBNET}.99"
check "replies counted per destination: 1xx from b1" \
    test "$(lab_metric "$text" viaduct_dispatcher_replies_total "uri=\"$B1\",class=\"1xx\"")" -ge 10
check "replies counted per destination: 2xx from b1" \
    test "$(lab_metric "$text" viaduct_dispatcher_replies_total "uri=\"$B1\",class=\"2xx\"")" -ge 5
check "no reply counted for the dead destination" \
    test "$(lab_metric "$text" viaduct_dispatcher_replies_total "sip:${DEAD}:5060")" = 0
flags=$(lab_rpc '{"jsonrpc":"2.0","method":"dst_blocklist.view","id":3}' | python3 -c '
import json, sys
r = json.loads(sys.stdin.read())["result"]
for e in (r if isinstance(r, list) else []):
    if e["ip"] == sys.argv[1] and e["port"] == 5060:
        print(e["flags"])' "$DEAD")
check "the destination without ARP answer is blocklisted as a send error (flags=$flags)" \
    test -n "$flags" -a $(( ${flags:-0} & 2 )) = 2
check "send failures counted ($(lab_metric "$text" viaduct_dispatcher_send_failures_total))" \
    test "$(lab_metric "$text" viaduct_dispatcher_send_failures_total)" -ge 2
check "blocklist additions for send failures counted" \
    test "$(lab_metric "$text" viaduct_dst_blocklist_send_failures_total)" -ge 1
check "forwards to it were refused once blocked (blocklisted drops)" \
    test "$(lab_metric "$text" viaduct_drops_total 'reason="blocklisted"')" -ge 1
for ip in "${LAB_B_IPS[@]}"; do
    check "backend $ip not blocklisted" test -z "$(lab_rpc '{"jsonrpc":"2.0","method":"dst_blocklist.view","id":4}' | grep -o "\"$ip\"" || true)"
done

# ---- 3. destinations come and go: their ids are given again ----
# 60 lists of 20 destinations never seen before (1,200; the workers count per destination in
# 1,023 slots), then the three backends again: every reload applies, and the backends'
# series count from 0, not from what they or the ids' other destinations counted before.
churn_failed=0
for r in $(seq 1 60); do
    for i in $(seq 1 20); do
        echo "1 sip:10.${LAB_NET}.${r}.${i}:5060"
    done > "$work/dispatcher.list"
    reply=$(lab_rpc '{"jsonrpc":"2.0","method":"dispatcher.reload","id":5}')
    if ! grep -q '"result"' <<< "$reply"; then
        churn_failed=$((churn_failed + 1))
        [ "$churn_failed" = 1 ] && echo "  reload $r: $reply"
    fi
done
check "60 reloads of 20 new destinations each all applied ($churn_failed failed)" \
    test "$churn_failed" = 0
write_list 0
lab_rpc '{"jsonrpc":"2.0","method":"dispatcher.reload","id":6}' > /dev/null
sleep 0.3
start_backends sink
ip netns exec "$LAB_C" timeout 60 "$gen" send --target "${LAB_LB_IP}:5060" \
    --bind "${LAB_C_IP}:5060" --kind invite --size 400 --count 30 --rate 100 \
    --linger 1 --json > "$work/send3.json" 2> "$work/send3.err" || true
sleep 0.3
stop_backends
got=0
for i in 0 1 2; do
    got=$((got + $(lab_json_field "$work/sink$i.json" received)))
done
text=$(lab_metrics)
counted=0
for ip in "${LAB_B_IPS[@]}"; do
    counted=$((counted + $(lab_metric "$text" viaduct_dispatcher_forwarded_total "sip:${ip}:5060")))
done
check "the backends got the 30 INVITEs sent after the churn ($got)" test "$got" = 30
check "their forwarded series start from 0 again: 30 counted ($counted)" test "$counted" = 30
# The destination without ARP answer left the list with the churn: viaduct no longer asks for
# it (it used to, once a second, for the life of the process). ARP requests for it seen on
# the link in 3 s, by a packet socket in b1's namespace:
asks=$(ip netns exec "${LAB_BACKENDS[0]}" timeout 10 python3 -c '
import socket, sys, time
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.ntohs(0x0806))
s.settimeout(0.2)
target, end, n = socket.inet_aton(sys.argv[1]), time.time() + 3, 0
while time.time() < end:
    try:
        f = s.recv(2048)
    except socket.timeout:
        continue
    if len(f) >= 42 and f[20:22] == b"\x00\x01" and f[38:42] == target:
        n += 1
print(n)' "$DEAD" 2>&1 || true)
check "no more ARP requests for the removed destination without an answer ($asks in 3 s)" \
    test "$asks" = 0

echo "passes=$passes failures=$failures"
[ "$failures" = 0 ]
