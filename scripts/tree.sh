#!/bin/bash
# Kernel tree management: the series in patches/ is the source of truth,
# build/linux is a disposable git tree made from it.
#
#   tree.sh prepare   extract the Debian linux-source-6.12 tarball into
#                     build/linux, commit it as the base, git-am the series
#   tree.sh export    write the commits above the base back to patches/,
#                     as the series patches/parts names (see export_series)
#   tree.sh status    show base version and the applied series
#   tree.sh fresh     exit 0 when build/linux was made from the current
#                     tarball and series (its stamp), 1 otherwise
#   tree.sh try DIR   the same extraction and git am into DIR, a scratch
#                     tree: build/linux and patches/ stay as they are
#                     (scripts/check-base.sh)
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
tarball=${LINUX_TARBALL:-/usr/src/linux-source-6.12.tar.xz}
tree=$top/build/linux
patches=${PATCHES:-$top/patches}
base_file=$patches/BASE
stamp=$top/build/.tree-stamp

die() { echo "tree.sh: $*" >&2; exit 1; }

kernel_version() {
	awk '/^VERSION =/{v=$3} /^PATCHLEVEL =/{p=$3} /^SUBLEVEL =/{s=$3}
	     END{print v"."p"."s}' "$1/Makefile"
}

git_tree() { git -C "$tree" -c user.name=workbench -c user.email=workbench@localhost "$@"; }

# The stamp records what the tree was made from; a changed series or
# tarball means the tree is rebuilt from scratch.
# The patch files patches/series lists, in order ('#' lines name a part).
series_files() {
	[ -f "$patches/series" ] || return 0
	grep -vE '^(#|$)' "$patches/series" | sed "s|^|$patches/|"
}

series_digest() {
	{ stat -c '%s %Y' "$tarball"; cat "$patches/series" $(series_files) 2>/dev/null || true; } |
		sha256sum | cut -d' ' -f1
}

extract_base() {
	[ -r "$tarball" ] || die "$tarball missing: run 'make setup' first"
	local parent
	parent=$(dirname "$tree")
	rm -rf "$tree" "$parent/linux-source-6.12"
	mkdir -p "$parent"
	echo "  EXTRACT $tarball"
	tar -C "$parent" -xJf "$tarball"
	mv "$parent/linux-source-6.12" "$tree"
	# Debian's packaging adds "/*" to the top-level .gitignore, which would
	# hide every new file a patch adds; the base keeps upstream's rules.
	sed -i '/^# Debian packaging: ignore everything/,$d' "$tree/.gitignore"
	sed -i '${/^#$/d}' "$tree/.gitignore"
	git_tree init -q -b debian
	git_tree add -A -f .
	git_tree commit -q -m "Linux $(kernel_version "$tree") (Debian linux-source-6.12)"
	git_tree config user.name "RMRR workbench"
	git_tree config user.email "rmrr-workbench@lists.example.org"
	git_tree tag base
	git_tree checkout -q -b rmrr
}

apply_series() {
	local recorded
	recorded=$(cat "$base_file" 2>/dev/null || true)
	local now
	now=$(kernel_version "$tree")
	if [ -n "$recorded" ] && [ "$recorded" != "$now" ]; then
		echo "tree.sh: NOTE: series was last applied to $recorded, base is now $now"
	fi
	[ -f "$patches/series" ] || return 0
	local p
	while read -r p; do
		case "$p" in ''|'#'*) continue ;; esac
		echo "  AM      $p"
		if ! git_tree am -q --3way "$patches/$p"; then
			git_tree am --abort || true
			die "patch $p does not apply to Linux $now (series last applied to ${recorded:-?})"
		fi
	done < "$patches/series"
}

