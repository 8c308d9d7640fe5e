#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# tests/tools/cli_usage_test.sh: the command lines' exit statuses as the README gives them
# (0 --help, 2 a usage error), and viaduct-gen's numbers checked before they are used (a
# negative --count wrapped to 2^64 - 5 and sent until killed).
#   usage: cli_usage_test.sh VIADUCT VIADUCT_GEN
set -uo pipefail
viaduct=$1
gen=$2
failures=0
passes=0
expect_rc() {
    local want=$1 name=$2
    shift 2
    local rc=0
    timeout 10 "$@" > /dev/null 2>&1 || rc=$?
    if [ "$rc" = "$want" ]; then
        passes=$((passes + 1))
    else
        echo "FAIL: $name: exit status $rc, want $want ($*)"
        failures=$((failures + 1))
    fi
}
expect_rc 0 "viaduct --help" "$viaduct" --help
expect_rc 2 "viaduct without -f" "$viaduct"
expect_rc 2 "viaduct with an unknown option" "$viaduct" -f x.cfg --bogus
expect_rc 2 "viaduct -s without its value" "$viaduct" -f x.cfg -s
expect_rc 2 "viaduct-gen send --count -5" \
    "$gen" send --target 127.0.0.1:9 --bind 127.0.0.1:0 --count -5 --rate 1000
expect_rc 2 "viaduct-gen send --rate -1" \
    "$gen" send --target 127.0.0.1:9 --bind 127.0.0.1:0 --count 1 --rate -1
expect_rc 2 "viaduct-gen reflect --duration -3" "$gen" reflect --bind 127.0.0.1:0 --duration -3
echo "$passes passed, $failures failed"
[ "$failures" = 0 ]
