#include "route/redirect.h"

#include <string.h>

#include "route/slot.h"
#include "vmux/error.h"

/* Reads 1 to 5 decimal digits at s (len bytes, all of them) into *v. */
static bool parse_small(const char *s, size_t len, unsigned *v)
{
    if (len == 0 || len > 5)
        return false;
    *v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        *v = *v * 10 + (unsigned)(s[i] - '0');
    }
    return true;
}

/* The last colon of s (len bytes), or NULL. */
static const char *last_colon(const char *s, size_t len)
{
    for (size_t i = len; i > 0; i--)
        if (s[i - 1] == ':')
            return s + i - 1;
    return NULL;
}

int vmux__endpoint_split(const char *s, size_t len, const char **host, size_t *hostlen, int *port)
{
    const char *colon = last_colon(s, len);
    unsigned p;
    if (colon == NULL || !parse_small(colon + 1, len - (size_t)(colon - s) - 1, &p) || p == 0 ||
        p > 65535)
        return VMUX_ERR_PROTOCOL;
    size_t n = (size_t)(colon - s);
    bool open = n > 0 && s[0] == '[', close = n > 0 && s[n - 1] == ']';
    if (open != close || (open && n < 2))
        return VMUX_ERR_PROTOCOL;
    *host = open ? s + 1 : s;
    *hostlen = open ? n - 2 : n;
    *port = (int)p;
    return 0;
}

/* The length of the first word of s (up to a space or the end). */
static size_t word(const char *s, size_t len)
{
    const char *sp = memchr(s, ' ', len);
    return sp != NULL ? (size_t)(sp - s) : len;
}

/*
 * "host:0", ":0": a node the server knows no address of (noaddr: one that restarted empty at
 * its address, before the cluster forgets it), which CLUSTER SLOTS writes with port 0 too.
 */
static bool port_zero(const char *ep, size_t len)
{
    const char *colon = last_colon(ep, len);
    unsigned p;
    return colon != NULL && parse_small(colon + 1, len - (size_t)(colon - ep) - 1, &p) && p == 0;
}

static int parse_rest(const char *s, size_t len, struct vmux_redirect *r)
{
    size_t n = word(s, len);
    unsigned slot;
    if (n == len || !parse_small(s, n, &slot) || slot >= VMUX_SLOTS)
        return VMUX_ERR_PROTOCOL;
    const char *ep = s + n + 1;
    size_t eplen = len - n - 1;
    if (eplen == 0 || memchr(ep, ' ', eplen) != NULL)
        return VMUX_ERR_PROTOCOL;
    if (port_zero(ep, eplen)) { /* no address: as "?" */
        *r = (struct vmux_redirect){
            .kind = r->kind, .slot = slot, .host = "?", .hostlen = 1, .unknown = true};
        return 0;
    }
    if (vmux__endpoint_split(ep, eplen, &r->host, &r->hostlen, &r->port) != 0)
        return VMUX_ERR_PROTOCOL;
    r->slot = slot;
    r->asked = r->hostlen == 0;
    r->unknown = r->hostlen == 1 && r->host[0] == '?';
    return 0;
}

int vmux__redirect_parse(const char *msg, size_t len, struct vmux_redirect *out)
{
    if (msg == NULL)
        return 0;
    size_t n = word(msg, len);
    struct vmux_redirect r = {0};
    if (n == 5 && memcmp(msg, "MOVED", 5) == 0)
        r.kind = VMUX_REDIRECT_MOVED;
    else if (n == 3 && memcmp(msg, "ASK", 3) == 0)
        r.kind = VMUX_REDIRECT_ASK;
    else
        return 0;
    if (n == len || parse_rest(msg + n + 1, len - n - 1, &r) != 0)
        return VMUX_ERR_PROTOCOL;
    *out = r;
    return 1;
}
