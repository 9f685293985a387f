/*
 * Commands the key table does not know (a module's, or one newer than the table): the router
 * asks a node where their keys are (COMMAND GETKEYS with the command's own arguments) before it
 * sends them (route/router.h). The op waits in r->keys_wait meanwhile, deadline-indexed: that
 * queue keeps husks, so an op whose deadline passes is completed there and freed only when the
 * answer comes. I/O thread only.
 */
#include <stdlib.h>
#include <string.h>

#include "core/encode.h"
#include "core/log.h"
#include "core/reply_internal.h"
#include "route/keyslot.h"
#include "route/router.h"
#include "route/slot.h"
#include "vmux/error.h"

struct keys_req {
    struct vmux_router *r;
    struct vmux_op *op; /* in r->keys_wait until this request's answer */
};

/*
 * The slot of the keys a GETKEYS reply lists: 0 with *slot; or VMUX_ERR_CROSSSLOT with *err set
 * to an error reply naming the first key and one in another slot, as the caller's thread words
 * it for the commands the key table knows (NULL if memory ran out).
 */
static int slot_of_keys(const vmux_reply *reply, int *slot, vmux_reply **err)
{
    *slot = VMUX_SLOT_ANY;
    size_t n = vmux_reply_get_kind(reply) == VMUX_REPLY_ARRAY ? vmux_reply_len(reply) : 0;
    const char *keys[2] = {NULL, NULL};
    size_t lens[2] = {0, 0};
    for (size_t i = 0; i < n; i++) {
        size_t len = 0;
        const char *key = vmux_reply_str(vmux_reply_element(reply, i), &len);
        if (key == NULL)
            continue;
        int s = (int)vmux__slot_of(key, len);
        if (*slot != VMUX_SLOT_ANY && s != *slot) {
            char why[256];
            keys[1] = key;
            lens[1] = len;
            struct vmux_crossslot cross = {0, 1, (unsigned)*slot, (unsigned)s};
            vmux__crossslot_message(why, sizeof why, &cross, keys, lens);
            *err = vmux__reply_new_str(VMUX_REPLY_ERROR, why, strlen(why));
            return VMUX_ERR_CROSSSLOT;
        }
        if (*slot == VMUX_SLOT_ANY) {
            keys[0] = key;
            lens[0] = len;
        }
        *slot = s;
    }
    return 0;
}

static void on_keys(int status, vmux_reply *reply, void *arg)
{
    struct keys_req req = *(struct keys_req *)arg;
    free(arg);
    if (status == VMUX_ERR_CLOSED) { /* the router is closing: it failed keys_wait already */
        vmux_reply_free(reply);
        return;
    }
    struct vmux_op *op = req.op;
    vmux__opq_remove(&req.r->keys_wait, op);
    if (op->done) { /* its deadline passed meanwhile */
        vmux_reply_free(reply);
        vmux__op_free(op);
        return;
    }
    /* An error reply (no key arguments, an unknown command...): keyless; the server will say. */
    int slot = VMUX_SLOT_ANY;
    vmux_reply *why = NULL;
    int rc = status == 0 ? slot_of_keys(reply, &slot, &why) : 0;
    vmux_reply_free(reply);
    if (rc != 0) {
        vmux__op_finish(op, rc, why);
        return;
    }
    op->slot = slot;
    vmux__router_send(req.r, op);
}

/* COMMAND GETKEYS followed by op's own arguments: op's bytes behind a new array header. */
static struct vmux_op *getkeys_op(const struct vmux_op *op)
{
    static const char head[] = "$7\r\nCOMMAND\r\n$7\r\nGETKEYS\r\n";
    const char *eol = memchr(op->cmd, '\n', op->len);
    long n = op->len > 1 && op->cmd[0] == '*' ? strtol(op->cmd + 1, NULL, 10) : 0;
    if (eol == NULL || n <= 0)
        return NULL;
    char count[32];
    int clen = snprintf(count, sizeof count, "*%ld\r\n", n + 2);
    size_t rest = op->len - (size_t)(eol + 1 - op->cmd);
    struct vmux_op *q = vmux__op_new((size_t)clen + sizeof head - 1 + rest);
    if (q == NULL)
        return NULL;
    memcpy(q->cmd, count, (size_t)clen);
    memcpy(q->cmd + clen, head, sizeof head - 1);
    memcpy(q->cmd + clen + sizeof head - 1, eol + 1, rest);
    q->nreplies = 1;
    q->flags |= VMUX_OP_OWN; /* read under the default limits, not the user's */
    return q;
}

void vmux__router_getkeys(struct vmux_router *r, struct vmux_op *op)
{
    struct keys_req *req = malloc(sizeof *req);
    struct vmux_op *ask = req != NULL ? getkeys_op(op) : NULL;
    if (ask == NULL) {
        free(req);
        vmux__op_finish(op, VMUX_ERR_NOMEM, NULL);
        return;
    }
    *req = (struct keys_req){r, op};
    ask->cb = on_keys;
    ask->userdata = req;
    vmux__opq_push(&r->keys_wait, op);
    vmux__link_submit(r->seed, ask);
}
