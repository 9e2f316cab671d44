#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Build (once) the kmbox debug kernel: KASAN, lockdep, kmemleak, UBSAN,
# failslab/fail_page_alloc/fail_usercopy, hung-task and soft-lockup
# detectors, on top of `make tinyconfig` of Debian's linux-source-6.1.
#
# Usage: qemu/debug/build-kernel.sh [--config-only] [--cached] [--help]
#
# Prints, on success, two lines on stdout (everything else goes to stderr):
#   KDIR=<kernel tree, for make -C KDIR M=... modules>
#   KERNEL=<bzImage>
# so callers do:  eval "$(qemu/debug/build-kernel.sh)"
#
# The tree lives in $KMBOX_CACHE/debug-<hash>/linux (outside the repo),
# <hash> being the first 16 hex digits of the sha256 of
# qemu/debug/kmbox-debug.config: a second run with the same fragment
# prints the paths at once; editing the fragment builds a new tree.
#
# Steps: extract /usr/src/linux-source-6.1.tar.xz, make tinyconfig, merge
# the fragment (scripts/kconfig/merge_config.sh), make olddefconfig, check
# that every option of the fragment kept its value (tinyconfig silently
# drops options whose dependencies are missing: the script names them and
# stops), then make -j$(nproc) bzImage modules modules_prepare.  About 10
# to 15 minutes on 2 cores; the log is in the cache dir (build.log).
#
#   --config-only  stop after the configuration check (fast; no build)
#   --cached       do not build: print the paths if a build exists, else
#                  exit 1
#
# Knobs: KMBOX_CACHE (default ~/.cache/kmbox), KSRC_TAR (default
# /usr/src/linux-source-6.1.tar.xz), JOBS (default nproc).
# Installs with apt-get what it lacks (flex bison bc libelf-dev libssl-dev
# cpio xz-utils linux-source-6.1) when run as root.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
FRAGMENT=${FRAGMENT:-$HERE/kmbox-debug.config}
KMBOX_CACHE=${KMBOX_CACHE:-${HOME:-/root}/.cache/kmbox}
KSRC_TAR=${KSRC_TAR:-/usr/src/linux-source-6.1.tar.xz}
JOBS=${JOBS:-$(nproc)}

die() { echo "${0##*/}: $*" >&2; exit 1; }
note() { echo "${0##*/}: $*" >&2; }

usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; }

config_only=0
cached=0
for a in "$@"; do
	case $a in
	--config-only) config_only=1;;
	--cached) cached=1;;
	-h|--help) usage; exit 0;;
	*) usage >&2; exit 2;;
	esac
done

[ -f "$FRAGMENT" ] || die "no config fragment $FRAGMENT"
hash=$(sha256sum "$FRAGMENT" | cut -c1-16)
dir=$KMBOX_CACHE/debug-$hash
tree=$dir/linux
image=$tree/arch/x86/boot/bzImage
stamp=$dir/built

print_paths() {
	echo "KDIR=$tree"
	echo "KERNEL=$image"
}

if [ -f "$stamp" ] && [ -f "$image" ] && [ $config_only = 0 ]; then
	print_paths
	exit 0
fi
[ $cached = 0 ] || die "no debug kernel built for this fragment yet ($dir): run ${0##*/} without --cached"

# --- tools -------------------------------------------------------------------

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q ' installed$'; }
pkgs=()
for p in flex bison bc libelf-dev libssl-dev cpio xz-utils gcc make; do
	installed "$p" || pkgs+=("$p")
