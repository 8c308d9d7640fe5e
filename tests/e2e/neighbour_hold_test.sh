#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# End to end: a request whose next hop's MAC is not known yet waits for ARP instead of being
# lost (the kernel's neighbour queue does this for Kamailio), with viaduct on net_af_packet.
# - backend 1 answers no ARP at first: the client's INVITE is held (counted), nothing reaches
#   the backend; once the backend answers ARP (viaduct asks once a second) the held INVITE is
#   sent to it: the first INVITE is delivered, not dropped as no_neighbour.
# - backend 2 never answers ARP: an INVITE for it is held for the hold time (3 s), then dropped
#   as no_neighbour and reported as a send failure, and with use_dst_blocklist the destination
#   is blocklisted at once (ARP has had its chance).
# - IPv6: backend 3 has no IPv6 address at first, so no Neighbor Advertisement answers viaduct's
#   solicitations; an INVITE from the IPv4 client for it (IPv4 in, IPv6 out), large enough to
#   leave in two IPv6 fragments, is held as those fragments, and sent once the address is there
#   and Neighbor Discovery answers (the backend's kernel reassembles it).
# - IPv6, an address nobody has: the INVITE (two fragments again) is held for the hold time,
#   then dropped as no_neighbour and blocklisted as a send failure, as over IPv4; its fragments
#   are not counted as sent.
# - with [neighbours] hold = 0 nothing waits: such an INVITE is a no_neighbour drop at once.
#   usage: neighbour_hold_test.sh VIADUCT_BINARY
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=$(realpath "$1")

LAB_NET=${LAB_NET:-71}
LAB_METRICS_PORT=${LAB_METRICS_PORT:-9471}
# The large INVITEs of parts 3 and 3b: the af_packet PMD hands viaduct whole datagrams (its
# fanout group defragments, fragments_test.sh says how), so frames and mbufs of 4 KiB.
LAB_AFP_ARGS=",framesz=4096,blocksz=4096"
LAB_DPDK_EXTRA="mbuf_data_room = 4224"
source "$here/lib.sh"
lab_require curl ip python3
failures=0
lab_workdir viaduct-e2e-hold

lab_up
lab_write_config "$work"
# Set 1: backend 1; set 2: backend 2 (the request's user "dead" goes there); set 3: backend 3
# over IPv6 (user "v6").
LB6="2001:db8:${LAB_NET}::2"
B3_6="2001:db8:${LAB_NET}::13"
cat > "$work/dispatcher.list" <<LIST
1 sip:${LAB_B_IPS[0]}:5060 0 0
2 sip:${LAB_B_IPS[1]}:5060 0 0
3 sip:[${B3_6}]:5060 0 0
4 sip:[2001:db8:${LAB_NET}::99]:5060 0 0
LIST
sed -i "s|^address = .*|&\naddress6 = \"${LB6}/64\"|" "$work/viaduct.toml"
grep -q address6 "$work/viaduct.toml"
python3 - "$work/viaduct.cfg" "$LB6" <<'PY'
import sys
p = sys.argv[1]
s = open(p).read()
s = s.replace("children=2\n", "children=2\nuse_dst_blocklist=yes\n")
s = s.replace("\nchildren=2", "\nlisten=udp:[%s]:5060\nchildren=2" % sys.argv[2])
s = s.replace("    if (!ds_select_dst(DS_SET, DS_ALG)) {",
              "    $var(set) = 1;\n    if ($rU == \"dead\") {\n        $var(set) = 2;\n    }\n"
              "    if ($rU == \"v6\") {\n        $var(set) = 3;\n    }\n"
              "    if ($rU == \"v6dead\") {\n        $var(set) = 4;\n    }\n"
              "    if (!ds_select_dst($var(set), DS_ALG)) {")
open(p, "w").write(s)
PY
b1=${LAB_BACKENDS[0]}
b2=${LAB_BACKENDS[1]}
b3=${LAB_BACKENDS[2]}
# Backend 3: IPv6 on (lib.sh turns it off), but its address B3_6 only later.
for k in all default eth0; do
    ip netns exec "$b3" sysctl -qw "net.ipv6.conf.$k.disable_ipv6=0"
done
# arp_ignore=8: no ARP reply at all.
for ns in "$b1" "$b2"; do
    ip netns exec "$ns" sysctl -qw net.ipv4.conf.all.arp_ignore=8 net.ipv4.conf.eth0.arp_ignore=8
done

