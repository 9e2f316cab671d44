#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Host test of the tagdepth workload (tagdepth.c) end to end, with the
# peer that needs no module: System V msgrcv(msgtyp) at two depths small
# enough for the default kernel.msgmnb, so it runs unprivileged.  Checks
# that the measurements succeed, that report.md, summary.csv and
# results.json carry them, that bad --tag-depths are refused, and that no
# SysV queue is left behind.  Run from bench/ (make test).
set -eu

out=$(mktemp -d "${TMPDIR:-/tmp}/kmbox-tagdepth-test.XXXXXX")
trap 'rm -rf "$out"' EXIT
fail=0
not_ok() { echo "not ok: $*"; fail=1; }

queues() { ipcs -q 2>/dev/null | grep -c '^0x' || true; }
before=$(queues)

./kmbox-bench --quick --workloads tagdepth --mech sysv-msgtyp --tag-depths 10,100 \
	--rounds 2 --time 20 --warm 5 --no-raise --quiet-wait 0 --out "$out" \
	>"$out/stdout" 2>&1 || not_ok "kmbox-bench exited $?: $(tail -n 5 "$out/stdout")"

# rounds_ok: the clean rounds when at least half are, else all (report.c)
for d in 10 100; do
	grep -Eq "^cross,tagdepth,1,1,sysv-msgtyp,$d,[12],ok," "$out/summary.csv" ||
		not_ok "summary.csv: no ok row for sysv-msgtyp at $d others"
done
[ "$(grep -c ',tagdepth,.*,ok,' "$out/raw.csv")" -eq 4 ] ||
	not_ok "raw.csv: want 4 ok tagdepth measurements"
grep -q '^## Selective receive against queue depth' "$out/report.md" ||
	not_ok "report.md: no selective receive section"
# receive @10, send @10, receive @100 (ratio to 10), send @100 (ratio); † if disturbed
grep -Eq '^\| sysv-msgtyp \| [0-9.k]+†? \| [0-9.k]+†? \| [0-9.k]+†? \([0-9.k]+×†?\) \|' "$out/report.md" ||
	not_ok "report.md: no sysv-msgtyp row with a ratio to 10 others"
grep -q '"others_queued": 100' "$out/results.json" ||
	not_ok "results.json: no tagdepth row with others_queued"
[ "$(queues)" = "$before" ] || not_ok "a SysV queue was left behind"

for bad in 0 65536 10,x; do
	if ./kmbox-bench --workloads tagdepth --tag-depths "$bad" --out "$out" >/dev/null 2>&1; then
		not_ok "--tag-depths $bad accepted"
	fi
done

[ $fail -eq 0 ] && echo "ok: tagdepth workload on the host (sysv-msgtyp at 10 and 100 others, report, csv, json, bad input)"
exit $fail
