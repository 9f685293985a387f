/*
 * The handle: the I/O thread and its loop, the submit queue that feeds it from any thread,
 * and the deadline timer. Private to the library.
 */
#ifndef VMUX_MUX_H
#define VMUX_MUX_H

#include <stdbool.h>
#include <uv.h>

#include "core/config_internal.h"
#include "core/counters.h"
#include "core/deadline.h"
#include "core/errbuf.h"
#include "core/op.h"
#include "net/pool.h"
#include "mux/handle.h"
#include "mux/pubsub.h"
#include "net/link.h"
#include "route/router.h"
#include "vmux/client.h"

/* How many endpoints' failures vmux_open() reports, at most. */
#define VMUX_OPEN_FAILS 4

/* How vmux_open() learns the fate of the first connection. */
enum vmux_open_state { OPEN_WAITING, OPEN_READY, OPEN_FAILED };

struct vmux {
    struct vmux_config *cfg; /* private copy */
    vmux_tls_ctx *tls_ctx;   /* NULL unless ssl=true */
    uv_loop_t loop;
    uv_thread_t thread;
    uv_async_t wakeup;
    int lane_kick; /* eventfd the direct lane kicks a reading caller with (net/lane.c), or -1 */
    uv_timer_t deadline_timer;
    uint64_t timer_due_ns; /* when deadline_timer fires; UINT64_MAX when stopped */
    struct vmux_deadlines deadlines;
    struct vmux_link *link;    /* standalone: the one server; cluster: the seed node's link */
    struct vmux_router router; /* cluster detection, the slot map, the other nodes' links */
    struct vmux_counters ctr;
    struct vmux_pool pool; /* links for blocking commands */
    struct vmux_pubsub pubsub;
    struct vmux_sentinel *sentinel; /* serviceName: where the primary is (net/sentinel.h) */
    struct vmux_nearc *near;        /* nearCache=true: the near cache (mux/near.h); else NULL */
    uv_timer_t tick;                /* heartbeats, dead links, freeze detection: once a second */
    struct vmux_opq inbox;          /* taken from the submit queue, not yet routed */
    uv_idle_t route_more;           /* active while the inbox holds ops: route the next slice */
    uv_check_t turn_end;            /* after each turn's I/O: the wakes its reads owe (wait.h) */
    uv_prepare_t before_poll;       /* before each poll: what reads outside the I/O owe */
    unsigned fork_gen;              /* vmux__fork_generation() when the handle was opened */
    uint64_t last_tick_ns;
    bool io_closing; /* I/O thread only: shutdown has begun */
    /* I/O thread only: typed fan-outs started and not yet delivered (fanout.c); while there are
     * none, a refreshed map or a failed link has no part of theirs to withdraw */
    size_t role_fanouts;

    /* Submit queue (submit.c): the only state that other threads touch. */
    _Atomic(struct vmux_op *) subq; /* pushed ops, newest first, or VMUX_SUBQ_SHUT */
    uv_mutex_t qlock;               /* held only to wake an idle I/O thread, and to close */
    atomic_bool closing;            /* set under qlock */
    _Atomic uint64_t takes;         /* takes of subq begun (the I/O thread writes) */
    _Atomic uint64_t routed_takes;  /* takes whose every op has been routed */
    uint64_t takes_io;              /* I/O thread: its own copy of takes */
    atomic_int sync_waiting;        /* synchronous callers between submit and completion */
    atomic_uint entered;            /* callers holding m (vmux__hold()): the shutdown waits */
    atomic_uint calls; /* calls between vmux__call_begin() and _end(): vmux_close() waits */

    /* First connection, reported to vmux_open(). */
    uv_mutex_t olock;
    uv_cond_t ocond;
    enum vmux_open_state ostate;
    int attempts;
    int oerror;
    char oreason[2 * VMUX_REASON_SIZE]; /* several endpoints' reasons */
    /* I/O thread: each endpoint's last failed attempt, in the order first tried (OPEN_FAILS at
     * most), so that vmux_open() says why each failed (mux.c, open_failure()) */
    char ofails[VMUX_OPEN_FAILS][VMUX_REASON_SIZE];
    char ofails_at[VMUX_OPEN_FAILS][300]; /* each one's "host:port: ", whole, to match by */
    int nofails;
};

