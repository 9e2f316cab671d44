#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Install, with apt-get, whatever the build and the QEMU tests need and
# the machine lacks.  Prints one line per missing piece; silent when all
# is present.  Usage: qemu/deps.sh [--lint|--coverage|--deb|--dkms]
set -euo pipefail

die() { echo "kmbox deps: $*" >&2; exit 1; }

want_lint=0
want_cov=0
want_deb=0
want_dkms=0
case ${1:-} in
--lint) want_lint=1;;
--coverage) want_cov=1;;
--deb) want_deb=1;;
--dkms) want_dkms=1;;
-h|--help) echo "usage: ${0##*/} [--lint|--coverage|--deb|--dkms]   (installs what make check [and make lint, make coverage, make deb, make dkms-check] need)"; exit 0;;
"") ;;
*) die "unknown option $1 (usage: ${0##*/} [--lint|--coverage|--deb|--dkms])";;
esac

# command -> package
declare -A tools=(
	[gcc]=gcc [make]=make [qemu-system-x86_64]=qemu-system-x86
	[cpio]=cpio [gzip]=gzip [perl]=perl [xz]=xz-utils [bc]=bc
	[apt-get]=apt [dpkg-deb]=dpkg
	[g++]=g++ [pkg-config]=pkgconf [groff]=groff-base [readelf]=binutils
	[depmod]=kmod
	# Kernel headers of 6.12 and later run pahole when building a module
	# (BTF); the trixie root of qemu/kernels.sh is made with debootstrap
	# and run with unshare.
	[pahole]=dwarves [debootstrap]=debootstrap [unshare]=util-linux
)
if [ $want_lint = 1 ]; then
	tools[sparse]=sparse
	tools[shellcheck]=shellcheck
	tools[clang]=clang
fi
if [ $want_cov = 1 ]; then
	tools[lcov]=lcov
fi
if [ $want_deb = 1 ]; then
	tools[dpkg-buildpackage]=dpkg-dev
	tools[dh]=debhelper
	tools[lintian]=lintian
	tools[dh_dkms]=dh-dkms
fi
if [ $want_dkms = 1 ]; then
	tools[dkms]=dkms
	# dkms signs what it builds for kernels with module signing.
	tools[openssl]=openssl
fi

pkgs=()
for t in "${!tools[@]}"; do
	command -v "$t" >/dev/null 2>&1 || pkgs+=("${tools[$t]}")
done
# Static test binaries need libc.a.
[ -f "/usr/lib/$(gcc -dumpmachine 2>/dev/null || echo x86_64-linux-gnu)/libc.a" ] || pkgs+=(libc6-dev)
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q ' installed$'; }
# The initramfs needs the static busybox (the plain busybox is dynamic).
installed busybox-static || pkgs+=(busybox-static)
# selftests/kmbox_uring_test (and the benchmark) link liburing statically.
[ -f "/usr/lib/$(gcc -dumpmachine 2>/dev/null || echo x86_64-linux-gnu)/liburing.a" ] || pkgs+=(liburing-dev)
# The reference kernel's headers: bookworm's metapackage is 6.1.  Headers
# of other series installed on the host do not count (nor are they used
# by default: see KDIR in the Makefile).
ls -d /usr/src/linux-headers-6.1.*-cloud-amd64 >/dev/null 2>&1 || pkgs+=(linux-headers-cloud-amd64)
[ -f /usr/src/linux-source-6.1.tar.xz ] || pkgs+=(linux-source-6.1)
# perf and bpftrace for the guest (qemu/trace-tools.sh copies Debian's
# binaries and their libraries into an archive run.sh appends to the
# initramfs; selftests/kmbox_trace_test.sh uses them), lz4 to pack it.
installed linux-perf || pkgs+=(linux-perf)
installed bpftrace || pkgs+=(bpftrace)
command -v lz4 >/dev/null 2>&1 || pkgs+=(lz4)

if [ ${#pkgs[@]} -gt 0 ]; then
	[ "$(id -u)" = 0 ] || die "missing packages: ${pkgs[*]} (run as root, or: sudo apt-get install ${pkgs[*]})"
	echo "kmbox deps: installing ${pkgs[*]}"
	export DEBIAN_FRONTEND=noninteractive
	log=${TMPDIR:-/tmp}/kmbox-apt.log
	if ! apt-get install -y -q --no-install-recommends "${pkgs[@]}" >"$log" 2>&1; then
		apt-get update -q >>"$log" 2>&1 ||
			die "apt-get update failed; see $log"
		apt-get install -y -q --no-install-recommends "${pkgs[@]}" >>"$log" 2>&1 ||
			die "apt-get install ${pkgs[*]} failed; see $log"
	fi
fi
exit 0
