#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later OR MIT
#
# make install, as a user would use it, in scratch directories:
#  1. 'make install DESTDIR=<stage> PREFIX=/usr': every file where it
#     belongs (the uapi header not in linux-libc-dev's include/linux/, the
#     soname links, man pages that resolve, the module and depmod's index
#     when the module is built for KDIR), a kmbox.pc that does not name
#     the stage;
#  2. a program (install_probe.c) built with nothing but pkg-config's
#     flags against the stage, shared and static, and run: its host part
#     passes with or without the module;
#  3. the same with 'make install PREFIX=<dir>' and PKG_CONFIG_PATH, and
#     with the tree's kmbox-uninstalled.pc;
#  4. the README's own code and build commands (the blocks after its
#     "<!-- test: ... -->" markers): the first program and the three
#     examples, against the installed library and against the tree;
#  5. 'make uninstall' leaves nothing behind.
#
# Usage: userlib/test/check-install.sh   (after make; make check-host runs it)
# TAP output; exit status 0 if all pass.
set -u

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
CC=${CC:-cc}
PKG_CONFIG=${PKG_CONFIG:-pkg-config}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/kmbox-install.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
n=0
bad=0
unset PKG_CONFIG_PATH PKG_CONFIG_LIBDIR PKG_CONFIG_SYSROOT_DIR DESTDIR PREFIX

ok() {
	n=$((n + 1))
	echo "ok $n $1"
}
notok() {
	n=$((n + 1))
	bad=$((bad + 1))
	echo "not ok $n $1"
	[ -z "${2:-}" ] || sed 's/^/# /' "$2" | tail -n 30
}
# check DESCRIPTION COMMAND...: the command succeeds (its output in $tmp/out)
check() {
	local what=$1
	shift
	if "$@" >"$tmp/out" 2>&1; then ok "$what"; else notok "$what" "$tmp/out"; fi
}

echo "TAP version 13"
command -v "$PKG_CONFIG" >/dev/null || { echo "1..0 # SKIP no pkg-config"; exit 0; }
if [ ! -f "$ROOT/userlib/libkmbox.a" ] || [ ! -f "$ROOT/tools/kmboxctl" ]; then
	echo "Bail out! build first (make)"
	exit 1
fi

# The module is installed too when it is built for KDIR already (make
# install would otherwise build it, for the running kernel maybe).
rel=$(sed -n 's/^#define UTS_RELEASE "\(.*\)"$/\1/p' "${KDIR:-/nonexistent}/include/generated/utsrelease.h" 2>/dev/null)
module=0
if [ -n "$rel" ] && [ -f "$ROOT/module/kmbox.ko" ] &&
   [ "$(cat "$ROOT/module/.kdir-release" 2>/dev/null)" = "$rel" ]; then
	module=1
else
	echo "# the module is not built for KDIR=${KDIR:-}: installing without it"
fi

# --- 1. DESTDIR install -------------------------------------------------------

stage=$tmp/stage
check "make install DESTDIR=<stage> PREFIX=/usr" \
	make -C "$ROOT" install DESTDIR="$stage" PREFIX=/usr INSTALL_MODULE=$module
u=$stage/usr
for f in lib/libkmbox.a lib/libkmbox.so.1 lib/libkmbox.so include/kmbox.h \
	 include/kmbox/linux/kmbox.h lib/pkgconfig/kmbox.pc bin/kmboxctl \
	 share/man/man1/kmboxctl.1 share/man/man4/kmbox.4 share/man/man7/kmbox.7 \
	 share/man/man3/kmbox_open.3 share/man/man3/kmbox_timedsend.3; do
	if [ -e "$u/$f" ]; then ok "installed /usr/$f"; else notok "installed /usr/$f"; fi
done
if [ ! -e "$u/include/linux/kmbox.h" ]; then
	ok "nothing in include/linux/ (linux-libc-dev's)"
else
	notok "nothing in include/linux/ (linux-libc-dev's)"
fi
so=$(readlink "$u/lib/libkmbox.so.1")
if [ "$(readlink "$u/lib/libkmbox.so")" = libkmbox.so.1 ] && [ -f "$u/lib/$so" ] &&
   readelf -d "$u/lib/$so" | grep -q 'SONAME.*\[libkmbox\.so\.1\]'; then
	ok "libkmbox.so -> libkmbox.so.1 -> $so, soname libkmbox.so.1"
