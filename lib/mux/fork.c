/*
 * fork(): a child process inherits a copy of every handle but not its I/O thread, so nothing in
 * the child would ever complete a command. The child learns it is one from a pthread_atfork()
 * handler that counts generations; a handle remembers the generation it was opened in. Calls on
 * an inherited handle fail at once with VMUX_ERR_FORKED (mux/submit.c).
 *
 * vmux_close() in the child only closes the child's copies of the handle's descriptors (its
 * sockets, its loop's epoll and wake-up descriptors) and frees none of its memory. That memory
 * is a snapshot of the parent taken while other threads were running: the I/O thread, or a
 * caller inside the direct lane or the submit queue, may have been half way through changing a
 * queue at that instant, so walking it in the child could follow a broken link. Closing the
 * descriptors sends nothing (the parent still holds every socket, so no FIN leaves and no TLS
 * alert is written), makes no epoll change the parent could see (a descriptor closed in one
 * process stays registered for the other), takes no lock and runs no callback: the pending
 * commands belong to the parent, which completes them.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include "core/io_thread.h"
#include "mux/mux.h"

static atomic_uint generation;
static pthread_once_t watch_once = PTHREAD_ONCE_INIT;

static void on_fork_child(void)
{
    vmux__io_thread_unmark(); /* forked from a callback: this thread is no I/O thread here */
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

static void close_descriptor(uv_handle_t *h, void *arg)
{
    (void)arg;
    uv_os_fd_t fd;
    if (uv_fileno(h, &fd) == 0 && fd >= 0)
        close(fd);
}

void vmux__close_in_child(vmux *m)
{
    uv_walk(&m->loop, close_descriptor, NULL); /* sockets: the links' connections */
    close(uv_backend_fd(&m->loop));            /* the loop's epoll set */
    if (m->lane_kick >= 0)
        close(m->lane_kick);              /* the direct lane's kick (net/lane.c) */
    if (m->loop.async_io_watcher.fd >= 0) /* the loop's wake-up eventfd (or pipe) */
        close(m->loop.async_io_watcher.fd);
    if (m->loop.async_wfd >= 0 && m->loop.async_wfd != m->loop.async_io_watcher.fd)
        close(m->loop.async_wfd);
    for (int i = 0; i < 2; i++) /* the loop's signal pipe (libuv makes one per loop) */
        if (m->loop.signal_pipefd[i] >= 0)
            close(m->loop.signal_pipefd[i]);
}
