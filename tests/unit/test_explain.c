/*
 * What a failed command's outcome says of whether it ran (core/explain.h vmux__ran_of()), read
 * from the words core/op_words.c really gives an op that fails unsent, redirected, written or
 * closed, so that a change of those words that breaks their reading fails here: a split call's
 * words say "none of them was sent" only when every part's do (api/split_run.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/explain.h"
#include "core/op.h"
#include "core/reply_internal.h"
#include "vmux/error.h"

/* What an op's completion brought: its code and its why (the caller frees it). */
struct outcome {
    int status;
    vmux_reply *why;
};

static void on_done(int status, vmux_reply *reply, void *userdata)
{
    struct outcome *o = userdata;
    o->status = status;
    o->why = reply;
}

/* An op that asks for words, with flags more, whose outcome goes to *o. */
static struct vmux_op *op_new(uint32_t flags, struct outcome *o)
{
    struct vmux_op *op = vmux__op_new(4);
    assert_non_null(op);
    memcpy(op->cmd, "PING", 4);
    op->flags |= VMUX_OP_TELL_WHY | flags;
    op->timeout_ms = 100;
    op->cb = on_done;
    op->userdata = o;
    *o = (struct outcome){-1, NULL};
    return op;
}

/* What vmux__ran_of() reads in *o, which it frees. */
static enum vmux__ran ran(struct outcome *o)
{
    enum vmux__ran r = vmux__ran_of(o->status, o->why);
    vmux_reply_free(o->why);
    o->why = NULL;
    return r;
}

static void waited(const struct vmux_opq *q, const struct vmux_op *op, char *buf, size_t len)
{
    (void)q;
    (void)op;
    snprintf(buf, len, "waiting for the handle to find out whether it is a cluster node");
}

static const char *link_failure(const struct vmux_opq *q)
{
    (void)q;
    return "127.0.0.1:7000: connection refused";
}

/* Expires an op of flags (and redirects) in q: what it says of whether it ran. */
static enum vmux__ran expired_in(struct vmux_opq *q, uint32_t flags, uint8_t redirects)
{
    struct outcome o;
    struct vmux_op *op = op_new(flags, &o);
    op->redirects = redirects;
    vmux__opq_push(q, op);
    vmux__op_expire(op, 0);
    if (q->keeps_husks) {
        vmux__opq_remove(q, op); /* the husk its late reply would free */
        vmux__op_free(op);
    }
    return ran(&o);
}

/* A router's wait (route/waited.c): never written, redirected, or written before a break. */
static void test_router_wait(void **state)
{
    (void)state;
    struct vmux_opq q = {.waited = waited};
    assert_int_equal(expired_in(&q, 0, 0), VMUX__RAN_UNSENT);
    assert_int_equal(expired_in(&q, 0, 1), VMUX__RAN_NOT);
    assert_int_equal(expired_in(&q, VMUX_OP_RESENT, 0), VMUX__RAN_MAYBE);
}

/* A link's backlog: its last connection failure (never written), or written before a break. */
static void test_backlog(void **state)
{
    (void)state;
    struct vmux_opq q = {.why = link_failure};
    assert_int_equal(expired_in(&q, 0, 0), VMUX__RAN_UNSENT);
    assert_int_equal(expired_in(&q, VMUX_OP_RESENT, 0), VMUX__RAN_MAYBE);
    struct vmux_opq quiet = {0}; /* no words: nothing to read, so perhaps */
    assert_int_equal(expired_in(&quiet, 0, 0), VMUX__RAN_MAYBE);
}

/* A connection's FIFO: written and not answered, it may have run. */
static void test_written(void **state)
{
    (void)state;
    struct vmux_opq q = {.keeps_husks = true, .why = link_failure};
    assert_int_equal(expired_in(&q, 0, 0), VMUX__RAN_MAYBE);
}

/* A close: before the command was sent, or while it waited to go again after a redirect. */
static void test_closed(void **state)
{
    (void)state;
    struct outcome o;
    struct vmux_op *op = op_new(0, &o);
    o = (struct outcome){VMUX_ERR_CLOSED, vmux__op_closed_why(op)};
    assert_int_equal(ran(&o), VMUX__RAN_UNSENT);
    op->redirects = 1;
    o = (struct outcome){VMUX_ERR_CLOSED, vmux__op_closed_why(op)};
    assert_int_equal(ran(&o), VMUX__RAN_NOT);
    vmux__op_free(op);
}

/* The codes alone: refused at a bound, never sent; a success, a server's error, no words. */
static void test_codes(void **state)
{
    (void)state;
    assert_int_equal(vmux__ran_of(VMUX_ERR_BACKLOG_FULL, NULL), VMUX__RAN_UNSENT);
    assert_int_equal(vmux__ran_of(0, NULL), VMUX__RAN_MAYBE);
    assert_int_equal(vmux__ran_of(VMUX_ERR_TIMEOUT, NULL), VMUX__RAN_MAYBE);
    assert_int_equal(vmux__ran_of(VMUX_ERR_CONNECTION_LOST, NULL), VMUX__RAN_MAYBE);
    vmux_reply *err = vmux__reply_new_str(VMUX_REPLY_ERROR, "ERR no: not executed", 20);
    assert_int_equal(vmux__ran_of(VMUX_ERR_SERVER, err), VMUX__RAN_MAYBE);
    vmux_reply_free(err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_router_wait), cmocka_unit_test(test_backlog),
        cmocka_unit_test(test_written),     cmocka_unit_test(test_closed),
        cmocka_unit_test(test_codes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
