# SPDX-License-Identifier: GPL-2.0
#
# kmbox, host side.  'make' builds the module, the library, kmboxctl, the
# selftests, the examples and the benchmark; 'make install' installs the
# module, library and kmboxctl; 'make check' runs the host tests, then the
# selftests in QEMU; 'make run' shows the module working in QEMU.
# 'make help' lists the rest.
#
# KDIR: which kernel the module is built for.
#  - 'make', 'make module', 'make install': the running kernel's headers,
#    /lib/modules/$(uname -r)/build, when they are installed; else those of
#    the QEMU test kernel (TEST_KDIR).
#  - the QEMU targets (check, run, bench, lint, ...): always TEST_KDIR, the
#    newest installed Debian 6.1 cloud headers (the reference kernel;
#    headers of other series installed on the host never change it),
#    whose release is the bootable Debian vmlinuz qemu/fetch-kernel.sh
#    fetches.
#  - KVER=6.12-bpo|6.12|7 (make check, make module): another kernel of
#    the matrix (qemu/kernels.sh list), its headers, image and toolchain
#    fetched into the cache; KDIR is then ignored.
#  A KDIR given on the command line or in the environment wins everywhere.

TEST_KDIR ?= $(shell printf '%s\n' /usr/src/linux-headers-6.1.*-cloud-amd64 | sort -V | tail -n 1)
HOST_KDIR ?= /lib/modules/$(shell uname -r)/build
ifeq ($(origin KDIR),undefined)
KDIR := $(if $(wildcard $(HOST_KDIR)/Makefile),$(HOST_KDIR),$(TEST_KDIR))
# Deferred ('='): on a fresh machine 'make deps', run first by the QEMU
# targets, is what installs the headers TEST_KDIR names.
QEMU_KDIR = $(TEST_KDIR)
else
QEMU_KDIR := $(KDIR)
endif
KMBOX_CACHE ?= $(HOME)/.cache/kmbox
export KDIR KMBOX_CACHE

# make install: where things go.  The module goes to
# $(INSTALL_MOD_PATH)/lib/modules/<release>/$(INSTALL_MOD_DIR) (kbuild's
# modules_install; INSTALL_MOD_PATH follows DESTDIR), then depmod.
PREFIX ?= /usr/local
DESTDIR ?=
INSTALL_MOD_DIR ?= extra
INSTALL_MOD_PATH ?= $(DESTDIR)
DEPMOD ?= depmod
LDCONFIG ?= ldconfig
export PREFIX DESTDIR

# Each part is built only once its directory has a Makefile.
has = $(wildcard $(1)/Makefile)
skip = @echo "kmbox: $(1)/ has no Makefile yet; skipped"

# (bench-build, because 'make bench' runs the benchmark.)
ALL_PARTS = module userlib tools selftests stress examples bench-build
all: $(ALL_PARTS)

# The kernel release KDIR builds for; a module built for another release
# (an earlier make with another KDIR) is cleaned first, since kbuild
# would keep objects whose command line did not change.
kdir_release = $(shell sed -n 's/^\#define UTS_RELEASE "\(.*\)"$$/\1/p' $(KDIR)/include/generated/utsrelease.h 2>/dev/null)

ifneq ($(KVER),)
# With its own toolchain (qemu/kernels.sh), after fetching what it needs.
module:
	@qemu/kernels.sh prepare $(KVER) >/dev/null
	@qemu/kernels.sh module $(KVER)
else
module:
ifneq ($(wildcard Kbuild),)
	@test -f "$(KDIR)/include/generated/utsrelease.h" || { \
		echo "kmbox: KDIR=$(KDIR) is not a kernel build dir: install the headers of the kernel to build for (apt-get install linux-headers-\$$(uname -r)), or set KDIR=; 'make deps' installs those of the QEMU test kernel" >&2; \
		exit 1; }
	@if [ -f module/.kdir-release ] && [ "$$(cat module/.kdir-release)" != "$(kdir_release)" ]; then \
		echo "kmbox: the module was built for $$(cat module/.kdir-release), now for $(kdir_release): cleaning it first"; \
		$(MAKE) -s -C $(KDIR) M=$(CURDIR) clean; \
	fi
	$(MAKE) -C $(KDIR) M=$(CURDIR) modules
	@echo "$(kdir_release)" > module/.kdir-release
