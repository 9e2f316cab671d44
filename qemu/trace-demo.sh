#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# make run TRACE=1: kmbox's tracepoints through Debian's perf and bpftrace
# (qemu/trace-tools.sh puts them in the image), on a little traffic made
# with kmboxctl.  Runs as /trace-demo.sh in the guest, in /tmp, after the
# demo.  POSIX sh; exits non-zero only when a tool fails.
set -u

# (With --traffic: only the traffic, which perf trace runs.)
for t in kmboxctl perf bpftrace; do
	command -v "$t" >/dev/null 2>&1 || {
		echo "trace-demo: no $t in the image (qemu/trace-tools.sh)"
		exit 1
	}
done
[ -d /sys/kernel/tracing/events ] || mount -t tracefs tracefs /sys/kernel/tracing

kmboxctl create jobs -e >/dev/null
kmboxctl create replies -e >/dev/null

# Two kinds of waiting: "jobs" fills up and is drained slowly, so its
# messages wait for milliseconds to a second; on "replies" a receiver is
# always waiting, so each message is handed to it (0 in the histogram).
traffic() {
	i=0
	while [ $i -lt 3 ]; do
		kmboxctl recv replies -t 10 >/dev/null &
		r=$!
		sleep 0.2
		kmboxctl send replies "reply $i"
		wait $r
		i=$((i + 1))
	done
	i=0
	while [ $i -lt 8 ]; do
		kmboxctl send jobs -p $((i % 2)) "job $i"
		i=$((i + 1))
	done
	i=0
	while [ $i -lt 8 ]; do
		sleep 0.$((i + 1))
		kmboxctl recv jobs >/dev/null
		i=$((i + 1))
	done
}

if [ "${1:-}" = --traffic ]; then
	traffic
	exit 0
fi

echo '$ kmboxctl list'
kmboxctl list
echo "\$ perf trace -e 'kmbox:*' -- <traffic>"
perf --no-pager trace -e 'kmbox:*' -- "$0" --traffic 2>&1 || exit 1

echo "\$ perf record -a -e 'kmbox:*' -o /tmp/perf.data -- <traffic>; perf script"
perf record -q -a -B -N -e 'kmbox:*' -o /tmp/perf.data -- "$0" --traffic || exit 1
perf --no-pager script -i /tmp/perf.data || exit 1

echo '$ bpftrace /bin/kmbox-latency.bt 3 &   # and the same traffic'
bpftrace -B none /bin/kmbox-latency.bt 3 >/tmp/bt.out 2>&1 &
bt=$!
# Never leave it attached: rmmod kmbox would fail.
trap 'kill -KILL $bt 2>/dev/null' EXIT
trap 'exit 143' TERM INT
w=0
while ! grep -q 'kmbox time in queue' /tmp/bt.out && kill -0 $bt 2>/dev/null && [ $w -lt 600 ]; do
	sleep 0.2
	w=$((w + 1))
done
traffic
sleep 4
kill -INT $bt
wait $bt
rc=$?
cat /tmp/bt.out
kmboxctl unlink jobs replies
exit $rc
