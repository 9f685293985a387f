/*
 * The message queue's ring (core/msgq.c): its memory follows what the queue holds, not its bound.
 * It starts small, doubles as messages come (up to the bound, also when the waiting messages wrap
 * round its end), halves once the readers have taken a ring's worth of messages while it stayed
 * at most a quarter full, and never shrinks while it is busy; every resize keeps the messages and
 * their order; the bound and the overflow policies count drops exactly as before; a bound as large
 * as size_t allows is made without reserving it. Allocation failures (malloc is wrapped, see
 * CMakeLists.txt): a ring that cannot grow drops and counts the new message and keeps the queued
 * ones in order, and grows at the next message once memory is back; a ring that cannot shrink
 * stays as it was.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/msgq.h"
#include "vmux/error.h"

/* ---- malloc, wrapped (-Wl,--wrap=malloc): fails rings of fail_from bytes or more when armed */

void *__real_malloc(size_t size);
void *__wrap_malloc(size_t size);

static size_t fail_from; /* 0: no failures */
static int failed;       /* the allocations refused so far */

void *__wrap_malloc(size_t size)
{
    if (fail_from != 0 && size >= fail_from) {
        failed++;
        return NULL;
    }
    return __real_malloc(size);
}

/* Refuses every allocation of a ring of slots or more (message copies are far smaller). */
static void fail_rings_from(size_t slots)
{
    fail_from = slots * sizeof(vmux_message);
    failed = 0;
}

static void memory_back(void)
{
    fail_from = 0;
}

/* ---- helpers */

static vmux_msgq *queue(size_t bound, vmux_overflow policy)
{
    vmux_msgq *q = NULL;
    assert_int_equal(vmux_msgq_new(bound, policy, &q), 0);
    assert_non_null(q);
    return q;
}

/* Pushes the message whose payload is the number n, as the I/O thread does. */
static void push(vmux_msgq *q, int n)
{
    char text[24];
    int len = snprintf(text, sizeof(text), "%d", n);
    vmux_message msg = {.channel = {.ptr = "ch", .len = 2}, .payload = {.ptr = text, .len = len}};
    vmux__msgq_push(q, &msg);
}

static void push_range(vmux_msgq *q, int from, int to)
{
    for (int n = from; n < to; n++)
        push(q, n);
}

/* Pops a message without waiting and returns its number. */
static int pop(vmux_msgq *q)
{
    vmux_message msg;
    assert_int_equal(vmux_msgq_pop(q, 0, &msg), 0);
    assert_non_null(msg.payload.ptr);
    assert_string_equal(msg.channel.ptr, "ch");
    int n = atoi(msg.payload.ptr);
    vmux_message_free(&msg);
    return n;
}

/* Pops the messages numbered from to to-1, in that order. */
static void expect_range(vmux_msgq *q, int from, int to)
{
    for (int n = from; n < to; n++)
        assert_int_equal(pop(q), n);
}

static void expect_empty(vmux_msgq *q)
{
    vmux_message msg;
    assert_int_equal(vmux_msgq_length(q), 0);
    assert_int_equal(vmux_msgq_pop(q, 0, &msg), VMUX_ERR_TIMEOUT);
}

/* ---- growth */

static void test_starts_small(void **state)
{
    (void)state;
    vmux_msgq *q = queue(1000000, VMUX_OVERFLOW_DROP_OLDEST);
    assert_int_equal(vmux__msgq_slots(q), 16);
    vmux_msgq_free(q);
    q = queue(3, VMUX_OVERFLOW_DROP_OLDEST); /* a bound below the start: the bound */
    assert_int_equal(vmux__msgq_slots(q), 3);
    vmux_msgq_free(q);
}

static void test_grows_by_doubling_up_to_bound(void **state)
{
    (void)state;
    vmux_msgq *q = queue(1000, VMUX_OVERFLOW_DROP_OLDEST);
    push_range(q, 0, 16);
    assert_int_equal(vmux__msgq_slots(q), 16);
    push(q, 16);
    assert_int_equal(vmux__msgq_slots(q), 32);
    push_range(q, 17, 513);
    assert_int_equal(vmux__msgq_slots(q), 1000); /* 512 full: to the bound, not 1024 */
    push_range(q, 513, 1000);
    assert_int_equal(vmux_msgq_length(q), 1000);
    assert_int_equal(vmux_msgq_dropped(q), 0);
    expect_range(q, 0, 1000);
    expect_empty(q);
    vmux_msgq_free(q);
}

