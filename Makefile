# SPDX-License-Identifier: GPL-2.0
#
# kmbox, host side.  'make' builds the module, the library, kmboxctl, the
# selftests and the benchmark; 'make check' runs the selftests in QEMU;
# 'make run' shows the module working in QEMU.  'make help' lists the rest.
#
# The build host runs another kernel than the one we test on, so KDIR
# defaults to the newest installed Debian cloud headers: their release is
# the bootable Debian vmlinuz qemu/fetch-kernel.sh fetches.  Build for the
# running kernel instead with  make module KDIR=/lib/modules/$(uname -r)/build

KDIR ?= $(shell printf '%s\n' /usr/src/linux-headers-*-cloud-amd64 | sort -V | tail -n 1)
KMBOX_CACHE ?= $(HOME)/.cache/kmbox
export KDIR KMBOX_CACHE

# Each part is built only once its directory has a Makefile.
has = $(wildcard $(1)/Makefile)
skip = @echo "kmbox: $(1)/ has no Makefile yet; skipped"

# (bench-build, because 'make bench' runs the benchmark.)
all: module userlib tools selftests stress bench-build

module:
ifneq ($(wildcard Kbuild),)
	@test -f "$(KDIR)/include/generated/utsrelease.h" || { \
		echo "kmbox: KDIR=$(KDIR) is not a kernel build dir: run 'make deps' (installs linux-headers-cloud-amd64) or set KDIR=" >&2; \
		exit 1; }
	$(MAKE) -C $(KDIR) M=$(CURDIR) modules
else
	@echo "kmbox: no top-level Kbuild yet; module skipped"
endif

userlib:
	$(if $(call has,userlib),$(MAKE) -C userlib,$(call skip,userlib))

# These link libkmbox.a.
tools selftests stress: userlib
	$(if $(call has,$@),$(MAKE) -C $@,$(call skip,$@))

bench-build: userlib
	$(if $(call has,bench),$(MAKE) -C bench,$(call skip,bench))

deps:
	@qemu/deps.sh

# The QEMU targets install what is missing, build everything, then boot.
# Knobs pass through the environment: TESTS="a b", BENCH_ARGS, TIMEOUT,
# KERNEL_IMAGE, QEMU_ACCEL, ... (qemu/run.sh --help).
check run: deps
	@$(MAKE) --no-print-directory all
	@qemu/run.sh $@

# The PNG plots are drawn on the host from what the guest brought back.
bench: deps
	@$(MAKE) --no-print-directory all
	@qemu/run.sh bench
	@bench/plot.sh $(or $(RESULTS_DIR),bench/results)

# The debug kernel (KASAN, lockdep, kmemleak, UBSAN, failslab) is built
# once from linux-source-6.1 (~16 min on 2 cores) and cached; see
# qemu/debug/run-debug.sh for its knobs (QUICK=1 for a shorter run).
check-debug: deps
	@$(MAKE) --no-print-directory all
	@qemu/debug/run-debug.sh $(if $(QUICK),--quick)

# Line and branch coverage of module/*.c after selftests, stress and fuzz
# on the debug kernel, with a GCOV_PROFILE build of the module; the HTML
# report goes to coverage/html/ (qemu/coverage.sh --help for its knobs).
coverage: deps
	@qemu/deps.sh --coverage
	@$(MAKE) --no-print-directory all
	@qemu/coverage.sh

# Long stress + fuzz run: make soak DURATION=3600 [DEBUG=1] [SEED=n]
soak: deps
	@$(MAKE) --no-print-directory all
	@stress/soak.sh --duration $(or $(DURATION),3600) $(if $(SEED),--seed $(SEED)) $(if $(DEBUG),--debug)

lint:
	@qemu/deps.sh --lint
	@qemu/lint.sh

clean:
ifneq ($(wildcard Kbuild),)
	-@test ! -d "$(KDIR)" || $(MAKE) -C $(KDIR) M=$(CURDIR) clean
endif
	$(foreach d,userlib tools selftests stress bench,$(if $(call has,$(d)),$(MAKE) -C $(d) clean;))

help:
	@echo "make            module (KDIR=$(KDIR)), userlib, tools, selftests, bench-build"
	@echo "make module     the module only; KDIR=/lib/modules/\$$(uname -r)/build for this host"
	@echo "make check      install what is missing, build, run every selftest in QEMU"
	@echo "                TESTS=\"prog ...\" for a subset; ends with 'N passed, N failed, N skipped'"
	@echo "make check-debug  the same on a debug kernel (KASAN, lockdep, kmemleak, UBSAN,"
	@echo "                failslab) built once from linux-source-6.1; QUICK=1 for a short run"
	@echo "make coverage   line and branch coverage of module/ on the debug kernel (lcov);"
	@echo "                HTML report in coverage/html/"
	@echo "make soak       long stress + fuzz run: DURATION=s SEED=n DEBUG=1"
	@echo "make run        boot QEMU, load the module, show the demo, unload"
	@echo "make bench      run bench/kmbox-bench in QEMU (BENCH_ARGS=...); results in bench/results/"
	@echo "make lint       checkpatch, W=1 C=2 sparse build, uapi C90 + 32/64-bit ABI, shellcheck"
	@echo "make deps       install the packages the above need (apt-get)"
	@echo "make clean"
	@echo "Knobs: qemu/run.sh --help.  Console logs: qemu/logs/."

.PHONY: all module userlib tools selftests stress bench-build deps check check-debug coverage soak run bench lint clean help
