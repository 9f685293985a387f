/*
 * Probes of a handle's near cache (vmux/near.h) for the near-cache tests
 * (integration/test_near_cache.c, test_near_typed.c, test_cluster_near.c): its stats, whether a
 * near read gives a value, and waits until a key is stored and hit (tracking works) or until a read
 * sees a value; and the own server of the suites that need one (struct vt_near_server). Each fails
 * the running cmocka test when a call it makes fails or a wait passes its deadline
 * (VT_NEAR_WAIT_MS); vt_near_is() only reads, so worker threads may use it. Any thread.
 */
#ifndef VMUX_TEST_NEARPROBE_H
#define VMUX_TEST_NEARPROBE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "servers.h"
#include "vmux/vmux.h"

#define VT_NEAR_WAIT_MS 60000

/*
 * The server of a near-cache suite that runs on one of its own (test_near_cache.c,
 * test_near_typed.c: FLUSHALL, CLIENT KILL and DEBUG must not reach other tests), and the client
 * name its near-cache handles carry (the suite finds their connections in CLIENT LIST by it).
 * Started from the suite's cmocka group setup and stopped from its teardown, on the main thread.
 */
struct vt_near_server {
    vt_server srv;
    const char *name;
};

/*
 * Starts s's server on a free port with the extra valkey-server arguments (NULL-terminated;
 * NULL: none) and keeps name (not copied: a literal) for vt_near_open(). Returns 0, or -1 as
 * vt_server_start().
 */
int vt_near_server_start(struct vt_near_server *s, const char *name, const char *const *extra);

/* Stops s's server and removes its directory (vt_server_stop()). */
void vt_near_server_stop(struct vt_near_server *s);

/*
 * Opens a handle on s's server with a near cache, named s->name, and the configuration keys extra
 * (NULL: none) after those; NULL if it cannot open (as vt_server_open()). The caller closes it.
 */
vmux *vt_near_open(const struct vt_near_server *s, const char *extra);

/* s as a vmux_str (NUL-terminated s, its length without the NUL). */
vmux_str vt_str(const char *s);

/* m's near cache counters (vmux_near_read_stats()). */
vmux_near_stats vt_near_stats(vmux *m);

/* SET key value through w, with no expiry. */
void vt_set(vmux *w, const char *key, const char *value);

/* Whether a near read of key gives want (NULL: the key is missing). */
bool vt_near_is(vmux *m, const char *key, const char *want);

/* Forgets key, then reads it through m until a read is stored and the next one is a hit. */
void vt_near_until_cached(vmux *m, const char *key, const char *want);

/* SET key value through w, then vt_near_until_cached(m, key, value). */
void vt_near_set_cached(vmux *m, vmux *w, const char *key, const char *value);

/* Reads key through m until a read gives want. */
void vt_near_until_sees(vmux *m, const char *key, const char *want);

/*
 * Reads each of the n keys key_name(i) through m's near cache and through w (no near cache),
 * printing every key whose two values differ; returns how many differ (stale entries).
 */
int vt_near_count_stale(vmux *m, vmux *w, void (*key_name)(char *buf, size_t len, unsigned i),
                        unsigned n);

/* A typed near read (vmux_near_hget(), _hgetall(), _smembers(), or vmux_near_get()) of key. */
struct vt_near_read {
    vmux *m;
    enum { VT_NEAR_GET, VT_NEAR_HGET, VT_NEAR_HGETALL, VT_NEAR_SMEMBERS } kind;
    const char *key;
    const char *field; /* VT_NEAR_HGET's */
};

/*
 * Makes the read; returns its result as text (malloc'ed, the caller frees it): GET's or HGET's
 * value (NULL: missing), HGETALL's "field=value" pairs or SMEMBERS' members sorted and joined
 * by "," ("" when none). Fails the test if the read fails.
 */
char *vt_near_read_text(const struct vt_near_read *r);

