/* The link and connection structures, private to lib/net. */
#ifndef VMUX_LINK_INTERNAL_H
#define VMUX_LINK_INTERNAL_H

#include <stdatomic.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/errbuf.h"
#include "net/link.h"
#include "net/tls.h"

enum vmux_link_state {
    LINK_DOWN,       /* no connection; waiting for the backoff timer or the first start */
    LINK_CONNECTING, /* a connection is resolving, connecting or setting up its session */
    LINK_READY,      /* commands are written as they come */
    LINK_CHECKING,   /* after the process was frozen: commands wait until a PING answers */
    LINK_CLOSED,
};

struct vmux_conn;

#define REPL_HISTORY 64 /* offsets a primary's link remembers (repl.c) */

/*
 * What INFO replication said of a link's server, asked at setup and once a tick under a readFrom
 * other than primary (setup.c). On a primary, the offsets it reached and when they were first
 * seen: against them a replica's offset tells how far behind in time it is (repl.c).
 */
struct vmux_repl {
    bool replica;     /* role:slave */
    bool unlinked;    /* a replica whose master_link_status is not up */
    bool behind;      /* judged behind its primary by more than replicaMaxLag */
    bool foreign;     /* judged not a replica of its shard's primary (a primary itself...) */
    long long offset; /* slave_repl_offset on a replica, master_repl_offset on a primary */
    uint64_t at_ms;   /* loop ms the offset was read; 0: never (on this connection) */
    char replid[48];  /* master_replid: the history that the offsets count bytes of */
    uint64_t hist_ms[REPL_HISTORY]; /* a primary's: the loop ms each offset was first seen */
    long long hist_off[REPL_HISTORY];
    unsigned hist_start, hist_len; /* a ring, oldest first */
};

/* The backoff spans of refused ops (LOADING, TRYAGAIN...): 10, 20, 40, 80, 160, 320, 500 ms. */
#define VMUX_LINK_RETRY_LEVELS 7

struct vmux_link {
    uv_loop_t *loop;
    const struct vmux_config *cfg;
    vmux_tls_ctx *tls_ctx;      /* NULL: plain TCP */
    struct vmux_counters *ctr;  /* where it counts now: home, or (home->by_node) its node's */
    struct vmux_counters *home; /* the counters it was made with */
    uint64_t pub_backlog, pub_in_flight; /* its share of ctr's backlog and in_flight gauges */
    uint64_t pub_connected;              /* and of its connected gauge: 1 while READY or CHECKING */
    uint64_t replaced_at; /* loop ms vmux__link_replace_conn() last retired a connection */
    void (*push_fn)(vmux_reply *reply, void *arg); /* subscriber link: replies are pushes */
    vmux_push_over_limit_fn push_over_limit; /* NULL: a push over a limit fails its connection */
    void *push_arg;
    bool auxiliary;    /* pool or subscriber link: see vmux__link_set_auxiliary() */
    bool readonly;     /* its connections send READONLY (setup.c; vmux__link_set_readonly()) */
    bool cluster_only; /* its servers must be cluster nodes (vmux__link_set_cluster_only()) */
    bool first_wait;   /* failFast waits for its first attempt (vmux__link_wait_first()) */
    struct vmux_reader_limits limits; /* the user's replies' (maxBulkLength...) */
    struct vmux_link_events events;
    void *arg;

    enum vmux_link_state state;
    struct vmux_conn *conn; /* the current connection, NULL while down */
    uint64_t conns;         /* connections made so far: the current one's number */
    struct vmux_opq backlog;
    size_t next_endpoint; /* endpoint the next attempt uses */

