#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# perf/compare-kamailio.sh: the same traffic through Kamailio set up as a stateless dispatcher
# and through viaduct, one after the other in one run, on this machine; prints messages per
# CPU-second for each and their ratio.
#
#   perf/compare-kamailio.sh [--json] [--count N] [--rate R] [--kind invite|mix] [--size B]
#                            [--io af_packet|memif] [--memif-mode zero-copy|copy] [--huge]
#                            [--repeat N]
#
# --repeat N: N runs one after the other (each a Kamailio phase then a viaduct phase, in a lab
# of its own), then one line: the medians of the runs' messages per CPU-second and ratios, their
# spread (min, max) and every run. A run whose viaduct worker was off its CPU for more than a
# tenth of its busy time is counted in `loaded_runs` (its number measured the machine's load;
# see viaduct_worker_off_cpu_seconds below); the medians are over every run that gave a result,
# and `quiet_ratio_median` over the others alone. A run that fails is counted and left out.
#
# Lab (tests/e2e/lib.sh): a generator namespace (viaduct-gen send), the load balancer namespace
# and three backend namespaces (viaduct-gen reflect: a sink for `invite`, a backend that answers
# for `mix`). Both dispatchers run the same routing script and dispatcher.list (hash over the
# Call-ID, forward()). Kamailio 5.6 (Debian package): one UDP worker (children=1), udp4_raw on,
# no tm. viaduct: one worker lcore on net_af_packet (--io af_packet, the default).
#
# --io memif: DPDK owns viaduct's I/O, with no kernel on its path, as a NIC bound to DPDK would
# give it. viaduct's port is a net_memif vdev (shared memory); viaduct-memif-peer
# (perf/memif_peer.cpp) sends the same INVITEs (viaduct-gen's text, same size,
# unique Call-IDs, the generator's address as source, the listen address as destination) at the
# same rate and counts what comes back per backend IP (their MACs: neighbours.static). Only
# `--kind invite`. --memif-mode copy (the default): viaduct is role=server and copies every
# frame in from and out to the shared memory itself (a memcpy where a NIC would DMA), on its
# counted CPU. --memif-mode zero-copy: viaduct is role=client,zero-copy=yes
# and the peer role=server: the peer writes each INVITE into an mbuf of viaduct's and reads
# each forward from viaduct's mbuf, as a NIC's DMA would, and its CPU is not counted (it is
# the NIC). Not the default: 2 of 17 zero-copy runs ended without a result (perf/RESULTS.md,
# (A12) "viaduct's cost per message over memif"), and it measured no better than copy here.
# --huge (--io memif, copy mode): viaduct's EAL memory on 2 MiB hugepages (--in-memory), as it
# runs in production, instead of --no-huge's 4 KiB pages; needs 128 free hugepages (reserve them
# first: echo 256 > /proc/sys/vm/nr_hugepages). "viaduct_memory" in the JSON says which.
# Kamailio's phase is unchanged: its kernel socket I/O is part of what it costs
# in production, where viaduct's NIC costs no syscall.
#
# CPU-seconds: Kamailio's from its processes' accounting (utime + stime of every kamailio
# process, /proc/PID/stat, 10 ms ticks). viaduct polls at 100%, so its CPU-seconds are the TSC
# time its worker spent on non-empty bursts (viaduct_worker_busy_seconds_total). Neither counts
# the kernel's softirq work to deliver the frames (veth, bridge), which lands on whatever runs.
# A burst whose RX call lasted 50 us or more (the worker was descheduled inside it, and the
# frames queued meanwhile made the burst non-empty) counts from the call's end
# (viaduct_worker_rx_stalls_total counts them); a preemption elsewhere in a burst still counts
# as busy: viaduct_worker_off_cpu_seconds is the wall time of the phase minus the worker
# threads' run time (/proc/.../schedstat); when it is not small next to viaduct_cpu_seconds,
# the run measured the machine's load, not viaduct. VD_COMPARE_NICE=-20
# runs both dispatchers (every viaduct thread, every kamailio process) and the traffic sources
# at that nice value, and the script's scheduler autogroup too (with autogroups, a nice value
# only weighs inside its session): other work on a shared machine then rarely preempts them.
# Default 0: no change.
# Messages: what the load balancer forwarded, counted where it arrived (the backends' requests
# plus, for `mix`, the replies the generator got back).
#
# Needs root (namespaces), kamailio, and a build (BUILD, default build). Bounded: every phase
# has a time limit.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
JSON=0
COUNT=100000
RATE=20000
KIND=invite
SIZE=900
IO=af_packet
MEMIF_MODE=copy
HUGE=0
REPEAT=1
one_run_args=()
while [ $# -gt 0 ]; do
    # What one run of a --repeat gets: every option but --repeat.
    case $1 in
        --repeat) REPEAT=${2:-}; shift; shift || true; continue ;;
        --count|--rate|--kind|--size|--io|--memif-mode) one_run_args+=("$1" "${2:-}") ;;
        *) one_run_args+=("$1") ;;
    esac
    case $1 in
        --json) JSON=1 ;;
        --huge) HUGE=1 ;;
        --count) COUNT=$2; shift ;;
        --rate) RATE=$2; shift ;;
        --kind) KIND=$2; shift ;;
        --size) SIZE=$2; shift ;;
        --io) IO=$2; shift ;;
        --memif-mode) MEMIF_MODE=$2; shift ;;
        *) echo "usage: $0 [--json] [--count N] [--rate R] [--kind invite|mix] [--size B]" \
                "[--io af_packet|memif] [--memif-mode zero-copy|copy] [--huge] [--repeat N]" >&2
           exit 2 ;;
    esac
    shift
