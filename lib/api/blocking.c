/*
 * Blocking commands (blocking.h): the pops run on a dedicated connection of the blocking pool;
 * WAIT on the links that carried the handle's writes (every primary's, on a cluster).
 */
#include "vmux/blocking.h"

#include <inttypes.h>
#include <string.h>

#include "api/fanout.h"
#include "api/typed.h"
#include "vmux/error.h"

/* The server's block time argument: seconds, with millisecond precision. */
static void add_block_time(struct vmux_args *a, int64_t block_ms)
{
    vmux__args_double(a, (double)block_ms / 1000.0);
}

static bool valid_end(vmux_end end)
{
    return end == VMUX_HEAD || end == VMUX_TAIL;
}

/* A block time below 1 ms, refused with words for opts' error buffer. */
static int refuse_block(const vmux_callopts *opts, int64_t block_ms)
{
    return vmux__typed_refuse(opts,
                              "block_ms is %" PRId64 ": the block must be at least 1 ms (0 would "
                              "block forever, and could never meet a deadline)",
                              block_ms);
}

static void zero(vmux_bytes *b)
{
    if (b != NULL)
        memset(b, 0, sizeof(*b));
}

/*
 * Where a popped element goes (each may be NULL): BLPOP's [key, value] or BZPOP's [key, member,
 * score]; a nil reply (nothing came in time) leaves them zeroed.
 */
struct popped {
    vmux_bytes *key, *item;
    double *score;
    bool scored; /* BZPOP's reply */
};

static int conv_popped(const vmux_reply *r, void *out)
{
    struct popped *p = out;
    double score = 0;
    if (vmux_reply_get_kind(r) == VMUX_REPLY_NIL)
        return 0;
    bool ok = vmux_reply_get_kind(r) == VMUX_REPLY_ARRAY &&
              vmux_reply_len(r) == (p->scored ? 3u : 2u) &&
              vmux__convert_into(vmux_reply_element(r, 0), vmux__conv_bytes, p->key,
                                 sizeof(vmux_bytes), vmux__release_bytes) == 0 &&
              vmux__convert_into(vmux_reply_element(r, 1), vmux__conv_bytes, p->item,
                                 sizeof(vmux_bytes), vmux__release_bytes) == 0 &&
              (!p->scored || vmux_reply_to_double(vmux_reply_element(r, 2), &score) == 0);
    if (!ok) {
        vmux_bytes_free(p->key);
        vmux_bytes_free(p->item);
        return VMUX_ERR_PROTOCOL;
    }
    if (p->score != NULL)
        *p->score = score;
    return 0;
}

/* cmds[end] keys... block-time into p, whose out-parameters are zeroed first. */
static int pop(vmux *m, const vmux_callopts *opts, vmux_end end, const char *const cmds[2],
               const vmux_str *keys, size_t n, int64_t block_ms, struct popped *p)
{
    zero(p->key);
    zero(p->item);
    if (p->score != NULL)
        *p->score = 0;
    struct vmux_args a;
    if (block_ms < 1)
        return refuse_block(opts, block_ms);
    if (!valid_end(end))
        return vmux__typed_refuse(opts, "end is %d: none of vmux_end", (int)end);
    if (!vmux__args_items(&a, cmds[end], NULL, keys, n))
        return vmux__items_refuse(opts, "keys", keys, n);
    add_block_time(&a, block_ms);
    vmux_callopts o = vmux__blocking_opts(m, opts, block_ms);
    return vmux__typed_run_into(m, &o, &a, false, conv_popped, p, 0, NULL);
}

int vmux_bpop(vmux *m, const vmux_callopts *opts, vmux_end end, const vmux_str *keys, size_t n,
              int64_t block_ms, vmux_bytes *key, vmux_bytes *value)
{
    static const char *const cmds[2] = {[VMUX_HEAD] = "BLPOP", [VMUX_TAIL] = "BRPOP"};
    struct popped p = {.key = key, .item = value};
    return pop(m, opts, end, cmds, keys, n, block_ms, &p);
}

int vmux_blmove(vmux *m, const vmux_callopts *opts, vmux_str src, vmux_str dst, vmux_end from,
                vmux_end to, int64_t block_ms, vmux_bytes *value)
{
    zero(value);
    if (block_ms < 1)
        return refuse_block(opts, block_ms);
    if (!valid_end(from) || !valid_end(to))
        return vmux__typed_refuse(opts, "%s is %d: none of vmux_end",
                                  valid_end(from) ? "to" : "from",
                                  (int)(valid_end(from) ? to : from));
    struct vmux_args a;
    vmux__args_key_command(&a, "BLMOVE", src);
    vmux__args_str(&a, dst);
    vmux__args_cstr(&a, from == VMUX_HEAD ? "LEFT" : "RIGHT");
    vmux__args_cstr(&a, to == VMUX_HEAD ? "LEFT" : "RIGHT");
    add_block_time(&a, block_ms);
    vmux_callopts o = vmux__blocking_opts(m, opts, block_ms);
    return vmux__run_bytes(m, &o, &a, false, value);
}