    uv_timer_t backoff;
    uv_timer_t retry_timer; /* resends ops that got LOADING, MASTERDOWN, TRYAGAIN, CLUSTERDOWN */
    /* Those ops by how often they were refused (net/link.c: one backoff span each), each with
     * its due time (op->bounce.due_ms). */
    struct vmux_opq retry_q[VMUX_LINK_RETRY_LEVELS];
    uint64_t retry_due;       /* loop ms the retry timer is set for, while it is */
    struct vmux_opq rejected; /* READONLY'd ops (and retry-safe ones behind): next connection */
    int open_timers;          /* while closing: timers libuv still holds */
    unsigned retries;         /* failed attempts since a working connection (net/link.c) */
    uint64_t ready_since;     /* loop ms the current connection became ready */
    unsigned demoted;         /* connections retired by READONLY in a row (reset by a tick) */
    uint64_t rng;             /* jitter */
    int last_error;           /* code of the last failure, 0 if none */
    /* loop ms its node last said a failover demoted it (READONLY, or UNBLOCKED ... instance
     * state changed), 0 never: vmux__link_demoted_within() */
    uint64_t demoted_at;
    /* "host:port: cause" (core/errbuf.h); with several endpoints, each one's last failure */
    char last_reason[VMUX_REASON_SIZE];
    char (*ep_failures)[VMUX_REASON_SIZE]; /* several endpoints: each one's last failure since
                                              the link was ready ("" none); NULL otherwise */
    char az[64]; /* the server's availability_zone (asked for readFrom=azAffinity...); "" unknown */
    struct vmux_repl repl;              /* its server's replication state (repl.c), for readFrom */
    struct vmux_link_tracking tracking; /* the near cache's (redirect_id NULL: no tracking) */

    /* The direct lane (lane.c): the only fields a caller thread touches, besides the
     * connection it borrows while it holds the lane. */
    atomic_int lane;
    int lane_depth;        /* I/O thread: enclosing vmux__lane_enter()s; the lane opens at 0 only */
    atomic_bool lane_rest; /* a caller left bytes queued on conn: the I/O thread writes them */
    atomic_bool lane_broken; /* a caller could not keep the rest of a command: fail the conn */
    _Atomic uint64_t lane_wake_by; /* hrtime ns by which the I/O thread wakes anyway */
    bool lane_wake_spent;  /* I/O thread: lane_wake_by's timer fired, nothing published since */
    bool lane_ok;          /* vmux__lane_enable(): this link may lend its connection */
    uv_async_t *lane_wake; /* wakes the I/O thread */
    int lane_kick; /* eventfd: the I/O thread asks a reader for the lane back (LANE_TAKING) */
    void (*lane_adopt)(struct vmux_op *op, void *arg); /* indexes a direct op's deadline */
    void *lane_arg;

    /* Sentinel (sentinel.c): where to connect is asked of it; NULL: the config's endpoints. */
    struct vmux_sentinel *sentinel;
    struct vmux_link *s_prev, *s_next; /* in its list of links that follow the primary */
    bool s_waiting;                    /* connecting: waits for its answer */
};

/*
 * A connection retired for a new primary (+switch-master, READONLY) waits this long at most
 * without a reply for those it owes: a demoted primary answers at once, a hung one never (its
 * link's new commands waited for the whole dead-link threshold, 2 x syncTimeout, and timed out).
 * One silent that long already when it is retired is let go at once.
 */
#define VMUX_RETIRING_SILENCE_MS 1000

/*
 * Where a connection is in its life (conn.c, conn_read.c), one stage at a time. In order:
 * RESOLVING (a host name only) -> CONNECTING -> HANDSHAKING (TLS only) -> OPEN -> ENDED, and any
 * of them -> ENDED on a failure or the link's close. Session setup is OPEN with setup_left > 0
 * (setup.c); whether the link may use it is the link's state (LINK_READY...), not the connection's.
 */
enum vmux_conn_phase {
    CONN_RESOLVING,   /* uv_getaddrinfo() under way: c->gai is libuv's until on_resolved() */
    CONN_CONNECTING,  /* uv_tcp_connect() under way, until the connected socket reads; also a
                         new connection's (an IP literal is not resolved) */
    CONN_HANDSHAKING, /* the socket is up and read; the TLS handshake runs: no session setup yet */
    CONN_OPEN,        /* the socket (and TLS) up: session setup, then the link's commands */
    CONN_ENDED,       /* vmux__conn_end() ran (a failure, or its link closing): no more I/O */
};

