#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Boot the kmbox test VM under QEMU and judge what it printed: KTAP
# results per selftest program, insmod/rmmod, kernel splats, timeouts.
# The last line is always "N passed, N failed, N skipped"; the exit status
# is 0 only when nothing failed.
set -euo pipefail
# shellcheck source=qemu/lib.sh
. "$(dirname "$0")/lib.sh"

REPO=$(cd "$(dirname "$0")/.." && pwd)

QEMU=${QEMU:-qemu-system-x86_64}
QEMU_ACCEL=${QEMU_ACCEL:-auto}
QEMU_MEM=${QEMU_MEM:-1G}
QEMU_CPU=${QEMU_CPU:-}
QEMU_APPEND=${QEMU_APPEND:-}
QEMU_OPTS=${QEMU_OPTS:-}
SMP=${SMP:-2}
TIMEOUT=${TIMEOUT:-}
TEST_TIMEOUT=${TEST_TIMEOUT:-}
TESTS=${TESTS:-}
KERNEL_IMAGE=${KERNEL_IMAGE:-}
LOG_DIR=${LOG_DIR:-$REPO/qemu/logs}
RESULTS_DIR=${RESULTS_DIR:-$REPO/bench/results}
KVM_PROBE_TIMEOUT=${KVM_PROBE_TIMEOUT:-10}
QUIET=${QUIET:-0}

usage() {
	cat <<EOT
usage: ${0##*/} [check|run|bench]

Builds an initramfs (qemu/mkinitramfs.sh) in a temp dir of its own, boots
the Debian kernel matching KDIR under QEMU and reads the console.
  check  insmod, every selftest program (or TESTS), rmmod, dmesg scan
  run    insmod, /dev/kmbox, qemu/demo.sh, a quick kmbox-bench, rmmod
  bench  kmbox-bench \$BENCH_ARGS; files it writes to /tmp/bench-results
         come back into RESULTS_DIR
Build first (make); 'make check' / 'make run' / 'make bench' do it all.

Knobs (environment), with their defaults:
  TESTS="a b"              selftest programs to run (default: all)
  TEST_TIMEOUT=            per-program limit, s (selftests/settings
                           timeout=, else 300); in bench mode the
                           benchmark's limit (TIMEOUT - 120)
  TIMEOUT=                 limit for the whole VM, s (check 900, run 600,
                           bench 3600)
  QEMU_ACCEL=$QEMU_ACCEL         auto: KVM if a ${KVM_PROBE_TIMEOUT} s probe boot works
                           (remembered until reboot), else tcg; or kvm|tcg
  QEMU_MEM=$QEMU_MEM  SMP=$SMP  QEMU_CPU=  (default: host with KVM, QEMU's
                           default model with TCG)
  QEMU_APPEND="..."        more kernel command line
  QEMU_OPTS="..."          more QEMU arguments, split at spaces (make
                           bench-icount: -icount shift=0,align=off,sleep=off)
  KERNEL_IMAGE=            vmlinuz to boot (default: qemu/fetch-kernel.sh,
                           the Debian image matching KDIR)
  KDIR=                    headers the module was built against
  KMBOX_KO=                module (default module/kmbox.ko)
  BENCH_ARGS="..."         kmbox-bench arguments (bench mode)
  RESULTS_DIR=$RESULTS_DIR
  LOG_DIR=$LOG_DIR   console logs are kept here
  QUIET=1                  do not stream the console, only the verdict
  TRACE=1                  perf and bpftrace in the guest (qemu/trace-tools.sh;
                           check mode adds them when kmbox_trace_test.sh runs);
                           run mode then also shows tools/kmbox-latency.bt
  EXTRA_TESTS, EXTRA_MODULES  see qemu/mkinitramfs.sh --help
EOT
}

mode=check
case ${1:-} in
-h|--help) usage; exit 0;;
check|run|bench) mode=$1;;
"") ;;
*) usage >&2; exit 2;;
esac

command -v "$QEMU" >/dev/null 2>&1 ||
	die "$QEMU not found: run qemu/deps.sh (or apt-get install qemu-system-x86)"

