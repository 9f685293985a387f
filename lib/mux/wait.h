/*
 * A caller waiting on its own stack for the I/O thread to complete something: one futex word,
 * no mutex or condition variable. The caller sleeps on the word only after it announced so
 * (VMUX_WAIT_IDLE -> VMUX_WAIT_SLEEPING), and the completing thread makes the futex system call
 * only when it finds the caller asleep; a completion that came before the caller got to sleep
 * costs no system call at all. Used by vmux_call() (call.c) and by batches (batch.c).
 */
#ifndef VMUX_MUX_WAIT_H
#define VMUX_MUX_WAIT_H

#include <linux/futex.h>
#include <stdatomic.h>
#include <sys/syscall.h>
#include <unistd.h>

enum { VMUX_WAIT_IDLE, VMUX_WAIT_SLEEPING, VMUX_WAIT_DONE };

/*
 * The completing thread: marks *state done and wakes the caller if it sleeps. Everything the
 * caller reads afterwards must be written before. After the exchange the caller may return and
 * its stack be reused: the wake only names the address, which the kernel treats as a number; a
 * stray wake of another waiter on it is harmless, as every futex waiter here re-checks its word.
 */
static inline void vmux__wait_wake(atomic_int *state)
{
    if (atomic_exchange_explicit(state, VMUX_WAIT_DONE, memory_order_acq_rel) == VMUX_WAIT_SLEEPING)
        syscall(SYS_futex, state, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

/* The caller: blocks until *state (initialised VMUX_WAIT_IDLE) is marked done. */
static inline void vmux__wait_sleep(atomic_int *state)
{
    int expected = VMUX_WAIT_IDLE;
    if (!atomic_compare_exchange_strong_explicit(state, &expected, VMUX_WAIT_SLEEPING,
                                                 memory_order_acq_rel, memory_order_acquire))
        return; /* already done */
    while (atomic_load_explicit(state, memory_order_acquire) != VMUX_WAIT_DONE)
        syscall(SYS_futex, state, FUTEX_WAIT_PRIVATE, VMUX_WAIT_SLEEPING, NULL, NULL, 0);
}

#endif
