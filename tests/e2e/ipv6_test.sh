#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# End to end over IPv6: viaduct owns 2001:db8:<net>::2 (and 10.<net>.0.2) on net_af_packet,
# answers Neighbor Solicitations and pings to it, learns the backends' MACs by Neighbor
# Discovery, and forwards calls between sipp peers over IPv6 (UAC and UAS both IPv6), then from
# an IPv4 UAC to the same IPv6 backends (dual stack: IPv4 in, IPv6 out, replies back to IPv4).
# With use_dst_blocklist, the probed IPv6 destination that does not answer (nothing listens on
# its port: its kernel sends ICMPv6 port unreachable, and its probes time out) is blocklisted
# (dst_blocklist.view through the management RPC).
#   usage: ipv6_test.sh VIADUCT_BINARY
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=$(realpath "$1")
CALLS=${CALLS:-40}
RATE=${RATE:-20}

LAB_NET=${LAB_NET:-80}
LAB_METRICS_PORT=${LAB_METRICS_PORT:-9480}
MGMT_PORT=${MGMT_PORT:-5180}
source "$here/lib.sh"
lab_require sipp curl ip python3
P6="2001:db8:${LAB_NET}:"
LB6="${P6}:2"
C6="${P6}:10"
B6=("${P6}:11" "${P6}:12" "${P6}:13")

lab_workdir viaduct-e2e-v6
lab_up

# lib.sh turns IPv6 off in every namespace; the peers get it back, with addresses that skip
# duplicate address detection (nodad). viaduct's namespace keeps it off: there the kernel must
# not answer Neighbor Solicitations for the port DPDK owns.
v6_host() {
    local ns=$1 addr=$2
    ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=0
    ip netns exec "$ns" sysctl -qw net.ipv6.conf.default.disable_ipv6=0
    ip netns exec "$ns" sysctl -qw net.ipv6.conf.eth0.disable_ipv6=0
    ip -n "$ns" addr add "$addr/64" dev eth0 nodad
}
v6_host "$LAB_C" "$C6"
for i in 0 1 2; do
    v6_host "${LAB_BACKENDS[$i]}" "${B6[$i]}"
done

lab_write_config "$work"
# Dual-stack listen, IPv6 backends; the same script Kamailio would run.
cat > "$work/viaduct.cfg" <<CFG
#!KAMAILIO
listen=udp:${LAB_LB_IP}:5060
listen=udp:[${LB6}]:5060
use_dst_blocklist=yes
dst_blocklist_expire=60
loadmodule "sl.so"
loadmodule "maxfwd.so"
loadmodule "textops.so"
loadmodule "dispatcher.so"
modparam("dispatcher", "list_file", "dispatcher.list")
modparam("dispatcher", "ds_ping_interval", 1)
modparam("dispatcher", "ds_probing_mode", 0)

request_route {
    if (!mf_process_maxfwd_header("10")) {
        sl_send_reply("483", "Too Many Hops");
        exit;
    }
    if (!ds_select_dst("1", "0")) {
        sl_send_reply("503", "Service Unavailable");
        exit;
    }
    forward();
    exit;
}
CFG
{
    echo "# setid destination flags priority attributes"
    for ip in "${B6[@]}"; do
        echo "1 sip:[${ip}]:5060 0 0"
    done
    # Probed (flag 8) and not used by the script: one answers OPTIONS, one is not there.
    echo "2 sip:[${B6[0]}]:5070 8 0"
    echo "2 sip:[${B6[1]}]:5071 8 0"
} > "$work/dispatcher.list"
sed -i "s|^address = .*|&\naddress6 = \"${LB6}/64\"|" "$work/viaduct.toml"
grep -q address6 "$work/viaduct.toml"
printf '\n[management]\nlisten = "127.0.0.1:%s"\n' "$MGMT_PORT" >> "$work/viaduct.toml"

for i in 0 1 2; do
    ip netns exec "${LAB_BACKENDS[$i]}" sipp -sn uas -i "${B6[$i]}" -p 5060 \
        -nostdin -trace_msg -message_file "$work/uas$((i + 1)).msg" \
        > "$work/uas$((i + 1)).out" 2>&1 &
    LAB_PIDS+=("$!")