if [ -z "$TIMEOUT" ]; then
	case $mode in check) TIMEOUT=900;; run) TIMEOUT=600;; bench) TIMEOUT=3600;; esac
fi
if [ -z "$TEST_TIMEOUT" ]; then
	if [ "$mode" = bench ]; then
		TEST_TIMEOUT=$((TIMEOUT - 120))
	else
		TEST_TIMEOUT=$(sed -n 's/^timeout=\([0-9][0-9]*\)$/\1/p' "$REPO/selftests/settings" 2>/dev/null || true)
		TEST_TIMEOUT=${TEST_TIMEOUT:-300}
	fi
fi

# --- the kernel -----------------------------------------------------------

# bzimage_release FILE: the release string in a bzImage's setup header
# (the pointer at 0x20e, plus 0x200), or nothing.
bzimage_release() {
	local off
	off=$(od -An -tu2 -j $((0x20e)) -N2 "$1" 2>/dev/null | tr -d ' ')
	[ -n "$off" ] && [ "$off" -gt 0 ] || return 0
	dd if="$1" bs=1 skip=$((off + 0x200)) count=128 2>/dev/null |
		tr '\0' '\n' | head -n 1 | cut -d' ' -f1
}

if [ -z "$KERNEL_IMAGE" ]; then
	KERNEL_IMAGE=$("$REPO/qemu/fetch-kernel.sh")
fi
[ -f "$KERNEL_IMAGE" ] || die "kernel image $KERNEL_IMAGE not found (KERNEL_IMAGE=)"
krel=$(bzimage_release "$KERNEL_IMAGE")

export KMBOX_KO=${KMBOX_KO:-$REPO/module/kmbox.ko}
[ -f "$KMBOX_KO" ] || die "$KMBOX_KO not found: run 'make module' first (or make $mode)"
modrel=$(grep -ao 'vermagic=[^ ]*' "$KMBOX_KO" | head -n 1 | cut -d= -f2 || true)
if [ -n "$krel" ] && [ -n "$modrel" ] && [ "$krel" != "$modrel" ]; then
	die "$KMBOX_KO is built for $modrel but $KERNEL_IMAGE is $krel: insmod would refuse it; rebuild with KDIR= the headers of $krel, or boot KERNEL_IMAGE= a $modrel image"
fi

# --- the initramfs, in a directory of this run's own ------------------------

tmp=$(mktemp -d "${TMPDIR:-/tmp}/kmbox-run.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
initrd=$("$REPO/qemu/mkinitramfs.sh" "$tmp")

mapfile -t all_tests <"$tmp/tests"
if [ -n "$TESTS" ]; then
	read -r -a run_tests <<<"$TESTS"
	for t in "${run_tests[@]}"; do
		# A here-string, not a pipe: under pipefail grep -q's early exit
		# could kill printf with SIGPIPE and fail the test.
		grep -qxF -- "$t" <<<"$(printf '%s\n' "${all_tests[@]}")" ||
			die "TESTS: no test program '$t'; known: ${all_tests[*]:-none}"
	done
else
	run_tests=("${all_tests[@]}")
fi

# perf and bpftrace (qemu/trace-tools.sh): a second archive appended to
# the image, only for the boots that use them (kmbox_trace_test.sh, or
# TRACE=1): unpacking its 230 MB makes the boot about 1.5 s longer
# under TCG, and they stay in the guest's memory.
trace=${TRACE:-0}
if [ "$mode" = check ] &&
   grep -qxF kmbox_trace_test.sh <<<"$(printf '%s\n' "${run_tests[@]}")"; then
	trace=1
fi
if [ "$trace" = 1 ]; then
	tools=$("$REPO/qemu/trace-tools.sh")
	cat "$tools" >>"$initrd"
fi

# --- acceleration -----------------------------------------------------------

# KVM "works" if the kernel gets as far as its banner within the probe
# time.  On nested machines /dev/kvm exists but guests hang in the BIOS,
# so the probe is bounded and its answer kept until the host reboots.
kvm_works() {
	[ -w /dev/kvm ] || return 1
	local id memo
	id=$(cat /proc/sys/kernel/random/boot_id 2>/dev/null || echo unknown)
	memo=$KMBOX_CACHE/kvm-probe.$id
	if [ ! -f "$memo" ]; then
		mkdir -p "$KMBOX_CACHE"
		note "probing KVM (at most ${KVM_PROBE_TIMEOUT} s, once per host boot)"
		timeout -k 2 "$KVM_PROBE_TIMEOUT" "$QEMU" -accel kvm -cpu host -m 256M \
			-nographic -no-reboot -kernel "$KERNEL_IMAGE" \
			-append "console=ttyS0 panic=-1 loglevel=7" \
			</dev/null >"$tmp/kvm-probe.log" 2>&1 || true
		if grep -q 'Linux version' "$tmp/kvm-probe.log"; then
			echo kvm >"$memo"
		else
			echo tcg >"$memo"
		fi
	fi
	[ "$(cat "$memo")" = kvm ]
}

case $QEMU_ACCEL in
kvm|tcg) accel=$QEMU_ACCEL;;
auto) if kvm_works; then accel=kvm; else accel=tcg; fi;;
*) die "QEMU_ACCEL=$QEMU_ACCEL: use auto, kvm or tcg";;
esac
cpu=$QEMU_CPU
[ -n "$cpu" ] || [ "$accel" != kvm ] || cpu=host