/* Whether a connection takes new commands, or is being replaced (link.c: retire_conn()). */
enum vmux_conn_retire {
    CONN_SERVING,        /* not being replaced */
    CONN_RETIRE_DRAINED, /* READONLY: no new command; fails once what it owes is answered, and
                            the link's next attempt is as after a failed one (next endpoint,
                            backoff) */
    CONN_RETIRE_AT_ONCE, /* the same (MOVED to itself, +switch-master), or failed there and then
                            (vmux__link_rotate(), an attempt at a moved primary): the link's next
                            attempt is as after a working connection broke
                            (vmux__link_conn_failed(): endpoint kept, no backoff the first time) */
};

/* Why a connection whose direct-lane write was cut short fails (vmux_conn.lane_broke). */
#define LANE_BROKE_WHY "out of memory for a command's last bytes"

struct vmux_conn {
    struct vmux_link *link;
    const struct vmux_endpoint *ep;
    int refs; /* handles and requests libuv still holds; freed at 0 */
    enum vmux_conn_phase phase;
    enum vmux_conn_retire retire;
    /* uv_tcp_init() ran: vmux__conn_end() closes the handle. Not a phase: it stays true once
     * ENDED, and an attempt that ended before it made its socket never set it. */
    bool tcp_open;
    bool write_pending;
    bool flush_armed;
    bool not_primary;        /* its ROLE check found a replica (or a sentinel) */
    char role[16];           /* ROLE's first word when it is not "master"; "" else */
    bool lone_replica;       /* its ROLE after a READONLY named a replica, the link's only
                                endpoint a fixed address: writes refused READONLY fail at once,
                                the connection stays for reads (lone.c) */
    const char *retire_why;  /* static: why it retires, for the failure's reason */
    bool renewed;            /* ended by vmux__link_reconnect(): not counted a failure */
    bool served;             /* a caller's command was answered on it: a working connection */
    uint64_t waiting_since;  /* loop ms since the FIFO head has waited for a reply; 0: empty */
    uint64_t taken_in;       /* liveness.c: the offset the server had taken bytes in up to, at
                              * the last tick of a wait; UINT64_MAX: none yet in this wait */
    uint64_t last_io;        /* loop ms of the last read or queued write */
    uint64_t check_started;  /* loop ms a post-freeze check began; 0: none */
    uint64_t push_ping_sent; /* subscriber connection: loop ms of the unanswered PING; 0: none */
    uint64_t slice_until;    /* hrtime ns this turn's dispatch ends (conn_read.c) */
    uint64_t slice_turn;     /* uv_now() of the turn whose slice that is */
    uint64_t slice_checked;  /* hrtime ns the clock was last read for the slice */
    unsigned slice_seen;     /* replies dispatched since then (a command connection's) */
    unsigned slice_stride;   /* and how many it dispatches before reading it again (conn_read.c) */
    uint64_t last_tick;      /* loop ms of the previous vmux__conn_tick(); 0: none yet */
    uint64_t reauth_due;     /* loop ms the next re-AUTH is due (setup.c); 0: none */
    uint64_t lane_back_ns;   /* hrtime a caller last gave the lane back (the lane holder's) */
    uint64_t read_ns;        /* hrtime of the I/O thread's last read of bytes (conn_write.c) */
    bool paused;             /* out of its slice: replies wait in the reader, reading stopped */
    bool behind;     /* a subscriber connection paused since its socket was last found read empty:
                      * its writes wait until it catches up (conn_write.c) */
    bool lane_wrote; /* a caller wrote through the direct lane since the clocks were stamped */
    bool lane_sync;  /* a synchronous caller wrote through the lane lately: lend it reading */
    bool read_lent;  /* reading stopped, lent to callers with the lane (LANE_IDLE) */
    bool readonly;   /* READONLY sent, and no READWRITE after it */
    bool hung_up;    /* the server hung up while reading was lent: lend nothing more */
    bool lane_broke; /* a caller's command went out in part and its rest was lost: nothing more
                      * may be written after it (conn_flush() fails the connection instead) */
    bool lane_parse; /* a reader left bytes or a failure in the reader, for the I/O thread */
    int read_error;  /* uv_read_start() refused to take reading back: fail on the next turn */

