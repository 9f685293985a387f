/*
 * What the layers above lib/mux (the typed commands in lib/api) may ask of a handle beyond the
 * public API, without seeing struct vmux (mux/mux.h is private to lib/mux).
 */
#ifndef VMUX_HANDLE_H
#define VMUX_HANDLE_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmux/call.h"

/*
 * A public call holding m from its first look at it until it has handed its op over (then
 * vmux__leave()), where it reads the handle's configuration, counters and links: the I/O thread
 * does not begin its shutdown (which closes the links, and after which vmux_close() frees the
 * handle) until every caller that holds m has let go, so a call that races a close reads no freed
 * memory in its checks, encoding and placing (probe 49). False (nothing held: the call returns
 * VMUX_ERR_CLOSED) once the handle is closing, except on the I/O thread, whose callbacks may
 * still submit then (the submission refuses them as before). Nests. Between the two the caller
 * must not wait for the I/O thread. Any thread.
 */
bool vmux__hold(vmux *m);
void vmux__leave(vmux *m);

/*
 * A public call that uses m after waiting for a reply (a near-cache miss stores what it read),
 * marked from its first look at m to its return: false (nothing marked: the call returns
 * VMUX_ERR_CLOSED) once the handle is closing, except on the I/O thread. vmux_close() frees m
 * only once every marked call has ended; it waits after its shutdown, which completes every
 * command, so unlike vmux__hold() this may be held across a wait. Nests. Any thread.
 */
bool vmux__call_begin(vmux *m);
void vmux__call_end(vmux *m);

/* The handle's syncTimeout in milliseconds (it never changes after vmux_open()). Any thread. */
uint32_t vmux__sync_timeout(const vmux *m);

/* The handle's asyncTimeout in milliseconds (it never changes after vmux_open()). Any thread. */
uint32_t vmux__async_timeout(const vmux *m);

/*
 * The handle's maxBulkLength: the largest bulk string a reply to the user's commands may carry
 * (a larger one is a protocol error that closes the connection). It never changes after
 * vmux_open(). Any thread.
 */
uint64_t vmux__max_bulk_length(const vmux *m);

/*
 * Whether the handle routes commands by cluster slot now (it found a cluster node; the router's
 * mode is CLUSTER; vmux__slot_routing() is what a typed multi-key call asks). False while the
 * handle is still asking (abortConnect=false), in standalone mode, and when m is NULL. Any
 * thread; one atomic load.
 */
bool vmux__routes_by_slot(vmux *m);

/* Whether the handle's commands go by cluster slot: what a typed multi-key call asks before it
 * splits its keys per slot (api/split.h). */
enum vmux__slots {
    VMUX__SLOTS_NO,      /* standalone, cluster=no, failed detection, or m NULL */
    VMUX__SLOTS_YES,     /* a cluster; or cluster=yes still asking, whose commands wait for the
                          * answer and then go by slot (a slot needs no map) */
    VMUX__SLOTS_UNKNOWN, /* cluster=auto still asking (abortConnect=false): either may come */
};

/* Which of them the handle is in now. Any thread; one atomic load (and, while the handle is still
 * asking, one read of its configuration). */
enum vmux__slots vmux__slot_routing(vmux *m);

/*
 * Waits, within opts' deadline, until the handle knows whether it is on a cluster (at once when it
 * knows already; as mux/fanout.h's vmux__fanout_settle(), whose returns and words these are), and
 * puts in *left_ms what is left of opts' timeout (the handle's syncTimeout when opts gives none),
 * at least 1 ms. Any thread but the I/O thread.
 */
int vmux__settle_sync(vmux *m, const vmux_callopts *opts, uint32_t *left_ms);

/* Room at the door (maxPending, maxPendingBytes): ops commands of bytes encoded bytes in all. */
struct vmux__room {
    size_t ops, bytes;
};

