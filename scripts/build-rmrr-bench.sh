#!/bin/bash
# build/tests/rmrr_bench against the uapi headers of the kernel built in
# OBJDIR (make bench: build/obj-bench; make profile: build/obj-prof).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p build/tests
gcc -static -O2 -Wall -Werror -Wno-unused-function -D_GNU_SOURCE \
	-isystem "$1/usr/include" \
	-I build/linux/tools/testing/selftests/iommu \
	-o build/tests/rmrr_bench tests/bench/rmrr_bench.c
