#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# perf/bundle.sh: viaduct's benchmark programs with the libraries they load, in one folder that
# runs on another x86-64 Linux machine with no Debian packages installed (a benchmark machine
# that cannot install them: the device machine of perf/RESULTS.md's multi-core entries).
#
#   perf/bundle.sh OUT [BUILD:PREFIX ...]      e.g. perf/bundle.sh /tmp/b build: build-pgo:pgo-
#   (BUILD relative to the repository root; OUT to the current directory)
#
# OUT/<PREFIX>build/{tools,perf}/NAME: a wrapper per program (the daemon, viaduct-gen, the
#   memif peer, the pipeline benches) that runs the stripped binary in OUT/bin with
#   LD_LIBRARY_PATH=OUT/lib, so that BUILD=OUT/<PREFIX>build perf/compare-kamailio.sh works.
#   The wrapper execs: the process keeps its PID and its name.
# OUT/lib: every library the programs load that is not glibc's own (the target's glibc must be
#   2.36 or newer: Debian 12's), and DPDK's drivers, which the EAL loads as plugins from its
#   plugin folder (install.sh links them there: a link, so a driver that a program also links
#   directly is one object, not two that register twice; named NAME.so, as the EAL loads only
#   NAME.so and NAME.so.<ABI>).
# OUT/kamailio: Kamailio's binary, libsrdb1 and the modules compare-kamailio.sh loads (sl,
#   maxfwd, dispatcher), when Kamailio is installed here.
# OUT/iproute2/wrap: ip and ss, for a target without iproute2 (see below).
# OUT/install.sh: run on the target as root: puts DPDK's plugin folder and Kamailio where the
#   Debian packages put them (those paths must not exist there yet), so that the EAL and
#   `kamailio` find them as they do here. It refuses a bundle with a world-writable folder on
#   its path there (such as /tmp): the EAL would not load its drivers.
set -euo pipefail
[ $# -ge 1 ] || { echo "usage: $0 OUT [BUILD:PREFIX ...]" >&2; exit 2; }
out=$(realpath -m "$1")  # before the cd below: OUT is relative to the caller's directory
shift
[ $# -gt 0 ] || set -- build:
cd "$(dirname "$0")/.."
# OUT is emptied first: only a folder that is empty, absent or an earlier bundle.
if [ -e "$out" ] && [ -n "$(ls -A "$out" 2>/dev/null)" ] && [ ! -f "$out/install.sh" ]; then
    echo "bundle: $out is neither empty nor an earlier bundle; not overwritten" >&2
    exit 2
fi
rm -rf "$out"
mkdir -p "$out/bin" "$out/lib"
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || echo x86_64-linux-gnu)
pmd_dir=$(find "/usr/lib/$multiarch/dpdk" -maxdepth 1 -name 'pmds-*' | head -n 1)
[ -n "$pmd_dir" ] || { echo "bundle: no DPDK plugin folder under /usr/lib/$multiarch/dpdk" >&2; exit 1; }
programs=(tools/viaduct tools/viaduct-gen perf/viaduct-memif-peer perf/viaduct-pipeline-bench
          perf/viaduct-pipeline-microbench)
# The drivers viaduct and its benches use: vdev bus, ring mempools, net_ring/memif/af_packet/null.
pmds=(librte_bus_vdev librte_mempool_ring librte_net_ring librte_net_memif librte_net_af_packet
      librte_net_null)

copy_libs() {  # copy_libs FILE [DIR]: the non-glibc libraries FILE loads, into DIR (OUT/lib)
    local dest=${2:-$out/lib}
    ldd "$1" | awk '$3 ~ /^\// {print $3}' | while read -r lib; do
        case $(basename "$lib") in
            libc.so.*|libm.so.*|libpthread.so.*|libdl.so.*|librt.so.*|libresolv.so.*|ld-linux*)
                continue ;;
        esac
        [ -e "$dest/$(basename "$lib")" ] || cp -L "$lib" "$dest/"
    done
}

