/*
 * fork(): a child process inherits a copy of every handle but not its I/O thread, so nothing in
 * the child would ever complete a command. The child learns it is one from a pthread_atfork()
 * handler that counts generations; a handle remembers the generation it was opened in. Calls on
 * an inherited handle fail at once with VMUX_ERR_FORKED (mux/submit.c), and vmux_close() there
 * takes the copy apart on the calling thread without touching what the parent still uses:
 *
 * - the loop gets kernel state of its own first (uv_loop_fork): the epoll set is shared with
 *   the parent until then, and removing a socket from it would silence the parent's socket;
 * - closing the child's copies of the sockets sends nothing (the parent still holds them, so no
 *   FIN leaves, and no TLS close_notify is ever written);
 * - the commands pending in the copy belong to the parent, which completes them: their
 *   callbacks do not run in the child (they would complete them a second time, as the
 *   application sees it);
 * - locks another thread may have held at the instant of fork are neither taken nor destroyed.
 */
#include <pthread.h>
#include <stdatomic.h>

#include "mux/mux.h"

static atomic_uint generation;
static pthread_once_t watch_once = PTHREAD_ONCE_INIT;

static void on_fork_child(void)
{
    atomic_fetch_add_explicit(&generation, 1, memory_order_relaxed);
}

static void install(void)
{
    pthread_atfork(NULL, NULL, on_fork_child);
}

void vmux__fork_watch(void)
{
    pthread_once(&watch_once, install);
}

unsigned vmux__fork_generation(void)
{
    return atomic_load_explicit(&generation, memory_order_relaxed);
}

void vmux__close_in_child(vmux *m)
{
    uv_loop_fork(&m->loop);
    vmux__lane_seize(m->link); /* a thread that held it at the fork is not here to give it back */
    vmux__op_quiet(true);
    m->closing = true;
    vmux__shutdown(m);
    uv_run(&m->loop, UV_RUN_DEFAULT);
    uv_loop_close(&m->loop);
    vmux__op_quiet(false);
    vmux__mux_free(m, false);
}
