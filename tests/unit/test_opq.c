/*
 * The op and its queue (core/op.h): FIFO order; leaving from the head, the middle and the tail;
 * moving whole queues (prepend, append, take) with every op naming its new queue and the counts
 * following; failing a queue completes each live op once and frees husks; an op whose deadline
 * passes completes with VMUX_ERR_TIMEOUT and leaves a queue that owes it no reply (freed at
 * once) but stays as a husk where a reply is owed; freeing an op gives back what its admission
 * took; and the admission bounds (counters.h): at most max ops and max bytes, an oversized op
 * alone, every refusal counted.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/counters.h"
#include "core/deadline.h"
#include "core/op.h"
#include "vmux/error.h"

/* What an op's completion saw. */
struct seen {
    int runs, status;
    struct vmux_op *op;         /* the op itself, to look at it from inside its callback */
    struct vmux_opq *q;         /* op->q while the callback ran */
    struct vmux_opq *push_into; /* if set, the callback pushes `extra` here (a resubmission) */
    struct vmux_op *extra;
};

static void on_done(int status, vmux_reply *reply, void *userdata)
{
    struct seen *s = userdata;
    vmux_reply_free(reply);
    s->runs++;
    s->status = status;
    s->q = s->op->q;
    if (s->push_into != NULL)
        vmux__opq_push(s->push_into, s->extra);
}

/* An op of len bytes whose completion goes to *s. */
static struct vmux_op *op_new(size_t len, struct seen *s)
{
    struct vmux_op *op = vmux__op_new(len);
    assert_non_null(op);
    memset(op->cmd, 'x', len);
    op->cb = on_done;
    op->userdata = s;
    *s = (struct seen){.op = op};
    return op;
}

/* An op counted against c, as vmux__submit() admits it. */
static struct vmux_op *op_admitted(struct vmux_counters *c, size_t len, struct seen *s)
{
    struct vmux_op *op = op_new(len, s);
    assert_true(vmux__counters_admit(c, len, 1000, 1 << 20));
    op->flags |= VMUX_OP_ADMITTED;
    op->ctr = c;
    return op;
}

static uint64_t get(_Atomic uint64_t *v)
{
    return atomic_load_explicit(v, memory_order_relaxed);
}

/* q holds exactly want[0..n) in order, linked both ways, each naming q. */
static void expect_queue(const struct vmux_opq *q, struct vmux_op *const *want, size_t n)
{
    assert_int_equal(q->count, n);
    struct vmux_op *op = q->head;
    for (size_t i = 0; i < n; i++, op = op->next) {
        assert_ptr_equal(op, want[i]);
        assert_ptr_equal(op->q, q);
        assert_ptr_equal(op->prev, i == 0 ? NULL : want[i - 1]);
    }
    assert_null(op);
    assert_ptr_equal(q->tail, n == 0 ? NULL : want[n - 1]);
    if (n == 0)
        assert_null(q->head);
}

static void test_push_pop_order(void **state)
{
    (void)state;
    struct vmux_opq q = {0};
    struct seen s[3];
    struct vmux_op *a = op_new(1, &s[0]), *b = op_new(2, &s[1]), *c = op_new(3, &s[2]);
    assert_null(vmux__opq_pop(&q));
    vmux__opq_push(&q, a);
    vmux__opq_push(&q, b);
    vmux__opq_push(&q, c);
    expect_queue(&q, (struct vmux_op *[]){a, b, c}, 3);
    struct vmux_op *order[] = {a, b, c};
    for (int i = 0; i < 3; i++) {
        struct vmux_op *op = vmux__opq_pop(&q);
        assert_ptr_equal(op, order[i]);
        assert_null(op->q);
        assert_null(op->next);
        assert_null(op->prev);
        assert_int_equal(q.count, (size_t)(2 - i));
        vmux__op_free(op);
    }
    assert_null(vmux__opq_pop(&q));
    expect_queue(&q, NULL, 0);
}

