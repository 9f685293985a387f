/*
 * The generic command API (call.h): encode in the caller's thread, submit, and either wait
 * (sync), return (async), or drop the reply (fire-and-forget).
 */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "core/encode.h"
#include "core/errbuf.h"
#include "core/nocancel.h"
#include "core/shareable.h"
#include "core/sized.h"
#include "core/explain.h"
#include "core/format.h"
#include "mux/handle.h"
#include "mux/mux.h"
#include "core/wait.h"
#include "vmux/call.h"
#include "vmux/error.h"

/* A synchronous caller waiting on its own stack for the I/O thread to complete its op. */
struct sync_wait {
    struct vmux_op_back back; /* first: where the op comes back to be freed here (core/op.h) */
    atomic_int state;         /* core/wait.h */
    int status;
    vmux_reply *reply;
    vmux *m; /* whose sync_waiting count the completion gives back */
};

static void sync_done(int status, vmux_reply *reply, void *userdata)
{
    struct sync_wait *w = userdata;
    w->status = status;
    w->reply = reply;
    atomic_fetch_sub_explicit(&w->m->sync_waiting, 1, memory_order_relaxed);
    vmux__wait_wake(&w->state); /* the caller may return from here on */
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
    if (*opts == NULL)
        return 0;
    int rc = vmux__callopts_read(*opts, VMUX__CALL_FLAGS_KNOWN, local);
    *opts = local;
    return rc;
}

bool vmux__call_flags_valid(uint32_t flags)
{
    uint32_t where = flags & (VMUX_CALL_PRIMARY | VMUX_CALL_REPLICA | VMUX_CALL_PREFER_REPLICA);
    return (flags & ~VMUX__CALL_FLAGS_KNOWN) == 0 && (where & (where - 1)) == 0; /* one at most */
}

int vmux__callopts_read(const vmux_callopts *opts, uint32_t allowed, vmux_callopts *o)
{
    if (opts == NULL) {
        *o = (vmux_callopts){.size = sizeof *o};
        return 0;
    }
    int rc = vmux__sized_in(o, sizeof *o, opts); /* zeroes *o first */
    return rc != 0 || (o->flags & ~allowed) != 0 || !vmux__call_flags_valid(o->flags) ||
                   o->timeout_ms < 0
               ? VMUX_ERR_INVALID_ARG
               : 0;
}

void vmux__callopts_why(const vmux_callopts *o, uint32_t allowed, char *buf, size_t len)
{
    if (o->flags & ~allowed)
        vmux__errbuf_set(buf, len,
                         "invalid argument: opts->flags has bits this call does not take "
                         "(0x%x)",
                         (unsigned)(o->flags & ~allowed));
    else if (!vmux__call_flags_valid(o->flags))
        vmux__errbuf_set(buf, len,
                         "invalid argument: opts->flags has two of VMUX_CALL_PRIMARY, "
                         "VMUX_CALL_REPLICA and VMUX_CALL_PREFER_REPLICA (one at most)");
    else if (o->timeout_ms < 0)
        vmux__errbuf_set(buf, len, "invalid argument: opts->timeout_ms is negative (%lld)",
                         (long long)o->timeout_ms);
}

uint32_t vmux__call_timeout(const vmux *m, const vmux_callopts *o, bool sync)
{
    if (o != NULL && o->timeout_ms != 0)
        return o->timeout_ms < UINT32_MAX ? (uint32_t)o->timeout_ms : UINT32_MAX;
    return (uint32_t)(sync ? vmux_config_sync_timeout(m->cfg) : vmux_config_async_timeout(m->cfg));
}

uint32_t vmux__call_op_flags(uint32_t asked)
{
    uint32_t flags = 0;
    if (asked & VMUX_CALL_RETRY_SAFE)
        flags |= VMUX_OP_RETRY_SAFE;
    if (asked & VMUX_CALL_BLOCKING)
        flags |= VMUX_OP_BLOCKING;
    if (asked & VMUX_CALL_PRIMARY)
        flags |= VMUX_OP_TO_PRIMARY;
    if (asked & VMUX_CALL_REPLICA)
        flags |= VMUX_OP_TO_REPLICA;
    if (asked & VMUX_CALL_PREFER_REPLICA)
        flags |= VMUX_OP_PREFER_REPLICA;
    if (asked & VMUX_CALL_TELL_UNSENT)
        flags |= VMUX_OP_TELL_UNSENT;
    return flags;
}

