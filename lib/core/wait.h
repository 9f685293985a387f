/*
 * A caller waiting on its own stack for another thread to complete something: one futex word of
 * its own for the state, and one process-wide "bell" word that every such caller sleeps on with a
 * bit of its own (FUTEX_WAIT_BITSET), so that a thread completing many callers at once (the I/O
 * thread parsing a read's worth of replies) wakes them all with one system call
 * (FUTEX_WAKE_BITSET with their bits or-ed together) instead of one each.
 *
 * The caller announces that it sleeps (VMUX_WAIT_IDLE -> its sleeping value, which carries its
 * bit) before it sleeps, and the completing thread makes a system call only for callers it finds
 * asleep; a completion that came before the caller got to sleep costs no system call at all.
 * Used by vmux_call() (mux/call.c), batches (mux/batch.c) and fan-outs (mux/fanout.c); the I/O
 * thread defers its wakes while it parses a read (net/conn_read.c), and the wakes of all the reads
 * of one loop turn to the turn's end (mux/mux.c).
 */
#ifndef VMUX_CORE_WAIT_H
#define VMUX_CORE_WAIT_H

#include <stdatomic.h>
#include <stdbool.h>

enum { VMUX_WAIT_IDLE, VMUX_WAIT_DONE, VMUX_WAIT_SLEEPING /* + the sleeper's bit number */ };

/*
 * The completing thread: marks *state done and wakes the caller if it sleeps, at once or, between
 * vmux__wait_defer() and vmux__wait_flush() on this thread, at the flush. Everything the caller
 * reads afterwards must be written before. After the exchange the caller may return and its stack
 * be reused: nothing here touches *state again.
 */
void vmux__wait_wake(atomic_int *state);

/* The caller: blocks until *state (initialised VMUX_WAIT_IDLE) is marked done. */
void vmux__wait_sleep(atomic_int *state);

/*
 * The completing thread, around a run of completions: the wakes they owe are gathered from
 * vmux__wait_defer() to the matching vmux__wait_flush() (calls nest; the outermost flush wakes)
 * and made by one system call. Nothing between the two may wait for a caller it completed.
 */
void vmux__wait_defer(void);
void vmux__wait_flush(void);

/*
 * The I/O thread, over each turn of its loop: from vmux__wait_turns_start() (mux/mux.c calls it
 * once the handle is in cluster mode; again and again is harmless) to vmux__wait_turns_stop() (at
 * the shutdown), vmux__wait_defer_turn(), called by every read, defers the wakes of all the turn's
 * reads to vmux__wait_turn_end(), which the loop calls once the turn's I/O callbacks have run (a
 * uv_check handle), and again before each poll (a uv_prepare handle: reads outside the I/O
 * callbacks, from idle handles, must not wait for the poll to end). Three sockets read in one turn
 * then wake their callers with one system call, not three. Outside the two, or on another thread,
 * vmux__wait_defer_turn() does nothing.
 */
void vmux__wait_turns_start(void);
void vmux__wait_defer_turn(void);
void vmux__wait_turn_end(void);
void vmux__wait_turns_stop(void);

/* Whether the calling thread holds wakes it has deferred and not rung yet (for tests: the I/O
 * thread must never sleep in its poll owing one). */
bool vmux__wait_owes(void);

#endif
