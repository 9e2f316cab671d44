#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later OR MIT
# Check what libkmbox exports: every public function of kmbox.h at the
# version abi.list gives it ("name KMBOX_1.x"), and nothing else; and that
# the archive defines the same set.  A symbol whose version changes, or a
# new one not in abi.list, fails.  Usage: check-abi.sh libkmbox.so.X libkmbox.a
set -eu

so=$1
ar=$2
here=$(dirname "$0")
want="$here/abi.list"
fail=0

got_so=$(nm -D --defined-only "$so" | awk '$2 == "T" { print $3 }' | sort)
bad=$(printf '%s\n' "$got_so" | grep -v '@@KMBOX_1\.[0-9][0-9]*$' || true)
if [ -n "$bad" ]; then
	echo "not ok: symbols without a KMBOX_1.x version: $bad"
	fail=1
fi
if ! printf '%s\n' "$got_so" | sed 's/@@/ /' | diff -u "$want" -; then
	echo "not ok: $so exports differ from $want"
	fail=1
fi
others=$(nm -D --defined-only "$so" | awk '$2 != "T" && $2 != "A" { print $3 }')
if [ -n "$others" ]; then
	echo "not ok: $so exports non-function symbols: $others"
	fail=1
fi
names=$(cut -d' ' -f1 "$want")
if ! nm -g --defined-only "$ar" 2>/dev/null | awk 'NF == 3 { print $3 }' |
	sort | diff -u - "$(printf '%s\n' "$names" >"${TMPDIR:-/tmp}/kmbox-abi.$$" &&
			    echo "${TMPDIR:-/tmp}/kmbox-abi.$$")"; then
	echo "not ok: $ar defines other global symbols than $want"
	fail=1
fi
soname=$(readelf -d "$so" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
if [ "$soname" != "libkmbox.so.1" ]; then
	echo "not ok: soname is '$soname', want libkmbox.so.1"
	fail=1
fi
rm -f "${TMPDIR:-/tmp}/kmbox-abi.$$"
[ $fail -eq 0 ] && echo "ok: $so and $ar export exactly abi.list, at its versions"
exit $fail
