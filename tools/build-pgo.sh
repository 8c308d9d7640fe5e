#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# tools/build-pgo.sh: viaduct built with GCC's profile-guided optimisation in ./build-pgo
# (PGO_BUILD), the build to run in production and to measure speed with (perf/RESULTS.md).
#   1. an instrumented build (-Db_pgo=generate) of the training programs;
#   2. training, on the per-packet paths a SIP edge runs: viaduct-pipeline-bench (the real
#      worker loop over net_ring, the stateless-dispatcher script) on a call's 7 messages
#      (INVITE, 100, 180, 200, ACK, BYE, 200: requests forwarded, replies back) and OPTIONS
#      keepalives answered locally; viaduct-vm-bench (a front-end script: sanity_check, a
#      User-Agent regex, a method switch, ds_select_dst); viaduct-sip-scan-bench (the scanner on
#      requests and replies of several shapes);
#   3. the optimised build (-Db_pgo=use) of the targets named (default: all).
# GCC lays out and inlines by the counts: what training ran becomes faster (the INVITE ~7-8%),
# and `-fprofile-partial-training` keeps a function training never ran as a build without
# profile would make it (a branch never taken inside a trained function is still treated as
# cold: a script or message shape far from the training's may run slower than ./build's; see
# perf/RESULTS.md, session 14). Needs 2 CPUs (the pipeline bench's worker and generator). Installs
# packages like tools/bootstrap.sh, needs root for that. Usage: tools/build-pgo.sh [ninja target...]
set -euo pipefail
cd "$(dirname "$0")/.."
VD_BOOTSTRAP_BUILD=0 tools/bootstrap.sh
DIR=${PGO_BUILD:-build-pgo}
TRAIN=(perf/viaduct-pipeline-bench perf/viaduct-vm-bench perf/viaduct-sip-scan-bench)

# No -Werror here (./build has it): with the profile, GCC 12 inlines more and raises false
# positives in third-party headers (-Wuse-after-free in GoogleTest's parameter generators).
if [ ! -f "$DIR/build.ninja" ]; then
    meson setup "$DIR" -Dwerror=false -Db_pgo=generate
else
    meson configure "$DIR" -Dwerror=false -Db_pgo=generate -Dcpp_args=
fi
# Counts from an earlier training or from other sources would be merged into the new ones.
find "$DIR" -name '*.gcda' -delete
ninja -C "$DIR" "${TRAIN[@]}"

t0=$SECONDS
"$DIR/perf/viaduct-pipeline-bench" --cases mix,options --seconds 0.5 >"$DIR/pgo-train.log" 2>&1
"$DIR/perf/viaduct-vm-bench" --benchmark_min_time=0.1 >>"$DIR/pgo-train.log" 2>&1
"$DIR/perf/viaduct-sip-scan-bench" --benchmark_min_time=0.05 >>"$DIR/pgo-train.log" 2>&1
n=$(find "$DIR" -name '*.gcda' | wc -l)
echo "build-pgo: training took $((SECONDS - t0)) s, $n profiles"
[ "$n" -gt 0 ] || { echo "build-pgo: training wrote no profile" >&2; exit 1; }

# -Wno-missing-profile: objects training never ran (the daemon's main, the tests) have none.
meson configure "$DIR" -Db_pgo=use -Dcpp_args="-fprofile-partial-training -Wno-missing-profile"
# The training programs are always rebuilt: none is left instrumented in the tree.
if [ "$#" -gt 0 ]; then
    ninja -C "$DIR" "${TRAIN[@]}" "$@"
else
    ninja -C "$DIR"
fi
echo "build-pgo: done, $DIR"
