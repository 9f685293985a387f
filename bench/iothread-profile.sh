#!/bin/bash
# Where the I/O thread's time goes on one bench row, kernel included (docs/benchmarks.md).
#
#   bench/iothread-profile.sh BENCH ROW [SIZE]
#
# BENCH is the vmux-bench binary, ROW a family (vmux-sync, vmux-sync-cluster, ...), SIZE its
# threads or commands in flight (default 32). The row runs for 8 s; from its 4th second the I/O
# thread (named vmux-io) is sampled for 3 s by `perf record -e cpu-clock -g` (kernel stacks need
# /proc/sys/kernel/kptr_restrict 0 and root, or perf_event_paranoid <= 1), and its user and system
# ticks are read from /proc. Printed: the row's line, the thread's user/system split, and its
# samples by what the kernel was doing, per thousand commands so that two rows compare.
set -euo pipefail
bench=${1:?usage: iothread-profile.sh BENCH ROW [SIZE]}
row=${2:?usage: iothread-profile.sh BENCH ROW [SIZE]}
size=${3:-32}
command -v perf >/dev/null || { echo "iothread-profile: perf is not installed" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$bench" --only "$row" --size "$size" --seconds 8 >"$work/out" 2>&1 &
bench_pid=$!
tid=""
for _ in $(seq 1 100); do # the handle opens within the warm-up; wait for its thread by name
    for t in "/proc/$bench_pid"/task/*; do
        [ "$(cat "$t/comm" 2>/dev/null)" = vmux-io ] && tid=$(basename "$t")
    done
    [ -n "$tid" ] && break
    sleep 0.1
done
[ -n "$tid" ] || { echo "iothread-profile: no vmux-io thread in $bench" >&2; exit 1; }
sleep 3 # past the warm-up and the cluster's creation, into the measured window
ticks() { awk '{print $14, $15}' "/proc/$bench_pid/task/$tid/stat"; }
read -r u0 s0 < <(ticks)
perf record -q -e cpu-clock -F 4999 -g -t "$tid" -o "$work/perf.data" -- sleep 3 >/dev/null 2>&1
read -r u1 s1 < <(ticks)
wait "$bench_pid"

line=$(grep -E "^$row " "$work/out" | tail -1)
echo "$line"
ops=$(echo "$line" | awk '{print $4 * 3}')
echo "I/O thread over the 3 s: user $((u1 - u0)) ticks, system $((s1 - s0)) ticks"
perf script -i "$work/perf.data" 2>/dev/null | awk -v ops="$ops" '
    /^vmux-io/ { sampling = 1; stack = ""; depth = 0; next }
    sampling && NF == 0 { count(); sampling = 0; next }
    sampling && depth < 10 { stack = stack " " $2; depth++ }
    function count() {
        n++
        if (stack ~ /futex_wake/) k = "waking callers (futex)"
        else if (stack ~ /exit_to_user_mode_loop/) k = "preempted on the way back from a call"
        else if (stack ~ /sock_def_readable/) k = "waking a server (its socket readable)"
        else if (stack ~ /tcp_sendmsg|sock_write_iter|loopback_xmit|net_rx_action/) k = "writing to sockets (TCP, loopback)"
        else if (stack ~ /sock_read_iter|tcp_recvmsg/) k = "reading sockets"
        else if (stack ~ /eventfd/) k = "the wake-up eventfd"
        else if (stack ~ /epoll/) k = "epoll_wait"
        else if (stack ~ /syscall_64/) k = "other system calls"
        else k = "user space"
        c[k]++
    }
    END {
        if (sampling) count()
        printf "%-42s %8s %14s\n", "samples of the I/O thread (4999 Hz)", "samples", "per 1000 cmds"
        for (k in c) printf "%-42s %8d %14.2f\n", k, c[k], c[k] * 1000 / ops
        printf "%-42s %8d %14.2f\n", "all", n, n * 1000 / ops
    }'
