/*
 * Whether a connection is alive: once a tick (vmux__conn_tick()) a connection that owes replies
 * and reads nothing for too long is judged dead, an idle one sends a heartbeat, a subscriber's
 * sends its raw PING; after the loop stood still (vmux__conn_check()) a connection proves itself
 * before commands flow again. The commands themselves are setup.c's. I/O thread.
 */
#include <linux/sockios.h>
#include <sys/ioctl.h>

#include "core/log.h"
#include "net/link_internal.h"
#include "vmux/error.h"

#define TICK_MS 1000 /* how often vmux__conn_tick() runs */

/*
 * The bytes the connection has not yet delivered to the server: those it holds itself
 * (plaintext not yet encrypted, over TLS), libuv's write queue, and the socket's send queue
 * (SIOCOUTQ: sent and not yet acknowledged, or not yet sent).
 */
static uint64_t undelivered(const struct vmux_conn *c)
{
    uint64_t n =
        (c->queued - c->flushed) + uv_stream_get_write_queue_size((const uv_stream_t *)&c->tcp);
    uv_os_fd_t fd;
    int outq = 0;
    if (uv_fileno((const uv_handle_t *)&c->tcp, &fd) == 0 && ioctl(fd, SIOCOUTQ, &outq) == 0 &&
        outq > 0)
        n += (uint64_t)outq;
    return n;
}

/*
 * How far into the connection's stream (op->wstart's offsets) the server has taken bytes in:
 * what was queued less what is undelivered. Over TLS the kernel's share counts
 * ciphertext, a little more than the plaintext it carries, so this lags a little: a command
 * looks in transit a little longer, which errs on the side of a live connection.
 */
static uint64_t taken_in(const struct vmux_conn *c)
{
    uint64_t left = undelivered(c);
    return left < c->queued ? c->queued - left : 0;
}

/*
 * A connection that owes replies while its server is still taking in what it sent (a large
 * value over a slow link) is not dead: the server cannot answer a command it has not read whole.
 * Once a tick, the server having taken in bytes of the oldest command owed a reply since the
 * last tick counts as an answer: the wait for a reply starts again from now (probe 48: a 5 MB
 * SET at 10 Mbit/s, its timeout 500 ms, judged the link dead after 2 s and lost two INCRs
 * queued behind it). Only that command's bytes: once it is in whole, only its reply is
 * progress. A stopped server's kernel keeps taking in the commands written after it (its
 * receive buffer grows to megabytes), and counted as progress they kept the link of a node
 * stopped for 14 s, 1,000 SETs a second, from being judged dead (helper-236).
 */
static void note_delivery(struct vmux_conn *c, uint64_t now_ms)
{
    const struct vmux_op *head = c->fifo.head;
    if (c->waiting_since == 0 || head == NULL) {
        c->taken_in = UINT64_MAX; /* owes nothing: the next wait counts from its first tick */
        return;
    }
    uint64_t taken = taken_in(c);
    if (c->taken_in < head->wstart + head->len && taken > c->taken_in)
        c->waiting_since = now_ms;
    c->taken_in = taken;
}

/* How long a connection may owe a reply and read nothing before it is judged dead. */
static uint64_t dead_after_ms(const struct vmux_conn *c)
{
    const struct vmux_config *cfg = c->link->cfg;
    if (vmux__conn_retiring(c))
        return VMUX_RETIRING_SILENCE_MS;
    uint64_t t = c->fifo.head != NULL && c->fifo.head->timeout_ms != 0
                     ? c->fifo.head->timeout_ms
                     : (uint64_t)cfg->sync_timeout_ms;
    return 2 * t < 2000 ? 2000 : 2 * t;
}

static const char PING_RESP[] = "*1\r\n$4\r\nPING\r\n";

/*
 * A subscriber connection answers PING with a ["pong", ""] push rather than a reply matched to
 * a command (or, not in subscribed mode, with +PONG), so its heartbeat is a raw PING whose
 * answer conn_read.c notices (push_ping_sent).
 */
