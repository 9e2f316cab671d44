#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Line and branch coverage of module/*.c after the selftests, stress/'s
# programs and the fuzzer, on the debug kernel: what `make coverage` runs.
#
# Usage: qemu/coverage.sh [--report-only] [--help]
#
# Steps:
#  1. qemu/debug/build-kernel.sh: the debug kernel (its config has
#     CONFIG_GCOV_KERNEL=y; built once, ~15 min on 2 cores, then cached)
#  2. qemu/debug/build-module.sh --gcov: kmbox.ko built with
#     GCOV_PROFILE=y in COV_DIR/build/ (a copy of Kbuild, module/ and
#     uapi/; module/kmbox.ko is not touched)
#  3. qemu/run.sh check with that kernel and module: every selftest,
#     stress/'s programs (kmbox_fuzz among them), the debug-only ones
#     (stress/kmbox_failinj, qemu/debug/guest-debug.sh), then
#     qemu/debug/gcov-dump.sh, which prints the module's .gcda files
#  4. the .gcda files, taken out of the console log, go next to the
#     .gcno files; lcov and genhtml (Debian package lcov, which
#     qemu/deps.sh --coverage installs) make the report
#  5. prints line and branch coverage per file of module/ and in all,
#     then every range of lines of module/ never run; writes
#     COV_DIR/html/index.html, COV_DIR/kmbox.info (lcov tracefile) and
#     COV_DIR/uncovered.txt
#
# --report-only: skip steps 1-3 and remake the report from the .gcda
#                files already in COV_DIR/build (or its last console log)
#
# Exit status: the test run's (the report is made either way: failing
# tests still cover code), or 1 when no coverage data came back.
#
# Knobs (environment), with their defaults:
#   COV_DIR=coverage            output directory, relative to the repo
#                               (git-ignored)
#   TESTS=""                    programs to run (default: all of step 3;
#                               gcov-dump.sh is always added last)
#   FUZZ_ARGS="--duration 60"   kmbox_fuzz arguments
#   STRESS_SECS=30              kmbox_stress --duration
#   LIFECYCLE_CYCLES=10         lifecycle.sh rounds
#   FAILSLAB="20 10"            guest-debug.sh failslab run: seconds, percent
#   TIMEOUT=5400 TEST_TIMEOUT=1800   limits of the VM and of each program, s
# Other qemu/run.sh knobs (SMP, QEMU_MEM, QUIET...) pass through.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)

die() { echo "${0##*/}: $*" >&2; exit 1; }

report_only=0
case ${1:-} in
-h|--help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; exit 0;;
--report-only) report_only=1;;
"") ;;
*) die "unknown argument $1 (see --help)";;
esac

