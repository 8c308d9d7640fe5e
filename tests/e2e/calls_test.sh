#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# End to end: sipp UAC -> viaduct (DPDK net_af_packet) -> three sipp UAS, in network namespaces.
# 300 INVITE/ACK/BYE calls at 30 calls/s must all complete; each backend must get 20-50% of the
# calls (Call-ID hash); viaduct's counters must agree with what the sipp peers saw; malformed
# datagrams sent first must be counted and dropped without disturbing the calls.
#   usage: calls_test.sh VIADUCT_BINARY
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=$(realpath "$1")
CALLS=${CALLS:-300}
RATE=${RATE:-30}

source "$here/lib.sh"
lab_require sipp curl ip
failures=0
passes=0
lab_workdir viaduct-e2e
lab_up
lab_write_config "$work"
lab_start_uas "$work"
lab_start_viaduct "$bin" "$work"

# Garbage first: ten datagrams that are not SIP, a request with no Via, a truncated body. Each
# must be counted as exactly one malformed_sip drop, and forwarding must go on afterwards.
ip netns exec "$LAB_C" python3 - "$LAB_LB_IP" <<'PY'
import socket, sys
lb = sys.argv[1]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
bad = [b"garbage %d \x00\xff\r\n\r\n" % i for i in range(10)]
bad.append(f"OPTIONS sip:x@{lb} SIP/2.0\r\nCall-ID: 1\r\nCSeq: 1 OPTIONS\r\n\r\n".encode())
bad.append(b"INVITE sip:x SIP/2.0\r\nVia: SIP/2.0/UDP 1.2.3.4\r\nContent-Length: 900\r\n\r\nshort")
for b in bad:
    s.sendto(b, (lb, 5060))
PY
malformed=0
for i in $(seq 1 50); do
    malformed=$(lab_metric "$(lab_metrics)" viaduct_drops_total 'reason="malformed_sip"')
    [ "$malformed" -ge 12 ] && break
    sleep 0.1
done
check "12 malformed datagrams counted as malformed_sip drops (got $malformed)" \
    test "$malformed" = 12

echo "running $CALLS calls at $RATE calls/s"
uac_rc=0
lab_run_uac "$work" "$CALLS" "$RATE" || uac_rc=$?
check "sipp UAC: every call completed (exit $uac_rc)" test "$uac_rc" = 0
sleep 1
metrics=$(lab_metrics)
echo "$metrics" > "$work/metrics.txt"

total=0
for i in 1 2 3; do
    n=$(sipp_call_ids "$work/uas$i.msg")
    eval "calls_b$i=$n"
    total=$((total + n))
    lo=$((CALLS * 20 / 100))
    hi=$((CALLS * 50 / 100))
    check "backend $i got $n calls, within 20-50% of $CALLS" test "$n" -ge "$lo" -a "$n" -le "$hi"
    reqs=$(sipp_count_received "$work/uas$i.msg" requests)
    fwd=$(lab_metric "$metrics" viaduct_dispatcher_forwarded_total "uri=\"sip:${LAB_B_IPS[$((i - 1))]}:5060\"")
    check "backend $i: viaduct forwarded $fwd requests to it, it received $reqs" test "$fwd" = "$reqs"
done
check "backends saw $total distinct calls, $CALLS were placed" test "$total" = "$CALLS"

uac_reqs=$(sipp_count_sent "$work/uac.msg" requests)
uac_replies=$(sipp_count_received "$work/uac.msg" replies)
fwd_reqs=$(lab_metric "$metrics" viaduct_sip_requests_forwarded_total)
fwd_replies=$(lab_metric "$metrics" viaduct_sip_replies_forwarded_total)
check "requests forwarded ($fwd_reqs) = requests the UAC sent ($uac_reqs)" \
    test "$fwd_reqs" = "$uac_reqs"
check "replies forwarded ($fwd_replies) = replies the UAC received ($uac_replies)" \
    test "$fwd_replies" = "$uac_replies"
