#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later OR MIT
# Every public function (those libkmbox.map exports and the header's
# inline helpers) has a man page, every page renders without groff warnings, and every
# .so link points at a page that exists.  Run from userlib/.
set -eu

fail=0
inlines=$(sed -n 's/^static inline [a-z].*[ *]\(kmbox_[a-z_]*\)(.*/\1/p' kmbox.h | tr '\n' ' ')
exported=$(sed -n 's/^[[:space:]]*\(kmbox_[a-z0-9_]*\);.*/\1/p' libkmbox.map)
for f in $exported $inlines; do
	if [ ! -f "man/man3/$f.3" ]; then
		echo "not ok: no man page man/man3/$f.3"
		fail=1
	fi
done
for p in man/man3/*.3 man/man4/*.4 man/man7/*.7; do
	first=$(head -n 1 "$p")
	case $first in
	.so\ *)
		target=man/${first#.so }
		[ -f "$target" ] || { echo "not ok: $p links to missing $target"; fail=1; }
		;;
	*)
		out=$(groff -t -man -z -wall "$p" 2>&1) || fail=1
		[ -z "$out" ] || { echo "not ok: $p: $out"; fail=1; }
		;;
	esac
done
# kmbox(7)'s example compiles as strict C11 (its feature macro included).
sed -n '/^\.SH EXAMPLES/,/^\.SH/p' man/man7/kmbox.7 | sed -n '/^\.EX/,/^\.EE/p' |
	sed -e '/^\.E[XE]$/d' -e 's/\\e/\\/g' >"${TMPDIR:-/tmp}/kmbox-man-example.$$.c"
if ! ${CC:-cc} -std=c11 -pedantic -Wall -Wextra -Werror -I. -I../uapi -fsyntax-only \
	"${TMPDIR:-/tmp}/kmbox-man-example.$$.c"; then
	echo "not ok: the example of kmbox(7) does not compile with -std=c11"
	fail=1
fi
rm -f "${TMPDIR:-/tmp}/kmbox-man-example.$$.c"
[ $fail -eq 0 ] && echo "ok: man pages present for $(echo "$exported" | wc -w) functions + inlines ($inlines), groff clean, kmbox(7) example compiles"
exit $fail
