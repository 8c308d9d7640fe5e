#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# End to end: the exception path. viaduct owns the load balancer's address on net_af_packet and
# gives the kernel a TAP interface (exception_tap) with the same MAC and address. TCP
# connections (several short ones, one carrying 1 MB each way) and a UDP datagram to a port
# viaduct does not listen on must reach sockets of the host stack and be answered through
# viaduct; SIP and ping stay on the fast path. Over IPv6 (the interface's address6, which the
# TAP gets too): a TCP connection to a host-stack socket carries bytes both ways, the kernel's
# Neighbor Solicitations leave through viaduct and the answers reach it; SIP behind the
# client kernel's hop-by-hop and destination options headers stays on the fast path.
#   usage: exception_test.sh VIADUCT_BINARY
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=$(realpath "$1")

LAB_NET=${LAB_NET:-72}
LAB_METRICS_PORT=${LAB_METRICS_PORT:-9472}
source "$here/lib.sh"
lab_require curl ip python3
failures=0
lab_workdir viaduct-e2e-exc
lab_up
# Make the lab a wire, as a NIC owned by DPDK is. Two things of veth + af_packet would otherwise
# carry the exception path's traffic around viaduct or break it:
# - The load balancer's kernel sees every frame of eth0 too (af_packet only taps it) and, once
#   the TAP gives it our address, would take TCP and UDP to that address straight from eth0
#   (weak host model) and answer through the TAP: the test would pass with the fast path's
#   punting never used. Strict reverse-path filtering on eth0 (the route back is the TAP's)
#   drops them there, and arp_ignore keeps the kernel from answering ARP on eth0.
# - The client's veth sends MTU-sized segments with complete checksums, as a wire carries them:
#   lab_host (lib.sh lab_wire) turned its TCP/UDP checksum offload and TSO/GSO off.
ip netns exec "$LAB_LB" sysctl -qw net.ipv4.conf.eth0.rp_filter=1 net.ipv4.conf.eth0.arp_ignore=1
# IPv6 for the client (lib.sh turns it off everywhere), without duplicate address detection.
# viaduct's namespace keeps it off: its kernel must not take IPv6 from eth0 (the TAP gets it on).
P6="2001:db8:${LAB_NET}:"
LB6="${P6}:2"
C6="${P6}:10"
for k in all default eth0; do
    ip netns exec "$LAB_C" sysctl -qw "net.ipv6.conf.$k.disable_ipv6=0"
done
ip -n "$LAB_C" addr add "$C6/64" dev eth0 nodad
lab_write_config "$work"
sed -i "s|^address = \"${LAB_LB_IP}/24\"|&\naddress6 = \"${LB6}/64\"\nexception_tap = \"vdtap0\"|" \
    "$work/viaduct.toml"
sed -i "s|^listen=udp:${LAB_LB_IP}:5060|&\nlisten=udp:[${LB6}]:5060|" "$work/viaduct.cfg"
grep -q "^listen=udp:\[${LB6}\]:5060" "$work/viaduct.cfg"
lab_start_viaduct "$bin" "$work"

check "the kernel has vdtap0 with our address" \
    sh -c "ip -n '$LAB_LB' -4 addr show vdtap0 | grep -q 'inet ${LAB_LB_IP}/24'"
check "the kernel has vdtap0 with our IPv6 address, not tentative (no DAD)" \
    sh -c "ip -n '$LAB_LB' -6 addr show vdtap0 | grep 'inet6 ${LB6}/64' | grep -qv tentative"

# Host-stack sockets on the load balancer's address: a TCP and a UDP echo, bounded. The TCP
# server answers "echo:" and then every byte it reads, until the client half-closes.
tcp_conns=7  # the first check's, five short ones, one of 1 MB
ip netns exec "$LAB_LB" timeout 60 python3 - "$LAB_LB_IP" "$tcp_conns" > "$work/servers.log" 2>&1 <<'PY' &
import socket, sys, threading
ip, want = sys.argv[1], int(sys.argv[2])
done = threading.Semaphore(0)
def serve(c):
    try:
        c.sendall(b"echo:")
        while True:
            d = c.recv(65536)
            if not d:
                break
            c.sendall(d)
    finally:
        c.close(); done.release()