/*
 * Runs fn(m, left_ms, arg) on the I/O thread once the handle knows whether it is on a cluster,
 * left_ms being what is left of the call's deadline (opts' timeout_ms from now, the handle's
 * asyncTimeout when opts gives none; at least 1 ms). Until then it waits as an async command waits
 * for that answer (parked, deadline-indexed): VMUX_ERR_NOT_CONNECTED under backlogPolicy=failFast
 * with no connection; past the deadline, the code and the why of an unsent command, as opts' flags
 * ask (VMUX_CALL_TELL_UNSENT: VMUX_ERR_NOT_CONNECTED, else VMUX_ERR_TIMEOUT); VMUX_ERR_CLOSED at
 * vmux_close(). fn returns 0 when it took arg over (it has sent what it sends), or an error.
 * failed(status, why, arg), on the I/O thread, runs instead when the wait ended first (why: the
 * words of an unsent command, as core/explain.h reads them, or NULL; failed owns it) or with fn's
 * error (why NULL): exactly one of a successful fn and failed runs, once. vmux_drain() waits for it
 * as for a call. room (NULL or ops 0: none) is what fn's commands will take at the door: it is
 * taken at once, as their submission would take it now, and held while the wait lasts, so that a
 * handle over maxPending or maxPendingBytes refuses the call here as it would refuse those
 * commands (a waiting call takes its share as they would); it is given back just before fn
 * runs (its submissions take their own) or as the wait ends first. Returns 0; or, with neither
 * run: VMUX_ERR_BACKLOG_FULL (the door's words, mux/mux.h vmux__door_why(), in opts' error
 * buffer), VMUX_ERR_INVALID_ARG (m NULL, opts refused as vmux_call_async() refuses them),
 * VMUX_ERR_CLOSED, VMUX_ERR_FORKED, VMUX_ERR_NOMEM. Any thread, the I/O thread included.
 */
int vmux__after_settled(vmux *m, const vmux_callopts *opts, const struct vmux__room *room,
                        int (*fn)(vmux *m, uint32_t left_ms, void *arg),
                        void (*failed)(int status, vmux_reply *why, void *arg), void *arg);

/*
 * Whether m was opened in a parent of this process (fork()): its I/O thread does not exist here,
 * and neither do the threads of the patterns built on it (a lock's renewer, a cache's loading
 * caller), so a pattern must refuse VMUX_ERR_FORKED before it takes any lock of its own or waits
 * for one of them (a parent thread may have held the lock at the instant of fork(), and it is
 * never let go in the child). Any thread; no allocation, no lock: one atomic load and a compare.
 */
bool vmux__handle_forked(const vmux *m);

/*
 * Whether a synchronous call on m (not NULL) must be refused because it is made from a callback,
 * on the I/O thread, whose completions it would wait for: then opts' error buffer (when given)
 * holds why, and the call returns VMUX_ERR_INVALID_ARG. False in a child of fork() (whose call
 * is refused with VMUX_ERR_FORKED instead). Any thread.
 */
bool vmux__sync_refused_on_io(const vmux *m, const vmux_callopts *opts);

/*
 * Sends a block of commands the library prepared (a MULTI ... EXEC block) as one op: resp is
 * their RESP encoding, written contiguously, and nreplies (at least 1) how many replies they
 * bring. The block is not classified (its MULTI would be refused); it is the caller's to make
 * sure no command in it blocks or may not share the connection. *out gets the last reply (an
 * error reply there, EXECABORT, gives way to the block's first error reply), and the call
 * returns as vmux_call() does. resp is copied: the caller keeps it. Any thread but the I/O thread;
 * VMUX_ERR_INVALID_ARG there, or when resp is empty or nreplies 0.
 */
int vmux__call_block(vmux *m, const vmux_callopts *opts, const char *resp, size_t len,
                     uint32_t nreplies, vmux_reply **out);

/*
 * As vmux__call_block(), for a near cache's tracked read (mux/near.h) whose placeholder is
 * (hash, id) reserved under store node: as the block is written on a connection, the I/O thread
 * cancels that placeholder unless the connection tracks to the invalidation connection of the
 * node it is written to, and that node reads for store node (cluster mode; nothing in standalone
 * mode, where the reader's own check is exact). With replica reads (vmux__near_replica_reads())
 * the block is a read that readFrom may send to a replica. slot is its key's slot, as
 * vmux__near_place() gave it on a handle that routed by slot already: it is the op's, so the
 * block's bytes are not read back for it (any MULTI block counts as a write there: no read
 * marking is lost); VMUX_BLOCK_NO_SLOT places the block from its bytes, as vmux__call_block()
 * places it (standalone mode, or a slot given before the handle routed by slot).
 */
#define VMUX_BLOCK_NO_SLOT UINT_MAX
int vmux__call_block_near(vmux *m, const vmux_callopts *opts, const char *resp, size_t len,
                          uint32_t nreplies, uint64_t hash, uint64_t id, unsigned node,
                          unsigned slot, vmux_reply **out);

#endif
