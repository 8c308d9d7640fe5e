#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# tools/demo.sh: the quick-start demo. Installs and builds (tools/bootstrap.sh), builds a lab
# of network namespaces, runs viaduct on DPDK net_af_packet in front of three sipp UAS
# backends, places about 15 s of calls from a sipp UAC, prints the split per backend and an
# excerpt of /metrics, and removes the lab. Run as root.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
if [ "$(id -u)" != 0 ]; then
    echo "demo: run as root (network namespaces, DPDK, apt-get)" >&2
    exit 1
fi
tools/bootstrap.sh

LAB_NET=${LAB_NET:-78}
source "$root/tests/e2e/lib.sh"
lab_workdir viaduct-demo

lab_up
lab_write_config "$work"
echo
echo "== routing script ($work/viaduct.cfg), the same one Kamailio would run:"
sed -n '/^request_route/,$p' "$work/viaduct.cfg"
echo "== dispatcher.list:"
cat "$work/dispatcher.list"
lab_start_uas "$work"
lab_start_viaduct "$root/build/tools/viaduct" "$work"
echo
echo "== 450 calls at 30 calls/s from sipp ($LAB_C_IP) through viaduct ($LAB_LB_IP)"
rc=0
lab_run_uac "$work" 450 30 || rc=$?
sleep 1
metrics=$(lab_metrics)
echo
echo "== sipp UAC exit status $rc (0: every call completed)"
echo "== split per backend (distinct calls seen by each sipp UAS; requests viaduct forwarded):"
for i in 1 2 3; do
    ip=${LAB_B_IPS[$((i - 1))]}
    calls=$(sipp_call_ids "$work/uas$i.msg")
    fwd=$(lab_metric "$metrics" viaduct_dispatcher_forwarded_total "uri=\"sip:$ip:5060\"")
    printf '   backend %d  %-12s calls=%-4d requests=%d\n' "$i" "$ip" "$calls" "$fwd"
done
echo
echo "== /metrics excerpt:"
grep -E '^viaduct_(rx_packets|tx_packets|sip_requests_forwarded|sip_replies_forwarded|local_replies|dispatcher_selected|snapshot_generation|workers)' <<< "$metrics"
grep -E '^viaduct_drops_total' <<< "$metrics" | awk '$2 != 0'
echo
kill -TERM "$LAB_VIADUCT_PID"
wait "$LAB_VIADUCT_PID" || true
echo "== viaduct log:"
cat "$work/viaduct.log"
exit $rc
