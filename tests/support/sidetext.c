/* A side connection to a server, not through vmux (sidetext.h). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* strndup under -std=c11 */
#endif
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <hiredis/hiredis.h>

#include "sidetext.h"

char *vt_reply_scalar_text(const redisReply *r)
{
    char num[32];
    if (r->type == REDIS_REPLY_INTEGER) {
        snprintf(num, sizeof num, "%lld", r->integer);
        return strdup(num);
    }
    if (r->type == REDIS_REPLY_NIL)
        return strdup("(nil)");
    return strndup(r->str, r->len);
}

char *vt_side_vtext(int port, vt_reply_text_fn *text, const char *fmt, va_list ap)
{
    struct timeval tv = {5, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);
    char *out = NULL;
    if (c != NULL && c->err == 0 && redisSetTimeout(c, tv) == REDIS_OK) {
        redisReply *r = redisvCommand(c, fmt, ap);
        if (r != NULL)
            out = text(r);
        freeReplyObject(r);
    }
    redisFree(c);
    return out;
}

char *vt_side_text(int port, vt_reply_text_fn *text, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *out = vt_side_vtext(port, text, fmt, ap);
    va_end(ap);
    return out;
}
