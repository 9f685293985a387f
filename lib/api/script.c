/* Scripts that load themselves (script.h): run synchronously, or asynchronously. */
#include "vmux/script.h"

#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "api/typed.h"
#include "core/budget.h"
#include "core/errbuf.h"
#include "core/errclass.h"
#include "core/sized.h"
#include "core/why.h"
#include "mux/handle.h"
#include "vmux/error.h"

struct vmux_script {
    char sha1[41];
    size_t len;
    char source[];
};

int vmux__script_make(vmux_str source, vmux_script **out)
{
    if (out == NULL || source.ptr == NULL || source.len == 0)
        return VMUX_ERR_INVALID_ARG;
    *out = NULL;
    vmux_script *s = malloc(sizeof(*s) + source.len + 1);
    if (s == NULL)
        return VMUX_ERR_NOMEM;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (EVP_Digest(source.ptr, source.len, md, &mdlen, EVP_sha1(), NULL) != 1 || mdlen != 20) {
        free(s);
        return VMUX_ERR_NOMEM;
    }
    for (unsigned i = 0; i < mdlen; i++)
        snprintf(s->sha1 + 2 * i, 3, "%02x", md[i]);
    memcpy(s->source, source.ptr, source.len);
    s->source[source.len] = '\0';
    s->len = source.len;
    *out = s;
    return 0;
}

int vmux_script_new(vmux_str source, vmux_script **out)
{
    vmux__why_begin();
    if (out == NULL)
        return vmux__why_set(VMUX_ERR_INVALID_ARG, "out is NULL");
    int rc = vmux__why_str("source", source);
    if (rc == 0 && source.len == 0)
        rc = vmux__why_set(VMUX_ERR_INVALID_ARG, "source is empty: a script needs its Lua source");
    return rc != 0 ? rc : vmux__why_end(vmux__script_make(source, out));
}

void vmux_script_free(vmux_script *s)
{
    free(s);
}

const char *vmux_script_sha1(const vmux_script *s)
{
    return s != NULL ? s->sha1 : NULL; /* as every getter, NULL takes NULL */
}

/* EVALSHA sha (or EVAL source) nkeys keys... args... */
static void build(struct vmux_args *a, const vmux_script *s, bool by_sha, const vmux_str *keys,
                  size_t nkeys, const vmux_str *args, size_t nargs)
{
    vmux__args_init(a);
    vmux__args_cstr(a, by_sha ? "EVALSHA" : "EVAL");
    if (by_sha)
        vmux__args_add(a, s->sha1, 40);
    else
        vmux__args_add(a, s->source, s->len);
    vmux__args_int(a, (int64_t)nkeys);
    for (size_t i = 0; i < nkeys; i++)
        vmux__args_str(a, keys[i]);
    for (size_t i = 0; i < nargs; i++)
        vmux__args_str(a, args[i]);
}

static bool is_noscript(int rc, const vmux_reply *r)
{
    return rc == VMUX_ERR_SERVER && vmux__errclass_of(r) == VMUX_ERRCLASS_NOSCRIPT;
}

/*
 * The EVALSHA of a synchronous run. A NOSCRIPT is no failure of the run (the EVAL answers it), so
 * it must not reach the caller's error buffer, which is written only when the call fails: the
 * call writes into a buffer of its own, copied to the caller's for any other error (the words of
 * an error reply taken whole from it; the library's own messages fit in 256 bytes).
 */
static int run_by_sha(vmux *m, const vmux_callopts *opts, struct vmux_args *a, vmux_reply **out)
{
    vmux_callopts o = vmux__callopts_copy(opts);
    char *errbuf = o.errbuf;
    size_t errlen = o.errlen;
    char why[256] = "";
    if (errbuf != NULL && errlen != 0) {
        o.errbuf = why;
        o.errlen = sizeof why;
    }
    int rc = vmux__typed_call(m, &o, a, false, out);
    if (rc == 0 || is_noscript(rc, *out) || o.errbuf != why)
        return rc;
    const char *said = *out != NULL ? vmux_reply_str(*out, NULL) : NULL;
    if (said != NULL || why[0] != '\0') /* else the call left it untouched: so does the run */
        vmux__errbuf_set(errbuf, errlen, "%s", said != NULL ? said : why);
    return rc;
}

