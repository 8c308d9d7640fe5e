#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Differential test against Kamailio (issue 4): every routing script of data/diff/ x the 20
# messages of data/diff/messages.txt, through Kamailio (Debian package, stateless) and through
# viaduct, in one lab of network namespaces; forwarded requests and local replies must match.
# diff_kamailio.py does the work; this sets up and removes the lab.
#   usage: diff_test.sh VIADUCT_BINARY
#   VD_DIFF_SCRIPTS="01 07": a subset; VD_DIFF_UPDATE=1: rewrite the reviewed Kamailio outcomes.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=$(realpath "$1")

LAB_NET=${LAB_NET:-64}
source "$here/lib.sh"
lab_require kamailio python3 ip ss
ok=0
lab_workdir viaduct-diff

lab_up
# A second client address: scripts tell sources apart ($si, src_ip, is_in_subnet).
ip -n "$LAB_C" addr add "${LAB_SUBNET}.20/24" dev eth0
backends=$(IFS=,; echo "${LAB_BACKENDS[*]}")
rc=0
python3 "$here/diff_kamailio.py" --viaduct "$bin" --data "$here/data/diff" --work "$work" \
    --net "$LAB_NET" --lb "$LAB_LB" --client "$LAB_C" --backends "$backends" \
    --metrics-port 9464 || rc=$?
if [ "$rc" = 0 ]; then ok=1; fi
exit "$rc"