else
	@echo "kmbox: no top-level Kbuild yet; module skipped"
endif
endif

# The library, and its test program for the QEMU guest.
userlib:
	$(if $(call has,userlib),$(MAKE) -C userlib all test/libkmbox_live_test,$(call skip,userlib))

# These link libkmbox.a.
tools selftests stress: userlib
	$(if $(call has,$@),$(MAKE) -C $@,$(call skip,$@))

examples: userlib
	$(if $(call has,docs/examples),$(MAKE) -C docs/examples,$(call skip,docs/examples))

bench-build: userlib
	$(if $(call has,bench),$(MAKE) -C bench,$(call skip,bench))

deps:
	@qemu/deps.sh

# Tests that need no module and no VM: the library's (validation under
# ASan/UBSan, ABI, header, man pages), kmboxctl's usage, exit codes and
# --json, a staged install built against with pkg-config (static and
# shared), the README's build instructions for the examples (installed and
# uninstalled), and the consistency checks of make lint that need no
# kernel tools (man pages against the module, SPDX tags).
check-host: userlib tools examples
	@$(MAKE) --no-print-directory -C userlib test
	@$(MAKE) --no-print-directory -C tools test
	@$(MAKE) --no-print-directory -C bench test
	@userlib/test/check-install.sh
	@qemu/check-man-drift.sh
	@qemu/check-man-drift.sh --self-test
	@qemu/check-spdx.sh

# The QEMU targets install what is missing, build everything for the test
# kernel, then boot.  Knobs pass through the environment: TESTS="a b",
# BENCH_ARGS, TIMEOUT, KERNEL_IMAGE, QEMU_ACCEL, ... (qemu/run.sh --help).
ifeq ($(KVER),)
check: deps
	@$(MAKE) --no-print-directory all KDIR=$(QEMU_KDIR)
	@$(MAKE) --no-print-directory check-host KDIR=$(QEMU_KDIR)
	@KDIR=$(QEMU_KDIR) qemu/run.sh $@
else
# make check KVER=...: the same run on another kernel of the matrix.
# The host tests come first: their 'make install' builds the module for
# the reference kernel.
check: deps
	@env=$$(qemu/kernels.sh prepare $(KVER)) && \
	$(MAKE) --no-print-directory check-host KVER= KDIR=$(QEMU_KDIR) && \
	$(MAKE) --no-print-directory $(filter-out module,$(ALL_PARTS)) KVER= KDIR=$(QEMU_KDIR) && \
	$(MAKE) --no-print-directory module KVER=$(KVER) && \
	eval "$$env" && KDIR=$$KDIR KERNEL_IMAGE=$$KERNEL_IMAGE qemu/run.sh $@
endif

# The whole matrix, one verdict line per kernel (qemu/check-kernels.sh).
check-kernels: deps
	@qemu/check-kernels.sh $(KVERS)

run: deps
	@$(MAKE) --no-print-directory all KDIR=$(QEMU_KDIR)
	@KDIR=$(QEMU_KDIR) qemu/run.sh $@

# The PNG plots are drawn on the host from what the guest brought back.
bench: deps
	@$(MAKE) --no-print-directory all KDIR=$(QEMU_KDIR)
	@KDIR=$(QEMU_KDIR) qemu/run.sh bench
	@bench/plot.sh $(or $(RESULTS_DIR),bench/results)

# Module A against module B in one benchmark guest (qemu/bench-ab.sh):
# make bench-ab A=rev|dir B=rev|dir [A_MAKE=...] [B_MAKE=...] [BENCH_ARGS=...]
bench-ab: deps
	@$(MAKE) --no-print-directory userlib bench-build KDIR=$(QEMU_KDIR)
	@KDIR=$(QEMU_KDIR) qemu/bench-ab.sh