int vmux_bzpop(vmux *m, const vmux_callopts *opts, vmux_end end, const vmux_str *keys, size_t n,
               int64_t block_ms, vmux_bytes *key, vmux_bytes *member, double *score)
{
    static const char *const cmds[2] = {[VMUX_HEAD] = "BZPOPMIN", [VMUX_TAIL] = "BZPOPMAX"};
    struct popped p = {.key = key, .item = member, .score = score, .scored = true};
    return pop(m, opts, end, cmds, keys, n, block_ms, &p);
}

int vmux_wait(vmux *m, const vmux_callopts *opts, int64_t replicas, int64_t block_ms,
              int64_t *acked)
{
    if (acked != NULL)
        *acked = 0;
    if (replicas < 0)
        return vmux__typed_refuse(opts, "replicas is %" PRId64 ": must be at least 0", replicas);
    if (block_ms < 1)
        return refuse_block(opts, block_ms);
    struct vmux_args a;
    vmux__args_init(&a);
    vmux__args_cstr(&a, "WAIT");
    vmux__args_int(&a, replicas);
    vmux__args_int(&a, block_ms);
    /* The server counts the writes of the connection WAIT runs on: not the pool's (which wrote
     * nothing), and never resent on a new one (which wrote nothing yet), whatever opts say. */
    vmux_callopts o = vmux__held_opts(m, opts, block_ms);
    o.flags &= ~(uint32_t)VMUX_CALL_RETRY_SAFE;
    if (vmux__fan_wanted(m))
        return vmux__fan_run(m, &o, &a, false, VMUX__RERUN_NONE, vmux__combine_min, acked,
                             sizeof *acked, NULL);
    return vmux__run_int(m, &o, &a, false, acked);
}

/* WAITAOF's reply: how many AOFs (the local one, replicas') hold the connection's writes. */
struct aof_counts {
    int64_t local, replicas;
};

static int conv_aof_counts(const vmux_reply *r, void *out)
{
    struct aof_counts *c = out;
    if (vmux_reply_get_kind(r) != VMUX_REPLY_ARRAY || vmux_reply_len(r) != 2 ||
        vmux_reply_to_int(vmux_reply_element(r, 0), &c->local) != 0 ||
        vmux_reply_to_int(vmux_reply_element(r, 1), &c->replicas) != 0) {
        *c = (struct aof_counts){0, 0};
        return VMUX_ERR_PROTOCOL;
    }
    return 0;
}

/* Every primary's counts, each the smallest any primary gave (the server's AGG_MIN). */
static int combine_aof_min(const vmux_node_replies *res, void *out)
{
    struct aof_counts *min = out, c;
    for (size_t i = 0; i < res->count; i++) {
        if (conv_aof_counts(res->nodes[i].reply, &c) != 0) {
            *min = (struct aof_counts){0, 0};
            return VMUX_ERR_PROTOCOL;
        }
        min->local = i == 0 || c.local < min->local ? c.local : min->local;
        min->replicas = i == 0 || c.replicas < min->replicas ? c.replicas : min->replicas;
    }
    return 0;
}

int vmux_waitaof(vmux *m, const vmux_callopts *opts, int64_t numlocal, int64_t numreplicas,
                 int64_t block_ms, int64_t *local, int64_t *replicas)
{
    struct aof_counts c = {0, 0};
    if (local != NULL)
        *local = 0;
    if (replicas != NULL)
        *replicas = 0;
    if (numlocal < 0 || numlocal > 1)
        return vmux__typed_refuse(opts, "numlocal is %" PRId64 ": must be 0 or 1", numlocal);
    if (numreplicas < 0)
        return vmux__typed_refuse(opts, "numreplicas is %" PRId64 ": must be at least 0",
                                  numreplicas);
    if (block_ms < 1)
        return refuse_block(opts, block_ms);
    struct vmux_args a;
    vmux__args_init(&a);
    vmux__args_cstr(&a, "WAITAOF");
    vmux__args_int(&a, numlocal);
    vmux__args_int(&a, numreplicas);
    vmux__args_int(&a, block_ms);
    /* as WAIT: on the connection that carried the writes, never sent again on another */
    vmux_callopts o = vmux__held_opts(m, opts, block_ms);
    o.flags &= ~(uint32_t)VMUX_CALL_RETRY_SAFE;
    int rc =
        vmux__fan_wanted(m)
            ? vmux__fan_run(m, &o, &a, false, VMUX__RERUN_NONE, combine_aof_min, &c, sizeof c, NULL)
            : vmux__typed_run_into(m, &o, &a, false, conv_aof_counts, &c, sizeof c, NULL);
    if (local != NULL)
        *local = c.local;
    if (replicas != NULL)
        *replicas = c.replicas;
    return rc;
}