# Backend 1's UDP socket: every datagram's Call-ID and top Via, with the time it came.
cat > "$work/listen.py" <<'PY'
import socket, sys, time
family = socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET
s = socket.socket(family, socket.SOCK_DGRAM)
s.bind((sys.argv[1], 5060))
s.settimeout(0.2)
end = time.time() + float(sys.argv[2])
while time.time() < end:
    try:
        data, src = s.recvfrom(65535)
    except socket.timeout:
        continue
    text = data.decode(errors="replace")
    cid = [l.split(":", 1)[1].strip() for l in text.split("\r\n") if l.lower().startswith("call-id:")]
    via = [l for l in text.split("\r\n") if l.lower().startswith("via:")]
    print("got", cid[0] if cid else "-", "via=" + (via[0].replace(" ", "_") if via else "-"),
          "t=%.3f" % time.time(), flush=True)
PY
ip netns exec "$b1" python3 "$work/listen.py" "${LAB_B_IPS[0]}" 30 > "$work/b1.out" 2>&1 &
LAB_PIDS+=("$!")
ip netns exec "$b3" python3 "$work/listen.py" "::" 40 > "$work/b3.out" 2>&1 &
LAB_PIDS+=("$!")

lab_start_viaduct "$bin" "$work"

invite() {  # invite USER CALL-ID [PAD]: one INVITE from the client to viaduct (PAD: bytes of
            # an X-Pad header, for a datagram above the MTU)
    ip netns exec "$LAB_C" python3 - "$LAB_C_IP" "$LAB_LB_IP" "$1" "$2" "${3:-0}" <<'PY'
import socket, sys
src, lb, user, cid, pad = sys.argv[1:6]
pad = "X-Pad: %s\r\n" % ("p" * int(pad)) if int(pad) else ""
m = ("INVITE sip:%s@%s:5060 SIP/2.0\r\nVia: SIP/2.0/UDP %s:5060;branch=z9hG4bK%s\r\n"
     "Max-Forwards: 70\r\nFrom: <sip:a@%s>;tag=1\r\nTo: <sip:%s@%s>\r\nCall-ID: %s\r\n%s"
     "CSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n" % (user, lb, src, cid, src, user, lb, cid, pad))
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((src, 5060))
s.sendto(m.encode(), (lb, 5060))
PY
}
# wait_until TENTHS COMMAND...: COMMAND every 0.1 s until it succeeds, at most TENTHS times.
wait_until() {
    local n=$1
    shift
    for _ in $(seq 1 "$n"); do
        "$@" && return 0
        sleep 0.1
    done
    return 1
}
held_at_least() { [ "$(lab_metric_now viaduct_neighbour_held_total)" -ge "$1" ]; }
no_neighbour_at_least() { [ "$(lab_metric_now viaduct_drops_total 'reason="no_neighbour"')" -ge "$1" ]; }
# held_then_sent WHO USER CALL-ID PAD OUT HELD ANSWER...: an INVITE for USER (PAD: invite's) is
# held (HELD frames held in all after it), reaches WHO (whose listener writes OUT) in no second
# while its MAC is unknown, and reaches it once, after ANSWER (the command that makes WHO answer)
# has run.
held_then_sent() {
    local who=$1 user=$2 cid=$3 pad=$4 out=$5 held=$6
    shift 6
    invite "$user" "$cid" "$pad"
    wait_until 30 held_at_least "$held" || true
    check "the INVITE for $who (its MAC unknown) is held ($(lab_metric_now viaduct_neighbour_held_total))" \
        test "$(lab_metric_now viaduct_neighbour_held_total)" = "$held"
    sleep 1
    check "nothing reached $who while its MAC is unknown" \
        test "$(grep -c "^got $cid " "$out" || true)" = 0
    "$@"
    wait_until 50 grep -q "^got $cid " "$out" || true
    check "$who got the held INVITE once it answered" \
        test "$(grep -c "^got $cid " "$out" || true)" = 1
}

# held_then_expired WHO USER CID PAD HELD NO_NEIGHBOUR N: an INVITE for USER (PAD: invite's;
# Call-ID CID-1) is held (HELD frames held in all after it), still held after 1 s, and dropped as
# no_neighbour once the hold time is over (NO_NEIGHBOUR such drops in all); it is the N-th send
# failure, blocklisted at once as one (the next hop had its 3 s), and the next INVITE for USER
# (CID-2) is the N-th refused by the blocklist, not held.
held_then_expired() {
    local who=$1 user=$2 cid=$3 pad=$4 held=$5 drops=$6 n=$7 text
    invite "$user" "$cid-1" "$pad"
    sleep 1
    text=$(lab_metrics)
    check "the INVITE for $who is held ($(lab_metric "$text" viaduct_neighbour_held_total))" \
        test "$(lab_metric "$text" viaduct_neighbour_held_total)" = "$held"
    check "not yet dropped after 1 s" \
        test "$(lab_metric "$text" viaduct_drops_total 'reason="no_neighbour"')" -lt "$drops"
    wait_until 60 no_neighbour_at_least "$drops" || true
    sleep 0.3
    text=$(lab_metrics)
    check "dropped as no_neighbour once the hold time is over" \
        test "$(lab_metric "$text" viaduct_drops_total 'reason="no_neighbour"')" = "$drops"
    check "one send failure for the destination" \
        test "$(lab_metric "$text" viaduct_dispatcher_send_failures_total)" = "$n"
    check "blocklisted at once as a send error" \
        test "$(lab_metric "$text" viaduct_dst_blocklist_send_failures_total)" = "$n"
    invite "$user" "$cid-2"
    sleep 0.3
    text=$(lab_metrics)
    check "the next INVITE for it is refused by the blocklist, not held" \
        test "$(lab_metric "$text" viaduct_drops_total 'reason="blocklisted"')" = "$n" -a \
        "$(lab_metric "$text" viaduct_neighbour_held_total)" = "$held"
}

