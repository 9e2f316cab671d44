#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# make dkms-check: for each kernel of the matrix (qemu/kernels.sh list),
# 'dkms add' and 'dkms build' the top-level dkms.conf in a throw-away DKMS
# tree with that kernel's toolchain (never /var/lib/dkms: see
# qemu/kernels.sh dkms), then boot that kernel in QEMU, load the module
# DKMS built and run a short smoke test (the library's live test and
# kmboxctl's round trips).  In the same guest the module DKMS built for
# the next kernel of the list is loaded too, and must be refused by the
# kernel with its version message (load-time safety).
# One verdict line per kernel; exit status 0 only if all passed.
#   SMOKE_TESTS="..."  the test programs of the smoke test
set -uo pipefail
# shellcheck source=qemu/lib.sh
. "$(dirname "$0")/lib.sh"

REPO=$(cd "$(dirname "$0")/.." && pwd)
SMOKE_TESTS=${SMOKE_TESTS:-libkmbox_live_test test-kmboxctl.sh}
LOG_DIR=${LOG_DIR:-$REPO/qemu/logs}

case ${1:-} in
-h|--help) sed -n '3,14p' "$0" | sed 's/^# \{0,1\}//'; echo "usage: ${0##*/} [KVER...]"; exit 0;;
esac
if [ $# -gt 0 ]; then
	kvers=("$@")
else
	mapfile -t kvers < <("$REPO/qemu/kernels.sh" list | awk '{print $1}')
fi
mkdir -p "$LOG_DIR"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/kmbox-dkms-check.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

t0=$(date +%s)
declare -A ko image kdir rel buildok
# Phase 1: fetch and dkms build, every kernel.
for k in "${kvers[@]}"; do
	blog=$LOG_DIR/dkms-build-$k.log
	if ! env=$("$REPO/qemu/kernels.sh" prepare "$k" 2>"$blog"); then
		cat "$blog" >&2
		buildok[$k]=0
		continue
	fi
	image[$k]=$(sed -n 's/^KERNEL_IMAGE=//p' <<<"$env")
	kdir[$k]=$(sed -n 's/^KDIR=//p' <<<"$env")
	rel[$k]=$("$REPO/qemu/kernels.sh" release "$k")
	mkdir -p "$tmp/$k"
	# The file name tells which kernel it was built for, in the guest too.
	ko[$k]=$tmp/$k/kmbox-built-for-${rel[$k]}.ko
	note "dkms add/build for $k (${rel[$k]}; log: ${blog#"$REPO"/})"
	if "$REPO/qemu/kernels.sh" dkms "$k" "${ko[$k]}" >>"$blog" 2>&1; then
		buildok[$k]=1
	else
		buildok[$k]=0
		tail -n 20 "$blog" >&2
	fi
done

# Phase 2: boot each kernel with its module and the next one's.
lines=()
bad=0
n=${#kvers[@]}
for i in "${!kvers[@]}"; do
	k=${kvers[$i]}
	s=$(date +%s)
	if [ "${buildok[$k]}" != 1 ]; then
		lines+=("$(printf 'dkms-check: %-8s FAIL dkms build failed (log: qemu/logs/dkms-build-%s.log)' "$k" "$k")")
		bad=$((bad + 1))
		continue
	fi
	wrong=
	if [ "$n" -gt 1 ]; then
		w=${kvers[$(((i + 1) % n))]}
		[ "${buildok[$w]:-0}" = 1 ] && [ "${rel[$w]}" != "${rel[$k]}" ] && wrong=${ko[$w]}
	fi
	out=$tmp/run-$k.out
	note "booting ${rel[$k]} with the DKMS-built module: $SMOKE_TESTS${wrong:+, and ${wrong##*/} (must be refused)}"
	KDIR=${kdir[$k]} KERNEL_IMAGE=${image[$k]} KMBOX_KO=${ko[$k]} TESTS=$SMOKE_TESTS \
		EXTRA_MODULES=$wrong QUIET=1 LOG_DIR=$LOG_DIR "$REPO/qemu/run.sh" check </dev/null >"$out" 2>&1
	clog=$(sed -n 's/^kmbox: check finished in .* console log: //p' "$out")
	secs=$(($(date +%s) - s))
	why=
	smoke=$(grep -E '^[^ ]+: [0-9]+ passed, [0-9]+ failed, [0-9]+ skipped \(rc' "$out" |
		awk '{p += $2; f += $4} END {printf "%d passed, %d failed", p, f}')
	nprog=$(grep -cE '^[^ ]+: [0-9]+ passed, 0 failed, [0-9]+ skipped \(rc 0\)$' "$out")
	[ "$nprog" = "$(wc -w <<<"$SMOKE_TESTS")" ] || why="smoke test failed ($smoke)"
	grep -q '^KMBOX:INSMOD ok' "$clog" 2>/dev/null || why="the DKMS-built module did not load"
	# The only failure run.sh may report is the refused module.
	others=$(grep '^FAIL: ' "$out" | grep -v "^FAIL: insmod ${wrong##*/} failed (rc [1-9][0-9]*)$")
	[ -z "$others" ] || why="${why:+$why; }$(head -n 1 <<<"$others")"
	refused=
	if [ -n "$wrong" ]; then
		refused=$(grep -aoE '(module )?kmbox: (version magic .*|disagrees about version of symbol .*|.*section size must match .*)' "$clog" | head -n 1 | tr -d '\r')
		grep -q "^KMBOX:INSMOD-EXTRA ${wrong##*/} [1-9]" "$clog" ||
			why="${why:+$why; }the module built for another kernel loaded"
		[ -n "$refused" ] ||
			why="${why:+$why; }no version message from the kernel for the module built for another kernel"
	fi
	if [ -z "$why" ]; then
		v="PASS dkms build, load, smoke $smoke"
		[ -z "$refused" ] || v+="; other kernel's module refused: \"$refused\""
	else
		v="FAIL $why (console log: ${clog#"$REPO"/})"
		bad=$((bad + 1))
	fi
	lines+=("$(printf 'dkms-check: %-8s %s [%s] %dm%02ds' "$k" "$v" "${rel[$k]}" $((secs / 60)) $((secs % 60)))")
	echo "${lines[-1]}"
done
secs=$(($(date +%s) - t0))
echo
printf '%s\n' "${lines[@]}"
printf 'dkms-check: %d of %d kernels passed in %dm%02ds\n' $((n - bad)) "$n" $((secs / 60)) $((secs % 60))
[ "$bad" = 0 ]
