/** @file
 * Key commands, typed: DEL, UNLINK, EXISTS, TOUCH, EXPIRE/PEXPIRE/EXPIREAT/PEXPIREAT (with NX, XX,
 * GT, LT), TTL/PTTL, EXPIRETIME/PEXPIRETIME, PERSIST, TYPE, RENAME, RENAMENX, COPY (DB, REPLACE),
 * OBJECT ENCODING/IDLETIME/FREQ, KEYS, RANDOMKEY, SORT_RO and SORT ... STORE (BY, LIMIT, GET,
 * DESC, ALPHA), DUMP, RESTORE (REPLACE, ABSTTL, IDLETIME, FREQ). The SCAN iterator is in scan.h.
 *
 * Every function here is synchronous unless named *_async, may be called from any thread but
 * the I/O thread, and returns 0, VMUX_ERR_SERVER (the server refused; the message goes to
 * opts->errbuf when given), VMUX_ERR_INVALID_ARG (bad input, nothing sent; opts->errbuf, when
 * given, says which argument broke which rule: "invalid argument: n is 0: the command takes at
 * least one of keys"), or a transport error as vmux_call() (call.h). opts may be NULL.
 * Out-parameters are filled only on success (zeroed otherwise); a NULL out-parameter drops that
 * result. Keys are binary-safe (types.h).
 *
 * Retry-safety (call.h, VMUX_CALL_RETRY_SAFE), for the functions of this header (the same
 * command sent through vmux_call(), vmux_call_async() or a batch is resent only with the flag):
 * EXISTS, TOUCH, TTL, PTTL, EXPIRETIME,
 * PEXPIRETIME, TYPE, OBJECT, KEYS, RANDOMKEY, SORT_RO and DUMP are reads; DEL, UNLINK, PERSIST,
 * COPY ... REPLACE, RESTORE ... REPLACE, SORT ... STORE into a key the sort does not read and the
 * EXPIRE family without a condition leave the same state when repeated, so they are marked
 * retry-safe too (after a resend, the count or flag they report may describe the second run: a
 * key deleted by the first counts 0). The EXPIRE family with a condition (its result is whether
 * the condition held), RENAME (a second run fails: the source is gone), RENAMENX and COPY without
 * REPLACE (a second run finds the copy the first one made, and answers that it copied nothing),
 * RESTORE without REPLACE (a second run finds the first one's key: BUSYKEY) and SORT ... STORE
 * into a key it reads (a second run sorts the first one's result) are never sent twice.
 *
 * Multi-key commands on a cluster: DEL, UNLINK, EXISTS and TOUCH (and the async forms of DEL and
 * EXISTS) take keys in any slots. Keys in several slots are split: one command per slot,
 * submitted together (one write per node), and the count is the sum of the parts', which is what
 * one command would count (a repeated key is in one slot: EXISTS and TOUCH count it twice, DEL
 * and UNLINK once). Not atomic across slots. Any part that fails (timeout, connection lost,
 * server error) fails the call with its error, the first in key order, and no count is given,
 * although the OTHER PARTS MAY HAVE RUN (keys deleted, access times touched); opts->errbuf then
 * gets the server's message (a refusal's "...; not executed" being that part's), or the error's
 * description, then the part's slot and what became of the others ("the others may have run"). An
 * async form's callback runs once, after every part, and finds those words in vmux_last_error().
 * Keys in one slot, and a standalone server, get one command as always (docs/cluster.md, "Multi-key
 * commands").
 */
#ifndef VMUX_KEYS_H
#define VMUX_KEYS_H

#include <stdbool.h>
#include <stdint.h>

#include "vmux/call.h"
#include "vmux/export.h"
#include "vmux/types.h"