# The debug kernel (KASAN, lockdep, kmemleak, UBSAN, failslab) is built
# once from linux-source-6.1 (~16 min on 2 cores) and cached; see
# qemu/debug/run-debug.sh for its knobs (QUICK=1 for a shorter run).
# Path length of module A against module B, in instructions, under QEMU
# -icount (qemu/bench-icount.sh): make bench-icount A=rev|dir B=rev|dir [OPS=...]
bench-icount: deps
	@$(MAKE) --no-print-directory userlib bench-build KDIR=$(QEMU_KDIR)
	@KDIR=$(QEMU_KDIR) qemu/bench-icount.sh

# Per-CPU profile of benchmark measurements, perf in a guest
# (qemu/bench-profile.sh): make bench-profile [BENCH_ARGS=...]
bench-profile: deps
	@$(MAKE) --no-print-directory all KDIR=$(QEMU_KDIR)
	@KDIR=$(QEMU_KDIR) qemu/bench-profile.sh

check-debug: deps
	@$(MAKE) --no-print-directory all KDIR=$(QEMU_KDIR)
	@qemu/debug/run-debug.sh $(if $(QUICK),--quick)

# Line and branch coverage of module/*.c after selftests, stress and fuzz
# on the debug kernel, with a GCOV_PROFILE build of the module; the HTML
# report goes to coverage/html/ (qemu/coverage.sh --help for its knobs).
coverage: deps
	@qemu/deps.sh --coverage
	@$(MAKE) --no-print-directory all KDIR=$(QEMU_KDIR)
	@qemu/coverage.sh

# Long stress + fuzz run: make soak DURATION=3600 [DEBUG=1] [SEED=n]
soak: deps
	@$(MAKE) --no-print-directory all KDIR=$(QEMU_KDIR)
	@KDIR=$(QEMU_KDIR) stress/soak.sh --duration $(or $(DURATION),3600) $(if $(SEED),--seed $(SEED)) $(if $(DEBUG),--debug)

# DKMS on every kernel of the matrix, each loaded and smoke-tested in its
# QEMU guest (qemu/dkms-check.sh); the host's /var/lib/dkms is not used.
dkms-check: deps
	@qemu/deps.sh --dkms
	@$(MAKE) --no-print-directory $(filter-out module,$(ALL_PARTS)) KVER= KDIR=$(QEMU_KDIR)
	@qemu/dkms-check.sh $(KVERS)

# Debian packages with dpkg-buildpackage, lintian, and a program built
# against libkmbox-dev unpacked in a scratch root (qemu/deb.sh).
deb:
	@qemu/deps.sh --deb
	@qemu/deb.sh

# --- install ---------------------------------------------------------------

# Everything a user needs: the module (for KDIR's kernel), the library
# (static, shared, headers, pkg-config file, man pages), kmboxctl.  As root
# with no DESTDIR, depmod and ldconfig run, so 'modprobe kmbox' and
# programs linked with -lkmbox work at once.  INSTALL_MODULE=0 leaves the
# module out (for a kernel whose headers are not here; DKMS builds it).
INSTALL_MODULE ?= 1

install: $(if $(filter 1,$(INSTALL_MODULE)),module) userlib tools
ifeq ($(INSTALL_MODULE),1)
	$(MAKE) -C $(KDIR) M=$(CURDIR) INSTALL_MOD_DIR=$(INSTALL_MOD_DIR) \
		$(if $(INSTALL_MOD_PATH),INSTALL_MOD_PATH=$(INSTALL_MOD_PATH)) \
		$(if $(wildcard $(KDIR)/certs/signing_key.x509),,CONFIG_MODULE_SIG_ALL=) \
		DEPMOD=true modules_install
	$(DEPMOD) $(if $(INSTALL_MOD_PATH),-b $(INSTALL_MOD_PATH)) $(kdir_release)
endif
	$(MAKE) -C userlib install
	$(MAKE) -C tools install
	@if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ]; then $(LDCONFIG); fi

uninstall:
	rm -f $(INSTALL_MOD_PATH)/lib/modules/$(kdir_release)/$(INSTALL_MOD_DIR)/kmbox.ko* \
		$(INSTALL_MOD_PATH)/lib/modules/$(kdir_release)/$(INSTALL_MOD_DIR)/module/kmbox.ko*
	-rmdir $(INSTALL_MOD_PATH)/lib/modules/$(kdir_release)/$(INSTALL_MOD_DIR)/module 2>/dev/null
	-$(DEPMOD) $(if $(INSTALL_MOD_PATH),-b $(INSTALL_MOD_PATH)) $(kdir_release) 2>/dev/null
	$(MAKE) -C userlib uninstall
	$(MAKE) -C tools uninstall
	@if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ]; then $(LDCONFIG); fi

