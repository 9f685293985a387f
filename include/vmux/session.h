/** @file
 * Sessions: server-side state for a user of a web application, kept in one Valkey hash per
 * session under a random, unguessable id, with sliding expiration: a session that nobody
 * reads or writes for the store's idle TTL disappears, and every read or write renews that
 * TTL in the same atomic step (one script) as the read or write itself. An optional absolute
 * lifetime ends a session a fixed time after its creation however busy it is.
 *
 * Layout: the session with id I lives at the key `<prefix>I` as a hash. Besides the caller's
 * fields it holds one reserved field, the empty field name "", whose value is the session's
 * creation time (milliseconds since the Unix epoch, the server's clock); so a session with no
 * fields of its own still exists, and a missing session can be told from a missing field.
 * The empty field name is therefore refused (VMUX_ERR_INVALID_ARG) and never returned.
 *
 * Ids are 2 * id_bytes lowercase hexadecimal digits from OpenSSL's RAND_bytes (a CSPRNG;
 * 16 bytes, 128 bits, by default). An id that this store could not have made (the wrong
 * length, or anything but lowercase hex digits) is reported as not found without a round
 * trip, so ids may come straight from a cookie; a NULL id is VMUX_ERR_INVALID_ARG.
 *
 * Threads: a store is immutable once made; any thread but the I/O thread may use it at any
 * time, concurrently. Free it once no call uses it, before the handle is closed or after.
 *
 * Every function taking a vmux_callopts (NULL for the defaults) is synchronous and returns 0,
 * VMUX_ERR_INVALID_ARG (bad input; nothing sent; opts->errbuf names it, as the typed commands do:
 * "invalid argument: fields[0] is empty: the field \"\" is the session's own"), VMUX_ERR_SERVER
 * (the server refused: for instance WRONGTYPE when the key holds something other than a hash; the
 * message goes to opts->errbuf when given), or a transport error as vmux_call() (call.h;
 * VMUX_ERR_FORKED in a child of fork(), on a store made in the parent: a store keeps no lock of its
 * own, so none is waited for). Out-parameters are filled only on success and zeroed otherwise; a
 * NULL out-parameter drops that result. Fields and values are binary-safe. Every operation but
 * create is idempotent and is sent with VMUX_CALL_RETRY_SAFE (renewing a TTL twice leaves the same
 * state); create is never sent twice.
 */
#ifndef VMUX_SESSION_H
#define VMUX_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmux/call.h"
#include "vmux/client.h"
#include "vmux/export.h"
#include "vmux/hashes.h"
#include "vmux/types.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A session store (opaque): vmux_session_store_new(), vmux_session_store_free(). */
typedef struct vmux_session_store vmux_session_store;

/** @{ */
/** The largest id_bytes, and the size of a buffer that holds any id with its NUL. */
#define VMUX_SESSION_ID_BYTES_MAX 64
#define VMUX_SESSION_ID_MAX (2 * VMUX_SESSION_ID_BYTES_MAX + 1)
/** @} */

/**
 * Options of a store. Make them with VMUX_INIT(vmux_session_opts, ...) (abi.h) and name what you
 * need; 0 or NULL takes the default.
 */
typedef struct vmux_session_opts {
    /** Sized struct (abi.h). */
    size_t size;
    /** Key prefix (copied), "session:" by default. "" puts ids at the top of the key space. */
    const char *prefix;
    /** Idle TTL in milliseconds: a session not read or written for this long expires.
     * Default 1,800,000 (30 minutes); at most VMUX_TTL_MAX_MS (2^53, types.h). */
    int64_t idle_ttl_ms;
    /** Absolute lifetime in milliseconds from creation (server time), however busy the session
     * is; 0 (the default) for none; at most VMUX_TTL_MAX_MS. When set, each renewal sets the TTL
     * to the smaller of the idle TTL and the lifetime left. */
    int64_t max_lifetime_ms;
    /** Random bytes in an id, 16 (the default) to VMUX_SESSION_ID_BYTES_MAX. */
    size_t id_bytes;
} vmux_session_opts;

