/*
 * Helpers shared by the resilience tests: a ledger of command outcomes, a side channel to a
 * server by port (not through vmux), connection-event counters, and waits on the handle's
 * counters.
 */
#ifndef VMUX_RESIL_H
#define VMUX_RESIL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "faultproxy.h"
#include "servers.h"
#include "vmux/vmux.h"

/*
 * Outcomes by code: slot -rc for rc in 0..-31. "bad" counts outcomes that are wrong in
 * themselves (a reply of the wrong type or value, a second completion, a call that outlived
 * its deadline by more than the margin), with the first one described in what.
 */
enum { RT_SLOTS = 32 };
typedef struct rt_ledger {
    atomic_ulong n[RT_SLOTS];
    atomic_ulong bad;
    atomic_flag noted;
    char what[256];
} rt_ledger;

void rt_ledger_add(rt_ledger *l, int rc);
unsigned long rt_ledger_get(rt_ledger *l, int rc);
unsigned long rt_ledger_total(rt_ledger *l);
/* Records a wrong outcome; the first one's description is kept. */
void rt_ledger_bad(rt_ledger *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prints the ledger's non-zero slots on stdout, after title. */
void rt_ledger_print(rt_ledger *l, const char *title);
/*
 * Fails the running test when the ledger holds a bad outcome or an outcome outside allowed
 * (n codes; 0 is success).
 */
void rt_ledger_expect(rt_ledger *l, const int *allowed, int n);

/* Reads the handle's counters (fails the test on error). */
vmux_stats rt_stats(vmux *m);

/*
 * After every command of the handle has completed: the counters add up (submitted equals the
 * sum of the completion counters) and match the ledger of those commands, outcome by outcome.
 */
void rt_stats_match_ledger(vmux *m, rt_ledger *l);

/*
 * Sends one command (hiredis format) to 127.0.0.1:port over a fresh blocking connection with
 * a 5 s timeout. Returns the reply as a malloc'ed string (integers in decimal, nil as "(nil)",
 * arrays one element per line, errors prefixed with "-"), or NULL on a connection failure.
 */
char *rt_admin(int port, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* rt_admin() for an integer reply (or a bulk string holding one); fails the test otherwise. */
long long rt_admin_int(int port, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Connection events of a handle, counted; register rt_on_event with this as userdata. */
typedef struct rt_events {
    atomic_ulong failed, restored, error;
    atomic_int last_code;
} rt_events;
void rt_on_event(const vmux_event *ev, void *userdata);

/* Waits (deadline ms) until the handle's counter at offset field reaches at least want. */
bool rt_wait_stat(vmux *m, size_t field, uint64_t want, int deadline_ms);
#define RT_STAT(name) offsetof(vmux_stats, name)

/* Waits (deadline ms) until *v reaches at least want. */
bool rt_wait_count(atomic_ulong *v, unsigned long want, int deadline_ms);

/* Opens a handle from a configuration string; fails the test on error. */
vmux *rt_open(const char *conf);
/* Opens a handle from a configuration string with an event counter; fails the test on error. */
vmux *rt_open_events(const char *conf, rt_events *ev);

/*
 * The first failure of a step that runs while worker threads still use the handle. Failing at
 * once would leave the test function (cmocka longjmps out) while they run, and the teardown
 * would free what they use; so the step records it, the test stops and joins the workers,
 * then rt_soft_finish() fails it.
 */
typedef struct rt_soft {
    char msg[512];
} rt_soft;
/* Returns cond; when it is false, records the message (the first one only). */
bool rt_soft_check(rt_soft *s, bool cond, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Fails the running test with the recorded message, if any. */
void rt_soft_finish(rt_soft *s);

/* A name unique to this process and call, for keys: "<prefix>:<pid>:<n>". */
void rt_unique(char *buf, size_t len, const char *prefix);

/* A test-owned server behind a fault proxy, and a handle (with event counters) on the proxy. */
typedef struct rt_proxied {
    vt_server server;
    vt_proxy *proxy;
    vmux *m;
    rt_events ev;
} rt_proxied;

/* Starts the server and the proxy and opens the handle with opts; NULL when anything fails. */
rt_proxied *rt_proxied_start(const char *opts);
/* Closes the handle, stops the proxy and the server, frees f. */
void rt_proxied_stop(rt_proxied *f);

/*
 * A load of INCRs and GETs on a proxied handle: RT_LOAD_THREADS threads, thread i calling
 * round(its worker, "<prefix>:t<i>") again and again until stop. round records each outcome in
 * the ledgers (all, and incr or get), counts INCRs that succeeded (ok[i], incr_ok) and those
 * whose fate is unknown (unknown[i]), and may keep the longest call in max_took.
 */
enum { RT_LOAD_THREADS = 16 };
typedef struct rt_load rt_load;
typedef struct rt_worker {
    rt_load *load;
    int id;
    pthread_t thread;
} rt_worker;
struct rt_load {
    rt_proxied *f;
    char prefix[64];
    void (*round)(rt_worker *w, const char *key);
    atomic_bool stop;
    rt_ledger all, incr, get;
    atomic_ulong ok[RT_LOAD_THREADS], unknown[RT_LOAD_THREADS], incr_ok;
    atomic_ulong max_took;
    rt_worker workers[RT_LOAD_THREADS];
};

/* A new load (free() it) on f's handle, its keys named after rt_unique(prefix); fails the test
 * when out of memory. Its threads do not run yet. */
rt_load *rt_load_new(rt_proxied *f, const char *prefix, void (*round)(rt_worker *, const char *));

/*
 * On the test's thread: starts the load's threads, waits up to 30 s for warmup INCRs to succeed,
 * then runs step, which records its failures in soft (the threads still run: it must not fail
 * the test itself); stops and joins the threads, then fails the test with the first failure
 * recorded ("no load within 30 s" when warmup was not reached), if any.
 */
void rt_load_run(rt_load *ld, unsigned long warmup,
                 void (*step)(rt_proxied *f, rt_load *ld, rt_soft *soft));

/*
 * After rt_load_run(): fails the test unless each thread's counter on the server (read with
 * rt_admin) lies between the INCRs that succeeded and those plus the ones whose fate is unknown.
 */
void rt_load_check_counts(rt_load *ld);

#endif
