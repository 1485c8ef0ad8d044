#!/bin/bash
# The series applies to the newest linux-source-6.12 Debian offers.
#
# Debian's security updates move the 6.12 SUBLEVEL every few weeks; this
# says when our base has fallen behind and whether the series still
# applies to the new one:
#   newest_linux_source  the installed linux-source-6.12 is apt's candidate
#                        (apt-get update first when root; no network is a
#                        FAIL, with the reason).  scripts/setup.sh installs
#                        a newer candidate, before make tree; this only
#                        checks.
#   series_applies       patches/series applies with `git am --3way` to the
#                        installed tarball.  Cheap when build/linux already
#                        shows it: its base has the tarball's kernel version,
#                        tree.sh's stamp says the tree was made from this
#                        tarball and series, and base..rmrr are exactly the
#                        series' patches (count and patch-ids).  Otherwise
#                        the tarball is extracted into a scratch git tree
#                        (as tree.sh does) and the series applied there.
# build/linux is only read.
#
#   LINUX_TARBALL=<tarball>  PATCHES=<dir with series>  check other inputs
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
pkg=linux-source-6.12
tarball=${LINUX_TARBALL:-/usr/src/$pkg.tar.xz}
patches=${PATCHES:-$top/patches}
tree=$top/build/linux
fail=0

installed() { dpkg-query -W -f='${Version}' "$pkg" 2>/dev/null || true; }
candidate() { LC_ALL=C apt-cache policy "$pkg" | awk '/Candidate:/{print $2}'; }
# VERSION.PATCHLEVEL.SUBLEVEL of a Makefile on stdin (tree.sh's kernel_version)
kernel_version() { awk '/^VERSION =/{v=$3} /^PATCHLEVEL =/{p=$3} /^SUBLEVEL =/{s=$3} END{print v"."p"."s}'; }

# -- newest_linux_source
why=
if [ "$(id -u)" -eq 0 ]; then
	# apt-get update exits 0 when a repository cannot be reached: look
	# for the warnings too.
	if ! upd=$(LC_ALL=C apt-get update -qq 2>&1) ||
		grep -qE '^(E:|W: (Failed to fetch|Some index files failed))' <<<"$upd"; then
		why="apt-get update failed (no network?):"$'\n'"$upd"
	fi
fi
have=$(installed)
want=$(candidate)
if [ -z "$why" ] && [ -n "$want" ] && [ "$want" != "(none)" ] &&
	dpkg --compare-versions "$want" gt "${have:-0}"; then
	# make setup (scripts/setup.sh) takes the newer one before make tree.
	why="Debian offers $want, installed is ${have:-none}: run 'make setup', then 'make tree'"
fi
if [ -z "$why" ] && { [ -z "$want" ] || [ "$want" = "(none)" ]; }; then
	why="apt knows no candidate for $pkg"
fi
if [ -z "$why" ] && [ "$have" != "$want" ]; then
	why="installed ${have:-none}, candidate $want"
fi
if [ -n "$why" ]; then
	echo "FAIL newest_linux_source ${have:-none}"; printf '%s\n' "$why" | sed 's/^/    /'; fail=1
else
	echo "ok   newest_linux_source $have"
fi

# -- series_applies
if [ ! -r "$tarball" ]; then
	echo "FAIL series_applies"; echo "    $tarball missing: run 'make setup'"; exit 1
fi
src="$pkg $have"
[ "$tarball" = "/usr/src/$pkg.tar.xz" ] || src=$tarball
kver=$(tar --occurrence=1 -xJOf "$tarball" "$pkg/Makefile" | kernel_version)
mapfile -t series < <(grep -vE '^(#|$)' "$patches/series")
pids() { git patch-id --stable | cut -d' ' -f1 | sort; }

# build/linux already shows it?
how=
if [ -d "$tree/.git" ] &&
	[ "$(git -C "$tree" show base:Makefile 2>/dev/null | kernel_version)" = "$kver" ] &&
	[ "$(git -C "$tree" rev-list --count base..rmrr 2>/dev/null)" = "${#series[@]}" ] &&
	# made from this tarball and series (tree.sh's stamp)
	LINUX_TARBALL=$tarball PATCHES=$patches "$top/scripts/tree.sh" fresh &&
	[ "$(git -C "$tree" format-patch --stdout base..rmrr | pids)" = \
	  "$(cd "$patches" && cat -- "${series[@]}" </dev/null | pids)" ]; then
	how="build/linux: base is the tarball, rmrr is the series"
else
	# A scratch tree made as make tree makes build/linux.
	scratch=$(mktemp -d "${TMPDIR:-/tmp}/check-base.XXXXXX")
	trap 'rm -rf "$scratch"' EXIT
	if ! res=$(LINUX_TARBALL=$tarball PATCHES=$patches \
		nice -n 19 "$top/scripts/tree.sh" try "$scratch/linux" 2>&1); then
		echo "FAIL series_applies $kver ($src)"
		printf '%s\n' "$res" | grep -v '^  AM ' | sed 's/^/    /'
		exit 1
	fi
	how="scratch git am of ${#series[@]} patches"
fi
echo "ok   series_applies $kver ($src; $how)"
exit $fail