done
case $REPEAT in
    ''|*[!0-9]*|0) echo "compare-kamailio: --repeat takes a count of 1 or more" >&2; exit 2 ;;
esac
if [ "$REPEAT" -gt 1 ]; then
    runs=$(mktemp)
    trap 'rm -f "$runs"' EXIT
    failed=0
    for i in $(seq 1 "$REPEAT"); do
        echo "compare-kamailio: run $i of $REPEAT" >&2
        line=$("$0" "${one_run_args[@]}" --json | tail -n 1) || line=""
        case $line in
            '{'*) echo "$line" >> "$runs" ;;
            *) failed=$((failed + 1)); echo "compare-kamailio: run $i gave no result" >&2 ;;
        esac
    done
    python3 - "$runs" "$failed" "$JSON" <<'PY'
import json, statistics, sys
runs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
failed, as_json = int(sys.argv[2]), sys.argv[3] == "1"
if not runs:
    print("compare-kamailio: no run gave a result", file=sys.stderr)
    sys.exit(1)
def med(key, rs):
    vals = [r[key] for r in rs if r.get(key) is not None]
    return round(statistics.median(vals), 2) if vals else None
def loaded(r):
    return r["viaduct_worker_off_cpu_seconds"] > 0.1 * r["viaduct_cpu_seconds"]
quiet = [r for r in runs if not loaded(r)]
ratios = [r["ratio"] for r in runs if r.get("ratio") is not None]
out = {k: runs[0][k] for k in ("io", "memif_mode", "viaduct_memory", "kind", "count", "rate")}
out.update({"runs": len(runs), "failed_runs": failed,
            "loaded_runs": len(runs) - len(quiet),
            "kamailio_msgs_per_cpu_second": med("kamailio_msgs_per_cpu_second", runs),
            "viaduct_msgs_per_cpu_second": med("viaduct_msgs_per_cpu_second", runs),
            "ratio": med("ratio", runs),
            "ratio_min": min(ratios) if ratios else None,
            "ratio_max": max(ratios) if ratios else None,
            "quiet_ratio_median": med("ratio", quiet),
            "per_run": runs})
if as_json:
    print(json.dumps(out))
else:
    print(f"{len(runs)} runs ({failed} failed, {out['loaded_runs']} loaded): "
          f"Kamailio median {out['kamailio_msgs_per_cpu_second']:,.0f} msgs/CPU-s   viaduct "
          f"median {out['viaduct_msgs_per_cpu_second']:,.0f} msgs/CPU-s   ratio median "
          f"{out['ratio']} ({out['ratio_min']}-{out['ratio_max']}), quiet runs' median "
          f"{out['quiet_ratio_median']}")
PY
    exit
