#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# make bench-profile: where the time of one benchmark measurement goes,
# per CPU and by symbol.  Boots a check-mode guest with perf in it
# (qemu/trace-tools.sh), the benchmark guest's clock and idle loop, and no
# slub_debug, and runs bench/profile-guest.sh: one kmbox-bench
# measurement per mechanism of BENCH_ARGS' --mech under `perf record -a`.
# A profile is a distribution: it is read on a quiet host like any
# timing, and it never gives a verdict.
# shellcheck source=qemu/lib.sh
. "$(dirname "$0")/lib.sh"

REPO=$(cd "$(dirname "$0")/.." && pwd)
PROFILE_DEFAULT_ARGS="--workloads stream --sizes 64 --placement cross --warm 300 --time 3000 --mech kmbox,pipe"
BENCH_ARGS=${BENCH_ARGS:-$PROFILE_DEFAULT_ARGS}
TOP=${TOP:-25}

usage() {
	cat <<EOT
usage: make bench-profile [BENCH_ARGS=...] [TOP=n]
       (or BENCH_ARGS=... qemu/bench-profile.sh)

For each mechanism of --mech, one measurement (kmbox-bench --rounds 1 and
the rest of BENCH_ARGS) under perf record -a; prints each CPU's share and
its TOP symbols.  Cross-CPU placement runs the sender on CPU 0 and the
receiver on CPU 1.
  BENCH_ARGS   default: $PROFILE_DEFAULT_ARGS
  TOP=$TOP       symbols per CPU
  RESULTS_DIR  default bench/results/profile-DATE (profile.md: the console's profile lines)
  and qemu/run.sh's knobs (TIMEOUT, ...).
EOT
}

case ${1:-} in
-h|--help) usage; exit 0;;
"") ;;
*) usage >&2; exit 2;;
esac
case " $BENCH_ARGS " in
*" --mech "*|*" --mech="*) ;;
*) die "BENCH_ARGS: name the mechanisms to profile with --mech";;
esac
case $TOP in
''|*[!0-9]*) die "TOP: a number";;
esac
[ -x "$REPO/bench/kmbox-bench" ] || die "bench/kmbox-bench is not built: make bench-build"

work=$(mktemp -d "${TMPDIR:-/tmp}/kmbox-profile.XXXXXX")
trap 'rm -rf "$work"' EXIT
RESULTS_DIR=${RESULTS_DIR:-$REPO/bench/results/profile-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$RESULTS_DIR"
rc=0
# The bench guest's clock and idle loop (run.sh bench mode); slub_debug,
# which check mode turns on, off again (the last one given counts).
TRACE=1 EXTRA_TESTS="$REPO/bench/profile-guest.sh" TESTS=profile-guest.sh \
	BENCH_ARGS="$BENCH_ARGS" \
	QEMU_APPEND="slub_debug=- clocksource=tsc tsc=reliable idle=poll pti=off KMBOX_PROFILE_TOP=$TOP${QEMU_APPEND:+ $QEMU_APPEND}" \
	"$REPO/qemu/run.sh" check >"$work/run.log" 2>&1 || rc=$?
cp "$work/run.log" "$RESULTS_DIR/console.log"
tr -d '\r' <"$work/run.log" | sed -n '/^TAP version/,/^[0-9]* passed/p' >"$RESULTS_DIR/profile.md"
cat "$RESULTS_DIR/profile.md"
[ "$rc" = 0 ] || die "the guest failed (rc $rc): $RESULTS_DIR/console.log"
echo "kmbox: profile in $RESULTS_DIR/profile.md"
