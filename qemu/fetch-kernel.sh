#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Fetch the bootable Debian kernel whose release matches the headers the
# module is built against, unpack it into the cache (never installed on
# the host) and print the path of its vmlinuz.
set -euo pipefail
# shellcheck source=qemu/lib.sh
. "$(dirname "$0")/lib.sh"

usage() {
	cat <<EOT
usage: ${0##*/} [RELEASE]

Prints the path of vmlinuz-RELEASE, downloading it first if needed with
'apt-get download linux-image-RELEASE-unsigned' (or the signed package)
and unpacking it with 'dpkg-deb -x' into \$KMBOX_CACHE/kernel/RELEASE/.

RELEASE defaults to the release of \$KDIR (default: the newest
/usr/src/linux-headers-*-cloud-amd64).
  KMBOX_CACHE  cache directory (now: $KMBOX_CACHE)
  KDIR         kernel headers the module is built against
EOT
}

case ${1:-} in -h|--help) usage; exit 0;; esac

rel=${1:-$(kmbox_kdir_release "${KDIR:-$(kmbox_default_kdir)}")}
dest=$KMBOX_CACHE/kernel/$rel
vmlinuz=$dest/boot/vmlinuz-$rel
if [ -f "$vmlinuz" ]; then
	echo "$vmlinuz"
	exit 0
fi

for t in apt-get apt-cache dpkg-deb; do
	command -v "$t" >/dev/null 2>&1 ||
		die "$t not found: this needs a Debian-like host, or set KERNEL_IMAGE=/path/to/vmlinuz"
done

# The unsigned image is what Debian builds; the signed one holds the same
# vmlinuz.  Take whichever apt knows about.
find_pkg() {
	local p
	for p in "linux-image-$rel-unsigned" "linux-image-$rel"; do
		if apt-cache show "$p" >/dev/null 2>&1; then
			echo "$p"
			return 0
		fi
	done
	return 1
}
pkg=$(find_pkg) || {
	[ "$(id -u)" = 0 ] ||
		die "apt knows no linux-image-${rel}[-unsigned]: run 'apt-get update' as root, or set KERNEL_IMAGE=/path/to/vmlinuz"
	note "apt knows no linux-image-$rel; running apt-get update"
	apt-get update -q >/dev/null 2>&1 ||
		die "apt-get update failed: check the network and /etc/apt/sources.list"
	pkg=$(find_pkg) ||
		die "apt has no linux-image-$rel-unsigned nor linux-image-$rel: build against headers apt still carries (KDIR=), or set KERNEL_IMAGE=/path/to/vmlinuz"
}

mkdir -p "$KMBOX_CACHE/kernel"
tmp=$(mktemp -d "$KMBOX_CACHE/kernel/.fetch.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
note "downloading $pkg into $dest (once)"
# Download as the calling user into our own directory, so apt's sandbox
# user need not write there.
if ! (cd "$tmp" && apt-get download -q -o APT::Sandbox::User="$(id -un)" "$pkg") >"$tmp/apt.log" 2>&1; then
	cp "$tmp/apt.log" "$KMBOX_CACHE/kernel/apt-download.log"
	die "apt-get download $pkg failed (log: $KMBOX_CACHE/kernel/apt-download.log): try 'apt-get update', or set KERNEL_IMAGE=/path/to/vmlinuz"
fi
debs=("$tmp"/*.deb)
dpkg-deb -x "${debs[0]}" "$tmp/x" || die "dpkg-deb -x ${debs[0]} failed (disk full?)"
[ -f "$tmp/x/boot/vmlinuz-$rel" ] || die "$pkg holds no boot/vmlinuz-$rel"
# Keep boot/ only (vmlinuz, config, System.map): the 100 MB of modules
# under lib/ are never used.  The rename publishes the directory
# atomically, so two runs fetching at once end with one complete copy.
mkdir "$tmp/out"
mv "$tmp/x/boot" "$tmp/out/boot"
mv -T "$tmp/out" "$dest" 2>/dev/null || [ -f "$vmlinuz" ] || die "cannot create $dest"
echo "$vmlinuz"