selected=$(lab_metric "$metrics" viaduct_dispatcher_selected_total)
check "ds_select_dst choices ($selected) = requests forwarded ($fwd_reqs)" \
    test "$selected" = "$fwd_reqs"
rx=$(lab_metric "$metrics" viaduct_rx_packets_total)
tx=$(lab_metric "$metrics" viaduct_tx_packets_total)
check "packets received ($rx) and sent ($tx) counted" test "$rx" -gt 0 -a "$tx" -ge "$((fwd_reqs + fwd_replies))"

# A keepalive OPTIONS to viaduct itself is answered locally (sl_send_reply), not forwarded.
before=$(lab_metric "$metrics" viaduct_local_replies_total)
ip netns exec "$LAB_C" python3 - "$LAB_LB_IP" "$LAB_C_IP" > "$work/options.out" 2>&1 <<'PY' || true
import socket, sys
lb, me = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((me, 5070))
s.settimeout(3)
msg = (f"OPTIONS sip:{lb}:5060 SIP/2.0\r\nVia: SIP/2.0/UDP {me}:5070;branch=z9hG4bKk1;rport\r\n"
       f"From: <sip:probe@{me}>;tag=a\r\nTo: <sip:{lb}>\r\nCall-ID: keepalive-1\r\n"
       f"CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n")
s.sendto(msg.encode(), (lb, 5060))
data, _ = s.recvfrom(65535)
print(data.decode(errors="replace"))
PY
check "OPTIONS to viaduct answered 200 Keepalive" grep -q '^SIP/2.0 200 Keepalive' "$work/options.out"
check "the reply carries received/rport on the Via" grep -q "rport=5070" "$work/options.out"
after=$(lab_metric "$(lab_metrics)" viaduct_local_replies_total)
check "local replies counted ($before -> $after)" test "$after" -gt "$before"

echo "split: b1=$calls_b1 b2=$calls_b2 b3=$calls_b3"
if [ "${WORKERS:-1}" -gt 1 ]; then
    # The port's queues are spread over the workers (af_packet fans out by flow hash: the
    # client's flow and the backends' flows land on different queues): every worker must run,
    # and more than one must have handled packets; the totals above already add them up.
    m=$(lab_metrics)
    busy_workers=$(awk '$1 ~ /^viaduct_worker_busy_cycles_total/ && $2 > 0 { n++ } END { print n + 0 }' <<< "$m")
    loops_workers=$(awk '$1 ~ /^viaduct_worker_loops_total/ && $2 > 0 { n++ } END { print n + 0 }' <<< "$m")
    check "all ${WORKERS} workers run their loop (got $loops_workers)" test "$loops_workers" = "$WORKERS"
    check "more than one worker handled packets (got $busy_workers)" test "$busy_workers" -ge 2
fi
if ! kill -0 "$LAB_VIADUCT_PID" 2>/dev/null; then
    echo "FAIL - viaduct died"; failures=$((failures + 1))
fi
# SIGTERM stops it cleanly within a few seconds.
kill -TERM "$LAB_VIADUCT_PID"
stopped=no
for i in $(seq 1 50); do
    if ! kill -0 "$LAB_VIADUCT_PID" 2>/dev/null; then stopped=yes; break; fi
    sleep 0.1
done
check "viaduct stops within 5 s of SIGTERM" test "$stopped" = yes
wait "$LAB_VIADUCT_PID" 2>/dev/null && rc=0 || rc=$?
check "viaduct exit status 0 after SIGTERM (got $rc)" test "$rc" = 0
# DPDK's informational start-up lines stay out of the log (dp::eal_argv's log levels).
check "no DPDK TELEMETRY/USER1 info lines in viaduct's log" \
    bash -c "! grep -E '^(TELEMETRY|USER1): ' '$work/viaduct.log'"

echo "e2e: $passes passed, $failures failed"
[ "$failures" = 0 ]
