#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# The guest side of `make bench-icount` (qemu/bench-icount.sh), run as a
# test program of a check-mode guest: loads each module of /bench/ in
# turn, lets kmbox-icount count each one's path lengths, and puts the
# guest's own module back for run.sh's end-of-run checks.
# KMBOX_ICOUNT_ARGS (kernel command line) goes to kmbox-icount.
P=/sys/module/kmbox/parameters
n=0
for m in /bench/*.ko; do
	[ -e "$m" ] && n=$((n + 1))
done
echo "TAP version 13"
echo "1..$n"
i=0
for m in /bench/*.ko; do
	[ -e "$m" ] || continue
	i=$((i + 1))
	label=${m##*/}
	label=${label%.ko}
	rmmod kmbox 2>/dev/null
	if ! insmod "$m"; then
		echo "not ok $i $label: insmod failed"
		continue
	fi
	# room for the depth65536 and rw65536 ops (root may raise both caps)
	echo 65536 > $P/max_msgs_cap 2>/dev/null
	echo 65536 > $P/max_msgsize_cap 2>/dev/null
	# shellcheck disable=SC2086 # options, one per word
	if /tests/kmbox-icount $KMBOX_ICOUNT_ARGS "$label"; then
		echo "ok $i $label"
	else
		echo "not ok $i $label: kmbox-icount failed"
	fi
done
rmmod kmbox 2>/dev/null
insmod /kmbox.ko || echo "# could not load /kmbox.ko back"