fi
case $IO in
    af_packet) ;;
    memif) [ "$KIND" = invite ] || { echo "compare-kamailio: --io memif takes --kind invite only" >&2; exit 2; } ;;
    *) echo "compare-kamailio: --io af_packet|memif" >&2; exit 2 ;;
esac
case $MEMIF_MODE in
    zero-copy|copy) ;;
    *) echo "compare-kamailio: --memif-mode zero-copy|copy" >&2; exit 2 ;;
esac
if [ "$HUGE" = 1 ]; then
    [ "$IO" = memif ] && [ "$MEMIF_MODE" = copy ] ||
        { echo "compare-kamailio: --huge takes --io memif (copy mode)" >&2; exit 2; }
    free_huge=$(awk '/^HugePages_Free:/ {print $2}' /proc/meminfo)
    [ "${free_huge:-0}" -ge 128 ] ||
        { echo "compare-kamailio: --huge needs 128 free hugepages, $free_huge free" \
               "(echo 256 > /proc/sys/vm/nr_hugepages)" >&2; exit 2; }
    export LAB_HUGE=1
fi
GEN=$BUILD/tools/viaduct-gen
VIADUCT=$BUILD/tools/viaduct
PEER=$BUILD/perf/viaduct-memif-peer
tools_needed=("$GEN" "$VIADUCT")
[ "$IO" = memif ] && tools_needed+=("$PEER")
for f in "${tools_needed[@]}"; do
    [ -x "$f" ] || { echo "compare-kamailio: $f missing (build first)" >&2; exit 2; }
done
command -v kamailio > /dev/null || { echo "compare-kamailio: kamailio missing" >&2; exit 2; }

NICE=${VD_COMPARE_NICE:-0}
LAB_NET=${LAB_NET:-79}
LAB_METRICS_PORT=${LAB_METRICS_PORT:-9479}
# shellcheck source=tests/e2e/lib.sh
. tests/e2e/lib.sh
lab_workdir vd-compare
if [ "$NICE" != 0 ] && [ -w /proc/$$/autogroup ]; then
    autogroup_nice=$(sed -n 's/.* nice //p' /proc/$$/autogroup)
    echo "$NICE" > /proc/$$/autogroup
    lab_cleanup_more() { echo "$autogroup_nice" > /proc/$$/autogroup 2>/dev/null || true; }
fi
lab_up > /dev/null 2>&1
lab_write_config "$work"
cat > "$work/viaduct.cfg" <<CFG
#!KAMAILIO
# Stateless dispatcher, the same for Kamailio and viaduct.
listen=udp:${LAB_LB_IP}:5060
children=1
udp4_raw=1
debug=0
log_stderror=yes

loadmodule "sl.so"
loadmodule "maxfwd.so"
loadmodule "dispatcher.so"

modparam("dispatcher", "list_file", "$work/dispatcher.list")

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

log() { [ "$JSON" = 1 ] || echo "$*"; }
reflect_mode=sink
[ "$KIND" = mix ] && reflect_mode=answer

start_backends() {
    local tag=$1 i
    for i in 0 1 2; do
        ip netns exec "${LAB_BACKENDS[$i]}" nice -n "$NICE" timeout 300 "$GEN" reflect \
            --bind "${LAB_B_IPS[$i]}:5060" --mode "$reflect_mode" --json \
            > "$work/$tag.b$i.json" 2> "$work/$tag.b$i.err" &
        LAB_PIDS+=("$!")
        eval "BPID$i=$!"
    done
    sleep 0.5
}
stop_backends() {
    kill "$BPID0" "$BPID1" "$BPID2" 2>/dev/null || true
    wait "$BPID0" "$BPID1" "$BPID2" 2>/dev/null || true
}
backend_requests() {  # total requests the three backends received
    local tag=$1
    python3 - "$work/$tag".b*.json <<'PY'
import json, sys
n = 0
for f in sys.argv[1:]:
    try:
        d = json.load(open(f))
    except Exception:
        continue
    n += sum(d.get("requests", {}).values())
print(n)
PY
}
run_gen() {
    local tag=$1
    ip netns exec "$LAB_C" nice -n "$NICE" timeout 300 "$GEN" send --target "${LAB_LB_IP}:5060" \
        --bind "${LAB_C_IP}:5060" --kind "$KIND" --count "$COUNT" --rate "$RATE" \
        --size "$SIZE" --linger 1 --json > "$work/$tag.gen.json"
}
gen_field() { python3 -c "import json,sys; print(json.load(open(sys.argv[1])).get(sys.argv[2], 0))" "$1" "$2"; }
# Messages the load balancer forwarded: requests at the backends, plus replies back at the
# generator (mix only: a sink sends none).
forwarded() {
    local tag=$1 req rep=0
    req=$(backend_requests "$tag")
    if [ "$KIND" = mix ]; then
        rep=$(gen_field "$work/$tag.gen.json" replies)
    fi
    echo $((req + rep))
}
kam_cpu_ticks() {
    local t=0 pid
    for pid in $(ip netns pids "$LAB_LB"); do
        if [ -r "/proc/$pid/stat" ] && grep -q kamailio "/proc/$pid/comm" 2>/dev/null; then
            t=$((t + $(awk '{print $14 + $15}' "/proc/$pid/stat")))
        fi
    done
    echo "$t"
}

