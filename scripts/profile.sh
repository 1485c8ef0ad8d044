#!/bin/bash
# make profile: the series with the bench config plus ftrace's function
# profiler (configs/profile.config), booted on the bench scenarios with
# tests/bench/rmrr_bench in profile mode (workbench/profile.py).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

grep -v KUNIT configs/test.config > build/bench.config
scripts/build-kernel.sh build/obj-prof build/bench.config configs/profile.config
cp build/obj-prof/arch/x86/boot/bzImage build/bzImage-prof
scripts/build-rmrr-bench.sh build/obj-prof
exec python3 -m workbench profile
