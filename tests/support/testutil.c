/* Helpers shared by the integration tests; see testutil.h. */
#include "testutil.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <setjmp.h>
#include <cmocka.h>

#include <hiredis/hiredis.h>

/* vt_admin's connections must never hang a test, whatever the server does. */
#define VT_ADMIN_TIMEOUT_S 10

static char *vt_strdup_printf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return NULL;
    char *s = malloc((size_t)n + 1);
    if (s == NULL)
        return NULL;
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

/* Returns the port from a port file's text, or -1 when it is not a port number. */
static int vt_parse_port(const char *text)
{
    char *end = NULL;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno != 0 || end == text || v < 1 || v > 65535)
        return -1;
    while (*end == '\n' || *end == '\r' || *end == ' ')
        end++;
    return *end == '\0' ? (int)v : -1;
}

int vt_server_port(const char *name)
{
    const char *dir = getenv("VMUX_TEST_STATE_DIR");
    if (dir == NULL || dir[0] == '\0')
        fail_msg("VMUX_TEST_STATE_DIR is not set (run the test through ctest)");
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.port", dir, name);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        fail_msg("no port file %s (%s): is the fixture server '%s' running?", path, strerror(errno),
                 name);
    char buf[32] = {0};
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    int port = vt_parse_port(buf);
    if (port < 0)
        fail_msg("bad port file %s: '%s'", path, buf);
    return port;
}

char *vt_server_config(const char *name, const char *extra)
{
    int port = vt_server_port(name);
    if (extra == NULL || extra[0] == '\0')
        return vt_strdup_printf("127.0.0.1:%d", port);
    return vt_strdup_printf("127.0.0.1:%d,%s", port, extra);
}

uint64_t vt_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t vt_now_ms(void)
{
    return vt_now_ns() / 1000000u;
}

bool vt_wait_until(bool (*cond)(void *arg), void *arg, int timeout_ms)
{
    uint64_t deadline = vt_now_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0);
    for (;;) {
        if (cond(arg))
            return true;
        if (vt_now_ms() >= deadline)
            return cond(arg);
        struct timespec ms = {0, 1000000};
        nanosleep(&ms, NULL);
    }
}

static char *vt_reply_text(const redisReply *r);

/* Arrays come back as their elements' text, one per line. */
static char *vt_array_text(const redisReply *r)
{
    char *out = strdup("");
    for (size_t i = 0; out != NULL && i < r->elements; i++) {
        char *e = vt_reply_text(r->element[i]);
        char *joined = e ? vt_strdup_printf("%s%s%s", out, i ? "\n" : "", e) : NULL;
        free(e);
        free(out);
        out = joined;
    }
    return out;
}

static char *vt_reply_text(const redisReply *r)
{
    switch (r->type) {
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
    case REDIS_REPLY_ERROR: {
        char *s = malloc(r->len + 1);
        if (s != NULL) {
            memcpy(s, r->str, r->len);
            s[r->len] = '\0';
        }
        return s;
    }
    case REDIS_REPLY_INTEGER:
        return vt_strdup_printf("%lld", r->integer);
    case REDIS_REPLY_NIL:
        return strdup("(nil)");
    case REDIS_REPLY_ARRAY:
        return vt_array_text(r);
    default:
        return vt_strdup_printf("(reply type %d)", r->type);
    }
}

char *vt_admin(const char *name, const char *format, ...)
{
    int port = vt_server_port(name);
    struct timeval tv = {VT_ADMIN_TIMEOUT_S, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);
    if (c == NULL)
        return NULL;
    if (c->err != 0 || redisSetTimeout(c, tv) != REDIS_OK) {
        redisFree(c);
        return NULL;
    }
    va_list ap;
    va_start(ap, format);
    redisReply *r = redisvCommand(c, format, ap);
    va_end(ap);
    char *text = r ? vt_reply_text(r) : NULL;
    freeReplyObject(r);
    redisFree(c);
    return text;
}
