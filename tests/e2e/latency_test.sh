#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# tests/e2e/latency_test.sh VIADUCT: ds_ping_latency_stats feeds algorithm 13, end to end.
#
# Two backends answer viaduct's OPTIONS probes, b1 at once and b2 after 150 ms, and count the
# INVITEs they receive. b2 has the higher priority (11 against 10), so without latency
# statistics algorithm 13 sends every call to b2. With them, b2's adjusted priority falls to
# 11 - 150/11 -> 1 (Kamailio's PRIORITY - EST_LATENCY_MS/PRIORITY) and every call goes to b1:
# the INVITEs counted at b1 prove that the probes' round trips reached the selection.
# A third backend, b3 (priority 5), never answers a probe in time. dispatcher.list over the
# management API then shows Kamailio's LATENCY object for each: b2's average above 140 ms, b1's
# below, no TIMEOUT for either, and b3's probes counted as TIMEOUT with no round trip.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=$(realpath "$1")
LAB_NET=${LAB_NET:-63}
LAB_METRICS_PORT=${LAB_METRICS_PORT:-9463}
source "$here/lib.sh"
lab_require
lab_workdir viaduct-latency

cat > "$work/backend.py" <<'PY'
import socket, sys, time
ip, delay, out = sys.argv[1], float(sys.argv[2]), sys.argv[3]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((ip, 5060))
s.settimeout(0.5)
invites = 0
end = time.time() + 40
while time.time() < end:
    try:
        data, peer = s.recvfrom(65535)
    except socket.timeout:
        continue
    text = data.decode(errors="replace")
    if text.startswith("INVITE "):
        invites += 1
        with open(out, "w") as f:
            f.write(str(invites))
        continue
    if not text.startswith("OPTIONS "):
        continue
    keep = [l for l in text.split("\r\n") if l.split(":")[0].strip().lower()
            in ("via", "v", "from", "f", "to", "t", "call-id", "i", "cseq")]
    time.sleep(delay)
    s.sendto(("SIP/2.0 200 OK\r\n" + "\r\n".join(keep) + "\r\nContent-Length: 0\r\n\r\n")
             .encode(), peer)
PY

lab_up
lab_write_config "$work"
sed -i 's/^#!define DS_SET 1$/#!define DS_SET 1\n#!define DS_ALG 13/' "$work/viaduct.cfg"
sed -i 's/^modparam("dispatcher", "list_file", "dispatcher.list")$/&\nmodparam("dispatcher", "ds_ping_interval", 1)\nmodparam("dispatcher", "ds_probing_mode", 1)\nmodparam("dispatcher", "ds_ping_latency_stats", 1)/' \
    "$work/viaduct.cfg"
printf '1 sip:%s:5060 0 10\n1 sip:%s:5060 0 11\n1 sip:%s:5060 0 5\n' "${LAB_B_IPS[0]}" \
    "${LAB_B_IPS[1]}" "${LAB_B_IPS[2]}" > "$work/dispatcher.list"
MGMT_PORT=${MGMT_PORT:-5066}
printf '\n[management]\nlisten = "127.0.0.1:%s"\n' "$MGMT_PORT" >> "$work/viaduct.toml"
echo 0 > "$work/b1.count"
echo 0 > "$work/b2.count"
echo 0 > "$work/b3.count"
ip netns exec "${LAB_BACKENDS[0]}" python3 "$work/backend.py" "${LAB_B_IPS[0]}" 0 "$work/b1.count" &
LAB_PIDS+=("$!")
ip netns exec "${LAB_BACKENDS[1]}" python3 "$work/backend.py" "${LAB_B_IPS[1]}" 0.15 "$work/b2.count" &
LAB_PIDS+=("$!")
ip netns exec "${LAB_BACKENDS[2]}" python3 "$work/backend.py" "${LAB_B_IPS[2]}" 100 "$work/b3.count" &
LAB_PIDS+=("$!")
lab_start_viaduct "$bin" "$work"

# Five probe rounds: the estimates settle (alpha 0.9, started at the first sample).
sleep 6
replies=$(lab_metric "$(lab_metrics)" viaduct_dispatcher_probe_replies_total)
check "probes answered by both backends (replies=$replies)" test "$replies" -ge 6

# dispatcher.list's LATENCY objects, "AVG MAX TIMEOUT" per backend.
ip netns exec "$LAB_LB" curl -s --max-time 10 -H 'Content-Type: application/json' \
    -d '{"jsonrpc":"2.0","method":"dispatcher.list","id":1}' \
    "http://127.0.0.1:${MGMT_PORT}/RPC" > "$work/list.json" || true
lat() {
    python3 - "$work/list.json" "$1" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
for t in r["result"]["RECORDS"][0]["SET"]["TARGETS"]:
    d = t["DEST"]
    if d["URI"] == "sip:%s:5060" % sys.argv[2]:
        l = d["LATENCY"]
        print(l["AVG"], l["MAX"], l["TIMEOUT"])
PY
}
read -r b1_avg b1_max b1_to <<< "$(lat "${LAB_B_IPS[0]}" 2>/dev/null || echo x x x)"
read -r b2_avg b2_max b2_to <<< "$(lat "${LAB_B_IPS[1]}" 2>/dev/null || echo x x x)"
read -r b3_avg b3_max b3_to <<< "$(lat "${LAB_B_IPS[2]}" 2>/dev/null || echo x x x)"
check "LATENCY of b1: AVG below 50 ms, no TIMEOUT (avg=$b1_avg timeout=$b1_to)" \
    python3 -c "import sys; sys.exit(not ($b1_avg < 50 and $b1_to == 0))"
check "LATENCY of b2: AVG 140-1000 ms, no TIMEOUT (avg=$b2_avg timeout=$b2_to)" \
    python3 -c "import sys; sys.exit(not (140 <= $b2_avg < 1000 and $b2_to == 0))"
check "LATENCY of b3: its probes are TIMEOUTs, no round trip (avg=$b3_avg max=$b3_max timeout=$b3_to)" \
    python3 -c "import sys; sys.exit(not ($b3_to >= 3 and $b3_avg == 0 and $b3_max == 0))"

ip netns exec "$LAB_C" python3 - "$LAB_C_IP" "$LAB_LB_IP" <<'PY'
import socket, sys
src, lb = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((src, 5060))
for i in range(40):
    msg = (f"INVITE sip:svc@{lb} SIP/2.0\r\nVia: SIP/2.0/UDP {src}:5060;branch=z9hG4bKlat{i}\r\n"
           f"From: <sip:a@{src}>;tag=f{i}\r\nTo: <sip:svc@{lb}>\r\nCall-ID: lat-{i}\r\n"
           f"CSeq: 1 INVITE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n")
    s.sendto(msg.encode(), (lb, 5060))
PY
sleep 1
b1=$(cat "$work/b1.count")
b2=$(cat "$work/b2.count")
check "algorithm 13 with latency statistics: all 40 calls to the fast b1 (b1=$b1 b2=$b2)" \
    test "$b1" = 40 -a "$b2" = 0

echo "$passes passed, $failures failed"
if [ "$failures" != 0 ]; then
    cat "$work/viaduct.log" >&2
    exit 1
fi