static void test_remove_head_middle_tail(void **state)
{
    (void)state;
    struct vmux_opq q = {0};
    struct seen s[5];
    struct vmux_op *o[5];
    for (int i = 0; i < 5; i++) {
        o[i] = op_new(1, &s[i]);
        vmux__opq_push(&q, o[i]);
    }
    vmux__opq_remove(&q, o[2]); /* middle */
    expect_queue(&q, (struct vmux_op *[]){o[0], o[1], o[3], o[4]}, 4);
    vmux__opq_remove(&q, o[0]); /* head */
    expect_queue(&q, (struct vmux_op *[]){o[1], o[3], o[4]}, 3);
    vmux__opq_remove(&q, o[4]); /* tail */
    expect_queue(&q, (struct vmux_op *[]){o[1], o[3]}, 2);
    for (int i = 0; i < 5; i += 2) {
        assert_null(o[i]->q);
        assert_null(o[i]->next);
        assert_null(o[i]->prev);
    }
    /* a removed op can join again, at the tail */
    vmux__opq_push(&q, o[2]);
    expect_queue(&q, (struct vmux_op *[]){o[1], o[3], o[2]}, 3);
    vmux__opq_remove(&q, o[3]);
    vmux__opq_remove(&q, o[1]);
    expect_queue(&q, (struct vmux_op *[]){o[2]}, 1);
    vmux__opq_remove(&q, o[2]); /* the only one: head and tail at once */
    expect_queue(&q, NULL, 0);
    for (int i = 0; i < 5; i++)
        vmux__op_free(o[i]);
    for (int i = 0; i < 5; i++)
        assert_int_equal(s[i].runs, 0);
}

static void test_prepend_append_take(void **state)
{
    (void)state;
    struct vmux_opq dst = {0}, src = {0}, empty = {0};
    struct seen s[6];
    struct vmux_op *o[6];
    for (int i = 0; i < 6; i++)
        o[i] = op_new(1, &s[i]);

    /* into an empty queue, and from an empty one: nothing lost, nothing gained */
    vmux__opq_push(&src, o[0]);
    vmux__opq_push(&src, o[1]);
    vmux__opq_prepend(&dst, &src);
    expect_queue(&dst, (struct vmux_op *[]){o[0], o[1]}, 2);
    expect_queue(&src, NULL, 0);
    vmux__opq_prepend(&dst, &empty);
    vmux__opq_append(&dst, &empty);
    expect_queue(&dst, (struct vmux_op *[]){o[0], o[1]}, 2);

    /* in front: src's ops, in their order, then dst's */
    vmux__opq_push(&src, o[2]);
    vmux__opq_push(&src, o[3]);
    vmux__opq_prepend(&dst, &src);
    expect_queue(&dst, (struct vmux_op *[]){o[2], o[3], o[0], o[1]}, 4);
    expect_queue(&src, NULL, 0);

    /* behind */
    vmux__opq_push(&src, o[4]);
    vmux__opq_push(&src, o[5]);
    vmux__opq_append(&dst, &src);
    expect_queue(&dst, (struct vmux_op *[]){o[2], o[3], o[0], o[1], o[4], o[5]}, 6);
    expect_queue(&src, NULL, 0);

    /* take: the whole queue into an empty one, every op naming its new owner */
    vmux__opq_take(&src, &dst);
    expect_queue(&src, (struct vmux_op *[]){o[2], o[3], o[0], o[1], o[4], o[5]}, 6);
    expect_queue(&dst, NULL, 0);

    /* moved ops leave their new queue from anywhere */
    vmux__opq_remove(&src, o[0]);
    vmux__opq_remove(&src, o[5]);
    vmux__opq_remove(&src, o[2]);
    expect_queue(&src, (struct vmux_op *[]){o[3], o[1], o[4]}, 3);
    vmux__opq_append(&empty, &src); /* append into an empty queue */
    expect_queue(&empty, (struct vmux_op *[]){o[3], o[1], o[4]}, 3);
    while (empty.head != NULL)
        vmux__op_free(vmux__opq_pop(&empty));
    vmux__op_free(o[0]);
    vmux__op_free(o[2]);
    vmux__op_free(o[5]);
}

/*
 * left counts every live op that leaves a queue: removed from anywhere, popped, moved out by
 * prepend/append/take, or timed out into a husk (still there, but not live); ops coming in do not
 * count. A fence spares its walk of a link while the count stands (route/fence.c).
 */