    uv_timer_t timer; /* connect + setup deadline */
    uv_getaddrinfo_t gai;
    uv_connect_t creq;
    uv_tcp_t tcp;
    int fd; /* the socket, once connected (-1 before): what the direct lane writes to */
    uv_write_t wreq;
    /* Writes what a loop turn queued, once, before the loop polls: an idle handle, so that one
     * armed while the turn's flushes run (a callback of one submitting to another connection)
     * keeps the loop from sleeping until it has run (conn_write.c). */
    uv_idle_t flusher;
    uv_idle_t resumer; /* dispatches the next slice while paused */
    uv_poll_t hangup;  /* while reading is lent: watches a copy of fd for the server's hang-up */
    int hangup_fd;     /* that copy, -1 until reading is first lent */

    struct vmux_tls *tls; /* NULL on a plain connection */
    vmux_reader *reader;
    struct vmux_opq fifo; /* ops written and not yet answered, in order */
    int setup_left;       /* setup replies still expected */
    long long track_id;   /* the client id of the last CLIENT TRACKING ... REDIRECT sent */
    int track_inflight;   /* CLIENT TRACKING commands sent and not yet answered */
    bool sent_secret;     /* AUTH was queued: wipe what its bytes and the replies touched */
    char *auth_user;      /* copies of the credentials provider's answer, for redacting */
    char *auth_pass;      /* failure reasons; wiped once setup ends */

    struct vmux_buf out;     /* command bytes queued and not yet sent (or encrypted) */
    struct vmux_buf cipher;  /* TLS: ciphertext not yet handed to the kernel */
    struct vmux_buf writing; /* bytes a uv_write is sending */
    /* Large commands are not copied into out: the connection writes them from their ops' own
     * bytes, between out's (conn_write.c). v[head, count) in the order written, each op marked
     * VMUX_OP_LENT and kept in the FIFO meanwhile; the first `writing` are the uv_write's. */
    struct {
        struct vmux_op **v;
        size_t head, count, cap, writing;
    } lent;
    uint64_t queued;  /* command bytes ever queued on this connection */
    uint64_t flushed; /* command bytes that may have left: handed to the kernel, to a
                         pending uv_write, or to TLS */

    char where[300]; /* "host:port", for messages (a longer learned host shortened: conn.c) */
    char rbuf[64 * 1024];
    char plain[16 * 1024]; /* TLS: one decrypted record */
};

/* Whether c's session is set up: its socket (and TLS) up and every setup reply in. I/O thread. */
static inline bool vmux__conn_set_up(const struct vmux_conn *c)
{
    return c->phase == CONN_OPEN && c->setup_left == 0;
}

/* Whether c is being replaced: it takes no new command (either kind of retiring). I/O thread. */
static inline bool vmux__conn_retiring(const struct vmux_conn *c)
{
    return c->retire != CONN_SERVING;
}

/* conn.c: one connection's life. vmux__conn_new() allocates (NULL when out of memory);
 * vmux__conn_begin() resolves and connects, reporting any failure to the link. */
struct vmux_conn *vmux__conn_new(struct vmux_link *link, const struct vmux_endpoint *ep);
void vmux__conn_begin(struct vmux_conn *c);
/*
 * Ends a connection: ops never handed to the kernel go back to the front of the link's backlog
 * (requeue true) or complete with status (requeue false); ops sent and unanswered complete with
 * sent_status, except that with requeue a sent retry-safe op goes back to the backlog too, once
 * (marked VMUX_OP_RESENT; never a second time). Internal ops, and ops already completed (timed
 * out) whose replies were still owed, are freed. Then its handles close and it frees itself.
 */
void vmux__conn_end(struct vmux_conn *conn, bool requeue, int status, int sent_status);
/* Where a connection not yet ready is: "resolving the host name", "the TLS handshake (is the
 * server speaking TLS?)", "session setup (AUTH, SELECT, CLIENT)" or "connecting". Static. */
const char *vmux__conn_stage(const struct vmux_conn *c);

