#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# make run: show a mailbox at work inside the VM.  Runs as /demo.sh, in
# /tmp, after insmod.  It plays tools/demo.sh (in the guest as
# /bin/kmbox-demo) when that exists, else what kmboxctl alone can show.
# POSIX sh; exits non-zero only when something is really wrong.
set -e

if ! command -v kmboxctl >/dev/null 2>&1; then
	echo "demo: /bin/kmboxctl is not built yet (make -C tools); nothing more to show"
	exit 0
fi

if command -v kmbox-demo >/dev/null 2>&1; then
	exec kmbox-demo
fi

echo '$ kmboxctl info'
kmboxctl info
echo '$ kmboxctl list'
kmboxctl list
