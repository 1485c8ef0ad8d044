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
scripts/build-rmrr-bench.sh build/obj-bench
exec python3 -m workbench bench