def tcp():
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((ip, 8080)); s.listen(8)
    while True:
        c, _ = s.accept()
        threading.Thread(target=serve, args=(c,), daemon=True).start()
def udp():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind((ip, 9999))
    for _ in range(2):
        d, a = s.recvfrom(100); s.sendto(b"echo:" + d, a)
threading.Thread(target=tcp, daemon=True).start()
udp_t = threading.Thread(target=udp, daemon=True); udp_t.start()
print("listening", flush=True)
for _ in range(want):
    if not done.acquire(timeout=50):
        print("TCP: fewer connections than expected", flush=True); break
udp_t.join(25)
PY
LAB_PIDS+=("$!")
sleep 1

tcp_out=$(ip netns exec "$LAB_C" timeout 10 python3 -c "
import socket, sys
s = socket.create_connection(('$LAB_LB_IP', 8080), timeout=5)
s.sendall(b'hello'); s.shutdown(socket.SHUT_WR); got = b''
while len(got) < 10:
    d = s.recv(100)
    if not d: break
    got += d
print(got.decode())" 2>&1 || true)
check "a TCP connection to the kernel behind viaduct is answered (got '$tcp_out')" \
    test "$tcp_out" = "echo:hello"

# Several connections one after the other, each closed by both sides (FIN both ways), then one
# that carries 1 MB each way: full-size segments through af_packet, the worker and the TAP in
# both directions, the MSS the 1500-byte MTU gives, windows and ACK clocking.
ip netns exec "$LAB_C" timeout 60 python3 - "$LAB_LB_IP" > "$work/tcp_client.log" 2>&1 <<'PY' || true
import hashlib, os, socket, sys, threading, time
ip = sys.argv[1]
def exchange(payload, timeout):
    s = socket.create_connection((ip, 8080), timeout=timeout)
    mss = s.getsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG)
    def send():
        s.sendall(payload); s.shutdown(socket.SHUT_WR)
    t = threading.Thread(target=send); t.start()
    got = bytearray()
    while True:
        d = s.recv(65536)
        if not d:
            break
        got += d
    t.join(); s.close()
    return bytes(got), mss
ok = 0
for i in range(5):
    msg = b"conn-%d-" % i + os.urandom(8).hex().encode()
    got, _ = exchange(msg, 5)
    ok += got == b"echo:" + msg
print("short", ok, flush=True)
big = os.urandom(1 << 20)
t0 = time.monotonic()
got, mss = exchange(big, 20)
dt = time.monotonic() - t0
print("big", len(got) - 5, "match" if got == b"echo:" + big else "differ",
      hashlib.sha256(got[5:]).hexdigest()[:16], flush=True)
print("mss", mss, flush=True)
print("seconds %.2f" % dt, flush=True)
PY
short_ok=$(awk '$1 == "short" { print $2 }' "$work/tcp_client.log")
big_line=$(awk '$1 == "big"' "$work/tcp_client.log")
mss=$(awk '$1 == "mss" { print $2 }' "$work/tcp_client.log")
echo "1 MB echo: $(awk '$1 == "seconds" { print $2 }' "$work/tcp_client.log") s, MSS ${mss:-?}"
check "five TCP connections opened, echoed and closed (${short_ok:-0} of 5)" \
    test "${short_ok:-0}" = 5
check "1 MB each way over one TCP connection comes back intact (got '$big_line')" \
    sh -c "echo '$big_line' | grep -q '^big 1048576 match '"
check "the TCP MSS fits the 1500-byte MTU (got ${mss:-none})" \
    sh -c "[ '${mss:-0}' -ge 1400 ] && [ '${mss:-0}' -le 1460 ]"
