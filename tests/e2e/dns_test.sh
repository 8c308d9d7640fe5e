#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# End to end: a host name in dispatcher.list is resolved when the list is loaded (start-up and
# reload), never when a snapshot is published, with viaduct in the namespace lab. The name
# comes from the lab's own hosts file: `ip netns exec` mounts
# /etc/netns/<namespace>/hosts over /etc/hosts, and resolv.conf points at an address with no
# server, so nothing leaves the lab.
#   1. sbc.lab -> b1: INVITEs reach b1.
#   2. the hosts file now says sbc.lab -> b2; destinations of another set change state through
#      the API (each change publishes a snapshot): INVITEs still reach b1, nothing asked DNS.
#   3. dispatcher.reload: the name is resolved again, INVITEs reach b2.
#   4. a list with a name that does not resolve: the reload fails with the list's file:line,
#      is counted, and b2 keeps getting the INVITEs.
#   usage: dns_test.sh VIADUCT_BINARY VIADUCT_GEN_BINARY
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=$(realpath "$1")
gen=$(realpath "$2")
MGMT_PORT=${MGMT_PORT:-5068}
COUNT=${COUNT:-50}

export LAB_NET=${LAB_NET:-88}
export LAB_METRICS_PORT=${LAB_METRICS_PORT:-9488}
source "$here/lib.sh"
lab_require curl ip python3
failures=0
passes=0
lab_workdir viaduct-dns
NETNS_ETC="/etc/netns/$LAB_LB"
lab_cleanup_more() { rm -rf "$NETNS_ETC"; rmdir /etc/netns 2> /dev/null || true; }

# Written in place (not replaced): the bind mount holds the file, not its name.
set_hosts() { printf '127.0.0.1 localhost\n%s sbc.lab\n' "$1" > "$NETNS_ETC/hosts"; }

declare -a SINK_PID
start_sinks() {  # start_sinks ROUND
    local i
    for i in 0 1; do
        ip netns exec "${LAB_BACKENDS[$i]}" "$gen" reflect --bind "${LAB_B_IPS[$i]}:5060" \
            --mode sink --json > "$work/sink$1-$i.json" 2> "$work/sink$1-$i.err" &
        SINK_PID[$i]=$!
        LAB_PIDS+=("$!")
    done
    sleep 0.3
}
# send_round ROUND: COUNT INVITEs through viaduct; prints what b1 and b2 received.
send_round() {
    start_sinks "$1"
    ip netns exec "$LAB_C" timeout 60 "$gen" send --target "${LAB_LB_IP}:5060" \
        --bind "${LAB_C_IP}:5060" --kind invite --size 400 --count "$COUNT" --rate 200 \
        --linger 1 --json > "$work/send$1.json" 2> "$work/send$1.err" || true
    sleep 0.3
    local i
    for i in 0 1; do
        kill -TERM "${SINK_PID[$i]}" 2> /dev/null || true
        wait "${SINK_PID[$i]}" 2> /dev/null || true
    done
    echo "$(lab_json_field "$work/sink$1-0.json" received) $(lab_json_field "$work/sink$1-1.json" received)"
}

mkdir -p "$NETNS_ETC"
echo "nameserver 127.0.0.53" > "$NETNS_ETC/resolv.conf"  # nothing listens there in the lab
set_hosts "${LAB_B_IPS[0]}"
lab_up
lab_write_config "$work"
# Set 1 (the script's): the name only. Set 2: the API changes its state (a publication each).
printf '1 sip:sbc.lab:5060 0 0\n2 sip:%s:5060 0 0\n' "${LAB_B_IPS[2]}" > "$work/dispatcher.list"
cat >> "$work/viaduct.toml" <<TOML

[management]
listen = "127.0.0.1:${MGMT_PORT}"
TOML
lab_start_viaduct "$bin" "$work"

read -r b1 b2 < <(send_round 1)
check "sbc.lab resolved at start-up: b1 got the INVITEs ($b1 and $b2 of $COUNT)" \
    test "$b1" = "$COUNT" -a "$b2" = 0

set_hosts "${LAB_B_IPS[1]}"
gen0=$(lab_metric_now viaduct_snapshot_generation)
for state in i a i a; do
    lab_rpc "{\"jsonrpc\":\"2.0\",\"method\":\"dispatcher.set_state\",\"params\":[\"$state\",2,\"sip:${LAB_B_IPS[2]}:5060\"],\"id\":1}" > /dev/null
done
sleep 0.2
gen1=$(lab_metric_now viaduct_snapshot_generation)
check "the API's state changes published snapshots (generation $gen0 -> $gen1)" \
    test "$gen1" -ge $((gen0 + 4))
read -r b1 b2 < <(send_round 2)
check "publications do not resolve again: b1 still gets them ($b1 and $b2 of $COUNT)" \
    test "$b1" = "$COUNT" -a "$b2" = 0

lab_rpc '{"jsonrpc":"2.0","method":"dispatcher.reload","id":2}' > "$work/reload.json"
sleep 0.2
read -r b1 b2 < <(send_round 3)
check "dispatcher.reload resolves the name again: b2 gets them ($b1 and $b2 of $COUNT)" \
    test "$b1" = 0 -a "$b2" = "$COUNT"

fails0=$(lab_metric_now viaduct_config_reload_failures_total)
printf '1 sip:sbc.lab:5060 0 0\n1 sip:nowhere.lab:5060 0 0\n' > "$work/dispatcher.list"
reply=$(lab_rpc '{"jsonrpc":"2.0","method":"dispatcher.reload","id":3}')
sleep 0.2
check "a name that does not resolve fails the reload (reply: $reply)" \
    grep -q '"error"' <<< "$reply"
check "the failure is counted" \
    test "$(lab_metric_now viaduct_config_reload_failures_total)" = $((fails0 + 1))
check "the log names the list's line" \
    grep -q "dispatcher.list:2:1: error: destination sip:nowhere.lab:5060: cannot resolve host 'nowhere.lab' to IPv4" \
    "$work/viaduct.log"
read -r b1 b2 < <(send_round 4)
check "the running list keeps serving: b2 gets them ($b1 and $b2 of $COUNT)" \
    test "$b1" = 0 -a "$b2" = "$COUNT"

echo "passes=$passes failures=$failures"
[ "$failures" = 0 ]