/* The op flags the caller asked for; the encoder already classified the command itself. */
static uint32_t op_flags(const vmux_callopts *opts)
{
    return vmux__call_op_flags(opts != NULL ? opts->flags : 0);
}

/*
 * Gives op its flags, timeout, deadline (from start_ns, read before a large command was encoded;
 * 0: from submission) and completion; on refusal frees it and returns the error (an unshareable
 * command's words in the caller's error buffer).
 */
static int prepare(const vmux_callopts *opts, struct vmux_op *op, uint32_t timeout_ms,
                   uint64_t start_ns, vmux_reply_cb cb, void *ud)
{
    op->flags |= op_flags(opts);
    if ((op->flags & VMUX_OP_UNSHAREABLE) && !(op->flags & VMUX_OP_TRUSTED)) {
        if (opts != NULL)
            vmux__unshareable_explain_resp(opts->errbuf, opts->errlen, op->cmd, op->len);
        vmux__op_free(op);
        return VMUX_ERR_UNSUPPORTED;
    }
    op->timeout_ms = timeout_ms;
    if (start_ns != 0)
        op->deadline_ns = start_ns + (uint64_t)timeout_ms * 1000000u;
    op->cb = cb;
    op->userdata = ud;
    return 0;
}

/*
 * Places op by the router's mode (vmux__router_place(): argv NULL, from its encoded bytes; flags
 * decide readFrom's marking). Refused (keys in two slots), op is freed and the words are in the
 * caller's error buffer.
 */
static int place(vmux *m, const vmux_callopts *opts, struct vmux_op *op, uint32_t flags, int argc,
                 const char *const *argv, const size_t *argvlen)
{
    char why[256];
    int rc = vmux__router_place(&m->router, op, flags, argc, argv, argvlen, why, sizeof why);
    if (rc != 0 && opts != NULL && opts->errbuf != NULL && opts->errlen != 0)
        vmux__errbuf_set(opts->errbuf, opts->errlen, "%s", why);
    return rc;
}

/*
 * Places op, from its bytes, in the caller's thread, once (place()): a cluster computes its slot,
 * standalone readFrom (or VMUX_CALL_REPLICA, VMUX_CALL_PREFER_REPLICA) with replica endpoints
 * marks a read. A control op, or one whose slot is set already, is left as it is.
 */
static int classify_slot(vmux *m, const vmux_callopts *opts, struct vmux_op *op)
{
    if ((op->flags & VMUX_OP_CONTROL) || op->slot != VMUX_OP_SLOT_UNSET)
        return 0;
    return place(m, opts, op, op->flags, 0, NULL, NULL);
}

/*
 * Submits op, placed already (encode()), with its completion; takes op (refused, it is freed and
 * the error returned).
 */
static int submit(vmux *m, const vmux_callopts *opts, struct vmux_op *op, uint32_t timeout_ms,
                  uint64_t start_ns, vmux_reply_cb cb, void *ud)
{
    int rc = prepare(opts, op, timeout_ms, start_ns, cb, ud);
    return rc != 0 ? rc : vmux__submit(m, op);
}

/* Fills the caller's optional error buffer (core/explain.h). */
static void explain(const vmux_callopts *opts, int rc, const vmux_reply *reply)
{
    if (opts != NULL)
        vmux__explain(opts->errbuf, opts->errlen, rc, reply);
}

/* A call refused with rc before anything was sent (vmux__explain_refused()). */
static void explain_refused(const vmux_callopts *opts, int rc)
{
    if (opts != NULL)
        vmux__explain_refused(opts->errbuf, opts->errlen, rc);
}

/*
 * Submits op (writing it, and reading its reply, itself when it can) and blocks until it is
 * complete; placed: encode() placed it already, else it is placed here from its bytes. The
 * caller holds m (vmux__hold()); this lets go of it once op is handed over or refused, and does
 * not touch m after: vmux_close() may free the handle as soon as op completes, so the waiter
 * count is given back by the completion (sync_done).
 */