for spec in "$@"; do
    build=${spec%%:*}
    prefix=${spec#*:}
    [ "$prefix" != "$spec" ] || prefix=
    for p in "${programs[@]}"; do
        [ -x "$build/$p" ] || { echo "bundle: $build/$p missing (build it first)" >&2; exit 1; }
        name=$(basename "$p")
        strip -o "$out/bin/$prefix$name" "$build/$p"
        copy_libs "$build/$p"
        mkdir -p "$out/${prefix}build/$(dirname "$p")"
        cat > "$out/${prefix}build/$p" <<EOF
#!/bin/sh
b=\$(cd "\$(dirname "\$0")/../.." && pwd)
LD_LIBRARY_PATH="\$b/lib\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}" exec "\$b/bin/$prefix$name" "\$@"
EOF
        chmod +x "$out/${prefix}build/$p"
    done
done
pmd_names=()
for p in "${pmds[@]}"; do
    soname=$(basename "$(readlink -f "$pmd_dir/$p.so")")  # librte_x.so.23.0
    soname=${soname%.*}                                    # librte_x.so.23
    [ -e "$out/lib/$soname" ] || cp -L "$pmd_dir/$p.so" "$out/lib/$soname"
    pmd_names+=("$soname")
    copy_libs "$pmd_dir/$p.so"
done
strip --strip-unneeded "$out"/lib/*.so* 2>/dev/null || true

kam_dir=/usr/lib/$multiarch/kamailio
if command -v kamailio > /dev/null && [ -d "$kam_dir/modules" ]; then
    mkdir -p "$out/kamailio/modules"
    cp "$(command -v kamailio)" "$out/kamailio/"
    cp -L "$kam_dir/libsrdb1.so.1" "$out/kamailio/"
    for m in sl maxfwd dispatcher; do cp "$kam_dir/modules/$m.so" "$out/kamailio/modules/"; done
fi

# iproute2's ip and ss (compare-kamailio.sh's lab needs them), for a target without iproute2:
# put OUT/iproute2/wrap on PATH. Each runs through the target's loader with --library-path, so
# its libraries do not leak to what `ip netns exec` starts.
mkdir -p "$out/iproute2/real" "$out/iproute2/lib" "$out/iproute2/wrap"
for t in ip ss; do
    p=$(command -v "$t") || continue
    cp "$p" "$out/iproute2/real/"
    copy_libs "$p" "$out/iproute2/lib"
    cat > "$out/iproute2/wrap/$t" <<WRAP
#!/bin/sh
b=\$(cd "\$(dirname "\$0")/.." && pwd)
exec /lib64/ld-linux-x86-64.so.2 --library-path "\$b/lib" "\$b/real/$t" "\$@"
WRAP
    chmod +x "$out/iproute2/wrap/$t"
done

cat > "$out/install.sh" <<EOF
#!/bin/sh
# Run as root on the target machine: DPDK's plugin folder and Kamailio at Debian's paths.
set -eu
b=\$(cd "\$(dirname "\$0")" && pwd)
# The EAL refuses a driver with a world-writable folder on its path (/tmp, say): say so here.
d=\$b
while [ "\$d" != / ]; do
    if [ -n "\$(find "\$d" -maxdepth 0 -perm -o+w)" ]; then
        echo "install.sh: \$d is world-writable: the EAL would not load the drivers; move the bundle" >&2
        exit 1
    fi
    d=\$(dirname "\$d")
done
mkdir -p "$pmd_dir"
for p in ${pmd_names[*]}; do ln -sf "\$b/lib/\$p" "$pmd_dir/\${p%.*}"; done
if [ -d "\$b/kamailio" ]; then
    mkdir -p "$kam_dir/modules"
    cp "\$b/kamailio/kamailio" /usr/sbin/kamailio
    cp "\$b/kamailio/libsrdb1.so.1" "$kam_dir/"
    cp "\$b"/kamailio/modules/*.so "$kam_dir/modules/"
fi
EOF
chmod +x "$out/install.sh"
du -sh "$out"
