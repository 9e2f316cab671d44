#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# make deb: build the Debian packages (kmbox-dkms, libkmbox1, libkmbox-dev,
# kmbox-tools) with dpkg-buildpackage from debian/, in a copy of the tree
# under build/deb/ (dpkg-buildpackage writes next to the source tree, and
# the work tree stays clean); run lintian on them; then install
# libkmbox-dev and libkmbox1 into a scratch root with dpkg -x and build
# and run a program against them with pkg-config.  Prints one verdict
# line per step; exit status 0 only if all passed.
#   DEB_BUILD_OPTIONS=nocheck  skip the library's tests during the build
#                              (make check-host runs the same tests)
#   OUT=build/deb              where the packages go
set -euo pipefail
# shellcheck source=qemu/lib.sh
. "$(dirname "$0")/lib.sh"

REPO=$(cd "$(dirname "$0")/.." && pwd)
OUT=${OUT:-$REPO/build/deb}
case ${1:-} in -h|--help) sed -n '3,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0;; esac

ver=$(cd "$REPO" && dpkg-parsechangelog -S Version)
src=$OUT/kmbox-$ver
rm -rf "$OUT"
mkdir -p "$src"
# The tracked files as they are now (committed or not), nothing built.
# shellcheck disable=SC2016 # expanded by the inner sh
(cd "$REPO" && git ls-files -z --cached --others --exclude-standard |
	xargs -0 -r sh -c 'for f; do [ -e "$f" ] && printf "%s\0" "$f"; done' sh |
	tar --null -T - -cf -) | tar -xf - -C "$src"

t0=$(date +%s)
log=$OUT/build.log
if ! (cd "$src" && dpkg-buildpackage -b -us -uc -j"$(nproc)") >"$log" 2>&1; then
	tail -n 30 "$log" >&2
	echo "deb: FAIL dpkg-buildpackage (log: ${log#"$REPO"/})"
	exit 1
fi
mapfile -t debs < <(cd "$OUT" && find . -maxdepth 1 -name '*.deb' ! -name '*-dbgsym_*' | sed 's|^\./||' | sort)
echo "deb: PASS ${#debs[@]} packages in $(($(date +%s) - t0)) s: ${debs[*]} (in ${OUT#"$REPO"/}/)"
[ ${#debs[@]} = 4 ] || { echo "deb: FAIL expected 4 packages"; exit 1; }

# lintian: errors fail, warnings are shown.
changes=$(ls "$OUT"/*.changes)
llog=$OUT/lintian.log
lintian --no-cfg --info "$changes" >"$llog" 2>&1 || true
nerr=$(grep -c '^E: ' "$llog" || true)
nwarn=$(grep -c '^W: ' "$llog" || true)
grep -E '^[EW]: ' "$llog" | sed 's/^/  /' || true
if [ "$nerr" != 0 ]; then
	echo "lintian: FAIL $nerr errors, $nwarn warnings (log: ${llog#"$REPO"/})"
	exit 1
fi
echo "lintian: PASS 0 errors, $nwarn warnings"

# libkmbox-dev in a scratch root, a program built with pkg-config.
root=$OUT/root
mkdir -p "$root"
for p in libkmbox1 libkmbox-dev; do
	dpkg -x "$(ls "$OUT"/${p}_*.deb)" "$root"
done
ma=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
cat >"$OUT/hello.c" <<'EOT'
#include <kmbox.h>
#include <linux/kmbox.h>
#include <stdio.h>

int main(void)
{
	unsigned int v = kmbox_version();

	printf("%u.%u.%u\n", v >> 16, (v >> 8) & 0xff, v & 0xff);
	return v == LIBKMBOX_VERSION ? 0 : 1;
}
EOT
pc() {
	PKG_CONFIG_SYSROOT_DIR=$root PKG_CONFIG_LIBDIR=$root/usr/lib/$ma/pkgconfig \
		pkg-config "$@"
}
fail() { echo "dpkg-x: FAIL $*"; exit 1; }
pc --exists kmbox || fail "pkg-config finds no kmbox in the scratch root"
# shellcheck disable=SC2046
gcc -Wall -Werror -o "$OUT/hello" "$OUT/hello.c" $(pc --cflags --libs kmbox) ||
	fail "building against the scratch root with pkg-config"
# shellcheck disable=SC2046
gcc -Wall -Werror -static -o "$OUT/hello-static" "$OUT/hello.c" $(pc --cflags --libs --static kmbox) ||
	fail "building statically against the scratch root with pkg-config"
got=$(LD_LIBRARY_PATH=$root/usr/lib/$ma "$OUT/hello") || fail "the program built against the packages failed"
sgot=$("$OUT/hello-static") || fail "the static program failed"
# The program needs the version node of kmbox_version (KMBOX_1.1).
objdump -T "$OUT/hello" | grep -q 'KMBOX_1\.1.*kmbox_version' ||
	fail "the program does not bind kmbox_version@KMBOX_1.1"
echo "dpkg-x: PASS libkmbox-dev $ver in a scratch root: pkg-config --cflags --libs kmbox builds a program (shared, static) that runs and reports $got/$sgot"
