/*
 * vmux-bench: shared declarations. Every family of configurations (vmux-sync, vmux-async,
 * hiredis-sync, raw-pipeline, valkey-benchmark, and the -tls twins of vmux-sync, vmux-async and
 * valkey-benchmark) runs the same workload against the same server (a TLS-only one for the
 * twins) and fills one bench_result per configuration. docs/benchmarks.md explains the choices.
 */
#ifndef VMUX_BENCH_BENCH_H
#define VMUX_BENCH_BENCH_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "hist.h"

/* The workload: GET/SET 50/50 on "key:%05d" with 10,000 keys, 16-byte values. */
#define BENCH_KEYSPACE 10000
#define BENCH_VALUE_LEN 16
#define BENCH_KEY_CAP 16

/* How long the blocking clients wait on a silent server before the row fails. */
#define BENCH_IO_TIMEOUT_S 10

#define BENCH_PATH_CAP 512

/* The -cluster rows' cluster: BENCH_CLUSTER_DEFAULT primaries (--cluster-primaries 1..MAX). */
#define BENCH_CLUSTER_DEFAULT 3
#define BENCH_CLUSTER_NODES 6

/* The delay proxy's histogram of how long it held each chunk: 2 µs buckets up to 1 ms. */
#define BENCH_HOLD_BUCKETS 512
#define BENCH_HOLD_BUCKET_NS 2000u

struct delay_proxy;

/* How a TLS client trusts the TLS server and, for tls-auth-clients yes, proves who it is. */
typedef struct bench_tls {
    char ca_file[BENCH_PATH_CAP];
    char cert_file[BENCH_PATH_CAP]; /* "" for no client certificate */
    char key_file[BENCH_PATH_CAP];
    char name[64]; /* the name to check in the certificate (sslHost, --sni); "" for the host */
} bench_tls;

/*
 * host:port is the server of the rows being run. main() keeps one copy for the plain rows and
 * one for the TLS rows, whose tls points at how to reach it (NULL: plain TCP).
 */
/* The most rounds --reps may ask for. */
#define BENCH_MAX_REPS 25

typedef struct bench_opts {
    char host[64];
    int port;
    const bench_tls *tls;
    bool cluster;   /* a cluster node: the handle opens with cluster=yes (the -cluster rows) */
    double seconds; /* measured window per configuration */
    double warmup;  /* unmeasured lead-in per configuration */
    bool json;
    unsigned families; /* bit set of BENCH_FAM_* to run */
    int latency_us;    /* the netlat rows' one-way delay (--latency-us) */
    /* The netlat rows through the user-space delay proxy: its CPU time and counters are
     * sampled around the measured window too. NULL otherwise. */
    const struct delay_proxy *proxy;
} bench_opts;

enum {
    BENCH_FAM_VMUX_SYNC = 1u << 0,
    BENCH_FAM_VMUX_ASYNC = 1u << 1,
    BENCH_FAM_HIREDIS_SYNC = 1u << 2,
    BENCH_FAM_RAW_PIPELINE = 1u << 3,
    BENCH_FAM_VALKEY_BENCHMARK = 1u << 4,
    BENCH_FAM_VMUX_SYNC_TLS = 1u << 5,
    BENCH_FAM_VMUX_ASYNC_TLS = 1u << 6,
    BENCH_FAM_VALKEY_BENCHMARK_TLS = 1u << 7,
    BENCH_FAM_VMUX_GET = 1u << 8, /* the patterns' rows (run_patterns.c) */
    BENCH_FAM_CACHE_HIT = 1u << 9,
    BENCH_FAM_VMUX_INCR = 1u << 10,
    BENCH_FAM_RL_FIXED = 1u << 11,
    BENCH_FAM_RL_SLIDING = 1u << 12,
    BENCH_FAM_RL_GCRA = 1u << 13,
    BENCH_FAM_LOCK_PAIR = 1u << 14,
    BENCH_FAM_NETLAT = 1u << 15,            /* the network latency rows (run_netlat.c) */
    BENCH_FAM_VMUX_SYNC_CLUSTER = 1u << 16, /* vmux-sync and vmux-async on a 3-primary cluster */
    BENCH_FAM_VMUX_ASYNC_CLUSTER = 1u << 17,
    BENCH_FAM_NEAR_HIT = 1u << 18, /* vmux_near_get hits (run_patterns.c, near_row.c) */
};
#define BENCH_FAM_PATTERNS                                                                         \
    (BENCH_FAM_VMUX_GET | BENCH_FAM_CACHE_HIT | BENCH_FAM_VMUX_INCR | BENCH_FAM_RL_FIXED |         \
     BENCH_FAM_RL_SLIDING | BENCH_FAM_RL_GCRA | BENCH_FAM_LOCK_PAIR | BENCH_FAM_NEAR_HIT)
