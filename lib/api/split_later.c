/*
 * An async split count (api/split.h) made while cluster=auto is still asking whether the server
 * is a cluster node: the keys are copied, and once the answer is in (mux/handle.h
 * vmux__after_settled(), on the I/O thread) the count goes split per slot or as one command, as
 * it would have gone had the answer been in at the call. Sent whole before it, a cluster node
 * refused it CROSSSLOT.
 */
#include <stdlib.h>
#include <string.h>

#include "api/split.h"
#include "api/typed.h"
#include "core/encode.h"
#include "core/sized.h"
#include "core/value.h"
#include "core/why.h"
#include "vmux/error.h"

/* A count waiting for the answer: the call as it was made, its keys copied. One allocation. */
struct later {
    vmux_callopts opts; /* the caller's, without its error buffer (an async call has none) */
    const char *cmd;    /* a literal: "DEL", "EXISTS" */
    vmux_reply_cb cb;
    void *userdata;
    size_t n;
    vmux_str *keys; /* n, their bytes after them */
};

/* A copy of the call, or NULL: out of memory, or sizes that do not add up. */
static struct later *later_new(const vmux_callopts *opts, const char *cmd, const vmux_str *keys,
                               size_t n, vmux_reply_cb cb, void *userdata)
{
    size_t bytes = 0;
    for (size_t i = 0; i < n; i++) {
        if (keys[i].len > SIZE_MAX / 2 - bytes)
            return NULL;
        bytes += keys[i].len;
    }
    if (n > (SIZE_MAX / 2 - bytes) / sizeof *keys)
        return NULL;
    struct later *l = malloc(sizeof *l + n * sizeof *keys + bytes);
    if (l == NULL)
        return NULL;
    *l = (struct later){vmux__callopts_copy(opts), cmd, cb, userdata, n, (vmux_str *)(l + 1)};
    l->opts.errbuf = NULL;
    l->opts.errlen = 0;
    char *at = (char *)(l->keys + n);
    for (size_t i = 0; i < n; i++) {
        if (keys[i].len > 0)
            memcpy(at, keys[i].ptr, keys[i].len);
        l->keys[i] = (vmux_str){at, keys[i].len};
        at += keys[i].len;
    }
    return l;
}

/* The answer is in (I/O thread): the count goes split or whole, with what is left of its time. */
static int send_now(vmux *m, uint32_t left_ms, void *arg)
{
    struct later *l = arg;
    l->opts.timeout_ms = left_ms;
    int rc = vmux__split_count_async(m, &l->opts, l->cmd, l->keys, l->n, l->cb, l->userdata);
    if (rc == VMUX_SPLIT_ONE) {
        struct vmux_args a;
        rc = vmux__args_items(&a, l->cmd, NULL, l->keys, l->n) ? 0 : VMUX_ERR_INVALID_ARG;
        if (rc == 0)
            rc = vmux__typed_async(m, &l->opts, &a, true, l->cb, l->userdata);
    }
    if (rc == 0)
        free(l);
    return rc;
}

/* The wait ended first, or the count was refused when it went: the caller hears it once. */
static void send_failed(int status, vmux_reply *why, void *arg)
{
    struct later *l = arg;
    vmux_reply *reply = vmux__why_completion(status, why); /* vmux_last_error()'s words */
    vmux_reply_cb cb = l->cb;
    void *userdata = l->userdata;
    free(l);
    cb(status, reply, userdata);
}

/* Whether the ordinary path refuses the keys (a {NULL, len > 0} key): nothing to wait for. */
static bool refused_keys(const vmux_str *keys, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (vmux__str_invalid(keys[i]))
            return true;
    return false;
}

/* The encoded size of cmd and the keys as one command into *bytes: 0 or why not. */
static int whole_size(const char *cmd, const vmux_str *keys, size_t n, size_t *bytes)
{
    struct vmux_args a;
    int rc = vmux__args_items(&a, cmd, NULL, keys, n) ? 0 : VMUX_ERR_INVALID_ARG;
    if (rc == 0)
        rc = vmux__encoded_size(a.argc, a.argv, a.lens, bytes);
    vmux__args_free(&a);
    return rc;
}

/*
 * The room at the door the count takes once a cluster answers (after which the same call is
 * admitted or refused at submission): a command per slot the keys span, of their parts' bytes, or
 * one command when they share a slot. 0 or why not.
 */
static int room_of(const char *cmd, const vmux_str *keys, size_t n, struct vmux__room *room)
{
    struct vmux_split s;
    int rc = vmux__split_slots(cmd, keys, NULL, n, &s);
    *room = (struct vmux__room){1, 0};
    if (rc == 0)
        return whole_size(cmd, keys, n, &room->bytes);
    if (rc < 0)
        return rc;
    room->ops = s.ngroups;
    for (size_t g = 0; g < s.ngroups && rc >= 0; g++) {
        size_t size = 0;
        rc = vmux__encoded_size(s.parts[g].argc, s.parts[g].argv, s.parts[g].argvlen, &size);
        room->bytes += size;
    }
    vmux__split_free(&s);
    return rc < 0 ? rc : 0;
}

int vmux__split_count_later(vmux *m, const vmux_callopts *opts, const char *cmd,
                            const vmux_str *keys, size_t n, vmux_reply_cb cb, void *userdata)
{
    struct vmux__room room;
    if (refused_keys(keys, n))
        return VMUX_SPLIT_ONE; /* the ordinary path says which key */
    int rc = room_of(cmd, keys, n, &room);
    if (rc != 0)
        return rc;
    struct later *l = later_new(opts, cmd, keys, n, cb, userdata);
    if (l == NULL)
        return VMUX_ERR_NOMEM;
    rc = vmux__after_settled(m, opts, &room, send_now, send_failed, l);
    if (rc != 0)
        free(l); /* refused: neither ran */
    return rc;
}
