#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Plot kmbox-bench results on the host: round-trip latency (p50) and
# streaming throughput (msgs/s and MB/s) by message size, one line per
# mechanism, one PNG per placement (plot-cross.png, plot-same.png), from
# the summary.csv that kmbox-bench wrote.  Installs gnuplot-nox with
# apt-get when gnuplot is missing.
set -euo pipefail

die() { echo "${0##*/}: $*" >&2; exit 1; }

usage() {
	cat <<EOT
usage: ${0##*/} [RESULTS_DIR]

Reads RESULTS_DIR/summary.csv (default: bench/results next to this
script) and writes RESULTS_DIR/plot-cross.png and plot-same.png.
EOT
}

case ${1:-} in -h|--help) usage; exit 0;; esac
dir=${1:-$(dirname "$0")/results}
[ -d "$dir" ] || die "$dir: no such directory"
# absolute: gnuplot runs in a temporary directory
dir=$(cd "$dir" && pwd)
csv=$dir/summary.csv
[ -f "$csv" ] || die "$csv not found: run kmbox-bench (make bench) first"
# a run of other workloads only (call, depth, tagdepth: tables in
# report.md) has nothing to plot, and that is no error
if ! cut -d, -f2 "$csv" | grep -qxE 'latency|stream'; then
	echo "${0##*/}: no latency or stream workload in $csv: nothing to plot"
	exit 0
fi

if ! command -v gnuplot >/dev/null 2>&1; then
	[ "$(id -u)" = 0 ] || die "gnuplot missing: apt-get install gnuplot-nox (as root)"
	echo "${0##*/}: installing gnuplot-nox"
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y -q --no-install-recommends gnuplot-nox >/tmp/kmbox-plot-apt.log 2>&1 ||
		{ apt-get update -q >>/tmp/kmbox-plot-apt.log 2>&1 &&
		  apt-get install -y -q --no-install-recommends gnuplot-nox >>/tmp/kmbox-plot-apt.log 2>&1; } ||
		die "apt-get install gnuplot-nox failed; see /tmp/kmbox-plot-apt.log"
fi
term="pngcairo size 1500,1500 font 'sans,10'"
gnuplot -e "set terminal pngcairo" >/dev/null 2>&1 || term="png size 1500,1500"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# summary.csv columns: 1 placement, 2 workload, 3 producers, 4 consumers,
# 5 mechanism, 6 size, 7 rounds_ok, 8 status, 9 p50_us, 10 p99_us,
# 11 msgs_per_s, 12 mb_per_s, ...
made=0
for place in cross same; do
	# message sizes of this placement, ascending: x positions 0..n-1
	sizes=$(awk -F, -v p="$place" 'NR > 1 && $1 == p && ($2 == "latency" || $2 == "stream") && $8 == "ok" { print $6 }' "$csv" | sort -n -u)
	[ -n "$sizes" ] || continue
	xtics=$(echo "$sizes" | awk '
		function label(s) {
			if (s >= 1048576 && s % 1048576 == 0) return s / 1048576 " MiB"
			if (s >= 1024 && s % 1024 == 0) return s / 1024 " KiB"
			return s " B"
		}
		{ printf "%s\"%s\" %d", (NR > 1 ? ", " : ""), label($1), NR - 1 }')
	# one data file per (workload, mechanism): x, value
	awk -F, -v p="$place" -v d="$tmp" -v sizes="$sizes" '
		BEGIN { n = split(sizes, s, "\n"); for (i = 1; i <= n; i++) x[s[i]] = i - 1 }
		NR > 1 && $1 == p && ($2 == "latency" || $2 == "stream") && $8 == "ok" && ($6 in x) {
			f = d "/" $2 "." $5 ".dat"
			mb = "NaN"
			if ($6 > 0) mb = $12
			if ($2 == "latency") { print x[$6], $9 > f }
			else { print x[$6], $11, mb > f }
		}' "$csv"
	# mechanism names are [a-z0-9-]: plain words for gnuplot
	lat_files=$(find "$tmp" -name 'latency.*.dat' -printf '%f\n' | sort | tr '\n' ' ')
	str_files=$(find "$tmp" -name 'stream.*.dat' -printf '%f\n' | sort | tr '\n' ' ')
	title="kmbox-bench, $( [ "$place" = cross ] && echo 'processes on different CPUs' || echo 'processes on one CPU')"
	host=$(awk -F'|' '$2 ~ /^ kernel / { print $3 }' "$dir/report.md" 2>/dev/null | head -n 1 | sed 's/^ *//; s/ *$//; s/"//g; s/ (.*//')
	out=$dir/plot-$place.png
	(cd "$tmp" && gnuplot) <<EOF
set terminal $term
set output "$out"
set termoption noenhanced
set multiplot layout 3,1 title "$title${host:+ — $host}"
set grid
set key outside right top
set logscale y
set xtics ($xtics)
set xrange [-0.3:*]
set xlabel "message size"
lat = "$lat_files"
str = "$str_files"
name(f) = substr(f, strstrt(f, ".") + 1, strlen(f) - 4)
wid(f) = strstrt(f, "kmbox") ? 3 : 1.3
set ylabel "round trip p50, µs (lower is better)"
set title "Ping-pong round-trip latency"
plot for [i=1:words(lat)] word(lat, i) using 1:2 with linespoints lw wid(word(lat, i)) pt (i % 13) + 1 dt 1 + (i > 8) title name(word(lat, i))
set ylabel "messages/s (higher is better)"
set title "One-way streaming throughput, messages per second"
plot for [i=1:words(str)] word(str, i) using 1:2 with linespoints lw wid(word(str, i)) pt (i % 13) + 1 dt 1 + (i > 8) title name(word(str, i))
set ylabel "MB/s of payload (higher is better)"
set title "One-way streaming throughput, payload bytes"
plot for [i=1:words(str)] word(str, i) using 1:3 with linespoints lw wid(word(str, i)) pt (i % 13) + 1 dt 1 + (i > 8) title name(word(str, i))
unset multiplot
EOF
	rm -f "$tmp"/*.dat
	echo "${0##*/}: wrote $out"
	made=$((made + 1))
done
[ "$made" -gt 0 ] || die "no latency or stream rows with status ok in $csv"
