#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# gcov-dump.sh: the last test program of the coverage run (qemu/coverage.sh),
# run in the QEMU guest (POSIX sh, busybox) after everything else.
#
# Prints every .gcda file under /sys/kernel/debug/gcov (only the module is
# built with GCOV_PROFILE, so they are the module's) in base64 between
# "KMBOX:FILE-BEGIN gcov/NAME base64" and "KMBOX:FILE-END" lines, which
# qemu/coverage.sh takes out of the console log.  The kernel keeps the
# counts of unloaded copies of the module (gcov_persist=1) and adds those
# of the loaded one, so the files cover every load since boot: those of
# lifecycle.sh and kmbox_failinj included.
#
# KTAP: one case, "gcov: N .gcda files copied out"; it fails when there
# are none (no CONFIG_GCOV_KERNEL, no debugfs, or a module built without
# GCOV_PROFILE).

PATH=/bin:/sbin:/usr/bin:/usr/sbin
D=/sys/kernel/debug/gcov

echo "TAP version 13"
echo "1..1"
n=0
list=/tmp/gcda.$$
find "$D" -name '*.gcda' 2>/dev/null | sort >"$list"
while read -r f; do
	name=${f##*/}
	echo "KMBOX:FILE-BEGIN gcov/$name base64"
	base64 <"$f"
	echo "KMBOX:FILE-END"
	n=$((n + 1))
done <"$list"
rm -f "$list"
if [ "$n" -gt 0 ]; then
	echo "ok 1 gcov: $n .gcda files copied out"
	exit 0
fi
echo "# no .gcda file under $D (is the kernel built with CONFIG_GCOV_KERNEL, the module with GCOV_PROFILE=y?)"
echo "not ok 1 gcov: no .gcda file"
exit 1