static void test_left_counts_departures(void **state)
{
    (void)state;
    struct vmux_counters c = {0};
    struct vmux_opq q = {.keeps_husks = true}, other = {0};
    struct seen s[4];
    struct vmux_op *a = op_admitted(&c, 1, &s[0]), *b = op_admitted(&c, 1, &s[1]),
                   *h = op_admitted(&c, 1, &s[2]), *d = op_admitted(&c, 1, &s[3]);
    vmux__opq_push(&q, a);
    vmux__opq_push(&q, b);
    vmux__opq_push(&q, h);
    assert_int_equal(q.left, 0);
    vmux__opq_remove(&q, b); /* from the middle */
    assert_int_equal(q.left, 1);
    vmux__op_expire(h, 0); /* a husk: it stays, done */
    assert_int_equal(q.count, 2);
    assert_int_equal(q.left, 2);
    vmux__opq_push(&other, d);
    vmux__opq_prepend(&q, &other);
    assert_int_equal(other.left, 1);
    assert_int_equal(q.left, 2); /* d came in */
    vmux__opq_take(&other, &q);
    assert_int_equal(q.left, 5);
    assert_ptr_equal(vmux__opq_pop(&other), d);
    assert_int_equal(other.left, 2);
    vmux__opq_push(&q, d);
    vmux__opq_fail_all(&q, VMUX_ERR_CLOSED);
    vmux__opq_fail_all(&other, VMUX_ERR_CLOSED);
    assert_int_equal(q.left, 6);
    assert_int_equal(other.left, 4);
    vmux__op_free(b);
}

/*
 * Live ops complete once, with the status; a husk (completed earlier) is freed without a second
 * completion; a completion that queues a new op into the same queue does not pull it into the
 * walk. Every op is freed: the admission gauges fall to what the new op holds.
 */
static void test_fail_all(void **state)
{
    (void)state;
    struct vmux_counters c = {0};
    struct vmux_opq q = {.keeps_husks = true};
    struct seen s[4];
    struct vmux_op *a = op_admitted(&c, 10, &s[0]), *husk = op_admitted(&c, 20, &s[1]),
                   *b = op_admitted(&c, 30, &s[2]), *late = op_admitted(&c, 5, &s[3]);
    vmux__opq_push(&q, a);
    vmux__opq_push(&q, husk);
    vmux__opq_push(&q, b);
    vmux__op_expire(husk, 0); /* a FIFO keeps it, done, until the end */
    assert_int_equal(s[1].runs, 1);
    assert_true(husk->done);
    expect_queue(&q, (struct vmux_op *[]){a, husk, b}, 3);
    s[0].push_into = &q; /* a's completion submits `late` to the same queue */
    s[0].extra = late;

    vmux__opq_fail_all(&q, VMUX_ERR_CLOSED);
    assert_int_equal(s[0].runs, 1);
    assert_int_equal(s[0].status, VMUX_ERR_CLOSED);
    assert_int_equal(s[1].runs, 1); /* the husk: not again */
    assert_int_equal(s[1].status, VMUX_ERR_TIMEOUT);
    assert_int_equal(s[2].runs, 1);
    assert_int_equal(s[2].status, VMUX_ERR_CLOSED);
    assert_int_equal(get(&c.closed), 2);
    assert_int_equal(get(&c.timed_out), 1);
    /* a, the husk and b are freed; late waits, uncompleted, in the queue */
    expect_queue(&q, (struct vmux_op *[]){late}, 1);
    assert_int_equal(s[3].runs, 0);
    assert_int_equal(get(&c.pending), 1);
    assert_int_equal(get(&c.pending_bytes), 5);
    vmux__opq_fail_all(&q, VMUX_ERR_CLOSED);
    assert_int_equal(s[3].runs, 1);
    expect_queue(&q, NULL, 0);
    assert_int_equal(get(&c.pending), 0);
    assert_int_equal(get(&c.pending_bytes), 0);
}

/*
 * In a queue that owes it no reply (a backlog), an expired op completes with TIMEOUT after it
 * has left the queue (its callback may close that queue's link), leaves the deadline index and
 * is freed: the queue's count is its live ops, and the gauges drop at once.
 */
