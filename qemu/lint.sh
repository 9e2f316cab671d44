#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# make lint: every static check the project runs, each printing the
# command it ran and its findings.  Exit status 1 if any step found
# anything.  qemu/deps.sh --lint installs the tools (make lint does).
set -euo pipefail
# shellcheck source=qemu/lib.sh
. "$(dirname "$0")/lib.sh"

REPO=$(cd "$(dirname "$0")/.." && pwd)
cd "$REPO"
KDIR=${KDIR:-$(kmbox_default_kdir)}

case ${1:-} in
-h|--help)
	cat <<EOT
usage: ${0##*/}
Runs checkpatch (--strict) on module/ and uapi/, a W=1 C=2 (sparse)
module build, the uapi C90 and 32/64-bit ABI checks (qemu/abi-check.c),
shellcheck on the scripts, the man pages and docs against the code
(qemu/check-man-drift.sh) and the SPDX tags (qemu/check-spdx.sh).
KDIR=$KDIR
EOT
	exit 0;;
esac

failed=()
tmp=$(mktemp -d "${TMPDIR:-/tmp}/kmbox-lint.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# step NAME CMD...: run, show the command and its output, record failure.
step() {
	local name=$1
	shift
	if [ "$1" = no_warnings ]; then echo "== $name: ${*:2}"; else echo "== $name: $*"; fi
	if "$@"; then
		echo "== $name: ok"
	else
		echo "== $name: FAILED"
		failed+=("$name")
	fi
}

# A command whose exit status is 0 even when it warns: fail on any
# "warning:" or "error:" line in its output.
no_warnings() {
	local out=$tmp/out rc=0
	"$@" >"$out" 2>&1 || rc=$?
	cat "$out"
	[ $rc = 0 ] && ! grep -q -E '(warning|error):' "$out"
}

shopt -s nullglob
msrc=()
for f in module/*.[ch]; do
	case $f in *.mod.c) ;; *) msrc+=("$f");; esac	# kbuild output
done
uapi=(uapi/linux/*.h)

if [ ${#msrc[@]} -gt 0 ] || [ ${#uapi[@]} -gt 0 ]; then
	cp=$(qemu/ksft-headers.sh --checkpatch)
	step checkpatch perl "$cp" --no-tree --strict --terse --show-types -f "${msrc[@]}" "${uapi[@]}"
fi

if [ -f Kbuild ] && [ ${#msrc[@]} -gt 0 ]; then
	# Build a copy, so the W=1 C=2 objects never mix with the normal
	# build's and two lints can run at once.
	mkdir -p "$tmp/tree"
	tar -c --exclude='*.o' --exclude='*.ko' --exclude='*.mod' --exclude='*.mod.c' \
		--exclude='.*.cmd' --exclude=modules.order --exclude=Module.symvers \
		Kbuild module uapi | tar -x -C "$tmp/tree"
	step "W=1 C=2 build" no_warnings make -s -C "$KDIR" M="$tmp/tree" W=1 C=2 modules
else
	echo "== W=1 C=2 build: skipped (no Kbuild or module/*.c yet)"
fi

if [ -f uapi/linux/kmbox.h ]; then
	step "uapi C90" gcc -std=c90 -Wall -Werror -fsyntax-only -x c \
		-include uapi/linux/kmbox.h /dev/null
	step "ABI x86_64" clang --target=x86_64-linux-gnu -fsyntax-only -Wall -Werror \
		-Iuapi qemu/abi-check.c
	step "ABI i386" clang --target=i386-linux-gnu -fsyntax-only -Wall -Werror \
		-I/usr/include/x86_64-linux-gnu -Iuapi qemu/abi-check.c
fi

step shellcheck shellcheck -x qemu/*.sh .ci/run userlib/test/check-install.sh
step "shellcheck (POSIX sh)" shellcheck -s sh qemu/init qemu/demo.sh tools/*.sh \
	userlib/test/check-abi.sh userlib/test/check-abi-test.sh userlib/test/check-man.sh \
	userlib/test/header-test.sh docs/examples/run-examples.sh selftests/*.sh \
	bench/icount-guest.sh bench/profile-guest.sh

# The documentation against the code (also run by make check-host).
step "man pages vs code" qemu/check-man-drift.sh
step "man pages vs code, self-test" qemu/check-man-drift.sh --self-test
step "SPDX tags" qemu/check-spdx.sh

if [ ${#failed[@]} -gt 0 ]; then
	echo "lint: FAILED: ${failed[*]}"
	exit 1
fi
echo "lint: all clean"