/*
 * Admission at the door before encoding a large command (call.c), so that a refusal costs no copy
 * of the arguments: vmux__reserve() counts one op of len encoded bytes against maxPending and
 * maxPendingBytes (any thread, O(1)), or returns VMUX_ERR_BACKLOG_FULL (counted as refused).
 * Once encoded, vmux__reserved() makes the op carry the reservation, which vmux__submit() and
 * vmux__submit_sync() then take as its admission and vmux__op_free() gives back; a reservation
 * whose op could not be built is given back with vmux__unreserve().
 */
int vmux__reserve(vmux *m, size_t len);
void vmux__reserved(vmux *m, struct vmux_op *op);
void vmux__unreserve(vmux *m, size_t len);

/*
 * The same for a batch (mux/batch.c): n ops of bytes encoded bytes in all, admitted whole or not
 * at all (vmux__counters_admit_n()) before any is encoded; each op made then carries its share
 * (vmux__reserved()), and what no op carries is given back with vmux__unreserve_n().
 */
int vmux__reserve_n(vmux *m, size_t n, size_t bytes);
void vmux__unreserve_n(vmux *m, size_t n, size_t bytes);

/*
 * Words for a call the door refused with VMUX_ERR_BACKLOG_FULL, into buf (len bytes): which bound
 * n commands of size bytes in all met (size 0: not known), maxPending or maxPendingBytes, its
 * value, and what the handle held; a command over maxPendingBytes by itself says so. Any thread.
 */
void vmux__door_why(const vmux *m, size_t n, size_t size, char *buf, size_t len);

/*
 * Submits an encoded op from any thread that holds m (vmux__hold()), and takes it in every case
 * (core/op.h). Returns 0 when
 * accepted (its callback will run exactly once), or the error that refused it
 * (VMUX_ERR_CLOSED, VMUX_ERR_BACKLOG_FULL, VMUX_ERR_FORKED), in which case the op is already
 * freed and its callback never runs. Its deadline is op->deadline_ns when the caller set it
 * (from the call's entry, so that encoding counts), else it is fixed now. An op whose deadline
 * passed before it was written completes with VMUX_ERR_TIMEOUT, unsent.
 */
int vmux__submit(vmux *m, struct vmux_op *op);

/*
 * Submits ops[0..n) from any thread as vmux__submit() does, all or none: every one is admitted
 * or none is (the first refusal frees them all and is returned; no callback runs), and from
 * another thread they are pushed onto the submit queue together by one lock-free
 * compare-and-swap, so that the I/O thread routes them in the same loop turn and each link
 * writes its share in one write.
 */
int vmux__submit_all(vmux *m, struct vmux_op **ops, size_t n);

/*
 * vmux__submit_all() for a synchronous caller's batch (mux/batch.c), taking the ops in every
 * case: when this caller is the only one waiting, the handle is standalone, the connection is idle
 * and every op this thread queued before has been written, the caller writes them all itself
 * through the direct lane in one write (vmux__lane_write_all()); *reader is then the link to pass
 * to vmux__lane_read_all() at once, with the same ops, when the lane lent it the reading too
 * (else NULL). On the I/O thread, or otherwise, as vmux__submit_all(). Once this returns 0 the
 * ops may be completed and freed at any moment, except while the caller reads them itself.
 */
int vmux__submit_sync_all(vmux *m, struct vmux_op **ops, size_t n, struct vmux_link **reader);

/*
 * Submits a synchronous caller's op, taking it in every case: like vmux__submit() (not on the I/O
 * thread), but when this caller is the only one waiting, the connection is idle and every op
 * this thread queued before has been written, the caller writes op itself through the direct
 * lane (net/lane.c). Once this returns 0, op may be completed and freed at any moment, and once
 * it completes the caller must not touch m (vmux_close() may free it). When the lane lent the
 * caller its reading too, *reader is the link to pass to vmux__lane_read() at once (else NULL).
 */
int vmux__submit_sync(vmux *m, struct vmux_op *op, struct vmux_link **reader);

/* I/O thread: indexes the deadline of an op a caller wrote through the direct lane. */
void vmux__adopt_direct(struct vmux_op *op, void *arg);

