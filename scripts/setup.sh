#!/bin/bash
# Install what the workbench needs, from Debian's package archive only.
# Idempotent: does nothing (and needs no root) when everything is there.
set -euo pipefail

PACKAGES=(
	linux-source-6.12		# the base kernel: /usr/src/linux-source-6.12.tar.xz
	qemu-system-x86			# the test machine (TCG, q35, intel-iommu, edu)
	busybox-static			# the guest's userland
	acpica-tools			# iasl: checks every DMAR table we generate
	sparse				# C=2 checks of the series
	gcc make flex bison bc libelf-dev libssl-dev dwarves
	cpio xz-utils gzip ccache git python3 perl kmod rsync
	python3-ply python3-git		# checkpatch.pl's SPDX check
	libc6-dev			# static test binaries
	linux-config-6.12		# make deb: Debian's own kernel config
	dpkg-dev debhelper fakeroot	# bindeb-pkg (debian/rules calls dh_*)
)

missing=()
for p in "${PACKAGES[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
	exit 0
fi
echo "setup: installing ${missing[*]}"
SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "setup: done"
