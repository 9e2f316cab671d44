#!/usr/bin/env bash
# Build kmbox.ko against any kernel tree from a scratch copy of the repo's
# Kbuild, module/ and uapi/, so that module/kmbox.ko (the lead's build
# for the Debian cloud kernel) is never overwritten.
#
# Usage: qemu/debug/build-module.sh [KDIR] [OUTDIR]
#   KDIR    kernel tree or headers (default: the debug tree of
#           qemu/debug/build-kernel.sh --cached)
#   OUTDIR  where kmbox.ko goes (default: a new temp dir)
# Prints one line on stdout: KMBOX_KO=<OUTDIR>/kmbox.ko
# The compiler output goes to stderr.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)

die() { echo "${0##*/}: $*" >&2; exit 1; }

case ${1:-} in
-h|--help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; exit 0;;
esac

kdir=${1:-}
if [ -z "$kdir" ]; then
	kdir=$("$HERE/build-kernel.sh" --cached | sed -n 's/^KDIR=//p') ||
		die "no debug kernel built yet: run qemu/debug/build-kernel.sh"
fi
[ -f "$kdir/Makefile" ] || die "$kdir is not a kernel tree"
out=${2:-$(mktemp -d "${TMPDIR:-/tmp}/kmbox-ko.XXXXXX")}
mkdir -p "$out"

scratch=$(mktemp -d "${TMPDIR:-/tmp}/kmbox-modsrc.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
cp "$REPO/Kbuild" "$scratch/"
mkdir -p "$scratch/module" "$scratch/uapi"
cp "$REPO"/module/Kbuild "$REPO"/module/*.[ch] "$scratch/module/"
# Generated files of an earlier build in the repo must not come along.
rm -f "$scratch/module/"*.mod.c
cp -r "$REPO/uapi/linux" "$scratch/uapi/"

make -C "$kdir" M="$scratch" modules >&2 || die "module build against $kdir failed"
cp "$scratch/module/kmbox.ko" "$out/kmbox.ko"
echo "KMBOX_KO=$out/kmbox.ko"