static int call_op_held(vmux *m, const vmux_callopts *opts, struct vmux_op *op, uint64_t start_ns,
                        bool placed, vmux_reply **out)
{
    struct sync_wait w = {.state = VMUX_WAIT_IDLE, .m = m};
    atomic_fetch_add_explicit(&m->sync_waiting, 1, memory_order_relaxed);
    struct vmux_link *reader = NULL;
    /* failing unsent, it brings its link's last failure; finished, it comes back to be freed
     * on this thread (w.back) */
    op->flags |= VMUX_OP_TELL_WHY | VMUX_OP_HANDBACK;
    int rc = prepare(opts, op, vmux__call_timeout(m, opts, true), start_ns, sync_done, &w);
    placed = rc == 0 && (placed || (rc = classify_slot(m, opts, op)) == 0); /* else: errbuf */
    size_t len = placed ? op->len : 0; /* op is not ours once submitted (nor once refused) */
    if (placed)
        rc = vmux__submit_sync(m, op, &reader);
    bool refused = placed && rc != 0; /* not accepted: nothing was sent */
    if (rc != 0)
        atomic_fetch_sub_explicit(&m->sync_waiting, 1, memory_order_relaxed);
    if (rc == VMUX_ERR_BACKLOG_FULL && opts != NULL) /* refused at the door: which bound */
        vmux__door_why(m, 1, len, opts->errbuf, opts->errlen);
    vmux__leave(m);
    if (!placed)
        return rc;
    bool at_door = rc == VMUX_ERR_BACKLOG_FULL; /* refused by vmux__submit_sync(), not completed */
    if (rc == 0) {
        if (reader != NULL)
            vmux__lane_read(reader, op); /* completes op here, or hands it to the I/O thread */
        vmux__wait_sleep(&w.state);
        rc = w.status;
        *out = w.reply;
        if (w.back.op != NULL)
            vmux__op_free_back(w.back.op);
    }
    if (refused && rc == VMUX_ERR_CLOSED)
        explain_refused(opts, rc);
    else if (!at_door && rc != VMUX_ERR_UNSUPPORTED)
        explain(opts, rc, *out); /* (an unsupported command's words are there: prepare()) */
    if (rc == VMUX_ERR_CROSSSLOT || rc == VMUX_ERR_CONFIG || vmux__words_code(rc)) {
        /* words in the buffer: *out stays NULL */
        vmux_reply_free(*out);
        *out = NULL;
    }
    return rc;
}

/* call_op_held() with thread cancellation held off (core/nocancel.h). */
static int call_op(vmux *m, const vmux_callopts *opts, struct vmux_op *op, uint64_t start_ns,
                   bool placed, vmux_reply **out)
{
    int cancel = vmux__nocancel();
    int rc = call_op_held(m, opts, op, start_ns, placed, out);
    vmux__cancel_restore(cancel);
    return rc;
}

static int check_sync(vmux *m, const vmux_callopts **opts, vmux_callopts *local, vmux_reply **out)
{
    if (out != NULL)
        *out = NULL;
    /* First: every refusal's words then reach the caller's buffer through the copy, as far as
     * the caller's size goes (a size short of errbuf: none) */
    int rc = check_opts(opts, local);
    if (m == NULL || out == NULL)
        return VMUX_ERR_INVALID_ARG;
    if (vmux__forked(m))
        return VMUX_ERR_FORKED; /* a child forked from a callback is on no I/O thread */
    if (vmux__sync_refused_on_io(m, *opts))
        return VMUX_ERR_INVALID_ARG; /* words for the caller's buffer (or vmux_last_error()) */
    return rc;
}

bool vmux__sync_refused_on_io(const vmux *m, const vmux_callopts *opts)
{
    if (vmux__forked(m) || !vmux__on_io_thread(m))
        return false;
    if (opts != NULL && opts->errbuf != NULL && opts->errlen != 0)
        vmux__errbuf_set(opts->errbuf, opts->errlen, "%s", vmux__on_io_thread_words);
    return true;
}

/* What the door decided for a large command (at_door), before it was encoded. */
struct door {
    vmux *m;
    const vmux_callopts *opts; /* a refusal's words go to its error buffer */
    uint64_t start_ns;         /* its deadline's start; 0 (a small command): from submission */
    size_t reserved; /* the bytes admitted for it; 0: none (a small one is admitted later) */
};

