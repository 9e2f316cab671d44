#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# make bench-ab: two builds of the kmbox module measured against each
# other in one benchmark guest.  Builds the module of A and of B (a git
# revision, or a directory holding a kmbox tree: its files as they are,
# committed or not), then boots qemu/run.sh's bench guest with both in it
# and runs kmbox-bench --ab, which loads one, then the other, within every
# group of measurements (bench/ab.c).  The benchmark program and the
# library are this tree's (make bench-build).
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
# kmbox mechanisms only; 64 B round trip and streaming, both placements
AB_DEFAULT_ARGS="--rounds 7 --workloads latency,stream --sizes 64 --mech kmbox,kmbox-ioctl --placement cross,same"
BENCH_ARGS=${BENCH_ARGS:-$AB_DEFAULT_ARGS}

usage() {
	cat <<EOT
usage: make bench-ab [A=rev|dir] [B=rev|dir] [A_MAKE=...] [B_MAKE=...] [BENCH_ARGS=...]
       (or A=... B=... qemu/bench-ab.sh)

Module A against module B, in one guest, interleaved (bench/README.md,
"A/B runs").  A and B: a git revision of this repository, or a directory
with a kmbox tree (Kbuild, module/, uapi/; its files as they are, so "."
is this tree with its uncommitted changes).
  A=$A  B=$B
  A_MAKE, B_MAKE   extra make variables for that side's module build,
                   e.g. A_MAKE="KMBOX_TRACE=0"
  BENCH_ARGS       kmbox-bench arguments (default:
                   $AB_DEFAULT_ARGS);
                   only kmbox mechanisms are run
  RESULTS_DIR      default bench/results/ab-DATE (ab.md, ab-raw.csv)
  and qemu/run.sh's knobs (TIMEOUT, QEMU_ACCEL, ...).
EOT
}

case ${1:-} in
-h|--help) usage; exit 0;;
"") ;;
*) usage >&2; exit 2;;
esac

KDIR=${KDIR:-$(kmbox_default_kdir)}
export KDIR
case " $BENCH_ARGS " in
*" --ab "*|*" --ab="*|*" --out "*) die "BENCH_ARGS: --ab and --out are set by this script";;
esac

work=$(mktemp -d "${TMPDIR:-/tmp}/kmbox-ab.XXXXXX")
trap 'rm -rf "$work"' EXIT

kmbox_build_ab "$work"
kos=("${AB_KOS[@]}")
labels=("${AB_LABELS[@]}")

RESULTS_DIR=${RESULTS_DIR:-$REPO/bench/results/ab-$(date +%Y%m%d-%H%M%S)}
export RESULTS_DIR
echo "kmbox: A/B: ${labels[0]} against ${labels[1]}; results in $RESULTS_DIR"
BENCH_FILES="${kos[*]}" KMBOX_KO=${kos[0]} \
	BENCH_ARGS="$BENCH_ARGS --ab /bench/${kos[0]##*/},/bench/${kos[1]##*/}" \
	"$REPO/qemu/run.sh" bench
