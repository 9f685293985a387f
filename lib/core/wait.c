/* Waiting callers and the wakes owed to them (wait.h). */
#include "core/wait.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <linux/futex.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

/* The word every sleeping caller sleeps on; it changes at every wake, so that a caller that read
 * it before the completion it waits for cannot sleep through that completion's wake. */
static atomic_uint bell;

/* The bit a thread sleeps with: threads take them in turn, so that up to 32 sleeping threads
 * have one each and a wake meant for one never wakes another (more share, harmlessly). */
static atomic_uint next_bit;
static _Thread_local int my_bit = -1;

/* Wakes owed by this thread while it defers them. */
static _Thread_local struct {
    unsigned depth;
    uint32_t bits;
    bool turns; /* between vmux__wait_turns_start() and _stop() */
    bool turn;  /* vmux__wait_defer_turn() holds one level of depth */
} owed;

static int sleeper_bit(void)
{
    if (my_bit < 0)
        my_bit = (int)(atomic_fetch_add_explicit(&next_bit, 1, memory_order_relaxed) % 32u);
    return my_bit;
}

static void ring(uint32_t bits)
{
    atomic_fetch_add_explicit(&bell, 1, memory_order_seq_cst);
    syscall(SYS_futex, &bell, FUTEX_WAKE_BITSET | FUTEX_PRIVATE_FLAG, INT_MAX, NULL, NULL, bits);
}

void vmux__wait_wake(atomic_int *state)
{
    int was = atomic_exchange_explicit(state, VMUX_WAIT_DONE, memory_order_seq_cst);
    if (was < VMUX_WAIT_SLEEPING)
        return;
    uint32_t bit = 1u << (was - VMUX_WAIT_SLEEPING);
    if (owed.depth > 0)
        owed.bits |= bit;
    else
        ring(bit);
}

void vmux__wait_sleep(atomic_int *state)
{
    int bit = sleeper_bit();
    unsigned seen = atomic_load_explicit(&bell, memory_order_seq_cst);
    int expected = VMUX_WAIT_IDLE;
    if (!atomic_compare_exchange_strong_explicit(state, &expected, VMUX_WAIT_SLEEPING + bit,
                                                 memory_order_seq_cst, memory_order_seq_cst))
        return; /* already done */
    /* A completion after the load of seen rings the bell after marking state, so the bell no
     * longer reads seen and the wait returns at once. */
    while (atomic_load_explicit(state, memory_order_seq_cst) != VMUX_WAIT_DONE) {
        syscall(SYS_futex, &bell, FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG, seen, NULL, NULL,
                1u << bit);
        seen = atomic_load_explicit(&bell, memory_order_seq_cst);
    }
}

void vmux__wait_defer(void)
{
    owed.depth++;
}

void vmux__wait_flush(void)
{
    if (--owed.depth > 0 || owed.bits == 0)
        return;
    uint32_t bits = owed.bits;
    owed.bits = 0;
    ring(bits);
}

void vmux__wait_turns_start(void)
{
    owed.turns = true;
}

void vmux__wait_defer_turn(void)
{
    if (!owed.turns || owed.turn)
        return;
    owed.turn = true;
    owed.depth++;
}

void vmux__wait_turn_end(void)
{
    if (!owed.turn)
        return;
    owed.turn = false;
    vmux__wait_flush();
}

void vmux__wait_turns_stop(void)
{
    vmux__wait_turn_end();
    owed.turns = false;
}

bool vmux__wait_owes(void)
{
    return owed.bits != 0;
}