/*
 * The gate of a large command (core/encode.h): admits it at the door (maxPending,
 * maxPendingBytes), so that refusing a large value costs no copy of it, and starts its deadline,
 * so that the copy counts. A small command skips this: its copy costs nothing, and it is
 * admitted, and its clock read once, at submission, as it always was.
 */
static int at_door(size_t size, void *arg)
{
    struct door *d = arg;
    int rc = vmux__reserve(d->m, size);
    if (rc == 0) {
        d->reserved = size;
        d->start_ns = uv_hrtime();
    } else if (d->opts != NULL) { /* which bound, and this command's size against it */
        vmux__door_why(d->m, 1, size, d->opts->errbuf, d->opts->errlen);
    }
    return rc;
}

/* Encodes argv into *out through the door (at_door); *start_ns as struct door says. */
static int encode_admitted(vmux *m, const vmux_callopts *opts, int argc, const char *const *argv,
                           const size_t *argvlen, struct vmux_op **out, uint64_t *start_ns)
{
    struct door d = {.m = m, .opts = opts};
    int rc = vmux__encode_op_gated(argc, argv, argvlen, at_door, &d, out);
    if (rc == 0 && d.reserved != 0)
        vmux__reserved(m, *out);
    else if (rc != 0 && d.reserved != 0)
        vmux__unreserve(m, d.reserved); /* out of memory after the door */
    *start_ns = d.start_ns;
    return rc;
}

/*
 * Encodes argv into *out, admitted, with *start_ns its deadline's start (encode_admitted()), and
 * places it from argv too (place(), with the flags the caller asked for: the op has none of them
 * yet). Refused (keys in two slots), nothing is left in *out and the message is in the caller's
 * error buffer.
 */
static int encode(vmux *m, const vmux_callopts *opts, int argc, const char *const *argv,
                  const size_t *argvlen, struct vmux_op **out, uint64_t *start_ns)
{
    if (vmux__forked(m))
        return VMUX_ERR_FORKED; /* before any allocation: see vmux__forked() */
    int rc = encode_admitted(m, opts, argc, argv, argvlen, out, start_ns);
    if (rc == 0 && (rc = place(m, opts, *out, op_flags(opts), argc, argv, argvlen)) != 0)
        *out = NULL;
    return rc;
}

/* A command's argument vector, as vmux_call() takes it. */
struct argv_ref {
    int argc;
    const char *const *argv;
    const size_t *argvlen;
};

/*
 * Words for a call's refusal before anything was sent: which argument, where it can say.
 * missing: what the call lacks besides the handle (vmux_call()'s out, vmux_call_async()'s cb),
 * NULL if nothing. sync: vmux_call(), which the I/O thread may not make. encoding: the refusal
 * came from encoding args (m, out or cb, and the options were accepted).
 */
static void explain_refusal(const vmux *m, const vmux_callopts *opts, int rc, const char *missing,
                            bool sync, bool encoding, struct argv_ref args)
{
    if (opts == NULL || rc == VMUX_ERR_CROSSSLOT)
        return; /* no buffer, or the keys and their slots are in it already */
    char *buf = opts->errbuf;
    size_t len = opts->errlen;
    if (rc == VMUX_ERR_BACKLOG_FULL)
        return; /* only a large command's door refuses it here, and wrote why (at_door()) */
    if (rc != VMUX_ERR_INVALID_ARG)
        explain_refused(opts, rc);
    else if (m == NULL)
        vmux__errbuf_set(buf, len, "invalid argument: the handle is NULL");
    else if (missing != NULL)
        vmux__errbuf_set(buf, len, "invalid argument: %s", missing);
    else if (!encoding && sync && vmux__on_io_thread(m))
        return; /* its message is in the buffer already */
    else if (!encoding)
        vmux__callopts_why(opts, VMUX__CALL_FLAGS_KNOWN, buf, len); /* opts: the caller's, copied */
    else if (!vmux__explain_argv(buf, len, args.argc, args.argv, args.argvlen))
        explain(opts, rc, NULL);
}

/* The words for a synchronous call's out, when it is NULL; else NULL. */
static const char *out_missing(vmux_reply **out)
{
    return out != NULL ? NULL : "out is NULL (vmux_call_forget() is the call that drops its reply)";
}

