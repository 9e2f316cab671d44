#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later OR MIT
#
# Check what libkmbox exports against libkmbox.map, and libkmbox.map
# against the released nodes in test/abi.list:
#  - the map names every symbol (no wildcard but "local: *"), each in one
#    node; node i+1 is KMBOX_1.<m+1>... and inherits node i; the newest
#    node's minor is LIBKMBOX_VERSION_MINOR of kmbox.h;
#  - a released node (in abi.list) has exactly its released symbols: one
#    added to it (or taken out) fails; later nodes are accepted;
#  - the .so exports exactly the map's functions, each at its node, has
#    the soname libkmbox.so.<LIBKMBOX_VERSION_MAJOR> and nothing else;
#    the archive defines the same globals;
#  - every exported function is declared in kmbox.h and every function
#    kmbox.h declares (not the inline ones) is exported.
#
# Usage: check-abi.sh [-m MAP] [-l ABI_LIST] [-H HEADER] LIBKMBOX.SO LIBKMBOX.A
# (run from userlib/; the options are for test/check-abi-test.sh).
set -eu

here=$(dirname "$0")
map=$here/../libkmbox.map
list=$here/abi.list
header=$here/../kmbox.h
while getopts m:l:H: o; do
	case $o in
	m) map=$OPTARG ;;
	l) list=$OPTARG ;;
	H) header=$OPTARG ;;
	*) exit 2 ;;
	esac