#define BENCH_FAM_TLS                                                                              \
    (BENCH_FAM_VMUX_SYNC_TLS | BENCH_FAM_VMUX_ASYNC_TLS | BENCH_FAM_VALKEY_BENCHMARK_TLS)
#define BENCH_FAM_CLUSTER (BENCH_FAM_VMUX_SYNC_CLUSTER | BENCH_FAM_VMUX_ASYNC_CLUSTER)

typedef struct bench_result {
    const char *name;
    int threads;
    int inflight;
    double ops_per_sec;
    double p50_us;
    double p99_us;
    /* The whole bench process during the measured window (getrusage: every thread, vmux's I/O
     * thread included), per op; NAN where the row does not measure it (valkey-benchmark). */
    double cpu_us_per_op;
    double cs_per_op; /* voluntary + involuntary context switches */
    /* The part of cpu_us_per_op spent on vmux's I/O threads (the threads named vmux-io, read from
     * /proc/self/task/N/schedstat); NAN where no vmux handle is open (hiredis, raw). */
    double io_cpu_us_per_op;
    /* The netlat rows: "netem" or "userspace-proxy" (NULL for every other row), and the round
     * trip the delay adds (0 for the no-delay baseline). */
    const char *delay;
    int rtt_us;
    /* Through the delay proxy: its CPU time (and the part of it spent spinning) and the
     * chunks it forwarded (both directions) per op, and how long it held a chunk, p50 and
     * p99; NAN without the proxy. */
    double proxy_cpu_us_per_op;
    double proxy_spin_us_per_op; /* the part of its CPU time spent spinning to be on time */
    double proxy_chunks_per_op;
    double proxy_hold_p50_us;
    double proxy_hold_p99_us;
    /* The near-cache-hit rows (tracked true): the server's tracking table (INFO's
     * tracking_total_keys, tracking_total_items) after the fill and after the measured window,
     * and the near cache's misses over the whole row after the fill (0: every read hit). */
    bool tracked;
    long long tracking_keys_before, tracking_items_before;
    long long tracking_keys, tracking_items;
    unsigned long long near_misses;
    /* --reps: the round (from 1) this row was measured in, 0 for a run of one round or a median
     * row; and for a median row (rounds.c), how many rounds' rows it is the median of. */
    int round;
    int rounds;
} bench_result;

/* What the delay proxy has done so far (delay_proxy_sample). */
typedef struct proxy_counters {
    double cpu_s;
    uint64_t chunks;
    uint64_t spin_ns;
    uint64_t hold[BENCH_HOLD_BUCKETS];
} proxy_counters;

/* CPU time and context switches of this process over a measured window (drive_phases), and
 * what the delay proxy did meanwhile when o->proxy is set. */
typedef struct bench_usage {
    double cpu_s;
    double cs;
    double io_cpu_s; /* of the vmux-io threads; NAN without one */
    bool proxied;
    proxy_counters proxy;
} bench_usage;

/* One command of the workload, ready for an argv-style API. */
typedef struct bench_cmd {
    int argc;
    const char *argv[3];
    size_t argvlen[3];
    char key[BENCH_KEY_CAP];
} bench_cmd;

/* Phases of one configuration; workers read it with relaxed loads on every op. */
enum { PHASE_WARMUP = 0, PHASE_MEASURE = 1, PHASE_STOP = 2 };

static inline uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- workload.c ---- */
extern const char bench_value[BENCH_VALUE_LEN + 1];
uint64_t workload_seed(unsigned stream);
/* Draws the next command (GET or SET on a random key) into c. */
void workload_next(uint64_t *rng, bench_cmd *c);
/* Appends one drawn command, RESP-encoded, to buf; returns its length (0 if cap is short). */
size_t workload_encode(uint64_t *rng, char *buf, size_t cap);

/* ---- driver.c ---- */

/*
 * Runs the phases of one configuration on the calling thread: warm-up, then the measured
 * window, then PHASE_STOP. Ends early when *failed becomes nonzero. Returns the measured
 * window's length in seconds, and the process's CPU time and context switches over it in *u.
 */
double drive_phases(const bench_opts *o, atomic_int *phase, const atomic_int *failed,
                    bench_usage *u);

/* One blocking request/response on a per-thread context; returns 0, or -1 on any error. */
typedef int (*sync_op_fn)(void *ctx, const bench_cmd *c);

/*
 * Runs nthreads threads, thread i calling op(ctxs[i], ...) in a loop, through the phases, and
 * fills r (name, threads, inflight are the caller's). Returns 0, or -1 when an op failed or a
 * thread could not start (the message is printed).
 */
int drive_sync(const bench_opts *o, int nthreads, sync_op_fn op, void *const *ctxs,
               bench_result *r);

