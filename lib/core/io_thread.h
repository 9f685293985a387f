/*
 * Whether the calling thread is the I/O thread of some handle. A wait that only an I/O thread
 * can end, but that is not tied to one handle (vmux_msgq_pop() on a queue any handle may feed),
 * asks this to refuse a caller that would wait for itself; a handle's own waits ask
 * vmux__on_io_thread() (mux/mux.h), which names the handle.
 */
#ifndef VMUX_IO_THREAD_H
#define VMUX_IO_THREAD_H

#include <stdbool.h>

/* Marks the calling thread as an I/O thread for the rest of its life. The I/O thread, at start. */
void vmux__io_thread_mark(void);

/* Forgets the mark: the child of a fork() made from a callback runs on no I/O thread. Called in
 * the child (mux/fork.c), on the only thread it has. */
void vmux__io_thread_unmark(void);

/* True on a thread marked by vmux__io_thread_mark() (in this process). Any thread. */
bool vmux__io_thread_any(void);

#endif