/* Whether the read gives want (NULL: a missing value); false if it fails. Any thread. */
bool vt_near_read_is(const struct vt_near_read *r, const char *want);

/*
 * vt_near_until_cached() and vt_near_until_sees() for any read. _until_cached() forgets the key
 * first, every read of it held; vt_near_read_until_hit() does not: it reads until a read gives
 * want from memory.
 */
void vt_near_read_until_cached(const struct vt_near_read *r, const char *want);
void vt_near_read_until_hit(const struct vt_near_read *r, const char *want);
void vt_near_read_until_sees(const struct vt_near_read *r, const char *want);

/* The id of the one client of port's CLIENT LIST whose line holds both marks; -1 if none. */
long long vt_client_id(int port, const char *mark1, const char *mark2);

/* CLIENT KILL ID id on port; fails the test unless exactly that client was killed. */
void vt_kill_client(int port, long long id);

/*
 * CLIENT TRACKINGINFO of m's connection (a standalone server's: the data connection), as text
 * "flags=on,bcast redirect=12 prefixes=a:,b:" (each list in the server's order), in buf.
 */
void vt_tracking_info(vmux *m, char *buf, size_t len);

/* A wait for a near cache flush: m's counter of cause rises above before. */
struct vt_near_flush {
    vmux *m;
    enum { VT_FLUSH_LOST, VT_FLUSH_RECONNECT, VT_FLUSH_MOVED, VT_FLUSH_FAILOVER } cause;
    uint64_t before;
};

/* m's counter of cause (vmux_near_stats' flushes_lost, _reconnect, _moved, _failover). */
uint64_t vt_near_flushes(vmux *m, int cause);

/* Whether the flush arg (a struct vt_near_flush) waits for has been counted: for vt_wait_until. */
bool vt_near_flushed(void *arg);

/* The freshness probes' pause between two near reads: leaves the I/O thread its core. */
#define VT_FRESH_POLL_NS 20000

/*
 * Reads key through m every VT_FRESH_POLL_NS until a read returns want; every read before must
 * return old (never an error, a missing key or a third value). Returns the nanoseconds from
 * since (vt_now_ns()) to that read; fails the test after VT_NEAR_WAIT_MS.
 */
uint64_t vt_near_until_fresh(vmux *m, const char *key, const char *old, const char *want,
                             uint64_t since);

/* Sorts the n > 0 windows lat (ns) and prints "<what> over n writes: p50, p99, max" in µs. */
void vt_near_print_windows(const char *what, uint64_t *lat, size_t n);

/*
 * A stale-read run (test_near_cache.c, test_cluster_near.c): nreaders threads (at most
 * VT_NEAR_RUN_READERS) read random keys of the nkeys that key_name names through m's near cache,
 * and VT_NEAR_RUN_WRITERS threads SET random ones of them, writer i through w[i] ("w<i>-<n>"),
 * until stop; each counts its calls and their failures. The test fills m, w, key_name, nkeys and
 * nreaders (zero the rest), owns and closes the handles.
 */
enum { VT_NEAR_RUN_READERS = 8, VT_NEAR_RUN_WRITERS = 2 };
struct vt_near_run;
struct vt_near_worker {
    struct vt_near_run *run;
    int index;
    pthread_t thread;
};
struct vt_near_run {
    vmux *m;
    vmux *w[VT_NEAR_RUN_WRITERS];
    void (*key_name)(char *buf, size_t len, unsigned i);
    unsigned nkeys;
    int nreaders;
    struct vt_near_worker readers[VT_NEAR_RUN_READERS], writers[VT_NEAR_RUN_WRITERS];
    atomic_bool stop;
    _Atomic uint64_t reads, writes, read_errors, write_errors;
};

/* On the test's thread: starts r's reader and writer threads; fails the test if one cannot
 * start. */
void vt_near_run_start(struct vt_near_run *r);

/* On the test's thread: sets r's stop and joins its threads. */
void vt_near_run_stop(struct vt_near_run *r);

#endif