/* The waiting messages wrap round the ring's end when it grows: they come out in order. */
static void test_grows_across_the_wrap(void **state)
{
    (void)state;
    vmux_msgq *q = queue(100, VMUX_OVERFLOW_DROP_NEWEST);
    push_range(q, 0, 10);
    expect_range(q, 0, 6); /* head at 6 */
    push_range(q, 10, 22); /* 16 waiting, wrapped: slots 6..15 then 0..5 */
    assert_int_equal(vmux__msgq_slots(q), 16);
    push_range(q, 22, 40);
    assert_int_equal(vmux__msgq_slots(q), 64);
    expect_range(q, 6, 40);
    expect_empty(q);
    vmux_msgq_free(q);
}

/* The probe's case, scaled: many messages pass, few wait: the ring stays the size of the few. */
static void test_follows_what_it_holds_not_what_passes(void **state)
{
    (void)state;
    vmux_msgq *q = queue(1000000, VMUX_OVERFLOW_DROP_NEWEST);
    int next_in = 0, next_out = 0;
    for (int round = 0; round < 2000; round++) {
        push_range(q, next_in, next_in + 50);
        next_in += 50;
        expect_range(q, next_out, next_out + 45); /* the backlog grows by 5 a round */
        next_out += 45;
        if (vmux_msgq_length(q) > 100)
            while (next_out < next_in - 20)
                assert_int_equal(pop(q), next_out++);
    }
    assert_true(vmux__msgq_slots(q) <= 256);
    expect_range(q, next_out, next_in);
    assert_int_equal(vmux_msgq_dropped(q), 0);
    vmux_msgq_free(q);
}

/* ---- shrinking */

/* Pushes one and pops one until the ring has the given slots; returns the messages taken. */
static int trickle_until(vmux_msgq *q, size_t slots, int *next, int limit)
{
    int taken = 0;
    while (vmux__msgq_slots(q) != slots && taken < limit) {
        size_t before = vmux__msgq_slots(q);
        push(q, *next);
        assert_int_equal(pop(q), *next);
        (*next)++;
        taken++;
        assert_true(vmux__msgq_slots(q) <= before); /* a trickle never grows it */
    }
    return taken;
}

static void test_shrinks_when_quiet(void **state)
{
    (void)state;
    vmux_msgq *q = queue(100000, VMUX_OVERFLOW_DROP_OLDEST);
    push_range(q, 0, 600); /* a burst: 1024 slots */
    assert_int_equal(vmux__msgq_slots(q), 1024);
    expect_range(q, 0, 600);
    assert_int_equal(vmux__msgq_slots(q), 1024); /* still within the burst's window */
    int next = 600;
    /* Shrinking halves it once per ring's worth of quiet messages, down to 16 slots: at most
     * the window the burst is in (1024) plus 1024 + 512 + ... + 32 taken messages. */
    int taken = trickle_until(q, 16, &next, 4096);
    assert_int_equal(vmux__msgq_slots(q), 16);
    assert_true(taken <= 1024 + 2048);
    assert_true(taken >= 1024);               /* not before a whole quiet window */
    taken = trickle_until(q, 8, &next, 1000); /* never below the start */
    assert_int_equal(taken, 1000);
    assert_int_equal(vmux__msgq_slots(q), 16);
    expect_empty(q);
    vmux_msgq_free(q);
}

/* A queue that keeps more than a quarter of its ring waiting keeps its ring. */
static void test_keeps_its_ring_while_busy(void **state)
{
    (void)state;
    vmux_msgq *q = queue(100000, VMUX_OVERFLOW_DROP_OLDEST);
    push_range(q, 0, 300); /* 512 slots, 300 waiting */
    assert_int_equal(vmux__msgq_slots(q), 512);
    int in = 300, out = 0;
    for (int i = 0; i < 5000; i++) {
        push(q, in++);
        assert_int_equal(pop(q), out++);
        assert_int_equal(vmux__msgq_slots(q), 512);
    }
    /* Draining: it halves only after a ring's worth of messages were taken at a quarter full. */
    expect_range(q, out, in);
    assert_int_equal(vmux__msgq_slots(q), 512);
    vmux_msgq_free(q);
}

/* ---- the bound and the policies, with a growing ring */

static void test_drop_oldest_at_bound(void **state)
{
    (void)state;
    vmux_msgq *q = queue(100, VMUX_OVERFLOW_DROP_OLDEST);
    push_range(q, 0, 250);
    assert_int_equal(vmux_msgq_length(q), 100);
    assert_int_equal(vmux_msgq_dropped(q), 150);
    assert_int_equal(vmux__msgq_slots(q), 100);
    expect_range(q, 150, 250);
    expect_empty(q);
    vmux_msgq_free(q);
}

