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
# Two targets run at a time (each is one process on one core: the check's machine has two), so
# the four take 2 x SECONDS of wall time, each still fuzzed for SECONDS; FUZZ_JOBS=1 runs them
# one after another.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
build=${1:?usage: run.sh BUILD [SECONDS]}
seconds=${2:-30}
jobs=${FUZZ_JOBS:-2}
targets=(fuzz_config fuzz_reader fuzz_command fuzz_format)

# run_one TARGET: fuzzes it for SECONDS, prints its stats or the end of its log; non-zero when it
# failed or is missing.
run_one() {
    local t=$1
    local bin=$build/tests/fuzz/$t
    if [ ! -x "$bin" ]; then
        echo "fuzz: $bin is missing (configure with clang and -DVMUX_FUZZ=ON)" >&2
        return 1
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
        return 1
    fi
}

# Batches of $jobs targets; each target's output is printed as one block once its batch ends.
failed=0
for ((i = 0; i < ${#targets[@]}; i += jobs)); do
    pids=() outs=()
    for t in "${targets[@]:i:jobs}"; do
        out=$(mktemp)
        run_one "$t" >"$out" 2>&1 &
        pids+=($!) outs+=("$out")
    done
    for k in "${!pids[@]}"; do
        if wait "${pids[$k]}"; then
            cat "${outs[$k]}"
        else
            cat "${outs[$k]}" >&2
            failed=1
        fi
        rm -f "${outs[$k]}"
    done
done
exit $failed
