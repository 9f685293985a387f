/* Cursor iterators (scan.h). */
#include "vmux/scan.h"

#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "api/fanout.h"
#include "api/scan_cluster.h"
#include "api/typed.h"
#include "mux/fanout.h"
#include "mux/handle.h"
#include "core/budget.h"
#include "core/errbuf.h"
#include "core/sized.h"
#include "core/why.h"
#include "vmux/error.h"
#include "vmux/hashes.h"

enum scan_kind { SCAN_KEYS, SCAN_HASH, SCAN_SET, SCAN_ZSET, SCAN_ANY /* a filter only */ };

/* A cursor is an unsigned 64-bit number; the server sends it as text, and we send it back so. */
#define CURSOR_MAX 32

struct vmux_scan {
    vmux *m;
    enum scan_kind kind;
    char *key; /* NULL for SCAN */
    size_t keylen;
    char *match; /* NULL: no MATCH */
    char *type;  /* NULL: no TYPE */
    int64_t count;
    char cursor[CURSOR_MAX]; /* on a cluster: the SCAN cursor of the node being scanned */
    size_t cursorlen;
    bool done;
    bool begun;            /* a step was taken: whether it is a cluster SCAN is decided */
    struct vmux_cscan *cl; /* SCAN on a cluster: the scanned slots and the node; else NULL */
};

static char *copy_mem(const void *p, size_t len)
{
    char *s = malloc(len + 1);
    if (s != NULL) {
        if (len > 0)
            memcpy(s, p, len);
        s[len] = '\0';
    }
    return s;
}

static bool copy_opt(const char *s, char **out)
{
    *out = s != NULL ? copy_mem(s, strlen(s)) : NULL;
    return s == NULL || *out != NULL;
}

/* 0, or VMUX_ERR_INVALID_ARG with words for vmux_last_error() naming what scan.h refuses. */
static int check_opts(enum scan_kind kind, vmux_str key, const vmux_scan_opts *o)
{
    int rc = kind != SCAN_KEYS ? vmux__why_str("key", key) : 0;
    if (rc != 0 || o == NULL)
        return rc;
    if (o->count < 0)
        return vmux__why_set(VMUX_ERR_INVALID_ARG, "o->count is %lld: must be at least 0",
                             (long long)o->count);
    if (kind != SCAN_KEYS && o->type != NULL)
        return vmux__why_set(VMUX_ERR_INVALID_ARG,
                             "o->type is set: only SCAN takes TYPE, not HSCAN, SSCAN or ZSCAN");
    return 0;
}

/* The arguments begin() refuses: 0, or VMUX_ERR_INVALID_ARG with words (vmux_last_error()); o is
 * copied into *copy and pointed there (read no further than the caller's size, abi.h). */
static int check_begin(vmux *m, enum scan_kind kind, vmux_str key, const vmux_scan_opts **o,
                       vmux_scan_opts *copy, vmux_scan **out)
{
    if (out == NULL)
        return vmux__why_set(VMUX_ERR_INVALID_ARG, "out is NULL");
    *out = NULL;
    if (*o != NULL && vmux__sized_in(copy, sizeof *copy, *o) != 0)
        return vmux__why_sized("o", (*o)->size, sizeof *copy);
    *o = *o != NULL ? copy : NULL;
    if (m == NULL)
        return vmux__why_set(VMUX_ERR_INVALID_ARG, "the handle is NULL");
    return check_opts(kind, key, *o);
}

static int begin(vmux *m, enum scan_kind kind, vmux_str key, const vmux_scan_opts *o,
                 vmux_scan **out)
{
    vmux_scan_opts copy;
    vmux__why_begin();
    int rc = check_begin(m, kind, key, &o, &copy, out);
    if (rc != 0)
        return rc;
    vmux_scan *it = calloc(1, sizeof(*it));
    if (it == NULL)
        return vmux__why_end(VMUX_ERR_NOMEM);
    it->m = m;
    it->kind = kind;
    it->cursor[0] = '0';
    it->cursorlen = 1;
    it->count = o != NULL ? o->count : 0;
    bool ok = kind == SCAN_KEYS || (it->key = copy_mem(key.ptr, key.len)) != NULL;
    it->keylen = key.len;
    ok = ok && copy_opt(o != NULL ? o->match : NULL, &it->match);
    ok = ok && copy_opt(o != NULL ? o->type : NULL, &it->type);
    if (!ok) {
        vmux_scan_end(it);
        return vmux__why_end(VMUX_ERR_NOMEM);
    }
    *out = it;
    return 0;
}

