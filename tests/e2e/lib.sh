#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# tests/e2e/lib.sh: a small lab of network namespaces joined by a bridge, for end-to-end runs of
# viaduct with sipp peers. Sourced by the e2e tests and by tools/demo.sh.
#
#   vd<id>sw  : bridge br0, one port per host below
#   vd<id>lb  : eth0, no kernel address: viaduct owns 10.77.<n>.2 on it through net_af_packet
#   vd<id>c   : eth0 10.77.<n>.10 (sipp UAC)
#   vd<id>b1-3: eth0 10.77.<n>.11-13 (sipp UAS backends)
#
# Every name carries a per-run id and everything is removed by lab_down, which the callers run
# from an EXIT trap, so a failing test leaves nothing behind.
set -euo pipefail

LAB_ID=${LAB_ID:-$(( $$ % 100000 ))}
LAB_NET=${LAB_NET:-77}
LAB_PFX="vd${LAB_ID}"
LAB_SW="${LAB_PFX}sw"
LAB_LB="${LAB_PFX}lb"
LAB_C="${LAB_PFX}c"
LAB_BACKENDS=("${LAB_PFX}b1" "${LAB_PFX}b2" "${LAB_PFX}b3")
LAB_SUBNET="10.${LAB_NET}.0"
LAB_LB_IP="${LAB_SUBNET}.2"
LAB_C_IP="${LAB_SUBNET}.10"
LAB_B_IPS=("${LAB_SUBNET}.11" "${LAB_SUBNET}.12" "${LAB_SUBNET}.13")
LAB_PIDS=()

lab_log() { printf '[lab %s] %s\n' "$LAB_ID" "$*" >&2; }

# check DESCRIPTION COMMAND...: runs COMMAND, prints "ok - ..." or "FAIL - ...", and counts into
# the callers' `passes` and `failures`.
passes=0
failures=0
check() {
    local what=$1
    shift
    if "$@"; then
        echo "ok   - $what"
        passes=$((passes + 1))
    else
        echo "FAIL - $what"
        failures=$((failures + 1))
    fi
}

# lab_require [TOOL]...: what every e2e test needs first: root for the namespaces (else SKIP,
# exit 77: meson counts it skipped) and each tool the test runs (else FAIL).
lab_require() {
    if [ "$(id -u)" != 0 ]; then
        echo "SKIP: needs root for network namespaces"
        exit 77
    fi
    local tool
    for tool in "$@"; do
        command -v "$tool" > /dev/null || { echo "FAIL: $tool is not installed"; exit 1; }
    done
}

# lab_workdir NAME: `work`, a fresh /tmp/NAME.XXXXXX for the test's files, and the exit trap
# that takes the lab down and removes it, unless the test failed (a check counted in
# `failures`, or `ok` set and not 1 for the tests that count that way): then the logs stay and
# their place is printed. A test with more to stop defines lab_cleanup_more, run first.
lab_workdir() {
    work=$(mktemp -d "/tmp/$1.XXXXXX")
    trap lab_cleanup EXIT
}
lab_cleanup() {
    if declare -F lab_cleanup_more > /dev/null; then
        lab_cleanup_more
    fi
    lab_down
    if [ "${failures:-0}" = 0 ] && [ "${ok:-1}" = 1 ]; then
        rm -rf "$work"
    else
        echo "logs kept in $work"
    fi
}