done
# The OPTIONS answerer on b1 port 5070 (sipp's uas scenario does not answer OPTIONS).
ip netns exec "${LAB_BACKENDS[0]}" python3 - "${B6[0]}" > "$work/options.out" 2>&1 <<'PY' &
import socket, sys
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.bind((sys.argv[1], 5070))
while True:
    data, peer = s.recvfrom(65535)
    lines = data.decode(errors="replace").split("\r\n")
    if not lines[0].startswith("OPTIONS "):
        continue
    keep = [l for l in lines[1:] if l.split(":", 1)[0].lower() in ("via", "from", "to", "call-id", "cseq")]
    s.sendto(("SIP/2.0 200 OK\r\n" + "\r\n".join(keep) + "\r\nContent-Length: 0\r\n\r\n").encode(), peer)
    print("answered", peer[0], flush=True)
PY
LAB_PIDS+=("$!")
lab_start_viaduct "$bin" "$work"

# ping6 (ICMPv6 echo over a raw socket: iputils may not be installed): the client's kernel
# solicits our MAC (viaduct answers the NS), then viaduct answers the echo requests.
ping_ok=0
ip netns exec "$LAB_C" python3 - "$LB6" > "$work/ping6.out" 2>&1 <<'PY' || ping_ok=$?
import os, socket, struct, sys, time
s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
s.settimeout(2)
ident = os.getpid() & 0xffff
got = 0
for seq in range(1, 4):
    data = b"viaduct-ping6-%d" % seq
    # The kernel fills in the ICMPv6 checksum of a raw ICMPv6 socket.
    s.sendto(struct.pack("!BBHHH", 128, 0, 0, ident, seq) + data, (sys.argv[1], 0))
    deadline = time.time() + 2
    while time.time() < deadline:
        try:
            pkt, addr = s.recvfrom(2048)
        except socket.timeout:
            break
        t, code, _, rid, rseq = struct.unpack("!BBHHH", pkt[:8])
        if t == 129 and rid == ident and rseq == seq and pkt[8:] == data:
            print("reply from %s seq %d" % (addr[0], seq))
            got += 1
            break
    time.sleep(0.2)
sys.exit(0 if got == 3 else 1)
PY
check "ping6 $LB6: 3 echo replies from viaduct (exit $ping_ok)" test "$ping_ok" = 0
check "the client learned viaduct's MAC by Neighbor Discovery" \
    sh -c "ip -n '$LAB_C' -6 neigh show '$LB6' | grep -q lladdr"

# Calls over IPv6 only.
uac6_rc=0
ip netns exec "$LAB_C" timeout 120 sipp -sn uac "[${LB6}]:5060" -i "$C6" -p 5060 \
    -m "$CALLS" -r "$RATE" -nostdin -timeout 60 -timeout_error \
    -trace_msg -message_file "$work/uac6.msg" > "$work/uac6.out" 2>&1 || uac6_rc=$?
check "IPv6 sipp UAC -> viaduct -> IPv6 sipp UAS: $CALLS calls completed (exit $uac6_rc)" \
    test "$uac6_rc" = 0

# Dual stack: an IPv4 UAC, the same IPv6 backends.
uac4_rc=0
ip netns exec "$LAB_C" timeout 120 sipp -sn uac "${LAB_LB_IP}:5060" -i "$LAB_C_IP" -p 5062 \
    -m "$CALLS" -r "$RATE" -nostdin -timeout 60 -timeout_error \
    -trace_msg -message_file "$work/uac4.msg" > "$work/uac4.out" 2>&1 || uac4_rc=$?
check "IPv4 sipp UAC -> viaduct -> IPv6 sipp UAS: $CALLS calls completed (exit $uac4_rc)" \
    test "$uac4_rc" = 0

sleep 0.5
metrics=$(lab_metrics)
echo "$metrics" > "$work/metrics.txt"
total=0
for i in 1 2 3; do
    n=$(sipp_call_ids "$work/uas$i.msg")
    total=$((total + n))
done
check "the IPv6 backends saw $total distinct calls, $((2 * CALLS)) were placed" \
    test "$total" = "$((2 * CALLS))"
