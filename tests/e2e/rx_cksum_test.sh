#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# End to end: viaduct checks the UDP checksum of what it receives. The client sends an INVITE
# through a raw socket (its UDP header and checksum written here, not by the kernel) with a
# deliberately wrong checksum: viaduct must drop it, count it in /metrics
# (viaduct_drops_total{reason="udp_bad_checksum"}) and forward nothing. The same datagram with
# the right checksum must reach a backend's UDP socket (whose kernel checks the checksum viaduct
# writes). net_af_packet has no RX checksum offload: this is the software check. The lab's hosts
# send full checksums (lab_wire in lib.sh): a plain socket's OPTIONS must be answered too.
#   usage: rx_cksum_test.sh VIADUCT_BINARY
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=$(realpath "$1")

LAB_NET=${LAB_NET:-67}
LAB_METRICS_PORT=${LAB_METRICS_PORT:-9467}
source "$here/lib.sh"
lab_require curl ip python3
failures=0
lab_workdir viaduct-e2e-rxck
lab_up
lab_write_config "$work"
lab_start_viaduct "$bin" "$work"

# Each backend: a UDP socket on 5060 that writes the Call-ID of every datagram it gets.
cat > "$work/backend.py" <<'PY'
import socket, sys
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.bind((sys.argv[1], 5060))
with open(sys.argv[2], "a", buffering=1) as out:
    while True:
        data, _ = u.recvfrom(65535)
        for line in data.decode(errors="replace").split("\r\n"):
            if line.lower().startswith("call-id:"):
                out.write(line.split(":", 1)[1].strip() + "\n")
PY
for i in 0 1 2; do
    ip netns exec "${LAB_BACKENDS[$i]}" python3 "$work/backend.py" "${LAB_B_IPS[$i]}" \
        "$work/got" > /dev/null 2>&1 &
    LAB_PIDS+=("$!")
done
sleep 0.5

# send.py CALL-ID good|bad: one INVITE from the client through a raw UDP socket (the kernel
# writes the IPv4 header, we write the UDP header), its checksum right or off by one bit.
cat > "$work/send.py" <<'PY'
import socket, struct, sys
src, dst, call_id, how = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
msg = ("INVITE sip:svc@%s:5060 SIP/2.0\r\nVia: SIP/2.0/UDP %s:5070;branch=z9hG4bKrx-%s\r\n"
       "Max-Forwards: 70\r\nFrom: <sip:a@%s>;tag=rx1\r\nTo: <sip:svc@%s>\r\n"
       "Call-ID: %s\r\nCSeq: 1 INVITE\r\nContact: <sip:a@%s:5070>\r\nContent-Length: 0\r\n\r\n"
       % (dst, src, call_id, src, dst, call_id, src)).encode()
def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff
n = 8 + len(msg)
pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!BBH", 0, 17, n)
ck = csum(pseudo + struct.pack("!HHHH", 5070, 5060, n, 0) + msg) or 0xffff
if how == "bad":
    ck ^= 0x0001
assert ck != 0
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_UDP)
s.sendto(struct.pack("!HHHH", 5070, 5060, n, ck) + msg, (dst, 0))
PY
send() {
    ip netns exec "$LAB_C" python3 "$work/send.py" "$LAB_C_IP" "$LAB_LB_IP" "$1" "$2"
}
drops() {
    lab_metric "$(lab_metrics)" viaduct_drops_total 'reason="udp_bad_checksum"'
}
forwarded() {
    lab_metric "$(lab_metrics)" viaduct_sip_requests_forwarded_total
}
# wait_for COMMAND...: up to 3 s for COMMAND to succeed.
wait_for() {
    local i
    for i in $(seq 1 30); do
        if "$@"; then
            return 0
        fi
        sleep 0.1
    done
    "$@"
}
got() { grep -qx "$1" "$work/got" 2>/dev/null; }
drops_are() { test "$(drops)" = "$1"; }

check "nothing dropped as udp_bad_checksum at start" test "$(drops)" = 0
fwd0=$(forwarded)

send "rx-bad-$$" bad
check "the INVITE with a wrong UDP checksum is counted as udp_bad_checksum" \
    wait_for drops_are 1
sleep 1
check "... and forwarded to no backend" sh -c "! grep -q 'rx-bad-$$' '$work/got' 2>/dev/null"
check "... nor counted as forwarded" test "$(forwarded)" = "$fwd0"

send "rx-good-$$" good
check "the same INVITE with the right checksum reaches a backend's socket" \
    wait_for got "rx-good-$$"
check "... counted as forwarded" test "$(forwarded)" = "$((fwd0 + 1))"
check "... and not dropped" drops_are 1

# A plain socket's datagram: the kernel writes the checksum (lab_wire: no partial sums).
reply=$(ip netns exec "$LAB_C" python3 - "$LAB_C_IP" "$LAB_LB_IP" <<'PY' || true
import socket, sys
src, dst = sys.argv[1], sys.argv[2]
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.bind((src, 5071))
u.settimeout(3)
u.sendto(("OPTIONS sip:%s:5060 SIP/2.0\r\nVia: SIP/2.0/UDP %s:5071;branch=z9hG4bKrxo\r\n"
          "Max-Forwards: 70\r\nFrom: <sip:a@%s>;tag=o1\r\nTo: <sip:%s>\r\nCall-ID: rx-opt\r\n"
          "CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n" % (dst, src, src, dst)).encode(),
         (dst, 5060))
print(u.recv(65535).decode(errors="replace").split("\r\n")[0])
PY
)
check "a kernel socket's OPTIONS is answered (got: ${reply:-nothing})" \
    test "$reply" = "SIP/2.0 200 Keepalive"
check "still one udp_bad_checksum drop" drops_are 1

echo "passed: $passes, failed: $failures"
[ "$failures" = 0 ]
