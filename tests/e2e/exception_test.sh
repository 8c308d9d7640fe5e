#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# End to end: the exception path. viaduct owns the load balancer's address on net_af_packet and
# gives the kernel a TAP interface (exception_tap) with the same MAC and address. A TCP
# connection and a UDP datagram to a port viaduct does not listen on must reach sockets of the
# host stack and be answered through viaduct; SIP and ping stay on the fast path.
#   usage: exception_test.sh VIADUCT_BINARY
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=$(realpath "$1")

if [ "$(id -u)" != 0 ]; then
    echo "SKIP: needs root for network namespaces"
    exit 77
fi
for tool in curl ip python3; do
    command -v "$tool" > /dev/null || { echo "FAIL: $tool is not installed"; exit 1; }
done

LAB_NET=${LAB_NET:-72}
LAB_METRICS_PORT=${LAB_METRICS_PORT:-9472}
source "$here/lib.sh"
work=$(mktemp -d /tmp/viaduct-e2e-exc.XXXXXX)
failures=0
cleanup() {
    lab_down
    if [ "$failures" = 0 ]; then rm -rf "$work"; else echo "logs kept in $work"; fi
}
trap cleanup EXIT
lab_up
lab_write_config "$work"
sed -i "s|^address = \"${LAB_LB_IP}/24\"|&\nexception_tap = \"vdtap0\"|" "$work/viaduct.toml"
lab_start_viaduct "$bin" "$work"

check "the kernel has vdtap0 with our address" \
    sh -c "ip -n '$LAB_LB' -4 addr show vdtap0 | grep -q 'inet ${LAB_LB_IP}/24'"

# Host-stack sockets on the load balancer's address: a TCP and a UDP echo, bounded.
ip netns exec "$LAB_LB" timeout 30 python3 - "$LAB_LB_IP" > "$work/servers.log" 2>&1 <<'PY' &
import socket, sys, threading
ip = sys.argv[1]
def tcp():
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((ip, 8080)); s.listen(4)
    for _ in range(2):
        c, _ = s.accept(); c.sendall(b"echo:" + c.recv(100)); c.close()
def udp():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind((ip, 9999))
    for _ in range(2):
        d, a = s.recvfrom(100); s.sendto(b"echo:" + d, a)
threading.Thread(target=tcp, daemon=True).start()
udp_t = threading.Thread(target=udp, daemon=True); udp_t.start()
print("listening", flush=True)
udp_t.join(25)
PY
LAB_PIDS+=("$!")
sleep 1

tcp_out=$(ip netns exec "$LAB_C" timeout 10 python3 -c "
import socket, sys
s = socket.create_connection(('$LAB_LB_IP', 8080), timeout=5)
s.sendall(b'hello'); print(s.recv(100).decode())" 2>&1 || true)
check "a TCP connection to the kernel behind viaduct is answered (got '$tcp_out')" \
    test "$tcp_out" = "echo:hello"
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

m=$(lab_metrics)
in=$(lab_metric "$m" viaduct_exception_in_total)
out=$(lab_metric "$m" viaduct_exception_out_total)
echo "exception path: $in frames to the kernel, $out from it"
check "frames went to the kernel" test "$in" -ge 4
check "frames came back from the kernel" test "$out" -ge 3
check "viaduct answered the ping itself" test "$(lab_metric "$m" viaduct_icmp_echo_replies_total)" -ge 1

if [ "$failures" != 0 ]; then
    tail -20 "$work/viaduct.log"; cat "$work/servers.log"
    exit 1
fi
echo "PASS"
