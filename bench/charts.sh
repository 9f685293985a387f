#!/usr/bin/env bash
# Turns vmux-bench's --json output into SVG charts with gnuplot: throughput (ops/s), latency
# (p50 and p99, log scale) and client CPU per command (log scale), one bar per row, in the
# order the rows ran. docs/benchmarks.md shows the charts this made from its latest run.
#
#   bench/charts.sh [--title TEXT] [--prefix NAME] [--out DIR] [FILE]
#     FILE       the JSON lines (default: stdin), e.g. from
#                build-bench/bench/vmux-bench --json --only vmux-sync,hiredis-sync > run.json
#     --out      where the SVGs go (default: docs/img of this repository)
#     --prefix   the SVGs' names: NAME-throughput.svg, NAME-latency.svg, NAME-cpu.svg
#                (default: bench)
#     --title    a line under each chart's title: when and where the run was made
#
# Needs gnuplot (Debian: gnuplot-nox); as root it installs that package when it is missing.
# Rows without a figure (valkey-benchmark has no CPU figures) show no bar; the "ratios" line
# is left out. Exits 1 when the input has no rows or gnuplot fails, 2 on bad options.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=$root/docs/img
prefix=bench
title=
input=-
while [ $# -gt 0 ]; do
    case $1 in
    --out) out=${2:?--out needs a directory} && shift 2 ;;
    --prefix) prefix=${2:?--prefix needs a name} && shift 2 ;;
    --title) title=${2?--title needs a text} && shift 2 ;;
    -h | --help)
        sed -n '2,17p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
        exit 0
        ;;
    -*)
        echo "charts: unknown option '$1' (try --help)" >&2
        exit 2
        ;;
    *) input=$1 && shift ;;
    esac
done

if ! command -v gnuplot >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "charts: installing gnuplot-nox" >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends gnuplot-nox >&2 ||
            { apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive \
                apt-get install -y -q --no-install-recommends gnuplot-nox >&2; }
    else
        echo "charts: gnuplot is missing: install the Debian package gnuplot-nox" >&2
        exit 1
    fi
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/vmux-charts.XXXXXX")
trap 'rm -rf "$work"' EXIT

# One row per line: label (name@inflight, as the ratios name rows), ops/s, p50, p99, cpu/op.
# The bench writes flat objects with known fields, so awk reads them without a JSON parser;
# null (no figure) becomes "?", gnuplot's missing value.
field() { # field NAME: the value of "NAME": in $0, or "?"
    cat <<'AWK'
function field(name,    m) {
    if (match($0, "\"" name "\":(\"[^\"]*\"|[-0-9.eE+]+|null)")) {
        m = substr($0, RSTART + length(name) + 3, RLENGTH - length(name) - 3)
        gsub(/"/, "", m)
        return m == "null" ? "?" : m
    }
    return "?"
}
AWK
}
awk "$(field)"'
    /"name":"ratios"/ { next }
    /"name":/ {
        printf "%s@%s\t%s\t%s\t%s\t%s\n", field("name"), field("inflight"),
               field("ops_per_sec"), field("p50_us"), field("p99_us"), field("cpu_us_per_op")
    }' "$input" >"$work/rows.tsv"
if [ ! -s "$work/rows.tsv" ]; then
    echo "charts: no benchmark rows in ${input/#-/stdin}" >&2
    exit 1
fi
mkdir -p "$out"

# plot NAME YLABEL LOG PLOTCMD: one chart, the rows' labels along x.
plot() {
    local name=$1 ylabel=$2 log=$3 cmd=$4
    gnuplot <<GP
set terminal svg size 860,500 dynamic enhanced font "sans,11" background rgb "white"
set output "$out/$prefix-$name.svg"
set datafile separator "\t"
set datafile missing "?"
set title "$ylabel" . ("$title" eq "" ? "" : "\n{/*0.8 $title}")
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set key top left opaque
set bmargin 7
set rmargin 10
set grid ytics
set xtics rotate by -35 left nomirror noenhanced
set ylabel "$ylabel"
$([ "$log" = log ] && printf 'set logscale y\nset format y "%%g"')
set yrange [$([ "$log" = log ] && echo "*" || echo 0):*]
plot $cmd
GP
    echo "$out/$prefix-$name.svg"
}

data="'$work/rows.tsv'"
plot throughput "thousand ops/s" lin "$data using (\$2/1000):xtic(1) notitle lc rgb '#3b6ea5'"
plot latency "latency (µs, log scale)" log \
    "$data using 3:xtic(1) title 'p50' lc rgb '#3b6ea5', '' using 4 title 'p99' lc rgb '#d98c2b'"
plot cpu "client CPU per command (µs, log scale)" log \
    "$data using 5:xtic(1) notitle lc rgb '#4f9a55'"