lint:
	@qemu/deps.sh --lint
	@KDIR=$(QEMU_KDIR) qemu/lint.sh

clean:
ifneq ($(wildcard Kbuild),)
	-@test ! -d "$(KDIR)" || $(MAKE) -C $(KDIR) M=$(CURDIR) clean
endif
	rm -f module/.kdir-release
	$(foreach d,userlib tools selftests stress docs/examples bench,$(if $(call has,$(d)),$(MAKE) -C $(d) clean;))

help:
	@echo "make            module (KDIR=$(KDIR)), userlib, tools, selftests, examples, bench-build"
	@echo "make module     the module only, for KDIR (the running kernel's headers if installed)"
	@echo "make install    module (+ depmod), library, headers, pkg-config file, man pages, kmboxctl;"
	@echo "                PREFIX=$(PREFIX) DESTDIR= INSTALL_MODULE=0; 'make uninstall' removes them"
	@echo "make check      host tests, then every selftest in QEMU (KDIR=$(QEMU_KDIR))"
	@echo "                TESTS=\"prog ...\" for a subset; ends with 'N passed, N failed, N skipped'"
	@echo "                KVER=6.12-bpo|6.12|7: on another kernel (headers, image and"
	@echo "                toolchain fetched into the cache once; qemu/kernels.sh list)"
	@echo "make check-kernels  make check on every kernel of the matrix, one verdict line each"
	@echo "make check-host the tests that need neither the module nor QEMU"
	@echo "make check-debug  the same on a debug kernel (KASAN, lockdep, kmemleak, UBSAN,"
	@echo "                failslab) built once from linux-source-6.1; QUICK=1 for a short run"
	@echo "make coverage   line and branch coverage of module/ on the debug kernel (lcov);"
	@echo "                HTML report in coverage/html/"
	@echo "make soak       long stress + fuzz run: DURATION=s SEED=n DEBUG=1"
	@echo "make run        boot QEMU, load the module, show the demo, unload;"
	@echo "                TRACE=1: then perf and bpftrace on kmbox's tracepoints"
	@echo "make bench      run bench/kmbox-bench in QEMU (BENCH_ARGS=...); results in bench/results/"
	@echo "make bench-ab   module A against module B in one guest, interleaved: A=rev|dir (HEAD)"
	@echo "                B=rev|dir (.), A_MAKE=/B_MAKE= build variables, BENCH_ARGS=; bench/README.md"
	@echo "make bench-icount  instructions per operation of module A and B under QEMU -icount,"
	@echo "                repeatable on a busy host: A=rev|dir B=rev|dir OPS=op,op; bench/README.md"
	@echo "make bench-profile  perf in the guest: each CPU's time by symbol for one measurement"
	@echo "                per mechanism of BENCH_ARGS' --mech (quiet host); bench/README.md"
	@echo "make lint       checkpatch, W=1 C=2 sparse build, uapi C90 + 32/64-bit ABI, shellcheck,"
	@echo "                man pages against the module, SPDX tags"
	@echo "make dkms-check dkms add/build per kernel of the matrix in a throw-away tree, then"
	@echo "                load it in that kernel's QEMU guest and run a smoke test"
	@echo "make deb        Debian packages (kmbox-dkms, libkmbox1, libkmbox-dev, kmbox-tools) in"
	@echo "                build/deb/, lintian, a pkg-config build against them"
	@echo "make deps       install the packages the QEMU targets need (apt-get)"
	@echo "make clean"
	@echo "Knobs: qemu/run.sh --help.  Console logs: qemu/logs/.  More: docs/testing.md."

.PHONY: all module userlib tools selftests stress examples bench-build deps check-host check \
	check-kernels dkms-check deb \
	check-debug coverage soak run bench bench-ab bench-icount bench-profile install uninstall lint clean help