/* I/O thread: tells the direct lane when the loop wakes next at the latest (timers). */
void vmux__publish_wake_by(vmux *m);

/*
 * vmux_call() for an op the library built itself (a MULTI ... EXEC block, say), which the
 * shareable-command check would refuse. Takes op in every case. Any thread but the I/O thread.
 */
int vmux__call_prepared(vmux *m, const vmux_callopts *opts, struct vmux_op *op, vmux_reply **out);

/* Every call flag (VMUX_CALL_*). */
#define VMUX__CALL_FLAGS_KNOWN                                                                     \
    ((uint32_t)(VMUX_CALL_RETRY_SAFE | VMUX_CALL_BLOCKING | VMUX_CALL_PRIMARY |                    \
                VMUX_CALL_REPLICA | VMUX_CALL_PREFER_REPLICA | VMUX_CALL_TELL_UNSENT))

/* Whether call flags (VMUX_CALL_*) are known and not contradictory (two places to read from). */
bool vmux__call_flags_valid(uint32_t flags);

/*
 * Reads a caller's options as far as their size goes (abi.h) into *o: a full copy, or the
 * defaults when opts is NULL. Returns 0, or VMUX_ERR_INVALID_ARG for a bad size, a negative
 * timeout, or flags that are invalid (vmux__call_flags_valid()) or outside allowed (a fan-out
 * takes fewer than a call).
 */
int vmux__callopts_read(const vmux_callopts *opts, uint32_t allowed, vmux_callopts *o);

/*
 * Writes into buf (len bytes) why vmux__callopts_read() refused the options it copied into *o
 * (with the same allowed): which flag bits, the placement flags together, the timeout. Nothing
 * for options of a bad size (they carry no buffer to write into). Any thread.
 */
void vmux__callopts_why(const vmux_callopts *o, uint32_t allowed, char *buf, size_t len);

/* A call's timeout in ms: its options' timeoutMs when set (o may be NULL), else the handle's
 * synchronous or asynchronous default. */
uint32_t vmux__call_timeout(const vmux *m, const vmux_callopts *o, bool sync);

/* The op flags (VMUX_OP_*) that call flags ask for. */
uint32_t vmux__call_op_flags(uint32_t call_flags);

/*
 * Runs fn(m, arg) on the I/O thread and returns what it returns, waiting for it (or
 * VMUX_ERR_CLOSED once the handle is closing, VMUX_ERR_FORKED in a forked child, VMUX_ERR_NOMEM).
 * On the I/O thread it runs fn at once. This is how other threads change state that only the I/O
 * thread may touch.
 */
int vmux__run_on_io(vmux *m, int (*fn)(vmux *m, void *arg), void *arg);

/* vmux__run_on_io() for a caller that holds m (vmux__hold()): lets go of it once the op is handed
 * over (or refused), before waiting, and does not touch m after. */
int vmux__run_on_io_held(vmux *m, int (*fn)(vmux *m, void *arg), void *arg);

/*
 * I/O thread: runs a control op made by vmux__run_on_io(), completes it and frees it. A control
 * function that returns VMUX__CONTROL_WAIT while the router is detecting keeps its op, which
 * waits (by its deadline) until detection is over and then runs again (vmux__wait_settled()); one
 * that returns VMUX__CONTROL_WAIT_MAP keeps it until the next slot map refresh is answered, and it
 * runs again then (vmux__wait_refresh()).
 */
void vmux__run_control(vmux *m, struct vmux_op *op);
#define VMUX__CONTROL_WAIT 1
#define VMUX__CONTROL_WAIT_MAP 2

/*
 * I/O thread, CLUSTER: control op waits (deadline-indexed, by its deadline_ns) until a slot map
 * refresh is answered, then runs again (vmux__run_control()); completes at once with
 * VMUX_ERR_CLOSED once the handle is closing, VMUX_ERR_TIMEOUT when its deadline passed. Whoever
 * waits asks for the refresh (vmux__router_refresh_soon()).
 */
void vmux__wait_refresh(vmux *m, struct vmux_op *op);