static void push_tick(struct vmux_conn *c, uint64_t now_ms, bool now)
{
    const struct vmux_config *cfg = c->link->cfg;
    if (c->paused || vmux__conn_holding(c)) {
        /* Messages read earlier still wait for their callbacks, and the pong is behind them
         * (or the PING itself waits for the connection to catch up: conn_write.c): the time
         * they take is ours, not the server's. The wait starts again afterwards. */
        if (c->push_ping_sent != 0)
            c->push_ping_sent = now_ms;
        return;
    }
    if (c->push_ping_sent != 0) {
        if (now_ms - c->push_ping_sent > dead_after_ms(c))
            vmux__conn_fail(c, VMUX_ERR_IO, "no answer to PING for %llu ms: dead link",
                            (unsigned long long)(now_ms - c->push_ping_sent));
        return;
    }
    bool idle =
        cfg->keep_alive_s > 0 && now_ms - c->last_io + TICK_MS > (uint64_t)cfg->keep_alive_s * 1000;
    if ((now || idle) && vmux__conn_write_raw(c, PING_RESP, sizeof(PING_RESP) - 1) == 0)
        c->push_ping_sent = now_ms;
}

/*
 * A tick that comes this much later than asked means the loop itself stood still (a callback
 * that blocked, a frozen process): replies may be sitting unread in the socket, so that tick
 * judges nothing, and the next one, after the loop has read, does.
 */
#define LATE_TICK_MS 500

static bool tick_late(struct vmux_conn *c, uint64_t now_ms)
{
    bool late = c->last_tick != 0 && now_ms - c->last_tick > TICK_MS + LATE_TICK_MS;
    c->last_tick = now_ms;
    return late;
}

/*
 * Whether the check after a freeze waited too long for its PING. Its clock starts when the PING
 * heads the FIFO: commands written before it (a pool's BLPOP blocking 20 s, a WAIT) may owe
 * their replies far longer than connectTimeout, and until they answer the dead-link rule judges
 * the connection, as for any command in flight before the freeze. Timed from the PING's
 * sending, a healthy connection holding a 20 s BLPOP failed connectTimeout (5 s) after the
 * thaw, and the pop came back "outcome unknown".
 */
static bool check_overdue(const struct vmux_conn *c, uint64_t now_ms)
{
    if (c->check_started == 0 || !vmux__setup_check_heads(c))
        return false;
    uint64_t since = c->waiting_since > c->check_started ? c->waiting_since : c->check_started;
    return now_ms - since > (uint64_t)c->link->cfg->connect_timeout_ms;
}

void vmux__conn_tick(struct vmux_conn *c, uint64_t now_ms)
{
    const struct vmux_config *cfg = c->link->cfg;
    bool late = tick_late(c, now_ms);
    /* Not before the socket is connected: a connection still resolving its host name or
     * connecting has no socket to write to (libuv aborted on the PING a tick wrote there:
     * probe18), and its last_io is 0, so it looked idle. */
    if (!vmux__conn_set_up(c) || late)
        return;
    if (c->link->push_fn != NULL) {
        push_tick(c, now_ms, false);
        return;
    }
    note_delivery(c, now_ms);
    if (check_overdue(c, now_ms)) {
        vmux__conn_fail(c, VMUX_ERR_IO, "no answer to PING after the process was suspended");
    } else if (c->waiting_since != 0 && now_ms - c->waiting_since > dead_after_ms(c)) {
        vmux__conn_fail(c, VMUX_ERR_IO, "no reply for %llu ms while commands wait: %s",
                        (unsigned long long)(now_ms - c->waiting_since),
                        vmux__conn_retiring(c) ? "left for the new primary" : "dead link");
    } else if (c->fifo.head == NULL && cfg->keep_alive_s > 0 &&
               now_ms - c->last_io + TICK_MS > (uint64_t)cfg->keep_alive_s * 1000) {
        /* A tick early rather than late: the next tick comes a second later, and a server
         * whose `timeout` equals keepAlive closes a connection idle for longer than that. */
        vmux__setup_ping(c);
    }
    vmux__setup_tick(c, now_ms);
}

void vmux__conn_check(struct vmux_conn *c, uint64_t now_ms)
{
    if (c->phase == CONN_ENDED || c->link->state != LINK_READY)
        return;
    if (c->link->push_fn != NULL) {
        push_tick(c, now_ms, true); /* messages keep flowing; a dead link is found by the PING */
        return;
    }
    vmux__log(
        c->link->cfg, VMUX_LOG_WARN,
        "%s: the I/O thread stood still for over 3 s (the process was suspended, or a callback "
        "blocked it); checking the connection before using it",
        c->where);
    vmux__link_checking(c->link);
    c->check_started = now_ms;
    vmux__setup_check_ping(c);
}