all_uas=$(cat "$work"/uas*.msg)
check "requests reach the backends with our IPv6 Via on top" \
    grep -q "^Via: SIP/2.0/UDP \[${LB6}\];branch=z9hG4bK" <<< "$all_uas"
check "the IPv4 client's Via is kept under ours (IPv4 in, IPv6 out)" \
    grep -q "^Via: SIP/2.0/UDP ${LAB_C_IP}:5062" <<< "$all_uas"
check "the IPv6 client's Via is kept under ours" \
    grep -q "^Via: SIP/2.0/UDP \[${C6}\]:5060" <<< "$all_uas"
fwd=$(lab_metric "$metrics" viaduct_sip_requests_forwarded_total)
check "viaduct forwarded requests ($fwd; 3 per call)" test "$fwd" -ge "$((6 * CALLS))"
probes=$(lab_metric "$metrics" viaduct_dispatcher_probe_replies_total)
# Mode 0: a destination is probed while in probing state; its first 200 makes it active (A),
# and probes stop.
check "an OPTIONS probe over IPv6 was answered and matched ($probes replies)" \
    test "$probes" -ge 1 -a "$(grep -c answered "$work/options.out")" -ge 1
check "the IPv6 destination that does not answer goes down on probe timeouts" \
    grep -q "dispatcher probe set=2 uri=sip:\[${B6[1]}\]:5071 timed out" "$work/viaduct.log"
check "the answering IPv6 destination stays up, set 1 is not probed (mode 0)" \
    test "$(grep 'timed out' "$work/viaduct.log" | grep -vc ':5071 timed out')" = 0
n6=$(grep -o 'neighbours6=[0-9]*' "$work/viaduct.log" | tail -1 | cut -d= -f2)
check "control learned the IPv6 neighbours by ND (neighbours6=${n6:-none}, want >= 3)" \
    test "${n6:-0}" -ge 3
nn=$(lab_metric "$metrics" viaduct_drops_total 'reason="no_neighbour"')
echo "no_neighbour drops (held frames whose next hop ND did not resolve in 3 s): $nn"
check "no malformed or bad IPv6 drops" \
    test "$(lab_metric "$metrics" viaduct_drops_total 'reason="bad_ipv6"')" = 0 -a \
    "$(lab_metric "$metrics" viaduct_drops_total 'reason="malformed_sip"')" = 0

# The blocklist with IPv6 entries: IP:PORT's flags in dst_blocklist.view ("" when absent).
blocked() {
    ip netns exec "$LAB_LB" curl -s --max-time 10 -H 'Content-Type: application/json' \
        -d '{"jsonrpc":"2.0","method":"dst_blocklist.view","id":1}' \
        "http://127.0.0.1:${MGMT_PORT}/RPC" | python3 -c '
import json, sys
r = json.loads(sys.stdin.read())["result"]
for e in (r if isinstance(r, list) else []):
    if e["ip"] == sys.argv[1] and e["port"] == int(sys.argv[2]) and e["protocol"] == "udp":
        print(e["flags"])' "$1" "$2"
}
f=$(blocked "${B6[1]}" 5071)
echo "dst_blocklist.view flags of [${B6[1]}]:5071: ${f:-none}"
# Kamailio's flags: 1 an IPv6 entry (BLST_IS_IPV6), 16 a probe timeout, 8 an ICMP error.
check "the silent IPv6 destination is in dst_blocklist.view, unbracketed, flags IPv6 + timeout" \
    test -n "$f" -a "$(( ${f:-0} & 17 ))" = 17
check "...and with the ICMPv6 port unreachable its kernel sent (flag 8)" \
    test "$(( ${f:-0} & 8 ))" = 8
check "the answering IPv6 destination and set 1 are not blocklisted" \
    test -z "$(blocked "${B6[0]}" 5070)$(blocked "${B6[0]}" 5060)$(blocked "${B6[1]}" 5060)"
check "viaduct_dst_blocklist_entries counts it" \
    test "$(lab_metric "$(lab_metrics)" viaduct_dst_blocklist_entries)" -ge 1
check "the log names the IPv6 entry" \
    grep -q "blocklist add udp:\[${B6[1]}\]:5071 reason=" "$work/viaduct.log"

echo "$passes passed, $failures failed"
[ "$failures" = 0 ]
