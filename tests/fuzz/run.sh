#!/usr/bin/env bash
# Runs every libFuzzer target of a fuzz build for a bounded time each, one after another, from
# its seed corpus in tests/fuzz/corpus/<target>/ (read only: what a run finds goes to
# BUILD/fuzz-corpus/<target>/, kept for the next run, and a crashing input to
# BUILD/fuzz-artifacts/). Exits non-zero when a target crashes, leaks, trips a sanitizer or a
# check, or is missing.
#
#   tests/fuzz/run.sh BUILD [SECONDS]     e.g. tests/fuzz/run.sh build-fuzz 30
#
# BUILD is a build directory configured with clang and -DVMUX_FUZZ=ON (tests/fuzz/CMakeLists.txt)
# and built with --target vmux_fuzz. SECONDS (default 30) is each target's -max_total_time.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
build=${1:?usage: run.sh BUILD [SECONDS]}
seconds=${2:-30}
targets=(fuzz_config fuzz_reader fuzz_command fuzz_format)

failed=0
for t in "${targets[@]}"; do
    bin=$build/tests/fuzz/$t
    if [ ! -x "$bin" ]; then
        echo "fuzz: $bin is missing (configure with clang and -DVMUX_FUZZ=ON)" >&2
        failed=1
        continue
    fi
    mkdir -p "$build/fuzz-corpus/$t" "$build/fuzz-artifacts"
    echo "fuzz: $t for ${seconds}s"
    # -timeout: one input may take 10 s at most (a hang is a failure too); -max_len: the inputs
    # that matter are short, and short ones run fast.
    if "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=1024 \
        -print_final_stats=1 -artifact_prefix="$build/fuzz-artifacts/$t-" \
        "$build/fuzz-corpus/$t" "$here/corpus/$t" >"$build/fuzz-$t.log" 2>&1; then
        grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb)' "$build/fuzz-$t.log" |
            sed "s/^/fuzz: $t: /" || true
    else
        echo "fuzz: $t FAILED; the end of its log ($build/fuzz-$t.log):" >&2
        tail -n 40 "$build/fuzz-$t.log" >&2
        failed=1
    fi
done
exit $failed