/*
 * I/O thread, DETECTING: op waits for detection's outcome as an ordinary command does (parked,
 * deadline-indexed), or completes at once: VMUX_ERR_NOT_CONNECTED under backlogPolicy=failFast
 * while no connection is ready, VMUX_ERR_TIMEOUT when its deadline passed, VMUX_ERR_NOMEM.
 */
void vmux__wait_settled(vmux *m, struct vmux_op *op);

/* I/O thread: takes everything from the submit queue and routes it. */
void vmux__drain_queue(vmux *m);

/* I/O thread: indexes an op's deadline and hands it to its link (or the pool); takes op. */
void vmux__route(vmux *m, struct vmux_op *op);

/*
 * I/O thread: admits op (with its deadline_ns set already), indexes its deadline and submits it
 * to link, whatever its slot: a fan-out's part for one node. Takes op; completes it at once with
 * VMUX_ERR_CLOSED, VMUX_ERR_TIMEOUT (deadline passed), VMUX_ERR_BACKLOG_FULL or VMUX_ERR_NOMEM.
 */
void vmux__submit_on_link(vmux *m, struct vmux_link *link, struct vmux_op *op);

/*
 * I/O thread: vmux__submit_on_link() for a command of the library's own that goes with a caller's
 * (a fan-out part's ROLE, mux/fanout.c): not admitted, so it takes no place of maxPending nor
 * maxPendingBytes from the caller's commands; its deadline indexed. Takes op; completes it at once
 * with VMUX_ERR_CLOSED or VMUX_ERR_TIMEOUT (deadline passed).
 */
void vmux__submit_own_on_link(vmux *m, struct vmux_link *link, struct vmux_op *op);

/* vmux_close(), the I/O thread joined: waits until every vmux__call_begin() has ended. */
void vmux__wait_calls_ended(vmux *m);

/* I/O thread: fails every op the handle holds with VMUX_ERR_CLOSED and closes its handles. */
void vmux__shutdown(vmux *m);

/*
 * How many times this process is a fork() child of a process that had loaded vmux: a child
 * sees a larger number than its parent did. Any thread; one atomic load.
 */
unsigned vmux__fork_generation(void);

/* Installs the fork() handler behind vmux__fork_generation(), once per process. */
void vmux__fork_watch(void);

/* vmux_close() of a handle inherited from a parent process (fork.c). */
void vmux__close_in_child(vmux *m);

/*
 * Whether m was opened in a parent of this process: its I/O thread does not exist here. The
 * entry points ask before they allocate anything, so a call on an inherited handle fails with
 * VMUX_ERR_FORKED without touching the allocator, which in the child of a multi-threaded process
 * may hold a lock some parent thread took before fork() (POSIX allows only async-signal-safe
 * calls there; glibc's malloc copes, other allocators, AddressSanitizer's among them, do not).
 */
static inline bool vmux__forked(const vmux *m)
{
    return vmux__fork_generation() != m->fork_gen;
}

/* Whether the calling thread is the handle's I/O thread. */
bool vmux__on_io_thread(const vmux *m);

/*
 * What a call that waits on m up to timeout_ms (vmux_drain(), vmux_sub_wait_live()) checks
 * before it waits, after its own NULL check: timeout_ms's words (core/why.h vmux__why_timeout());
 * VMUX_ERR_FORKED in a forked child, where nothing would ever end the wait; VMUX_ERR_INVALID_ARG
 * with vmux__on_io_thread_words on the I/O thread, which would wait for itself. 0: it may wait.
 */
int vmux__wait_allowed(const vmux *m, int64_t timeout_ms);

/*
 * I/O thread (mux/fanout.c): the typed fan-outs' parts (vmux__fanout_call_primaries()) that wait
 * unsent in the backlog of a link with no connection ready, whose node the current map no longer
 * names a primary (it died, and a refreshed map names its promoted replica, or it left), complete
 * as met on a demoted primary: their fan-out runs again on the current map (enum vmux__rerun), or
 * fails them, naming the node ("NOTPRIMARY <address> is no longer a primary: a refreshed map
 * names another ..."). only: that link alone (its connection failed), or NULL: every link (a
 * refresh was answered). Before, such a part waited for its node until the call's deadline.
 * Nothing is walked while no typed fan-out is under way (m->role_fanouts).
 */
void vmux__fanout_withdraw(vmux *m, const struct vmux_link *only);

#endif