/* Fills ops/s, percentiles and per-op usage of r from a merged histogram and the window. */
void result_from_hist(bench_result *r, const hist *h, double window_s, const bench_usage *u);

/*
 * ---- the families: each returns 0, or -1 after printing why to stderr. The vmux and
 * valkey-benchmark ones run over TLS when o->tls is set, and then name their row "<name>-tls";
 * the vmux ones with o->cluster name it "<name>-cluster".
 */
int run_hiredis_sync(const bench_opts *o, int threads, bench_result *r);
int run_raw_pipeline(const bench_opts *o, int inflight, bench_result *r);
int run_valkey_benchmark(const bench_opts *o, bench_result *r);
int run_vmux_sync(const bench_opts *o, int threads, bench_result *r);
int run_vmux_async(const bench_opts *o, int inflight, bench_result *r);
/* One of the patterns' rows (a BENCH_FAM_* of BENCH_FAM_PATTERNS) from threads threads. */
int run_pattern(const bench_opts *o, unsigned fam, int threads, bench_result *r);
/*
 * The netlat rows (run_netlat.c), against a valkey-server in a network namespace:
 * vmux-sync-net0@32, hiredis-sync-net0@32 and vmux-async-net0@1024 (the path without delay),
 * then with o->latency_us each way vmux-async-net@1024, vmux-sync-net@32, hiredis-sync-net@32.
 * Appends what ran to results (at most cap in all, *n so far) and reports each row. Not root, or no
 * namespace: skipped with a note, 0. Returns the number of rows that failed.
 */
int run_netlat(const bench_opts *o, bench_result *results, size_t cap, size_t *n);

struct vmux;
/*
 * near_row.c: reads every key of the keyspace (prefix + "key:%05d") through vmux_near_get on m
 * until the near cache holds them all (reads made before its invalidation connection is up are
 * not stored), within a deadline. Returns 0, or -1 after printing why.
 */
int near_fill(struct vmux *m, const char *prefix);
/* The server's tracking table from INFO stats (a hiredis connection of its own); 0, or -1. */
int near_tracking(const bench_opts *o, long long *keys, long long *items);
/*
 * Opens a vmux handle on o's server (over TLS when o->tls is set), with the config keys in
 * extra ("" for none) on top. Returns 0, or a VMUX_ERR_* code with the reason in err.
 */
int bench_vmux_open(const bench_opts *o, const char *extra, struct vmux **out, char *err,
                    size_t errlen);

/* ---- server.c ---- */
typedef struct bench_server {
    int pid; /* 0 when no server was started */
    int port;
} bench_server;

/*
 * Starts a throwaway valkey-server on a free loopback port and waits until it answers. With
 * certs_dir (made by tests/support/gen-certs.sh) it is TLS-only: --port 0, --tls-port on the
 * free port, serving server.crt and trusting ca.crt, with tls-auth-clients no; o->tls says how
 * the readiness check trusts it. o->host and o->port are ignored.
 */
int server_start(bench_server *s, const bench_opts *o, const char *certs_dir);
/* The extra valkey-server arguments for a server about to listen on port (NULL-terminated, alive
 * until the server is up), or NULL after printing why it cannot start. */
typedef const char *const *(*server_args_fn)(int port, void *arg);
/* server_start() with the arguments args(port, arg) added (args NULL: none). */
int server_start_args(bench_server *s, const bench_opts *o, const char *certs_dir,
                      server_args_fn args, void *arg);
/* A loopback port that was free a moment ago, or -1. */
int server_free_port(void);
/*
 * --pin: the calling process (and the threads it makes later) on CPU 0, and each server started
 * afterwards on the other CPUs, so that the client's CPU time is measured without the servers
 * scheduled on its core (the cluster rows' three servers share the others). Returns 0, or -1
 * with a message (fewer than 2 CPUs, or sched_setaffinity() refused).
 */
int server_pin(void);
/* Starts a plain throwaway valkey-server inside network namespace netns (ip netns exec),
 * listening on o->host:o->port (an address of the namespace), and waits until it answers. */
int server_start_netns(bench_server *s, const bench_opts *o, const char *netns);
/* Stops a server started by server_start() (by its pid) and reaps it. */
void server_stop(bench_server *s);
/*
 * Waits until o's server answers PING, for at most timeout_s. Returns 0, -1 on timeout, or -2
 * when the process pid (if nonzero) exited meanwhile (it has been reaped).
 */
int server_wait_ping(const bench_opts *o, int pid, double timeout_s);
/* Writes every key of the keyspace to o's server, so GETs hit. */
int server_prefill(const bench_opts *o);
/*
 * Kills the started servers and removes the generated certificates on SIGINT/SIGTERM before
 * exiting; ignores SIGPIPE.
 */
void server_install_signal_handlers(void);