# lab_wire NS [IFACE]: the interface sends frames as a wire carries them: TX checksum offload,
# TSO and GSO off (through SIOCETHTOOL: no ethtool binary needed). A socket's datagram over veth
# otherwise leaves with its UDP/TCP checksum unfinished (CHECKSUM_PARTIAL: the field holds the
# pseudo-header sum only) and as 64 KB super-frames; DPDK 22.11's net_af_packet does not look at
# TP_STATUS_CSUMNOTREADY, so viaduct, which verifies received checksums, would drop every such
# datagram as udp_bad_checksum.
lab_wire() {
    local ns=$1 dev=${2:-eth0}
    ip netns exec "$ns" python3 - "$dev" <<'PY'
import ctypes, fcntl, socket, struct, sys
SIOCETHTOOL = 0x8946
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
def ethtool(cmd, value=0):  # struct ethtool_value
    ev = ctypes.create_string_buffer(struct.pack("II", cmd, value))
    ifr = struct.pack("16sP", sys.argv[1].encode(), ctypes.addressof(ev)).ljust(40, b"\0")
    fcntl.ioctl(s.fileno(), SIOCETHTOOL, ifr)
    return struct.unpack("II", ev.raw[:8])[1]
for set_cmd in (0x1f, 0x24, 0x17):  # ETHTOOL_STSO, ETHTOOL_SGSO, ETHTOOL_STXCSUM
    ethtool(set_cmd, 0)
assert [ethtool(c) for c in (0x1e, 0x23, 0x16)] == [0, 0, 0], "offloads still on"
PY
}

# lab_host NS [IP/24]: a namespace wired to the bridge, sending full checksums (lab_wire).
lab_host() {
    local ns=$1 addr=${2:-}
    local a="${ns}a" b="${ns}b"
    ip netns add "$ns"
    ip link add "$a" type veth peer name "$b"
    ip link set "$a" netns "$ns"
    ip link set "$b" netns "$LAB_SW"
    ip -n "$LAB_SW" link set "$b" master br0 up
    ip -n "$ns" link set "$a" name eth0
    ip -n "$ns" link set lo up
    ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 || true
    ip -n "$ns" link set eth0 up
    lab_wire "$ns"
    if [ -n "$addr" ]; then
        ip -n "$ns" addr add "$addr" dev eth0
    fi
}

lab_up() {
    lab_log "creating namespaces"
    ip netns add "$LAB_SW"
    ip -n "$LAB_SW" link add br0 type bridge
    ip -n "$LAB_SW" link set br0 up
    ip netns exec "$LAB_SW" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 || true
    lab_host "$LAB_LB"
    lab_host "$LAB_C" "${LAB_C_IP}/24"
    local i
    for i in 0 1 2; do
        lab_host "${LAB_BACKENDS[$i]}" "${LAB_B_IPS[$i]}/24"
    done
}

lab_down() {
    local p
    for p in "${LAB_PIDS[@]}"; do
        kill "$p" 2>/dev/null || true
    done
    sleep 0.5
    for p in "${LAB_PIDS[@]}"; do
        kill -9 "$p" 2>/dev/null || true
    done
    local ns
    for ns in "$LAB_C" "${LAB_BACKENDS[@]}" "$LAB_LB" "$LAB_SW"; do
        ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
        ip netns del "$ns" 2>/dev/null || true
    done
}

# lab_write_config DIR: routing script, dispatcher list and settings for the lab.
lab_write_config() {
    local dir=$1
    cat > "$dir/viaduct.cfg" <<CFG
#!KAMAILIO
# viaduct lab: a stateless dispatcher in front of three SIP servers.
#!define DS_SET 1
#!ifndef DS_ALG
#!define DS_ALG 0
#!endif

listen=udp:${LAB_LB_IP}:5060
children=2

loadmodule "sl.so"
loadmodule "textops.so"
loadmodule "maxfwd.so"
loadmodule "dispatcher.so"

modparam("dispatcher", "list_file", "dispatcher.list")

request_route {
    if (!mf_process_maxfwd_header("10")) {
        sl_send_reply("483", "Too Many Hops");
        exit;
    }
    if (is_method("OPTIONS") && uri == myself) {
        sl_send_reply("200", "Keepalive");
        exit;
    }
    route(DISPATCH);
}

route[DISPATCH] {
    if (!ds_select_dst(DS_SET, DS_ALG)) {
        sl_send_reply("503", "Service Unavailable");
        exit;
    }
    forward();
    exit;
}
CFG
    {
        echo "# setid destination flags priority attributes"
        local ip
        for ip in "${LAB_B_IPS[@]}"; do
            echo "1 sip:${ip}:5060 0 0"
        done
    } > "$dir/dispatcher.list"
    cat > "$dir/viaduct.toml" <<TOML
[dpdk]
eal_args = ["--no-huge", "-m", "256", "--no-pci", "--no-shconf", "--log-level=lib.eal:error",
            "--vdev=net_af_packet0,iface=eth0${LAB_AFP_ARGS:-}", "--lcores", "${LAB_LCORES:-0-1}"]
mbufs = 4095
${LAB_DPDK_EXTRA:-}

[[interface]]
port = "net_af_packet0"
address = "${LAB_LB_IP}/24"

[metrics]
listen = "127.0.0.1:${LAB_METRICS_PORT:-9464}"
TOML
}

