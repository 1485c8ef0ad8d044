#!/bin/bash
# make check-bisect: every patch of the series builds on its own.
#
# The fixes series (the first part of patches/parts) must also work on its
# own: the base kernel and the kernel at its last patch each boot the
# malformed tables it is about (workbench fixes-check, console only).  The
# base is expected to fail them (its lines are shown, not judged); the
# fixes must pass.
#
# In a worktree of build/linux (build/bisect) and one object directory
# with the test config (build/obj-bisect), check out each commit above
# the base in turn and build the directories its patch touches (W=1 for
# the C files it touches, so a warning one patch adds and a later one
# removes is caught), then the whole bzImage at the last commit.  Through
# ccache; the first step after a cold start builds the whole tree once.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
tree=$top/build/linux
wt=$top/build/bisect
obj=$top/build/obj-bisect
log=$top/build/logs/check-bisect.log
mkdir -p "$(dirname "$log")"
: > "$log"

# Configure at the last patch, where every option of the test config
# exists; each step starts from that .config (olddefconfig drops what the
# step's Kconfig does not know yet).
[ -d "$wt" ] || git -C "$tree" worktree add -q --detach "$wt" base
git -C "$wt" checkout -q --detach "$(git -C "$tree" rev-parse HEAD)"
KSRC=$wt "$top/scripts/build-kernel.sh" "$obj" "$top/configs/test.config" >>"$log" 2>&1
cp "$obj/.config" "$obj/.config.last"

export CCACHE_BASEDIR=$top
kmake() {
	make -s -C "$wt" O="$obj" -j"$(nproc)" CC="ccache gcc" HOSTCC="ccache gcc" \
		KBUILD_BUILD_USER=wb KBUILD_BUILD_HOST=wb "$@"
}

fixes_check() {   # LABEL: bzImage of the worktree's commit, then the boots
	kmake bzImage >>"$log" 2>&1 || { echo "FAIL bzImage for fixes-check $1"; return 1; }
	cp "$obj/arch/x86/boot/bzImage" "$top/build/bzImage-$1"
	(cd "$top" && python3 -m workbench fixes-check --kernel "build/bzImage-$1" --label "$1")
}

nfixes=$(awk '!/^#/ && NF == 2 { print $2; exit }' "$top/patches/parts" 2>/dev/null || echo 0)
git -C "$wt" checkout -q --detach base
cp "$obj/.config.last" "$obj/.config"
kmake olddefconfig >>"$log" 2>&1
start=$(date +%s)
fixes_check base | sed 's/^/     /' || true
echo "info base kernel booted on the fixes' tables (expected to fail them) $(( $(date +%s) - start ))s"

fail=0 i=0
for c in $(git -C "$tree" rev-list --reverse base..HEAD); do
	i=$((i + 1))
	subject=$(git -C "$tree" log -1 --format=%s "$c")
	git -C "$wt" checkout -q --detach "$c"
	cp "$obj/.config.last" "$obj/.config"
	kmake olddefconfig >>"$log" 2>&1
	# Directories with C files the patch adds or changes, kernel side only.
	mapfile -t dirs < <(git -C "$tree" diff-tree --no-commit-id --name-only -r \
		--diff-filter=AM "$c" -- '*.c' ':!tools/' | xargs -r -n1 dirname | sort -u)
	start=$(date +%s)
	ok=1
	if [ ${#dirs[@]} -gt 0 ]; then
		for d in "${dirs[@]}"; do
			kmake W=1 "$d/" >>"$log" 2>&1 || ok=0
		done
	fi
	# Selftests the patch touches compile against the tree's uapi.
	if git -C "$tree" diff-tree --no-commit-id --name-only -r "$c" |
	   grep -q '^tools/testing/selftests/iommu/rmrr_'; then
		kmake headers >>"$log" 2>&1 || ok=0
		# Whichever RMRR selftests exist at this patch.
		for t in "$wt"/tools/testing/selftests/iommu/rmrr_*.c; do
			gcc -fsyntax-only -Wall -Werror -Wno-unused-function -D_GNU_SOURCE \
				-isystem "$obj/usr/include" "$t" >>"$log" 2>&1 || ok=0
		done
	fi
	if [ "$i" = "$nfixes" ]; then
		if ! fixes_check fixes | sed 's/^/     /'; then ok=0; fi
	fi
	# rmrr-report builds (it includes the selftests' headers).
	if git -C "$tree" diff-tree --no-commit-id --name-only -r "$c" |
	   grep -q '^tools/iommu/rmrr-report/'; then
		kmake headers >>"$log" 2>&1 || ok=0
		make -s -C "$wt/tools/iommu/rmrr-report" KHDR="$obj/usr/include" >>"$log" 2>&1 || ok=0
		rm -f "$wt/tools/iommu/rmrr-report/rmrr-report"
	fi
	t=$(( $(date +%s) - start ))
	if [ $ok = 1 ]; then
		printf 'ok   %02d %-70.70s %3ds %s\n' "$i" "$subject" "$t" "${dirs[*]:-}"
	else
		printf 'FAIL %02d %s (see %s)\n' "$i" "$subject" "${log#$top/}"
		fail=1
	fi
done
start=$(date +%s)
if kmake bzImage >>"$log" 2>&1; then
	echo "ok   bzImage at the last patch $(( $(date +%s) - start ))s"
else
	echo "FAIL bzImage at the last patch (see ${log#$top/})"; fail=1
fi
exit $fail