# ---- 1. held while backend 1 answers no ARP, sent once it does ----
sleep 1.5  # viaduct has asked for backend 1's MAC at least once, unanswered
held_then_sent "backend 1" svc hold-1 0 "$work/b1.out" 1 \
    ip netns exec "$b1" sysctl -qw net.ipv4.conf.all.arp_ignore=0 net.ipv4.conf.eth0.arp_ignore=0
check "with viaduct's Via on top" \
    grep -q "^got hold-1 via=Via:_SIP/2.0/UDP_${LAB_LB_IP};branch=z9hG4bK" "$work/b1.out"
text=$(lab_metrics)
check "counted as sent after the hold ($(lab_metric "$text" viaduct_neighbour_held_sent_total))" \
    test "$(lab_metric "$text" viaduct_neighbour_held_sent_total)" = 1
check "no no_neighbour drop" \
    test "$(lab_metric "$text" viaduct_drops_total 'reason="no_neighbour"')" = 0
# The next INVITE goes straight out.
invite svc hold-2
wait_until 30 grep -q '^got hold-2 ' "$work/b1.out" || true
check "the next INVITE reaches backend 1 without a hold" grep -q '^got hold-2' "$work/b1.out"
check "still one frame held in all" test "$(lab_metric_now viaduct_neighbour_held_total)" = 1

# ---- 2. backend 2 never answers: dropped after the hold time, a send failure, blocklisted ----
held_then_expired "backend 2" dead dead 0 2 1 1

# ---- 3. IPv6: held until Neighbor Discovery answers, as two fragments ----
# (its address, and so its Neighbor Advertisement, comes after the INVITE; 2,000 bytes of
# padding: the client's kernel fragments the datagram, viaduct reassembles it and, above the
# IPv6 MTU of 1,500, cuts it into two fragments, both held)
held_then_sent "backend 3 over IPv6" v6 v6-1 2000 "$work/b3.out" 4 \
    ip -n "$b3" addr add "${B3_6}/64" dev eth0 nodad
check "over IPv6, with viaduct's IPv6 Via on top" \
    grep -q "^got v6-1 via=Via:_SIP/2.0/UDP_\[${LB6}\];branch=z9hG4bK" "$work/b3.out"
text=$(lab_metrics)
check "both fragments counted as sent after the hold ($(lab_metric "$text" viaduct_neighbour_held_sent_total))" \
    test "$(lab_metric "$text" viaduct_neighbour_held_sent_total)" = 3
check "and as fragments sent, once they left ($(lab_metric "$text" viaduct_ip_fragments_sent_total))" \
    test "$(lab_metric "$text" viaduct_ip_fragments_sent_total)" = 2

# ---- 3b. IPv6, an address nobody has: dropped after the hold time, blocklisted ----
# (as two fragments again: they expire without being counted as fragments sent)
held_then_expired "an IPv6 address nobody has" v6dead v6dead 2000 6 3 2
check "fragments that expired are not counted as sent" \
    test "$(lab_metric_now viaduct_ip_fragments_sent_total)" = 2

# ---- 4. [neighbours] hold = 0: nothing waits, a miss is a no_neighbour drop at once ----
kill "$LAB_VIADUCT_PID"
wait "$LAB_VIADUCT_PID" 2> /dev/null || true
printf '\n[neighbours]\nhold = 0\n' >> "$work/viaduct.toml"
lab_start_viaduct "$bin" "$work"
invite dead dead-3
wait_until 20 no_neighbour_at_least 1 || true
text=$(lab_metrics)
check "with hold = 0 the INVITE for backend 2 is dropped at once, not held" \
    test "$(lab_metric "$text" viaduct_drops_total 'reason="no_neighbour"')" = 1 -a \
    "$(lab_metric "$text" viaduct_neighbour_held_total)" = 0

if [ "$failures" != 0 ]; then
    cat "$work/b1.out" "$work/b3.out"
    tail -20 "$work/viaduct.log"
    exit 1
fi
echo "PASS"
