/* Commands that must succeed on a test's own connection, and numbers in INFO text; see node.h. */
#include "node.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <cmocka.h>
#include <hiredis/hiredis.h>

#include "testutil.h"

static redisReply *vt_vmust(redisContext *c, const char *format, va_list ap)
{
    redisReply *r = redisvCommand(c, format, ap);
    if (r == NULL || r->type == REDIS_REPLY_ERROR)
        fail_msg("%s: %s", format, r ? r->str : c->errstr);
    return r;
}

redisReply *vt_must(redisContext *c, const char *format, ...)
{
    va_list ap;
    va_start(ap, format);
    redisReply *r = vt_vmust(c, format, ap);
    va_end(ap);
    return r;
}

void vt_must_ok(redisContext *c, const char *format, ...)
{
    va_list ap;
    va_start(ap, format);
    freeReplyObject(vt_vmust(c, format, ap));
    va_end(ap);
}

redisReply *vt_must_argv(redisContext *c, int argc, const char **argv)
{
    redisReply *r = redisCommandArgv(c, argc, argv, NULL);
    if (r == NULL || r->type == REDIS_REPLY_ERROR)
        fail_msg("%s %s: %s", argv[0], argc > 1 ? argv[1] : "", r ? r->str : c->errstr);
    return r;
}

/* vt_migrate_keys(), with ASKING before each MIGRATE when asking (c imports the slot). */
static void migrate_keys(redisContext *c, long long slot, int to_port, bool asking,
                         void (*between)(void *arg), void *arg)
{
    for (;;) {
        redisReply *r = vt_must(c, "CLUSTER GETKEYSINSLOT %lld 100", slot);
        assert_int_equal(r->type, REDIS_REPLY_ARRAY);
        size_t n = r->elements;
        for (size_t i = 0; i < n; i++) {
            if (asking)
                vt_must_ok(c, "ASKING");
            vt_must_ok(c, "MIGRATE 127.0.0.1 %d %s 0 5000 REPLACE", to_port, r->element[i]->str);
        }
        freeReplyObject(r);
        if (n == 0)
            return;
        if (between != NULL)
            between(arg);
    }
}

void vt_migrate_keys(redisContext *c, long long slot, int to_port, void (*between)(void *arg),
                     void *arg)
{
    migrate_keys(c, slot, to_port, false, between, arg);
}

void vt_migrate_keys_asking(redisContext *c, long long slot, int to_port)
{
    migrate_keys(c, slot, to_port, true, NULL, NULL);
}

long long vt_info_field(const char *info, const char *field)
{
    size_t n = strlen(field);
    for (const char *line = info; line != NULL;
         line = strchr(line, '\n'), line = line ? line + 1 : NULL)
        if (strncmp(line, field, n) == 0 && line[n] == ':')
            return strtoll(line + n + 1, NULL, 10);
    return -1;
}

char *vt_node_myid(int port)
{
    char *id = vt_node_admin(port, false, "CLUSTER MYID");
    if (id == NULL)
        fail_msg("CLUSTER MYID on 127.0.0.1:%d: no reply", port);
    return id;
}

int vt_cluster_other_primary(const char *cluster, int port)
{
    for (int i = 0; i < vt_cluster_size(cluster); i++) {
        int p = vt_cluster_port(cluster, i);
        if (p != port && vt_node_is_primary(p))
            return p;
    }
    fail_msg("no primary other than 127.0.0.1:%d", port);
    return -1;
}

long long vt_primaries_dbsize(int port)
{
    redisReply *r = vt_node_command(port, false, "CLUSTER SLOTS");
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    long long seen[16], sum = 0;
    size_t nseen = 0;
    for (size_t i = 0; i < r->elements; i++) {
        long long p = r->element[i]->element[2]->element[1]->integer;
        bool dup = false;
        for (size_t k = 0; k < nseen; k++)
            dup = dup || seen[k] == p;
        if (dup || nseen == 16)
            continue;
        seen[nseen++] = p;
        redisReply *d = vt_node_command((int)p, false, "DBSIZE");
        assert_non_null(d);
        assert_int_equal(d->type, REDIS_REPLY_INTEGER);
        sum += d->integer;
        freeReplyObject(d);
    }
    freeReplyObject(r);
    return sum;
}

/* Two nodes that swap roles: arg points to {the new primary, the old one}. */
static bool swapped(void *arg)
{
    const int *ports = arg;
    return vt_node_is_primary(ports[0]) && !vt_node_is_primary(ports[1]);
}

void vt_fail_over(int promoted, int old)
{
    int ports[2] = {promoted, old};
    char *said = NULL;
    for (int i = 0; i < 50 && !swapped(ports); i++) { /* refused while the replica syncs */
        free(said);
        said = vt_node_admin(promoted, false, "CLUSTER FAILOVER");
        vt_poll_until(swapped, ports, 1000, 10);
    }
    if (!vt_poll_until(swapped, ports, 30000, 10))
        fail_msg("CLUSTER FAILOVER on %d (replica of %d): %s", promoted, old,
                 said != NULL ? said : "no answer");
    free(said);
}
