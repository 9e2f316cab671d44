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

# export SPEC DIR: the module's sources of SPEC into DIR; prints a label
export_tree() {
	local spec=$1 dir=$2 rev
	mkdir -p "$dir"
	if [ -d "$spec" ] && [ -f "$spec/Kbuild" ] && [ -d "$spec/module" ]; then
		tar -C "$spec" --exclude='*.o' --exclude='*.ko' --exclude='*.mod' \
			--exclude='*.mod.c' --exclude='.*.cmd' --exclude='modules.order' \
			--exclude='Module.symvers' --exclude='.kdir-release' \
			-cf - Kbuild module uapi | tar -C "$dir" -xf -
		rev=$(git -C "$spec" describe --always --dirty 2>/dev/null || echo tree)
		echo "$(basename "$(cd "$spec" && pwd)")-$rev"
	else
		rev=$(git -C "$REPO" rev-parse --verify --quiet "$spec^{commit}") ||
			die "'$spec' is neither a git revision nor a directory with a kmbox tree"
		git -C "$REPO" archive "$rev" Kbuild module uapi | tar -C "$dir" -xf -
		git -C "$REPO" rev-parse --short "$rev"
	fi
}

kos=()
labels=()
for side in A B; do
	spec=${!side}
	flagsvar=${side}_MAKE
	flags=${!flagsvar}
	src=$work/src-$side
	label=$(export_tree "$spec" "$src")
	[ -z "$flags" ] || label+="-$(echo "$flags" | tr -c 'A-Za-z0-9=\n' '_' | tr '=' '_')"
	label=$(echo "$label" | tr -c 'A-Za-z0-9._+\n-' '_')
	echo "kmbox: module $side = $spec${flags:+ ($flags)}: building ($label)"
	# shellcheck disable=SC2086 # make variables, one per word
	make -s -C "$KDIR" M="$src" -j"$(nproc)" modules $flags >"$work/build-$side.log" 2>&1 || {
		cat "$work/build-$side.log" >&2
		die "building module $side failed"
	}
	ko=$work/$side-$label.ko
	# No debug sections in the guest: a smaller image, a quicker insmod.
	strip --strip-debug -o "$ko" "$src/module/kmbox.ko"
	kos+=("$ko")
	labels+=("$label")
done
for side in A B; do
	cmp -s "$REPO/uapi/linux/kmbox.h" "$work/src-$side/uapi/linux/kmbox.h" ||
		note "uapi/linux/kmbox.h of $side differs from this tree's, which the benchmark is built with: a mechanism that uses what differs may fail under $side"
done

RESULTS_DIR=${RESULTS_DIR:-$REPO/bench/results/ab-$(date +%Y%m%d-%H%M%S)}
export RESULTS_DIR
echo "kmbox: A/B: ${labels[0]} against ${labels[1]}; results in $RESULTS_DIR"
BENCH_FILES="${kos[*]}" KMBOX_KO=${kos[0]} \
	BENCH_ARGS="$BENCH_ARGS --ab /bench/${kos[0]##*/},/bench/${kos[1]##*/}" \
	"$REPO/qemu/run.sh" bench