# ---- Kamailio ------------------------------------------------------------------------------
log "== Kamailio $(kamailio -v | head -1 | awk '{print $3}'): $COUNT $KIND at $RATE/s"
ip -n "$LAB_LB" addr add "${LAB_LB_IP}/24" dev eth0
start_backends kam
ip netns exec "$LAB_LB" nice -n "$NICE" kamailio -f "$work/viaduct.cfg" -DD -E -w "$work" -P "$work/kam.pid" \
    > "$work/kamailio.log" 2>&1 &
KAM_PID=$!
LAB_PIDS+=("$KAM_PID")
for _ in $(seq 1 50); do
    ip netns exec "$LAB_LB" ss -uln 2>/dev/null | grep -q "${LAB_LB_IP}:5060" && break
    sleep 0.1
done
sleep 0.5
k0=$(kam_cpu_ticks)
run_gen kam
k1=$(kam_cpu_ticks)
kill "$KAM_PID" 2>/dev/null || true
wait "$KAM_PID" 2>/dev/null || true
stop_backends
ip -n "$LAB_LB" addr flush dev eth0
kam_fwd=$(forwarded kam)
hz=$(getconf CLK_TCK)
kam_cpu=$(python3 -c "print(($k1 - $k0) / $hz)")
log "   forwarded $kam_fwd messages, CPU ${kam_cpu} s"

# ---- viaduct -------------------------------------------------------------------------------
busy_raw() {
    local text i
    # Two zero-copy runs ended without a result after the peer had finished (cause not found):
    # a failed read is retried and said.
    for i in 1 2 3; do
        text=$(lab_metrics) && break
        echo "compare-kamailio: /metrics did not answer (try $i)" >&2
        sleep 0.5
    done
    [ -n "$text" ] || return 1
    echo "$text" | awk '$1 ~ /^viaduct_worker_busy_seconds_total/ { s += $2 } END { printf "%.9f\n", s }'
}
# Nanoseconds the worker threads (rte-worker-N) have run, and the wall clock, to subtract.
worker_run_ns() {
    local t n=0
    for t in /proc/"$LAB_VIADUCT_PID"/task/*; do
        if grep -q '^rte-worker' "$t/comm" 2>/dev/null; then
            n=$((n + $(cut -d' ' -f1 "$t/schedstat")))
        fi
    done
    echo "$n"
}
off_cpu_mark() { echo "$(date +%s%N) $(worker_run_ns)"; }
renice_viaduct() {
    [ "$NICE" = 0 ] && return 0
    local t
    for t in /proc/"$LAB_VIADUCT_PID"/task/*; do
        renice -n "$NICE" -p "${t##*/}" > /dev/null
    done
}
if [ "$IO" = af_packet ]; then
    log "== viaduct on net_af_packet: the same traffic"
    lab_start_viaduct "$VIADUCT" "$work"
    renice_viaduct
    # Warm-up, not counted: resolves the backends' MACs (the backends are not listening yet).
    ip netns exec "$LAB_C" timeout 30 "$GEN" send --target "${LAB_LB_IP}:5060" \
        --bind "${LAB_C_IP}:5060" --kind options --count 200 --rate 2000 --linger 0.2 > /dev/null
    start_backends vd
    v0=$(busy_raw)
    m0=$(off_cpu_mark)
    run_gen vd
    m1=$(off_cpu_mark)
    v1=$(busy_raw)
    stop_backends
    kill "$LAB_VIADUCT_PID" 2>/dev/null || true
    wait "$LAB_VIADUCT_PID" 2>/dev/null || true
    vd_fwd=$(forwarded vd)