udp_out=$(ip netns exec "$LAB_C" timeout 10 python3 -c "
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(5)
s.sendto(b'dgram', ('$LAB_LB_IP', 9999)); print(s.recv(100).decode())" 2>&1 || true)
check "a UDP datagram to a non-SIP port reaches the kernel's socket (got '$udp_out')" \
    test "$udp_out" = "echo:dgram"

sip_out=$(ip netns exec "$LAB_C" timeout 10 python3 -c "
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(5); s.bind(('$LAB_C_IP', 5070))
m = ('OPTIONS sip:$LAB_LB_IP:5060 SIP/2.0\r\nVia: SIP/2.0/UDP $LAB_C_IP:5070;branch=z9hG4bKx1\r\n'
     'From: <sip:p@$LAB_C_IP>;tag=a\r\nTo: <sip:$LAB_LB_IP>\r\nCall-ID: exc-1\r\nCSeq: 1 OPTIONS\r\n'
     'Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n')
s.sendto(m.encode(), ('$LAB_LB_IP', 5060)); print(s.recv(2000).decode().splitlines()[0])" 2>&1 || true)
check "SIP stays on the fast path (got '$sip_out')" test "$sip_out" = "SIP/2.0 200 Keepalive"
ping_out=$(ip netns exec "$LAB_C" timeout 10 python3 -c "
import socket, struct
def csum(b):
    b += b'\\0' * (len(b) % 2)
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b)); s = (s >> 16) + (s & 0xffff); s += s >> 16
    return ~s & 0xffff
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP); s.settimeout(5)
body = b'viaduct-ping'
h = struct.pack('!BBHHH', 8, 0, 0, 0x4242, 1)
s.sendto(struct.pack('!BBHHH', 8, 0, csum(h + body), 0x4242, 1) + body, ('$LAB_LB_IP', 0))
while True:
    d = s.recv(200)
    if d[20] == 0:
        print('reply', d[28:].decode()); break" 2>&1 || true)
check "ping is answered (got '$ping_out')" test "$ping_out" = "reply viaduct-ping"

# TCP over IPv6 to a host-stack socket on our IPv6 address: the client's kernel resolves us
# (viaduct answers), the SYN is punted, the kernel resolves the client through viaduct (its
# Neighbor Solicitation leaves from the TAP, the Advertisement comes back to it) and answers;
# 256 KB go each way, checked byte for byte, then a half-close each way.
ip netns exec "$LAB_LB" timeout 40 python3 - "$LB6" > "$work/server6.log" 2>&1 <<'PY' &
import hashlib, socket, sys
s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], 8086)); s.listen(1); s.settimeout(35)
c, peer = s.accept(); c.settimeout(20)
got = bytearray()
while True:
    d = c.recv(65536)
    if not d:
        break
    got += d
c.sendall(b"echo6:" + hashlib.sha256(got).hexdigest().encode() + b":" + bytes(got[::-1]))
c.close()
print("served", peer[0], len(got), flush=True)
PY
LAB_PIDS+=("$!")
sleep 1
ip netns exec "$LAB_C" timeout 30 python3 - "$LB6" > "$work/client6.log" 2>&1 <<'PY' || true
import hashlib, os, socket, sys, threading
s = socket.create_connection((sys.argv[1], 8086), timeout=20)
data = os.urandom(256 << 10)
def send():
    s.sendall(data); s.shutdown(socket.SHUT_WR)
t = threading.Thread(target=send); t.start()
got = bytearray()
while True:
    d = s.recv(65536)
    if not d:
        break
    got += d
t.join()
want = b"echo6:" + hashlib.sha256(data).hexdigest().encode() + b":" + data[::-1]
print("tcp6", len(got), "match" if bytes(got) == want else "differ", s.getsockname()[0], flush=True)
PY
tcp6=$(awk '$1 == "tcp6"' "$work/client6.log")
check "TCP over IPv6 to the kernel behind viaduct: 256 KB each way, intact (got '$tcp6')" \
    sh -c "echo '$tcp6' | grep -q '^tcp6 $(( (256 << 10) + 71 )) match ${C6}\$'"
