#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# The kernels kmbox supports, and what building for and booting each one
# takes: its headers, its bootable image and the toolchain its headers
# need.  Everything is fetched into the cache with a private apt
# configuration ($KMBOX_CACHE/apt/<dist>: its own sources list, lists and
# archives), never with the host's /etc/apt, and nothing is installed on
# the host.  Kernels whose headers need trixie's gcc-14, glibc and pahole
# are built in a trixie root made with debootstrap under the cache.
set -euo pipefail
# shellcheck source=qemu/lib.sh
. "$(dirname "$0")/lib.sh"

REPO=$(cd "$(dirname "$0")/.." && pwd)
MIRROR=${KMBOX_MIRROR:-http://deb.debian.org/debian}
SECURITY_MIRROR=${KMBOX_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
KEYRING=${KMBOX_KEYRING:-/usr/share/keyrings/debian-archive-keyring.gpg}
TRIXIE_ROOT=$KMBOX_CACHE/trixie-root

# The matrix: KVER, the Debian suite its packages come from, the release
# series the headers must match, the toolchain (host = bookworm's gcc-12,
# trixie = the trixie root).  6.1 is the reference kernel of 'make check'.
MATRIX="
6.1      bookworm            6.1.   host
6.12-bpo bookworm-backports  6.12.  host
6.12     trixie              6.12.  trixie
7        trixie-backports    7.     trixie
"

usage() {
	cat <<EOT
usage: ${0##*/} COMMAND [KVER]

  list           the kernels of the matrix (KVER suite series toolchain)
  prepare KVER   fetch KVER's headers, image and toolchain into the cache
                 (once); print 'KDIR=...' and 'KERNEL_IMAGE=...'
  cached KVER    exit 0 if KVER's headers and toolchain are in the cache
  module KVER    build module/kmbox.ko for KVER (prepare first)
  run KVER CMD.. run CMD with KVER's toolchain: on the host, or in the
                 trixie root with the repo at /kmbox (copied in and out)
  dkms KVER OUT  dkms add + build the tree for KVER in a throw-away DKMS
                 tree (never /var/lib/dkms); copy the module to OUT
  kdir KVER      print KVER's KDIR (as seen from the host)
  root           make the trixie root (once)
  image KVER     print KVER's vmlinuz
  fetch-image REL  fetch the image of Debian release REL; print its vmlinuz

KVER: $(list_kvers | tr '\n' ' ')
  KMBOX_CACHE   $KMBOX_CACHE
  KMBOX_MIRROR  $MIRROR
Nothing is installed on the host; the first 'prepare' of a trixie kernel
runs debootstrap (about 600 MB with gcc-14, 1 to 5 minutes).
EOT
}

list_kvers() { awk 'NF {print $1}' <<<"$MATRIX"; }

# field KVER N: the Nth column of KVER's row.
field() {
	local v
	v=$(awk -v k="$1" -v n="$2" '$1 == k {print $n}' <<<"$MATRIX")
	[ -n "$v" ] || die "unknown KVER '$1'; known: $(list_kvers | tr '\n' ' ')"
	echo "$v"
}

# dist SUITE: the release a suite belongs to (bookworm, trixie).
dist_of() { echo "${1%%-*}"; }

# --- private apt -------------------------------------------------------------

# apt_setup DIST: write $KMBOX_CACHE/apt/DIST/apt.conf and its sources
# list; print the apt.conf path (for APT_CONFIG=).
apt_setup() {
	local dist=$1 d=$KMBOX_CACHE/apt/$1
	mkdir -p "$d/lists/partial" "$d/archives/partial" "$d/etc/apt.conf.d" \
		"$d/etc/preferences.d" "$d/etc/sources.list.d" "$d/etc/trusted.gpg.d"
	cat >"$d/sources.list" <<EOT
deb [signed-by=$KEYRING] $MIRROR $dist main
deb [signed-by=$KEYRING] $MIRROR $dist-updates main
deb [signed-by=$KEYRING] $MIRROR $dist-backports main
deb [signed-by=$KEYRING] $SECURITY_MIRROR $dist-security main
EOT
	: >"$d/status"
	cat >"$d/apt.conf" <<EOT
Dir::Etc "$d/etc";
Dir::Etc::main "/dev/null";
Dir::Etc::sourcelist "$d/sources.list";
Dir::Etc::sourceparts "$d/etc/sources.list.d";
Dir::Etc::parts "$d/etc/apt.conf.d";
Dir::Etc::preferences "/dev/null";
Dir::Etc::preferencesparts "$d/etc/preferences.d";
Dir::Etc::trustedparts "$d/etc/trusted.gpg.d";
Dir::State "$d";
Dir::State::lists "$d/lists";
Dir::State::status "$d/status";
Dir::Cache "$d";
Dir::Cache::archives "$d/archives";
Dir::Cache::pkgcache "$d/pkgcache.bin";
Dir::Cache::srcpkgcache "$d/srcpkgcache.bin";
APT::Architecture "amd64";
APT::Architectures { "amd64"; };
APT::Get::AllowUnauthenticated "false";
Debug::NoLocking "true";
APT::Sandbox::User "$(id -un)";
Acquire::Languages "none";
EOT
	echo "$d/apt.conf"
}

# papt DIST CMD ARGS...: run apt-get/apt-cache with DIST's private config.
papt() {
	local conf
	conf=$(apt_setup "$1")
	shift
	APT_CONFIG=$conf "$@"
}

# apt_update DIST: refresh DIST's private lists when older than a day.
apt_update() {
	local d=$KMBOX_CACHE/apt/$1
	apt_setup "$1" >/dev/null
	if [ -z "$(find "$d/lists" -maxdepth 1 -name '*_Packages*' -mmin -1440 2>/dev/null | head -n 1)" ]; then
		note "updating the private apt lists for $1 ($d)"
		papt "$1" apt-get update -q >"$d/update.log" 2>&1 ||
			die "apt-get update for $1 failed: see $d/update.log"
	fi
}

# --- headers, image ----------------------------------------------------------

# newest_release KVER: the newest cloud-amd64 release of KVER's series
# that KVER's suite carries (e.g. 6.12.57+deb13-cloud-amd64).
newest_release() {
	local suite series dist
	suite=$(field "$1" 2)
	series=$(field "$1" 3)
	dist=$(dist_of "$suite")
	# The metapackage's Depends names the release; take the newest from
	# the suite wanted (pinned with =version).
	local ver
	ver=$(papt "$dist" apt-cache madison linux-headers-cloud-amd64 |
		awk -F'|' -v s="$suite" '{gsub(/ /, "", $2); split($3, a, " "); split(a[2], b, "/"); if (b[1] == s || b[1] == s"-security" || b[1] == s"-updates") print $2}' |
		sort -V | tail -n 1)
	[ -n "$ver" ] || die "$suite has no linux-headers-cloud-amd64"
	papt "$dist" apt-cache depends "linux-headers-cloud-amd64=$ver" |
		sed -n 's/^ *Depends: linux-headers-\(.*-cloud-amd64\)$/\1/p' |
		grep "^$series" | head -n 1 || die "linux-headers-cloud-amd64=$ver in $suite names no $series kernel"
}

release_file() { echo "$KMBOX_CACHE/kernels/$1.release"; }

# release KVER: the release prepared for KVER (cached), else the newest.
release() {
	local f
	f=$(release_file "$1")
	if [ -s "$f" ]; then cat "$f"; return; fi
	if [ "$1" = 6.1 ]; then
		# The reference: the host's bookworm headers (qemu/deps.sh).
		kmbox_kdir_release "$(kmbox_default_kdir)"
		return
	fi
	apt_update "$(dist_of "$(field "$1" 2)")"
	newest_release "$1"
}

# download DIST DIR PKG...: apt-get download PKG... into DIR.
download() {
	local dist=$1 dir=$2
	shift 2
	mkdir -p "$dir"
	(cd "$dir" && papt "$dist" apt-get download -q "$@") >"$dir/download.log" 2>&1 ||
		die "apt-get download $* failed: see $dir/download.log"
}

# header_debs DIST REL: the packages the headers of REL consist of (the
# flavour, its -common and the kbuild package), from the Depends chain.
header_pkgs() {
	local dist=$1 rel=$2 p deps=() seen=" "
	local queue=("linux-headers-$rel")
	while [ ${#queue[@]} -gt 0 ]; do
		p=${queue[0]}
		queue=("${queue[@]:1}")
		case $seen in *" $p "*) continue;; esac
		seen+="$p "
		deps+=("$p")
		while read -r d; do
			queue+=("$d")
		done < <(papt "$dist" apt-cache depends "$p" 2>/dev/null |
			sed -n 's/^ *Depends: \(linux-\(headers\|kbuild\)-[^ ]*\)$/\1/p')
	done
	printf '%s\n' "${deps[@]}"
}

# image_pkg DIST REL: the package holding REL's vmlinuz: the unsigned
# image (6.x), the signed one, or linux-binary-REL (Debian's 7.x kernels,
# image under usr/lib/modules/REL/vmlinuz).
image_pkg() {
	local p
	for p in "linux-image-$2-unsigned" "linux-binary-$2" "linux-image-$2"; do
		if papt "$1" apt-cache show "$p" >/dev/null 2>&1; then
			echo "$p"
			return 0
		fi
	done
	die "the $1 suites have no linux-image-$2-unsigned, linux-binary-$2 nor linux-image-$2: set KERNEL_IMAGE=/path/to/vmlinuz"
}

# fetch_image DIST REL: unpack REL's vmlinuz into $KMBOX_CACHE/kernel/REL
# (the place qemu/fetch-kernel.sh uses) and print its path.
fetch_image() {
	local dist=$1 rel=$2 dest=$KMBOX_CACHE/kernel/$2 tmp pkg v
	local vmlinuz=$dest/boot/vmlinuz-$rel
	if [ -f "$vmlinuz" ]; then echo "$vmlinuz"; return; fi
	apt_update "$dist"
	pkg=$(image_pkg "$dist" "$rel")
	mkdir -p "$KMBOX_CACHE/kernel"
	tmp=$(mktemp -d "$KMBOX_CACHE/kernel/.fetch.XXXXXX")
	note "downloading $pkg into $dest (once)"
	download "$dist" "$tmp" "$pkg"
	dpkg-deb -x "$tmp"/*.deb "$tmp/x" || { rm -rf "$tmp"; die "dpkg-deb -x $pkg failed (disk full?)"; }
	mkdir -p "$tmp/out/boot"
	for v in "$tmp/x/boot/vmlinuz-$rel" "$tmp/x/usr/lib/modules/$rel/vmlinuz" "$tmp/x/lib/modules/$rel/vmlinuz"; do
		if [ -f "$v" ]; then
			mv "$v" "$tmp/out/boot/vmlinuz-$rel"
			break
		fi
	done
	[ -f "$tmp/out/boot/vmlinuz-$rel" ] || { rm -rf "$tmp"; die "$pkg holds no vmlinuz for $rel"; }
	cp "$tmp"/x/boot/config-"$rel" "$tmp/out/boot/" 2>/dev/null || true
	# The rename publishes the directory atomically.
	mv -T "$tmp/out" "$dest" 2>/dev/null || [ -f "$vmlinuz" ] || { rm -rf "$tmp"; die "cannot create $dest"; }
	rm -rf "$tmp"
	echo "$vmlinuz"
}

# --- the trixie root ---------------------------------------------------------

# Packages the trixie root carries beyond debootstrap's minbase: the
# build (the headers' own Depends bring gcc-14), pahole, dkms.
TRIXIE_PKGS="make libc6-dev dwarves kmod bc dkms openssl"

# in_root CMD...: CMD in the trixie root, in a mount namespace of its own
# with /proc mounted (objtool reads it), so nothing is left mounted when
# it ends, however it ends.
in_root() {
	# shellcheck disable=SC2016 # expanded by the inner sh
	unshare --mount --propagation private --fork sh -c '
		root=$1; shift
		mount -t proc proc "$root/proc" || exit 1
		exec chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
			HOME=/root LC_ALL=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@"
	' in_root "$TRIXIE_ROOT" "$@"
}

trixie_root() {
	if [ -f "$TRIXIE_ROOT/.kmbox-ready" ]; then
		# A root made before TRIXIE_PKGS grew gets what it lacks.
		[ "$(cat "$TRIXIE_ROOT/.kmbox-ready")" = "$TRIXIE_PKGS" ] && return 0
		# shellcheck disable=SC2086
		in_root apt-get install -y -q --no-install-recommends $TRIXIE_PKGS \
			>"$KMBOX_CACHE/trixie-apt.log" 2>&1 ||
			die "installing $TRIXIE_PKGS in the trixie root failed: see $KMBOX_CACHE/trixie-apt.log"
		echo "$TRIXIE_PKGS" >"$TRIXIE_ROOT/.kmbox-ready"
		return 0
	fi
	[ "$(id -u)" = 0 ] || die "making the trixie root needs root (debootstrap, chroot)"
	command -v debootstrap >/dev/null 2>&1 || die "debootstrap not found: run qemu/deps.sh"
	local tmp=$TRIXIE_ROOT.tmp
	# debootstrap mounts /proc and /sys in the root while it works: in a
	# mount namespace of its own they go when it ends, however it ends,
	# and the removal of a half-made root never follows a mount point.
	! grep -q " $tmp/" /proc/mounts || die "something is mounted under $tmp: unmount it first"
	rm -rf --one-file-system "$tmp"
	mkdir -p "$KMBOX_CACHE"
	note "making the trixie root $TRIXIE_ROOT with debootstrap (once; ~600 MB, 1 to 5 minutes)"
	unshare --mount --propagation private --fork \
		debootstrap --variant=minbase --keyring="$KEYRING" trixie "$tmp" "$MIRROR" \
		>"$KMBOX_CACHE/trixie-debootstrap.log" 2>&1 ||
		die "debootstrap trixie failed: see $KMBOX_CACHE/trixie-debootstrap.log"
	cat >"$tmp/etc/apt/sources.list" <<EOT
deb $MIRROR trixie main
deb $MIRROR trixie-updates main
deb $MIRROR trixie-backports main
deb $SECURITY_MIRROR trixie-security main
EOT
	# A root of our own: its apt, its /etc, nothing from the host's.
	local pkgs
	read -r -a pkgs <<<"$TRIXIE_PKGS"
	{ TRIXIE_ROOT=$tmp in_root apt-get update -q &&
	  TRIXIE_ROOT=$tmp in_root apt-get install -y -q --no-install-recommends "${pkgs[@]}" &&
	  TRIXIE_ROOT=$tmp in_root apt-get clean; } \
		>"$KMBOX_CACHE/trixie-apt.log" 2>&1 ||
		die "installing $TRIXIE_PKGS in the trixie root failed: see $KMBOX_CACHE/trixie-apt.log"
	echo "$TRIXIE_PKGS" >"$tmp/.kmbox-ready"
	rm -rf --one-file-system "$TRIXIE_ROOT"
	mv -T "$tmp" "$TRIXIE_ROOT"
}

# --- prepare -----------------------------------------------------------------

# kdir_of KVER [REL]: where KVER's headers live, as seen from the host.
kdir_of() {
	local rel=${2:-}
	[ -n "$rel" ] || rel=$(release "$1")
	case $(field "$1" 4):$1 in
	host:6.1) echo "/usr/src/linux-headers-$rel";;
	host:*) echo "$KMBOX_CACHE/kernels/$rel/usr/src/linux-headers-$rel";;
	trixie:*) echo "$TRIXIE_ROOT/usr/src/linux-headers-$rel";;
	esac
}

prepare() {
	local kver=$1 suite dist rel tool kdir dir
	suite=$(field "$kver" 2)
	dist=$(dist_of "$suite")
	tool=$(field "$kver" 4)
	if [ "$kver" != 6.1 ]; then
		apt_update "$dist"
	fi
	rel=$(release "$kver")
	kdir=$(kdir_of "$kver" "$rel")
	if [ ! -f "$kdir/include/generated/utsrelease.h" ]; then
		case $tool in
		host)
			# Unpacked, not installed: a tree of our own under the
			# cache, with the absolute /usr/src paths of Debian's
			# Makefiles pointed into it.
			dir=$KMBOX_CACHE/kernels/$rel
			note "downloading the headers of $rel into $dir (once)"
			rm -rf "$dir.tmp"
			mapfile -t pkgs < <(header_pkgs "$dist" "$rel")
			download "$dist" "$dir.tmp/debs" "${pkgs[@]}"
			for p in "$dir.tmp"/debs/*.deb; do
				dpkg-deb -x "$p" "$dir.tmp" || die "dpkg-deb -x $p failed"
			done
			grep -rlZ --include=Makefile '/usr/src/' "$dir.tmp/usr/src" 2>/dev/null |
				xargs -0 -r sed -i "s#\(^\|[ =]\)/usr/src/#\1$dir/usr/src/#g"
			rm -rf "$dir.tmp/debs" "$dir"
			mv -T "$dir.tmp" "$dir"
			;;
		trixie)
			trixie_root
			note "installing linux-headers-$rel in the trixie root (once)"
			# (apt-get clean: the .debs would double the root's size.)
			{ in_root apt-get update -q &&
			  in_root apt-get install -y -q --no-install-recommends "linux-headers-$rel" &&
			  in_root apt-get clean; } \
				>"$KMBOX_CACHE/trixie-apt.log" 2>&1 ||
				die "installing linux-headers-$rel in the trixie root failed: see $KMBOX_CACHE/trixie-apt.log"
			;;
		esac
	fi
	[ -f "$kdir/include/generated/utsrelease.h" ] || die "no headers at $kdir after preparing $kver"
	mkdir -p "$KMBOX_CACHE/kernels"
	echo "$rel" >"$(release_file "$kver")"
	echo "KDIR=$kdir"
	echo "KERNEL_IMAGE=$(fetch_image "$dist" "$rel")"
}

cached() {
	local f
	f=$(release_file "$1")
	if [ "$1" = 6.1 ]; then
		ls -d /usr/src/linux-headers-6.1.*-cloud-amd64 >/dev/null 2>&1
		return
	fi
	[ -s "$f" ] || return 1
	[ -f "$(kdir_of "$1")/include/generated/utsrelease.h" ] || return 1
	[ "$(field "$1" 4)" = host ] || [ -f "$TRIXIE_ROOT/.kmbox-ready" ]
}

# run_tc KVER CMD...: CMD with KVER's toolchain, in the repo.
run_tc() {
	local kver=$1
	shift
	if [ "$(field "$kver" 4)" = host ]; then
		# Not the caller's make's command line (KVER= would recurse).
		(cd "$REPO" && env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u KVER "$@")
		return
	fi
	trixie_root
	# The tree is copied in (no bind mount to leak if we are killed),
	# the results copied back.
	local w rc=0
	mkdir -p "$TRIXIE_ROOT/tmp"
	w=$(mktemp -d "$TRIXIE_ROOT/tmp/kmbox.XXXXXX")
	# The module's sources only: the rest of the tree is not built here.
	(cd "$REPO" && tar -cf - --exclude='*.o' --exclude='*.ko' --exclude='.*.cmd' \
		Makefile Kbuild module uapi dkms.conf) | tar -xf - -C "$w"
	# shellcheck disable=SC2016 # expanded by the inner sh
	in_root sh -c 'cd "$1" && shift && "$@"' sh "${w#"$TRIXIE_ROOT"}" "$@" || rc=$?
	# Copy back the module only; the sources in the repo may have changed
	# meanwhile.
	if [ $rc = 0 ] && [ -f "$w/module/kmbox.ko" ]; then
		cp "$w/module/kmbox.ko" "$REPO/module/kmbox.ko"
		cp "$w/module/.kdir-release" "$REPO/module/.kdir-release"
	fi
	rm -rf "$w"
	return $rc
}

module() {
	local kver=$1 kdir rel
	rel=$(release "$kver")
	kdir=$(kdir_of "$kver" "$rel")
	[ -f "$kdir/include/generated/utsrelease.h" ] ||
		die "the headers of $kver are not in the cache: run '${0##*/} prepare $kver' (make check KVER=$kver does)"
	if [ "$(field "$kver" 4)" = trixie ]; then
		kdir=/usr/src/linux-headers-$rel
	fi
	run_tc "$kver" make --no-print-directory module KDIR="$kdir"
}

# dkms_build KVER OUT: 'dkms add' and 'dkms build' the tree's dkms.conf
# for KVER's kernel, with KVER's toolchain, in a throw-away DKMS tree
# (--dkmstree, --sourcetree), and copy the module built to OUT.  It runs
# in a mount namespace of its own with a tmpfs on /var/lib/dkms, so
# nothing dkms makes there (its signing key, mok.key) outlives the run
# or touches the host's.
dkms_build() {
	local kver=$1 out=$2 rel kdir base inner ver ko rc=0
	rel=$(release "$kver")
	kdir=$(kdir_of "$kver" "$rel")
	[ -f "$kdir/include/generated/utsrelease.h" ] ||
		die "the headers of $kver are not in the cache: run '${0##*/} prepare $kver'"
	ver=$(sed -n 's/^PACKAGE_VERSION="\(.*\)"$/\1/p' "$REPO/dkms.conf")
	[ -n "$ver" ] || die "no PACKAGE_VERSION in dkms.conf"
	if [ "$(field "$kver" 4)" = trixie ]; then
		trixie_root
		base=$TRIXIE_ROOT/tmp/kmbox-dkms-$kver
		inner=/tmp/kmbox-dkms-$kver
		kdir=/usr/src/linux-headers-$rel
	else
		command -v dkms >/dev/null 2>&1 || die "dkms not found: run qemu/deps.sh --dkms"
		base=$KMBOX_CACHE/dkms-$kver
		inner=$base
	fi
	rm -rf --one-file-system "$base"
	mkdir -p "$base/in/kmbox-$ver"
	(cd "$REPO" && tar -cf - --exclude='*.o' --exclude='*.ko' --exclude='.*.cmd' \
		--exclude='*.mod*' --exclude=modules.order --exclude=Module.symvers \
		--exclude=.kdir-release dkms.conf Kbuild module uapi) |
		tar -xf - -C "$base/in/kmbox-$ver"
	# shellcheck disable=SC2016 # expanded by the inner sh
	local script='
		set -e
		mkdir -p /var/lib/dkms
		mount -t tmpfs tmpfs /var/lib/dkms
		d=$1 rel=$2 kdir=$3 ver=$4
		set -- --dkmstree "$d/tree" --sourcetree "$d/src"
		mkdir -p "$d/tree" "$d/src"
		dkms add "$@" "$d/in/kmbox-$ver"
		dkms build "$@" -m kmbox -v "$ver" -k "$rel" --kernelsourcedir "$kdir" ||
			{ cat "$d/tree/kmbox/$ver/build/make.log" 2>/dev/null; exit 1; }
		dkms status "$@" -m kmbox -v "$ver" -k "$rel"
	'
	if [ "$(field "$kver" 4)" = trixie ]; then
		in_root sh -c "$script" sh "$inner" "$rel" "$kdir" "$ver" || rc=$?
	else
		unshare --mount --propagation private --fork \
			sh -c "$script" sh "$inner" "$rel" "$kdir" "$ver" || rc=$?
	fi
	[ $rc = 0 ] || { rm -rf "$base"; die "dkms build for $rel failed"; }
	ko=$(find "$base/tree/kmbox/$ver/$rel" -name 'kmbox.ko*' -path '*/module/*' | head -n 1)
	[ -n "$ko" ] || { rm -rf "$base"; die "dkms built no kmbox.ko for $rel"; }
	case $ko in
	*.ko) cp "$ko" "$out";;
	*.ko.xz) xz -dc "$ko" >"$out";;
	*.ko.zst) zstd -qdc "$ko" >"$out";;
	*.ko.gz) gzip -dc "$ko" >"$out";;
	*) rm -rf "$base"; die "dkms built $ko: unknown compression";;
	esac
	rm -rf "$base"
}

