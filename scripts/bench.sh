#!/bin/bash
# make bench: build unpatched 6.12 (the tree's tag "base") and the series
# with one config, then boot each on scenarios/bench and print the table
# (workbench/bench.py).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

# Same config for both: the test config without KUnit (no tests at boot).
grep -v KUNIT configs/test.config > build/bench.config
[ -d build/base ] || git -C build/linux worktree add --detach "$top/build/base" base
KSRC=$top/build/base scripts/build-kernel.sh build/obj-bench-base build/bench.config
cp build/obj-bench-base/arch/x86/boot/bzImage build/bzImage-bench-base
scripts/build-kernel.sh build/obj-bench build/bench.config
cp build/obj-bench/arch/x86/boot/bzImage build/bzImage-bench
gcc -static -O2 -Wall -Werror -Wno-unused-function -D_GNU_SOURCE \
	-isystem build/obj-bench/usr/include \
	-I build/linux/tools/testing/selftests/iommu \
	-o build/tests/rmrr_bench tests/bench/rmrr_bench.c
exec python3 -m workbench bench