done
[ -f "$KSRC_TAR" ] || pkgs+=(linux-source-6.1)
if [ ${#pkgs[@]} -gt 0 ]; then
	[ "$(id -u)" = 0 ] || die "missing packages: ${pkgs[*]} (apt-get install them, or run as root)"
	note "installing ${pkgs[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y -q --no-install-recommends "${pkgs[@]}" >&2 ||
		{ apt-get update -q >&2 && apt-get install -y -q --no-install-recommends "${pkgs[@]}" >&2; } ||
		die "apt-get install ${pkgs[*]} failed"
fi
[ -f "$KSRC_TAR" ] || die "$KSRC_TAR not found (package linux-source-6.1)"

# --- one build at a time per tree ----------------------------------------------

mkdir -p "$dir"
exec 9>"$dir/lock"
if ! flock -n 9; then
	note "another build of $dir is running; waiting for it"
	flock 9
	if [ -f "$stamp" ] && [ -f "$image" ] && [ $config_only = 0 ]; then
		print_paths
		exit 0
	fi
fi

log=$dir/build.log
t0=$(date +%s)

if [ ! -f "$tree/Makefile" ]; then
	note "extracting $KSRC_TAR into $dir (about 1 minute)"
	rm -rf "$dir/extract" "$tree"
	mkdir -p "$dir/extract"
	tar -xJf "$KSRC_TAR" -C "$dir/extract"
	src=$(find "$dir/extract" -mindepth 1 -maxdepth 1 -type d | head -n 1)
	[ -f "$src/Makefile" ] || die "no kernel tree in $KSRC_TAR"
	mv "$src" "$tree"
	rmdir "$dir/extract"
fi
cp "$FRAGMENT" "$dir/kmbox-debug.config"

# --- configuration -------------------------------------------------------------

kmake() { make -C "$tree" ARCH=x86_64 "$@"; }

note "configuring: tinyconfig + ${FRAGMENT##*/}"
{
	kmake tinyconfig
	(cd "$tree" && ./scripts/kconfig/merge_config.sh -m .config "$dir/kmbox-debug.config")
	kmake olddefconfig
} >"$log" 2>&1 || { tail -n 30 "$log" >&2; die "configuration failed; see $log"; }

# Every line of the fragment must have survived: CONFIG_X=v must be in
# .config as is, "# CONFIG_X is not set" must not be =y/=m there.
bad=()
while IFS= read -r line; do
	case $line in
	CONFIG_*=*)
		grep -qxF -- "$line" "$tree/.config" ||
			bad+=("$line (got: $(grep -E "^(# )?${line%%=*}[= ]" "$tree/.config" || echo "absent: a dependency is missing"))");;
	"# CONFIG_"*" is not set")
		sym=${line#\# }
		sym=${sym%% *}
		! grep -qE "^$sym=[ym]" "$tree/.config" ||
			bad+=("$line (got: $(grep -E "^$sym=" "$tree/.config"))");;
	esac
done <"$dir/kmbox-debug.config"
if [ ${#bad[@]} -gt 0 ]; then
	echo "${0##*/}: these options of ${FRAGMENT##*/} did not stick after olddefconfig:" >&2
	printf '  %s\n' "${bad[@]}" >&2
	die "fix the fragment (add the missing dependencies) and run again"
fi
note "configuration OK: every option of the fragment is set ($tree/.config)"
[ $config_only = 0 ] || exit 0

# --- build ----------------------------------------------------------------------

note "building bzImage + modules_prepare with -j$JOBS (10-15 min on 2 cores); log: $log"
if ! kmake -j"$JOBS" bzImage modules modules_prepare >>"$log" 2>&1; then
	grep -E 'error:|Error [0-9]' "$log" | head -n 20 >&2 || true
	tail -n 20 "$log" >&2
	die "kernel build failed; see $log"
fi
[ -f "$image" ] || die "build finished but $image is missing; see $log"
t1=$(date +%s)
echo "built in $((t1 - t0)) s on $JOBS jobs, $(date -u +%FT%TZ)" >"$stamp"
note "built in $((t1 - t0)) s"
for old in "$KMBOX_CACHE"/debug-*/; do
	old=${old%/}
	[ "$old" = "$dir" ] || note "$old is a tree of an older fragment; rm -rf it to free its space"
done
print_paths