static void test_expire_leaves_a_backlog(void **state)
{
    (void)state;
    struct vmux_counters c = {0};
    struct vmux_deadlines d = {0};
    struct vmux_opq backlog = {0};
    struct seen s[3];
    struct vmux_op *a = op_admitted(&c, 10, &s[0]), *b = op_admitted(&c, 20, &s[1]),
                   *e = op_admitted(&c, 40, &s[2]);
    b->timeout_ms = 100;
    b->deadline_ns = 1000;
    vmux__deadlines_add(&d, b);
    vmux__opq_push(&backlog, a);
    vmux__opq_push(&backlog, b);
    vmux__opq_push(&backlog, e);
    assert_ptr_equal(vmux__deadlines_expired(&d, 1000), b);

    vmux__op_expire(b, 0); /* b is freed here: only s[1] may be looked at */
    assert_int_equal(s[1].runs, 1);
    assert_int_equal(s[1].status, VMUX_ERR_TIMEOUT);
    assert_null(s[1].q); /* out of the backlog before its callback ran */
    assert_int_equal(get(&c.timed_out), 1);
    expect_queue(&backlog, (struct vmux_op *[]){a, e}, 2);
    assert_null(vmux__deadlines_expired(&d, UINT64_MAX));
    assert_int_equal(vmux__deadlines_next(&d), UINT64_MAX);
    assert_int_equal(get(&c.pending), 2);
    assert_int_equal(get(&c.pending_bytes), 50);

    /* the head and the tail leave the same way */
    vmux__op_expire(e, 0);
    vmux__op_expire(a, 0);
    expect_queue(&backlog, NULL, 0);
    assert_int_equal(s[0].runs, 1);
    assert_int_equal(s[2].runs, 1);
    assert_int_equal(get(&c.timed_out), 3);
    assert_int_equal(get(&c.pending), 0);
    assert_int_equal(get(&c.pending_bytes), 0);
    vmux__deadlines_free(&d);
}

/* An op in no queue at all (being routed) is freed too. */
static void test_expire_outside_any_queue(void **state)
{
    (void)state;
    struct vmux_counters c = {0};
    struct seen s;
    struct vmux_op *op = op_admitted(&c, 7, &s);
    vmux__op_expire(op, 0);
    assert_int_equal(s.runs, 1);
    assert_int_equal(s.status, VMUX_ERR_TIMEOUT);
    assert_int_equal(get(&c.pending), 0);
    assert_int_equal(get(&c.pending_bytes), 0);
}

/*
 * In a connection's FIFO (keeps_husks) an expired op completes with TIMEOUT but stays where it
 * is, done, so that its late reply is matched to it; it still counts as pending until it is
 * freed.
 */
static void test_expire_leaves_a_husk_in_a_fifo(void **state)
{
    (void)state;
    struct vmux_counters c = {0};
    struct vmux_deadlines d = {0};
    struct vmux_opq fifo = {.keeps_husks = true};
    struct seen s[2];
    struct vmux_op *a = op_admitted(&c, 10, &s[0]), *b = op_admitted(&c, 20, &s[1]);
    a->timeout_ms = 100;
    a->deadline_ns = 1000;
    vmux__deadlines_add(&d, a);
    vmux__opq_push(&fifo, a);
    vmux__opq_push(&fifo, b);

    vmux__op_expire(a, 0);
    assert_int_equal(s[0].runs, 1);
    assert_int_equal(s[0].status, VMUX_ERR_TIMEOUT);
    assert_ptr_equal(s[0].q, &fifo);
    assert_true(a->done);
    assert_null(a->dclass);
    assert_int_equal(vmux__deadlines_next(&d), UINT64_MAX);
    expect_queue(&fifo, (struct vmux_op *[]){a, b}, 2);
    assert_int_equal(get(&c.pending), 2);
    assert_int_equal(get(&c.pending_bytes), 30);

    /* its reply comes: the husk leaves and is freed; b is untouched */
    vmux__op_free(vmux__opq_pop(&fifo));
    assert_int_equal(s[0].runs, 1);
    assert_int_equal(s[1].runs, 0);
    assert_int_equal(get(&c.pending), 1);
    assert_int_equal(get(&c.pending_bytes), 20);
    vmux__opq_fail_all(&fifo, VMUX_ERR_CONNECTION_LOST);
    assert_int_equal(s[1].status, VMUX_ERR_CONNECTION_LOST);
    assert_int_equal(get(&c.connection_lost), 1);
    assert_int_equal(get(&c.pending), 0);
    vmux__deadlines_free(&d);
}

