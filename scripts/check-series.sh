#!/bin/bash
# Static checks of the series, failing on anything new:
#   - scripts/checkpatch.pl --strict on every patch in patches/series;
#   - sparse (C=2) and W=1 over every kernel C file the series touches,
#     compared with the same files built from the unpatched base, so only
#     findings the series introduces count;
#   - the selftests compile (-O2, so the warnings that need the optimiser
#     run too) with -Wall -Wextra -Werror, less the three -Wextra warnings
#     kselftest_harness.h's own macros raise in every test: the unused
#     `variant` parameter of TEST() (-Wunused-parameter), ASSERT_*(0, u32)
#     comparing int with unsigned (-Wsign-compare) and the `child` of
#     TEST_F() across its longjmp (-Wclobbered).
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
tree=$top/build/linux
out=$top/build/check
fail=0

cd "$top"
echo "== checkpatch --strict"
while read -r p; do
	case "$p" in ''|'#'*) continue ;; esac
	# checkpatch asks "does MAINTAINERS need updating?" of every patch
	# that adds a file; answered below with get_maintainer.pl instead.
	# build/linux has no upstream history, so checkpatch cannot look up
	# the commits Fixes: tags name (UNKNOWN_COMMIT_ID); they were checked
	# against upstream when the tags were written.
	if ! res=$(cd "$tree" && PATH=/usr/bin:$PATH scripts/checkpatch.pl --strict -q --no-summary \
		--ignore FILE_PATH_CHANGES,UNKNOWN_COMMIT_ID "$top/patches/$p" 2>&1); then
		echo "FAIL $p"; echo "$res" | sed 's/^/    /'; fail=1
	elif [ -n "$res" ]; then
		echo "FAIL $p"; echo "$res" | sed 's/^/    /'; fail=1
	else
		echo "ok   $p"
	fi
done < patches/series

# Every file the series adds has an IOMMU maintainer: the question behind
# checkpatch's FILE_PATH_CHANGES, asked of MAINTAINERS as the series leaves it.
echo "== get_maintainer.pl for every added file"
while read -r f; do
	if (cd "$tree" && PATH=/usr/bin:$PATH scripts/get_maintainer.pl --no-git --no-git-fallback \
		--nol --nor -f "$f" 2>/dev/null) | grep -q 'IOMMU'; then
		echo "ok   $f"
	else
		echo "FAIL $f"; echo "    no IOMMU entry of MAINTAINERS covers it"; fail=1
	fi
done < <(git -C "$tree" diff --name-only --diff-filter=A base..HEAD)

# A .c file that a sibling #includes (a KUnit suite built into the file it
# tests) has no object of its own: it is checked through the includer.
included_by_sibling() {
	grep -qs "^#include \"$(basename "$1")\"" "$tree/$(dirname "$1")"/*.c
}
mapfile -t files < <(git -C "$tree" diff --name-only --diff-filter=AM base..HEAD -- '*.c' |
	grep -vE '^(tools|samples|scripts|Documentation)/' |
	while read -r f; do included_by_sibling "$f" || echo "$f"; done)

# Build the touched objects with sparse and W=1 in one tree; print the
# findings without line numbers so the two trees can be compared.
findings() {
	local src=$1 obj=$2
	mkdir -p "$obj"
	cp "$top/build/obj/.config" "$obj/.config"
	make -s -C "$src" O="$obj" olddefconfig >/dev/null
	make -s -C "$src" O="$obj" -j"$(nproc)" prepare >/dev/null 2>&1
	local f
	for f in "${files[@]}"; do
		[ -f "$src/$f" ] || continue
		touch "$src/$f"
		make -s -C "$src" O="$obj" C=2 W=1 CHECKFLAGS="-Wno-decl" "${f%.c}.o" 2>&1 |
			grep -E 'warning:|error:' | sed -E "s#^$src/##; s#:[0-9]+:[0-9]+:#:#; s#:[0-9]+:#:#" || true
	done | sort -u
}

echo "== sparse C=2 and W=1 over ${#files[@]} touched kernel file(s)"
if [ ${#files[@]} -gt 0 ]; then
	[ -f "$top/build/obj/.config" ] || { echo "no build/obj/.config: run 'make kernel' first"; exit 1; }
	base=$top/build/base
	[ -d "$base" ] || git -C "$tree" worktree add -q --detach "$base" base
	git -C "$base" checkout -q --detach base
	findings "$base" "$out/base" > "$out.base.txt"
	findings "$tree" "$out/series" > "$out.series.txt"
	new=$(comm -13 "$out.base.txt" "$out.series.txt")
	if [ -n "$new" ]; then
		echo "FAIL new findings:"; echo "$new" | sed 's/^/    /'; fail=1
	else
		echo "ok   no new findings ($(wc -l < "$out.base.txt") already in the base)"
	fi
fi

echo "== selftests -O2 -Wall -Wextra -Werror -Wno-unused-parameter -Wno-sign-compare -Wno-clobbered"
for t in rmrr_groups rmrr_vfio rmrr_iommufd rmrr_fail_nth rmrr_continuity rmrr_hotplug rmrr_rescan; do
	if gcc -c -o /dev/null -O2 -Wall -Wextra -Werror -Wno-unused-parameter \
		-Wno-sign-compare -Wno-clobbered -D_GNU_SOURCE \
		-isystem "$top/build/obj/usr/include" \
		"$tree/tools/testing/selftests/iommu/$t.c"; then
		echo "ok   $t"
	else
		echo "FAIL $t"; fail=1
	fi
done
exit $fail
