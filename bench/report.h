/* Printing the results: a table or JSON lines, then the ratios the project targets. */
#ifndef VMUX_BENCH_REPORT_H
#define VMUX_BENCH_REPORT_H

#include <stddef.h>

#include "bench.h"

/* tls_note, cluster_note: a line on the TLS server or the cluster, or why the -tls or -cluster
 * rows are skipped; "" for none. */
void report_header(const bench_opts *o, const char *server_note, const char *tls_note,
                   const char *cluster_note);
/* A line of context: in the table, or on stderr with --json. */
void report_note(const bench_opts *o, const char *line);
void report_row(const bench_opts *o, const bench_result *r);
void report_failed(const bench_opts *o, const char *name, int threads, int inflight);
void report_ratios(const bench_opts *o, const bench_result *all, size_t n);
/*
 * --reps: each ratio computed within each round from that round's rows (all[0..n), marked with
 * their round, 1 to reps), then the median of those; a baseline and what it is compared with ran
 * side by side in each round, so a slow spell of the machine falls on both sides of a ratio.
 */
void report_ratios_of_rounds(const bench_opts *o, const bench_result *all, size_t n, int reps);

#endif
