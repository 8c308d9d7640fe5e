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

if [ "$(id -u)" != 0 ]; then
    echo "SKIP: needs root for network namespaces"
    exit 77
fi
for tool in sipp curl ip python3 prometheus promtool; do
    command -v "$tool" > /dev/null || { echo "FAIL: $tool is not installed"; exit 1; }
done

LAB_NET=${LAB_NET:-70}
LAB_METRICS_PORT=${LAB_METRICS_PORT:-9470}
PROM_PORT=${PROM_PORT:-9471}
source "$here/lib.sh"
work=$(mktemp -d /tmp/viaduct-e2e-prom.XXXXXX)
cleanup() {
    lab_down
    if [ "$failures" = 0 ]; then rm -rf "$work"; else echo "logs kept in $work"; fi
}
trap cleanup EXIT

lab_up
lab_write_config "$work"
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

lab_metrics > "$work/metrics.txt"
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
