/*
 * The generic command API (call.h): encode in the caller's thread, submit, and either wait
 * (sync), return (async), or drop the reply (fire-and-forget).
 */
#include <hiredis/hiredis.h>
#include <stdarg.h>
#include <stdlib.h>

#include "core/encode.h"
#include "mux/mux.h"
#include "vmux/call.h"
#include "vmux/error.h"

/* A synchronous caller waiting on its own stack for the I/O thread to complete its op. */
struct sync_wait {
    uv_mutex_t mu;
    uv_cond_t cv;
    bool done;
    int status;
    vmux_reply *reply;
};

static void sync_done(int status, vmux_reply *reply, void *userdata)
{
    struct sync_wait *w = userdata;
    uv_mutex_lock(&w->mu);
    w->status = status;
    w->reply = reply;
    w->done = true;
    uv_cond_signal(&w->cv);
    uv_mutex_unlock(&w->mu);
}

static void forget_done(int status, vmux_reply *reply, void *userdata)
{
    (void)status;
    (void)userdata;
    vmux_reply_free(reply);
}

static int check_opts(const vmux_callopts *opts)
{
    return opts != NULL && opts->flags != 0 ? VMUX_ERR_INVALID_ARG : 0;
}

static uint32_t timeout_for(vmux *m, const vmux_callopts *opts, bool sync)
{
    if (opts != NULL && opts->timeout_ms != 0)
        return opts->timeout_ms;
    return (uint32_t)(sync ? vmux_config_sync_timeout(m->cfg) : vmux_config_async_timeout(m->cfg));
}

/* Submits op with its completion; on refusal frees it and returns the error. */
static int submit(vmux *m, struct vmux_op *op, uint32_t timeout_ms, vmux_reply_cb cb, void *ud)
{
    op->timeout_ms = timeout_ms;
    op->cb = cb;
    op->userdata = ud;
    int rc = vmux_submit(m, op);
    if (rc != 0)
        vmux_op_free(op);
    return rc;
}

/* Submits op and blocks until the I/O thread completes it. */
static int call_op(vmux *m, const vmux_callopts *opts, struct vmux_op *op, vmux_reply **out)
{
    struct sync_wait w = {.done = false};
    uv_mutex_init(&w.mu);
    uv_cond_init(&w.cv);
    int rc = submit(m, op, timeout_for(m, opts, true), sync_done, &w);
    if (rc == 0) {
        uv_mutex_lock(&w.mu);
        while (!w.done)
            uv_cond_wait(&w.cv, &w.mu);
        uv_mutex_unlock(&w.mu);
        rc = w.status;
        *out = w.reply;
    }
    uv_cond_destroy(&w.cv);
    uv_mutex_destroy(&w.mu);
    return rc;
}

static int check_sync(vmux *m, const vmux_callopts *opts, vmux_reply **out)
{
    if (out != NULL)
        *out = NULL;
    if (m == NULL || out == NULL || vmux_on_io_thread(m))
        return VMUX_ERR_INVALID_ARG;
    return check_opts(opts);
}

int vmux_call(vmux *m, const vmux_callopts *opts, int argc, const char *const *argv,
              const size_t *argvlen, vmux_reply **out)
{
    struct vmux_op *op;
    int rc = check_sync(m, opts, out);
    if (rc == 0)
        rc = vmux_encode_op(argc, argv, argvlen, &op);
    return rc != 0 ? rc : call_op(m, opts, op, out);
}

int vmux_call_async(vmux *m, const vmux_callopts *opts, int argc, const char *const *argv,
                    const size_t *argvlen, vmux_reply_cb cb, void *userdata)
{
    struct vmux_op *op;
    if (m == NULL || cb == NULL)
        return VMUX_ERR_INVALID_ARG;
    int rc = check_opts(opts);
    if (rc == 0)
        rc = vmux_encode_op(argc, argv, argvlen, &op);
    return rc != 0 ? rc : submit(m, op, timeout_for(m, opts, false), cb, userdata);
}

int vmux_call_forget(vmux *m, const vmux_callopts *opts, int argc, const char *const *argv,
                     const size_t *argvlen)
{
    struct vmux_op *op;
    if (m == NULL)
        return VMUX_ERR_INVALID_ARG;
    int rc = check_opts(opts);
    if (rc == 0)
        rc = vmux_encode_op(argc, argv, argvlen, &op);
    return rc != 0 ? rc : submit(m, op, timeout_for(m, opts, false), forget_done, NULL);
}

int vmux_command(vmux *m, vmux_reply **out, const char *format, ...)
{
    int rc = check_sync(m, NULL, out);
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
    struct vmux_op *op;
    rc = vmux_encode_op_raw(cmd, (size_t)len, &op);
    redisFreeCommand(cmd);
    return rc != 0 ? rc : call_op(m, NULL, op, out);
}