# lab_write_memif_settings DIR SOCKET [copy|zero-copy]: DIR/viaduct.toml with a DPDK net_memif
# port instead of net_af_packet (control socket SOCKET as a file): no kernel on viaduct's path.
# copy (the default): viaduct is role=server and copies every frame in and out of the shared
# memory; perf/memif_peer.cpp is the client (--role client, started after viaduct). zero-copy:
# viaduct is role=client,zero-copy=yes; the peer is the server (--role server, started first).
# The backends' MACs are static (the peer answers no ARP). LAB_HUGE=1 (copy mode): viaduct's
# EAL memory on hugepages (--in-memory; 128 free 2 MiB pages needed), as in production.
LAB_MEMIF_LB_MAC=02:00:00:00:00:02
LAB_MEMIF_B_MACS=(02:00:00:00:00:11 02:00:00:00:00:12 02:00:00:00:00:13)
lab_write_memif_settings() {
    local dir=$1 sock=$2 mode=${3:-copy} vdev mbufs=4095 eal_extra=""
    local eal_mem='"--no-huge", "-m", "256", "--no-shconf",'
    vdev="role=server,socket=${sock},socket-abstract=no,rsize=12"
    # Zero-copy shares viaduct's memory with the peer as one --no-huge memfd: 4 KiB pages there.
    [ "${LAB_HUGE:-0}" = 1 ] && [ "$mode" = copy ] && eal_mem='"--in-memory", "-m", "256",'
    if [ "$mode" = zero-copy ]; then
        # viaduct is the client and shares its own mbuf memory (EAL --no-huge memory is a memfd):
        # the peer (role=server) writes received frames into viaduct's mbufs and reads the sent
        # ones from them, as a NIC's DMA would. The RX ring holds 2048 posted mbufs and the TX
        # ring up to 2048 sent ones until the peer has read them: a larger pool.
        vdev="role=client,zero-copy=yes,socket=${sock},socket-abstract=no,rsize=11"
        eal_extra='"--single-file-segments", '
        mbufs=8191
    fi
    cat > "$dir/viaduct.toml" <<TOML
[dpdk]
eal_args = [${eal_mem} "--no-pci", "--log-level=lib.eal:error", ${eal_extra}
            "--vdev=net_memif0,${vdev},mac=${LAB_MEMIF_LB_MAC}",
            "--lcores", "${LAB_LCORES:-0-1}"]
mbufs = ${mbufs}

[[interface]]
port = "net_memif0"
address = "${LAB_LB_IP}/24"

[neighbours]
static = [ { address = "${LAB_B_IPS[0]}", mac = "${LAB_MEMIF_B_MACS[0]}" },
           { address = "${LAB_B_IPS[1]}", mac = "${LAB_MEMIF_B_MACS[1]}" },
           { address = "${LAB_B_IPS[2]}", mac = "${LAB_MEMIF_B_MACS[2]}" } ]

[metrics]
listen = "127.0.0.1:${LAB_METRICS_PORT:-9464}"
TOML
}
# lab_wait_socket PATH: waits (up to 10 s) for a unix socket (a memif server's) to appear.
lab_wait_socket() {
    local i
    for i in $(seq 1 200); do
        [ -S "$1" ] && return 0
        sleep 0.05
    done
    echo "lab: no socket $1 after 10 s" >&2
    return 1
}
# lab_run_memif_peer MODE VIADUCT WORK OUT ERR BEFORE_GO PEER_CMD...: viaduct (WORK's settings,
# from lab_write_memif_settings with WORK/memif.sock) and the memif peer (PEER_CMD: the peer with
# its arguments, after any timeout/nice prefix), started in the order MODE needs; BEFORE_GO (a
# command run in this shell: the caller reads its counters) runs once viaduct is up and before
# the first INVITE. Waits until the peer has printed its counters (stdout in OUT, stderr in
# ERR); returns 0 when it has. copy: viaduct serves the socket, the peer (client) starts after
# it. zero-copy: the peer serves the socket and is started first, and sends once WORK/go exists.
# In both, the peer keeps the link up after printing its counters until lab_stop_memif_peer,
# which the caller runs after stopping viaduct: with DPDK 22.11's memif driver, the end that
# sees the other leave unmaps the shared rings from its interrupt thread under its polling
# worker, which can crash it (a SIGSEGV inside the PMD's RX: seen with viaduct as zero-copy
# client, and in CI with viaduct as server in copy mode; README, Operations).
LAB_MEMIF_PEER_PID=
lab_run_memif_peer() {
    local mode=$1 bin=$2 work=$3 out=$4 err=$5 before=$6
    shift 6
    rm -f "$work/go" "$work/release"
    if [ "$mode" = zero-copy ]; then
        ip netns exec "$LAB_LB" "$@" --role server --go "$work/go" --hold "$work/release" \
            --link-timeout 60 > "$out" 2> "$err" &
        LAB_MEMIF_PEER_PID=$!
        LAB_PIDS+=("$LAB_MEMIF_PEER_PID")
        lab_wait_socket "$work/memif.sock" || true
        lab_start_viaduct "$bin" "$work"
        $before
        touch "$work/go"
    else
        lab_start_viaduct "$bin" "$work"
        $before
        ip netns exec "$LAB_LB" "$@" --hold "$work/release" > "$out" 2> "$err" &
        LAB_MEMIF_PEER_PID=$!
        LAB_PIDS+=("$LAB_MEMIF_PEER_PID")
    fi
    # Until the peer has printed its counters (or has exited).
    while kill -0 "$LAB_MEMIF_PEER_PID" 2>/dev/null && ! grep -q '^{.*}$' "$out"; do
        sleep 0.05
    done
    grep -q '^{.*}$' "$out" && return 0
    lab_stop_memif_peer "$work"
    return 1
}
# lab_stop_memif_peer WORK: lets the holding peer go and waits for it; its status (0
# when there is none).
lab_stop_memif_peer() {
    [ -n "$LAB_MEMIF_PEER_PID" ] || return 0
    local pid=$LAB_MEMIF_PEER_PID
    LAB_MEMIF_PEER_PID=
    touch "$1/release"
    wait "$pid"
}
# lab_memif_peer_backends: the peer's --backend arguments for the three backends.
lab_memif_peer_backends() {
    local i
    for i in 0 1 2; do
        printf -- '--backend %s=%s ' "${LAB_B_IPS[$i]}" "${LAB_MEMIF_B_MACS[$i]}"
    done
}