/*
 * How a run ends whose deadline passed before its EVAL could be sent: the script did not run
 * (the EVALSHA was answered NOSCRIPT), which VMUX_CALL_TELL_UNSENT asks to be told.
 */
static int out_of_time(uint32_t flags)
{
    return (flags & VMUX_CALL_TELL_UNSENT) ? VMUX_ERR_NOT_CONNECTED : VMUX_ERR_TIMEOUT;
}

/*
 * The EVAL after a NOSCRIPT in a synchronous run that started at start_ns: it gets what is left
 * of the run's deadline (opts' timeout, or syncTimeout), and is not sent when nothing is left
 * (out_of_time(), its description in opts->errbuf). opts was read by the EVALSHA's call.
 */
static int resend_sync(vmux *m, const vmux_callopts *opts, uint64_t start_ns, const vmux_script *s,
                       const vmux_str *keys, size_t nkeys, const vmux_str *args, size_t nargs,
                       vmux_reply **out)
{
    vmux_callopts o = vmux__callopts_copy(opts);
    uint64_t left = vmux__budget_left_ms(
        vmux__budget_end(o.timeout_ms, vmux__sync_timeout(m), start_ns), uv_hrtime());
    if (left == 0) {
        int rc = out_of_time(o.flags);
        if (o.errbuf != NULL && o.errlen != 0)
            vmux__errbuf_set(o.errbuf, o.errlen, "%s", vmux_strerror(rc));
        return rc;
    }
    o.timeout_ms = (int64_t)left;
    struct vmux_args a;
    build(&a, s, false, keys, nkeys, args, nargs);
    return vmux__typed_call(m, &o, &a, false, out);
}

/* Words for arguments a run refused: missing (a NULL pointer's name), else keys, else args. */
static int refuse_run(const vmux_callopts *opts, const char *missing, const vmux_str *keys,
                      size_t nkeys, size_t nargs)
{
    if (missing != NULL)
        return vmux__typed_refuse(opts, "%s is NULL", missing);
    if (nkeys > 0 && keys == NULL)
        return vmux__typed_refuse(opts, "keys is NULL with nkeys %zu", nkeys);
    return vmux__typed_refuse(opts, "args is NULL with nargs %zu", nargs);
}

int vmux_script_run(vmux *m, const vmux_callopts *opts, const vmux_script *s, const vmux_str *keys,
                    size_t nkeys, const vmux_str *args, size_t nargs, vmux_reply **out)
{
    if (out != NULL)
        *out = NULL;
    if (s == NULL || out == NULL || (nkeys > 0 && keys == NULL) || (nargs > 0 && args == NULL))
        return refuse_run(opts, s == NULL ? "s" : out == NULL ? "out" : NULL, keys, nkeys, nargs);
    uint64_t start_ns = uv_hrtime(); /* one deadline for the run, both sends included */
    struct vmux_args a;
    build(&a, s, true, keys, nkeys, args, nargs);
    int rc = run_by_sha(m, opts, &a, out);
    if (!is_noscript(rc, *out))
        return rc;
    vmux_reply_free(*out); /* NOSCRIPT: it did not run; send the source, which loads it */
    *out = NULL;
    return resend_sync(m, opts, start_ns, s, keys, nkeys, args, nargs, out);
}

/* ---- asynchronous runs ---- */

/*
 * One asynchronous run: whom to tell, and what the EVAL after a NOSCRIPT needs (copies of the
 * keys and arguments, whose bytes follow the struct, and what is left of the deadline).
 */
struct script_run {
    vmux *m;
    const vmux_script *s;
    vmux_reply_cb cb;
    void *userdata;
    uint32_t flags;
    bool resent;
    uint64_t deadline; /* uv_hrtime() */
    size_t nkeys, nargs;
    vmux_str strs[]; /* the keys, then the arguments; then their bytes */
};

/* Copies n strings into dst, their bytes at *bytes (advanced); a NULL ptr stays NULL. */
static void copy_strs(vmux_str *dst, const vmux_str *src, size_t n, char **bytes)
{
    for (size_t i = 0; i < n; i++) {
        dst[i] = (vmux_str){NULL, 0};
        if (src[i].ptr == NULL)
            continue;
        if (src[i].len > 0)
            memcpy(*bytes, src[i].ptr, src[i].len);
        dst[i] = (vmux_str){*bytes, src[i].len};
        *bytes += src[i].len;
    }
}