# --- command line -----------------------------------------------------------

append="console=ttyS0 panic=-1 oops=panic panic_on_warn=1"
# Poisoned, checked slabs catch use-after-free and overruns in the tests,
# but tax every kmalloc, so the benchmark runs without them.
[ "$mode" = bench ] || append+=" slub_debug=FZPU"
# A loaded host can starve TCG's vCPUs long enough for the kernel's boot
# check of the timer interrupt to fail ("IO-APIC + timer doesn't work!"
# and a panic); skip that check.
append+=" no_timer_check"
# loglevel=5 puts KERN_WARNING (4) lines on the console, so a WARN that
# panic_on_warn turns into a panic still shows its "WARNING: ... at file:
# line" in the log; the dmesg dump at the end has everything else.
append+=" loglevel=5 printk.time=1 kmbox.mode=$mode kmbox.timeout=$TEST_TIMEOUT"
[ -z "$TESTS" ] || append+=" kmbox.tests=\"${run_tests[*]}\""
[ "$trace" != 1 ] || append+=" kmbox.trace=1"
# For kmbox-bench's report header (words without spaces).
qver=$("$QEMU" --version | sed -n '1s/.*version \([^ ]*\).*/\1/p')
hload=$(cut -d' ' -f1-3 /proc/loadavg | tr ' ' ',')
append+=" kmbox.qemu=${qver:-unknown} kmbox.accel=$accel kmbox.hostload=$hload"
# The benchmark wants a cheap, stable clock, no HLT wake-up latency and
# no KPTI (bench/README.md, "Reading the numbers under TCG").
[ "$mode" != bench ] || append+=" clocksource=tsc tsc=reliable idle=poll pti=off"
[ -z "$QEMU_APPEND" ] || append+=" $QEMU_APPEND"
[ ${#append} -lt 2000 ] || die "kernel command line too long (${#append} bytes; x86 takes 2047): run fewer TESTS at once"

qemu_cmd=(timeout -k 10 "$TIMEOUT" "$QEMU" -accel "$accel")
[ -z "$cpu" ] || qemu_cmd+=(-cpu "$cpu")
qemu_cmd+=(-m "$QEMU_MEM" -smp "$SMP" -nographic -no-reboot -nic none
	-kernel "$KERNEL_IMAGE" -initrd "$initrd" -append "$append")
# shellcheck disable=SC2206 # QEMU arguments, one per word
[ -z "$QEMU_OPTS" ] || qemu_cmd+=($QEMU_OPTS)

# A benchmark VM runs alone on the host: it takes the VM lock exclusively
# and waits for other VMs of this user to end; every other VM takes it
# shared, so many checks run at once but none during a benchmark.  Every
# VM passes through a turnstile (vm.turn) to take the VM lock, and a
# benchmark holds it while it waits: checks started after a waiting
# benchmark queue behind it rather than keep it waiting for ever.
mkdir -p "$KMBOX_CACHE"
exec 8>"$KMBOX_CACHE/vm.turn" 9>"$KMBOX_CACHE/vm.lock"
lock=-s
[ "$mode" != bench ] || lock=-x
if ! flock -n 8 || ! flock -n "$lock" 9; then
	echo "kmbox: waiting for $([ "$mode" = bench ] && echo "other VMs" || echo "a benchmark VM") to finish ($KMBOX_CACHE/vm.lock)"
	flock 8
	flock "$lock" 9
fi
exec 8>&-

mkdir -p "$LOG_DIR"
log=$LOG_DIR/$mode-$(date +%Y%m%d-%H%M%S)-$$.log
# Keep the newest 20 logs.
find "$LOG_DIR" -maxdepth 1 -type f -name '*.log' -printf '%T@ %p\n' 2>/dev/null |
	sort -rn | tail -n +21 | cut -d' ' -f2- | xargs -r rm -f
ln -sfn "${log##*/}" "$LOG_DIR/last-$mode.log"

cmdline=$(printf '%q ' "${qemu_cmd[@]}")
echo "kmbox: $accel, ${SMP} CPUs, $QEMU_MEM; console log: $log"
echo "kmbox: ${cmdline% } </dev/null"
echo "# ${cmdline% } </dev/null" >"$log"

# --- boot -------------------------------------------------------------------

# Stream the console (less the dmesg dump and result files, which are in
# the log) while writing all of it, without CRs, to the log.
show() {
	local line hide=0 n=0
	while IFS= read -r line; do
		line=${line%$'\r'}
		printf '%s\n' "$line" >>"$log"
		[ "$QUIET" = 1 ] && continue
		case $line in
		KMBOX:DMESG-BEGIN*|KMBOX:FILE-BEGIN*) hide=1; n=0; printf '%s\n' "$line";;
		KMBOX:DMESG-END*|KMBOX:FILE-END*) hide=0; printf '%s (%d lines, in the log)\n' "$line" "$n";;
		*) if [ $hide = 1 ]; then n=$((n + 1)); else printf '%s\n' "$line"; fi;;
		esac
	done
}