else
	notok "libkmbox.so -> libkmbox.so.1 -> the library, soname libkmbox.so.1"
fi
pages=$(find "$ROOT/userlib/man" -name 'kmbox*.[0-9]' | wc -l)
got=$(find "$u/share/man/man3" "$u/share/man/man4" "$u/share/man/man7" -name 'kmbox*.[0-9]' | wc -l)
if [ "$got" -eq "$pages" ]; then ok "all $pages library man pages"; else notok "$got of $pages man pages installed"; fi
if grep -q "$stage" "$u/lib/pkgconfig/kmbox.pc"; then
	notok "kmbox.pc does not name the stage" "$u/lib/pkgconfig/kmbox.pc"
else
	ok "kmbox.pc does not name the stage"
fi
check "the installed kmboxctl runs" "$u/bin/kmboxctl" --version
if command -v man >/dev/null; then
	check "man finds kmbox_timedsend (a .so link) in the staged man pages" \
		sh -c "MANWIDTH=80 man -M '$u/share/man' kmbox_timedsend 2>&1 | grep -q 'kmbox_timedsend'"
fi
if [ "$module" = 1 ]; then
	ko=$(find "$stage/lib/modules/$rel/extra" -name kmbox.ko 2>/dev/null | head -n 1)
	if [ -n "$ko" ] && grep -q 'kmbox\.ko' "$stage/lib/modules/$rel/modules.dep"; then
		ok "the module in lib/modules/$rel/extra, in depmod's modules.dep"
	else
		notok "the module in lib/modules/$rel/extra, in depmod's modules.dep"
	fi
fi

# --- 2. a program against the stage, shared and static ---------------------------

probe=$ROOT/userlib/test/install_probe.c
export PKG_CONFIG_SYSROOT_DIR=$stage PKG_CONFIG_LIBDIR=$u/lib/pkgconfig
flags=$($PKG_CONFIG --cflags --libs kmbox)
sflags=$($PKG_CONFIG --cflags --libs --static kmbox)
unset PKG_CONFIG_SYSROOT_DIR PKG_CONFIG_LIBDIR
echo "# pkg-config against the stage: $flags"
# shellcheck disable=SC2086 # the flags are words
check "build shared with pkg-config against the stage" \
	$CC -std=c11 -Wall -Wextra -Werror -o "$tmp/probe.shared" "$probe" $flags
check "... it loads the staged libkmbox.so.1" \
	sh -c "LD_LIBRARY_PATH='$u/lib' ldd '$tmp/probe.shared' | grep -q 'libkmbox.so.1 => $u/lib/'"
check "... and runs" env LD_LIBRARY_PATH="$u/lib" "$tmp/probe.shared"
# shellcheck disable=SC2086
check "build static with pkg-config --static against the stage" \
	$CC -std=c11 -Wall -Wextra -Werror -static -o "$tmp/probe.static" "$probe" $sflags
check "... it needs no libkmbox.so" sh -c "! ldd '$tmp/probe.static' 2>&1 | grep -q libkmbox"
check "... and runs" "$tmp/probe.static"

# --- 3. PREFIX install, and the uninstalled .pc ----------------------------------

prefix=$tmp/prefix
check "make install PREFIX=<dir> INSTALL_MODULE=0" \
	make -C "$ROOT" install PREFIX="$prefix" INSTALL_MODULE=0
flags=$(PKG_CONFIG_PATH=$prefix/lib/pkgconfig $PKG_CONFIG --cflags --libs kmbox)
# shellcheck disable=SC2086
check "build with PKG_CONFIG_PATH=<dir>/lib/pkgconfig" \
	$CC -std=c11 -Wall -Wextra -Werror -o "$tmp/probe.prefix" "$probe" $flags
check "... and run it" env LD_LIBRARY_PATH="$prefix/lib" "$tmp/probe.prefix"