COV_DIR=${COV_DIR:-coverage}
case $COV_DIR in /*) cov=$COV_DIR;; *) cov=$REPO/$COV_DIR;; esac
FUZZ_ARGS=${FUZZ_ARGS:---duration 60}
STRESS_SECS=${STRESS_SECS:-30}
LIFECYCLE_CYCLES=${LIFECYCLE_CYCLES:-10}
FAILSLAB=${FAILSLAB:-20 10}
export TIMEOUT=${TIMEOUT:-5400}
export TEST_TIMEOUT=${TEST_TIMEOUT:-1800}

for t in lcov genhtml; do
	command -v "$t" >/dev/null 2>&1 ||
		die "$t not found: run qemu/deps.sh --coverage (or apt-get install lcov)"
done

build=$cov/build
log=$cov/logs/last-check.log
rc=0

if [ $report_only = 0 ]; then
	kv=$("$HERE/debug/build-kernel.sh") || die "debug kernel build failed"
	KDIR=$(sed -n 's/^KDIR=//p' <<<"$kv")
	KERNEL=$(sed -n 's/^KERNEL=//p' <<<"$kv")
	[ -f "$KERNEL" ] || die "no kernel image from build-kernel.sh"

	mkdir -p "$cov"
	ko=$("$HERE/debug/build-module.sh" --gcov "$KDIR" "$cov" 2>"$cov/module-build.log" |
		sed -n 's/^KMBOX_KO=//p') ||
		{ cat "$cov/module-build.log" >&2; die "module build (GCOV_PROFILE=y) failed"; }
	[ -f "$ko" ] || { cat "$cov/module-build.log" >&2; die "module build (GCOV_PROFILE=y) failed"; }
	ls "$build"/module/*.gcno >/dev/null 2>&1 ||
		die "no .gcno files in $build/module: was the module built with GCOV_PROFILE?"

	make -s -C "$REPO/stress" >&2 || die "make -C stress failed"
	extra=()
	for p in $(make -s --no-print-directory -C "$REPO/stress" print-debug-progs); do
		extra+=("$REPO/stress/$p")
	done
	extra+=("$HERE/debug/guest-debug.sh" "$HERE/debug/gcov-dump.sh")
	if [ -n "${TESTS:-}" ]; then
		case " $TESTS " in *" gcov-dump.sh "*) ;; *) TESTS="$TESTS gcov-dump.sh";; esac
		export TESTS
	fi

	append="panic_on_warn=0 log_buf_len=16M"
	append+=" KMBOX_FUZZ_ARGS=\"$FUZZ_ARGS\""
	append+=" KMBOX_STRESS_ARGS=\"--duration $STRESS_SECS\""
	append+=" KMBOX_LIFECYCLE_ARGS=$LIFECYCLE_CYCLES"
	append+=" KMBOX_DEBUG_ARGS=\"$FAILSLAB\""
	echo "kmbox coverage: kernel $KERNEL"
	echo "kmbox coverage: module $ko (GCOV_PROFILE=y)"
	# Old .gcda files would be taken for this run's.
	rm -f "$build"/module/*.gcda
	set +e
	KERNEL_IMAGE=$KERNEL KMBOX_KO=$ko KDIR=$KDIR EXTRA_TESTS="${extra[*]}" \
		LOG_DIR=$cov/logs QEMU_APPEND="$append${QEMU_APPEND:+ $QEMU_APPEND}" \
		"$REPO/qemu/run.sh" check
	rc=$?
	set -e
	[ $rc = 0 ] || echo "kmbox coverage: the test run failed (exit $rc); the report below covers what ran"
fi

# --- the .gcda files out of the console log ---------------------------------------

if [ -f "$log" ]; then
	tmp=$(mktemp -d "${TMPDIR:-/tmp}/kmbox-gcda.XXXXXX")
	trap 'rm -rf "$tmp"' EXIT
	awk -v dir="$tmp" '
	/^KMBOX:FILE-BEGIN gcov\/[A-Za-z0-9._+-]+\.gcda base64$/ {
		f = dir "/" substr($2, 6); printf "" > f; in_file = 1; next
	}
	/^KMBOX:FILE-END/ { if (in_file) close(f); in_file = 0; next }
	in_file { print > f }' "$log"
	for f in "$tmp"/*.gcda; do
		[ -e "$f" ] || continue
		base64 -d "$f" >"$build/module/${f##*/}" || die "cannot decode ${f##*/} from $log"
	done
fi
ls "$build"/module/*.gcda >/dev/null 2>&1 ||
	die "no .gcda files came back (see $log: gcov-dump.sh's output)"

# --- lcov ------------------------------------------------------------------------------

# lcov 1.16's geninfo warns "Subroutine ... redefined" on every run: noise.
quiet() {
	local err=$cov/lcov.err st=0
	"$@" 2>"$err" || st=$?
	grep -v '^Subroutine .* redefined at ' "$err" >&2 || true
	return $st
}
rcopt=(--rc lcov_branch_coverage=1)
quiet lcov --quiet "${rcopt[@]}" --capture --directory "$build/module" \
	--output-file "$cov/raw.info" || die "lcov --capture failed"
quiet lcov --quiet "${rcopt[@]}" --extract "$cov/raw.info" "$build/module/*.c" \
	--output-file "$cov/kmbox.info" || die "lcov --extract failed"
rm -rf "$cov/html"
quiet genhtml --quiet --branch-coverage --prefix "$build" --title "kmbox module/" \
	--output-directory "$cov/html" "$cov/kmbox.info" || die "genhtml failed"

echo
echo "kmbox coverage of module/*.c (lines hit/instrumented, branches taken/instrumented):"
awk -v build="$build/" '
function pct(h, n) { return n ? sprintf("%5.1f%%", 100 * h / n) : "    -" }
/^SF:/ { f = substr($0, 4); sub("^" build, "", f); files[++n] = f }
/^LF:/ { lf[f] = substr($0, 4) + 0 } /^LH:/ { lh[f] = substr($0, 4) + 0 }
/^BRF:/ { bf[f] = substr($0, 5) + 0 } /^BRH:/ { bh[f] = substr($0, 5) + 0 }
END {
	for (i = 1; i <= n; i++) {
		f = files[i]
		printf "  %-18s lines %5d/%-5d %s   branches %5d/%-5d %s\n", f, lh[f], lf[f],
		       pct(lh[f], lf[f]), bh[f], bf[f], pct(bh[f], bf[f])
		LH += lh[f]; LF += lf[f]; BH += bh[f]; BF += bf[f]
	}
	printf "  %-18s lines %5d/%-5d %s   branches %5d/%-5d %s\n", "total", LH, LF,
	       pct(LH, LF), BH, BF, pct(BH, BF)
}' "$cov/kmbox.info"

# Ranges of instrumented lines never run: consecutive uncovered lines
# (no line that ran between them) make one range; the first line's text
# says where it is.
awk -v build="$build/" '
function flush() {
	if (start) {
		src = build f; text = ""
		for (k = 1; k <= start && (getline line < src) > 0; k++) text = line
		close(src)
		gsub(/^[ \t]+/, "", text)
		printf "%s:%s (%d line%s)  %s\n", f, start == end ? start : start "-" end,
		       cnt, cnt == 1 ? "" : "s", substr(text, 1, 70)
	}
	start = 0
}
/^SF:/ { f = substr($0, 4); sub("^" build, "", f); start = 0 }
/^DA:/ {
	split(substr($0, 4), a, ",")
	if (a[2] + 0 == 0) { if (!start) { start = a[1]; cnt = 0 } end = a[1]; cnt++ }
	else flush()
}
/^end_of_record/ { flush() }' "$cov/kmbox.info" >"$cov/uncovered.txt"
echo
echo "kmbox coverage: $(wc -l <"$cov/uncovered.txt") uncovered line ranges of module/ (also in ${cov#"$REPO"/}/uncovered.txt):"
sed 's/^/  /' "$cov/uncovered.txt"
echo
echo "kmbox coverage: HTML report ${cov#"$REPO"/}/html/index.html; lcov tracefile ${cov#"$REPO"/}/kmbox.info"
exit "$rc"