/* ---- tls.c: what the TLS rows need beyond the plain ones ---- */

/*
 * Makes a temporary directory and runs script (gen-certs.sh) to fill DIR/certs with a test CA
 * and a server certificate for 127.0.0.1; certs_dir receives that path. Returns 0, or -1 with
 * the reason in err (and nothing left behind).
 */
int certs_generate(const char *script, char *certs_dir, size_t cap, char *err, size_t errlen);
/* Removes what certs_generate() made. Async-signal-safe, so the signal handler may call it. */
void certs_remove(void);
/* PING over TLS through vmux (hiredis 0.14 has no TLS); 1 when PONG came back. */
int tls_ping_once(const bench_opts *o, char *err, size_t errlen);
/* server_prefill() through vmux: over TLS (hiredis 0.14 has none), or on a cluster (vmux routes).
 */
int tls_prefill(const bench_opts *o);

/* ---- cluster.c: the -cluster rows' cluster ---- */
typedef struct bench_cluster {
    bench_server nodes[BENCH_CLUSTER_NODES];
    int started;
    int want; /* how many primaries (1..BENCH_CLUSTER_NODES) */
} bench_cluster;

/*
 * Starts `primaries` (1..BENCH_CLUSTER_NODES) throwaway valkey-server cluster nodes
 * (cluster-enabled, no replicas) on free loopback ports, gives each an equal range of the slots
 * (CLUSTER ADDSLOTSRANGE) and introduces it to the first (CLUSTER MEET), waits (with a deadline)
 * until every node says cluster_state:ok with all slots assigned and every node known, and sets
 * o's port to the first node's (the seed). Returns 0, or -1 with the reason in why and nothing
 * left running.
 */
int cluster_start(bench_cluster *c, int primaries, bench_opts *o, char *why, size_t whylen);
/* "P1, P2, P3": the nodes' ports. */
void cluster_ports(const bench_cluster *c, char *out, size_t cap);
/* Describes how the keys are spread: "keys per primary: N/N/N" (DBSIZE of each node). */
void cluster_describe(const bench_cluster *c, char *out, size_t cap);
/* Stops the nodes and removes their files. */
void cluster_stop(bench_cluster *c);
/* Removes the nodes' files (nodes.conf); async-signal-safe, for the signal handler. */
void cluster_files_remove(void);

/* ---- netns.c: the network namespace of the netlat rows ---- */
typedef struct bench_netns {
    char name[32];      /* "vmux-bench-PID" */
    char host_if[16];   /* the veth end on the bench's side */
    char ns_if[16];     /* the end inside the namespace */
    char host_addr[32]; /* 198.18.x.y on host_if */
    char ns_addr[32];   /* the next address, on ns_if: the server's */
    int janitor_pid;
    int janitor_fd; /* the janitor's pipe; -1 when there is no janitor */
    bool netem;     /* netem qdiscs are on both ends */
} bench_netns;

/*
 * Makes the namespace, the veth pair and their addresses (after removing what runs of benches
 * that are gone left behind), and the janitor that removes them all when netns_destroy() runs
 * or this process ends in any way. Returns 0, or -1 with the reason in why (nothing left).
 */
int netns_create(bench_netns *n, char *why, size_t whylen);
/* Puts (or changes) netem delay of delay_us on both veth ends; -1 with the reason in why when
 * tc cannot (no netem in the kernel, no tc). */
int netns_set_netem(bench_netns *n, int delay_us, char *why, size_t whylen);
/* Has the janitor remove the namespace, the veth pair and every process inside, and waits. */
void netns_destroy(bench_netns *n);
/* In a forked child that does not exec: lets go of the janitor's pipe. */
void netns_forget_in_child(bench_netns *n);

/* ---- delay_proxy.c: the user-space stand-in for netem ---- */
typedef struct delay_proxy {
    int pid;
    int port; /* where it listens */
    clockid_t cpu_clock;
    struct proxy_shared *sh;
} delay_proxy;

/*
 * Starts the proxy in a child process, listening on listen_host (port in p->port) and
 * forwarding each connection to up_host:up_port, holding every chunk for the delay (0 until
 * delay_proxy_set_delay). Returns 0, or -1 with the reason in why.
 */
int delay_proxy_start(delay_proxy *p, const char *listen_host, const char *up_host, int up_port,
                      bench_netns *ns, char *why, size_t whylen);
/* Sets the one-way delay of the chunks read from now on. */
void delay_proxy_set_delay(delay_proxy *p, int delay_us);
/* Its CPU time so far, the chunks it forwarded and its histogram of hold times. */
void delay_proxy_sample(const delay_proxy *p, proxy_counters *out);
/* Kills and reaps it, and frees the shared memory. */
void delay_proxy_stop(delay_proxy *p);

#endif
