#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# The documentation against the code, so that they cannot drift apart:
#  - module parameters: every module_param*() of module/*.c is in kmbox(4)
#    (/sys/module/kmbox/parameters/) and in the README's table, and
#    nothing else is; the README's defaults are those of kmbox_params;
#  - errnos: every -Exxx the module returns is in kmbox(4) and in the
#    errors table of docs/semantics.md; every errno kmbox(4) names is one
#    the module returns (or one of the few the VFS adds, listed below);
#  - /proc and fdinfo: the column header of /proc/kmbox/mailboxes, the
#    keys of /proc/kmbox/stats and the kmbox-* fdinfo keys, as kmbox(4)
#    lists them;
#  - kmboxctl: every long option of tools/kmboxctl.c is in kmboxctl(1),
#    and every option kmboxctl(1) names exists.
#
# Usage: qemu/check-man-drift.sh [--root DIR]   check the tree at DIR
#        qemu/check-man-drift.sh --self-test    show that it catches a
#                                               parameter, an errno and an
#                                               option added to the code only
set -uo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)

indent() {
	sed 's/^/# /'
}

self_test() {
	local tmp rc=0 n=0 out
	tmp=$(mktemp -d "${TMPDIR:-/tmp}/kmbox-drift.XXXXXX")
	# shellcheck disable=SC2064 # expand now
	trap "rm -rf '$tmp'" RETURN
	echo "TAP version 13"
	# case DESCRIPTION EXPECTED-MESSAGE EDIT-COMMAND...: copy the tree,
	# apply the edit, and see the check fail with the message
	case_() {
		local what=$1 msg=$2
		shift 2
		rm -rf "$tmp/t"
		mkdir -p "$tmp/t/tools" "$tmp/t/userlib/man" "$tmp/t/docs"
		cp -r "$ROOT/module" "$tmp/t/"
		cp -r "$ROOT/userlib/man/man4" "$tmp/t/userlib/man/"
		cp "$ROOT/README.md" "$tmp/t/"
		cp "$ROOT/docs/semantics.md" "$tmp/t/docs/"
		cp "$ROOT/tools/kmboxctl.c" "$ROOT/tools/kmboxctl.1" "$tmp/t/tools/"
		(cd "$tmp/t" && "$@")
		n=$((n + 1))
		if ! out=$("$0" --root "$tmp/t" 2>&1) && grep -qF -- "$msg" <<<"$out"; then
			echo "ok $n $what"
		else
			rc=1
			echo "not ok $n $what: want a failure with \"$msg\""
			indent <<<"$out"
		fi
	}
	n=$((n + 1))
	if out=$("$0" --root "$ROOT" 2>&1); then
		echo "ok $n the tree as it is passes"
	else
		rc=1
		echo "not ok $n the tree as it is passes"
		indent <<<"$out"
	fi
	case_ "a parameter added to the module but not to kmbox(4) fails" \
		"parameter new_knob is in the module but not in kmbox(4)" \
		sh -c 'echo "module_param_cb(new_knob, &kmbox_param_ops, &kmbox_param_region_cap, 0644);" >>module/main.c'
	case_ "a parameter dropped from kmbox(4) fails" \
		"parameter user_quota is in the module but not in kmbox(4)" \
		sed -i 's/^\.B user_quota$/.B user_quota_gone/' userlib/man/man4/kmbox.4
	case_ "a default changed in the module only fails" \
		"README says region_cap defaults to 67108864, the module 1" \
		sed -i 's/\.region_cap\t\t= 64UL << 20,/.region_cap\t\t= 1,/' module/main.c
	case_ "an errno the module returns but kmbox(4) does not name fails" \
		"ENOLINK is returned by the module but not in kmbox(4)" \
		sh -c 'printf "static int f(void) { return -ENOLINK; }\n" >>module/ioctl.c'
	case_ "an errno kmbox(4) names that nothing returns fails" \
		"kmbox(4) names ENOTSOCK" \
		sed -i 's/^\.BR EFAULT ,$/.BR ENOTSOCK ,/' userlib/man/man4/kmbox.4
	case_ "a /proc column added to the module only fails" \
		"the columns of /proc/kmbox/mailboxes" \
		sed -i 's/ zc_taken zc_held\\n");/ zc_taken zc_held extra\\n");/' module/names.c
	case_ "a kmboxctl option missing from kmboxctl(1) fails" \
		"kmboxctl --frobnicate is not in kmboxctl(1)" \
		sed -i 's/{ "exist-ok",/{ "frobnicate", no_argument, NULL, 0 },\n\t\t{ "exist-ok",/' tools/kmboxctl.c
	echo "1..$n"
	return $rc
}

