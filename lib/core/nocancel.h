/*
 * Thread cancellation (pthread_cancel()) held off while a caller is inside the library. A caller
 * cancelled in the middle of a call would leave what it holds to no one: the direct lane (the
 * other callers' replies stop), a mutex (cond_wait takes it back before the thread ends), a
 * waiter on its stack that the I/O thread completes later. So each place where a caller may
 * block holds cancellation off and gives the caller's own state back on the way out; a cancel sent
 * meanwhile acts at the caller's next cancellation point after the call, which returns by its
 * deadline (docs/api-conventions.md, threads).
 */
#ifndef VMUX_NOCANCEL_H
#define VMUX_NOCANCEL_H

#include <pthread.h>

/* Holds cancellation off for this thread; returns the state to give back. */
static inline int vmux__nocancel(void)
{
    int old = PTHREAD_CANCEL_ENABLE;
    (void)pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &old);
    return old;
}

/* Gives back the state vmux__nocancel() returned. */
static inline void vmux__cancel_restore(int old)
{
    (void)pthread_setcancelstate(old, NULL);
}

#endif
