#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# The guest side of `make bench-profile` (qemu/bench-profile.sh), run as a
# test program of a check-mode guest with perf in it: for each mechanism
# of /etc/kmbox/bench-args' --mech list, one kmbox-bench measurement of
# the rest of those arguments under `perf record -a`, then where each
# CPU's time went, by symbol.  Cross-CPU placement puts the sending side
# on CPU 0 and the receiving side on CPU 1.
# KMBOX_PROFILE_TOP (kernel command line): symbols shown per CPU.
TOP=${KMBOX_PROFILE_TOP:-25}
args=$(cat /etc/kmbox/bench-args 2>/dev/null)
mechs=
rest=
# shellcheck disable=SC2086 # options, one per word
set -- $args
while [ $# -gt 0 ]; do
	case $1 in
	--mech) mechs=$2; shift 2;;
	--mech=*) mechs=${1#--mech=}; shift;;
	*) rest="$rest $1"; shift;;
	esac
done
echo "TAP version 13"
if [ -z "$mechs" ] || ! command -v perf >/dev/null; then
	echo "1..0 # SKIP no --mech in BENCH_ARGS, or no perf in the image"
	exit 0
fi
n=$(echo "$mechs" | tr ',' '\n' | grep -c .)
echo "1..$n"
# The check guest runs slub_debug; qemu/bench-profile.sh turns it off.
echo "# clocksource $(cat /sys/devices/system/clocksource/clocksource0/current_clocksource)," \
	"slub sanity checks $(cat /sys/kernel/slab/kmalloc-64/sanity_checks 2>/dev/null || echo '?')"
i=0
for m in $(echo "$mechs" | tr ',' ' '); do
	i=$((i + 1))
	# shellcheck disable=SC2086 # options, one per word
	if ! perf record -q -a -F 999 -o /tmp/perf.data -- /bin/kmbox-bench --rounds 1 \
		--out "/tmp/profile-$m" $rest --mech "$m" >"/tmp/profile-$m.out" 2>&1; then
		sed 's/^/# /' "/tmp/profile-$m.out" | tail -5
		echo "not ok $i $m: kmbox-bench or perf failed"
		continue
	fi
	echo "# === $m:$rest"
	grep -E '^\| '"$m"' \| [0-9][^|]*·' "/tmp/profile-$m.out" | head -4 | sed 's/^/# /'
	# Percentages of the CPU's own samples; swapper is the CPU idle.
	for c in 0 1; do
		echo "# --- CPU $c"
		perf report -i /tmp/perf.data --cpu $c --no-children --sort comm,sym --stdio 2>/dev/null |
			grep -E '^ +[0-9]' | head -"$TOP" | sed 's/^/# /'
	done
	rm -f /tmp/perf.data
	echo "ok $i $m"
done
