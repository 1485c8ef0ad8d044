#!/bin/bash
# Install what the workbench needs, from Debian's package archive only.
# Idempotent: installs only what is missing (a newer linux-source-6.12
# only with WB_UPDATE_BASE=1, see below).
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
	python3-sphinx			# check-docs.sh: the kernel's Sphinx setup (brings docutils, alabaster)
)

SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive

missing=()
for p in "${PACKAGES[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

# The base kernel is the installed linux-source-6.12: a test run depends
# only on the commit and the machine, never on what Debian published since.
# Taking a newer one (a security update moves the SUBLEVEL) is a deliberate
# step: `make update-base` (WB_UPDATE_BASE=1 here, then make tree), after
# `make check-base` has said whether the series still applies to it.
if [ "${WB_UPDATE_BASE:-0}" = 1 ] && { [ -z "$SUDO" ] || sudo -n true 2>/dev/null; }; then
	if $SUDO apt-get update -qq 2>/dev/null; then
		have=$(dpkg-query -W -f='${Version}' linux-source-6.12 2>/dev/null || true)
		want=$(LC_ALL=C apt-cache policy linux-source-6.12 | awk '/Candidate:/{print $2}')
		if [ -n "$have" ] && [ -n "$want" ] && [ "$want" != "(none)" ] &&
			dpkg --compare-versions "$want" gt "$have"; then
			missing+=(linux-source-6.12)
		fi
	fi
fi

if [ ${#missing[@]} -eq 0 ]; then
	exit 0
fi
echo "setup: installing ${missing[*]}"
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "setup: done"
