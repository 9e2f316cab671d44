#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# perf and bpftrace for the test guest: Debian's own binaries (packages
# linux-perf and bpftrace, which qemu/deps.sh installs) and every shared
# library they load, as a second initramfs archive.  qemu/run.sh appends
# it to the image only when something in the guest uses them (the
# selftest kmbox_trace_test.sh, or TRACE=1), so other boots stay as small
# and as fast as before.  The archive is made once per version of the two
# packages (and of this script) and kept in $KMBOX_CACHE/trace/; the path
# is printed.
set -euo pipefail
# shellcheck source=qemu/lib.sh
. "$(dirname "$0")/lib.sh"

# The binaries, as Debian installs them.
BINS=(/usr/bin/perf /usr/bin/bpftrace)

usage() {
	cat <<EOT
usage: ${0##*/} [--list]

Prints the path of an lz4-compressed newc cpio archive holding
${BINS[*]} (in /bin), the dynamic loader and every library ldd lists
for them (under /lib/x86_64-linux-gnu and /lib64, as on the host):
appended to qemu/mkinitramfs.sh's image, the guest runs them as they
are.  About 230 MB unpacked, 90 MB packed; made once per package
versions (some 15 s) in \$KMBOX_CACHE/trace/ (now: $KMBOX_CACHE/trace).
  --list   print the files that go in, and stop
EOT
}

list_only=0
case ${1:-} in
-h|--help) usage; exit 0;;
--list) list_only=1;;
"") ;;
*) usage >&2; exit 2;;
esac

for b in "${BINS[@]}"; do
	[ -x "$b" ] || die "$b not found: run qemu/deps.sh (it installs linux-perf and bpftrace)"
done
command -v lz4 >/dev/null 2>&1 || die "lz4 not found: run qemu/deps.sh (or apt-get install lz4)"

# files: the binaries, then what the loader maps for each (ldd's "=> path"
# and the loader itself), once each.
files() {
	local b
	for b in "${BINS[@]}"; do
		echo "$b"
		ldd "$b" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\/.*ld-linux/ { print $1 }'
	done | awk '!seen[$0]++'
}

list=$(files)
if [ $list_only = 1 ]; then
	printf '%s\n' "$list"
	exit 0
fi
# A library ldd cannot find would make a binary fail in the guest only.
if ldd "${BINS[@]}" | grep -q 'not found'; then
	die "$(ldd "${BINS[@]}" | grep 'not found' | head -n 3 | tr -s ' \t' ' ')"
fi

# The name changes with the packages' versions and with this script.
vers=$(dpkg-query -W -f='${Package}=${Version}\n' linux-perf bpftrace 2>/dev/null || true)
key=$({ printf '%s\n' "$vers" "$list"; cat "$0"; } | sha256sum | cut -c1-16)
dir=$KMBOX_CACHE/trace
out=$dir/tools-$key.cpio.lz4
if [ -s "$out" ]; then
	echo "$out"
	exit 0
fi

mkdir -p "$dir"
stage=$(mktemp -d "$dir/stage.XXXXXX")
trap 'rm -rf "$stage" "$stage.lz4"' EXIT
while IFS= read -r f; do
	# The path the guest looks up (/lib/... as ldd names it; on a
	# merged-/usr host that is a symlink, so copy what it points to).
	mkdir -p "$stage$(dirname "$f")"
	cp -L "$f" "$stage$f"
done <<<"$list"
# The guest's /usr/bin is a symlink to /bin (qemu/mkinitramfs.sh): an
# archive entry for the directory usr/bin would fail there, so the
# binaries go to /bin, where PATH finds them (and /bin itself, which the
# first archive made, gets no entry).
mkdir -p "$stage/bin"
for b in "${BINS[@]}"; do
	mv "$stage$b" "$stage/bin/"
done
rmdir "$stage/usr/bin" "$stage/usr" 2>/dev/null || true
note "making $out ($(du -sh "$stage" | cut -f1) of perf and bpftrace, once)"
(cd "$stage" && find . -mindepth 1 ! -path ./bin | LC_ALL=C sort |
	cpio -o -H newc --owner=0:0 --quiet) | lz4 -l -9 -q >"$stage.lz4"
# Renamed into place whole, so that a run in another work tree never
# reads half an archive.
mv "$stage.lz4" "$out"
echo "$out"
