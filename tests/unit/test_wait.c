/*
 * Waiting callers and the wakes owed to them (core/wait.h): a completion before the sleep costs
 * no system call; deferred wakes are rung once at the outermost flush; and between
 * vmux__wait_turns_start() and _stop(), the wakes of every read of a loop turn wait for
 * vmux__wait_turn_end() and go in one system call, while outside them (or on a thread that never
 * started turns) each read's flush rings as before. The futex wakes are counted by wrapping
 * syscall() (this executable links the library statically).
 */
#include <linux/futex.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/syscall.h>

#include <cmocka.h>

#include "core/wait.h"
#include "testutil.h"

#define WAIT_MS 10000

/* FUTEX_WAKE_BITSET calls made (the bell rung), and the bits of the last one. */
static atomic_uint rings;
static atomic_uint last_bits;

long __real_syscall(long number, long a1, long a2, long a3, long a4, long a5, long a6);
long __wrap_syscall(long number, long a1, long a2, long a3, long a4, long a5, long a6);

long __wrap_syscall(long number, long a1, long a2, long a3, long a4, long a5, long a6)
{
    if (number == SYS_futex && (a2 & ~FUTEX_PRIVATE_FLAG) == FUTEX_WAKE_BITSET) {
        atomic_fetch_add(&rings, 1);
        atomic_store(&last_bits, (unsigned)a6);
    }
    return __real_syscall(number, a1, a2, a3, a4, a5, a6);
}

/* A caller sleeping on its state until woken. */
struct sleeper {
    pthread_t thread;
    atomic_int state;
    atomic_bool back; /* vmux__wait_sleep() returned */
    int bit;          /* the bit it sleeps with */
};

static void *sleep_main(void *arg)
{
    struct sleeper *s = arg;
    vmux__wait_sleep(&s->state);
    atomic_store(&s->back, true);
    return NULL;
}

static bool asleep(void *arg)
{
    return atomic_load(&((struct sleeper *)arg)->state) >= VMUX_WAIT_SLEEPING;
}

static bool returned(void *arg)
{
    return atomic_load(&((struct sleeper *)arg)->back);
}

/* Starts s sleeping and waits until it has announced its sleep (a wake now owes a ring). */
static void start_sleeper(struct sleeper *s)
{
    atomic_init(&s->state, VMUX_WAIT_IDLE);
    atomic_init(&s->back, false);
    assert_int_equal(pthread_create(&s->thread, NULL, sleep_main, s), 0);
    assert_true(vt_wait_until(asleep, s, WAIT_MS));
    s->bit = atomic_load(&s->state) - VMUX_WAIT_SLEEPING;
}

static void join_sleeper(struct sleeper *s)
{
    assert_true(vt_wait_until(returned, s, WAIT_MS));
    assert_int_equal(pthread_join(s->thread, NULL), 0);
    assert_int_equal(atomic_load(&s->state), VMUX_WAIT_DONE);
}

/* One read's completions as vmux__conn_parse() makes them: its own deferral and flush. */
static void read_completes(struct sleeper *s, size_t n)
{
    vmux__wait_defer_turn();
    vmux__wait_defer();
    for (size_t i = 0; i < n; i++)
        vmux__wait_wake(&s[i].state);
    vmux__wait_flush();
}

static void test_done_before_sleep_costs_no_call(void **state)
{
    (void)state;
    atomic_int word = VMUX_WAIT_IDLE;
    unsigned before = atomic_load(&rings);
    vmux__wait_wake(&word);
    vmux__wait_sleep(&word); /* returns at once */
    assert_int_equal(atomic_load(&word), VMUX_WAIT_DONE);
    assert_int_equal(atomic_load(&rings), before);
}

/* Without turns, each read rings for its own callers. */
static void test_each_read_rings_without_turns(void **state)
{
    (void)state;
    struct sleeper s[3];
    for (size_t i = 0; i < 3; i++)
        start_sleeper(&s[i]);
    unsigned before = atomic_load(&rings);
    read_completes(&s[0], 2);
    assert_int_equal(atomic_load(&rings), before + 1);
    read_completes(&s[2], 1);
    assert_int_equal(atomic_load(&rings), before + 2);
    vmux__wait_turn_end(); /* no turn deferral was open: nothing owed */
    assert_int_equal(atomic_load(&rings), before + 2);
    for (size_t i = 0; i < 3; i++)
        join_sleeper(&s[i]);
}

/* With turns, three reads of one turn ring once, at the turn's end, with all their bits. */
static void test_turn_rings_once(void **state)
{
    (void)state;
    struct sleeper s[3];
    for (size_t i = 0; i < 3; i++)
        start_sleeper(&s[i]);
    unsigned before = atomic_load(&rings);
    vmux__wait_turns_start();
    for (size_t i = 0; i < 3; i++)
        read_completes(&s[i], 1);
    assert_int_equal(atomic_load(&rings), before);
    vmux__wait_turn_end();
    assert_int_equal(atomic_load(&rings), before + 1);
    unsigned bits = atomic_load(&last_bits);
    for (size_t i = 0; i < 3; i++)
        assert_true(bits & (1u << s[i].bit));
    for (size_t i = 0; i < 3; i++)
        join_sleeper(&s[i]);
    /* The next turn defers again; stopping the turns rings what it owes. */
    struct sleeper t;
    start_sleeper(&t);
    read_completes(&t, 1);
    assert_int_equal(atomic_load(&rings), before + 1);
    vmux__wait_turns_stop();
    assert_int_equal(atomic_load(&rings), before + 2);
    join_sleeper(&t);
    /* Stopped: a read rings at its own flush again. */
    start_sleeper(&t);
    read_completes(&t, 1);
    assert_int_equal(atomic_load(&rings), before + 3);
    join_sleeper(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_done_before_sleep_costs_no_call),
        cmocka_unit_test(test_each_read_rings_without_turns),
        cmocka_unit_test(test_turn_rings_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