flags=$(PKG_CONFIG_PATH=$ROOT/userlib $PKG_CONFIG --cflags --libs kmbox)
echo "# pkg-config, uninstalled: $flags"
case $flags in
*"$ROOT/userlib/libkmbox.a"*) ok "PKG_CONFIG_PATH=userlib finds kmbox-uninstalled.pc" ;;
*) notok "PKG_CONFIG_PATH=userlib finds kmbox-uninstalled.pc" ;;
esac
# shellcheck disable=SC2086
check "build with the uninstalled .pc" \
	$CC -std=c11 -Wall -Wextra -Werror -o "$tmp/probe.tree" "$probe" $flags
check "... and run it, no LD_LIBRARY_PATH" "$tmp/probe.tree"

# --- 4. the README's code and commands -------------------------------------------

# block NAME: the fenced block after "<!-- test: NAME -->" in README.md
block() {
	awk -v want="<!-- test: $1 -->" '
		$0 == want { armed = 1; next }
		armed && /^```/ { if (inside) exit; inside = 1; next }
		inside { print }' "$ROOT/README.md"
}
# run_readme NAME DIR ENV...: run block NAME in DIR, with ENV
run_readme() {
	local name=$1 dir=$2
	shift 2
	block "$name" >"$tmp/$name.sh"
	if [ ! -s "$tmp/$name.sh" ]; then
		notok "README has a '$name' block"
		return 1
	fi
	(cd "$dir" && env "$@" bash "$tmp/$name.sh") >"$tmp/$name.out" 2>&1
}
# expect_runs PROGRAM: it passes with the module, or says it is missing
expect_runs() {
	local out rc
	out=$("$@" 2>&1)
	rc=$?
	if [ -e /dev/kmbox ]; then
		[ $rc -eq 0 ]
	else
		[ $rc -eq 1 ] && printf '%s\n' "$out" | grep -q "module"
	fi
}

for how in installed uninstalled; do
	w=$tmp/readme-$how
	mkdir -p "$w"
	ln -s "$ROOT/docs" "$w/docs"
	ln -s "$ROOT/userlib" "$w/userlib"
	block hello.c >"$w/hello.c"
	[ -s "$w/hello.c" ] || notok "README has the first program"
	if [ $how = installed ]; then
		env=(PKG_CONFIG_SYSROOT_DIR="$stage" PKG_CONFIG_LIBDIR="$u/lib/pkgconfig"
		     LD_LIBRARY_PATH="$u/lib")
		build="build-installed"
	else
		env=(LD_LIBRARY_PATH=)
		build="build-uninstalled"
	fi
	run_readme $build "$w" "${env[@]}"
	check "README, $how: the first program builds" test -x "$w/hello"
	check "README, $how: it runs (or says the module is missing)" \
		expect_runs env "${env[@]}" "$w/hello"
	[ $how = installed ] || env+=(PKG_CONFIG_PATH="$w/userlib")
	run_readme build-examples "$w" "${env[@]}"
	for p in jobq reqrep zcpipe; do
		check "README, $how: docs/examples/$p.c builds" test -x "$w/$p"
		check "README, $how: $p runs (or says the module is missing)" \
			expect_runs env "${env[@]}" "$w/$p"
	done
done

# --- 5. uninstall -----------------------------------------------------------------

check "make uninstall DESTDIR=<stage> PREFIX=/usr" \
	make -C "$ROOT" uninstall DESTDIR="$stage" PREFIX=/usr INSTALL_MODULE=$module
left=$(cd "$stage" && find . ! -type d ! -name 'modules.*' | sort)
if [ -z "$left" ]; then
	ok "nothing left in the stage but depmod's index"
else
	printf '%s\n' "$left" >"$tmp/left"
	notok "nothing left in the stage but depmod's index" "$tmp/left"
fi
check "make uninstall PREFIX=<dir>" make -C "$ROOT" uninstall PREFIX="$prefix" INSTALL_MODULE=0
left=$(cd "$prefix" && find . ! -type d | sort)
if [ -z "$left" ]; then
	ok "nothing left in the prefix"
else
	printf '%s\n' "$left" >"$tmp/left"
	notok "nothing left in the prefix" "$tmp/left"
fi

echo "1..$n"
echo "# $((n - bad)) passed, $bad failed"
[ "$bad" -eq 0 ]
