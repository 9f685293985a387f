/*
 * Redirects: a cluster node answers a command for a slot it does not serve with an error reply
 * "MOVED <slot> <endpoint>" (the slot has moved for good: update the map) or "ASK <slot>
 * <endpoint>" (this one command, during a migration: send ASKING and the command there). The
 * endpoint is "host:port", split at the LAST colon so that an IPv6 address (which the server
 * writes without brackets, "::1:6380") stays whole; "[::1]:6380" is read too. Its host may be
 * empty, meaning the host the client asked (the server does not know its own address), or "?",
 * meaning unknown (never dialled as such: the router takes the one node of its map at that port,
 * else refreshes the map). Port 0 ("host:0", ":0": a node without an address) is unknown too:
 * read as "?" at port 0, which no node of a map has.
 *
 * Pure functions, no allocation: any thread.
 */
#ifndef VMUX_ROUTE_REDIRECT_H
#define VMUX_ROUTE_REDIRECT_H

#include <stdbool.h>
#include <stddef.h>

enum vmux_redirect_kind {
    VMUX_REDIRECT_MOVED = 1,
    VMUX_REDIRECT_ASK,
};

struct vmux_redirect {
    enum vmux_redirect_kind kind;
    unsigned slot; /* 0 .. VMUX_SLOTS - 1 */
    /* The endpoint's host: a view into the parsed text, without brackets; hostlen 0 when empty. */
    const char *host;
    size_t hostlen;
    int port;     /* 1 .. 65535; 0 when unknown for a port 0 */
    bool asked;   /* the host was empty: use the host this command was sent to */
    bool unknown; /* the host was "?", or the port 0: no address to dial */
};

/*
 * Splits "host:port" (len bytes at s) at its last colon into *host / *hostlen (a view into s,
 * brackets around an IPv6 address removed) and *port (1 .. 65535). Returns 0, or
 * VMUX_ERR_PROTOCOL when there is no colon, the port is not a number in range, or a bracket is
 * unbalanced. The host may be empty.
 */
int vmux__endpoint_split(const char *s, size_t len, const char **host, size_t *hostlen, int *port);

/*
 * Reads an error reply's text (len bytes at msg, without the leading '-'). Returns 1 with *out
 * filled when it is a redirect; 0 when it is another error (its first word is not MOVED or ASK;
 * "MOV" cut short is another error too); VMUX_ERR_PROTOCOL when its first word is MOVED or ASK
 * but the rest is not exactly " <slot> <host:port>" with a slot in 0 .. 16383. *out is written
 * only when 1 is returned.
 */
int vmux__redirect_parse(const char *msg, size_t len, struct vmux_redirect *out);

#endif
