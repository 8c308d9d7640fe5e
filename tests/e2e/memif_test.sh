#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# End to end with no kernel on viaduct's path: viaduct's port is a DPDK net_memif vdev
# (role=server), and viaduct-memif-peer (perf/memif_peer.cpp, role=client) sends INVITEs into it
# and receives what viaduct forwards to the three backends (static MACs). Both run with
# --no-huge; no NIC. The peer checks every forwarded frame (IPv4 and UDP checksums, addresses
# and MACs, our Via on top of the generator's, Max-Forwards 69, a Call-ID it sent, not seen
# before); this test asserts every INVITE came back once, spread over the backends, each to
# the backend the dispatcher's own selection code (viaduct-tool ds-select) names for its
# Call-ID, and that viaduct's counters agree. Twice: copy (viaduct role=server, copying frames
# in and out of the shared memory) and zero-copy (viaduct role=client,zero-copy=yes, sharing its
# mbuf memory: the peer, role=server, writes into and reads from viaduct's mbufs).
#   usage: memif_test.sh VIADUCT VIADUCT_MEMIF_PEER VIADUCT_TOOL [copy|zero-copy]...
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=$(realpath "$1")
peer=$(realpath "$2")
tool=$(realpath "$3")
shift 3
modes=("$@")
[ ${#modes[@]} = 0 ] && modes=(copy zero-copy)
COUNT=${COUNT:-3000}
RATE=${RATE:-5000}
LAB_NET=${LAB_NET:-84}
LAB_METRICS_PORT=${LAB_METRICS_PORT:-9484}

source "$here/lib.sh"
lab_require curl ip python3
failures=0
passes=0
lab_workdir viaduct-e2e-memif
# Only the load balancer's namespace (its own loopback for /metrics); the memif link is a unix
# socket and shared memory, no veth.
ip netns add "$LAB_LB"
ip -n "$LAB_LB" link set lo up
lab_write_config "$work"

run_mode() {
local mode=$1
echo "== memif, $mode"
rm -f "$work/memif.sock" "$work/peer.json" "$work/record.txt"
lab_write_memif_settings "$work" "$work/memif.sock" "$mode"
# shellcheck disable=SC2207
local peer_args=(--socket "$work/memif.sock" --src "${LAB_C_IP}:5060" --target "${LAB_LB_IP}:5060"
                 --lb-mac "$LAB_MEMIF_LB_MAC" $(lab_memif_peer_backends) --count "$COUNT"
                 --rate "$RATE" --size 900 --duration 60 --linger 2 --record "$work/record.txt"
                 --lcore 0 --json)
if [ "$mode" = zero-copy ]; then
    check "viaduct's vdev is a zero-copy client" grep -q 'role=client,zero-copy=yes' \
        "$work/viaduct.toml"
fi
lab_run_memif_peer "$mode" "$bin" "$work" "$work/peer.json" "$work/peer.err" true \
    timeout 120 "$peer" "${peer_args[@]}" || true
cat "$work/peer.json"
field() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" \
    "$work/peer.json" "$1" 2>/dev/null || echo missing; }
check "the peer ran and printed its counters" test "$(field sent)" != missing
check "the peer sent all $COUNT INVITEs ($(field sent))" test "$(field sent)" = "$COUNT"
check "every INVITE forwarded once: $(field unique) distinct of $COUNT" \
    test "$(field unique)" = "$COUNT"
check "frames received ($(field received)) = INVITEs sent" test "$(field received)" = "$COUNT"
for f in duplicates unknown_call_id bad_ip_checksum bad_udp_checksum no_udp_checksum \
         bad_addressing bad_sip bad_via bad_max_forwards; do
    check "no forwarded frame with $f ($(field "$f"))" test "$(field "$f")" = 0
done
for i in 0 1 2; do
    n=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['per_backend'][sys.argv[2]])" \
        "$work/peer.json" "${LAB_B_IPS[$i]}" 2>/dev/null || echo 0)
    check "backend ${LAB_B_IPS[$i]} got $n, within 20-50% of $COUNT" \
        test "$n" -ge "$((COUNT * 20 / 100))" -a "$n" -le "$((COUNT * 50 / 100))"
done

# Each Call-ID went where the dispatcher's selection (set 1, algorithm 0: hash over the
# Call-ID) sends it.
cut -d' ' -f1 "$work/record.txt" > "$work/callids.txt"
"$tool" ds-select --list "$work/dispatcher.list" --set 1 --alg 0 < "$work/callids.txt" \
    > "$work/expected.txt"
mismatch=$(paste -d' ' "$work/record.txt" "$work/expected.txt" |
    awk '{ if ("sip:" $2 ":5060" != $3) n++ } END { print n + 0 }')
lines=$(wc -l < "$work/expected.txt")
check "ds-select answered for every Call-ID ($lines)" test "$lines" = "$COUNT"
check "every INVITE went to the backend its Call-ID hashes to ($mismatch differ)" \
    test "$mismatch" = 0

metrics=$(lab_metrics)
echo "$metrics" > "$work/metrics-$mode.txt"  # one file per mode: kept with the logs on failure
fwd=$(lab_metric "$metrics" viaduct_sip_requests_forwarded_total)
check "viaduct counted $fwd requests forwarded, $COUNT sent" test "$fwd" = "$COUNT"
drops=$(lab_metric "$metrics" viaduct_drops_total)
# The reasons, named in the line. A single tx_full in copy mode (CI, 2026-11-23: 1 of 3000)
# was the peer sending before its first RX, which is what gives viaduct's TX ring its free
# slots (perf/memif_peer.cpp, run()); reproduced under CPU load, fixed in the peer.
reasons=$(awk '$1 ~ /^viaduct_drops_total\{/ && $2 != 0 { printf "%s%s %s", sep, $1, $2; sep = ", " }' \
    <<< "$metrics")
check "viaduct dropped nothing ($drops${reasons:+: $reasons})" test "$drops" = 0
busy=$(echo "$metrics" | awk '$1 ~ /^viaduct_worker_busy_seconds_total/ { s += $2 } END { print s + 0 }')
check "the worker's busy time is counted ($busy s)" python3 -c "import sys; sys.exit(not $busy > 0)"
check "the worker's RX stalls are exported" grep -q '^viaduct_worker_rx_stalls_total{worker="0"} ' \
    <<< "$metrics"
kill "$LAB_VIADUCT_PID" 2>/dev/null || true
wait "$LAB_VIADUCT_PID" 2>/dev/null || true
lab_stop_memif_peer "$work" || true
}

for m in "${modes[@]}"; do
    run_mode "$m"
done

if [ "$failures" != 0 ]; then
    echo "--- viaduct log"; tail -20 "$work/viaduct.log"
    echo "--- peer stderr"; tail -20 "$work/peer.err"
fi
echo "$passes passed, $failures failed"
[ "$failures" = 0 ]
