#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# guest-debug.sh: the debug kernel's extra checks, run in the QEMU guest
# (POSIX sh, busybox) as the last test program, after the selftests and
# stress/ programs, with the module loaded.
#
# Usage (guest, root): guest-debug.sh
# Environment (the kernel passes unknown NAME=VALUE boot parameters to
# init, e.g. QEMU_APPEND='KMBOX_DEBUG_ARGS="60 10"'):
#   KMBOX_DEBUG_ARGS="SECONDS PERCENT"  length of the failslab run
#                                       (default 60) and its probability
#                                       (default 10)
#   KMBOX_KO_PATH=/kmbox.ko             module to reload at the end
#
# Cases (KTAP):
#  1. failslab run: kmbox_fuzz --faults for SECONDS, with failslab
#     task-filter=Y, probability=PERCENT, interval=1, times=-1,
#     ignore-gfp-wait=N, so that PERCENT % of the fuzzers' slab
#     allocations fail; the fuzzer must see nothing impossible and not
#     crash; prints how many allocations failed
#  2. all counts in /proc/kmbox/stats are zero afterwards
#  3. rmmod, then kmbox_failinj --load: finit_module() with the n-th
#     fault site failing, n = 1, 2, ... (kmbox_init's error unwinding:
#     nothing may be left behind, the next load must work)
#  4. kmemleak: "scan" twice (about 20 s each under TCG) and no
#     unreferenced object allocated by kmbox (a backtrace naming kmbox or
#     running through the module's old text); other suspects are listed
#     but do not fail, and everything listed is then "clear"ed, so that
#     qemu/init's final scan shows only what leaks after this point
#  5. the module loads again (so qemu/init's own rmmod runs)
# On a kernel without kmemleak/failslab it prints SKIPs and exits 4.

PATH=/bin:/sbin:/usr/bin:/usr/sbin
KO=${KMBOX_KO_PATH:-/kmbox.ko}
FUZZ=/tests/kmbox_fuzz
D=/sys/kernel/debug
FS=$D/failslab
# shellcheck disable=SC2086 # two words by design
set -- ${KMBOX_DEBUG_ARGS:-60 10}
secs=${1:-60}
pct=${2:-10}
n=0
failed=0

ok() { n=$((n + 1)); echo "ok $n $*"; }
verdict() {
	n=$((n + 1))
	if [ "$1" = 1 ]; then
		echo "ok $n $2"
	else
		failed=$((failed + 1))
		echo "not ok $n $2"
	fi
}
diag() { echo "# $*"; }

stats_zero() {
	t=0
	while [ $t -lt 30 ]; do
		if [ -r /proc/kmbox/stats ] && [ -z "$(awk '$2 != 0' /proc/kmbox/stats)" ]; then
			return 0
		fi
		sleep 0.1
		t=$((t + 1))
	done
	diag "/proc/kmbox/stats not zero:"
	sed 's/^/#   /' /proc/kmbox/stats 2>/dev/null
	return 1
}

echo "TAP version 13"
echo "1..5"
if [ ! -w $D/kmemleak ] || [ ! -d $FS ]; then
	for _ in 1 2 3 4 5; do ok "debug checks # SKIP no kmemleak/failslab (not the debug kernel)"; done
	exit 4
fi

# --- 1, 2: failslab on the fuzzers -------------------------------------------------
knobs="probability interval times space verbose task-filter ignore-gfp-wait"
for k in $knobs; do
	eval "old_$(echo "$k" | tr '-' '_')=\$(cat $FS/$k)"
done
good=1
if [ -x $FUZZ ]; then
	echo Y >$FS/task-filter
	echo N >$FS/ignore-gfp-wait
	echo 0 >$FS/space
	echo 0 >$FS/verbose
	echo 1 >$FS/interval
	echo 1000000000 >$FS/times
	echo "$pct" >$FS/probability
	# Indented, so that its KTAP lines are not taken for ours.
	($FUZZ --faults --duration "$secs" --ops 0 --seed "$$"; echo $? >/tmp/fuzzrc.$$) 2>&1 |
		sed 's/^/    /'
	rc=$(cat /tmp/fuzzrc.$$ 2>/dev/null || echo 1)
	rm -f /tmp/fuzzrc.$$
	left=$(cat $FS/times)
	echo 0 >$FS/probability
	for k in $knobs; do
		eval "echo \"\$old_$(echo "$k" | tr '-' '_')\" >$FS/$k"
	done
	diag "failslab failed $((1000000000 - left)) allocations of the fuzzers in $secs s"
	[ "$rc" = 0 ] || good=0