/* A call refused because its handle is closing (vmux__hold()); it reads m no more. */
static int refuse_closing(const vmux_callopts *opts, vmux_reply **out)
{
    vmux_callopts local;
    if (out != NULL)
        *out = NULL;
    if (check_opts(&opts, &local) == 0)
        explain_refused(opts, VMUX_ERR_CLOSED);
    return VMUX_ERR_CLOSED;
}

/* Lets go of m (vmux__hold()) on a call's way out; returns rc. */
static int let_go(vmux *m, int rc)
{
    if (m != NULL)
        vmux__leave(m);
    return rc;
}

int vmux_call(vmux *m, const vmux_callopts *opts, int argc, const char *const *argv,
              const size_t *argvlen, vmux_reply **out)
{
    uint64_t start = 0; /* of the deadline: set before encoding a large command */
    struct vmux_op *op;
    vmux_callopts local;
    if (m != NULL && !vmux__hold(m))
        return refuse_closing(opts, out);
    int rc = check_sync(m, &opts, &local, out);
    bool encoding = rc == 0;
    if (encoding)
        rc = encode(m, opts, argc, argv, argvlen, &op, &start);
    if (rc != 0) {
        explain_refusal(m, opts, rc, out_missing(out), true, encoding,
                        (struct argv_ref){argc, argv, argvlen});
        return let_go(m, rc);
    }
    return call_op(m, opts, op, start, true, out); /* lets go of m */
}

/*
 * Submits an async op (submit()), with words for a refusal in the caller's error buffer: the
 * bound the door found full, or the code's words (closing, forked); an unshareable command's are
 * there already (prepare()).
 */
static int submit_async(vmux *m, const vmux_callopts *opts, struct vmux_op *op, uint64_t start_ns,
                        vmux_reply_cb cb, void *ud)
{
    size_t len = op->len; /* op is not ours once submitted (nor once refused) */
    int rc = submit(m, opts, op, vmux__call_timeout(m, opts, false), start_ns, cb, ud);
    if (rc == VMUX_ERR_BACKLOG_FULL && opts != NULL)
        vmux__door_why(m, 1, len, opts->errbuf, opts->errlen);
    else if (rc != 0 && rc != VMUX_ERR_UNSUPPORTED)
        explain_refused(opts, rc);
    return rc;
}

/*
 * The checks and encoding vmux_call_async() and vmux_call_forget() share, the caller holding m
 * (or m NULL): *op encoded and placed, or a refusal with vmux_call()'s words for it in the
 * caller's error buffer (cb_missing: the async call's callback is NULL).
 */
static int encode_async(vmux *m, const vmux_callopts **opts, vmux_callopts *local, bool cb_missing,
                        struct argv_ref args, struct vmux_op **op, uint64_t *start)
{
    int rc = check_opts(opts, local); /* first: the words go only as far as its size */
    if (m == NULL || cb_missing)
        rc = VMUX_ERR_INVALID_ARG;
    bool encoding = rc == 0;
    if (encoding)
        rc = encode(m, *opts, args.argc, args.argv, args.argvlen, op, start);
    if (rc != 0)
        explain_refusal(m, *opts, rc, cb_missing ? "cb is NULL" : NULL, false, encoding, args);
    return rc;
}

int vmux_call_async(vmux *m, const vmux_callopts *opts, int argc, const char *const *argv,
                    const size_t *argvlen, vmux_reply_cb cb, void *userdata)
{
    uint64_t start = 0; /* of the deadline: set before encoding a large command */
    struct vmux_op *op;
    vmux_callopts local;
    if (m != NULL && !vmux__hold(m))
        return refuse_closing(opts, NULL);
    int rc = encode_async(m, &opts, &local, cb == NULL, (struct argv_ref){argc, argv, argvlen}, &op,
                          &start);
    if (rc != 0)
        return let_go(m, rc);
    /* failing, its callback finds why in vmux_last_error(): the why an unsent or lost op brings
     * becomes words there (core/why.h) */
    op->flags |= VMUX_OP_TELL_WHY | VMUX_OP_WORDS;
    return let_go(m, submit_async(m, opts, op, start, cb, userdata));
}

int vmux_call_forget(vmux *m, const vmux_callopts *opts, int argc, const char *const *argv,
                     const size_t *argvlen)
{
    uint64_t start = 0; /* of the deadline: set before encoding a large command */
    struct vmux_op *op;
    vmux_callopts local;
    if (m != NULL && !vmux__hold(m))
        return refuse_closing(opts, NULL);
    int rc =
        encode_async(m, &opts, &local, false, (struct argv_ref){argc, argv, argvlen}, &op, &start);
    if (rc == 0)
        rc = submit_async(m, opts, op, start, forget_done, NULL);
    return let_go(m, rc);
}

