/*
 * What the near-cache-hit rows need beyond the other patterns' rows: filling the near cache
 * before the warm-up, so that the measured reads are hits, and the server's tracking table
 * (INFO's tracking_total_keys and tracking_total_items) read around the row, to show that in
 * OPTIN mode it holds only the keys read through the near cache.
 */
#include "bench.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <vmux/vmux.h>

/* How long the fill may take: the invalidation connection comes up once, then every read fills. */
#define FILL_DEADLINE_S 30.0

/* One pass of near reads over the keyspace (prefix + "key:%05d"); 0, or the first error. */
static int read_all(vmux *m, const char *prefix)
{
    char key[BENCH_KEY_CAP + 8];
    for (int i = 0; i < BENCH_KEYSPACE; i++) {
        snprintf(key, sizeof(key), "%skey:%05d", prefix, i);
        vmux_bytes v;
        int rc = vmux_near_get(m, NULL, VMUX_STR(key), &v);
        vmux_bytes_free(&v);
        if (rc != 0)
            return rc;
    }
    return 0;
}

int near_fill(vmux *m, const char *prefix)
{
    /* Reads made before the invalidation connection is ready go untracked and store nothing:
     * pass again until every key is held, within a deadline. */
    uint64_t deadline = now_ns() + (uint64_t)(FILL_DEADLINE_S * 1e9);
    for (;;) {
        int rc = read_all(m, prefix);
        vmux_near_stats st = VMUX_INIT(vmux_near_stats);
        if (rc == 0)
            rc = vmux_near_read_stats(m, &st);
        if (rc != 0) {
            fprintf(stderr, "vmux-bench: near cache fill: %s\n", vmux_err_name(rc));
            return -1;
        }
        if (st.entries >= BENCH_KEYSPACE)
            return 0;
        if (now_ns() > deadline) {
            fprintf(stderr, "vmux-bench: near cache fill: %llu of %d keys held after %.0f s\n",
                    (unsigned long long)st.entries, BENCH_KEYSPACE, FILL_DEADLINE_S);
            return -1;
        }
    }
}

/* The value of "name:" in an INFO reply, or -1 when it is not there. */
static long long info_field(const char *info, const char *name)
{
    size_t len = strlen(name);
    for (const char *p = strstr(info, name); p; p = strstr(p + 1, name))
        if ((p == info || p[-1] == '\n') && p[len] == ':')
            return strtoll(p + len + 1, NULL, 10);
    return -1;
}

int near_tracking(const bench_opts *o, long long *keys, long long *items)
{
    struct timeval tv = {BENCH_IO_TIMEOUT_S, 0};
    redisContext *c = redisConnectWithTimeout(o->host, o->port, tv);
    redisReply *r = c && !c->err ? redisCommand(c, "INFO stats") : NULL;
    int rc = -1;
    if (r && r->type == REDIS_REPLY_STRING) {
        *keys = info_field(r->str, "tracking_total_keys");
        *items = info_field(r->str, "tracking_total_items");
        rc = *keys >= 0 && *items >= 0 ? 0 : -1;
    }
    if (rc != 0)
        fprintf(stderr, "vmux-bench: INFO stats of %s:%d: no tracking_total_keys/items\n", o->host,
                o->port);
    if (r)
        freeReplyObject(r);
    if (c)
        redisFree(c);
    return rc;
}
