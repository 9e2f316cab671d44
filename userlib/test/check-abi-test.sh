#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later OR MIT
#
# check-abi.sh must fail when a symbol is added to a released node, and
# accept it in an unreleased or a new node.  Builds copies of the library
# with one more function, kmbox_extra(), and edited copies of the map and
# the header, and runs check-abi.sh on each.
#
# Usage: check-abi-test.sh CC   (run from userlib/ after the objects are built)
set -u

cc=${1:-cc}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/kmbox-abitest.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
n=0
bad=0

printf 'int kmbox_extra(void);\nint kmbox_extra(void) { return 0; }\n' >"$tmp/extra.c"
$cc -fPIC -c -o "$tmp/extra.os" "$tmp/extra.c" && $cc -c -o "$tmp/extra.o" "$tmp/extra.c" || exit 1

# build NAME MAP HEADER: libkmbox with kmbox_extra() linked by MAP
build() {
	$cc -shared -fPIC -Wl,--version-script="$2" -Wl,-soname,libkmbox.so.1 \
		-o "$tmp/$1.so" src/setup.os src/queue.os "$tmp/extra.os" &&
		ar rcs "$tmp/$1.a" src/setup.o src/queue.o "$tmp/extra.o"
}

# case WANT DESCRIPTION NAME MAP HEADER [MESSAGE]: check-abi.sh exits WANT
# (0 or 1), printing MESSAGE when it fails
case_() {
	want=$1 what=$2 name=$3 map=$4 header=$5 msg=${6:-}
	n=$((n + 1))
	if ! build "$name" "$map" "$header"; then
		bad=$((bad + 1))
		echo "not ok $n $what: the library did not link"
		return
	fi
	./test/check-abi.sh -m "$map" -H "$header" "$tmp/$name.so" "$tmp/$name.a" >"$tmp/out" 2>&1
	got=$?
	if [ "$got" -eq "$want" ] && { [ -z "$msg" ] || grep -qF -- "$msg" "$tmp/out"; }; then
		echo "ok $n $what"
	else
		bad=$((bad + 1))
		echo "not ok $n $what: check-abi.sh exited $got, want $want${msg:+ with \"$msg\"}"
		sed 's/^/# /' "$tmp/out"
	fi
}

# The header with kmbox_extra() declared, and with the minor version set.
sed 's/^int kmbox_reopen(int fd, int oflag);/&\nint kmbox_extra(void);/' kmbox.h >"$tmp/h1"
sed 's/^#define LIBKMBOX_VERSION_MINOR.*/#define LIBKMBOX_VERSION_MINOR\t2/' "$tmp/h1" >"$tmp/h2"
grep -q 'kmbox_extra' "$tmp/h1" || { echo "not ok 1 cannot edit kmbox.h"; exit 1; }

echo "TAP version 13"

# Added to KMBOX_1.0, released in abi.list: must fail.
sed 's/^\t\tkmbox_zc_send;/&\n\t\tkmbox_extra;/' libkmbox.map >"$tmp/m-old"
case_ 1 "a symbol added to the released node KMBOX_1.0 fails" old "$tmp/m-old" "$tmp/h1" \
	"KMBOX_1.0 is released and frozen, but the map adds to it: kmbox_extra"

# Added to the newest, unreleased node: fine.
awk '{ print } /^KMBOX_1\.1 \{/ { getline; print; print "\t\tkmbox_extra;" }' \
	libkmbox.map >"$tmp/m-open"
case_ 0 "a symbol added to the unreleased node KMBOX_1.1 passes" open "$tmp/m-open" "$tmp/h1"

# A new node KMBOX_1.2, with the header's minor version: fine.
printf '\nKMBOX_1.2 {\n\tglobal:\n\t\tkmbox_extra;\n} KMBOX_1.1;\n' |
	cat libkmbox.map - >"$tmp/m-new"
case_ 0 "a new node KMBOX_1.2 with LIBKMBOX_VERSION_MINOR 2 passes" new "$tmp/m-new" "$tmp/h2"
case_ 1 "a new node without the minor version bump fails" new2 "$tmp/m-new" "$tmp/h1" \
	"newest node is KMBOX_1.2, but kmbox.h says version 1.1"

# A node that does not inherit the one before, a wildcard, a symbol the
# header does not declare, a symbol dropped from a released node.
sed 's/^} KMBOX_1.1;/} KMBOX_1.0;/' "$tmp/m-new" >"$tmp/m-parent"
case_ 1 "a node not inheriting the previous one fails" parent "$tmp/m-parent" "$tmp/h2" \
	"node KMBOX_1.2 must inherit KMBOX_1.1"
sed 's/^\t\tkmbox_extra;/\t\tkmbox_e*;/' "$tmp/m-open" >"$tmp/m-wild"
case_ 1 "a wildcard fails" wild "$tmp/m-wild" "$tmp/h1" "wildcard in a global list"
case_ 1 "an exported function the header does not declare fails" undecl "$tmp/m-open" kmbox.h \
	"kmbox.h declares other functions"
sed '/^\t\tkmbox_unlink;/d' "$tmp/m-open" >"$tmp/m-drop"
case_ 1 "a symbol dropped from a released node fails" drop "$tmp/m-drop" "$tmp/h1" \
	"KMBOX_1.0 is released and frozen, but the map drops: kmbox_unlink"

echo "1..$n"
echo "# $((n - bad)) passed, $bad failed"
[ "$bad" -eq 0 ]