/*
 * As vmux__conn_fail(), for a reason that quotes nothing a server said but an error code
 * (vmux__error_code(): "AUTH failed: WRONGPASS"): not masked, so that a password that happens to
 * be a piece of the code ("PASS") does not mangle it.
 */
void vmux__conn_fail_unquoted(struct vmux_conn *c, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Fails the connection: reported to its link, which ends it and reconnects. */
void vmux__conn_fail(struct vmux_conn *c, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* conn_write.c: one connection's writing. */
/*
 * Takes an op and queues its bytes on a ready connection; the connection's FIFO then holds it.
 * Returns 0, or VMUX_ERR_NOMEM when the bytes found no room: the op is then finished with that
 * status (a connection's own op, which has no callback, is freed).
 */
int vmux__conn_write_op(struct vmux_conn *conn, struct vmux_op *op);
/* Makes sure the connection flushes before the loop next waits for I/O. */
void vmux__conn_arm_flush(struct vmux_conn *c);
/*
 * Whether c holds writes back: a subscriber connection behind its messages (c->behind) with
 * bytes queued. They go once it has read its socket empty (conn_flush() decides, at the flush
 * that conn_read.c arms after each read of such a connection). I/O thread.
 */
static inline bool vmux__conn_holding(const struct vmux_conn *c)
{
    return c->behind && c->queued > c->flushed;
}
/* Queues bytes that expect no matched reply. Returns 0 or VMUX_ERR_NOMEM. */
int vmux__conn_write_raw(struct vmux_conn *conn, const char *bytes, size_t len);
/*
 * The connection lets go of an op answered while it may still be writing the op's own bytes
 * (VMUX_OP_LENT): true when they had all left (the op is the caller's again), false when some
 * had not, so that the server answered a command it had not read whole and the connection must
 * end before the op is freed (its socket closed, nothing more is written from it).
 */
bool vmux__conn_unlend(struct vmux_conn *c, struct vmux_op *op);
/*
 * Queues what is left of op, whose first sent bytes the direct lane wrote (lane.c): lent when op
 * is large, else copied into c->out. False when out of memory. The caller holds the lane.
 */
bool vmux__conn_queue_rest(struct vmux_conn *c, struct vmux_op *op, size_t sent);
/* Ends the lending of every op (the connection is ending: its socket is closed). */
void vmux__conn_lent_forget(struct vmux_conn *c);
/* The most plaintext a TLS flush encrypts; the rest waits for the next turn (conn_write.c). */
#define VMUX_TLS_PART ((size_t)1 << 20)
/* The most plaintext one TLS flush has encrypted in this process so far (for tests). Any thread. */
size_t vmux__conn_tls_largest_part(void);
/*
 * TLS: sends what OpenSSL left for the server when the handshake failed (the alert that says why,
 * "unknown ca", "bad certificate": the server's log reads "unexpected eof" without it), if the
 * socket takes it at once. The caller fails the connection next.
 */
void vmux__conn_send_alert(struct vmux_conn *c);

/* conn_read.c: one connection's reading. */
/* Starts reading a socket just connected (conn.c), then the TLS handshake or session setup. */
void vmux__conn_start_reading(struct vmux_conn *c);
/*
 * Reads and dispatches what the socket holds now, before a failed write fails the connection: a
 * server that refuses a command mid-way answers, then closes, and its answer says more than the
 * broken write (conn_read.c). The caller fails the connection next, unless this did: the lane is
 * left shut.
 */
void vmux__conn_read_last(struct vmux_conn *c);
/*
 * Whether the server already hung up c's socket (closed or reset it), asked of the socket without
 * waiting: a poll() for POLLRDHUP with no timeout (POLLHUP and POLLERR count too). One system
 * call, about 0.6 us. The I/O thread, or a caller holding the direct lane.
 */
bool vmux__conn_peer_gone(const struct vmux_conn *c);
/* Dispatches the replies the reader holds (the flush turn, for what a lane reader left). */
void vmux__conn_parse(struct vmux_conn *c);
/*
 * The reader's next reply (vmux__reader_next(): 1 with *out, 0 for more bytes, or a failure),
 * read under the limits of the command it answers, the op at the FIFO's head: the library's
 * own (VMUX_OP_OWN) under the default limits, so that a user's low maxBulkLength cannot stop
 * setup or the cluster map; the user's commands and a subscriber's pushes under the user's.
 * The I/O thread, or the caller that holds the lane (lane.c).
 */
int vmux__conn_next_reply(struct vmux_conn *c, vmux_reply **out);
/*
 * The direct lane gives reading back (lane.c): reading restarts, and what a reader left in the
 * reader is parsed on this loop turn. I/O thread, with the lane shut.
 */
void vmux__conn_reads_back(struct vmux_conn *c);
/* Stops reading so that a caller holding the lane may read; false when it cannot be watched. */
bool vmux__conn_lend_reads(struct vmux_conn *c);

/*
 * setup.c: the connection's own commands. vmux__setup_start() queues the session setup
 * (AUTH, SELECT, CLIENT SETNAME/SETINFO, ROLE when there are several endpoints), and when it
 * queues none (setlib=false and nothing else to set) makes the link ready there and then;
 * vmux__setup_reply() takes the reply to any internal op. vmux__setup_ping() queues an idle
 * heartbeat, vmux__setup_check_ping() the PING that proves the connection after a freeze
 * (vmux__setup_check_heads(): whether it heads the FIFO, nothing written before it still owed),
 * and vmux__setup_tick() what is due once a tick besides (an AUTH renewal, INFO replication). A
 * connection failed out of memory queues nothing. I/O thread.
 */
void vmux__setup_start(struct vmux_conn *c);
void vmux__setup_reply(struct vmux_conn *c, struct vmux_op *op, vmux_reply *reply);
void vmux__setup_ping(struct vmux_conn *c);
void vmux__setup_check_ping(struct vmux_conn *c);
bool vmux__setup_check_heads(const struct vmux_conn *c);
void vmux__setup_tick(struct vmux_conn *c, uint64_t now_ms);
/*
 * liveness.c: vmux__conn_tick() (once a second, on a set-up connection) sends heartbeats and
 * judges whether the connection is dead; vmux__conn_check() makes it prove itself with a PING
 * before commands flow again (after the process was frozen). I/O thread.
 */
void vmux__conn_tick(struct vmux_conn *c, uint64_t now_ms);
void vmux__conn_check(struct vmux_conn *c, uint64_t now_ms);
/*
 * Queues CLIENT TRACKING ON REDIRECT id OPTIN on c (a tracking link's re-point, outside setup).
 * Returns false when the connection failed (out of memory).
 */
bool vmux__setup_track(struct vmux_conn *c, long long id);
/*
 * Queues READONLY (on) or READWRITE on c, outside setup: the link's node changed role
 * (vmux__link_set_readonly()). Returns false when the connection failed (out of memory).
 */
bool vmux__setup_readonly(struct vmux_conn *c, bool on);
/*
 * Wipes what may still hold the credentials or a server's echo of them once they are no longer
 * needed (setup over, or the connection freed): the provider's credentials kept for redaction,
 * and, after AUTH was sent, the read buffers and the reader's consumed bytes.
 */
void vmux__setup_wipe(struct vmux_conn *c);

/*
 * repl.c: a server's replication state. vmux__repl_reset() forgets it (a new connection: the
 * server behind the link may have changed); vmux__repl_take() keeps an INFO replication answer
 * read at loop time now_ms. I/O thread.
 */
void vmux__repl_reset(struct vmux_repl *rp);
void vmux__repl_take(struct vmux_link *link, const vmux_reply *info, uint64_t now_ms);

/*
 * lone.c: a standalone link whose only endpoint, a fixed address, is a replica. I/O thread.
 * vmux__lone_probes(): whether a connection of link to ep asks ROLE at setup to find out: after a
 * READONLY retired a connection (link->demoted), one endpoint, an IP literal, no Sentinel, no
 * cluster. vmux__lone_role(): that ROLE's first word (NULL: no answer) sets c->lone_replica.
 * vmux__lone_fail(): completes op, refused READONLY (reply) on c, VMUX_ERR_SERVER with the
 * server's words and why it is not sent again ("... is a replica and the handle's only endpoint
 * ...; not executed") for a caller that takes words, reply as it came otherwise.
 * vmux__lone_fail_held(): on a lone replica's new connection (link->conn), fails so the ops in
 * the backlog held for a primary (their refusal READONLY); the others stay, in order.
 */
bool vmux__lone_probes(const struct vmux_link *link, const struct vmux_endpoint *ep);
void vmux__lone_role(struct vmux_conn *c, const char *role);
void vmux__lone_fail(struct vmux_conn *c, struct vmux_op *op, vmux_reply *reply);
void vmux__lone_fail_held(struct vmux_link *link);

/*
 * link.c, for its other files (link_retry.c). vmux__link_live(): whether the link's connection
 * finished its setup (LINK_READY, or LINK_CHECKING). vmux__link_retire_conn(): takes no new
 * command on c, the link's connection: it ends once the ops it owes are answered (why, static,
 * says why in its failure's reason), and the link connects again, at once to the same endpoint
 * when at_once. vmux__link_random(): the link's next pseudo-random number (xorshift64*: for
 * jitter, not secrets). I/O thread.
 */
bool vmux__link_live(const struct vmux_link *link);
void vmux__link_retire_conn(struct vmux_link *link, struct vmux_conn *c, const char *why,
                            bool at_once);
uint64_t vmux__link_random(struct vmux_link *link);

/* link.c: what a connection reports to its link. */
void vmux__link_conn_ready(struct vmux_link *link);
/* A ready link's connection must prove itself after a freeze: commands wait (LINK_CHECKING).
 * Never a link with a push callback: vmux__conn_check() sends its heartbeat PING instead. */
void vmux__link_checking(struct vmux_link *link);
/*
 * Looks at a user op's error reply: READONLY (on any link but a subscriber's, whatever its number
 * of endpoints) retires the connection and starts the search for the new primary; MOVED, ASK and
 * CLUSTERDOWN go to the owner's redirect event first (a CLUSTERDOWN it does not take is retried
 * below); READONLY on a retry-safe op sends it to the new primary; the server's "not now"
 * (vmux__errclass_busy(): LOADING, MASTERDOWN, TRYAGAIN, CLUSTERDOWN, a failover's UNBLOCKED; the
 * command did not run) sends any op again after a jittered delay that doubles from 10 ms to
 * 500 ms while they last, but for an UNBLOCKED that ended a blocking read from "$"
 * (VMUX_OP_FROM_NOW), which fails with words (vmux__op_finish_from_now()). A script's or
 * function's own error of those classes (core/script_err.h: not in the server's words, or a
 * redirect for another slot) is none of these: false, the op completes with it. Any reply to a
 * retry-safe op of one reply on a connection a READONLY retired, behind a write held for the new
 * primary, is dropped and the op held behind it (the first such retirement in a row). Returns true
 * when it took the op and the reply (kept as the op's refusal, handed to the redirect event, or
 * the op completed); false when the caller completes the op with the reply as usual.
 */
bool vmux__link_reply_rejected(struct vmux_link *link, struct vmux_op *op, vmux_reply *reply);
void vmux__link_conn_failed(struct vmux_link *link, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * Sentinel (sentinel.c). vmux__link_connect_to(): the answer for a link that is connecting
 * without a connection: it connects to ep (which must outlive the connection).
 * vmux__link_primary_moved(): the primary is now ep (NULL: is being replaced): a connection
 * elsewhere retires at once (no new command; it closes once what it has written is answered,
 * and the link connects again at once, to where the sentinel client says), an attempt elsewhere
 * is abandoned, and a link waiting to reconnect tries now; why (static) says why in the log.
 * vmux__link_rotate(): the link's connection, if any, is dropped and the next attempt goes to the
 * next endpoint, at once (its written ops follow the connection-loss rules); why (static) names the
 * cause.
 */
void vmux__link_connect_to(struct vmux_link *link, const struct vmux_endpoint *ep);
void vmux__link_primary_moved(struct vmux_link *link, const struct vmux_endpoint *ep,
                              const char *why);
void vmux__link_rotate(struct vmux_link *link, const char *why);

#endif