prepare() {
	local digest
	digest=$(series_digest)
	if [ -d "$tree/.git" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$digest" ]; then
		return 0
	fi
	if [ -d "$tree/.git" ] && [ -n "$(git_tree status --porcelain --untracked-files=no)" ]; then
		die "build/linux has uncommitted edits; commit and 'make export' them, or remove build/linux"
	fi
	if [ -d "$tree/.git" ] && [ -z "${FORCE:-}" ]; then
		# Never throw away commits that are not in patches/ yet.
		local unexported
		unexported=$(comm -23 \
			<(git_tree format-patch --stdout base..HEAD | git patch-id --stable | cut -d' ' -f1 | sort) \
			<({ cat $(series_files) 2>/dev/null || true; } | git patch-id --stable | cut -d' ' -f1 | sort) | grep -c . || true)
		[ "$unexported" -eq 0 ] || die "build/linux has $unexported commit(s) not in patches/: 'make export' first (or FORCE=1)"
	fi
	extract_base
	apply_series
	kernel_version "$tree" > "$base_file"
	series_digest > "$stamp"
}

# patches/PART/0000-cover-letter.patch: patches/PART/cover-letter.in (our
# text, with @BASE@ for the kernel version), then the shortlog, the
# diffstat and the recipients scripts/get_maintainer.pl finds for the
# part's patches.  It is not in the series file: git am never sees it.
cover_letter() {
	local part=$1 from=$2 to=$3 n subject
	shift 3   # the part's patch files follow
	n=$(git_tree rev-list --count "$from..$to")
	subject=$(sed -n 's/^Subject: //p' "$patches/$part/cover-letter.in")
	echo "From: $(git_tree log -1 --format='%an <%ae>' "$to")"
	echo "Subject: [PATCH 0/$n] $subject"
	echo
	sed '1,/^$/d; s/@BASE@/'"$(kernel_version "$tree")"'/' "$patches/$part/cover-letter.in"
	echo
	git_tree shortlog "$from..$to"
	echo
	git_tree diff --stat=72 "$from..$to"
	echo
	echo "Recipients (scripts/get_maintainer.pl --no-git --no-rolestats):"
	(cd "$tree" && printf '%s\n' "$@" |
		xargs ./scripts/get_maintainer.pl --no-git --no-git-fallback --no-rolestats 2>/dev/null |
		sed 's/^/  /')
}

# The series is posted as three: fixes to the base kernel, performance,
# and the feature, each applying on top of the ones before it.
# patches/parts lists them in order as "NAME COUNT": the first COUNT
# commits above the base are NAME, and so on; the last part takes every
# commit left, so new work lands in the feature series.  The patches are
# format-patch files in patches/, numbered through all three parts, so
# that their names sort in series order; patches/series lists them, a '#'
# line opening each part (git am and quilt both read that).  Each part's
# directory holds its cover letter, made from its cover-letter.in.
export_series() {
	[ -d "$tree/.git" ] || die "no tree: run 'make tree' first"
	[ -z "$(git_tree status --porcelain --untracked-files=no)" ] ||
		die "build/linux has uncommitted edits; commit them first"
	[ -f "$patches/parts" ] || die "$patches/parts missing: one 'NAME COUNT' line per series"
	local -a names counts commits
	local name count total done=0 i from to
	while read -r name count; do
		case "$name" in ''|'#'*) continue ;; esac
		names+=("$name"); counts+=("$count")
	done < "$patches/parts"
	mapfile -t commits < <(git_tree rev-list --reverse base..HEAD)
	total=${#commits[@]}
	rm -f "$patches"/[0-9]*.patch
	: > "$patches/series.new"
	local -a files
	for i in "${!names[@]}"; do
		name=${names[$i]}
		count=${counts[$i]}
		[ "$i" -eq $((${#names[@]} - 1)) ] && count=$((total - done))
		[ $((done + count)) -le "$total" ] || die "patches/parts names more commits than base..HEAD has ($total)"
		[ -f "$patches/$name/cover-letter.in" ] || die "$patches/$name/cover-letter.in missing"
		from=$([ "$done" -eq 0 ] && echo base || echo "${commits[$((done - 1))]}")
		to=${commits[$((done + count - 1))]}
		mapfile -t files < <(git_tree format-patch --no-signature --zero-commit -N \
			--start-number $((done + 1)) -o "$patches" "$from..$to")
		echo "# $name: $(sed -n 's/^Subject: //p' "$patches/$name/cover-letter.in")" >> "$patches/series.new"
		printf '%s\n' "${files[@]##*/}" >> "$patches/series.new"
		cover_letter "$name" "$from" "$to" "${files[@]}" > "$patches/$name/0000-cover-letter.patch"
		counts[$i]=$count
		done=$((done + count))
	done
	mv "$patches/series.new" "$patches/series"
	for i in "${!names[@]}"; do echo "${names[$i]} ${counts[$i]}"; done > "$patches/parts"
	kernel_version "$tree" > "$base_file"
	series_digest > "$stamp"
	echo "exported $total patch(es) to patches/: $(tr '\n' ' ' < "$patches/parts")"
}

case "${1:-}" in
prepare) prepare ;;
fresh) [ -d "$tree/.git" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$(series_digest)" ] ;;
try)
	[ -n "${2:-}" ] || die "usage: tree.sh try DIR"
	tree=$(realpath -m "$2")
	extract_base
	apply_series ;;
export) export_series ;;
status)
	echo "base: $(kernel_version "$tree") (series recorded against $(cat "$base_file" 2>/dev/null || echo none))"
	git_tree log --oneline base..HEAD ;;
*) die "usage: tree.sh prepare|export|status|fresh|try DIR" ;;
esac
