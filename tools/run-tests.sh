#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# tools/run-tests.sh: installs dependencies, builds, runs the whole test suite (unit, golden and
# end-to-end tests, the latter in network namespaces: run as root).
set -euo pipefail
cd "$(dirname "$0")/.."
tools/bootstrap.sh
BUILD=${BUILD:-build}
rc=0
meson test -C "$BUILD" --print-errorlogs --num-processes 2 "$@" || rc=$?
# One plain closing line for whoever reads only the end of the log.
python3 - "$BUILD/meson-logs/testlog.json" <<'PY' || true
import json, sys
ok = bad = skip = 0
for line in open(sys.argv[1]):
    r = json.loads(line).get("result")
    if r == "OK": ok += 1
    elif r == "SKIP": skip += 1
    else: bad += 1
print(f"{ok} passed, {bad} failed, {skip} skipped")
PY
exit $rc