static void test_drop_newest_at_bound(void **state)
{
    (void)state;
    vmux_msgq *q = queue(100, VMUX_OVERFLOW_DROP_NEWEST);
    push_range(q, 0, 250);
    assert_int_equal(vmux_msgq_length(q), 100);
    assert_int_equal(vmux_msgq_dropped(q), 150);
    assert_int_equal(vmux__msgq_slots(q), 100);
    expect_range(q, 0, 100);
    expect_empty(q);
    vmux_msgq_free(q);
}

/* Any bound size_t allows is accepted without reserving it, and the queue works. */
static void test_largest_bounds(void **state)
{
    (void)state;
    size_t bounds[] = {SIZE_MAX, SIZE_MAX / sizeof(vmux_message) + 1, (size_t)1 << 40, 1000000000};
    for (size_t i = 0; i < sizeof(bounds) / sizeof(bounds[0]); i++) {
        vmux_msgq *q = queue(bounds[i], VMUX_OVERFLOW_DROP_OLDEST);
        assert_int_equal(vmux__msgq_slots(q), 16);
        push_range(q, 0, 100);
        assert_int_equal(vmux__msgq_slots(q), 128);
        expect_range(q, 0, 100);
        vmux_msgq_free(q); /* with nothing left in it */
        q = queue(bounds[i], VMUX_OVERFLOW_DROP_NEWEST);
        push_range(q, 0, 40);
        vmux_msgq_free(q); /* with messages in it: the ASan build checks they are freed */
    }
}

/* ---- allocation failures */

/* A ring that cannot grow: the new message is dropped and counted (whatever the policy), the
 * queued ones stay in order, and the ring grows at the next message once memory is back. */
static void test_grow_failure_keeps_the_queue(void **state)
{
    (void)state;
    vmux_overflow policies[] = {VMUX_OVERFLOW_DROP_OLDEST, VMUX_OVERFLOW_DROP_NEWEST};
    for (int p = 0; p < 2; p++) {
        vmux_msgq *q = queue(1000, policies[p]);
        push_range(q, 0, 10);
        expect_range(q, 0, 5);
        push_range(q, 10, 21); /* 16 waiting (5..20), wrapped round the ring's end */
        fail_rings_from(32);
        push(q, 21); /* the ring is full below the bound and cannot grow */
        push(q, 22);
        assert_int_equal(failed, 2);
        memory_back();
        assert_int_equal(vmux_msgq_dropped(q), 2);
        assert_int_equal(vmux_msgq_length(q), 16);
        assert_int_equal(vmux__msgq_slots(q), 16);
        push(q, 23); /* memory is back: it grows */
        assert_int_equal(vmux__msgq_slots(q), 32);
        assert_int_equal(vmux_msgq_dropped(q), 2);
        expect_range(q, 5, 21);
        assert_int_equal(pop(q), 23);
        expect_empty(q);
        vmux_msgq_free(q);
    }
}

/* A ring that cannot shrink stays as it was, messages and all, and tries at the next window. */
static void test_shrink_failure_keeps_the_ring(void **state)
{
    (void)state;
    vmux_msgq *q = queue(100000, VMUX_OVERFLOW_DROP_OLDEST);
    push_range(q, 0, 100); /* 128 slots */
    expect_range(q, 0, 100);
    int next = 100;
    fail_rings_from(16);
    int taken = trickle_until(q, 64, &next, 3 * 128);
    assert_int_equal(taken, 3 * 128); /* two quiet windows ended: two refused shrinks */
    assert_true(failed >= 2);
    assert_int_equal(vmux__msgq_slots(q), 128);
    push_range(q, next, next + 3); /* queued across a failed shrink, in order */
    memory_back();
    expect_range(q, next, next + 3);
    next += 3;
    taken = trickle_until(q, 64, &next, 128);
    assert_true(taken <= 128);
    assert_int_equal(vmux__msgq_slots(q), 64);
    vmux_msgq_free(q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_starts_small),
        cmocka_unit_test(test_grows_by_doubling_up_to_bound),
        cmocka_unit_test(test_grows_across_the_wrap),
        cmocka_unit_test(test_follows_what_it_holds_not_what_passes),
        cmocka_unit_test(test_shrinks_when_quiet),
        cmocka_unit_test(test_keeps_its_ring_while_busy),
        cmocka_unit_test(test_drop_oldest_at_bound),
        cmocka_unit_test(test_drop_newest_at_bound),
        cmocka_unit_test(test_largest_bounds),
        cmocka_unit_test(test_grow_failure_keeps_the_queue),
        cmocka_unit_test(test_shrink_failure_keeps_the_ring),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
