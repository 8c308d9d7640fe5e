#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# End to end: INVITEs with a ~3 KB SDP leave the sipp client in IPv4 fragments (MTU 1500);
# viaduct forwards each INVITE with its Via added and sends it on in fragments (it is above the
# 1500-byte MTU); the sipp backends' kernels reassemble them. Every call must complete, and
# viaduct's counters must show the fragments out.
#
# On the way in, the af_packet PMD's socket joins a PACKET_FANOUT group with the DEFRAG flag,
# so the kernel hands viaduct whole datagrams: the lab gives it 4 KiB frames and mbufs for
# them. viaduct's own reassembly (rte_ip_frag, what a real NIC needs) is covered by the golden
# tests (tests/golden/cases/fragment*.case), in order, out of order and incomplete.
#   usage: fragments_test.sh VIADUCT_BINARY
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=$(realpath "$1")
CALLS=${CALLS:-20}

LAB_NET=${LAB_NET:-78}
LAB_METRICS_PORT=${LAB_METRICS_PORT:-9478}
LAB_AFP_ARGS=",framesz=4096,blocksz=4096"
LAB_DPDK_EXTRA="mbuf_data_room = 4224"
source "$here/lib.sh"
lab_require sipp curl ip
failures=0
lab_workdir viaduct-e2e-frag
lab_up
lab_write_config "$work"
lab_start_uas "$work"
lab_start_viaduct "$bin" "$work"

rc=0
ip netns exec "$LAB_C" timeout 120 sipp -sf "$here/data/uac_big_sdp.xml" "${LAB_LB_IP}:5060" \
    -i "$LAB_C_IP" -p 5060 -m "$CALLS" -r 10 -nostdin -timeout 60 -timeout_error \
    -trace_stat -stf "$work/uac.csv" > "$work/uac.out" 2>&1 || rc=$?
check "sipp UAC: all $CALLS calls with a large SDP complete (exit $rc)" [ "$rc" = 0 ]

m=$(lab_metrics)
frag_out=$(lab_metric "$m" viaduct_ip_fragments_sent_total)
fwd=$(lab_metric "$m" viaduct_sip_requests_forwarded_total)
echo "requests forwarded: $fwd, fragments out: $frag_out"
check "every forwarded INVITE left in at least 3 fragments" [ "$frag_out" -ge $((CALLS * 3)) ]
# ACK and BYE are small: the fragments are the INVITEs'.
check "nothing else was fragmented" [ "$frag_out" -le $(( (fwd - 2 * CALLS) * 3 )) ]
drops=$(lab_metric "$m" viaduct_drops_total 'reason="too_big"')
check "nothing dropped as too_big" [ "$drops" = 0 ]

if [ "$failures" != 0 ]; then
    echo "viaduct log:"; tail -20 "$work/viaduct.log"
    tail -20 "$work/uac.out"
    exit 1
fi
echo "PASS"
