#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# tools/run-tests.sh: installs dependencies, builds, runs the whole test suite (unit, golden and
# end-to-end tests, the latter in network namespaces: run as root). Then three more stages: the
# unit suites (sip, cfg, dataplane, golden, control) again under ASan + UBSan in ./build-asan,
# and each fuzz target (the SIP scanner, the SIP rewriter, the whole per-packet path, the
# management API's JSON-RPC layer, the configuration front end) for VD_FUZZ_SECONDS
# (30) from a copy of its seed corpus, built with clang in ./build-fuzz; last the per-packet
# suites again on the production build (tools/build-pgo.sh, ./build-pgo). Arguments go to the
# main `meson test`. VD_SANITIZE=0 / VD_FUZZ=0 / VD_PGO=0 skip a stage.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/bootstrap.sh
BUILD=${BUILD:-build}
ASAN_BUILD=${ASAN_BUILD:-build-asan}
FUZZ_BUILD=${FUZZ_BUILD:-build-fuzz}
FUZZ_SECONDS=${VD_FUZZ_SECONDS:-30}
rc=0
t0=$SECONDS
meson test -C "$BUILD" --print-errorlogs --num-processes 2 "$@" || rc=$?
echo "run-tests: stage main: $((SECONDS - t0)) s"

# The tests of build directory $1 in the suites named after it whose executable is built there
# (not a script): "target name" lines, the target relative to the build directory.
suite_tests() {
    local build=$1
    shift
    meson introspect "$build" --tests | python3 -c '
import json, os, sys
build = os.path.abspath(sys.argv[1])
suites = {"viaduct:" + s for s in sys.argv[2:]}
for t in json.load(sys.stdin):
    exe = t["cmd"][0]
    if suites & set(t["suite"]) and exe.startswith(build + os.sep):
        print(os.path.relpath(exe, build), t["name"])
' "$build" "$@"
}

# ASan + UBSan. Only the gtest binaries of the unit suites that see untrusted bytes: the parsers
# (sip, cfg), the per-packet path (dataplane, and golden with its mutated frames), the management
# API (control: JSON-RPC requests from the network, the HTTP servers); they run EAL
# with --no-huge, whose memory is plain mmap, so the sanitizers see it. Tests that run a script
# around a DPDK-linked daemon stay out. Only those test binaries are built.
asan_broken=0
asan_tests=()
sanitize_stage() {
    if [ ! -f "$ASAN_BUILD/build.ninja" ]; then
        meson setup "$ASAN_BUILD" -Dwerror=true -Dbuildtype=debug \
            -Db_sanitize=address,undefined -Db_lundef=false \
            -Dcpp_args=-fno-sanitize-recover=undefined || return 1
    fi
    local list targets=()
    list=$(suite_tests "$ASAN_BUILD" sip cfg dataplane golden control) || return 1
    [ -n "$list" ] || return 1  # an empty list would make meson test run everything
    while read -r target name; do
        targets+=("$target")
        asan_tests+=("$name")
    done <<<"$list"
    ninja -C "$ASAN_BUILD" "${targets[@]}" || return 1
}
if [ "${VD_SANITIZE:-1}" != 0 ]; then
    t0=$SECONDS
    rm -f "$ASAN_BUILD/meson-logs/testlog.json"
    if sanitize_stage; then
        meson test -C "$ASAN_BUILD" --no-rebuild --print-errorlogs --num-processes 2 \
            "${asan_tests[@]}" || rc=1
    else
        echo "run-tests: the asan+ubsan build failed" >&2
        asan_broken=1
        rc=1
    fi
    echo "run-tests: stage asan+ubsan: $((SECONDS - t0)) s"
fi

# Bounded fuzzing: clang + libFuzzer + ASan/UBSan. Only the fuzz targets are built (and the
# libraries pipeline_fuzz links, instrumented; DPDK itself is the Debian package's). Each run starts from a scratch copy of the seed corpus, so new
# inputs never land in the source tree; a crash input is kept in $FUZZ_BUILD/fuzz-artifacts/.
fuzz_ok=0
fuzz_bad=0
# target (relative to the build directory), its seed corpus and its dictionary
FUZZ_TARGETS=(tests/sip/sip_scan_fuzz:tests/sip/corpus:tests/sip/sip.dict
              tests/sip/sip_rewrite_fuzz:tests/sip/corpus:tests/sip/sip.dict
              tests/golden/pipeline_fuzz:tests/golden/corpus:tests/sip/sip.dict
              tests/control/rpc_fuzz:tests/control/rpc_corpus:tests/control/rpc.dict
              tests/cfg/cfg_fuzz:tests/cfg/fuzz_corpus:tests/cfg/cfg.dict)
