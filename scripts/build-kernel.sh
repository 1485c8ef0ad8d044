#!/bin/bash
# Configure and build a kernel from build/linux.
#
#   build-kernel.sh OUTDIR FRAGMENT...
#
# The configuration is tinyconfig plus the fragments (merge_config.sh, the
# kernel's own convention).  Every option a fragment sets must survive
# olddefconfig, or the build stops: a silently dropped option would make
# every later test meaningless.  The .config is replaced only when it
# changes, so a rebuild with the same fragments is incremental.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
src=${KSRC:-$top/build/linux}   # KSRC: another tree (make bench builds tag base)
out=$1
shift
mkdir -p "$out"
out=$(cd "$out" && pwd)

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
make -s -C "$src" O="$tmp" tinyconfig >/dev/null
"$src"/scripts/kconfig/merge_config.sh -m -O "$tmp" "$tmp/.config" "$@" >/dev/null
make -s -C "$src" O="$tmp" olddefconfig >/dev/null

# A later fragment overrides an earlier one (configs/compat.config turns
# the test config's VFIO type1 off), so check each option's last setting.
bad=0
declare -A want from
for frag in "$@"; do
	while IFS='=' read -r key val; do
		want[$key]=$val
		from[$key]=$frag
	done < <(grep -E '^CONFIG_[A-Z0-9_]+=' "$frag")
done
for key in "${!want[@]}"; do
	val=${want[$key]}
	got=$(grep -E "^$key=" "$tmp/.config" | cut -d= -f2- || true)
	if [ "$val" = n ]; then
		[ -z "$got" ] && continue
	elif [ "$got" = "$val" ]; then
		continue
	fi
	echo "build-kernel: ${from[$key]} asks for $key=$val, Kconfig gave '${got:-unset}'" >&2
	bad=1
done
[ $bad -eq 0 ] || exit 1

if ! cmp -s "$tmp/.config" "$out/.config"; then
	cp "$tmp/.config" "$out/.config"
	make -s -C "$src" O="$out" olddefconfig >/dev/null
fi

export CCACHE_BASEDIR=$top
jobs=${JOBS:-$(nproc)}
# headers_install gives the selftests this tree's uapi (vfio.h, iommufd.h).
EXTRA_TARGETS=(headers)
make -s -C "$src" O="$out" -j"$jobs" CC="ccache gcc" HOSTCC="ccache gcc" \
	KBUILD_BUILD_USER=wb KBUILD_BUILD_HOST=wb \
	bzImage "${EXTRA_TARGETS[@]}"