case ${1:-} in
--self-test) self_test; exit;;
--root) ROOT=$(cd "$2" && pwd);;
-h|--help) sed -n '3,21p' "$0" | sed 's/^# \{0,1\}//'; exit 0;;
"") ;;
*) echo "usage: $0 [--root DIR | --self-test]" >&2; exit 2;;
esac

cd "$ROOT" || exit 1
fail=0
bad() {
	echo "not ok: $*"
	fail=1
}
man4=userlib/man/man4/kmbox.4

# C source without comments, one file after the other.
code() {
	sed -e ':a' -e '/\/\*/{' -e '/\*\//!{N;ba' -e '}' -e 's|/\*.*\*/||' -e 'ba' -e '}' \
		-e 's|//.*||' "$@"
}

# --- module parameters ---------------------------------------------------------

params_code=$(code module/*.c |
	sed -n 's/.*module_param\(_cb\|_named\)\{0,1\}(\([a-z0-9_]*\),.*/\2/p' | sort -u)
params_man=$(sed -n '/^\.I \/sys\/module\/kmbox\/parameters\//,/^\.\(TP\|SH\)/p' "$man4" |
	sed -n 's/^\.BR\{0,1\} \([a-z][a-z0-9_]*\)\( .*\)\{0,1\}$/\1/p' | sort -u)
params_readme=$(sed -n '/^## Module parameters/,/^## /p' README.md |
	sed -n "s/^| \`\\([a-z0-9_]*\\)\` |.*/\\1/p" | sort -u)
[ -n "$params_code" ] || bad "found no module parameter in module/*.c"
for p in $params_code; do
	grep -qx "$p" <<<"$params_man" || bad "parameter $p is in the module but not in kmbox(4) (FILES, /sys/module/kmbox/parameters/)"
	grep -qx "$p" <<<"$params_readme" || bad "parameter $p is in the module but not in the README's table"
done
for p in $params_man; do
	grep -qx "$p" <<<"$params_code" || bad "kmbox(4) lists a parameter $p that the module does not have"
done
for p in $params_readme; do
	grep -qx "$p" <<<"$params_code" || bad "the README lists a parameter $p that the module does not have"
done
# Defaults: the initializer of kmbox_params, evaluated.
while read -r name expr; do
	[ -n "$name" ] || continue
	expr=${expr//UL/}
	val=$((expr))
	want=$(sed -n "/^## Module parameters/,/^## /s/^| \`$name\` | \([0-9]*\) |.*/\1/p" README.md)
	[ -z "$want" ] || [ "$want" = "$val" ] ||
		bad "README says $name defaults to $want, the module $val"
done < <(sed -n '/^struct kmbox_params kmbox_params = {/,/^};/s/^\t\.\([a-z_]*\)[[:space:]]*= \(.*\),$/\1 \2/p' module/main.c)

# --- errnos --------------------------------------------------------------------

errnos_all=$(sed -n 's/^#define[[:space:]]\{1,\}\(E[A-Z0-9]*\)[[:space:]]\{1,\}[0-9].*/\1/p' \
	/usr/include/asm-generic/errno-base.h /usr/include/asm-generic/errno.h | sort -u)
# Internal errnos that never reach user space as such.
internal="ERESTARTSYS EDQUOT EIO EIOCBQUEUED"
# ERESTARTSYS reaches user space as EINTR (or a restart); EDQUOT is what
# kmbox_charge() tells its callers, who turn it into EMFILE or ENOBUFS;
# EIO is a slot state machine bug (with a WARN); EIOCBQUEUED tells
# io_uring that a command posted its completion itself.
vfs="EINTR ENFILE ENXIO"
# EINTR: from ERESTARTSYS; ENFILE: no free file for open(2) or REOPEN;
# ENXIO: open(2) of the device node without the module.
errnos_code=$(code module/*.c | grep -o -- '-E[A-Z0-9]\{2,\}' | tr -d - | sort -u)
errnos_man=$(grep -o '\bE[A-Z0-9]\{2,\}\b' "$man4" | sort -u | grep -xF -f <(echo "$errnos_all") || true)
errnos_doc=$(sed -n '/^## Errors/,/^\*\*\|^## /p' docs/semantics.md |
	grep -o "\`E[A-Z0-9]\\{2,\\}\`" | tr -d "\`" | sort -u)
for e in $errnos_code; do
	case " $internal " in *" $e "*) continue;; esac
	grep -qx "$e" <<<"$errnos_man" || bad "$e is returned by the module but not in kmbox(4)"
	grep -qx "$e" <<<"$errnos_doc" || bad "$e is returned by the module but not in the errors table of docs/semantics.md"
done
for e in $errnos_man; do
	case " $vfs " in *" $e "*) continue;; esac
	grep -qx "$e" <<<"$errnos_code" || bad "kmbox(4) names $e, which the module never returns"
done
for e in $errnos_doc; do
	case " $vfs " in *" $e "*) continue;; esac
	grep -qx "$e" <<<"$errnos_code" || bad "docs/semantics.md names $e, which the module never returns"
done

# --- /proc and fdinfo ------------------------------------------------------------

cols_code=$(sed -n 's/.*seq_puts(m, "\(id name [a-z_ ]*\)\\n");.*/\1/p' module/names.c)
cols_man=$(sed -n '/^\.I \/proc\/kmbox\/mailboxes$/,/^\.TP/p' "$man4" |
	sed -n 's/^\.I "\(.*\)"$/\1/p' | tr '\n' ' ' | sed 's/ *$//')
[ -n "$cols_code" ] || bad "found no column header in module/names.c"
[ "$cols_code" = "$cols_man" ] ||
	bad "the columns of /proc/kmbox/mailboxes differ: module '$cols_code', kmbox(4) '$cols_man'"
for k in $(code module/names.c | grep -o '"[a-z_]* %ld\(\\n\)\{0,1\}' | sed 's/^"\([a-z_]*\) .*/\1/' | sort -u) \
	 $(code module/names.c | grep -o 'kmbox-[a-z-]*:' | tr -d : | sort -u); do
	grep -q "^\.BR\{0,1\} $k\b" "$man4" || bad "$k (/proc/kmbox/stats or fdinfo) is not in kmbox(4)"
done

# --- kmboxctl --------------------------------------------------------------------

opts_code=$( { sed -n 's/^\(#define [A-Z_]*\)\{0,1\}[[:space:]]*{ "\([a-z0-9-]*\)",[[:space:]]*\(no\|required\)_argument.*/\2/p' tools/kmboxctl.c
	grep -o '"--[a-z0-9-]*"' tools/kmboxctl.c | tr -d '"' | sed 's/^--//'; } | sort -u)
opts_man=$(grep -o '\\-\\-[a-z0-9][a-z0-9\\-]*' tools/kmboxctl.1 | sed 's/\\//g; s/^--//' | sort -u)
[ -n "$opts_code" ] || bad "found no option in tools/kmboxctl.c"
for o in $opts_code; do
	grep -qx -- "$o" <<<"$opts_man" || bad "kmboxctl --$o is not in kmboxctl(1)"
done
for o in $opts_man; do
	grep -qx -- "$o" <<<"$opts_code" || bad "kmboxctl(1) names --$o, which kmboxctl does not have"
done

[ $fail -eq 0 ] && echo "ok: kmbox(4), the README, docs/semantics.md and kmboxctl(1) agree with the code ($(wc -w <<<"$params_code") parameters, $(wc -w <<<"$errnos_code") errnos, $(wc -w <<<"$cols_code") /proc columns, $(wc -w <<<"$opts_code") kmboxctl options)"
exit $fail