fuzz_build() {
    if [ ! -f "$FUZZ_BUILD/build.ninja" ]; then
        CXX=clang++-14 CC=clang-14 meson setup "$FUZZ_BUILD" -Dfuzz=true -Dwerror=true || return 1
    fi
    ninja -C "$FUZZ_BUILD" "${FUZZ_TARGETS[@]%%:*}" || return 1
}
if [ "${VD_FUZZ:-1}" != 0 ]; then
    t0=$SECONDS
    if fuzz_build; then
        mkdir -p "$FUZZ_BUILD/fuzz-artifacts"
        for entry in "${FUZZ_TARGETS[@]}"; do
            IFS=: read -r target corpus dict <<< "$entry"
            t=$(basename "$target")
            work=$(mktemp -d)
            cp -r "$corpus/." "$work/"
            log="$FUZZ_BUILD/$t.log"
            if "$FUZZ_BUILD/$target" "$work" -dict="$dict" \
                -max_total_time="$FUZZ_SECONDS" -timeout=5 -rss_limit_mb=2048 \
                -artifact_prefix="$FUZZ_BUILD/fuzz-artifacts/$t-" -print_final_stats=1 \
                >"$log" 2>&1; then
                fuzz_ok=$((fuzz_ok + 1))
                echo "run-tests: $t: $(grep -E '^Done [0-9]+ runs' "$log" || echo done)"
            else
                fuzz_bad=$((fuzz_bad + 1))
                rc=1
                tail -n 40 "$log" >&2
                echo "run-tests: $t FAILED (log $log, input in $FUZZ_BUILD/fuzz-artifacts/)" >&2
            fi
            rm -rf "$work"
        done
    else
        echo "run-tests: the fuzz build failed" >&2
        fuzz_bad=$((fuzz_bad + 1))
        rc=1
    fi
    echo "run-tests: stage fuzz: $((SECONDS - t0)) s"
fi

# The production build (tools/build-pgo.sh: GCC profile-guided optimisation) in ./build-pgo: the
# per-packet unit suites (sip, dataplane, golden) and the pipeline bench's smoke test run again on
# its code, laid out and inlined by the training's counts. Only those targets are built.
PGO_BUILD=${PGO_BUILD:-build-pgo}
pgo_broken=0
if [ "${VD_PGO:-1}" != 0 ]; then
    t0=$SECONDS
    rm -f "$PGO_BUILD/meson-logs/testlog.json"
    pgo_targets=$(suite_tests "$BUILD" sip dataplane golden | cut -d' ' -f1) || pgo_targets=""
    if [ -n "$pgo_targets" ] && PGO_BUILD="$PGO_BUILD" tools/build-pgo.sh $pgo_targets; then
        meson test -C "$PGO_BUILD" --no-rebuild --print-errorlogs --num-processes 2 \
            --suite sip --suite dataplane --suite golden --suite perf || rc=1
    else
        echo "run-tests: the PGO build failed" >&2
        pgo_broken=1
        rc=1
    fi
    echo "run-tests: stage pgo: $((SECONDS - t0)) s"
fi

# One plain closing line for whoever reads only the end of the log: totals over all stages.
python3 - "$BUILD/meson-logs/testlog.json" "$ASAN_BUILD/meson-logs/testlog.json" \
    "$asan_broken" "$fuzz_ok" "$fuzz_bad" "${VD_SANITIZE:-1}" "${VD_FUZZ:-1}" \
    "$PGO_BUILD/meson-logs/testlog.json" "$pgo_broken" "${VD_PGO:-1}" <<'PY' || true
import json, os, sys
def count(path):
    ok = bad = skip = 0
    if os.path.exists(path):
        for line in open(path):
            r = json.loads(line).get("result")
            if r == "OK": ok += 1
            elif r == "SKIP": skip += 1
            else: bad += 1
    return ok, bad, skip
ok, bad, skip = count(sys.argv[1])
a_ok, a_bad, a_skip = count(sys.argv[2]) if sys.argv[6] != "0" else (0, 0, 0)
a_bad += int(sys.argv[3])
f_ok, f_bad = int(sys.argv[4]), int(sys.argv[5])
p_ok, p_bad, p_skip = count(sys.argv[8]) if sys.argv[10] != "0" else (0, 0, 0)
p_bad += int(sys.argv[9])
extra = []
if sys.argv[6] != "0":
    extra.append(f"asan+ubsan: {a_ok} passed, {a_bad} failed")
if sys.argv[7] != "0":
    extra.append(f"fuzz: {f_ok} passed, {f_bad} failed")
if sys.argv[10] != "0":
    extra.append(f"pgo: {p_ok} passed, {p_bad} failed")
print(f"{ok + a_ok + f_ok + p_ok} passed, {bad + a_bad + f_bad + p_bad} failed, "
      f"{skip + a_skip + p_skip} skipped"
      + (f" ({'; '.join(extra)})" if extra else ""))
PY
exit $rc