int vmux_scan_begin(vmux *m, const vmux_scan_opts *o, vmux_scan **out)
{
    return begin(m, SCAN_KEYS, (vmux_str){NULL, 0}, o, out);
}

int vmux_hscan_begin(vmux *m, vmux_str key, const vmux_scan_opts *o, vmux_scan **out)
{
    return begin(m, SCAN_HASH, key, o, out);
}

int vmux_sscan_begin(vmux *m, vmux_str key, const vmux_scan_opts *o, vmux_scan **out)
{
    return begin(m, SCAN_SET, key, o, out);
}

int vmux_zscan_begin(vmux *m, vmux_str key, const vmux_scan_opts *o, vmux_scan **out)
{
    return begin(m, SCAN_ZSET, key, o, out);
}

void vmux_scan_end(vmux_scan *it)
{
    if (it == NULL)
        return;
    free(it->key);
    free(it->match);
    free(it->type);
    free(it->cl);
    free(it);
}

static void build_step(const vmux_scan *it, struct vmux_args *a)
{
    static const char *const cmds[] = {"SCAN", "HSCAN", "SSCAN", "ZSCAN"};
    vmux__args_init(a);
    vmux__args_cstr(a, cmds[it->kind]);
    if (it->kind != SCAN_KEYS)
        vmux__args_add(a, it->key, it->keylen);
    vmux__args_add(a, it->cursor, it->cursorlen);
    if (it->match != NULL) {
        vmux__args_cstr(a, "MATCH");
        vmux__args_cstr(a, it->match);
    }
    if (it->count > 0) {
        vmux__args_cstr(a, "COUNT");
        vmux__args_int(a, it->count);
    }
    if (it->type != NULL) {
        vmux__args_cstr(a, "TYPE");
        vmux__args_cstr(a, it->type);
    }
}

/* The next cursor from a reply [cursor, [elements...]]; false when the reply is not so. */
static bool next_cursor(const vmux_reply *r, char *cursor, size_t *len)
{
    if (vmux_reply_get_kind(r) != VMUX_REPLY_ARRAY || vmux_reply_len(r) != 2)
        return false;
    const vmux_reply *c = vmux_reply_element(r, 0);
    const vmux_reply *e = vmux_reply_element(r, 1);
    size_t n;
    const char *s = vmux_reply_str(c, &n);
    if (vmux_reply_get_kind(c) != VMUX_REPLY_STRING || n == 0 || n >= CURSOR_MAX ||
        vmux_reply_get_kind(e) != VMUX_REPLY_ARRAY)
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    memcpy(cursor, s, n);
    *len = n;
    return true;
}

/* What a batch is made of: how to read it from a reply, its size, and how to free it. */
struct batch_form {
    vmux_convert_fn convert;
    size_t size;
    void (*release)(void *);
};

/* A step's reply [cursor, [elements...]]: the next cursor, and the elements into batch. */
struct step_out {
    const struct batch_form *form;
    void *batch;
    char cursor[CURSOR_MAX];
    size_t len;
};

static int conv_step(const vmux_reply *r, void *out)
{
    struct step_out *s = out;
    if (!next_cursor(r, s->cursor, &s->len))
        return VMUX_ERR_PROTOCOL;
    return vmux__convert_into(vmux_reply_element(r, 1), s->form->convert, s->batch, s->form->size,
                              s->form->release);
}

static void set_cursor(vmux_scan *it, const char *cursor, size_t len)
{
    memcpy(it->cursor, cursor, len);
    it->cursorlen = len;
}

/* One SCAN step on the node being scanned (a cluster SCAN): into s, and the node's cursor. */
static int node_step(vmux_scan *it, const vmux_callopts *opts, struct step_out *s)
{
    struct vmux_args a;
    build_step(it, &a);
    vmux_callopts o = vmux__callopts_copy(opts);
    o.flags |= VMUX_CALL_RETRY_SAFE;
    vmux_reply *r = NULL;
    int rc =
        a.error != 0 ? a.error : vmux__cscan_call(it->m, &o, it->cl, a.argc, a.argv, a.lens, &r);
    if (a.error == VMUX_ERR_INVALID_ARG)
        vmux__args_refused(opts, &a);
    vmux__args_free(&a);
    return vmux__reply_into(rc, r, conv_step, s, 0, NULL);
}

