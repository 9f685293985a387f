/* Whether the calling thread is some handle's I/O thread (io_thread.h). */
#include "core/io_thread.h"

/* Set once by an I/O thread; every other thread's stays false. */
static _Thread_local bool marked;

void vmux__io_thread_mark(void)
{
    marked = true;
}

void vmux__io_thread_unmark(void)
{
    marked = false;
}

bool vmux__io_thread_any(void)
{
    return marked;
}