# lab_start_viaduct BIN DIR: runs viaduct in the lb namespace; waits for /metrics.
lab_start_viaduct() {
    local bin=$1 dir=$2
    ip netns exec "$LAB_LB" "$bin" -f "$dir/viaduct.cfg" -s "$dir/viaduct.toml" \
        > "$dir/viaduct.log" 2>&1 &
    LAB_VIADUCT_PID=$!
    LAB_PIDS+=("$LAB_VIADUCT_PID")
    local i
    for i in $(seq 1 100); do
        if lab_metrics > /dev/null 2>&1; then
            return 0
        fi
        if ! kill -0 "$LAB_VIADUCT_PID" 2>/dev/null; then
            lab_log "viaduct exited early:"
            cat "$dir/viaduct.log" >&2
            return 1
        fi
        sleep 0.1
    done
    lab_log "viaduct did not serve /metrics in 10 s"
    cat "$dir/viaduct.log" >&2
    return 1
}

lab_metrics() {
    ip netns exec "$LAB_LB" curl -sf --max-time 2 "http://127.0.0.1:${LAB_METRICS_PORT:-9464}/metrics"
}

# lab_metric TEXT NAME [LABEL-FILTER]: sum of the samples of NAME whose labels contain FILTER.
lab_metric() {
    local text=$1 name=$2 filter=${3:-}
    awk -v n="$name" -v f="$filter" '
        $0 !~ /^#/ {
            split($1, a, "{")
            if (a[1] == n && (f == "" || index($1, f) > 0)) { s += $2 }
        }
        END { printf "%d\n", s }' <<< "$text"
}