/*
 * A step of a cluster SCAN (docs/cluster.md): checks the node just finished, chooses the next
 * node when there is none, and scans one step of it. A failed step forgets the node (its slots
 * will be scanned again, on whichever node owns them then), so a retry goes on after a failover;
 * unless nothing was sent to it because the step's time ran out first (the choice took it all):
 * the next step scans it, rather than spend its time choosing again.
 */
static int cluster_try(vmux_scan *it, const vmux_callopts *opts, const struct batch_form *form,
                       void *batch)
{
    struct vmux_cscan *cl = it->cl;
    int rc = cl->finishing ? vmux__cscan_node_done(it->m, opts, cl) : 0;
    if (rc == 0 && cl->host[0] == '\0') {
        rc = vmux__cscan_pick(it->m, opts, cl);
        if (rc == 0)
            it->done = true;
        if (rc <= 0)
            return rc;
        set_cursor(it, "0", 1);
        rc = 0; /* chosen: scanned in this step too */
    }
    if (rc != 0)
        return rc;
    struct step_out s = {.form = form, .batch = batch};
    rc = vmux__cscan_begin(it->m, opts, cl);
    if (rc == 0)
        rc = node_step(it, opts, &s);
    if (rc != 0) {
        if (!cl->out_of_time)
            vmux__cscan_drop(cl);
        return rc;
    }
    set_cursor(it, s.cursor, s.len);
    cl->finishing = s.len == 1 && s.cursor[0] == '0';
    return 1;
}

/*
 * cluster_try(), once more when nothing was sent to the node (VMUX_ERR_NOT_CONNECTED: the node
 * left the handle's map after a failover, or has no connection): the node is forgotten by then,
 * so the second try goes on with the slots' owners now. Both share the step's budget, which
 * ends at end_ns (step()). The caller's error buffer gets the reason of a failed step, always (a
 * description of the code when no deeper call gave one; a server's error message as it is).
 */
static int cluster_step(vmux_scan *it, const vmux_callopts *opts, uint64_t end_ns,
                        const struct batch_form *form, void *batch)
{
    char why[VMUX_REASON_SIZE] = "";
    vmux_callopts caller = vmux__callopts_copy(opts);
    vmux_callopts o = caller;
    o.errbuf = why;
    o.errlen = sizeof why;
    it->cl->deadline_ns = end_ns;
    it->cl->out_of_time = false;
    int rc = cluster_try(it, &o, form, batch);
    if (rc == VMUX_ERR_NOT_CONNECTED) {
        why[0] = '\0';
        rc = cluster_try(it, &o, form, batch);
    }
    if (rc < 0) /* a server's message as it is (call.h), else where the scan was */
        vmux__errbuf_set(caller.errbuf, caller.errlen, "%s%s",
                         rc == VMUX_ERR_SERVER ? "" : "cluster SCAN: ",
                         why[0] != '\0' ? why : vmux_strerror(rc));
    return rc;
}

/*
 * Before the first step: a SCAN on a handle that routes by slot scans the whole cluster. A handle
 * still asking what its server is is waited for (within the step's deadline): a SCAN begun then
 * went to the one node as a plain SCAN, and ended with that node's keys only.
 */
static int decide(vmux_scan *it, const vmux_callopts *opts)
{
    int rc = it->kind == SCAN_KEYS ? vmux__fanout_settle(it->m, opts) : 0;
    if (rc != 0)
        return rc;
    it->begun = true;
    if (it->kind != SCAN_KEYS || !vmux__fan_wanted(it->m))
        return 0;
    it->cl = calloc(1, sizeof *it->cl);
    if (it->cl != NULL)
        return 0;
    vmux_callopts c = vmux__callopts_copy(opts);
    vmux__errbuf_set(c.errbuf, c.errlen, "%s", vmux_strerror(VMUX_ERR_NOMEM));
    return VMUX_ERR_NOMEM;
}

