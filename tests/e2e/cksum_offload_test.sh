#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# End to end: UDP/IPv4 checksum offload on a port that has it. viaduct runs on a net_tap port
# (DPDK's TAP PMD offers IPv4 and UDP checksum offload on TX and computes them itself, as a NIC
# would); the TAP is bridged with the load balancer's veth, so frames leave on the lab's wire.
# viaduct must say it uses offload, and what it sends must arrive with valid, non-zero IPv4 and
# UDP checksums: a local reply (OPTIONS -> 200), a forwarded INVITE, and a fragmented INVITE
# (above the MTU: software UDP checksum, since a NIC sums frames, not datagrams). The receivers'
# kernels drop a datagram with a bad checksum, and a raw capture checks the fields themselves
# (0, "no checksum", would pass the kernel).
#   usage: cksum_offload_test.sh VIADUCT_BINARY
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=$(realpath "$1")

if [ ! -e /dev/net/tun ]; then
    echo "SKIP: no /dev/net/tun"
    exit 77
fi

LAB_NET=${LAB_NET:-72}
LAB_METRICS_PORT=${LAB_METRICS_PORT:-9472}
source "$here/lib.sh"
lab_require curl ip python3
failures=0
lab_workdir viaduct-e2e-cko
lab_up
lab_write_config "$work"
tap="${LAB_PFX}t"
sed -i -e "s|--vdev=net_af_packet0,iface=eth0|--vdev=net_tap0,iface=${tap}|" \
    -e 's|^port = "net_af_packet0"|port = "net_tap0"|' "$work/viaduct.toml"
cat >> "$work/viaduct.toml" <<TOML

[management]
listen = "127.0.0.1:9572"
TOML
lab_start_viaduct "$bin" "$work"
# The TAP's kernel side and eth0 in one bridge: the load balancer's namespace is a wire. The
# kernel side starts with the PMD's MAC: a bridge keeps frames to its ports' own MACs, so it
# gets another one.
ip -n "$LAB_LB" link set "$tap" address 02:00:00:00:72:fe
ip -n "$LAB_LB" link add "${LAB_PFX}br" type bridge
ip -n "$LAB_LB" link set eth0 master "${LAB_PFX}br"
ip -n "$LAB_LB" link set "$tap" master "${LAB_PFX}br"
ip -n "$LAB_LB" link set "$tap" up
ip -n "$LAB_LB" link set "${LAB_PFX}br" up

check "net_tap offers checksum offload and viaduct uses it, said at start-up" \
    grep -q "port=net_tap0 .*checksums=offload" "$work/viaduct.log"
stats=$(ip netns exec "$LAB_LB" curl -sf --max-time 5 http://127.0.0.1:9572/RPC -d \
    '{"jsonrpc": "2.0", "method": "stats.get_statistics", "params": ["net:"], "id": 1}' || true)
check "the management API shows the offload (stats net:tx_cksum_offload.net_tap0 = 1)" \
    grep -q '"net:tx_cksum_offload.net_tap0 = 1"' <<< "$stats"
# net_tap also checks received IPv4 and UDP checksums (RX offload): viaduct takes its verdicts
# (mbuf flags) instead of summing; the datagrams below come in that way.
check "net_tap checks received checksums and viaduct uses it, said at start-up" \
    grep -q "port=net_tap0 .*rx_checks=offload" "$work/viaduct.log"
check "the management API shows it (stats net:rx_cksum_offload.net_tap0 = 1)" \
    grep -q '"net:rx_cksum_offload.net_tap0 = 1"' <<< "$stats"

