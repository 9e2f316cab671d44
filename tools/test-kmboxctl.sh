#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Command-line checks of kmboxctl (POSIX sh; runs under busybox too).
# Usage checks need no module.  When /dev/kmbox exists (the QEMU guest, or
# a host with the module loaded) a round trip through a named mailbox is
# checked as well; otherwise those checks are skipped.
# Usage: test-kmboxctl.sh [path/to/kmboxctl]     TAP output, exit 0 if ok
set -u

K=${1:-kmboxctl}
T=${TMPDIR:-/tmp}/kmboxctl-test.$$
n=0
bad=0
mkdir -p "$T" || exit 1
trap 'rm -rf "$T"' EXIT

# expect STATUS STDERR-SUBSTRING -- kmboxctl ARGS...
expect() {
	want=$1 msg=$2
	shift 3
	"$K" "$@" >"$T/out" 2>"$T/err" </dev/null
	got=$?
	n=$((n + 1))
	if [ "$got" -eq "$want" ] &&
	   { [ -z "$msg" ] || grep -qF -- "$msg" "$T/err"; }; then
		echo "ok $n kmboxctl $* -> $want"
	else
		bad=$((bad + 1))
		echo "not ok $n kmboxctl $* -> $got, want $want '$msg'"
		sed 's/^/# /' "$T/err"
	fi
}

# check DESCRIPTION COMMAND...: the command succeeds
check() {
	what=$1
	shift
	n=$((n + 1))
	if "$@"; then
		echo "ok $n $what"
	else
		bad=$((bad + 1))
		echo "not ok $n $what"
	fi
}

echo "TAP version 13"

expect 2 "usage: kmboxctl COMMAND" --
expect 0 "" -- --help
expect 2 "unknown command 'frob'" -- frob
for c in create unlink send recv stat list info; do
	expect 0 "" -- $c --help
done
expect 2 "missing mailbox NAME" -- create
expect 2 "missing mailbox NAME" -- send
expect 2 "unexpected operand 'x'" -- list x
expect 2 "unexpected operand 'c'" -- send q b c
expect 2 "unknown option '--frob'" -- recv q --frob
expect 2 "option '--prio' needs a value" -- send q --prio
expect 2 "bad --max-msgs '-1'" -- create q --max-msgs -1
expect 2 "bad --max-msgs ' 1'" -- create q --max-msgs " 1"
expect 2 "bad --max-msgs '0x10'" -- create q --max-msgs 0x10
expect 2 "bad --max-msgsize '4294967296'" -- create q --max-msgsize 4294967296
expect 2 "bad --mode '0800'" -- create q --mode 0800
expect 2 "bad --mode '1000'" -- create q --mode 1000
expect 2 "--zc-slot-size needs --zc-slots" -- create q --zc-slot-size 64
expect 2 "bad --prio '1e3'" -- send q --prio 1e3 m
expect 2 "bad --timeout '-1'" -- recv q --timeout -1
expect 2 "bad --timeout '.'" -- recv q --timeout .
expect 2 "bad --timeout '1s'" -- recv q --timeout 1s
expect 2 "bad --timeout '99999999999999999999'" -- recv q --timeout 99999999999999999999
expect 1 "kmboxctl: unlink a/b: Invalid argument" -- unlink a/b

if [ ! -e /dev/kmbox ]; then
	expect 1 "kmboxctl: recv q: No such file or directory (is the kmbox module loaded?)" -- recv q
	echo "# /dev/kmbox missing: skipping round trips"
	echo "1..$n"
	echo "# $((n - bad)) passed, $bad failed"
	[ "$bad" -eq 0 ]
	exit
fi

q=kmboxctl-test.$$
expect 0 "" -- create "$q" --max-msgs 4 --max-msgsize 64 --mode 0600
expect 1 "kmboxctl: create $q: File exists" -- create "$q"
expect 0 "" -- send "$q" low
expect 0 "" -- send "$q" --prio 9 high
expect 0 "" -- send "$q" --prio 5 -- -mid
check "stdin is one message" sh -c "printf 'a\nb\n' | '$K' send '$q' -"
expect 0 "" -- stat "$q"
check "stat shows 4 queued" grep -q "cur_msgs: *4$" "$T/out"
expect 1 "kmboxctl: send $q: Resource temporarily unavailable" -- send "$q" --nonblock full
expect 1 "kmboxctl: send $q: Connection timed out" -- send "$q" --timeout 0.1 full
expect 0 "prio=9" -- recv "$q" --verbose
check "highest priority first" test "$(cat "$T/out")" = high
expect 0 "" -- recv "$q"
check "then prio 5" test "$(cat "$T/out")" = -mid
expect 0 "prio=0" -- recv "$q" -v
check "then FIFO at prio 0" test "$(cat "$T/out")" = low
expect 0 "len=4" -- recv "$q" -v
check "message kept as-is" test "$(od -c "$T/out" | head -1)" = "$(printf 'a\nb\n' | od -c | head -1)"
expect 1 "kmboxctl: recv $q: Resource temporarily unavailable" -- recv "$q" --nonblock
expect 1 "kmboxctl: recv $q: Connection timed out" -- recv "$q" --timeout 0.1
check "oversize stdin is EMSGSIZE" sh -c \
	"head -c 65 /dev/zero | '$K' send '$q' 2>&1 | grep -q 'Message too long'"
expect 0 "" -- list
check "list shows it" grep -q " $q " "$T/out"
expect 0 "" -- info
check "info shows the api version" grep -q "^api_version: *1$" "$T/out"
expect 0 "" -- unlink "$q"
expect 1 "kmboxctl: unlink $q: No such file or directory" -- unlink "$q"

expect 0 "" -- create "$q" --zc-slots 4 --zc-slot-size 128
expect 0 "" -- stat "$q"
check "stat shows the region" grep -q "zc_slots: *4$" "$T/out"
check "all slots free" grep -q "zc_free: *4$" "$T/out"
expect 0 "" -- unlink "$q"

echo "1..$n"
echo "# $((n - bad)) passed, $bad failed"
[ "$bad" -eq 0 ]
