#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Soak test: kmbox_stress and kmbox_fuzz for a long time in the QEMU
# guest, on the Debian kernel (default) or on the debug kernel.  What
# `make soak` runs.
#
# Usage: stress/soak.sh [--debug] [--duration SECONDS] [--seed S]
#   --duration  stress time; the fuzzer gets half as long (default 3600)
#   --seed      seed of both programs (default: the time)
#   --debug     boot the debug kernel (qemu/debug/run-debug.sh; KASAN,
#               lockdep, kmemleak, failslab; much slower)
# Needs `make` done first (module, userlib, stress/).  Prints qemu/run.sh's
# verdict; exit status 0 only if nothing failed.  Knobs of qemu/run.sh
# (SMP, QEMU_MEM, LOG_DIR, ...) pass through.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)

die() { echo "${0##*/}: $*" >&2; exit 1; }

debug=0
secs=3600
seed=$(date +%s)
while [ $# -gt 0 ]; do
	case $1 in
	--debug) debug=1;;
	--duration) secs=${2:?--duration needs a value}; shift;;
	--seed) seed=${2:?--seed needs a value}; shift;;
	-h|--help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; exit 0;;
	*) die "unknown argument $1 (see --help)";;
	esac
	shift
done
[[ $secs =~ ^[0-9]+$ ]] || die "--duration must be a number of seconds"
[[ $seed =~ ^[0-9]+$ ]] || die "--seed must be a number"

make -s -C "$HERE" >&2 || die "make -C stress failed"
fuzz=$((secs / 2))
limit=$((secs + fuzz + 1800))
echo "kmbox soak: seed $seed, stress $secs s, fuzz $fuzz s, $([ $debug = 1 ] && echo debug || echo Debian) kernel"

export TESTS="kmbox_stress kmbox_fuzz"
export TIMEOUT=$limit TEST_TIMEOUT=$((secs + 900))
args="KMBOX_STRESS_ARGS=\"--seed $seed --duration $secs --procs 8\""
args+=" KMBOX_FUZZ_ARGS=\"--seed $seed --duration $fuzz --ops 0\""
export QEMU_APPEND="${QEMU_APPEND:+$QEMU_APPEND }$args"
if [ $debug = 1 ]; then
	exec "$REPO/qemu/debug/run-debug.sh"
fi
# qemu/mkinitramfs.sh puts stress/'s programs in the image.
exec "$REPO/qemu/run.sh" check