/*
 * One step: 1 with the elements converted into batch, 0 when done, or an error. A step has one
 * budget (core/budget.h) of opts' timeout (0: syncTimeout) for all it does, the first step's
 * wait for detection included: a cluster step's round trips, or the plain SCAN after that wait
 * (given at least a millisecond).
 */
static int step(vmux_scan *it, const vmux_callopts *opts, const struct batch_form *form,
                void *batch)
{
    if (it->done)
        return 0;
    vmux_callopts o = vmux__callopts_copy(opts);
    uint64_t end_ns = vmux__budget_end(o.timeout_ms, vmux__sync_timeout(it->m), uv_hrtime());
    bool settled = !it->begun && it->kind == SCAN_KEYS; /* decide() waits for detection */
    int rc = it->begun ? 0 : decide(it, opts);
    if (rc != 0) { /* words in the caller's buffer */
        it->begun = false;
        return rc;
    }
    if (it->cl != NULL)
        return cluster_step(it, opts, end_ns, form, batch);
    if (settled && o.timeout_ms >= 0) {
        uint64_t left = vmux__budget_left_ms(end_ns, uv_hrtime());
        o.timeout_ms = left > 0 ? (int64_t)left : 1;
    }
    struct vmux_args a;
    struct step_out s = {.form = form, .batch = batch};
    build_step(it, &a);
    rc = vmux__typed_run_into(it->m, &o, &a, true, conv_step, &s, 0, NULL);
    if (rc != 0)
        return rc;
    memcpy(it->cursor, s.cursor, s.len);
    it->cursorlen = s.len;
    it->done = s.len == 1 && s.cursor[0] == '0';
    return 1;
}

/* HSCAN and ZSCAN elements come in pairs. */
static int conv_pairs(const vmux_reply *r, void *out)
{
    int rc = vmux_reply_to_bytes_array(r, out);
    vmux_bytes_array *a = out;
    if (rc == 0 && a->count % 2 != 0) {
        vmux_bytes_array_free(a);
        rc = VMUX_ERR_PROTOCOL;
    }
    return rc;
}

static const struct batch_form ELEMENTS = {vmux__conv_bytes_array, sizeof(vmux_bytes_array),
                                           vmux__release_bytes_array};
static const struct batch_form PAIRS = {conv_pairs, sizeof(vmux_bytes_array),
                                        vmux__release_bytes_array};
static const struct batch_form SCORED = {vmux__conv_scored_array, sizeof(vmux_scored_array),
                                         vmux__release_scored_array};
static const struct batch_form FIELDS = {vmux__conv_field_array, sizeof(vmux_field_array),
                                         vmux__release_field_array};

/* Zeroes *batch, checks the iterator is of kind (SCAN_ANY: any), and takes one step. */
static int next(vmux_scan *it, enum scan_kind kind, const vmux_callopts *opts,
                const struct batch_form *form, void *batch)
{
    if (batch != NULL)
        memset(batch, 0, form->size);
    static const char *const begun[] = {"vmux_scan_begin()", "vmux_hscan_begin()",
                                        "vmux_sscan_begin()", "vmux_zscan_begin()"};
    if (it == NULL)
        return vmux__typed_refuse(opts, "it is NULL");
    if (kind != SCAN_ANY && it->kind != kind)
        return vmux__typed_refuse(opts, "it is from %s: this takes only an iterator of %s",
                                  begun[it->kind], begun[kind]);
    return step(it, opts, form, batch);
}

int vmux_scan_next(vmux_scan *it, const vmux_callopts *opts, vmux_bytes_array *batch)
{
    bool pairs = it != NULL && (it->kind == SCAN_HASH || it->kind == SCAN_ZSET);
    return next(it, SCAN_ANY, opts, pairs ? &PAIRS : &ELEMENTS, batch);
}

int vmux_zscan_next_scored(vmux_scan *it, const vmux_callopts *opts, vmux_scored_array *batch)
{
    return next(it, SCAN_ZSET, opts, &SCORED, batch);
}

/* Declared in hashes.h, next to its type; it lives here, where the iterator is known. */
int vmux_hscan_next_fields(vmux_scan *it, const vmux_callopts *opts, vmux_field_array *batch)
{
    return next(it, SCAN_HASH, opts, &FIELDS, batch);
}
