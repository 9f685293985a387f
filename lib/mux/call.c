/*
 * The generic command API (call.h): encode in the caller's thread, submit, and either wait
 * (sync), return (async), or drop the reply (fire-and-forget).
 */
#include <hiredis/hiredis.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/encode.h"
#include "core/errbuf.h"
#include "core/shareable.h"
#include "core/sized.h"
#include "mux/mux.h"
#include "vmux/call.h"
#include "vmux/error.h"

/* A synchronous caller waiting on its own stack for the I/O thread to complete its op. */
struct sync_wait {
    uv_mutex_t mu;
    uv_cond_t cv;
    atomic_bool done;
    int status;
    vmux_reply *reply;
};

/*
 * A reply usually comes back within tens of microseconds, while putting a thread to sleep and
 * waking it costs about as much again. So a caller that waits alone spins briefly before it
 * sleeps. With several callers waiting, the replies come in batches anyway, and a spinning
 * thread would only take a core from the server and the I/O thread (measured: a third fewer
 * calls per second at 32 threads), so then nobody spins.
 */
#define SPIN_NS 50000u
static atomic_int waiting; /* synchronous callers between submit and wake-up, process-wide */

static void sync_done(int status, vmux_reply *reply, void *userdata)
{
    struct sync_wait *w = userdata;
    uv_mutex_lock(&w->mu);
    w->status = status;
    w->reply = reply;
    atomic_store_explicit(&w->done, true, memory_order_release);
    uv_cond_signal(&w->cv);
    uv_mutex_unlock(&w->mu);
}

static void forget_done(int status, vmux_reply *reply, void *userdata)
{
    (void)status;
    (void)userdata;
    vmux_reply_free(reply);
}

/* Reads the caller's options only as far as their size goes (abi.h): *opts then points at
 * local, a full copy, unless it is NULL. */
static int check_opts(const vmux_callopts **opts, vmux_callopts *local)
{
    uint32_t known = VMUX_CALL_RETRY_SAFE | VMUX_CALL_BLOCKING;
    if (*opts == NULL)
        return 0;
    int rc = vmux__sized_in(local, sizeof *local, *opts);
    *opts = local;
    return rc != 0 || (local->flags & ~known) != 0 || local->timeout_ms < 0 ? VMUX_ERR_INVALID_ARG
                                                                            : 0;
}

static uint32_t op_flags(const vmux_callopts *opts, const struct vmux_op *op)
{
    uint32_t flags = 0, asked = opts != NULL ? opts->flags : 0;
    if (asked & VMUX_CALL_RETRY_SAFE)
        flags |= VMUX_OP_RETRY_SAFE;
    if ((asked & VMUX_CALL_BLOCKING) || (!(op->flags & VMUX_OP_TRUSTED) && vmux_op_is_blocking(op)))
        flags |= VMUX_OP_BLOCKING;
    return flags;
}

static uint32_t timeout_for(vmux *m, const vmux_callopts *opts, bool sync)
{
    if (opts != NULL && opts->timeout_ms != 0)
        return opts->timeout_ms < UINT32_MAX ? (uint32_t)opts->timeout_ms : UINT32_MAX;
    return (uint32_t)(sync ? vmux_config_sync_timeout(m->cfg) : vmux_config_async_timeout(m->cfg));
}

/* Submits op with its completion; on refusal frees it and returns the error. */
static int submit(vmux *m, const vmux_callopts *opts, struct vmux_op *op, uint32_t timeout_ms,
                  vmux_reply_cb cb, void *ud)
{
    op->flags |= op_flags(opts, op);
    int rc = (op->flags & VMUX_OP_TRUSTED) ? 0 : vmux_op_check_shareable(op);
    if (rc != 0) {
        vmux_op_free(op);
        return rc;
    }
    op->timeout_ms = timeout_ms;
    op->cb = cb;
    op->userdata = ud;
    rc = vmux_submit(m, op);
    if (rc != 0)
        vmux_op_free(op);
    return rc;
}

static void spin_briefly(struct sync_wait *w)
{
    if (atomic_load_explicit(&waiting, memory_order_relaxed) > 1)
        return;
    uint64_t until = uv_hrtime() + SPIN_NS;
    while (!atomic_load_explicit(&w->done, memory_order_acquire) && uv_hrtime() < until &&
           atomic_load_explicit(&waiting, memory_order_relaxed) <= 1)
        for (int i = 0; i < 64; i++)
            __asm__ __volatile__("" ::: "memory");
}

/* Fills the caller's optional error buffer: the server's words, or the code's description. */
static void explain(const vmux_callopts *opts, int rc, const vmux_reply *reply)
{
    if (opts == NULL || opts->errbuf == NULL || opts->errlen == 0 || rc == 0)
        return;
    const char *why = rc == VMUX_ERR_SERVER ? vmux_reply_str(reply, NULL) : vmux_strerror(rc);
    vmux_errbuf_set(opts->errbuf, opts->errlen, "%s", why != NULL ? why : "");
}