/* Adds the lengths of n strings to *total; false on overflow. */
static bool add_lens(size_t *total, const vmux_str *strs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (strs[i].ptr != NULL && strs[i].len > SIZE_MAX - *total)
            return false;
        *total += strs[i].ptr != NULL ? strs[i].len : 0;
    }
    return true;
}

static struct script_run *run_new(const vmux_str *keys, size_t nkeys, const vmux_str *args,
                                  size_t nargs)
{
    size_t n = nkeys + nargs, bytes = 0;
    if (n < nkeys || n > (SIZE_MAX - sizeof(struct script_run)) / sizeof(vmux_str))
        return NULL;
    size_t head = sizeof(struct script_run) + n * sizeof(vmux_str);
    if (!add_lens(&bytes, keys, nkeys) || !add_lens(&bytes, args, nargs) || bytes > SIZE_MAX - head)
        return NULL;
    struct script_run *run = malloc(head + bytes);
    if (run == NULL)
        return NULL;
    char *at = (char *)run + head;
    copy_strs(run->strs, keys, nkeys, &at);
    copy_strs(run->strs + nkeys, args, nargs, &at);
    run->nkeys = nkeys;
    run->nargs = nargs;
    run->resent = false;
    return run;
}

static void run_done(int status, vmux_reply *reply, void *userdata);

/*
 * The EVAL after a NOSCRIPT, with what is left of the run's deadline; not sent when nothing is
 * (out_of_time(), as a synchronous run).
 */
static int resend(struct script_run *run)
{
    uint64_t left_ms = vmux__budget_left_ms(run->deadline, uv_hrtime());
    if (left_ms == 0)
        return out_of_time(run->flags);
    vmux_callopts o = VMUX_INIT(vmux_callopts, .timeout_ms = (int64_t)left_ms, .flags = run->flags);
    struct vmux_args a;
    build(&a, run->s, false, run->strs, run->nkeys, run->strs + run->nkeys, run->nargs);
    return vmux__typed_async(run->m, &o, &a, false, run_done, run);
}

/* On the I/O thread: the one place that tells the caller, once. */
static void run_done(int status, vmux_reply *reply, void *userdata)
{
    struct script_run *run = userdata;
    if (!run->resent && is_noscript(status, reply)) {
        vmux_reply_free(reply); /* NOSCRIPT: it did not run; send the source, which loads it */
        reply = NULL;
        run->resent = true;
        status = resend(run);
        if (status == 0)
            return;
    }
    run->cb(status, reply, run->userdata);
    free(run);
}

int vmux_script_run_async(vmux *m, const vmux_callopts *opts, const vmux_script *s,
                          const vmux_str *keys, size_t nkeys, const vmux_str *args, size_t nargs,
                          vmux_reply_cb cb, void *userdata)
{
    if (m == NULL || s == NULL || cb == NULL || (nkeys > 0 && keys == NULL) ||
        (nargs > 0 && args == NULL))
        return refuse_run(opts,
                          m == NULL    ? "the handle"
                          : s == NULL  ? "s"
                          : cb == NULL ? "cb"
                                       : NULL,
                          keys, nkeys, nargs);
    vmux_callopts o = vmux__callopts_copy(opts);
    if (o.size == 0) /* options that cannot be read: no buffer to write into */
        return VMUX_ERR_INVALID_ARG;
    if (o.timeout_ms < 0)
        return vmux__typed_refuse(opts, "opts->timeout_ms is %lld: must be at least 0",
                                  (long long)o.timeout_ms);
    struct script_run *run = run_new(keys, nkeys, args, nargs);
    if (run == NULL)
        return VMUX_ERR_NOMEM;
    run->m = m;
    run->s = s;
    run->cb = cb;
    run->userdata = userdata;
    run->flags = o.flags;
    run->deadline = vmux__budget_end(o.timeout_ms, vmux__async_timeout(m), uv_hrtime());
    struct vmux_args a;
    build(&a, s, true, keys, nkeys, args, nargs);
    int rc = vmux__typed_async(m, &o, &a, false, run_done, run);
    if (rc != 0)
        free(run); /* not accepted: run_done never runs */
    return rc;
}