/**
 * Makes a store of sessions on handle m (borrowed: it must outlive the store) with opts (NULL
 * for the defaults; copied). On success *out owns the store; free it with
 * vmux_session_store_free(). Sends nothing. Errors: VMUX_ERR_INVALID_ARG (NULL m or out, opts
 * not made with VMUX_INIT, a TTL negative or above VMUX_TTL_MAX_MS, id_bytes from 1 to 15 or
 * above the maximum), VMUX_ERR_NOMEM, VMUX_ERR_FORKED (m was opened in a parent process). In
 * words (the argument or field named, with its rule: "invalid argument: idle_ttl_ms -1 out of range
 * 0 .. 2^53 (VMUX_TTL_MAX_MS)"): vmux_last_error() (error.h).
 */
VMUX_EXPORT int vmux_session_store_new(vmux *m, const vmux_session_opts *opts,
                                       vmux_session_store **out);

/** Frees a store (the sessions stay on the server). NULL is allowed. */
VMUX_EXPORT void vmux_session_store_free(vmux_session_store *s);

/**
 * Creates a session holding the n fields fields[i] = values[i] (n may be 0; a field given twice
 * keeps its last value) and writes its id, NUL-terminated, to id, which must hold
 * VMUX_SESSION_ID_MAX bytes (or at least 2 * id_bytes + 1). The session expires after the idle
 * TTL unless used. Should a fresh id already be taken (a 2^-128 chance), another is drawn.
 * Errors as above, and VMUX_ERR_IO when the random generator fails. After
 * VMUX_ERR_CONNECTION_LOST the session may or may not exist (its id is not returned); if it
 * does, nobody knows its id and it expires when idle.
 */
VMUX_EXPORT int vmux_session_create(vmux_session_store *s, const vmux_callopts *opts,
                                    const vmux_str *fields, const vmux_str *values, size_t n,
                                    char *id);

/**
 * Reads one field and renews the session's TTL, atomically. *found is false when there is no
 * such session (then nothing changed). *value gets the field's bytes, or ptr NULL when the
 * session exists without that field; free it with vmux_bytes_free().
 */
VMUX_EXPORT int vmux_session_get(vmux_session_store *s, const vmux_callopts *opts, const char *id,
                                 vmux_str field, vmux_bytes *value, bool *found);

/**
 * Reads every field of the session (the reserved one left out) and renews its TTL, atomically.
 * *found as vmux_session_get(); *fields (free with vmux_field_array_free()) is empty when the
 * session is missing or has no fields of its own.
 */
VMUX_EXPORT int vmux_session_get_all(vmux_session_store *s, const vmux_callopts *opts,
                                     const char *id, vmux_field_array *fields, bool *found);

/**
 * Writes the n fields (n >= 1) fields[i] = values[i] and renews the TTL, atomically. A missing
 * (expired or destroyed) session is not brought back: *found is false and nothing is written.
 */
VMUX_EXPORT int vmux_session_set(vmux_session_store *s, const vmux_callopts *opts, const char *id,
                                 const vmux_str *fields, const vmux_str *values, size_t n,
                                 bool *found);

/**
 * Deletes the n fields (n >= 1) and renews the TTL, atomically; *deleted is how many existed.
 * The session stays (with its reserved field) when its last field of its own goes.
 */
VMUX_EXPORT int vmux_session_del(vmux_session_store *s, const vmux_callopts *opts, const char *id,
                                 const vmux_str *fields, size_t n, int64_t *deleted, bool *found);

/**
 * Renews the session's TTL without reading or writing a field; *found as vmux_session_get().
 * *ttl_ms gets the TTL now set (the idle TTL, or less near the end of the absolute lifetime).
 */
VMUX_EXPORT int vmux_session_touch(vmux_session_store *s, const vmux_callopts *opts, const char *id,
                                   bool *found, int64_t *ttl_ms);

/** Deletes the session (logging out); *existed says whether it was there. */
VMUX_EXPORT int vmux_session_destroy(vmux_session_store *s, const vmux_callopts *opts,
                                     const char *id, bool *existed);

/**
 * Writes the key of session id (prefix + id, NUL-terminated) to key, of keylen bytes, for
 * inspecting it with other commands; returns the key's length, or VMUX_ERR_INVALID_ARG when id
 * is not an id of this store or the key does not fit, its words in vmux_last_error() (error.h:
 * "invalid argument: keylen is 5: the key needs 40 bytes with its NUL"); a success leaves "".
 */
VMUX_EXPORT int vmux_session_key(const vmux_session_store *s, const char *id, char *key,
                                 size_t keylen);

#ifdef __cplusplus
}
#endif

#endif