# peer.py IP PORT [SEND-TO SEND-PORT MESSAGE-SIZE]: a UDP socket (the kernel verifies the
# checksum) and a raw capture of the same datagram (the fields checked here). Prints the first
# line of what the socket got and the verdict on the captured checksums.
cat > "$work/peer.py" <<'PY'
import socket, struct, sys, time
ip, port = sys.argv[1], int(sys.argv[2])
def fold(s):
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return s
def csum(b):
    if len(b) % 2:
        b += b"\0"
    return fold(sum(struct.unpack("!%dH" % (len(b) // 2), b)))
raw = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0800))
raw.bind(("eth0", 0)); raw.settimeout(0.2)
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind((ip, port)); u.settimeout(5)
if len(sys.argv) > 3:
    to, to_port, size = sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
    body = "v=0\r\n" + "a=x:" + "y" * max(0, size - 400) + "\r\n"
    method = "OPTIONS" if size < 1000 else "INVITE"
    ruri = "sip:%s:5060" % to if method == "OPTIONS" else "sip:svc@%s:5060" % to
    m = ("%s %s SIP/2.0\r\nVia: SIP/2.0/UDP %s:%d;branch=z9hG4bKcko%d\r\n"
         "From: <sip:a@%s>;tag=c1\r\nTo: <%s>\r\nCall-ID: cko-%d@x\r\nCSeq: 1 %s\r\n"
         "Max-Forwards: 70\r\nContent-Type: application/sdp\r\nContent-Length: %d\r\n\r\n%s"
         % (method, ruri, ip, port, size, ip, ruri, size, method, len(body), body))
    u.sendto(m.encode(), (to, to_port))
try:
    data, src = u.recvfrom(65535)
except socket.timeout:
    print("nothing"); sys.exit(0)
print("got", data.decode(errors="replace").splitlines()[0].replace(" ", "_"), len(data))
# The datagram's frames on the wire (a fragmented one: the first fragment has the UDP header;
# all fragments are reassembled to check the UDP sum over the whole datagram).
frags, deadline = {}, time.time() + 1
while time.time() < deadline:
    try:
        f = raw.recv(65535)
    except socket.timeout:
        continue
    iph = f[14:34]
    if f[12:14] != b"\x08\x00" or iph[9] != 17 or socket.inet_ntoa(iph[16:20]) != ip:
        continue
    if socket.inet_ntoa(iph[12:16]) != src[0]:
        continue
    tot = struct.unpack("!H", iph[2:4])[0]
    fo = struct.unpack("!H", iph[6:8])[0]
    frags[(fo & 0x1fff) * 8] = (iph, f[34:14 + tot], csum(iph) == 0xffff)
    if frags and 0 in frags:
        have = sum(len(p) for _, p, _ in frags.values())
        if have >= struct.unpack("!H", frags[0][1][4:6])[0]:
            break
if 0 not in frags:
    print("verdict no-capture"); sys.exit(0)
iph0 = frags[0][0]
udp = b"".join(frags[k][1] for k in sorted(frags))
ip_ok = all(ok for _, _, ok in frags.values())
field = struct.unpack("!H", udp[6:8])[0]
ph = iph0[12:20] + struct.pack("!BBH", 0, 17, len(udp))
udp_ok = field != 0 and fold(csum(ph) + csum(udp)) == 0xffff
print("verdict frames=%d ip=%s udp=%s field=0x%04x" % (len(frags), "ok" if ip_ok else "bad",
      "ok" if udp_ok else ("zero" if field == 0 else "bad"), field))
PY

# A local reply: the OPTIONS is answered by viaduct (sl_send_reply), built with offload.
out=$(ip netns exec "$LAB_C" timeout 15 python3 "$work/peer.py" "$LAB_C_IP" 5070 \
      "$LAB_LB_IP" 5060 300 2>&1 || true)
echo "$out" | sed 's/^/  client: /'
check "the local reply arrives through the client's kernel" \
    sh -c "echo '$out' | grep -q '^got SIP/2.0_200_Keepalive'"
check "the local reply's IPv4 and UDP checksums are valid and non-zero (NIC-computed)" \
    sh -c "echo '$out' | grep -q '^verdict frames=1 ip=ok udp=ok'"

# The backends' MACs: viaduct asks for them at start (ARP, once a second until answered); an
# INVITE sent before that is held until ARP answers, which is not what this test is about.
for _ in $(seq 1 50); do
    n=$(lab_metric "$(lab_metrics)" viaduct_neighbours || echo 0)
    [ "${n:-0}" -ge 4 ] && break
    sleep 0.1
done

# Forwarded INVITEs: one that fits the MTU (offload) and one of 3 KB (fragments: software).
for size in 1200 3000; do
    rm -f "$work"/backend*.out
    for i in 0 1 2; do
        ip netns exec "${LAB_BACKENDS[$i]}" timeout 15 python3 "$work/peer.py" \
            "${LAB_B_IPS[$i]}" 5060 > "$work/backend$i.out" 2>&1 &
        LAB_PIDS+=("$!")
    done
    sleep 0.5
    ip netns exec "$LAB_C" timeout 10 python3 "$work/peer.py" "$LAB_C_IP" 5071 \
        "$LAB_LB_IP" 5060 "$size" > /dev/null 2>&1 || true
    wait "${LAB_PIDS[@]: -3}" 2> /dev/null || true
    got=$(cat "$work"/backend*.out | grep -v '^nothing' || true)
    echo "$got" | sed "s/^/  backend ($size B): /"
    check "a $size-byte INVITE reaches a backend's socket" \
        sh -c "echo '$got' | grep -q '^got INVITE_sip:svc@'"
    if [ "$size" -lt 1400 ]; then
        want='^verdict frames=1 ip=ok udp=ok'
    else
        want='^verdict frames=[2-9] ip=ok udp=ok'
    fi
    check "the $size-byte INVITE's checksums are valid and non-zero" \
        sh -c "echo '$got' | grep -q '$want'"
done

m=$(lab_metrics)
check "viaduct sent fragments for the 3 KB INVITE" \
    test "$(lab_metric "$m" viaduct_ip_fragments_sent_total)" -ge 2

if [ "$failures" != 0 ]; then
    tail -20 "$work/viaduct.log"
    exit 1
fi
echo "PASS"
