#!/bin/bash
# Debian packages of the patched kernel, through the kernel's bindeb-pkg.
#
#   deb.sh host   Debian's amd64 config (package linux-config-6.12) plus
#                 configs/host.config: the kernel to install on a real host
#   deb.sh test   configs/test.config plus configs/deb-test.config: the
#                 same packaging path in minutes, checked (CI)
#
# The packages land in build/deb-KIND/.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
src=$top/build/linux
kind=${1:-host}
obj=$top/build/obj-deb-$kind
dest=$top/build/deb-$kind
export CCACHE_BASEDIR=$top
jobs=${JOBS:-$(nproc)}

case "$kind" in
host)
	debconf=/usr/src/linux-config-6.12/config.amd64_none_amd64.xz
	[ -r "$debconf" ] || { echo "deb.sh: $debconf missing: make setup" >&2; exit 1; }
	mkdir -p "$obj"
	xzcat "$debconf" > "$obj/.config.debian"
	"$src"/scripts/kconfig/merge_config.sh -m -O "$obj" "$obj/.config.debian" \
		"$top/configs/host.config" >/dev/null
	make -s -C "$src" O="$obj" olddefconfig >/dev/null
	;;
test)
	# Configured (and checked) like the test kernel.
	"$top/scripts/build-kernel.sh" "$obj" "$top/configs/test.config" \
		"$top/configs/deb-test.config" >/dev/null
	;;
*)
	echo "usage: deb.sh host|test" >&2; exit 2 ;;
esac

start=$(date +%s)
make -s -C "$src" O="$obj" -j"$jobs" CC="ccache gcc" HOSTCC="ccache gcc" \
	KBUILD_BUILD_USER=wb KBUILD_BUILD_HOST=wb LOCALVERSION=-rmrr \
	KDEB_PKGVERSION="$(make -s -C "$src" kernelversion)-rmrr1" bindeb-pkg >/dev/null
rm -rf "$dest"
mkdir -p "$dest"
mv "$obj"/../linux-*.deb "$obj"/../linux-upstream_*.buildinfo "$obj"/../linux-upstream_*.changes \
	"$dest"/ 2>/dev/null || true
echo "deb.sh: $kind packages in ${dest#$top/} after $(( $(date +%s) - start )) s:"
ls -1 "$dest"/*.deb | sed "s|$top/|  |"

image=$(ls "$dest"/linux-image-*.deb | grep -v -- -dbg_ | head -1)
[ -n "$image" ] || { echo "deb.sh: no linux-image package" >&2; exit 1; }
info=$(dpkg-deb --info "$image")
contents=$(dpkg-deb --contents "$image")
fail=0
check() {
	if eval "$2"; then echo "ok   $1"; else echo "FAIL $1"; fail=1; fi
}
check "package name linux-image-*-rmrr" 'grep -q "Package: linux-image-.*-rmrr" <<<"$info"'
check "architecture amd64" 'grep -q "Architecture: amd64" <<<"$info"'
check "contains /boot/vmlinuz" 'grep -q "\./boot/vmlinuz-.*-rmrr" <<<"$contents"'
check "contains /boot/config" 'grep -q "\./boot/config-.*-rmrr" <<<"$contents"'
if grep -q '^CONFIG_MODULES=y' "$obj/.config"; then
	check "contains modules" 'grep -q "\./lib/modules/.*-rmrr/.*\.ko" <<<"$contents"'
else
	echo "SKIP contains modules: CONFIG_MODULES is off in this config"
fi
check "config has the series (IOMMU_DIRECT_ASSIGN_PRESERVE known)" \
	'grep -q "IOMMU_DIRECT_ASSIGN_PRESERVE" "$obj/.config"'
exit $fail
