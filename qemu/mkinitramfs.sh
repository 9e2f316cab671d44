#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Build the test VM's initramfs: static busybox and its applet links,
# qemu/init, the module, every test program (selftests/, userlib/, tools/,
# docs/examples/, stress/), kmboxctl and the examples, kmbox-bench and
# the demo scripts (qemu/demo.sh, which plays tools/demo.sh).  Writes OUTDIR/initramfs.cpio.gz and OUTDIR/tests (the
# test list), and prints the initramfs path.
set -euo pipefail
# shellcheck source=qemu/lib.sh
. "$(dirname "$0")/lib.sh"

REPO=$(cd "$(dirname "$0")/.." && pwd)
KMBOX_KO=${KMBOX_KO:-$REPO/module/kmbox.ko}
BUSYBOX=${BUSYBOX:-/bin/busybox}
DEMO=${DEMO:-$REPO/qemu/demo.sh}
KMBOX_BENCH=${KMBOX_BENCH:-$REPO/bench/kmbox-bench}
BENCH_ARGS=${BENCH_ARGS:-}
EXTRA_TESTS=${EXTRA_TESTS:-}
EXTRA_MODULES=${EXTRA_MODULES:-}
BENCH_FILES=${BENCH_FILES:-}

usage() {
	cat <<EOT
usage: ${0##*/} OUTDIR

Writes OUTDIR/initramfs.cpio.gz (printed) and OUTDIR/tests, the test
programs in it, one per line: those 'make -s -C DIR print-progs' lists
for selftests, userlib, tools, docs/examples and stress, in that order
(they sit under /tests/ in the guest; 'print-bins' go to /bin).
Programs listed but not built are noted and left out; run.sh counts them
as failures.

Knobs (environment):
  KMBOX_KO=$KMBOX_KO   module to load as /kmbox.ko
  BUSYBOX=$BUSYBOX     must be static (package busybox-static)
  DEMO=$DEMO           copied to /demo.sh if it exists (make run)
  KMBOX_BENCH=$KMBOX_BENCH   copied to /bin/kmbox-bench if it exists
  BENCH_ARGS="..."     arguments for kmbox-bench in bench mode
  EXTRA_TESTS="/p/a /p/b"    more test programs (static binaries or
                             #!/bin/sh scripts), run after the selftests
  EXTRA_MODULES="/p/x.ko"    modules loaded after kmbox.ko
  BENCH_FILES="/p/a.ko ..."  files for kmbox-bench, put in /bench/ (not
                             loaded: make bench-ab's two modules)
EOT
}

case ${1:-} in
-h|--help) usage; exit 0;;
"") usage >&2; exit 2;;
esac
out=$1
[ -d "$out" ] || die "$out is not a directory"

command -v cpio >/dev/null 2>&1 || die "cpio not found: run qemu/deps.sh (or apt-get install cpio)"
[ -x "$BUSYBOX" ] || die "$BUSYBOX not found: run qemu/deps.sh (or apt-get install busybox-static)"
[ -f "$KMBOX_KO" ] || die "$KMBOX_KO not found: build it with 'make module' (or set KMBOX_KO=)"

# The guest has no libc: everything we copy must be static.
is_static() {
	! ldd "$1" 2>/dev/null | grep -q -e '=>' -e 'ld-linux'
}
# add SRC DEST [mode]: copy a file into the image.
add() {
	is_static "$1" || die "$1 is dynamically linked; the guest has no libc: link it with -static"
	mkdir -p "$root/$(dirname "$2")"
	install -m "${3:-0755}" "$1" "$root/$2"
}

root=$out/root
rm -rf "$root"
mkdir -p "$root"/{bin,dev,proc,sys,tmp,etc/kmbox,tests,modules}
ln -s bin "$root/sbin"
mkdir -p "$root/usr"
ln -s ../bin "$root/usr/bin"
ln -s ../bin "$root/usr/sbin"

add "$BUSYBOX" bin/busybox
for a in $("$BUSYBOX" --list); do
	[ "$a" = busybox ] || ln -s busybox "$root/bin/$a"
done
add "$REPO/qemu/init" init
add "$KMBOX_KO" kmbox.ko 0644
for m in $EXTRA_MODULES; do
	add "$m" "modules/${m##*/}" 0644
done

: >"$out/tests"
# The selftests first, then the library's, kmboxctl's and the examples'
# tests, then the reliability programs of stress/ (which end by reloading
# the module).  A directory's print-progs names its tests (paths relative
# to it; in the guest they are /tests/<basename>), and print-bins, where
# it has that target, programs for the guest's /bin.
for dir in selftests userlib tools docs/examples stress; do
	if [ ! -f "$REPO/$dir/Makefile" ]; then
		note "no $dir/Makefile yet: nothing of $dir/ in the image"
		continue
	fi
	progs=$(make -s --no-print-directory -C "$REPO/$dir" print-progs) ||
		die "'make -s -C $dir print-progs' failed"
	for p in $progs; do
		if [ -f "$REPO/$dir/$p" ]; then
			add "$REPO/$dir/$p" "tests/${p##*/}"
		else
			note "$dir/$p is not built (make -C $dir); left out"
		fi
		echo "${p##*/}" >>"$out/tests"
	done
	if make -s --no-print-directory -C "$REPO/$dir" -n print-bins >/dev/null 2>&1; then
		for b in $(make -s --no-print-directory -C "$REPO/$dir" print-bins); do
			if [ -f "$REPO/$dir/$b" ]; then
				add "$REPO/$dir/$b" "bin/${b##*/}"
			else
				note "$dir/$b is not built (make -C $dir); left out"
			fi
		done
	fi
done
for t in $EXTRA_TESTS; do
	add "$t" "tests/${t##*/}"
	echo "${t##*/}" >>"$out/tests"
done
cp "$out/tests" "$root/etc/kmbox/tests"

[ -f "$KMBOX_BENCH" ] && add "$KMBOX_BENCH" bin/kmbox-bench
[ -f "$REPO/tools/demo.sh" ] && add "$REPO/tools/demo.sh" bin/kmbox-demo
[ -f "$DEMO" ] && add "$DEMO" demo.sh
for f in $BENCH_FILES; do
	add "$f" "bench/${f##*/}" 0644
done
printf '%s\n' "$BENCH_ARGS" >"$root/etc/kmbox/bench-args"

# bpftrace's script and make run TRACE=1's demo (perf and bpftrace come
# in the archive of qemu/trace-tools.sh).
add "$REPO/tools/kmbox-latency.bt" bin/kmbox-latency.bt
add "$REPO/qemu/trace-demo.sh" trace-demo.sh

(cd "$root" && find . -mindepth 1 | LC_ALL=C sort |
	cpio -o -H newc --owner=0:0 --quiet) | gzip -1 >"$out/initramfs.cpio.gz"
rm -rf "$root"
echo "$out/initramfs.cpio.gz"
