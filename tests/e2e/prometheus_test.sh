#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# End to end: a real Prometheus server scrapes viaduct's /metrics while sipp calls go through
# it. promtool must accept the exposition, the scrape target must be up, and the counters
# Prometheus stored must equal what the endpoint serves once the calls are over.
#   usage: prometheus_test.sh VIADUCT_BINARY
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=$(realpath "$1")
CALLS=${CALLS:-60}

LAB_NET=${LAB_NET:-70}
LAB_METRICS_PORT=${LAB_METRICS_PORT:-9470}
PROM_PORT=${PROM_PORT:-9471}
source "$here/lib.sh"
lab_require sipp curl ip python3 prometheus promtool
lab_workdir viaduct-e2e-prom

lab_up
lab_write_config "$work"
# A User-Agent blocklist, as front ends have: its lookups are counted in
# viaduct_script_regex_lookups_total (sipp sends no User-Agent: nothing to look up for calls).
sed -i 's|^request_route {$|request_route {\n    if ($ua =~ "friendly-scanner\|sipvicious") {\n        sl_send_reply("403", "Forbidden");\n        exit;\n    }|' "$work/viaduct.cfg"
grep -q 'friendly-scanner' "$work/viaduct.cfg" || { echo "FAIL: could not add the regex"; exit 1; }
lab_start_uas "$work"
lab_start_viaduct "$bin" "$work"

cat > "$work/prometheus.yml" <<YML
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: viaduct
    static_configs:
      - targets: ["127.0.0.1:${LAB_METRICS_PORT}"]
YML
check "promtool accepts the scrape configuration" promtool check config "$work/prometheus.yml"
ip netns exec "$LAB_LB" timeout 120 prometheus --config.file="$work/prometheus.yml" \
    --storage.tsdb.path="$work/tsdb" --web.listen-address="127.0.0.1:${PROM_PORT}" \
    > "$work/prometheus.log" 2>&1 &
LAB_PIDS+=("$!")

rc=0
lab_run_uac "$work" "$CALLS" 30 || rc=$?
check "sipp UAC: all $CALLS calls complete (exit $rc)" [ "$rc" = 0 ]

# Six OPTIONS to us from one socket (one flow: one worker), five with one User-Agent and one
# from a scanner: the first User-Agent is scanned, its repeats answered from the worker's regex
# memo (a republished snapshot in between makes it scan again: hence the bounds below).
replies=$(ip netns exec "$LAB_C" python3 - "$LAB_C_IP" "$LAB_LB_IP" <<'PY'
import socket, sys
c, lb = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((c, 5071))
s.settimeout(2)
out = []
for i, ua in enumerate(["lab-phone/1.0"] * 5 + ["friendly-scanner"]):
    m = (f"OPTIONS sip:{lb}:5060 SIP/2.0\r\nVia: SIP/2.0/UDP {c}:5071;branch=z9hG4bK-ua{i}\r\n"
         f"From: <sip:probe@{c}>;tag=u{i}\r\nTo: <sip:{lb}>\r\nCall-ID: ua{i}@{c}\r\n"
         f"CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nUser-Agent: {ua}\r\nContent-Length: 0\r\n\r\n")
    s.sendto(m.encode(), (lb, 5060))
    try:
        out.append(s.recv(4096).split(b"\r\n", 1)[0].decode().split(" ", 2)[1])
    except socket.timeout:
        out.append("none")
print(" ".join(out))
PY
)
check "OPTIONS answered 200 x5, the scanner 403 ($replies)" [ "$replies" = "200 200 200 200 200 403" ]
lab_metrics > "$work/metrics.txt"
rx_hit=$(lab_metric "$(cat "$work/metrics.txt")" viaduct_script_regex_lookups_total 'result="hit"')
rx_scan=$(lab_metric "$(cat "$work/metrics.txt")" viaduct_script_regex_lookups_total 'result="scan"')
check "regex lookups: six, repeats from the memo (hit $rx_hit, scan $rx_scan)" \
    test $((rx_hit + rx_scan)) = 6 -a "$rx_hit" -ge 1 -a "$rx_scan" -ge 2
check "promtool accepts viaduct's exposition (lint)" sh -c "promtool check metrics < '$work/metrics.txt'"
want=$(lab_metric "$(cat "$work/metrics.txt")" viaduct_sip_requests_forwarded_total)

# Prometheus query API from inside the namespace; bounded wait for a scrape after the calls.
query() {
    ip netns exec "$LAB_LB" curl -sf --max-time 2 \
        "http://127.0.0.1:${PROM_PORT}/api/v1/query" --data-urlencode "query=$1" |
        python3 -c 'import json,sys
r = json.load(sys.stdin)["data"]["result"]
print(int(float(r[0]["value"][1])) if r else -1)' 2>/dev/null || echo -1
}
got=-1
up=-1
for _ in $(seq 1 40); do
    up=$(query 'up{job="viaduct"}')
    got=$(query 'sum(viaduct_sip_requests_forwarded_total)')
    [ "$up" = 1 ] && [ "$got" = "$want" ] && break
    sleep 0.5
done
check "Prometheus scrapes viaduct (up = $up)" [ "$up" = 1 ]
check "Prometheus stored the forwarded requests the endpoint serves ($got = $want)" \
    [ "$got" = "$want" ]
check "the calls were counted (3 requests per call: $want)" [ "$want" -ge $((CALLS * 3)) ]

if [ "$failures" != 0 ]; then
    tail -20 "$work/prometheus.log"
    exit 1
fi
echo "PASS"