else
    log "== viaduct on net_memif ($MEMIF_MODE, no kernel on its path): the same INVITEs"
    lab_write_memif_settings "$work" "$work/memif.sock" "$MEMIF_MODE"
    # The worker polls on CPU 1 (--lcores 0-1); the peer runs on CPU 0.
    # shellcheck disable=SC2207
    peer_args=(--socket "$work/memif.sock" --src "${LAB_C_IP}:5060" --target "${LAB_LB_IP}:5060"
               --lb-mac "$LAB_MEMIF_LB_MAC" $(lab_memif_peer_backends) --count "$COUNT"
               --rate "$RATE" --size "$SIZE" --duration 240 --linger 1 --lcore 0 --json)
    # The counters' start values, read once viaduct is up and before the first INVITE.
    read_start() {
        renice_viaduct
        v0=$(busy_raw)
        m0=$(off_cpu_mark)
    }
    if ! lab_run_memif_peer "$MEMIF_MODE" "$VIADUCT" "$work" "$work/vd.peer.json" \
            "$work/vd.peer.err" read_start nice -n "$NICE" timeout 300 "$PEER" "${peer_args[@]}"; then
        ok=0  # keeps $work (lab_cleanup)
        echo "compare-kamailio: viaduct-memif-peer failed" >&2
        tail -5 "$work/vd.peer.err" "$work/viaduct.log" >&2
        exit 1
    fi
    m1=$(off_cpu_mark)
    v1=$(busy_raw)
    kill "$LAB_VIADUCT_PID" 2>/dev/null || true
    wait "$LAB_VIADUCT_PID" 2>/dev/null || true
    lab_stop_memif_peer "$work" || echo "compare-kamailio: viaduct-memif-peer exited non-zero" >&2
    vd_fwd=$(gen_field "$work/vd.peer.json" received)
fi
vd_cpu=$(python3 -c "print($v1 - $v0)")
read -r w0 r0 <<< "$m0"
read -r w1 r1 <<< "$m1"
vd_off=$(python3 -c "print(max(0.0, (($w1 - $w0) - ($r1 - $r0)) / 1e9))")
log "   forwarded $vd_fwd messages, CPU ${vd_cpu} s (worker off its CPU ${vd_off} s)"

mode=none
[ "$IO" = memif ] && mode=$MEMIF_MODE
python3 - "$COUNT" "$RATE" "$KIND" "$kam_fwd" "$kam_cpu" "$vd_fwd" "$vd_cpu" "$JSON" "$IO" "$vd_off" \
    "$mode" "$HUGE" <<'PY'
import json, sys
count, rate, kind = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
io, off, memif_mode = sys.argv[9], float(sys.argv[10]), sys.argv[11]
kf, kc, vf, vc = int(sys.argv[4]), float(sys.argv[5]), int(sys.argv[6]), float(sys.argv[7])
k = kf / kc if kc > 0 else 0.0
v = vf / vc if vc > 0 else 0.0
memory = "hugepages" if sys.argv[12] == "1" else "4k"
out = {"io": io, "memif_mode": memif_mode, "viaduct_memory": memory, "kind": kind,
       "count": count, "rate": rate,
       "kamailio_forwarded": kf, "kamailio_cpu_seconds": round(kc, 3),
       "kamailio_msgs_per_cpu_second": round(k, 1),
       "viaduct_forwarded": vf, "viaduct_cpu_seconds": round(vc, 6),
       "viaduct_msgs_per_cpu_second": round(v, 1),
       "viaduct_worker_off_cpu_seconds": round(off, 6),
       "ratio": round(v / k, 2) if k > 0 else None}
if sys.argv[8] == "1":
    print(json.dumps(out))
else:
    print(f"Kamailio: {k:,.0f} msgs/CPU-s   viaduct ({io}): {v:,.0f} msgs/CPU-s   "
          f"ratio: {out['ratio']}")
PY
