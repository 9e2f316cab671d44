#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# lifecycle.sh: load/unload life of the kmbox module, in the QEMU guest.
#
# Usage (guest, as root, POSIX sh): lifecycle.sh [CYCLES]
#   CYCLES (default $KMBOX_LIFECYCLE_ARGS, else 100): insmod/rmmod rounds.
# Needs /kmbox.ko (where qemu/init loads it from; KMBOX_KO_PATH= to
# override), /bin/kmboxctl and /tests/kmbox_stress (for its
# --hold-mapping helper).  The module may be loaded or not at the start;
# it is loaded at the end, so qemu/init's own rmmod still runs.
#
# Cases (KTAP):
#  1. rmmod is refused while a /dev/kmbox file is open, accepted after
#  2. rmmod is refused while only a mapping of a region remains (the
#     file closed), accepted once the mapping is gone
#  3. CYCLES rounds of insmod, traffic through kmboxctl (create, send,
#     recv, unlink, and an anonymous zero-copy mailbox via the helper),
#     /proc/kmbox/stats all zero, rmmod
#  4. rmmod frees named mailboxes (with messages) nobody unlinked, and a
#     reload starts empty
#  5. the module is loaded again at the end, with all counts zero
# Exit status: 0 if all passed.

PATH=/bin:/sbin:/usr/bin:/usr/sbin
KO=${KMBOX_KO_PATH:-/kmbox.ko}
CTL=${KMBOX_CTL:-/bin/kmboxctl}
HELPER=${KMBOX_HOLD_HELPER:-/tests/kmbox_stress}
cycles=${1:-${KMBOX_LIFECYCLE_ARGS:-100}}
n=0
failed=0

ok() { n=$((n + 1)); echo "ok $n $*"; }
# verdict GOOD TEXT: ok or not ok
verdict() {
	if [ "$1" = 1 ]; then
		ok "$2"
	else
		n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n $2"
	fi
}
notok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n $*"; }
diag() { echo "# $*"; }

loaded() { grep -q '^kmbox ' /proc/modules; }

load() {
	loaded && return 0
	insmod "$KO" || { diag "insmod $KO failed"; return 1; }
	[ -c /dev/kmbox ] || { diag "/dev/kmbox missing after insmod"; return 1; }
}

# stats_zero: every count in /proc/kmbox/stats is 0 (waits up to 2 s for
# files of exited processes to be released).
stats_zero() {
	t=0
	while [ $t -lt 20 ]; do
		if [ -z "$(awk '$2 != 0' /proc/kmbox/stats 2>/dev/null)" ] &&
			[ -r /proc/kmbox/stats ]; then
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
[ -f "$KO" ] || { diag "$KO not found"; for i in 1 2 3 4 5; do ok "lifecycle # SKIP no $KO"; done; exit 4; }
[ -x "$CTL" ] || { diag "$CTL not found"; for i in 1 2 3 4 5; do ok "lifecycle # SKIP no $CTL"; done; exit 4; }
load || { for i in 1 2 3 4 5; do notok "lifecycle (cannot load the module)"; done; exit 1; }

# --- 1: an open file pins the module -----------------------------------------
good=1
exec 3<>/dev/kmbox
if rmmod kmbox 2>/dev/null; then
	diag "rmmod succeeded with /dev/kmbox open"
	good=0
	load
fi
exec 3>&-
stats_zero || good=0
rmmod kmbox || { diag "rmmod refused after the file was closed"; good=0; }
loaded && good=0
load || good=0
verdict $good "lifecycle: rmmod refused while a file is open, accepted after"

# --- 2: a mapping alone pins the module ----------------------------------------
good=1
out=/tmp/lifecycle-hold.$$
if [ -x "$HELPER" ]; then
	"$HELPER" --hold-mapping 600 >"$out" 2>&1 &
	hold=$!
	t=0
	while ! grep -q mapped "$out" 2>/dev/null && [ $t -lt 100 ]; do
		sleep 0.1
		t=$((t + 1))
	done
	if ! grep -q mapped "$out"; then
		diag "helper did not map: $(cat "$out")"
		good=0
	fi
	if rmmod kmbox 2>/dev/null; then
		diag "rmmod succeeded while a mapping of a region remained"
		good=0
	fi
	kill "$hold" 2>/dev/null
	wait "$hold" 2>/dev/null
	rm -f "$out"
	stats_zero || good=0
	if loaded; then
		rmmod kmbox || { diag "rmmod refused after the mapping went away"; good=0; }
	fi
	load || good=0
	verdict $good "lifecycle: rmmod refused while only a mapping remains, accepted after"
else
	ok "lifecycle: rmmod refused while only a mapping remains # SKIP no $HELPER"
fi

# --- 3: cycles ---------------------------------------------------------------------
good=1
i=0
while [ $i -lt "$cycles" ]; do
	i=$((i + 1))
	load || { good=0; break; }
	name=lc-$i
	if ! "$CTL" create "$name" --max-msgs 4 >/dev/null; then
		diag "cycle $i: create failed"
		good=0
	fi
	if ! "$CTL" send "$name" --prio 3 "low $i" || ! "$CTL" send "$name" --prio 9 "high $i"; then
		diag "cycle $i: send failed"
		good=0
	fi
	got=$("$CTL" recv "$name" --nonblock)
	[ "$got" = "high $i" ] || { diag "cycle $i: received '$got', want 'high $i'"; good=0; }
	got=$("$CTL" recv "$name" --nonblock)
	[ "$got" = "low $i" ] || { diag "cycle $i: received '$got', want 'low $i'"; good=0; }
	"$CTL" unlink "$name" || { diag "cycle $i: unlink failed"; good=0; }
	if [ $((i % 10)) = 1 ] && [ -x "$HELPER" ]; then
		# A region mapped and dropped at once, every tenth round.
		timeout 5 "$HELPER" --hold-mapping 0 >/dev/null 2>&1 ||
			{ diag "cycle $i: mapping helper failed"; good=0; }
	fi
	stats_zero || { diag "cycle $i: counts not zero before rmmod"; good=0; }
	rmmod kmbox || { diag "cycle $i: rmmod failed"; good=0; break; }
	[ -e /dev/kmbox ] && { diag "cycle $i: /dev/kmbox still there after rmmod"; good=0; }
done
verdict $good "lifecycle: $cycles rounds of insmod, traffic, zero counts, rmmod (last round $i)"

# --- 4: rmmod frees what nobody unlinked -----------------------------------------------
good=1
load || good=0
for m in left-a left-b left-c; do
	if ! "$CTL" create "$m" --max-msgs 8 --zc-slots 4 >/dev/null ||
		! "$CTL" send "$m" "still here"; then
		diag "create/send $m failed"
		good=0
	fi
done
rmmod kmbox || { diag "rmmod with unlinked-never mailboxes failed"; good=0; }
load || good=0
if "$CTL" recv left-a --nonblock >/dev/null 2>&1; then
	diag "left-a survived a reload"
	good=0
fi
stats_zero || good=0
verdict $good "lifecycle: rmmod frees named mailboxes left behind; a reload starts empty"

# --- 5 -------------------------------------------------------------------------------------
good=1
load || good=0
stats_zero || good=0
verdict $good "lifecycle: module loaded again, all counts zero"

[ $failed = 0 ]
