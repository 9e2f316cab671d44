#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Build kmbox.ko against any kernel tree from a scratch copy of the repo's
# Kbuild, module/ and uapi/, so that module/kmbox.ko (the lead's build
# for the Debian cloud kernel) is never overwritten.
#
# Usage: qemu/debug/build-module.sh [--gcov] [KDIR] [OUTDIR]
#   KDIR    kernel tree or headers (default: the debug tree of
#           qemu/debug/build-kernel.sh --cached)
#   OUTDIR  where kmbox.ko goes (default: a new temp dir)
#   --gcov  build with GCOV_PROFILE=y (the kernel needs
#           CONFIG_GCOV_KERNEL) in OUTDIR/build, which is kept: the
#           .gcno files and the sources that coverage tools need stay
#           there, next to the objects; kmbox.ko is OUTDIR/build/module/
# Prints one line on stdout: KMBOX_KO=<path of kmbox.ko>
# The compiler output goes to stderr.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)

die() { echo "${0##*/}: $*" >&2; exit 1; }

gcov=0
case ${1:-} in
-h|--help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; exit 0;;
--gcov) gcov=1; shift;;
esac

kdir=${1:-}
if [ -z "$kdir" ]; then
	kdir=$("$HERE/build-kernel.sh" --cached | sed -n 's/^KDIR=//p') ||
		die "no debug kernel built yet: run qemu/debug/build-kernel.sh"
fi
[ -f "$kdir/Makefile" ] || die "$kdir is not a kernel tree"
out=${2:-$(mktemp -d "${TMPDIR:-/tmp}/kmbox-ko.XXXXXX")}
mkdir -p "$out"

if [ $gcov = 1 ]; then
	grep -qx 'CONFIG_GCOV_KERNEL=y' "$kdir/.config" 2>/dev/null ||
		die "$kdir has no CONFIG_GCOV_KERNEL=y: a --gcov module would not load there"
	scratch=$out/build
	rm -rf "$scratch"
	mkdir -p "$scratch"
else
	scratch=$(mktemp -d "${TMPDIR:-/tmp}/kmbox-modsrc.XXXXXX")
	trap 'rm -rf "$scratch"' EXIT
fi
cp "$REPO/Kbuild" "$scratch/"
mkdir -p "$scratch/module" "$scratch/uapi"
cp "$REPO"/module/Kbuild "$REPO"/module/*.[ch] "$scratch/module/"
# Generated files of an earlier build in the repo must not come along.
rm -f "$scratch/module/"*.mod.c
cp -r "$REPO/uapi/linux" "$scratch/uapi/"

if [ $gcov = 1 ]; then
	# On the command line, GCOV_PROFILE applies to every object of this
	# (external module) build and to nothing of the kernel's.
	make -C "$kdir" M="$scratch" GCOV_PROFILE=y modules >&2 ||
		die "module build (GCOV_PROFILE=y) against $kdir failed"
	echo "KMBOX_KO=$scratch/module/kmbox.ko"
	exit 0
fi
make -C "$kdir" M="$scratch" modules >&2 || die "module build against $kdir failed"
cp "$scratch/module/kmbox.ko" "$out/kmbox.ko"
echo "KMBOX_KO=$out/kmbox.ko"
