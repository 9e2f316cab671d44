#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Every file has an SPDX-License-Identifier line, in its first lines, with
# the licence COPYING gives its part of the tree, spelled one way.  Files
# that cannot carry one (licence texts, .gitignore, one-line .so man-page
# links, data, Debian files whose format has no comments) are listed below
# and skipped.
#
# Usage: qemu/check-spdx.sh     (lists the git files, or every file outside .git)
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

# The licence of PATH, as COPYING maps it; "-" for files without a tag.
want() {
	case $1 in
	COPYING|LICENSES/*|*.gitignore|bench/results/*|*.png|\
	selftests/config|selftests/settings|qemu/debug/kmbox-debug.config|\
	debian/changelog|debian/copyright|debian/source/format|debian/*.dkms|\
	debian/*.symbols)
		echo - ;;
	uapi/*) echo "(GPL-2.0 WITH Linux-syscall-note) OR MIT" ;;
	docs/examples/*) echo "MIT" ;;
	userlib/*|docs/*|README.md) echo "LGPL-2.1-or-later OR MIT" ;;
	*) echo "GPL-2.0" ;;
	esac
}

if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	files=$(git ls-files --cached --others --exclude-standard)
else
	files=$(find . -path ./.git -prune -o -type f -print | sed 's|^\./||')
fi

fail=0
n=0
while read -r f; do
	[ -f "$f" ] || continue
	w=$(want "$f")
	# a one-line man page that only points at another (.so)
	if [ "$w" = - ] || { [ "$(wc -l <"$f")" -le 1 ] && grep -q '^\.so ' "$f"; }; then
		continue
	fi
	n=$((n + 1))
	got=$(head -n 5 "$f" | sed -n 's/.*SPDX-License-Identifier: \(.*\)$/\1/p' | head -n 1 |
		sed -e 's| *\*/$||' -e 's| *-->$||')
	if [ -z "$got" ]; then
		echo "not ok: $f has no SPDX-License-Identifier (want $w)"
		fail=1
	elif [ "$got" != "$w" ]; then
		echo "not ok: $f is '$got', COPYING says '$w'"
		fail=1
	fi
done <<<"$files"
[ $fail -eq 0 ] && echo "ok: $n files carry the SPDX tag COPYING gives their directory"
exit $fail
