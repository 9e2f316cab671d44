#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Extract the few kernel-tree files the project uses but must not carry:
# the kselftest harness headers (for selftests/) and checkpatch.pl with its
# data files (for make lint).  One pass over Debian's linux-source-6.1
# tarball fills the cache; later calls only print paths.
set -euo pipefail
# shellcheck source=qemu/lib.sh
. "$(dirname "$0")/lib.sh"

TARBALL=${KMBOX_LINUX_SOURCE:-/usr/src/linux-source-6.1.tar.xz}
top=linux-source-6.1
files=(
	tools/testing/selftests/kselftest.h
	tools/testing/selftests/kselftest_harness.h
	scripts/checkpatch.pl
	scripts/spelling.txt
	scripts/const_structs.checkpatch
)

usage() {
	cat <<EOT
usage: ${0##*/} [--checkpatch]

Without options: prints the directory that holds kselftest_harness.h and
kselftest.h (\$KMBOX_CACHE/ksft); with --checkpatch: prints the path of
checkpatch.pl (its spelling.txt and const_structs.checkpatch beside it).
Extracts them from $TARBALL into \$KMBOX_CACHE
(now: $KMBOX_CACHE) the first time.
  KMBOX_LINUX_SOURCE  the tarball (default /usr/src/linux-source-6.1.tar.xz)
EOT
}

want=ksft
case ${1:-} in
-h|--help) usage; exit 0;;
--checkpatch) want=checkpatch;;
"") ;;
*) usage >&2; exit 2;;
esac

ksft=$KMBOX_CACHE/ksft
src=$KMBOX_CACHE/$top
stamp=$src/.extracted

# Re-extract when the tarball is newer than what we took from it.
if [ ! -f "$stamp" ] || [ ! -f "$ksft/kselftest_harness.h" ] ||
   { [ -f "$TARBALL" ] && [ "$TARBALL" -nt "$stamp" ]; }; then
	[ -f "$TARBALL" ] ||
		die "$TARBALL missing: run qemu/deps.sh (or apt-get install linux-source-6.1)"
	command -v xz >/dev/null 2>&1 || die "xz not found: run qemu/deps.sh (or apt-get install xz-utils)"
	mkdir -p "$KMBOX_CACHE"
	tmp=$(mktemp -d "$KMBOX_CACHE/.ksft.XXXXXX")
	trap 'rm -rf "$tmp"' EXIT
	note "extracting kselftest headers and checkpatch.pl from $TARBALL (once, ~10 s)"
	tar -xJf "$TARBALL" -C "$tmp" "${files[@]/#/$top/}" ||
		die "cannot extract ${files[*]} from $TARBALL (corrupt? reinstall linux-source-6.1)"
	mkdir "$tmp/ksft"
	cp "$tmp/$top/tools/testing/selftests/"kselftest{,_harness}.h "$tmp/ksft/"
	touch "$tmp/$top/.extracted"
	# Replace, then rename into place: a concurrent run sees either the
	# old complete copy or the new one.
	rm -rf "$ksft" "$src"
	mv -T "$tmp/ksft" "$ksft" 2>/dev/null || [ -f "$ksft/kselftest_harness.h" ] ||
		die "cannot create $ksft"
	mv -T "$tmp/$top" "$src" 2>/dev/null || [ -f "$stamp" ] ||
		die "cannot create $src"
fi

case $want in
ksft) echo "$ksft";;
checkpatch) echo "$src/scripts/checkpatch.pl";;
esac
