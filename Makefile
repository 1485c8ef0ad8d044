# RMRR workbench: the patched Linux 6.12 kernel and the VM that tests it.
#
#   make demo      set up, build, boot hp-dl360p-gen8 and show RMRR handling
#   make test      the default test lane; ends with "N passed, N failed"
#   make corpus    every real firmware DMAR table in ../shared/dmar-corpus, one VM each
#   make hostile   every malformed DMAR table of the generator, one VM each
#   make debug     the VM tests on a KASAN/lockdep/kmemleak kernel (longer)
#   make check     checkpatch --strict, sparse and W=1 over the series
#   make check-docs    the series' Documentation through the kernel's Sphinx
#   make check-base    linux-source-6.12 is Debian's newest and the series applies
#                      (network; not in make test)
#   make update-base   take Debian's newest linux-source-6.12, rebuild build/linux
#   make check-bisect  build the tree at every patch of the series (ccache)
#   make profile   the type1 claim path under ftrace's function profiler
#   make deb       Debian packages of the patched kernel, Debian's config
#   make tree      build/linux from the tarball + patches/series (git am)
#   make export    build/linux commits -> patches/ (format-patch + series)
#   make kernel    build/bzImage from configs/test.config
#   make kernel-compat  build/bzImage-compat: the same plus configs/compat.config
#                  (/dev/vfio/vfio served by iommufd), for the lane's +compat boots
#   make selftests static test binaries -> build/tests/

PYTHON  ?= python3
BUILD   := build
KOUT    := $(BUILD)/obj
TESTS   := $(BUILD)/tests
SELFTESTS_SRC := $(BUILD)/linux/tools/testing/selftests/iommu
RMRR_TESTS := rmrr_groups rmrr_vfio rmrr_iommufd rmrr_fail_nth rmrr_continuity rmrr_hotplug rmrr_rescan
REPORT_SRC := $(BUILD)/linux/tools/iommu/rmrr-report

.PHONY: check-docs check-base update-base
.PHONY: all setup tree export kernel kernel-compat selftests check-bisect deb deb-check demo test corpus hostile debug debug-corpus bench profile check pytest clean distclean

all: kernel selftests

setup:
	@scripts/setup.sh

tree: setup
	@scripts/tree.sh prepare

export:
	@scripts/tree.sh export

kernel: tree
	@scripts/build-kernel.sh $(KOUT) configs/test.config
	@cp $(KOUT)/arch/x86/boot/bzImage $(BUILD)/bzImage
	@echo "  KERNEL  $(BUILD)/bzImage"

# Debian packages (bindeb-pkg) of the patched kernel with Debian's own
# config plus configs/host.config, in build/deb-host/ (see README).
deb: tree
	@scripts/deb.sh host

# The same packaging path on the small test config, checked; the lane runs it.
deb-check: tree
	@scripts/deb.sh test

# Every patch builds on its own (the touched directories, W=1), then the
# whole kernel at the end; not in the default lane (about 15 min warm).
check-bisect: tree
	@scripts/check-bisect.sh

kernel-compat: tree
	@scripts/build-kernel.sh $(BUILD)/obj-compat configs/test.config configs/compat.config
	@cp $(BUILD)/obj-compat/arch/x86/boot/bzImage $(BUILD)/bzImage-compat
	@echo "  KERNEL  $(BUILD)/bzImage-compat"

# Static, so they run in the busybox initramfs; built against this tree's uapi.
selftests: kernel
	@mkdir -p $(TESTS)
	@for t in $(RMRR_TESTS); do \
		(cd $(SELFTESTS_SRC) && gcc -static -pthread -O2 -Wall -Wno-unused-function -D_GNU_SOURCE \
			-isystem $(CURDIR)/$(KOUT)/usr/include \
			-o $(CURDIR)/$(TESTS)/$$t $$t.c) || exit 1; \
	done
	@$(MAKE) -s -C $(REPORT_SRC) KHDR=$(CURDIR)/$(KOUT)/usr/include
	@cp $(REPORT_SRC)/rmrr-report $(TESTS)/rmrr-report
	@cp $(REPORT_SRC)/test-in-vm.sh $(TESTS)/rmrr_report
	@gcc -static -O2 -Wall -Werror -o $(TESTS)/edu_dma tests/vm/edu_dma.c
	@gcc -static -O2 -Wall -Werror -D_GNU_SOURCE -isystem $(KOUT)/usr/include \
		-o $(TESTS)/vfio_claim tests/vm/vfio_claim.c
	@echo "  TESTS   $(addprefix $(TESTS)/,$(RMRR_TESTS) rmrr-report rmrr_report edu_dma vfio_claim)"

demo: kernel selftests
	@$(PYTHON) -m workbench demo hp-dl360p-gen8

test: kernel kernel-compat selftests
	@$(PYTHON) -m workbench lane

# One boot per real firmware table (the lane runs a fixed sample of them).
corpus: kernel selftests
	@$(PYTHON) -m workbench corpus

# One boot per malformed DMAR table (fixed seed; the lane runs one per kind).
hostile: kernel selftests
	@$(PYTHON) -m workbench hostile

# The debug lane: KASAN, lockdep, kmemleak, fault injection (configs/debug.config
# over the test config), its own build directory, every VM test and KUnit suite.
debug: selftests
	@scripts/build-kernel.sh $(BUILD)/obj-debug configs/test.config configs/debug.config
	@cp $(BUILD)/obj-debug/arch/x86/boot/bzImage $(BUILD)/bzImage-debug
	@$(PYTHON) -m workbench lane --vm-only --debug --kernel $(BUILD)/bzImage-debug \
		--log-dir $(BUILD)/logs/debug --timeout 1800

# The whole corpus on the debug kernel (long: about an hour on 2 cores).
debug-corpus: selftests
	@test -e $(BUILD)/bzImage-debug || $(MAKE) debug
	@$(PYTHON) -m workbench corpus --kernel $(BUILD)/bzImage-debug \
		--log-dir $(BUILD)/logs/debug-corpus --timeout 900 --jobs $(or $(JOBS),2)

# Unpatched 6.12 (tag base, build/base) against the series, one config
# (the test config without KUnit), one boot each, one table of ratios.
bench: selftests
	@scripts/bench.sh

# The claim path under ftrace's function profiler (build/bzImage-prof:
# the bench config plus configs/profile.config): per device the functions
# whose time grows over the plain device's.  Not in make test or make bench.
profile: selftests
	@scripts/profile.sh

check: tree
	@scripts/check-series.sh

# Only warnings that name our files fail (about 40 s: our documents only).
check-docs: tree
	@scripts/check-docs.sh

# Needs the network; never part of make test (a CI run must not depend on
# what Debian publishes next).
check-base: setup tree
	@scripts/check-base.sh

# Take Debian's newest linux-source-6.12 and rebuild build/linux on it.
update-base:
	@WB_UPDATE_BASE=1 scripts/setup.sh
	@scripts/tree.sh prepare

# The workbench's own unit tests (generator, parsers); part of `make test`.
pytest:
	@$(PYTHON) -m unittest discover -s workbench/tests -t . -q

clean:
	rm -rf $(KOUT) $(BUILD)/bzImage $(TESTS) $(BUILD)/logs

distclean:
	rm -rf $(BUILD)
