# shellcheck shell=bash
# SPDX-License-Identifier: GPL-2.0
# Sourced by qemu/bench-ab.sh and qemu/bench-icount.sh: builds the kmbox
# module of two sides, A and B, each a git revision of this repository or
# a directory holding a kmbox tree (its files as they are, committed or
# not).  Needs REPO, KDIR and lib.sh's die/note.  Not a program.

# kmbox_export_tree SPEC DIR: the module's sources of SPEC into DIR; prints a label
kmbox_export_tree() {
	local spec=$1 dir=$2 rev
	mkdir -p "$dir"
	if [ -d "$spec" ] && [ -f "$spec/Kbuild" ] && [ -d "$spec/module" ]; then
		tar -C "$spec" --exclude='*.o' --exclude='*.ko' --exclude='*.mod' \
			--exclude='*.mod.c' --exclude='.*.cmd' --exclude='modules.order' \
			--exclude='Module.symvers' --exclude='.kdir-release' \
			-cf - Kbuild module uapi | tar -C "$dir" -xf -
		rev=$(git -C "$spec" describe --always --dirty 2>/dev/null || echo tree)
		echo "$(basename "$(cd "$spec" && pwd)")-$rev"
	else
		rev=$(git -C "$REPO" rev-parse --verify --quiet "$spec^{commit}") ||
			die "'$spec' is neither a git revision nor a directory with a kmbox tree"
		git -C "$REPO" archive "$rev" Kbuild module uapi | tar -C "$dir" -xf -
		git -C "$REPO" rev-parse --short "$rev"
	fi
}

# kmbox_build_ab WORK: builds A and B (with A_MAKE, B_MAKE) under WORK;
# sets AB_KOS (the stripped modules, WORK/SIDE-LABEL.ko) and AB_LABELS.
kmbox_build_ab() {
	local work=$1 side spec flagsvar flags src label ko
	AB_KOS=()
	AB_LABELS=()
	for side in A B; do
		spec=${!side}
		flagsvar=${side}_MAKE
		flags=${!flagsvar:-}
		src=$work/src-$side
		label=$(kmbox_export_tree "$spec" "$src")
		[ -z "$flags" ] || label+="-$(echo "$flags" | tr -c 'A-Za-z0-9=\n' '_' | tr '=' '_')"
		label=$(echo "$label" | tr -c 'A-Za-z0-9._+\n-' '_')
		echo "kmbox: module $side = $spec${flags:+ ($flags)}: building ($label)"
		# shellcheck disable=SC2086 # make variables, one per word
		make -s -C "$KDIR" M="$src" -j"$(nproc)" modules $flags >"$work/build-$side.log" 2>&1 || {
			cat "$work/build-$side.log" >&2
			die "building module $side failed"
		}
		ko=$work/$side-$label.ko
		# No debug sections in the guest: a smaller image, a quicker insmod.
		strip --strip-debug -o "$ko" "$src/module/kmbox.ko"
		AB_KOS+=("$ko")
		AB_LABELS+=("$label")
	done
	for side in A B; do
		cmp -s "$REPO/uapi/linux/kmbox.h" "$work/src-$side/uapi/linux/kmbox.h" ||
			note "uapi/linux/kmbox.h of $side differs from this tree's, which the benchmark is built with: a mechanism that uses what differs may fail under $side"
	done
}
