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

say "Every mailbox of this IPC namespace (/proc/kmbox/mailboxes)"
run list

say "Unlink: the names go away"
run unlink "$Q"
run unlink "$ZQ"
run unlink "$RQ"
run stat "$Q" || echo "(exit status $?)"
run list
