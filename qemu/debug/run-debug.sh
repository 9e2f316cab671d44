#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Run the kmbox tests on the debug kernel (KASAN, lockdep, kmemleak,
# UBSAN, fault injection): what `make check-debug` runs.
#
# Usage: qemu/debug/run-debug.sh [--quick] [--help]
#
# Steps: qemu/debug/build-kernel.sh (builds the kernel once, ~16 min on 2
# cores; cached after), qemu/debug/build-module.sh (kmbox.ko for that
# kernel, from a scratch copy: module/kmbox.ko is not touched),
# make -C stress, then qemu/run.sh check with that kernel and module: the
# selftests, stress/'s programs (both put in the image by
# qemu/mkinitramfs.sh), then stress/kmbox_failinj and
# qemu/debug/guest-debug.sh.  The last line is run.sh's
# "N passed, N failed, N skipped"; the exit status is 0 only if nothing
# failed.
#
# Knobs (environment), with their defaults:
#   TESTS=""             programs to run (default: every selftest, then
#                        stress/ programs, kmbox_failinj, guest-debug.sh)
#   EXTRA_TESTS=""       more programs for the image, as qemu/run.sh's
#   FUZZ_OPS=1000000     kmbox_fuzz ops, all its threads together (no
#                        time limit)
#   STRESS_SECS=120      kmbox_stress --duration
#   LIFECYCLE_CYCLES=100 lifecycle.sh rounds
#   FAILSLAB="60 10"     guest-debug.sh failslab run: seconds, percent
#   PANIC_ON_WARN=0      1: the first WARN/KASAN report ends the run
#   TIMEOUT=7200         limit for the whole VM, s
#   TEST_TIMEOUT=3600    limit per program, s
# --quick: FUZZ_OPS=100000 STRESS_SECS=30 LIFECYCLE_CYCLES=10
#          FAILSLAB="20 10" (about 15 minutes of guest time)
# Other qemu/run.sh knobs (SMP, QEMU_MEM, LOG_DIR, QUIET...) pass through.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)

die() { echo "${0##*/}: $*" >&2; exit 1; }

FUZZ_OPS=${FUZZ_OPS:-1000000}
STRESS_SECS=${STRESS_SECS:-120}
LIFECYCLE_CYCLES=${LIFECYCLE_CYCLES:-100}
FAILSLAB=${FAILSLAB:-60 10}
PANIC_ON_WARN=${PANIC_ON_WARN:-0}
export TIMEOUT=${TIMEOUT:-7200}
export TEST_TIMEOUT=${TEST_TIMEOUT:-3600}

case ${1:-} in
-h|--help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; exit 0;;
--quick) FUZZ_OPS=100000 STRESS_SECS=30 LIFECYCLE_CYCLES=10 FAILSLAB="20 10";;
"") ;;
*) die "unknown argument $1 (see --help)";;
esac

kv=$("$HERE/build-kernel.sh") || die "debug kernel build failed"
KDIR=$(sed -n 's/^KDIR=//p' <<<"$kv")
KERNEL=$(sed -n 's/^KERNEL=//p' <<<"$kv")
[ -f "$KERNEL" ] || die "no kernel image from build-kernel.sh"

work=$(mktemp -d "${TMPDIR:-/tmp}/kmbox-debug.XXXXXX")
trap 'rm -rf "$work"' EXIT
ko=$("$HERE/build-module.sh" "$KDIR" "$work" 2>"$work/module.log" | sed -n 's/^KMBOX_KO=//p') ||
	{ cat "$work/module.log" >&2; die "module build against $KDIR failed"; }
[ -f "$ko" ] || { cat "$work/module.log" >&2; die "module build against $KDIR failed"; }

# qemu/mkinitramfs.sh puts the selftests and stress/'s print-progs in the
# image; the debug-only programs come as EXTRA_TESTS, after them.
make -s -C "$REPO/stress" >&2 || die "make -C stress failed"
extra=()
for p in $(make -s --no-print-directory -C "$REPO/stress" print-debug-progs); do
	extra+=("$REPO/stress/$p")
done
extra+=("$HERE/guest-debug.sh")
# the caller's own, after ours (run one with TESTS=its-name)
extra+=(${EXTRA_TESTS:-})

# Arguments reach the guest programs as environment variables: the kernel
# hands unknown NAME=VALUE parameters to init, and of two with the same
# name the later wins, so the caller's QEMU_APPEND goes last.
append="panic_on_warn=$PANIC_ON_WARN log_buf_len=16M"
append+=" KMBOX_FUZZ_ARGS=\"--ops $FUZZ_OPS --duration 0\""
append+=" KMBOX_STRESS_ARGS=\"--duration $STRESS_SECS\""
append+=" KMBOX_LIFECYCLE_ARGS=$LIFECYCLE_CYCLES"
append+=" KMBOX_DEBUG_ARGS=\"$FAILSLAB\""

echo "kmbox debug: kernel $KERNEL"
echo "kmbox debug: module $ko ($(grep -ao 'vermagic=[^ ]*' "$ko" | head -n 1))"
echo "kmbox debug: fuzz $FUZZ_OPS ops, stress $STRESS_SECS s, lifecycle $LIFECYCLE_CYCLES rounds, failslab $FAILSLAB"

# run.sh's dmesg scan is the verdict, as for the stock kernel: on this
# kernel it also sees KASAN, lockdep, UBSAN and kmemleak reports.
KERNEL_IMAGE=$KERNEL KMBOX_KO=$ko KDIR=$KDIR EXTRA_TESTS="${extra[*]}" \
	QEMU_APPEND="$append${QEMU_APPEND:+ $QEMU_APPEND}" \
	"$REPO/qemu/run.sh" check
