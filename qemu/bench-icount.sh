#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# make bench-icount: the path length of module A against module B, in
# instructions, on a busy host.  Builds both modules (qemu/ab-build.sh, as
# make bench-ab does), boots one guest of one CPU under QEMU's
# -icount shift=0,align=off,sleep=off, where the guest's clock advances
# one nanosecond per instruction, and runs bench/kmbox-icount under each
# module in turn (bench/icount-guest.sh).  Prints a table, A, B and B/A
# per operation, with the pipe's and POSIX mq's as references, and
# writes it to RESULTS_DIR/icount.md.
set -euo pipefail
# shellcheck source=qemu/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=qemu/ab-build.sh
. "$(dirname "$0")/ab-build.sh"

REPO=$(cd "$(dirname "$0")/.." && pwd)

A=${A:-HEAD}
B=${B:-.}
A_MAKE=${A_MAKE:-}
B_MAKE=${B_MAKE:-}
OPS=${OPS:-}
ICOUNT_N=${ICOUNT_N:-5000}
ICOUNT_REPS=${ICOUNT_REPS:-2}

usage() {
	cat <<EOT
usage: make bench-icount [A=rev|dir] [B=rev|dir] [A_MAKE=...] [B_MAKE=...] [OPS=op,op]
       (or A=... B=... qemu/bench-icount.sh)

Instructions per operation of module A and of module B (bench/README.md,
"Path length").  A and B as make bench-ab's: a git revision, or a
directory with a kmbox tree ("." is this tree with its uncommitted
changes).
  A=$A  B=$B
  OPS          kmbox-icount's operations (default: all of
               rw ioctl batch16 ucmd16 pipeuring16 zc pipe mq rw4096 rw65536 burst4096
               depth10 depth65536
               rtt-rw2 rtt-call rtt-call1 rtt-pipe2)
  ICOUNT_N=$ICOUNT_N  ICOUNT_REPS=$ICOUNT_REPS   iterations per op, and repeats (least kept)
  RESULTS_DIR  default bench/results/icount-DATE (icount.md, console.log)
  and qemu/run.sh's knobs (TIMEOUT, ...).
EOT
}

case ${1:-} in
-h|--help) usage; exit 0;;
"") ;;
*) usage >&2; exit 2;;
esac

KDIR=${KDIR:-$(kmbox_default_kdir)}
export KDIR
prog=$REPO/bench/kmbox-icount
[ -x "$prog" ] || die "$prog is not built: make bench-build (it needs userlib/libkmbox.a)"
case $OPS in
*[!a-z0-9,-]*) die "OPS: operation names separated by commas";;
esac

work=$(mktemp -d "${TMPDIR:-/tmp}/kmbox-icount.XXXXXX")
trap 'rm -rf "$work"' EXIT
kmbox_build_ab "$work"

RESULTS_DIR=${RESULTS_DIR:-$REPO/bench/results/icount-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$RESULTS_DIR"
args="-n $ICOUNT_N -r $ICOUNT_REPS${OPS:+ -o $OPS}"
echo "kmbox: icount: ${AB_LABELS[0]} against ${AB_LABELS[1]}; kmbox-icount $args"
# One CPU, so that a round trip's two threads take turns and nothing idles;
# no slub_debug (check mode's default); pti=off as in the bench guest.
rc=0
QEMU_ACCEL=tcg QEMU_OPTS="-icount shift=0,align=off,sleep=off" SMP=1 \
	EXTRA_TESTS="$prog $REPO/bench/icount-guest.sh" TESTS=icount-guest.sh \
	BENCH_FILES="${AB_KOS[*]}" KMBOX_KO=${AB_KOS[0]} \
	QEMU_APPEND="slub_debug=- pti=off KMBOX_ICOUNT_ARGS=\"$args\"${QEMU_APPEND:+ $QEMU_APPEND}" \
	"$REPO/qemu/run.sh" check >"$work/run.log" 2>&1 || rc=$?
cp "$work/run.log" "$RESULTS_DIR/console.log"
grep -E '^# [AB]-|^(not )?ok |passed' "$work/run.log" || true
[ "$rc" = 0 ] || die "the guest failed (rc $rc): $RESULTS_DIR/console.log"

# ICOUNT <label> <op> <value>: one table, ops in the order first seen
tr -d '\r' <"$work/run.log" | awk -v a="A-${AB_LABELS[0]}" -v b="B-${AB_LABELS[1]}" \
	-v la="${AB_LABELS[0]}" -v lb="${AB_LABELS[1]}" '
	$1 == "ICOUNT" && NF == 4 {
		if (!($3 in seen)) { seen[$3] = 1; ops[n++] = $3 }
		v[$2, $3] = $4
	}
	function r(x, y) { return (x ~ /^[0-9]+$/ && y ~ /^[0-9]+$/ && y > 0) ? sprintf("%.3f", x / y) : "-" }
	END {
		if (!n) { print "no ICOUNT lines in the console" > "/dev/stderr"; exit 1 }
		printf "Instructions per operation (QEMU -icount, one CPU), A = %s, B = %s\n\n", la, lb
		print "| op | A | B | B/A | B/pipe | B/mq |"
		print "|---|---:|---:|---:|---:|---:|"
		for (i = 0; i < n; i++) {
			o = ops[i]; x = v[a, o]; y = v[b, o]
			printf "| %s | %s | %s | %s | %s | %s |\n", o, x, y, r(y, x),
			       (o ~ /^(rw|ioctl)$/) ? r(y, v[b, "pipe"]) : (o ~ /^rtt-(rw2|call|call1)$/) ? r(y, v[b, "rtt-pipe2"]) : (o == "ucmd16") ? r(y, v[b, "pipeuring16"]) : "",
			       (o ~ /^(rw|ioctl)$/) ? r(y, v[b, "mq"]) : ""
		}
	}' >"$RESULTS_DIR/icount.md"
echo
cat "$RESULTS_DIR/icount.md"
echo
echo "kmbox: icount table in $RESULTS_DIR/icount.md"
