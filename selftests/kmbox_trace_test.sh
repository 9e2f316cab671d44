#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# perf and bpftrace on kmbox's tracepoints, in the QEMU guest (make check
# runs it as root, with Debian's perf and bpftrace from
# qemu/trace-tools.sh).  Known traffic goes through kmboxctl, and what the
# tools report of it must match it exactly:
#
#  1-2  perf record -a -e kmbox:kmbox_send -e kmbox:kmbox_recv, then
#       perf script: one event per message sent and received on each
#       mailbox, with its id, length and priority, each send from the
#       sending process, each receive naming that sender (or 0 once it
#       has exited) and its time in queue;
#  3    perf trace -e 'kmbox:*': the same sends and receives, live;
#  4-5  bpftrace tools/kmbox-latency.bt: a time-in-queue histogram for the
#       mailbox whose counts add up to the messages received there, with
#       the one handed to a waiting receiver in the 0 bucket, and the
#       hand-off counted; nothing for any other mailbox;
#  6    the same script printing every second: an interval with no
#       traffic says so, the next one after traffic shows the mailbox.
#
# A tool that is not in the image, or cannot run (no tracefs, no BTF),
# makes its tests skip, saying why.  POSIX sh, for busybox.
set -u

T=${TMPDIR:-/tmp}/kmbox-trace.$$
n=0
bad=0
mkdir -p "$T" || exit 1
trap 'cleanup' EXIT
# Stopped by the guest's time limit (SIGTERM): clean up all the same, or
# its named mailboxes outlive it and fail every leak check after it.
trap 'exit 143' TERM INT
cleanup() {
	[ -n "${btpid:-}" ] && kill -KILL "$btpid" 2>/dev/null
	for m in $made; do kmboxctl unlink -f "$m" >/dev/null 2>&1; done
	rm -rf "$T"
}
made=

ok() { n=$((n + 1)); echo "ok $n $1"; }
notok() {
	n=$((n + 1))
	bad=$((bad + 1))
	echo "not ok $n $1"
	shift
	for f in "$@"; do
		[ -f "$f" ] && sed 's/^/# /' "$f" | head -n 40
	done
}
skip() { n=$((n + 1)); echo "ok $n $1 # SKIP $2"; }

# is DESCRIPTION WANT GOT [FILES TO SHOW]
is() {
	if [ "$2" = "$3" ]; then
		ok "$1"
	else
		d=$1 w=$2 g=$3
		shift 3
		notok "$d: got '$g', want '$w'" "$@"
	fi
}

# step WHAT: a diagnostic line with the guest's uptime, to see where the
# test's time goes (bpftrace compiles its script with LLVM: slow in TCG).
step() { echo "# $(cut -d' ' -f1 /proc/uptime) s: $1"; }

echo "TAP version 13"
echo "1..6"

why=
[ "$(id -u)" = 0 ] || why="needs root"
[ -n "$why" ] || [ -c /dev/kmbox ] || why="no /dev/kmbox (module not loaded)"
[ -n "$why" ] || command -v kmboxctl >/dev/null 2>&1 || why="no kmboxctl (make -C tools)"
# perf and bpftrace look for tracefs here or under debugfs.
if [ -z "$why" ] && [ ! -d /sys/kernel/tracing/events ]; then
	mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null
	[ -d /sys/kernel/tracing/events/kmbox ] ||
		[ -d /sys/kernel/debug/tracing/events/kmbox ] ||
		why="no kmbox events in tracefs"
fi
if [ -n "$why" ]; then
	i=0
	while [ $i -lt 6 ]; do skip "kmbox tracing with perf and bpftrace" "$why"; i=$((i + 1)); done
	exit 4
fi

# mkbox NAME: create mailbox NAME and print its id.
mkbox() {
	kmboxctl create "$1" -m 64 >/dev/null || return 1
	awk -v name="$1" '$2 == name { print $1 }' /proc/kmbox/mailboxes
}

