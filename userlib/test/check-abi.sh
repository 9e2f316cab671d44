#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later OR MIT
# Check what libkmbox exports: every public function of kmbox.h, each
# versioned KMBOX_1.0, and nothing else; and that the archive defines the
# same set.  Usage: check-abi.sh libkmbox.so.X libkmbox.a
set -eu

so=$1
ar=$2
here=$(dirname "$0")
want="$here/abi.list"
fail=0

got_so=$(nm -D --defined-only "$so" | awk '$2 == "T" { print $3 }' | sort)
bad=$(printf '%s\n' "$got_so" | grep -v '@@KMBOX_1\.0$' || true)
if [ -n "$bad" ]; then
	echo "not ok: symbols without version KMBOX_1.0: $bad"
	fail=1
fi
if ! printf '%s\n' "$got_so" | sed 's/@@KMBOX_1\.0$//' | diff -u "$want" -; then
	echo "not ok: $so exports differ from $want"
	fail=1
fi
others=$(nm -D --defined-only "$so" | awk '$2 != "T" && $2 != "A" { print $3 }')
if [ -n "$others" ]; then
	echo "not ok: $so exports non-function symbols: $others"
	fail=1
fi
if ! nm -g --defined-only "$ar" 2>/dev/null | awk 'NF == 3 { print $3 }' |
	sort | diff -u "$want" -; then
	echo "not ok: $ar defines other global symbols than $want"
	fail=1
fi
soname=$(readelf -d "$so" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
if [ "$soname" != "libkmbox.so.1" ]; then
	echo "not ok: soname is '$soname', want libkmbox.so.1"
	fail=1
fi
[ $fail -eq 0 ] && echo "ok: $so and $ar export exactly abi.list at KMBOX_1.0"
exit $fail
