#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# kmbox demo: two processes talk through a named mailbox with kmboxctl.
# POSIX sh (busybox is enough); needs the module loaded (/dev/kmbox).
#
#   tools/demo.sh [NAME]        KMBOXCTL=path/to/kmboxctl to override
#
# Shows: create, a receiver blocked in the background woken by a send,
# priority order, non-blocking and timed receives, call and reply with a
# one-line server, stat, list, unlink.
set -eu

K=${KMBOXCTL:-kmboxctl}
Q=${1:-demo}
ZQ=$Q-zc
RQ=$Q-rpc
TQ=$Q-telemetry
LQ=$Q-latest
UQ=$Q-control
tmp=${TMPDIR:-/tmp}/kmbox-demo.$$

say() { printf '\n### %s\n' "$*"; }
# run ARGS: show the command line (quoting what needs it), then run it
run() {
	printf '$ kmboxctl'
	for a in "$@"; do
		case $a in
		'' | *[!A-Za-z0-9._/=-]*) printf " '%s'" "$a" ;;
		*) printf ' %s' "$a" ;;
		esac
	done
	printf '\n'
	"$K" "$@"
}
nap() { sleep 0.1 2>/dev/null || sleep 1; }

cleanup() {
	"$K" unlink "$Q" 2>/dev/null || true
	"$K" unlink "$RQ" 2>/dev/null || true
	"$K" unlink "$ZQ" 2>/dev/null || true
	for q in "$TQ" "$LQ" "$UQ"; do "$K" unlink "$q" 2>/dev/null || true; done
	rm -f "$tmp.out" "$tmp.err"
}
trap cleanup EXIT

if [ ! -e /dev/kmbox ]; then
	echo "demo: /dev/kmbox is missing: insmod module/kmbox.ko first" >&2
	exit 1
fi

say "Create a named mailbox: 8 messages of up to 256 bytes, mode 0600"
run create "$Q" --max-msgs 8 --max-msgsize 256 --mode 0600

say "Process 1 receives; the mailbox is empty, so it blocks"
printf '$ kmboxctl recv %s --verbose &\n' "$Q"
"$K" recv "$Q" --verbose >"$tmp.out" 2>"$tmp.err" &
receiver=$!
i=0
while ! "$K" stat "$Q" | grep -q '^rd_waiters: *1$'; do
	i=$((i + 1))
	[ $i -lt 100 ] || { echo "demo: receiver never blocked" >&2; exit 1; }
	nap
done
run stat "$Q"

say "Process 2 sends; process 1 wakes up with the message"
run send "$Q" "hello through the kernel"
wait "$receiver"
printf 'process 1 got:  %s\n' "$(cat "$tmp.out")"
printf 'sender info:    %s   (recv --verbose)\n' "$(cat "$tmp.err")"

say "Priorities: higher first, FIFO within one priority"
run send "$Q" --prio 1 "low (prio 1)"
run send "$Q" --prio 10 "urgent (prio 10)"
run send "$Q" --prio 5 "normal A (prio 5)"
run send "$Q" --prio 5 "normal B (prio 5)"
echo "cat message | kmboxctl send reads stdin:"
printf 'from stdin (prio 5)' | run send "$Q" --prio 5 -
run stat "$Q"
echo "receiving all five:"
for i in 1 2 3 4 5; do
	printf '  %s. %s\n' "$i" "$("$K" recv "$Q" --nonblock)"
done

say "Empty again: --nonblock fails at once, --timeout after the delay"
run recv "$Q" --nonblock || echo "(exit status $?)"
run recv "$Q" --timeout 0.5 || echo "(exit status $?)"

say "Call and reply: a one-line RPC server, and its clients"
run create "$RQ"
printf '$ kmboxctl serve %s --count 2 -- tr a-z A-Z &\n' "$RQ"
"$K" serve "$RQ" --count 2 -- tr a-z A-Z &
server=$!
run call "$RQ" --timeout 5 "hello, server"
echo
run call "$RQ" --timeout 5 "each call gets its own reply"
echo
wait "$server"

say "A server that dies holding a request: its caller learns at once"
printf '$ kmboxctl serve %s -- sh -c %s &\n' "$RQ" "'kill -KILL \$PPID'"
# shellcheck disable=SC2016 # $PPID is the server's, in the child shell
"$K" serve "$RQ" -- sh -c 'kill -KILL $PPID; sleep 5' &
run call "$RQ" --timeout 10 "are you there?" || echo "(exit status $?)"
wait 2>/dev/null || true

say "A mailbox with a zero-copy region: 8 slots of 4096 bytes"
run create "$ZQ" --max-msgsize 4096 --zc-slots 8 --zc-slot-size 4096
run stat "$ZQ"

say "Telemetry: a drop-oldest mailbox keeps the 4 newest readings; sends never wait"
run create "$TQ" --max-msgs 4 --policy drop-oldest
echo "a receiver waits for 2 readings, and is stopped before they come:"
printf '$ kmboxctl recv %s --count 2 --verbose &\n' "$TQ"
"$K" recv "$TQ" --count 2 --verbose >"$tmp.out" 2>"$tmp.err" &
receiver=$!
i=0
while ! "$K" stat "$TQ" | grep -q '^rd_waiters: *1$'; do
	i=$((i + 1))
	[ $i -lt 100 ] || { echo "demo: receiver never blocked" >&2; exit 1; }
	nap
done
kill -STOP "$receiver"
for i in 1 2 3 4 5 6 7; do
	run send "$TQ" "reading $i"
done
kill -CONT "$receiver"
wait "$receiver"
echo "it resumes with the 4 newest, and learns in band that 3 were lost:"
paste "$tmp.out" "$tmp.err" 2>/dev/null || { cat "$tmp.out"; cat "$tmp.err"; }
run recv "$TQ" --all
run stat "$TQ" | grep -E '^(policy|dropped|cur_msgs):'

say "Latest value per key: a replace-by-tag mailbox (the tag is the key)"
run create "$LQ" --policy replace
run send "$LQ" --tag 1 "temperature 20.1"
run send "$LQ" --tag 2 "pressure 1013"
run send "$LQ" --tag 1 "temperature 20.4"
run send "$LQ" --tag 1 "temperature 20.9"
echo "two keys, the newest value of each, in the first value's place:"
run recv "$LQ" --all
run stat "$LQ" | grep -E '^(policy|replaced):'

say "An urgent message overtakes a full queue (priority 100 and up, 1 slot kept)"
run create "$UQ" --max-msgs 4 --urgent 100 --urgent-room 1
for i in 1 2 3; do
	run send "$UQ" "bulk job $i"
done
run send "$UQ" --nonblock "bulk job 4" || echo "(exit status $?: full for bulk work)"
run send "$UQ" --urgent "STOP"
echo "the next receive takes it first (and poll reported POLLPRI meanwhile):"
run recv "$UQ"
echo
run stat "$UQ" | grep -E '^(cur_msgs|urgent_prio|urgent_room):'

say "Every mailbox of this IPC namespace (/proc/kmbox/mailboxes)"
run list

say "Unlink: the names go away"
run unlink "$Q"
run unlink "$ZQ"
run unlink "$RQ"
run unlink "$TQ" "$LQ" "$UQ"
run stat "$Q" || echo "(exit status $?)"
run list