check "the kernel's socket saw the client's IPv6 address and all the bytes" \
    grep -q "^served ${C6} $((256 << 10))\$" "$work/server6.log"
check "the kernel learned the client's MAC by Neighbor Discovery through viaduct" \
    sh -c "ip -n '$LAB_LB' -6 neigh show '$C6' dev vdtap0 | grep -q lladdr"

# SIP over IPv6 behind extension headers as the client's kernel writes them (sticky hop-by-hop
# options with a Router Alert, and destination options with an option to skip): the fast path
# walks them and answers. A packet socket on the client's eth0 sees the request leave with them.
sip6_out=$(ip netns exec "$LAB_C" timeout 10 python3 - "$LB6" "$C6" 2>&1 <<'PY' || true
import socket, sys
lb, me = sys.argv[1], sys.argv[2]
cap = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))  # ETH_P_ALL: outgoing too
cap.bind(("eth0", 0)); cap.settimeout(5)
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM); s.settimeout(5); s.bind((me, 5072))
# Hop-by-hop: Router Alert (type 5, 2 bytes) + PadN; destination options: type 0x1e (the two
# high bits 00: skip when unknown), 4 bytes. Next header and length bytes are the kernel's.
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_HOPOPTS, bytes([0, 0, 5, 2, 0, 0, 1, 0]))
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_DSTOPTS, bytes([0, 0, 0x1e, 4, 0, 0, 0, 0]))
m = ("OPTIONS sip:[%s]:5060 SIP/2.0\r\nVia: SIP/2.0/UDP [%s]:5072;branch=z9hG4bKx6e\r\n"
     "From: <sip:p@[%s]>;tag=a\r\nTo: <sip:[%s]>\r\nCall-ID: exc-6e\r\nCSeq: 1 OPTIONS\r\n"
     "Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n") % (lb, me, me, lb)
s.sendto(m.encode(), (lb, 5060))
chain = None
while chain is None:
    f, addr = cap.recvfrom(2048)
    if addr[2] == socket.PACKET_OUTGOING and f[14 + 8:14 + 24] == socket.inet_pton(socket.AF_INET6, me) \
            and b"exc-6e" in f:
        ip = f[14:]
        chain = [ip[6], ip[40]]  # the fixed header's next header, the hop-by-hop header's
        chain.append(ip[40 + 8 * (ip[41] + 1)])  # the destination options header's
print("chain", *chain, "reply", s.recv(2000).decode().splitlines()[0])
PY
)
check "SIP over IPv6 behind hop-by-hop and destination options is answered (got '$sip6_out')" \
    test "$sip6_out" = "chain 0 60 17 reply SIP/2.0 200 Keepalive"

m=$(lab_metrics)
in=$(lab_metric "$m" viaduct_exception_in_total)
out=$(lab_metric "$m" viaduct_exception_out_total)
echo "exception path: $in frames to the kernel, $out from it"
# 1 MB is at least 719 full segments each way, plus the handshakes, ACKs and the rest.
check "frames went to the kernel (1 MB of TCP among them)" test "$in" -ge 730
check "frames came back from the kernel (1 MB of TCP among them)" test "$out" -ge 730
check "net_af_packet has no checksum offload: software checksums, said at start-up" \
    grep -q "port=net_af_packet0 .*checksums=software" "$work/viaduct.log"
check "viaduct answered the ping itself" test "$(lab_metric "$m" viaduct_icmp_echo_replies_total)" -ge 1
check "no IPv6 extension header dropped or malformed" \
    test "$(lab_metric "$m" viaduct_drops_total 'reason="ipv6_bad_ext"')" = 0 -a \
    "$(lab_metric "$m" viaduct_drops_total 'reason="ipv6_ext_header"')" = 0

if [ "$failures" != 0 ]; then
    tail -20 "$work/viaduct.log"; cat "$work/servers.log" "$work/server6.log" "$work/client6.log"
    exit 1
fi
echo "PASS"