A=trace-a-$$
B=trace-b-$$
C=trace-c-$$
made="$A $B $C"	# removed at exit
ida=$(mkbox "$A")
idb=$(mkbox "$B")
idc=$(mkbox "$C")
if [ -z "$ida" ] || [ -z "$idb" ] || [ -z "$idc" ]; then
	echo "# cannot create the test's mailboxes"
	exit 1
fi
echo "# mailboxes: $A id $ida, $B id $idb, $C id $idc"

# The traffic perf sees: 5 messages of 7 bytes at priority 3 to A, 3 of
# 11 bytes at priority 0 to B, each from a kmboxctl process of its own,
# then all of them received.
cat >"$T/traffic.sh" <<EOF
i=0
while [ \$i -lt 5 ]; do kmboxctl send $A -p 3 aaaaaaa || exit 1; i=\$((i + 1)); done
i=0
while [ \$i -lt 3 ]; do kmboxctl send $B bbbbbbbbbbb || exit 1; i=\$((i + 1)); done
kmboxctl recv $A -c 5 >/dev/null || exit 1
kmboxctl recv $B -c 3 >/dev/null || exit 1
EOF

# events FILE: the kmbox events in perf's output FILE, one line each:
# "EVENT PID mbox=.. len=.. prio=.. sender=.. [qtime_ns=..]", whatever
# the layout.  perf script prints the event's own format,
#   PID kmbox:kmbox_send: mbox=1 len=7 prio=3 slot=-1 token=0 sender=136
# perf trace (6.1) the fields by name, without those that are 0, a pid
# with its command,
#   TIME COMM/PID kmbox:kmbox_send(id: 1, len: 7, slot: 4294967295, sender: 163 (kmboxctl))
events() {
	sed -E -e 's/([(, ])id: /\1mbox: /' \
		-e 's/(mbox|len|prio|slot|token|sender|receiver|qtime_ns): /\1=/g' \
		-e 's/[(),]/ /g' "$1" | awk '
	{
		ev = ""; pid = ""; f = ""
		for (i = 1; i <= NF; i++) {
			if ($i ~ /^kmbox:kmbox_[a-z_]+:?$/) {
				ev = $i; sub(/^kmbox:/, "", ev); sub(/:$/, "", ev)
			} else if (ev == "" && $i ~ /^[0-9]+$/) {
				pid = $i
			} else if (ev == "" && $i ~ /\/[0-9]+$/) {
				pid = $i; sub(/.*\//, "", pid)
			} else if (ev != "" && $i ~ /^(mbox|len|prio|sender|qtime_ns)=/) {
				f = f " " $i
			}
		}
		# perf trace leaves out a priority of 0.
		if (ev != "" && f !~ / prio=/) f = f " prio=0"
		if (ev != "") print ev, pid f
	}'
}

# check_events FILE: the sends and receives of traffic.sh in FILE; prints
# nothing if they are all there as they should be, else what is wrong, on
# lines starting with "send" or "recv".
check_events() {
	events "$1" >"$T/ev"
	awk -v a="$ida" -v b="$idb" '
	function val(k,   i) {
		for (i = 3; i <= NF; i++)
			if (index($i, k "=") == 1)
				return substr($i, length(k) + 2)
		return "?"
	}
	$1 == "kmbox_send" || $1 == "kmbox_recv" {
		what = $1 == "kmbox_send" ? "send" : "recv"
		id = val("mbox")
		if (id != a && id != b) { print what ": another mailbox: " $0; next }
		want_len = id == a ? 7 : 11; want_prio = id == a ? 3 : 0
		if (val("len") != want_len || val("prio") != want_prio)
			print what ": wrong length or priority: " $0
		if (what == "send") {
			n_send[id]++
			if (val("sender") != $2) print "send: not from its sender: " $0
			sent[id, $2] = 1
		} else {
			n_recv[id]++
			s = val("sender")
			if (s != 0 && !((id, s) in sent)) print "recv: names no sender of its mailbox: " $0
			if (val("qtime_ns") !~ /^[0-9]+$/) print "recv: no time in queue: " $0
			if ($2 == "" || ((id, $2) in sent)) print "recv: not from a receiver: " $0
		}
	}
	END {
		if (n_send[a] != 5) print "send: " n_send[a] + 0 " to mailbox " a ", want 5"
		if (n_send[b] != 3) print "send: " n_send[b] + 0 " to mailbox " b ", want 3"
		if (n_recv[a] != 5) print "recv: " n_recv[a] + 0 " from mailbox " a ", want 5"
		if (n_recv[b] != 3) print "recv: " n_recv[b] + 0 " from mailbox " b ", want 3"
	}' "$T/ev"
}

# wrong WHAT: the first problems check_events found with WHAT (send, recv).
wrong() {
	grep "^$1" "$T/wrong" | head -n 3 | tr '\n' ';'
}

# --- perf record / perf script -------------------------------------------

if ! command -v perf >/dev/null 2>&1; then
	skip "perf record sees every send" "no perf in the image (qemu/trace-tools.sh adds it)"
	skip "perf record sees every receive" "no perf in the image"
	skip "perf trace sees kmbox events" "no perf in the image"
else
	perf --version | sed 's/^/# /'
	# -a: every CPU, so events of the children count; no build-id
	# processing (nothing here needs symbols).
	step "perf record"
	if perf record -q -a -B -N -e kmbox:kmbox_send -e kmbox:kmbox_recv \
		-o "$T/perf.data" -- sh "$T/traffic.sh" >"$T/rec.out" 2>&1 &&
	   perf script -i "$T/perf.data" -F pid,event,trace >"$T/script.out" 2>"$T/script.err"; then
		echo "# perf script, first lines:"
		head -n 4 "$T/script.out" | sed 's/^/#   /'
		check_events "$T/script.out" >"$T/wrong"
		is "perf record sees every send with its mailbox, length, priority and sender" \
			"" "$(wrong send)" "$T/script.out"
		is "perf record sees every receive with its mailbox, length, sender and time in queue" \
			"" "$(wrong recv)" "$T/script.out"
	else
		notok "perf record -e kmbox:kmbox_send -e kmbox:kmbox_recv runs" "$T/rec.out" "$T/script.err"
		notok "perf script reads the kmbox events"
	fi

	# --- perf trace --------------------------------------------------
	step "perf trace"
	if perf trace -e 'kmbox:*' -o "$T/trace.out" -- sh "$T/traffic.sh" >"$T/trace.err" 2>&1; then
		echo "# perf trace, first lines:"
		head -n 4 "$T/trace.out" | sed 's/^/#   /'
		check_events "$T/trace.out" >"$T/wrong"
		is "perf trace -e 'kmbox:*' shows every send and receive" \
			"" "$(wrong '')" "$T/trace.out"
	else
		notok "perf trace -e 'kmbox:*' runs" "$T/trace.err" "$T/trace.out"
	fi
fi

# --- bpftrace tools/kmbox-latency.bt -----------------------------------------

BT=/bin/kmbox-latency.bt
why=
command -v bpftrace >/dev/null 2>&1 || why="no bpftrace in the image (qemu/trace-tools.sh adds it)"
[ -n "$why" ] || [ -f "$BT" ] || why="no $BT in the image"
[ -n "$why" ] || [ -r /sys/kernel/btf/vmlinux ] || why="the kernel has no BTF (/sys/kernel/btf/vmlinux)"
if [ -n "$why" ]; then
	skip "kmbox-latency.bt draws the histogram of the mailbox" "$why"
	skip "kmbox-latency.bt counts the hand-off" "$why"
	skip "kmbox-latency.bt prints each interval's histogram" "$why"
	[ $bad = 0 ] && exit 0
	exit 1
fi

# wait_for SECONDS COMMAND...: until COMMAND succeeds; 1 if it never did.
wait_for() {
	w=$(($1 * 10))
	shift
	while ! "$@"; do
		w=$((w - 1))
		[ $w -gt 0 ] || return 1
		sleep 0.1
	done
}
has() { grep -q "$1" "$2" 2>/dev/null; }
alive() { kill -0 "$btpid" 2>/dev/null; }
bt_ready() { has 'kmbox time in queue' "$T/bt.out" || ! alive; }
empty_waits() { kmboxctl stat "$C" | awk '$1 == "empty_waits:" { print $2 }'; }
receiver_waits() { [ "$(empty_waits)" = 1 ]; }

# An interval longer than the test: the histograms come out once, when
# bpftrace stops (Ctrl-C: SIGINT), so none is split between two prints.
step "bpftrace $BT 3600"
bpftrace -B none "$BT" 3600 >"$T/bt.out" 2>"$T/bt.err" &
btpid=$!
# Loading the script compiles it with LLVM, slow under TCG.
if ! wait_for 120 bt_ready || ! alive; then
	notok "bpftrace $BT starts" "$T/bt.err" "$T/bt.out"
	notok "kmbox-latency.bt counts the hand-off"
	notok "kmbox-latency.bt prints each interval's histogram"
	exit 1
fi
step "bpftrace ready"
# The traffic: 4 messages queued to C, then received; then a receiver
# waits on the empty mailbox and the next message is handed to it.
i=0
while [ $i -lt 4 ]; do kmboxctl send "$C" cccc || break; i=$((i + 1)); done
kmboxctl recv "$C" -c 4 >/dev/null
kmboxctl recv "$C" -t 60 >"$T/handed" &
rpid=$!
wait_for 60 receiver_waits || echo "# the receiver never waited (empty_waits $(empty_waits))"
kmboxctl send "$C" hand
wait "$rpid"
kill -INT "$btpid"
wait_for 60 eval '! alive'
wait "$btpid"
btrc=$?
btpid=
echo "# bpftrace exited $btrc; its output:"
sed 's/^/#   /' "$T/bt.out"

# hist ID: the sum of the counts of every histogram printed for mailbox ID
# ("@qtime_ns[ID]:" then "[lo, hi)   count |@@@|" lines); "[0]" lines as
# "z=N" too.
hist() {
	awk -v key="@qtime_ns[$1]:" '
	/^@/ { inh = index($0, key) == 1; next }
	inh && /^\[/ {
		sub(/\|.*/, "")
		total += $NF
		if ($1 == "[0]") zero += $NF
		next
	}
	inh && NF == 0 { inh = 0 }
	END { printf "%d z=%d\n", total, zero }' "$T/bt.out"
}
others=$(grep '^@qtime_ns\[' "$T/bt.out" | grep -v "^@qtime_ns\\[$idc\\]:" | tr '\n' ' ')
is "kmbox-latency.bt: a histogram of mailbox $idc with its 5 messages, the hand-off at 0, no other mailbox" \
	"5 z=1;" "$(hist "$idc");$others" "$T/bt.err"
is "kmbox-latency.bt counts the hand-off" \
	"1" "$(awk -v key="@handoffs[$idc]:" '$1 == key { print $2 }' "$T/bt.out")"

# Every second: once an interval without traffic has been printed, two
# messages through C must show in a later interval's print, while
# bpftrace runs (what it prints when it stops does not count).
step "bpftrace $BT 1"
bpftrace -B none "$BT" 1 >"$T/bt.out" 2>"$T/bt.err" &
btpid=$!
if wait_for 120 has 'no message received' "$T/bt.out" && alive; then
	kmboxctl send "$C" dd && kmboxctl send "$C" ee && kmboxctl recv "$C" -c 2 >/dev/null
	if wait_for 30 has "^@qtime_ns\[$idc\]:" "$T/bt.out" && alive; then
		ok "kmbox-latency.bt prints each interval's histogram"
	else
		notok "kmbox-latency.bt prints each interval's histogram: no @qtime_ns[$idc] while it ran" \
			"$T/bt.out" "$T/bt.err"
	fi
else
	notok "kmbox-latency.bt prints each interval's histogram: no empty interval printed" \
		"$T/bt.out" "$T/bt.err"
fi
kill -INT "$btpid" 2>/dev/null
wait_for 60 eval '! alive'
wait "$btpid"
btpid=
step "done"

[ $bad = 0 ]