else
	diag "$FUZZ missing"
	good=0
fi
verdict $good "debug: kmbox_fuzz under failslab ($pct %, ${secs} s) saw nothing impossible"
good=1
stats_zero || good=0
verdict $good "debug: all counts zero after the failslab run"

# --- 3: kmemleak after rmmod ------------------------------------------------------------
good=1
mod=$(grep '^kmbox ' /proc/modules)
# "kmbox SIZE REFS DEPS STATE ADDR": the module's range, for backtraces
# that can no longer be resolved once it is gone.
size=$(echo "$mod" | awk '{ print $2 }')
base=$(echo "$mod" | awk '{ print $6 }')
if ! rmmod kmbox; then
	diag "rmmod kmbox failed"
	good=0
fi
good_load=1
if [ -x /tests/kmbox_failinj ] && ! grep -q '^kmbox ' /proc/modules; then
	(/tests/kmbox_failinj --load "$KO"; echo $? >/tmp/failinjrc.$$) 2>&1 | sed 's/^/    /'
	[ "$(cat /tmp/failinjrc.$$ 2>/dev/null)" = 0 ] || good_load=0
	rm -f /tmp/failinjrc.$$
	grep -q '^kmbox ' /proc/modules && rmmod kmbox
else
	diag "no /tests/kmbox_failinj, or the module would not unload"
	good_load=0
fi
verdict $good_load "debug: insmod with each fault site failing in turn unwinds cleanly"
diag "kmemleak: scanning twice (about 20 s each under TCG)"
echo scan >$D/kmemleak
echo scan >$D/kmemleak
out=/tmp/kmemleak.$$
cat $D/kmemleak >$out
# One record per "unreferenced object"; ours if it names kmbox or an
# address of the old module text.
leaks=$(awk -v base="${base:-0}" -v size="${size:-0}" '
function hex(s,   i, c, v) {
	v = 0; s = tolower(s); sub(/^0x/, "", s)
	for (i = 1; i <= length(s); i++) { c = index("0123456789abcdef", substr(s, i, 1)); v = v * 16 + c - 1 }
	return v
}
BEGIN { lo = hex(base); hi = lo + size; n = 0; mine = 0 }
/^unreferenced object/ { if (rec != "" && mine) { n++; if (n <= 3) printf "%s", rec } rec = ""; mine = 0 }
{
	rec = rec "#   " $0 "\n"
	if ($0 ~ /kmbox/) mine = 1
	if (match($0, /\[<[0-9a-f]+>\]/)) {
		a = hex(substr($0, RSTART + 2, RLENGTH - 4))
		if (lo && a >= lo && a < hi) mine = 1
	}
}
END { if (rec != "" && mine) { n++; if (n <= 3) printf "%s", rec } printf "#   kmbox leaks: %d\n", n }' $out)
others=$(grep -c '^unreferenced object' $out)
echo "$leaks"
case $leaks in
*"kmbox leaks: 0") ;;
*) good=0;;
esac
diag "kmemleak: $others unreferenced object(s) in all (kernel-wide, not all ours); the first others:"
awk '/^unreferenced object/ { r++ } r <= 3 && (/^unreferenced|comm|\[</) { print "#     " $0 }' $out |
	grep -v kmbox | head -n 18
# What was listed has been judged: mark it seen, so that qemu/init's final
# scan reports only what leaks from here on.  (This kernel has 8-10
# boot-time suspects, kmem_caches ACPI makes in start_kernel().)
echo clear >$D/kmemleak
rm -f $out
verdict $good "debug: kmemleak finds nothing of kmbox's after rmmod"

# --- 4 -------------------------------------------------------------------------------------
good=1
grep -q '^kmbox ' /proc/modules || insmod "$KO" || good=0
stats_zero || good=0
verdict $good "debug: module loads again"

[ $failed = 0 ]
