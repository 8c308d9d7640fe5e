#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# perf/bundle_test.sh BUILD: perf/bundle.sh packs BUILD's programs; each loads every library
# but glibc's from the bundle; and, once install.sh has put the drivers and Kamailio in place
# (in a mount namespace of its own, over empty folders: nothing of this machine's DPDK or
# Kamailio is seen or touched), the bundled pipeline bench forwards frames, the bundled
# Kamailio and ip run. Needs root (mount namespace).
set -euo pipefail
build=$(realpath "$1")
root=$(cd "$(dirname "$0")/.." && pwd)
# The EAL refuses a driver with a world-writable folder anywhere on its path (/tmp, say): the
# bundle goes in the first of these folders with none on theirs (the build folder may be in a
# clone under /tmp). 77: skipped (meson), where none is.
insecure_path() {
    local d=$1
    while [ "$d" != / ]; do
        [ -n "$(find "$d" -maxdepth 0 -perm -o+w 2>/dev/null)" ] && return 0
        d=$(dirname "$d")
    done
    return 1
}
work=""
for base in "$build" /run /root /var/lib; do
    if [ -d "$base" ] && [ -w "$base" ] && ! insecure_path "$base"; then
        work=$(mktemp -d "$base/vd-bundle-test.XXXXXX")
        break
    fi
done
[ -n "$work" ] || { echo "skip: no folder without a world-writable parent to bundle into"; exit 77; }
trap 'rm -rf "$work"' EXIT
b=$work/b
fail=0
check() {  # check WHAT COMMAND...
    local what=$1
    shift
    if "$@"; then echo "ok   - $what"; else echo "FAIL - $what"; fail=1; fi
}

"$root/perf/bundle.sh" "$b" "$build:" > /dev/null
for p in viaduct viaduct-gen viaduct-memif-peer viaduct-pipeline-bench \
         viaduct-pipeline-microbench; do
    check "$p is bundled, with its wrapper" test -x "$b/bin/$p" -a -x "$b/build/$(
        case $p in viaduct|viaduct-gen) echo tools ;; *) echo perf ;; esac)/$p"
done
# What each binary and library loads: from the bundle, or glibc's own.
outside=$(for f in "$b"/bin/* "$b"/lib/*.so*; do
              LD_LIBRARY_PATH="$b/lib" ldd "$f" 2>/dev/null |
                  awk -v lib="$b/lib/" '$2 == "=>" && index($3, lib) != 1 {print $1}'
          done | grep -Ev '^(libc|libm|libpthread|libdl|librt)\.so' | sort -u || true)
check "nothing but glibc loaded from outside the bundle (${outside:-none})" test -z "$outside"
check "the DPDK drivers are in the bundle" test -f "$b/lib/librte_net_memif.so.23" \
    -a -f "$b/lib/librte_mempool_ring.so.23"

multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || echo x86_64-linux-gnu)
pmd_dir=$(find "/usr/lib/$multiarch/dpdk" -maxdepth 1 -name 'pmds-*' | head -n 1)
kam_dir=/usr/lib/$multiarch/kamailio
: > "$work/kamailio.bin"
chmod 755 "$work/kamailio.bin"  # install.sh's cp keeps the mode of the file it writes over
# In a mount namespace: empty folders over DPDK's plugin folder and Kamailio's, a file of ours
# over /usr/sbin/kamailio; install.sh fills them; the bundle runs from them.
# First an install.sh in a world-writable folder: it must refuse, before it changes anything.
unshare -m bash -euo pipefail -c '
    mount -t tmpfs none "$1"
    if [ -d "$2" ]; then mount -t tmpfs none "$2"; fi
    if [ -e /usr/sbin/kamailio ]; then mount --bind "$3/kamailio.bin" /usr/sbin/kamailio; fi
    mkdir -m 777 "$3/ww"
    cp "$4/install.sh" "$3/ww/"
    if sh "$3/ww/install.sh" 2> "$3/ww.err"; then echo accepted; else echo refused; fi > "$3/ww.txt"
    ls "$1" > "$3/ww.pmds.txt"
    sh "$4/install.sh"
    ls "$1" > "$3/pmds.txt"
    "$4/build/perf/viaduct-pipeline-bench" --cases invite --seconds 0.2 --json \
        > "$3/bench.json" 2> "$3/bench.err" || true
    if [ -e /usr/sbin/kamailio ]; then /usr/sbin/kamailio -v > "$3/kam.txt" 2>&1 || true; fi
    PATH="$4/iproute2/wrap:$PATH" ip -V > "$3/ip.txt" 2>&1 || true
' _ "$pmd_dir" "$kam_dir" "$work" "$b"
check "install.sh refuses a world-writable folder on its path ($(cat "$work/ww.err"))" \
    grep -qx refused "$work/ww.txt"
check "and changes nothing then" test ! -s "$work/ww.pmds.txt"
check "install.sh linked the drivers as NAME.so ($(tr '\n' ' ' < "$work/pmds.txt"))" \
    grep -qx 'librte_net_ring.so' "$work/pmds.txt"
processed=$(python3 -c 'import json,sys
lines=[l for l in open(sys.argv[1]) if l.startswith("{")]
print(json.loads(lines[-1])["cases"][0]["processed"] if lines else 0)' "$work/bench.json")
check "the bundled pipeline bench forwarded frames ($processed)" test "$processed" -gt 0
[ "$processed" -gt 0 ] || cat "$work/bench.err"
if command -v kamailio > /dev/null; then
    check "the bundled Kamailio runs ($(head -n 1 "$work/kam.txt"))" \
        grep -q '^version: kamailio' "$work/kam.txt"
fi
check "the bundled ip runs ($(cat "$work/ip.txt"))" grep -q '^ip utility' "$work/ip.txt"
exit "$fail"