/* Only an admitted op gives anything back when freed, and exactly what it took. */
static void test_free_releases_admission(void **state)
{
    (void)state;
    struct vmux_counters c = {0};
    struct seen s[2];
    struct vmux_op *admitted = op_admitted(&c, 100, &s[0]);
    struct vmux_op *control = op_new(0, &s[1]);
    control->ctr = &c; /* counted on completion, never admitted (a control op) */
    assert_int_equal(get(&c.pending), 1);
    assert_int_equal(get(&c.pending_bytes), 100);
    vmux__op_free(control);
    assert_int_equal(get(&c.pending), 1);
    assert_int_equal(get(&c.pending_bytes), 100);
    vmux__op_free(admitted);
    assert_int_equal(get(&c.pending), 0);
    assert_int_equal(get(&c.pending_bytes), 0);
    assert_int_equal(get(&c.refused), 0);
}

static void test_admission_bounds(void **state)
{
    (void)state;
    struct vmux_counters c = {0};
    /* at most 2 ops */
    assert_true(vmux__counters_admit(&c, 1, 2, 1000));
    assert_true(vmux__counters_admit(&c, 1, 2, 1000));
    assert_false(vmux__counters_admit(&c, 1, 2, 1000));
    assert_int_equal(get(&c.refused), 1);
    assert_int_equal(get(&c.pending), 2); /* a refusal leaves the gauges as they were */
    assert_int_equal(get(&c.pending_bytes), 2);
    vmux__counters_release(&c, 1);
    assert_true(vmux__counters_admit(&c, 1, 2, 1000)); /* room again */
    vmux__counters_release(&c, 1);
    vmux__counters_release(&c, 1);
    assert_int_equal(get(&c.pending), 0);
    assert_int_equal(get(&c.pending_bytes), 0);

    /* at most 100 bytes: up to the bound exactly, not one byte over */
    assert_true(vmux__counters_admit(&c, 60, 10, 100));
    assert_false(vmux__counters_admit(&c, 41, 10, 100));
    assert_true(vmux__counters_admit(&c, 40, 10, 100));
    assert_false(vmux__counters_admit(&c, 1, 10, 100));
    assert_int_equal(get(&c.refused), 3);
    assert_int_equal(get(&c.pending), 2);
    assert_int_equal(get(&c.pending_bytes), 100);
    vmux__counters_release(&c, 60);
    vmux__counters_release(&c, 40);

    /* an op larger than the bound passes alone, and then holds the door */
    assert_true(vmux__counters_admit(&c, 500, 10, 100));
    assert_false(vmux__counters_admit(&c, 1, 10, 100));
    assert_false(vmux__counters_admit(&c, 500, 10, 100));
    assert_int_equal(get(&c.refused), 5);
    vmux__counters_release(&c, 500);
    assert_true(vmux__counters_admit(&c, 500, 10, 100));
    vmux__counters_release(&c, 500);

    /* with no room for ops, even an empty one is refused */
    assert_false(vmux__counters_admit(&c, 0, 0, 100));
    assert_int_equal(get(&c.refused), 6);
    assert_int_equal(get(&c.pending), 0);
    assert_int_equal(get(&c.pending_bytes), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_push_pop_order),
        cmocka_unit_test(test_remove_head_middle_tail),
        cmocka_unit_test(test_prepend_append_take),
        cmocka_unit_test(test_fail_all),
        cmocka_unit_test(test_expire_leaves_a_backlog),
        cmocka_unit_test(test_expire_outside_any_queue),
        cmocka_unit_test(test_expire_leaves_a_husk_in_a_fifo),
        cmocka_unit_test(test_left_counts_departures),
        cmocka_unit_test(test_free_releases_admission),
        cmocka_unit_test(test_admission_bounds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
