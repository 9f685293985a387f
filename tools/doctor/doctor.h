/*
 * vmux-doctor: checks a configuration step by step (name resolution, TCP, TLS, AUTH, server,
 * role, cluster, zone, latency) and says in words what works and what does not (docs/doctor.md).
 *
 * The tool is single-threaded: every function here runs on the main thread. It uses the
 * library's public API for everything a session can do (vmux_open, vmux_call), and plain
 * sockets and OpenSSL for the steps that must see below a session (resolve, tcp, tls).
 */
#ifndef VMUX_DOCTOR_H
#define VMUX_DOCTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/socket.h>

#include <vmux/vmux.h>

#include "report.h"

/* What the user asked for, and the report being written. */
typedef struct doc_ctx {
    vmux_config *cfg; /* the parsed configuration (owned) */
    bool json;        /* --json: one JSON document at the end, no text */
    int pings;        /* --pings: how many PINGs the latency step sends */
    doc_report report;
} doc_ctx;

/* One resolved address of an endpoint. */
typedef struct doc_addr {
    struct sockaddr_storage sa;
    socklen_t len;
    char text[64]; /* numeric form, for messages */
} doc_addr;

#define DOC_MAX_ADDRS 8

/*
 * What a server that answers says of its readiness, from the first refusal a step met
 * (state.c): ready (nothing refused so far), or busy running a script (BUSY), loading its
 * dataset (LOADING), or a replica cut off from its primary (MASTERDOWN).
 */
typedef enum doc_state {
    DOC_STATE_READY = 0,
    DOC_STATE_BUSY,
    DOC_STATE_LOADING,
    DOC_STATE_MASTERDOWN,
} doc_state;

/* One endpoint being examined, and what the network steps learnt about it. */
typedef struct doc_endpoint {
    const char *host; /* points into the config */
    int port;
    char label[300]; /* "host:port" */
    doc_addr addrs[DOC_MAX_ADDRS];
    int naddrs;
    int usable;      /* index of the first address that accepted a connection, -1 if none */
    bool sentinel;   /* the endpoint is a sentinel (serviceName) */
    bool tls;        /* the steps speak TLS to it */
    bool net_ok;     /* resolve, tcp and tls found a path a session can use */
    bool is_replica; /* set by the role step */
    bool is_cluster; /* set by the cluster step */
    doc_state state; /* set by the first step that met a BUSY, LOADING or MASTERDOWN reply */
} doc_endpoint;

/* resolve.c: the resolve step. Fills ep->addrs; returns true when at least one was found. */
bool doc_resolve(doc_ctx *ctx, doc_endpoint *ep);

/* tcp.c: the tcp step, every address in turn. Sets ep->usable; true when one connected. */
bool doc_tcp(doc_ctx *ctx, doc_endpoint *ep);

/*
 * tcp.c: connects a new blocking socket to addr within timeout_ms and gives it send and
 * receive timeouts of timeout_ms. Returns the descriptor (the caller closes it), or -1 with
 * errno set (ETIMEDOUT when the deadline passed). *elapsed_us receives the connect time.
 */
int doc_tcp_connect(const doc_addr *addr, int timeout_ms, long *elapsed_us);

/* tls.c: the tls step with TLS on: handshake, certificate, verification. True when usable. */
bool doc_tls(doc_ctx *ctx, doc_endpoint *ep);

/* tls.c: whether the server at addr completes a TLS handshake (any certificate). */
bool doc_tls_answers(const doc_addr *addr, int timeout_ms);

/* plain.c: the tls step with TLS off: is the port speaking plain RESP, or TLS? */
bool doc_plain(doc_ctx *ctx, doc_endpoint *ep);

/* plain.c: whether the server at addr answers a plain-text PING with a RESP reply. */
bool doc_plain_answers(const doc_addr *addr, int timeout_ms);

/*
 * session.c: opens a handle on this one endpoint (cluster=no, one attempt) and runs the auth
 * step; on success runs the session steps (server, role, cluster, zone, latency) and closes it.
 */
void doc_session(doc_ctx *ctx, doc_endpoint *ep);

/* session.c: the open step: vmux_open() with the whole configuration as given. */
void doc_open_whole(doc_ctx *ctx, bool earlier_failed);

/* server.c: the server, role and zone steps on an open handle; label names the target. */
void doc_server(doc_ctx *ctx, vmux *m, doc_endpoint *ep);
void doc_role(doc_ctx *ctx, vmux *m, doc_endpoint *ep);
void doc_zone(doc_ctx *ctx, vmux *m, doc_endpoint *ep);

/* cluster.c: the cluster step (and the nodes step on a cluster). */
void doc_cluster(doc_ctx *ctx, vmux *m, doc_endpoint *ep);

/* latency.c: the latency step: ctx->pings PINGs, p50/p99/max. */
void doc_latency(doc_ctx *ctx, vmux *m, doc_endpoint *ep);

/* state.c: the state an error text (a reply, or a message quoting one) names; READY for none. */
doc_state doc_state_of(const char *err);

/*
 * state.c: when err names a state (doc_state_of), reports it on step s and returns true: the
 * first time for this endpoint as a failure that says what the server is doing, with a hint
 * (after the detail s already has, if any), recording it in ep->state; after that as skipped,
 * "not checked", its hint cleared (it would blame something else). False, with s untouched,
 * when err names none.
 */
bool doc_state_step(doc_step *s, doc_endpoint *ep, const char *err);

/* state.c: "the server is busy: not checked" and the like, for steps that cannot run. */
const char *doc_state_unseen(doc_state st);

/* state.c: sets s's hint to what to do about the state st. */
void doc_state_hint(doc_step *s, doc_state st);

/*
 * The hint for a server that accepted the connection but answered nothing at all within
 * connectTimeout (plain.c; the tls step with TLS on or off).
 */
void doc_silent_hint(doc_step *s);

/*
 * info.c: sends a command of NUL-terminated words; returns its reply (the caller frees it
 * with vmux_reply_free()), or NULL with the reason in errbuf.
 */
vmux_reply *doc_call(vmux *m, char *errbuf, size_t errlen, int argc, const char *const *argv);

/* info.c: copies the value of "field:" in an INFO text into out; false when it is absent. */
bool doc_info_field(const char *info, const char *field, char *out, size_t outlen);

/* info.c: INFO <section> as text into a malloc'ed string (caller frees), or NULL + errbuf. */
char *doc_info(vmux *m, const char *section, char *errbuf, size_t errlen);

/* resolve.c: "host:port", with brackets around an IPv6 literal. */
void doc_hostport(char *out, size_t len, const char *host, int port);

#endif