cmd=${1:-}
case $cmd in
-h|--help|"") usage; exit 0;;
list) awk 'NF' <<<"$MATRIX";;
root) trixie_root;;
prepare|cached|module|kdir|image|release)
	[ $# -ge 2 ] || die "usage: ${0##*/} $cmd KVER"
	KVER=$2
	field "$KVER" 1 >/dev/null
	case $cmd in
	prepare) prepare "$KVER";;
	cached) cached "$KVER";;
	module) module "$KVER";;
	kdir) kdir_of "$KVER";;
	image) fetch_image "$(dist_of "$(field "$KVER" 2)")" "$(release "$KVER")";;
	release) release "$KVER";;
	esac
	;;
fetch-image)
	# For qemu/fetch-kernel.sh: any Debian release (+deb13: trixie).
	[ $# -eq 2 ] || die "usage: ${0##*/} fetch-image RELEASE"
	case $2 in *+deb1[3-9]-*) fetch_image trixie "$2";; *) fetch_image bookworm "$2";; esac
	;;
dkms)
	[ $# -eq 3 ] || die "usage: ${0##*/} dkms KVER OUT.ko"
	KVER=$2
	field "$KVER" 1 >/dev/null
	dkms_build "$KVER" "$3"
	;;
run)
	[ $# -ge 3 ] || die "usage: ${0##*/} run KVER CMD..."
	KVER=$2
	shift 2
	run_tc "$KVER" "$@"
	;;
*) usage >&2; exit 2;;
esac
