#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# End to end: neighbour ageing and static neighbours ([neighbours] in the settings).
# - backend 3 does not answer ARP at all; a static entry gives viaduct its MAC, so its calls work;
# - backend 1 changes its MAC mid-run (an address moving to another host); once its entry is
#   older than the 2-second timeout viaduct asks again, learns the new MAC, and calls reach it.
#   usage: neighbour_test.sh VIADUCT_BINARY
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=$(realpath "$1")

LAB_NET=${LAB_NET:-69}
LAB_METRICS_PORT=${LAB_METRICS_PORT:-9469}
source "$here/lib.sh"
lab_require sipp curl ip
lab_workdir viaduct-e2e-neigh

lab_up
lab_write_config "$work"
b3=${LAB_BACKENDS[2]}
b3_mac=$(ip -n "$b3" -o link show eth0 | grep -o 'link/ether [0-9a-f:]*' | awk '{print $2}')
# arp_ignore=8: b3 answers no ARP request (it still asks for viaduct's MAC itself).
ip netns exec "$b3" sysctl -qw net.ipv4.conf.all.arp_ignore=8 net.ipv4.conf.eth0.arp_ignore=8
cat >> "$work/viaduct.toml" <<TOML

[neighbours]
timeout = 2
static = [ { address = "${LAB_B_IPS[2]}", mac = "${b3_mac}" } ]
TOML
lab_start_uas "$work"
lab_start_viaduct "$bin" "$work"

rc=0
lab_run_uac "$work" 30 30 || rc=$?
check "30 calls complete; backend 3, which answers no ARP, is reached through its static entry (exit $rc)" \
    [ "$rc" = 0 ]
b3_calls=$(sipp_call_ids "$work/uas3.msg")
check "backend 3 got calls ($b3_calls)" [ "$b3_calls" -gt 0 ]

ip -n "${LAB_BACKENDS[0]}" link set eth0 address 02:aa:00:00:00:01
sleep 5  # past the 2 s timeout: viaduct asks again and learns the new MAC
before=$(sipp_call_ids "$work/uas1.msg")
rm -f "$work/uac.msg"
rc=0
lab_run_uac "$work" 30 30 || rc=$?
check "30 more calls complete after backend 1 changed its MAC (exit $rc)" [ "$rc" = 0 ]
after=$(sipp_call_ids "$work/uas1.msg")
check "backend 1 got calls at its new MAC ($before -> $after)" [ "$after" -gt "$before" ]
check "the log shows no expiry for the answering backend" \
    sh -c "! grep -q 'neighbour=${LAB_B_IPS[0]} expired' '$work/viaduct.log'"

if [ "$failures" != 0 ]; then
    tail -20 "$work/viaduct.log"
    exit 1
fi
echo "PASS"
