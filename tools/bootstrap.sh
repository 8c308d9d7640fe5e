#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# tools/bootstrap.sh: installs what viaduct needs from Debian 12 packages and builds it in
# ./build. Idempotent; run as root (apt-get). Used by the two README quick-start commands.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
    # build
    g++ meson ninja-build pkg-config
    # libraries (README "Dependencies" says what each is for)
    libdpdk-dev libhyperscan-dev libtomlplusplus-dev prometheus-cpp-dev libssl-dev
    libgtest-dev libgmock-dev libbenchmark-dev libcli11-dev libxxhash-dev nlohmann-json3-dev
    libcivetweb-dev
    # fuzz targets (tools/run-tests.sh): clang; libFuzzer and the sanitizer runtimes are in
    # libclang-rt-14-dev, which clang-14 only recommends
    clang-14 libclang-rt-14-dev
    # end-to-end tests and the demo
    sip-tester iproute2 curl python3 procps
    # a real Prometheus server scrapes /metrics in a test; promtool lints the exposition
    prometheus kamcli
    # the reference implementation, run side by side in the parity test
    kamailio
)

missing=()
for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "bootstrap: missing packages (${missing[*]}); run as root to install them" >&2
        exit 1
    fi
    echo "bootstrap: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# VD_BOOTSTRAP_BUILD=0: the packages only (tools/build-pgo.sh builds its own tree).
[ "${VD_BOOTSTRAP_BUILD:-1}" != 0 ] || exit 0
BUILD=${BUILD:-build}
if [ ! -f "$BUILD/build.ninja" ]; then
    meson setup "$BUILD" -Dwerror=true
fi
ninja -C "$BUILD"
