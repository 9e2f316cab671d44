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
'apt-get download linux-image-RELEASE-unsigned' (or the signed package,
or linux-binary-RELEASE) and a private apt configuration under the cache
(qemu/kernels.sh), and unpacking it with 'dpkg-deb -x' into
\$KMBOX_CACHE/kernel/RELEASE/.

RELEASE defaults to the release of \$KDIR (default: the newest
/usr/src/linux-headers-6.1.*-cloud-amd64).
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

# With a private apt configuration under the cache (qemu/kernels.sh): the
# host's apt sources are not used, and apt-get update never runs on the
# host.  It takes the unsigned image, the signed one (the same vmlinuz) or
# Debian's 7.x linux-binary-RELEASE, and keeps only boot/.
exec "$(dirname "$0")/kernels.sh" fetch-image "$rel"