/* Submits op and blocks until the I/O thread completes it. */
static int call_op(vmux *m, const vmux_callopts *opts, struct vmux_op *op, vmux_reply **out)
{
    struct sync_wait w = {.done = false};
    uv_mutex_init(&w.mu);
    uv_cond_init(&w.cv);
    atomic_fetch_add_explicit(&waiting, 1, memory_order_relaxed);
    int rc = submit(m, opts, op, timeout_for(m, opts, true), sync_done, &w);
    if (rc == 0) {
        spin_briefly(&w);
        /* Even when the spin saw it done, take the lock: the I/O thread may still be
         * inside sync_done, touching w. */
        uv_mutex_lock(&w.mu);
        while (!w.done)
            uv_cond_wait(&w.cv, &w.mu);
        uv_mutex_unlock(&w.mu);
        rc = w.status;
        *out = w.reply;
    }
    atomic_fetch_sub_explicit(&waiting, 1, memory_order_relaxed);
    uv_cond_destroy(&w.cv);
    uv_mutex_destroy(&w.mu);
    explain(opts, rc, *out);
    return rc;
}

static int check_sync(vmux *m, const vmux_callopts **opts, vmux_callopts *local, vmux_reply **out)
{
    if (out != NULL)
        *out = NULL;
    if (m == NULL || out == NULL || vmux_on_io_thread(m))
        return VMUX_ERR_INVALID_ARG;
    return check_opts(opts, local);
}

int vmux_call(vmux *m, const vmux_callopts *opts, int argc, const char *const *argv,
              const size_t *argvlen, vmux_reply **out)
{
    struct vmux_op *op;
    vmux_callopts local;
    int rc = check_sync(m, &opts, &local, out);
    if (rc == 0)
        rc = vmux_encode_op(argc, argv, argvlen, &op);
    if (rc != 0) {
        explain(opts, rc, NULL);
        return rc;
    }
    return call_op(m, opts, op, out);
}

int vmux_call_async(vmux *m, const vmux_callopts *opts, int argc, const char *const *argv,
                    const size_t *argvlen, vmux_reply_cb cb, void *userdata)
{
    struct vmux_op *op;
    vmux_callopts local;
    if (m == NULL || cb == NULL)
        return VMUX_ERR_INVALID_ARG;
    int rc = check_opts(&opts, &local);
    if (rc == 0)
        rc = vmux_encode_op(argc, argv, argvlen, &op);
    return rc != 0 ? rc : submit(m, opts, op, timeout_for(m, opts, false), cb, userdata);
}

int vmux_call_forget(vmux *m, const vmux_callopts *opts, int argc, const char *const *argv,
                     const size_t *argvlen)
{
    struct vmux_op *op;
    vmux_callopts local;
    if (m == NULL)
        return VMUX_ERR_INVALID_ARG;
    int rc = check_opts(&opts, &local);
    if (rc == 0)
        rc = vmux_encode_op(argc, argv, argvlen, &op);
    return rc != 0 ? rc : submit(m, opts, op, timeout_for(m, opts, false), forget_done, NULL);
}

int vmux_command(vmux *m, vmux_reply **out, const char *format, ...)
{
    const vmux_callopts *none = NULL;
    int rc = check_sync(m, &none, NULL, out);
    if (rc != 0 || format == NULL)
        return rc != 0 ? rc : VMUX_ERR_INVALID_ARG;
    char *cmd = NULL;
    va_list ap;
    va_start(ap, format);
    int len = redisvFormatCommand(&cmd, format, ap);
    va_end(ap);
    if (len == -2)
        return VMUX_ERR_INVALID_ARG; /* hiredis: bad format string */
    if (len < 0)
        return VMUX_ERR_NOMEM;
    if (strncmp(cmd, "*0\r\n", 4) == 0) {
        /* No argument at all: the server would never answer it, and every later reply on
         * the connection would then be matched to the wrong command. */
        redisFreeCommand(cmd);
        return VMUX_ERR_INVALID_ARG;
    }
    struct vmux_op *op;
    rc = vmux_encode_op_raw(cmd, (size_t)len, &op);
    redisFreeCommand(cmd);
    return rc != 0 ? rc : call_op(m, NULL, op, out);
}

int vmux_call_prepared(vmux *m, const vmux_callopts *opts, struct vmux_op *op, vmux_reply **out)
{
    vmux_callopts local;
    int rc = check_sync(m, &opts, &local, out);
    if (rc != 0) {
        vmux_op_free(op);
        return rc;
    }
    op->flags |= VMUX_OP_TRUSTED;
    return call_op(m, opts, op, out);
}

/* What a control op carries instead of command bytes. */
struct control {
    int (*fn)(vmux *m, void *arg);
    void *arg;
};

int vmux_run_on_io(vmux *m, int (*fn)(vmux *m, void *arg), void *arg)
{
    if (vmux_on_io_thread(m))
        return m->io_closing ? VMUX_ERR_CLOSED : fn(m, arg);
    struct vmux_op *op = vmux_op_new(sizeof(struct control));
    if (op == NULL)
        return VMUX_ERR_NOMEM;
    struct control ctl = {fn, arg};
    memcpy(op->cmd, &ctl, sizeof(ctl));
    op->flags = VMUX_OP_TRUSTED | VMUX_OP_CONTROL;
    vmux_reply *ignored = NULL;
    return call_op(m, NULL, op, &ignored);
}

void vmux_run_control(vmux *m, struct vmux_op *op)
{
    struct control ctl;
    memcpy(&ctl, op->cmd, sizeof(ctl));
    vmux_op_complete(op, ctl.fn(m, ctl.arg), NULL);
    vmux_op_free(op);
}