done
shift $((OPTIND - 1))
so=$1
ar=$2
fail=0
tmp=$(mktemp -d "${TMPDIR:-/tmp}/kmbox-abi.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

bad() {
	echo "not ok: $*"
	fail=1
}

# The map as "node symbol" lines ($tmp/map.syms) and "node parent" lines
# in order ($tmp/map.nodes; parent "-" for none): comments out, then one
# token per line, read by a small state machine.
sed -e ':a' -e '/\/\*/{' -e '/\*\//!{N;ba' -e '}' -e 's|/\*.*\*/||' -e 'ba' -e '}' "$map" |
	sed 's/\([{};:]\)/ \1 /g' | tr -s ' \t' '\n' | grep -v '^$' |
	awk -v syms="$tmp/map.syms" -v nodes="$tmp/map.nodes" '
	st == "" && /^KMBOX_/ { node = $0; st = "name"; next }
	st == "name" && $0 == "{" { st = "body"; scope = ""; next }
	st == "body" && ($0 == "global" || $0 == "local") { scope = $0; st = "colon"; next }
	st == "colon" && $0 == ":" { st = "body"; next }
	st == "body" && $0 == ";" { next }
	st == "body" && $0 == "}" { st = "close"; next }
	st == "body" && scope == "global" { print node, $0 > syms; next }
	st == "body" && scope == "local" && $0 == "*" { next }
	st == "close" && $0 == ";" { print node, "-" > nodes; st = ""; next }
	st == "close" { parent = $0; st = "parent"; next }
	st == "parent" && $0 == ";" { print node, parent > nodes; st = ""; next }
	{ print "? " $0 > syms }
	END { if (st != "") print "? unterminated node " node > syms }'
touch "$tmp/map.syms" "$tmp/map.nodes"

# Map rules.
if grep -q '^? ' "$tmp/map.syms"; then
	bad "$map: unparsed text: $(grep '^? ' "$tmp/map.syms" | cut -c3- | tr '\n' ' ')"
fi
if grep -q '[*?[]' "$tmp/map.syms"; then
	bad "$map: wildcard in a global list: list every symbol by name"
fi
dups=$(awk '{ print $2 }' "$tmp/map.syms" | sort | uniq -d)
[ -z "$dups" ] || bad "$map: in two nodes: $dups"
major=$(sed -n 's/^#define LIBKMBOX_VERSION_MAJOR[ \t]*\([0-9]*\).*/\1/p' "$header")
minor=$(sed -n 's/^#define LIBKMBOX_VERSION_MINOR[ \t]*\([0-9]*\).*/\1/p' "$header")
prev=
want=0
while read -r node parent; do
	case $node in
	KMBOX_"$major".*) ;;
	*) bad "$map: node $node is not KMBOX_$major.<minor>" ;;
	esac
	m=${node#KMBOX_*.}
	[ "$m" = "$want" ] || bad "$map: node $node, want KMBOX_$major.$want (one node per minor, in order)"
	want=$((m + 1))
	if [ -z "$prev" ]; then
		[ "$parent" = - ] || bad "$map: first node $node inherits $parent"
	else
		[ "$parent" = "$prev" ] || bad "$map: node $node must inherit $prev (it says ${parent#-})"
	fi
	prev=$node
done <"$tmp/map.nodes"
[ "$prev" = "KMBOX_$major.$minor" ] ||
	bad "newest node is ${prev:-none}, but kmbox.h says version $major.$minor: bump LIBKMBOX_VERSION_MINOR with a new node"

# Released nodes are frozen; later ones are open.
grep -v '^#' "$list" | awk 'NF == 2' | sort >"$tmp/released"
sort "$tmp/map.syms" >"$tmp/map.sorted"
last_released=
awk '{ print $1 }' "$tmp/released" | sort -u >"$tmp/released.nodes"
while read -r node; do
	grep -q "^$node " "$tmp/map.nodes" || { bad "released node $node is not in $map"; continue; }
	added=$(grep "^$node " "$tmp/map.sorted" | comm -23 - "$tmp/released" | cut -d' ' -f2)
	gone=$(grep "^$node " "$tmp/released" | comm -23 - "$tmp/map.sorted" | cut -d' ' -f2)
	[ -z "$added" ] || bad "$node is released and frozen, but the map adds to it: $(echo "$added" | tr '\n' ' ')(a new call goes into a later node)"
	[ -z "$gone" ] || bad "$node is released and frozen, but the map drops: $(echo "$gone" | tr '\n' ' ')"
	last_released=$node
done <"$tmp/released.nodes"
seen_released=
while read -r node parent; do
	if grep -q "^$node " "$tmp/released"; then
		[ -z "$seen_released" ] || [ "$seen_released" = yes ] ||
			bad "released node $node comes after an unreleased one"
		seen_released=yes
	else
		[ "$seen_released" = no ] || echo "# $node is not released yet (not in $(basename "$list")): $(grep "^$node " "$tmp/map.syms" | cut -d' ' -f2 | tr '\n' ' ')"
		seen_released=no
	fi
done <"$tmp/map.nodes"
[ -n "$last_released" ] || bad "$list lists no released node"

# The shared library.
nm -D --defined-only "$so" >"$tmp/nm"
awk '$2 == "T" { print $3 }' "$tmp/nm" | sed 's/@@*/ /' | awk '{ print $2, $1 }' | sort >"$tmp/so.syms"
if ! diff -u "$tmp/map.sorted" "$tmp/so.syms" >"$tmp/diff"; then
	bad "$so exports differ from $map (node symbol):"
	sed 's/^/#   /' "$tmp/diff"
fi
others=$(awk '$2 != "T" && !($2 == "A" && $3 ~ /^KMBOX_/) { print $3 }' "$tmp/nm")
[ -z "$others" ] || bad "$so exports other symbols: $others"
soname=$(readelf -d "$so" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
[ "$soname" = "libkmbox.so.$major" ] || bad "soname is '$soname', want libkmbox.so.$major"

# The archive.
cut -d' ' -f2 "$tmp/map.sorted" | sort >"$tmp/all"
nm -g --defined-only "$ar" 2>/dev/null | awk 'NF == 3 { print $3 }' | sort >"$tmp/ar"
if ! diff -u "$tmp/all" "$tmp/ar" >"$tmp/diff"; then
	bad "$ar defines other globals than $map:"
	sed 's/^/#   /' "$tmp/diff"
fi

# The header.  A declaration is a line starting with a type and naming
# kmbox_x( at top level; static inline helpers are not exported.
grep -v '^static inline' "$header" |
	sed -n 's/^[a-z].*[ *]\(kmbox_[a-z0-9_]*\)(.*/\1/p' | sort -u >"$tmp/declared"
if ! diff -u "$tmp/declared" "$tmp/all" >"$tmp/diff"; then
	bad "kmbox.h declares other functions than $map exports:"
	sed 's/^/#   /' "$tmp/diff"
fi

[ $fail -eq 0 ] && echo "ok: $(wc -l <"$tmp/all") symbols in $(wc -l <"$tmp/map.nodes") nodes, released up to $last_released, soname libkmbox.so.$major; $so, $ar and kmbox.h agree"
exit $fail