/* A format string refused before anything was sent: rc, with words in the caller's buffer. */
static int refuse_format(const vmux_callopts *opts, int rc, const char *words)
{
    if (opts != NULL && words != NULL)
        vmux__errbuf_set(opts->errbuf, opts->errlen, "invalid argument: %s", words);
    else
        explain(opts, rc, NULL);
    return rc;
}

int vmux_vcommand(vmux *m, const vmux_callopts *opts, vmux_reply **out, const char *format,
                  va_list ap)
{
    vmux_callopts local;
    if (m != NULL && !vmux__hold(m))
        return refuse_closing(opts, out);
    int rc = check_sync(m, &opts, &local, out);
    if (rc != 0) {
        explain_refusal(m, opts, rc, out_missing(out), true, false,
                        (struct argv_ref){0, NULL, NULL});
        return let_go(m, rc);
    }
    if (format == NULL)
        return let_go(m, refuse_format(opts, VMUX_ERR_INVALID_ARG, "the format string is NULL"));
    char why[VMUX_FORMAT_WHY_SIZE];
    struct vmux_op *op;
    rc = vmux__format_op(format, ap, &op, why, sizeof why);
    if (rc != 0)
        return let_go(m, refuse_format(opts, rc, rc == VMUX_ERR_INVALID_ARG ? why : NULL));
    return call_op(m, opts, op, 0, false, out);
}

int vmux_command_opts(vmux *m, const vmux_callopts *opts, vmux_reply **out, const char *format, ...)
{
    va_list ap;
    va_start(ap, format);
    int rc = vmux_vcommand(m, opts, out, format, ap);
    va_end(ap);
    return rc;
}

int vmux_command(vmux *m, vmux_reply **out, const char *format, ...)
{
    va_list ap;
    va_start(ap, format);
    int rc = vmux_vcommand(m, NULL, out, format, ap);
    va_end(ap);
    return rc;
}

int vmux__call_prepared(vmux *m, const vmux_callopts *opts, struct vmux_op *op, vmux_reply **out)
{
    vmux_callopts local;
    if (m != NULL && !vmux__hold(m)) {
        vmux__op_free(op);
        return refuse_closing(opts, out);
    }
    int rc = check_sync(m, &opts, &local, out);
    if (rc != 0) {
        vmux__op_free(op);
        return let_go(m, rc);
    }
    op->flags |= VMUX_OP_TRUSTED;
    return call_op(m, opts, op, 0, false, out);
}

int vmux__run_on_io(vmux *m, int (*fn)(vmux *m, void *arg), void *arg)
{
    return vmux__hold(m) ? vmux__run_on_io_held(m, fn, arg) : VMUX_ERR_CLOSED;
}

int vmux__run_on_io_held(vmux *m, int (*fn)(vmux *m, void *arg), void *arg)
{
    if (vmux__forked(m)) /* first: a child forked from a callback runs on the I/O thread's id */
        return let_go(m, VMUX_ERR_FORKED);
    if (vmux__on_io_thread(m))
        return let_go(m, m->io_closing ? VMUX_ERR_CLOSED : fn(m, arg));
    struct vmux_op *op = vmux__op_new(0);
    if (op == NULL)
        return let_go(m, VMUX_ERR_NOMEM);
    op->flags = VMUX_OP_TRUSTED | VMUX_OP_CONTROL;
    op->control.fn = fn;
    op->control.arg = arg;
    vmux_reply *ignored = NULL;
    return call_op(m, NULL, op, 0, false, &ignored); /* lets go of m */
}

void vmux__run_control(vmux *m, struct vmux_op *op)
{
    int rc = op->control.fn(m, op->control.arg);
    if (rc == VMUX__CONTROL_WAIT && vmux__router_mode(&m->router) == VMUX_ROUTER_DETECTING)
        vmux__wait_settled(m, op);
    else if (rc == VMUX__CONTROL_WAIT_MAP)
        vmux__wait_refresh(m, op);
    else
        vmux__op_finish(op, rc, NULL);
}