# lab_metric_now NAME [FILTER]: lab_metric over a scrape taken now.
lab_metric_now() { lab_metric "$(lab_metrics)" "$@"; }

# lab_rpc JSON [PATH]: one JSON-RPC request to viaduct's management API over HTTP
# (127.0.0.1:MGMT_PORT in viaduct's namespace, PATH /RPC unless given); prints the reply.
lab_rpc() {
    ip netns exec "$LAB_LB" curl -s --max-time 10 -H 'Content-Type: application/json' \
        -d "$1" "http://127.0.0.1:${MGMT_PORT}${2:-/RPC}"
}

# lab_json_field FILE KEY: KEY of the JSON object on FILE's last line (viaduct-gen --json).
lab_json_field() {
    python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])[sys.argv[2]])' "$1" "$2"
}

# lab_start_uas DIR: one sipp UAS per backend, logging every message.
lab_start_uas() {
    local dir=$1 i
    for i in 0 1 2; do
        ip netns exec "${LAB_BACKENDS[$i]}" sipp -sn uas -i "${LAB_B_IPS[$i]}" -p 5060 \
            -nostdin -trace_msg -message_file "$dir/uas$((i + 1)).msg" \
            > "$dir/uas$((i + 1)).out" 2>&1 &
        LAB_PIDS+=("$!")
    done
    sleep 0.5
}

# lab_run_uac DIR CALLS RATE: sipp UAC through viaduct; returns sipp's exit code.
lab_run_uac() {
    local dir=$1 calls=$2 rate=$3
    local rc=0
    ip netns exec "$LAB_C" timeout 120 sipp -sn uac "${LAB_LB_IP}:5060" -i "$LAB_C_IP" -p 5060 \
        -m "$calls" -r "$rate" -nostdin -timeout 90 -timeout_error \
        -trace_msg -message_file "$dir/uac.msg" -trace_stat -stf "$dir/uac.csv" \
        > "$dir/uac.out" 2>&1 || rc=$?
    return $rc
}

# Counts in a sipp -trace_msg log: requests received (method REQ), and distinct Call-IDs.
sipp_count_received() {
    local file=$1 what=$2
    awk -v w="$what" '
        /message received/ { rx = 1; next }
        /message sent/ { rx = 0; next }
        rx && w == "requests" && /^[A-Z]+ sip:[^ ]+ SIP\/2\.0/ { c++; rx = 0 }
        rx && w == "replies" && /^SIP\/2\.0 [0-9]+/ { c++; rx = 0 }
        END { printf "%d\n", c }' "$file"
}
sipp_count_sent() {
    local file=$1 what=$2
    awk -v w="$what" '
        /message sent/ { tx = 1; next }
        /message received/ { tx = 0; next }
        tx && w == "requests" && /^[A-Z]+ sip:[^ ]+ SIP\/2\.0/ { c++; tx = 0 }
        tx && w == "replies" && /^SIP\/2\.0 [0-9]+/ { c++; tx = 0 }
        END { printf "%d\n", c }' "$file"
}
sipp_call_ids() {
    grep -i '^Call-ID:' "$1" | awk '{print $2}' | sort -u | wc -l
}
