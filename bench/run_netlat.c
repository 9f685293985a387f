/*
 * The netlat rows: the clients against a valkey-server one network hop away, in a network
 * namespace behind a veth pair, with a delay each way (--latency-us, 100 µs by default: a
 * 200 µs round trip, as between hosts of one cloud zone).
 *
 * The delay is netem's on both veth ends where the kernel has netem; where it has not, a
 * forwarding proxy (delay_proxy.c) on the bench's side of the veth holds every chunk for the
 * delay instead, and the rows say "delay: userspace-proxy". The -net0 rows run first, over the
 * same path with the delay at 0 (netem at 0, or the proxy forwarding at once), so that
 * vmux-async-net / vmux-async-net0 isolates what the latency costs pipelining, and the sync pair
 * at 0 shows what the path itself (the proxy's work above all) does to the sync ratio.
 */
#include "bench.h"
#include "report.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* A fresh namespace listens on nothing: any port is free. */
#define NETLAT_SERVER_PORT 6379
#define NETLAT_ROWS 6

/* Everything the rows run on; torn down in the reverse order. */
typedef struct netlat_env {
    bench_netns ns;
    bench_server srv;
    delay_proxy proxy;
    bool have_proxy;
    bench_opts o; /* the rows' options: the server's or the proxy's address */
    const char *delay;
} netlat_env;

typedef struct netlat_row {
    const char *name;
    int threads, inflight;
    bool delayed;
} netlat_row;

/* The two rows of a ratio one after the other; the no-delay ones first, as the delay stays. */
static const netlat_row ROWS[NETLAT_ROWS] = {
    {"vmux-sync-net0", 32, 32, false},   {"hiredis-sync-net0", 32, 32, false},
    {"vmux-async-net0", 1, 1024, false}, {"vmux-async-net", 1, 1024, true},
    {"vmux-sync-net", 32, 32, true},     {"hiredis-sync-net", 32, 32, true},
};

/* Puts the delay on the path: netem if the kernel has it, else the proxy. */
static int choose_delay(netlat_env *e, char *why, size_t whylen)
{
    if (netns_set_netem(&e->ns, 0, why, whylen) == 0) {
        e->delay = "netem";
        return 0;
    }
    e->delay = "userspace-proxy";
    char err[256];
    if (delay_proxy_start(&e->proxy, e->ns.host_addr, e->ns.ns_addr, NETLAT_SERVER_PORT, &e->ns,
                          err, sizeof(err)) != 0) {
        snprintf(why, whylen, "%s", err);
        return -1;
    }
    e->have_proxy = true;
    snprintf(e->o.host, sizeof(e->o.host), "%s", e->ns.host_addr);
    e->o.port = e->proxy.port;
    e->o.proxy = &e->proxy;
    return 0;
}

static void teardown(netlat_env *e)
{
    if (e->have_proxy)
        delay_proxy_stop(&e->proxy);
    e->have_proxy = false;
    server_stop(&e->srv);
    netns_destroy(&e->ns);
}

/* The note under the header: where the server is and which delay the rows carry. */
static void describe(const bench_opts *o, const netlat_env *e, const char *netem_why)
{
    char line[1536], via[160] = "";
    if (e->have_proxy)
        snprintf(via, sizeof(via),
                 " (pid %d, listening on %s:%d; netem unavailable: ", e->proxy.pid, e->ns.host_addr,
                 e->proxy.port);
    snprintf(line, sizeof(line),
             "netlat rows: valkey-server (pid %d) in network namespace %s on %s:%d, over veth "
             "%s from %s; delay: %s%s%s%s, %d µs each way (%d µs round trip); the -net0 rows: "
             "the same path without delay",
             e->srv.pid, e->ns.name, e->ns.ns_addr, NETLAT_SERVER_PORT, e->ns.host_if,
             e->ns.host_addr, e->delay, via, e->have_proxy ? netem_why : "",
             e->have_proxy ? ")" : "", o->latency_us, 2 * o->latency_us);
    report_note(o, line);
}

/* Readies the namespace, the server in it and the delay: 0; 1 to skip the rows; -1. */
static int setup(const bench_opts *o, netlat_env *e)
{
    char why[768];
    memset(e, 0, sizeof(*e));
    e->o = *o;
    e->o.tls = NULL;
    if (geteuid() != 0) {
        report_note(o, "netlat rows skipped: not root (the network namespace, veth pair and "
                       "delay need root)");
        return 1;
    }
    if (netns_create(&e->ns, why, sizeof(why)) != 0) {
        char line[900];
        snprintf(line, sizeof(line), "netlat rows skipped: no network namespace: %s", why);
        report_note(o, line);
        return 1;
    }
    snprintf(e->o.host, sizeof(e->o.host), "%s", e->ns.ns_addr);
    e->o.port = NETLAT_SERVER_PORT;
    int rc = server_start_netns(&e->srv, &e->o, e->ns.name) == 0 ? server_prefill(&e->o) : -1;
    if (rc == 0 && choose_delay(e, why, sizeof(why)) != 0) {
        fprintf(stderr, "vmux-bench: netlat: %s\n", why);
        rc = -1;
    }
    if (rc != 0) {
        teardown(e);
        return -1;
    }
    describe(o, e, why);
    return 0;
}

/* Switches the path to the configured delay. */
static int add_delay(netlat_env *e)
{
    char why[768];
    if (e->have_proxy) {
        delay_proxy_set_delay(&e->proxy, e->o.latency_us);
        return 0;
    }
    if (netns_set_netem(&e->ns, e->o.latency_us, why, sizeof(why)) == 0)
        return 0;
    fprintf(stderr, "vmux-bench: netlat: %s\n", why);
    return -1;
}

static int run_row(const netlat_env *e, const netlat_row *row, bench_result *r)
{
    int rc;
    if (strncmp(row->name, "vmux-async", 10) == 0)
        rc = run_vmux_async(&e->o, row->inflight, r);
    else if (strncmp(row->name, "vmux-sync", 9) == 0)
        rc = run_vmux_sync(&e->o, row->threads, r);
    else
        rc = run_hiredis_sync(&e->o, row->threads, r);
    r->name = row->name;
    r->delay = e->delay;
    r->rtt_us = row->delayed ? 2 * e->o.latency_us : 0;
    return rc;
}

int run_netlat(const bench_opts *o, bench_result *results, size_t cap, size_t *n)
{
    netlat_env e;
    int rc = setup(o, &e), failures = 0;
    if (rc > 0)
        return 0;
    bool up = rc == 0, delayed = false;
    for (int i = 0; i < NETLAT_ROWS; i++) {
        const netlat_row *row = &ROWS[i];
        bench_result r = {0};
        if (rc == 0 && row->delayed && !delayed) {
            rc = add_delay(&e);
            delayed = true;
        }
        if (rc == 0 && run_row(&e, row, &r) == 0 && *n < cap) {
            results[(*n)++] = r;
            report_row(o, &r);
        } else {
            failures++;
            report_failed(o, row->name, row->threads, row->inflight);
        }
    }
    if (up)
        teardown(&e);
    return failures;
}
