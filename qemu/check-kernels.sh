#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# make check-kernels: 'make check KVER=...' on each kernel of the matrix
# (qemu/kernels.sh list), one after the other, each run's output in
# qemu/logs/check-KVER.log; then one verdict line per kernel and a total.
# Exit status 0 only if every kernel passed.
set -uo pipefail
# shellcheck source=qemu/lib.sh
. "$(dirname "$0")/lib.sh"

REPO=$(cd "$(dirname "$0")/.." && pwd)
LOG_DIR=${LOG_DIR:-$REPO/qemu/logs}

case ${1:-} in
-h|--help)
	echo "usage: ${0##*/} [KVER...]   (default: every kernel of qemu/kernels.sh list)"
	exit 0;;
esac

if [ $# -gt 0 ]; then
	kvers=("$@")
else
	mapfile -t kvers < <("$REPO/qemu/kernels.sh" list | awk '{print $1}')
fi
mkdir -p "$LOG_DIR"

verdicts=()
bad=0
t0=$(date +%s)
for k in "${kvers[@]}"; do
	log=$LOG_DIR/check-$k.log
	note "make check KVER=$k (log: ${log#"$REPO"/})"
	s=$(date +%s)
	make -C "$REPO" --no-print-directory check KVER="$k" </dev/null >"$log" 2>&1
	rc=$?
	secs=$(($(date +%s) - s))
	sum=$(grep -E '^[0-9]+ passed, [0-9]+ failed, [0-9]+ skipped$' "$log" | tail -n 1)
	rel=$("$REPO/qemu/kernels.sh" release "$k" 2>/dev/null || echo '?')
	tc=$(awk -v k="$k" '$1 == k {print $2 ", " ($4 == "host" ? "host gcc" : "trixie root")}' \
		< <("$REPO/qemu/kernels.sh" list))
	if [ "$rc" = 0 ] && [ -n "$sum" ]; then
		v=PASS
	else
		v=FAIL
		bad=$((bad + 1))
		[ -n "$sum" ] || sum="no test ran (exit $rc; see ${log#"$REPO"/})"
	fi
	line=$(printf 'check-kernels: %-8s %-4s %s  [%s; %s] %dm%02ds' \
		"$k" "$v" "$sum" "$rel" "$tc" $((secs / 60)) $((secs % 60)))
	echo "$line"
	verdicts+=("$line")
done
secs=$(($(date +%s) - t0))
echo
printf '%s\n' "${verdicts[@]}"
printf 'check-kernels: %d of %d kernels passed in %dm%02ds\n' \
	$((${#kvers[@]} - bad)) ${#kvers[@]} $((secs / 60)) $((secs % 60))
[ "$bad" = 0 ]
