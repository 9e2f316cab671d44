# shellcheck shell=bash
# SPDX-License-Identifier: GPL-2.0
# Sourced by the qemu/*.sh scripts: the knobs they share and two helpers.
# Not a program; "source qemu/lib.sh" from bash.

# Where downloads and extracted files live (never inside the repo).
KMBOX_CACHE=${KMBOX_CACHE:-${HOME:-/root}/.cache/kmbox}

die() { echo "${0##*/}: $*" >&2; exit 1; }
note() { echo "${0##*/}: $*" >&2; }

# The newest installed Debian 6.1 cloud headers: the same rule as the
# top-level Makefile's TEST_KDIR (the reference kernel we boot; headers
# of other series installed on the host do not change it).
kmbox_default_kdir() {
	local d
	d=$(printf '%s\n' /usr/src/linux-headers-6.1.*-cloud-amd64 | sort -V | tail -n 1)
	[ -d "$d" ] || die "no /usr/src/linux-headers-6.1.*-cloud-amd64: run qemu/deps.sh (or apt-get install linux-headers-cloud-amd64), or set KDIR="
	echo "$d"
}

# The kernel release a module built against $1 (a KDIR) will carry in its
# vermagic.  Debian's include/config/kernel.release holds the upstream
# version (6.1.192), not the release (6.1.0-56-cloud-amd64), so read
# UTS_RELEASE.
kmbox_kdir_release() {
	local f=$1/include/generated/utsrelease.h rel
	[ -f "$f" ] || die "$1 does not look like a kernel build dir (no include/generated/utsrelease.h); check KDIR"
	rel=$(sed -n 's/^#define UTS_RELEASE "\(.*\)"$/\1/p' "$f")
	[ -n "$rel" ] || die "cannot read UTS_RELEASE from $f"
	echo "$rel"
}