#ifdef __cplusplus
extern "C" {
#endif

/** DEL: deletes the n keys (n >= 1); *deleted is how many existed. */
VMUX_EXPORT int vmux_del(vmux *m, const vmux_callopts *opts, const vmux_str *keys, size_t n,
                         int64_t *deleted);
/** DEL, asynchronously: cb gets the count as an integer (vmux_reply_to_int() reads it); on a
 * cluster, once every part is back: the sum, or the first failed part's status (and its error
 * reply for VMUX_ERR_SERVER), with vmux_last_error() giving the words vmux_del() would put in
 * its error buffer (that part's slot, and what became of it). */
VMUX_EXPORT int vmux_del_async(vmux *m, const vmux_callopts *opts, const vmux_str *keys, size_t n,
                               vmux_reply_cb cb, void *userdata);
/** UNLINK: as DEL, but the server frees the values in the background. */
VMUX_EXPORT int vmux_unlink(vmux *m, const vmux_callopts *opts, const vmux_str *keys, size_t n,
                            int64_t *unlinked);

/** EXISTS: *count is how many of the n keys exist (a key named twice counts twice). n >= 1. */
VMUX_EXPORT int vmux_exists(vmux *m, const vmux_callopts *opts, const vmux_str *keys, size_t n,
                            int64_t *count);
/** EXISTS, asynchronously: cb gets the count as an integer (on a cluster, as vmux_del_async()). */
VMUX_EXPORT int vmux_exists_async(vmux *m, const vmux_callopts *opts, const vmux_str *keys,
                                  size_t n, vmux_reply_cb cb, void *userdata);

/** TOUCH: updates the keys' last access time; *touched is how many of the n keys exist (a key
 * named twice counts twice). n >= 1. */
VMUX_EXPORT int vmux_touch(vmux *m, const vmux_callopts *opts, const vmux_str *keys, size_t n,
                           int64_t *touched);

/**
 * EXPIRE: sets the key's TTL to `seconds` when cond holds. The EXPIRE family takes every
 * vmux_cond (types.h): VMUX_COND_NX only when the key has no TTL, VMUX_COND_XX only when it has
 * one, VMUX_COND_GT only when the new expiry is later, VMUX_COND_LT only when it is sooner (no
 * TTL counts as infinite), and VMUX_COND_XX_GT, VMUX_COND_XX_LT both. *was_set is false when
 * the key does not exist or cond did not hold. A TTL <= 0 deletes the key (and *was_set is
 * true). VMUX_ERR_INVALID_ARG for a cond outside vmux_cond.
 */
VMUX_EXPORT int vmux_expire(vmux *m, const vmux_callopts *opts, vmux_str key, int64_t seconds,
                            vmux_cond cond, bool *was_set);
/** PEXPIRE: as vmux_expire(), in milliseconds. */
VMUX_EXPORT int vmux_pexpire(vmux *m, const vmux_callopts *opts, vmux_str key, int64_t ms,
                             vmux_cond cond, bool *was_set);
/** PEXPIRE, asynchronously: cb gets 1 or 0 (vmux_reply_to_bool() reads it). */
VMUX_EXPORT int vmux_pexpire_async(vmux *m, const vmux_callopts *opts, vmux_str key, int64_t ms,
                                   vmux_cond cond, vmux_reply_cb cb, void *userdata);
/** EXPIREAT: as vmux_expire(), at a Unix time in seconds (a time in the past deletes the key). */
VMUX_EXPORT int vmux_expireat(vmux *m, const vmux_callopts *opts, vmux_str key,
                              int64_t unix_seconds, vmux_cond cond, bool *was_set);
/** PEXPIREAT: as vmux_expireat(), at a Unix time in milliseconds. */
VMUX_EXPORT int vmux_pexpireat(vmux *m, const vmux_callopts *opts, vmux_str key, int64_t unix_ms,
                               vmux_cond cond, bool *was_set);

/** What TTL and PTTL report besides a remaining time. */
#define VMUX_TTL_NO_EXPIRY (-1) /**< the key exists and has no TTL */
#define VMUX_TTL_NO_KEY (-2)    /**< the key does not exist */

/** TTL: *ttl is the remaining time in seconds, VMUX_TTL_NO_EXPIRY or VMUX_TTL_NO_KEY. */
VMUX_EXPORT int vmux_ttl(vmux *m, const vmux_callopts *opts, vmux_str key, int64_t *ttl);
/** PTTL: as vmux_ttl(), in milliseconds. */
VMUX_EXPORT int vmux_pttl(vmux *m, const vmux_callopts *opts, vmux_str key, int64_t *ttl_ms);
/** PTTL, asynchronously: cb gets the integer (vmux_reply_to_int() reads it). */
VMUX_EXPORT int vmux_pttl_async(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_reply_cb cb,
                                void *userdata);

/**
 * EXPIRETIME: *unix_seconds is the Unix time at which the key expires (to the nearest second),
 * VMUX_TTL_NO_EXPIRY or VMUX_TTL_NO_KEY (as vmux_ttl() reports them). Valkey 7.0 and later.
 */
VMUX_EXPORT int vmux_expiretime(vmux *m, const vmux_callopts *opts, vmux_str key,
                                int64_t *unix_seconds);
/** PEXPIRETIME: as vmux_expiretime(), in milliseconds. */
VMUX_EXPORT int vmux_pexpiretime(vmux *m, const vmux_callopts *opts, vmux_str key,
                                 int64_t *unix_ms);

/** PERSIST: removes the key's TTL; *removed is false when it had none or does not exist. */
VMUX_EXPORT int vmux_persist(vmux *m, const vmux_callopts *opts, vmux_str key, bool *removed);

/** The type of the value at a key (TYPE). */
typedef enum vmux_key_type {
    VMUX_TYPE_NONE = 0, /**< no such key */
    VMUX_TYPE_STRING = 1,
    VMUX_TYPE_LIST = 2,
    VMUX_TYPE_SET = 3,
    VMUX_TYPE_ZSET = 4,
    VMUX_TYPE_HASH = 5,
    VMUX_TYPE_STREAM = 6,
    VMUX_TYPE_OTHER = 7, /**< a module's type: TYPE's text names it (vmux_call() reads it) */
} vmux_key_type;

/** TYPE: *type is the value's type, VMUX_TYPE_NONE for a missing key. */
VMUX_EXPORT int vmux_type(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_key_type *type);

/**
 * Returns the server's static name of a type ("none", "string", "list", "set", "zset", "hash",
 * "stream"; usable as vmux_scan_opts.type), or NULL for VMUX_TYPE_OTHER and unknown values.
 */
VMUX_EXPORT const char *vmux_key_type_name(vmux_key_type type);

/** RENAME key newkey (overwriting newkey). A missing key is VMUX_ERR_SERVER ("ERR no such key"). */
VMUX_EXPORT int vmux_rename(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_str newkey);
/** RENAMENX: *renamed is false when newkey existed (then nothing changed). */
VMUX_EXPORT int vmux_renamenx(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_str newkey,
                              bool *renamed);

/**
 * What COPY does beyond copying into the handle's database without overwriting; NULL means every
 * default.
 *
 * replace: overwrite dst when it exists (REPLACE); without it an existing dst is left as it is
 *          and nothing is copied.
 * to_db:   copy into database db instead of the handle's (DB db); db must be >= 0
 *          (VMUX_ERR_INVALID_ARG otherwise). A cluster has database 0 only.
 */
typedef struct vmux_copy_opts {
    size_t size; /**< sized struct: make it with VMUX_INIT(vmux_copy_opts, ...) (abi.h) */
    bool replace;
    bool to_db;
    int64_t db;
} vmux_copy_opts;

/**
 * COPY src dst [DB db] [REPLACE]: copies the value at src, its TTL with it, to dst. *copied is
 * false when src does not exist, or when dst exists and copy->replace is not set (then nothing
 * changed). src and dst the same key in the same database is the server's error
 * (VMUX_ERR_SERVER). On a cluster src and dst must share a slot (give them a common {hash tag}):
 * VMUX_ERR_CROSSSLOT otherwise, nothing sent. Retry-safe with replace only.
 */
VMUX_EXPORT int vmux_copy(vmux *m, const vmux_callopts *opts, vmux_str src, vmux_str dst,
                          const vmux_copy_opts *copy, bool *copied);

/**
 * OBJECT ENCODING key: *encoding is the server's word for how it stores the value ("embstr",
 * "int", "raw", "listpack", "quicklist", "hashtable", "intset", "skiplist"...), ptr NULL for a
 * missing key. The words change between server versions: read them, do not build on them.
 */
VMUX_EXPORT int vmux_object_encoding(vmux *m, const vmux_callopts *opts, vmux_str key,
                                     vmux_bytes *encoding);
/**
 * OBJECT IDLETIME key: *seconds since the key was last read or written, and *found true; 0 and
 * false for a missing key. The server tracks it only under an LRU or no eviction policy: with an
 * LFU maxmemory-policy it refuses (VMUX_ERR_SERVER). OBJECT itself does not count as a read.
 */
VMUX_EXPORT int vmux_object_idletime(vmux *m, const vmux_callopts *opts, vmux_str key,
                                     int64_t *seconds, bool *found);
/**
 * OBJECT FREQ key: *freq is the key's logarithmic access-frequency counter (0 to 255), and
 * *found true; 0 and false for a missing key, whatever the policy. The server keeps it only
 * under an LFU maxmemory-policy (allkeys-lfu, volatile-lfu): for an existing key under any other
 * it refuses (VMUX_ERR_SERVER, "An LFU maxmemory policy is not selected").
 */
VMUX_EXPORT int vmux_object_freq(vmux *m, const vmux_callopts *opts, vmux_str key, int64_t *freq,
                                 bool *found);

/**
 * KEYS pattern: every key of the handle's database whose name matches the glob pattern (NULL is
 * "*"), in *keys. It makes the server walk its whole keyspace at once: prefer the SCAN iterator
 * (scan.h) outside tests and tools. On a cluster it runs on every primary and *keys is their
 * lists joined (a key that moves between primaries meanwhile may be missing or appear twice); a
 * primary that failed fails the call, with "host:port: " and the reason in opts->errbuf.
 * Retry-safe (a read).
 */
VMUX_EXPORT int vmux_keys(vmux *m, const vmux_callopts *opts, const char *pattern,
                          vmux_bytes_array *keys);

/**
 * RANDOMKEY: a key of the handle's database picked by the server, in *key (owned: free it with
 * vmux_bytes_free()), and *found true; ptr NULL and false when the database is empty. Either
 * may be NULL. Retry-safe (a read: a resend may pick another key).
 *
 * On a cluster every primary holds a part of the keyspace, and one primary's RANDOMKEY answers
 * nil when that part is empty, however many keys the others hold. So RANDOMKEY goes to every
 * primary at once (as vmux_keys() does), and the key kept is one of the primaries' answers that
 * are not nil, picked at random: *found is false only when every primary is empty. The cost is
 * one RANDOMKEY per primary per call (sent together: one round trip, as slow as the slowest
 * primary), and a key is picked per primary, not per key: each non-empty primary is as likely
 * as another, so a key of a sparsely filled primary comes up more often than one of a crowded
 * primary. A primary that fails fails the call, with "host:port: " and the reason in
 * opts->errbuf. Replicas are not asked, whatever readFrom says (the generic API's RANDOMKEY, a
 * keyless command, goes to one node: the seed's, or the first primary whose link is ready).
 */
VMUX_EXPORT int vmux_randomkey(vmux *m, const vmux_callopts *opts, vmux_bytes *key, bool *found);

/**
 * How SORT orders and what it answers; NULL means every default: the elements themselves, as
 * numbers, lowest first, all of them.
 *
 * by:     BY pattern: sort by the values at the keys the pattern names, its first `*` replaced
 *         by each element (`weight_*`; `weight_*->field` reads a hash field). ptr NULL: none.
 *         A pattern without `*` names no key and leaves the elements unsorted, as nosort.
 * nosort: BY nosort: keep the order the key holds (a list's; a sorted set's, by score; a set
 *         has none: its members come in any order, but vmux_sort_store() sorts them as byte
 *         strings), for LIMIT and GET without the cost of a sort. Not with by
 *         (VMUX_ERR_INVALID_ARG).
 * limit:  skip offset (>= 0) elements of the sorted result, then answer at most count of them
 *         (count < 0: all the rest, as the server reads it) (LIMIT offset count).
 * get:    nget GET patterns, sent in order: for each element, in place of the element, the
 *         value at each pattern's key (`*` replaced as for by), or nil where that key is missing
 *         or holds no string (with `->field`, the field of a hash: nil where either is missing).
 *         The pattern `#` is the element itself. get may be NULL when nget is 0
 *         (VMUX_ERR_INVALID_ARG otherwise).
 * desc:   highest first (DESC).
 * alpha:  compare as byte strings, not as numbers (ALPHA); without it an element (or weight)
 *         that is not a number is the server's error ("One or more scores can't be converted
 *         into double").
 *
 * On a cluster the server reads the keys a by or get pattern names only in the sorted key's
 * slot: each pattern must carry the key's {hash tag} before its `*` (`{user}:weight_*` for
 * `{user}:ids`), or the server refuses the call (VMUX_ERR_SERVER, "BY option of SORT denied in
 * Cluster mode...", "GET option..."); Valkey 8.0 refuses `GET #` there too (docs/cluster.md).
 */
typedef struct vmux_sort_opts {
    size_t size; /**< sized struct: make it with VMUX_INIT(vmux_sort_opts, ...) (abi.h) */
    vmux_str by;
    bool nosort;
    bool limit;
    int64_t offset, count;
    const vmux_str *get;
    size_t nget;
    bool desc;
    bool alpha;
} vmux_sort_opts;

/**
 * SORT_RO key [BY ...] [LIMIT ...] [GET ...] [DESC] [ALPHA]: the elements of the list, set or
 * sorted set at key in the order sort asks for (NULL: every default), or with get patterns the
 * values they name, nget per element, in *items (owned: free it with vmux_bytes_array_free());
 * an item whose ptr is NULL is a GET of a missing key (nil). A missing key is an empty array; a
 * string or a hash is the server's error (VMUX_ERR_SERVER, WRONGTYPE).
 *
 * It sends SORT_RO, the read-only form (Valkey 7.0 and later; Redis OSS before 7.0 answers
 * "unknown command"), which takes every option but STORE: the router counts it a read, so that
 * with readFrom (or VMUX_CALL_REPLICA) a replica may serve it, and vmux marks it retry-safe.
 * VMUX_ERR_INVALID_ARG, nothing sent, for sort not made with VMUX_INIT, by with nosort, a
 * negative offset, get NULL with nget > 0, and a vmux_str {NULL, len > 0} among key, by and get.
 */
VMUX_EXPORT int vmux_sort(vmux *m, const vmux_callopts *opts, vmux_str key,
                          const vmux_sort_opts *sort, vmux_bytes_array *items);

/**
 * SORT key ... STORE dst: stores at dst, as a list, what vmux_sort() would answer (a nil of a
 * GET stored as an empty string), replacing whatever dst held; *length is the stored list's
 * length. An empty result deletes dst. On a cluster dst must share key's slot (give them a
 * common {hash tag}): VMUX_ERR_CROSSSLOT otherwise, nothing sent; the patterns are as for
 * vmux_sort(). Refusals as vmux_sort(), dst included.
 *
 * Retry-safe unless the sort reads dst: dst is key, or a key that a by or get pattern may name
 * (dst starts with the pattern's text before its `*` and ends with the text after it, up to a
 * `->field`), since a second run would then sort, weigh or fetch what the first one stored.
 */
VMUX_EXPORT int vmux_sort_store(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_str dst,
                                const vmux_sort_opts *sort, int64_t *length);

/**
 * DUMP key: the value at key serialized in the server's own format (with its RDB version and a
 * checksum; no TTL), in *payload (owned: free it with vmux_bytes_free(); binary, NUL bytes and
 * all: read its len), and *found true; ptr NULL and false for a missing key. Either may be NULL.
 * vmux_restore() puts it back. Retry-safe (a read).
 */
VMUX_EXPORT int vmux_dump(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_bytes *payload,
                          bool *found);

/**
 * What RESTORE does beyond creating a missing key; NULL means every default.
 *
 * replace:  overwrite the key when it exists (REPLACE); without it an existing key is the
 *           server's error (VMUX_ERR_SERVER, "BUSYKEY Target key name already exists.").
 * absttl:   ttl_ms is a Unix time in milliseconds, not a time to live (ABSTTL); one in the past
 *           restores nothing (the call succeeds and the key does not exist).
 * idletime: set the key's idle time (OBJECT IDLETIME) to idle_seconds (>= 0) (IDLETIME); the
 *           server keeps it under an LRU or no eviction policy only.
 * freq:     set the key's access-frequency counter (OBJECT FREQ) to frequency (0 to 255)
 *           (FREQ); the server keeps it under an LFU policy only. Not with idletime.
 */
typedef struct vmux_restore_opts {
    size_t size; /**< sized struct: make it with VMUX_INIT(vmux_restore_opts, ...) (abi.h) */
    bool replace;
    bool absttl;
    bool idletime;
    int64_t idle_seconds;
    bool freq;
    int64_t frequency;
} vmux_restore_opts;

/**
 * RESTORE key ttl_ms payload: creates key from a payload of vmux_dump(), with a TTL of ttl_ms
 * milliseconds (0: none; with restore->absttl, a Unix time in milliseconds). A payload that is
 * not one, or comes from a server whose format this one does not read (a later RDB version), is
 * the server's error (VMUX_ERR_SERVER, "ERR DUMP payload version or checksum are wrong"), as is
 * an existing key without restore->replace (BUSYKEY). VMUX_ERR_INVALID_ARG, nothing sent, for a
 * negative ttl_ms, restore not made with VMUX_INIT, a negative idle_seconds, a frequency outside
 * 0 to 255, idletime with freq, and a vmux_str {NULL, len > 0}.
 *
 * Retry-safe with replace only: a second run writes the same value and TTL (a relative one
 * counted from the second run, as a resent EXPIRE); without it, a second run after a first that
 * landed fails with BUSYKEY, so it is never sent twice.
 */
VMUX_EXPORT int vmux_restore(vmux *m, const vmux_callopts *opts, vmux_str key, int64_t ttl_ms,
                             vmux_str payload, const vmux_restore_opts *restore);

#ifdef __cplusplus
}
#endif

#endif
