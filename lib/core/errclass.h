/*
 * The server's error replies the library acts on, told apart by their first bytes in one place.
 *
 * Each class is a fixed prefix of the error's text, matched byte for byte (case and all) and
 * nothing more: "CLUSTERDOWNX" is CLUSTERDOWN and "LOADINGX" is LOADING, as every site that
 * looked for them by hand took them; MOVED, ASK and DENIED need the space after the word, so
 * "ASKING" is no ASK and a bare "MOVED" is no MOVED. The prefixes are such that no error has two
 * classes. Reading a redirect's slot and endpoint is route/redirect.c's, which takes the first
 * word whole ("MOVED" then a space or the end).
 *
 * Pure functions: any thread.
 */
#ifndef VMUX_CORE_ERRCLASS_H
#define VMUX_CORE_ERRCLASS_H

#include <stdbool.h>
#include <stddef.h>

#include "vmux/reply.h"

enum vmux_errclass {
    VMUX_ERRCLASS_OTHER = 0,   /* none of these (NULL and empty included) */
    VMUX_ERRCLASS_MOVED,       /* "MOVED ": the slot has moved for good (route/redirect.h) */
    VMUX_ERRCLASS_ASK,         /* "ASK ": the slot is migrating; ask the other node once */
    VMUX_ERRCLASS_CLUSTERDOWN, /* "CLUSTERDOWN": a slot without a primary, or the cluster down */
    VMUX_ERRCLASS_TRYAGAIN,    /* "TRYAGAIN": a multi-key command during a slot's migration */
    VMUX_ERRCLASS_LOADING,     /* "LOADING": the server is loading its data */
    VMUX_ERRCLASS_MASTERDOWN,  /* "MASTERDOWN": a replica lost its primary */
    /* "UNBLOCKED force unblock from blocking operation, instance state": a blocking command
     * unblocked as its server stopped being a primary (not CLIENT UNBLOCK ... ERROR's) */
    VMUX_ERRCLASS_UNBLOCKED_FAILOVER,
    VMUX_ERRCLASS_READONLY,   /* "READONLY": a write to a replica (the node was demoted) */
    VMUX_ERRCLASS_NOSCRIPT,   /* "NOSCRIPT": EVALSHA of a script the server does not have */
    VMUX_ERRCLASS_NOAUTH,     /* "NOAUTH": the connection is not authenticated */
    VMUX_ERRCLASS_WRONGPASS,  /* "WRONGPASS": the user or password is not accepted */
    VMUX_ERRCLASS_NOPERM,     /* "NOPERM": an ACL refused the command or key */
    VMUX_ERRCLASS_WRONGTYPE,  /* "WRONGTYPE": the key holds another type */
    VMUX_ERRCLASS_DENIED,     /* "DENIED ": protected mode turned the connection away */
    VMUX_ERRCLASS_MAXCLIENTS, /* "ERR max number of clients reached": maxclients did */
    VMUX_ERRCLASS_COUNT
};

/*
 * The class of the error text msg, len bytes (need not end in a NUL; NULL or len 0: OTHER). On
 * the I/O thread's reply path, for error replies: a memcmp only against the words that begin
 * with msg's first byte (three at most).
 */
enum vmux_errclass vmux__errclass(const char *msg, size_t len);

/* vmux__errclass() of r's text (NULL, or not a string, error or status: OTHER). */
enum vmux_errclass vmux__errclass_of(const vmux_reply *r);

/*
 * Whether an error of class c is the server's "not now": the command did not run and may soon
 * (LOADING, MASTERDOWN, TRYAGAIN, CLUSTERDOWN, UNBLOCKED_FAILOVER). The link retries these, a
 * lock's acquire_wait too.
 */
bool vmux__errclass_busy(enum vmux_errclass c);

/* Whether an error of class c refuses the credentials or the user's rights: NOAUTH, WRONGPASS,
 * NOPERM. */
bool vmux__errclass_auth(enum vmux_errclass c);

#endif
