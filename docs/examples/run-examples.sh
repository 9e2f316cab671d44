#!/bin/sh
# SPDX-License-Identifier: MIT
#
# Run the example programs (docs/examples) against the module: each must
# exit 0.  TAP output.  In the QEMU guest they are in /bin; elsewhere
# give their directory: run-examples.sh [DIR]
set -u
dir=${1:-}
n=0
bad=0
echo "TAP version 13"
if [ ! -e /dev/kmbox ]; then
	echo "1..0 # SKIP /dev/kmbox missing: kmbox module not loaded"
	exit 0
fi
for p in jobq reqrep zcpipe; do
	n=$((n + 1))
	prog=${dir:+$dir/}$p
	if out=$(timeout 120 "$prog" 2>&1); then
		echo "ok $n $p"
	else
		bad=$((bad + 1))
		echo "not ok $n $p (exit status $?)"
	fi
	printf '%s\n' "$out" | sed 's/^/# /'
done
echo "1..$n"
[ "$bad" -eq 0 ]