t0=$(date +%s)
set +e
"${qemu_cmd[@]}" </dev/null 2>&1 | show
qrc=${PIPESTATUS[0]}
set -e
elapsed=$(($(date +%s) - t0))

# --- verdict ----------------------------------------------------------------

mkdir -p "$tmp/files"
# shellcheck disable=SC2016 # awk program, not shell
verdict=$(awk -v mode="$mode" -v tests="${run_tests[*]}" -v qrc="$qrc" \
	-v limit="$TIMEOUT" -v files="$tmp/files" '
function kernel_line(s) { return s ~ /^\[ *[0-9]+\.[0-9]+\]/ }
function fail(why) { nfail++; reasons[++nreasons] = why }
BEGIN {
	# slub_debug reports as "BUG kmalloc-cg-16 (Tainted: ...): Right
	# Redzone overwritten", without the colon after BUG.
	splat = "BUG:|BUG [A-Za-z0-9_.:-]+ \\(|WARNING:|Oops|general protection fault|Kernel panic|" \
		"possible recursive locking|possible circular locking|" \
		"inconsistent lock state|suspicious RCU usage|KASAN|UBSAN|" \
		"possible irq lock inversion|possible deadlock|" \
		"turning off the locking correctness validator|" \
		"INFO: task .* blocked for more than|" \
		"unreferenced object|suspected memory leak"
	benign = "loading out-of-tree module taints kernel|" \
		"module verification failed|Command line:|command line:|" \
		"kmemleak: [0-9]+ new suspected memory leaks"
	# kmemleak announces its finds in one line, counted by the records
	# themselves (the "unreferenced object" lines of the scan after
	# rmmod) except those allocated by swapper/0 before init ran: early
	# boot (the ACPI kmem_caches of the debug kernel), never kmbox.
	# A stack frame ("? kasan_report+0x1a/0x20 [kmbox]") is part of a
	# report whose header line counts already; fault injection prints
	# stack traces whose frames alone would match the words above.
	frame = "^(\\[ *[0-9]+\\.[0-9]+\\])? +(\\? )?[A-Za-z0-9_.]+\\+0x[0-9a-f]+/0x[0-9a-f]+( \\[[A-Za-z0-9_]+\\])?$"
	# Once fault injection has run (check-debug), the WARN_ON_ONCE of the
	# tracing core on an injected ENOMEM while it adds the trace events of
	# a loading module (kmbox, at insmod) belongs to the kernel, not kmbox.
	tracewarn = "WARNING: .* at kernel/trace/trace_events\\.c:[0-9]+ event_define_fields"
	rmmod = ""
}
/^KMBOX:TEST / { cur = $2; started[cur] = 1; next }
/^KMBOX:TIMEOUT / { timedout[$2] = $3; next }
/^KMBOX:RC / { rc[$2] = $3; cur = ""; next }
/^KMBOX:INSMOD-FAIL/ { insmod_fail = last != "" ? last : "?"; next }
/^KMBOX:INSMOD ok/ { loaded = 1; next }
/^KMBOX:INSMOD-EXTRA / { if ($3 != 0) fail("insmod " $2 " failed (rc " $3 ")"); next }
/^KMBOX:RMMOD / { rmmod = $2; next }
/^KMBOX:DEMO-RC / { demo = $2; next }
/^KMBOX:TRACE-RC / { tdemo = $2; next }
/^KMBOX:QUICKBENCH-RC / { qbench = $2; next }
/^KMBOX:BENCH-RC / { bench = $2; next }
/^KMBOX:BAD-MODE/ { fail("guest: unknown kmbox.mode"); next }
/^KMBOX:KMEMLEAK-SCAN|^KMBOX:DMESG-BEGIN/ { indmesg = 1; next }
/^KMBOX:DMESG-END/ { indmesg = 0; next }
/^KMBOX:END/ { ended = 1; next }
/^KMBOX:FILE-BEGIN / {
	name = $2
	if (name ~ /^\// || name ~ /(^|\/)\.\.(\/|$)/ || name ~ /[^A-Za-z0-9._\/+-]/) {
		fail("bench result file with a bad name: " name); infile = ""; next
	}
	infile = files "/" name ($3 == "base64" ? ".b64" : "")
	d = infile; sub(/\/[^\/]*$/, "", d); system("mkdir -p \"" d "\"")
	printf "" > infile
	nfiles++
	next
}
/^KMBOX:FILE-END/ { if (infile != "") close(infile); infile = ""; next }
infile != "" { print > infile; next }
leak != "" {
	if ($0 !~ /comm "swapper\/0", pid 0,/ && !seen[leak]++)
		splats[++nsplats] = leak
	leak = ""
}
indmesg && /^unreferenced object/ { leak = $0; last = $0; next }
/FAULT_INJECTION: forcing a failure/ { injected = 1 }
{
	if ((indmesg || kernel_line($0)) && $0 ~ splat && $0 !~ benign &&
	    !(injected && $0 ~ tracewarn) && $0 !~ frame && !seen[$0]++)
		splats[++nsplats] = $0
	if ($0 ~ /Kernel panic - not syncing/ && panic == "") panic = $0
	last = $0
}
cur != "" && /^(not )?ok [0-9]+/ {
	if ($0 ~ /# *SKIP/) skip[cur]++
	else if ($0 ~ /^not ok/) { bad[cur]++; badlines[cur] = badlines[cur] "\n    " $0 }
	else good[cur]++
}
cur != "" && /^1\.\.[0-9]+/ { plan[cur] = substr($1, 4) + 0 }
END {
	P = 0; F = 0; S = 0
	if (mode == "check") {
		n = split(tests, list, " ")
		for (i = 1; i <= n; i++) {
			t = list[i]; p = good[t] + 0; f = bad[t] + 0; s = skip[t] + 0
			P += p; F += f; S += s
			if (!(t in started)) {
				why = insmod_fail != "" ? "not run (insmod failed)" : "not run (the guest stopped before it)"
				F++; printf "%s: %s\n", t, why; continue
			}
			if (!(t in rc)) {
				F++; printf "%s: no exit status (the guest stopped while it ran)\n", t; continue
			}
			r = rc[t]; extra = ""
			if (r == 127) { F++; extra = ": not in the initramfs (not built?)" }
			else if (t in timedout) { F++; extra = ": killed after its " timedout[t] " s limit" }
			else if (r != 0 && r != 4 && f == 0) {
				F++; extra = r > 128 ? ": killed by signal " r - 128 : ": exited " r
				extra = extra " without a not-ok line"
			}
			else if (p + f + s == 0) { if (r == 4) S++; else if (r == 0) P++; else F++ }
			else if (plan[t] > p + f + s && f == 0) { F++; extra = ": only " p + f + s " of " plan[t] " planned results" }
			printf "%s: %d passed, %d failed, %d skipped (rc %s)%s%s\n", t, p, f, s, r, extra, badlines[t]
		}
		if (n == 0) print "no selftest programs in the image (selftests/ not built yet?)"
	}
	# Harness-level steps count as one case each, so the closing line
	# never reads 0 failed when the exit status says otherwise.
	# In check mode only failures of these count; in run and bench mode
	# they are most of what there is to count.
	if (insmod_fail != "") fail("insmod kmbox.ko failed: " insmod_fail " (dmesg: in the log)")
	else if (loaded && mode != "check") P++
	if (mode == "run" && demo != "") { if (demo == 0) P++; else fail("demo.sh exited " demo) }
	if (mode == "run" && tdemo != "") { if (tdemo == 0) P++; else fail("trace-demo.sh exited " tdemo) }
	if (mode == "run" && qbench != "" && qbench != 0)
		printf "note: kmbox-bench --quick exited %s (not counted)\n", qbench
	if (mode == "bench") {
		if (bench == "") fail("kmbox-bench did not finish")
		else if (bench != 0) fail("kmbox-bench exited " bench)
		else P++
		printf "bench: %d result file(s)\n", nfiles
	}
	if (loaded && rmmod == "" && ended) fail("rmmod kmbox did not run")
	else if (rmmod != "") { if (rmmod == 0) P += (mode != "check"); else fail("rmmod kmbox failed (rc " rmmod ")") }
	if (nsplats) {
		fail("kernel splat in the log (" nsplats " line(s)):")
		for (i = 1; i <= nsplats && i <= 20; i++) reasons[++nreasons] = "    " splats[i]
	}
	if (panic != "") fail("guest kernel panicked: " panic)
	else if (!ended && qrc == 124) fail("guest timed out: no KMBOX:END within TIMEOUT=" limit " s")
	else if (!ended) fail("guest stopped without KMBOX:END (qemu rc " qrc "); last line: " last)
	F += nfail
	for (i = 1; i <= nreasons; i++) printf "FAIL: %s\n", reasons[i]
	printf "%d passed, %d failed, %d skipped\n", P, F, S
}' "$log")

# Bench result files: decode and move into RESULTS_DIR.
bad_files=0
if [ "$mode" = bench ]; then
	while IFS= read -r -d '' f; do
		rel=${f#"$tmp/files/"}
		case $rel in
		*.b64) dest=$RESULTS_DIR/${rel%.b64}; mkdir -p "$(dirname "$dest")"
			base64 -d "$f" >"$dest" || { echo "FAIL: cannot decode $rel"; bad_files=$((bad_files + 1)); };;
		*) dest=$RESULTS_DIR/$rel; mkdir -p "$(dirname "$dest")"; cp "$f" "$dest";;
		esac
		echo "bench: wrote $dest"
	done < <(find "$tmp/files" -type f -print0 | sort -z)
fi

echo "kmbox: $mode finished in ${elapsed} s; console log: $log"
summary=${verdict##*$'\n'}
printf '%s\n' "${verdict%"$summary"}" | sed '/^$/d'
[[ $summary =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed,\ ([0-9]+)\ skipped$ ]] ||
	die "internal error: no summary from the log parser (log: $log)"
failed=$((BASH_REMATCH[2] + bad_files))
echo "${BASH_REMATCH[1]} passed, $failed failed, ${BASH_REMATCH[3]} skipped"
[ "$failed" = 0 ]
