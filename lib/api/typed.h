/*
 * What every typed command needs: an argument vector built from typed pieces, one synchronous
 * call with the command's retry-safety, and a converter into the caller's out-parameter.
 * Private to lib/api, and to lib/patterns for converting the replies of their scripts.
 */
#ifndef VMUX_TYPED_H
#define VMUX_TYPED_H

#include <stdbool.h>
#include <stdint.h>

#include "vmux/call.h"
#include "vmux/hashes.h"
#include "vmux/script.h"
#include "vmux/types.h"

#define VMUX_ARGS_INLINE 24

/*
 * An argument vector under construction; small ones need no allocation. Every argument goes in
 * through vmux__args_add(), which refuses bytes at NULL with a non-zero length (a vmux_str
 * {NULL, len > 0}: docs/api-conventions.md) by setting error, so that no typed command, and no
 * pattern built on them, sends one: the call returns VMUX_ERR_INVALID_ARG, nothing sent.
 */
struct vmux_args {
    int argc, cap;
    const char **argv;
    size_t *lens;
    const char *argv_inline[VMUX_ARGS_INLINE];
    size_t lens_inline[VMUX_ARGS_INLINE];
    char numbers[8][32]; /* text of the first number arguments */
    int nnumbers;
    struct vmux_numbers *more; /* text of any further ones */
    int error; /* 0, or why the vector cannot be sent (VMUX_ERR_NOMEM, VMUX_ERR_INVALID_ARG) */
    /* for VMUX_ERR_INVALID_ARG: which argument broke which rule ("" if unsaid); last, so that
     * vmux__args_init() clears only its first byte (no cost on the sending path) */
    char why[256];
};

void vmux__args_init(struct vmux_args *a);
/* Starts a vector with a command word and a key: the shape of most commands. */
void vmux__args_key_command(struct vmux_args *a, const char *cmd, vmux_str key);
/* Starts a vector cmd sub key: a subcommand on a key (OBJECT ENCODING, XINFO, XGROUP). */
void vmux__args_sub_key_command(struct vmux_args *a, const char *cmd, const char *sub,
                                vmux_str key);
void vmux__args_free(struct vmux_args *a);
/*
 * Starts a vector cmd [key] items... (key NULL: none), the shape of the multi-key and
 * multi-member commands. Returns false, building nothing, when items is NULL or n is 0.
 */
bool vmux__args_items(struct vmux_args *a, const char *cmd, const vmux_str *key,
                      const vmux_str *items, size_t n);
/*
 * Adds len bytes at p (pointed at, not copied: they must outlive the call). p NULL with len 0
 * is an empty argument; p NULL with len > 0 sets error to VMUX_ERR_INVALID_ARG (if not set).
 */
void vmux__args_add(struct vmux_args *a, const void *p, size_t len);
/*
 * Marks the vector as not to be sent, for an argument its builder found invalid: the call then
 * returns VMUX_ERR_INVALID_ARG, nothing sent (unless an earlier error is already set).
 */
void vmux__args_refuse(struct vmux_args *a);
/*
 * vmux__args_refuse() with words for the caller's error buffer (why, printf-style: which argument
 * and which rule, as vmux__typed_refuse() takes them), kept only for the first refusal.
 */
void vmux__args_refuse_why(struct vmux_args *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* vmux__args_add() of s's bytes: {NULL, len > 0} is refused there. */
void vmux__args_str(struct vmux_args *a, vmux_str s);
void vmux__args_cstr(struct vmux_args *a, const char *s);
void vmux__args_int(struct vmux_args *a, int64_t v);
/*
 * prefix (under 8 characters) and v's digits as one argument, copied into the vector as numbers
 * are: BITFIELD's types (i8, u63) and offsets in fields (#3).
 */
void vmux__args_prefixed_int(struct vmux_args *a, const char *prefix, int64_t v);
/* A count (>= 0); a negative one is refused (VMUX_ERR_INVALID_ARG when the command is sent). */
void vmux__args_count(struct vmux_args *a, int64_t count);
/*
 * An integer the server takes only in [min, max] (SRANDMEMBER's count, whose negation must
 * exist); one outside is refused (VMUX_ERR_INVALID_ARG when the command is sent).
 */
void vmux__args_int_in(struct vmux_args *a, int64_t v, int64_t min, int64_t max);
/*
 * CMD key count [with]: a random pick (HRANDFIELD, ZRANDMEMBER) whose negative count asks for
 * -count, which may repeat. The count is refused where the server refuses it: INT64_MIN (no
 * negation), and with a with word (WITHVALUES, WITHSCORES: twice the replies) beyond
 * INT64_MAX / 2 either way. with NULL: none.
 */
void vmux__args_random_pick(struct vmux_args *a, const char *cmd, vmux_str key, int64_t count,
                            const char *with);
/*
 * Adds the words of a write condition (NX, XX, GT, LT, XX GT, XX LT; none for ALWAYS). Returns
 * false, adding nothing, for a condition after max in vmux_cond's order (the last one the
 * command takes) or outside the enum.
 */
bool vmux__args_cond(struct vmux_args *a, vmux_cond cond, vmux_cond max);
/*
 * Whether key is one of the n keys (bytes compared): a store into one of its sources, which is
 * then no longer retry-safe. A string at NULL with a length matches none (the command is
 * refused before sending). keys may be NULL when n is 0.
 */
bool vmux__str_among(vmux_str key, const vmux_str *keys, size_t n);
/* A NaN is refused (VMUX_ERR_INVALID_ARG when the command is sent). */
void vmux__args_double(struct vmux_args *a, double v);
/*
 * The word of a flush mode (vmux_flush_mode, server.h): nothing for the default, SYNC or ASYNC
 * (FLUSHALL, FLUSHDB, SCRIPT FLUSH, FUNCTION FLUSH). Another value is refused
 * (VMUX_ERR_INVALID_ARG when the command is sent).
 */
void vmux__args_flush_mode(struct vmux_args *a, vmux_flush_mode mode);

/*
 * A typed call's refusal before anything is sent (refuse.c): writes "invalid argument: " and fmt's
 * words (printf-style: which argument, which rule, as its header states it: "block_ms is 0: ...",
 * "keys is NULL with n 2") into opts->errbuf when opts has one, read only as far as the caller's
 * size goes (core/sized.h; opts NULL, or of a bad size: nothing written). Returns
 * VMUX_ERR_INVALID_ARG. Any thread.
 */
int vmux__typed_refuse(const vmux_callopts *opts, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/*
 * vmux__typed_refuse() for a refused list of items (vmux__args_items()'s rule): "<name> is NULL
 * with n N" when items is NULL, else "n is 0". Returns VMUX_ERR_INVALID_ARG.
 */
int vmux__items_refuse(const vmux_callopts *opts, const char *name, const void *items, size_t n);
/*
 * vmux__typed_refuse() for a vmux_str argument (name: its parameter) that is no string, ptr NULL
 * with len > 0: "<name> is at NULL with length N (...)", VMUX_ERR_INVALID_ARG. 0, writing nothing,
 * for any other (the empty string {NULL, 0} included).
 */
int vmux__str_refuse(const vmux_callopts *opts, const char *name, vmux_str s);
/*
 * vmux__typed_refuse() for a caller's sized struct (name: the parameter, as "copy") that
 * vmux__sized_in() refused against the library's lib_size bytes: its size below sizeof(size_t),
 * or past lib_size with a field this library lacks set. Returns VMUX_ERR_INVALID_ARG.
 */
int vmux__sized_refuse(const vmux_callopts *opts, const char *name, const void *sized,
                       size_t lib_size);
/*
 * vmux__typed_refuse() with a refused vector's words (a->why), when it has any. Returns
 * VMUX_ERR_INVALID_ARG.
 */
int vmux__args_refused(const vmux_callopts *opts, const struct vmux_args *a);

/*
 * Sends the command synchronously (retry-safe when idempotent, on top of opts' own flags),
 * frees a's storage, and returns the reply in *out: 0, VMUX_ERR_SERVER with the error reply
 * (its message also in opts->errbuf), or another error with *out NULL (a vector refused with
 * VMUX_ERR_INVALID_ARG: its words, a->why, in opts->errbuf).
 */
int vmux__typed_call(vmux *m, const vmux_callopts *opts, struct vmux_args *a, bool idempotent,
                     vmux_reply **out);

/*
 * Sends the command asynchronously, as vmux_call_async(), and frees a's storage. A vector refused
 * with VMUX_ERR_INVALID_ARG is not sent: its words (a->why) go to opts->errbuf.
 */
int vmux__typed_async(vmux *m, const vmux_callopts *opts, struct vmux_args *a, bool idempotent,
                      vmux_reply_cb cb, void *userdata);

/*
 * A converter of a reply into *out. On failure it leaves *out as it would read after zeroing
 * (nothing in it to free), so that one rule covers every out-parameter.
 */
typedef int (*vmux_convert_fn)(const vmux_reply *r, void *out);

/*
 * The general form of a typed command: sends the command as vmux__typed_call() does, converts
 * the reply into out and frees it, as vmux__reply_into() says (size bytes of *out zeroed first,
 * so they read as zero after any error, the server's and the transport's included; out NULL:
 * the result goes to a scratch value (on the heap past 64 bytes), then to release, NULL when there
 * is nothing to free). Returns 0, the call's error, or the converter's.
 *
 * A command with several out-parameters passes its converter a struct of them with size 0: it
 * zeroes them itself before it checks its arguments, and the converter fills each one given.
 */
int vmux__typed_run_into(vmux *m, const vmux_callopts *opts, struct vmux_args *a, bool idempotent,
                         vmux_convert_fn convert, void *out, size_t size, void (*release)(void *));

/*
 * The second half of the general form, for replies that come from elsewhere (a script run):
 * rc and r are what a call gave (r is taken and freed). Zeroes size bytes of *out, then, when rc
 * is 0, converts r as vmux__convert_into() does. Returns rc, or the converter's result.
 */
int vmux__reply_into(int rc, vmux_reply *r, vmux_convert_fn convert, void *out, size_t size,
                     void (*release)(void *));

/*
 * Converts r into out with size bytes zeroed first; with out NULL into a scratch value (on the
 * heap past 64 bytes: VMUX_ERR_NOMEM when none can be had) that release (NULL: nothing to free)
 * frees. r is only read: a converter uses this to hand a part
 * of its reply to another converter.
 */
int vmux__convert_into(const vmux_reply *r, vmux_convert_fn convert, void *out, size_t size,
                       void (*release)(void *));

/*
 * The words of a typed call of cmd (its name; "" unknown) that ran but whose reply r convert
 * refused as of another shape (VMUX_ERR_PROTOCOL), into errbuf: "GET: the command ran, but its
 * reply is not of the shape this function reads: expected a string or nil, got array of 3
 * elements" (what is expected only for the converters of the common runners below).
 */
void vmux__shape_words(char *errbuf, size_t errlen, const char *cmd, vmux_convert_fn convert,
                       const vmux_reply *r);

/*
 * Runners for the common reply shapes, made with vmux__typed_run_into(): each zeroes *out first,
 * drops the result when out is NULL, and returns as vmux__typed_run_into(). vmux__run_ok()
 * expects a status reply (+OK) and has nothing to give back.
 */
int vmux__run_int(vmux *m, const vmux_callopts *opts, struct vmux_args *a, bool idempotent,
                  int64_t *out);
int vmux__run_double(vmux *m, const vmux_callopts *opts, struct vmux_args *a, bool idempotent,
                     double *out);
int vmux__run_bool(vmux *m, const vmux_callopts *opts, struct vmux_args *a, bool idempotent,
                   bool *out);
int vmux__run_bytes(vmux *m, const vmux_callopts *opts, struct vmux_args *a, bool idempotent,
                    vmux_bytes *out);
int vmux__run_bytes_array(vmux *m, const vmux_callopts *opts, struct vmux_args *a, bool idempotent,
                          vmux_bytes_array *out);
int vmux__run_scored(vmux *m, const vmux_callopts *opts, struct vmux_args *a, bool idempotent,
                     vmux_scored_array *out);
int vmux__run_ok(vmux *m, const vmux_callopts *opts, struct vmux_args *a, bool idempotent);
/*
 * The end of a command answering a string or nil (DUMP, RANDOMKEY) run into v with rc: hands v
 * to *out (frees it when out is NULL) and sets *found to whether it is not nil (false after an
 * error, where v reads as zeroed). Either may be NULL. Returns rc.
 */
int vmux__bytes_found(int rc, vmux_bytes *v, vmux_bytes *out, bool *found);
/*
 * A reply that is a number or nil (ZSCORE, ZADD INCR, GEODIST), read by vmux_reply_to_score():
 * *score and *found true, or 0 and false for nil; both zeroed first, either may be NULL.
 */
int vmux__run_score(vmux *m, const vmux_callopts *opts, struct vmux_args *a, bool idempotent,
                    double *score, bool *found);

/*
 * Where an array reply of n elements, each nil (not found) or a value, goes (ZMSCORE's scores,
 * GEOPOS's positions): the i-th value, read by read (an element that is neither nil nor an error;
 * at most 64 bytes), into values' i-th item of size bytes, and found[i]. values and found are the
 * caller's arrays of n items; either may be NULL (not written).
 */
struct vmux_each {
    void *values;
    size_t size;
    bool *found;
    size_t n;
    vmux_convert_fn read;
};
/*
 * Sends the command as vmux__typed_call() does with e's arrays zeroed first, and fills them from
 * its reply; a reply of another shape (a length other than n, an element read refuses) is
 * VMUX_ERR_PROTOCOL with them zeroed again. Returns as vmux__typed_run_into().
 */
int vmux__run_each(vmux *m, const vmux_callopts *opts, struct vmux_args *a, bool idempotent,
                   struct vmux_each *e);

/*
 * cmd [key] items... (vmux__args_items()) with an integer reply into *out, zeroed first: the
 * counts and lengths of the multi-key and multi-member commands. No items: VMUX_ERR_INVALID_ARG,
 * nothing sent, with words naming them as name (the header's parameter: "members", "keys").
 */
int vmux__run_items_int(vmux *m, const vmux_callopts *opts, const char *cmd, const vmux_str *key,
                        const vmux_str *items, const char *name, size_t n, bool idempotent,
                        int64_t *out);
/* The same command sent as vmux__typed_async() sends it. */
int vmux__items_async(vmux *m, const vmux_callopts *opts, const char *cmd, const vmux_str *key,
                      const vmux_str *items, const char *name, size_t n, bool idempotent,
                      vmux_reply_cb cb, void *userdata);

/*
 * opts for a command the server may hold for block_ms before it answers: a deadline of block_ms
 * plus opts' timeout (or the config's syncTimeout), so that neither the deadline nor the
 * dead-link rule (2 x the head op's timeout) cuts a legitimate wait; flags as opts gave them.
 * Bad opts (or m NULL) come back as they were, for the call to refuse. Any thread.
 */
vmux_callopts vmux__held_opts(vmux *m, const vmux_callopts *opts, int64_t block_ms);

/*
 * vmux__held_opts() plus the blocking flag: the command runs on a pool connection, so that it
 * holds no other caller's commands up (BLPOP, XREAD ... BLOCK). Not for WAIT and WAITAOF, which
 * must run on the connection that carried the writes they count.
 */
vmux_callopts vmux__blocking_opts(vmux *m, const vmux_callopts *opts, int64_t block_ms);

/* The converters of types.h (and hashes.h) under one signature, for vmux__typed_run_into(). */
int vmux__conv_bytes(const vmux_reply *r, void *out);        /* vmux_bytes */
int vmux__conv_int(const vmux_reply *r, void *out);          /* int64_t */
int vmux__conv_double(const vmux_reply *r, void *out);       /* double */
int vmux__conv_bool(const vmux_reply *r, void *out);         /* bool */
int vmux__conv_bytes_array(const vmux_reply *r, void *out);  /* vmux_bytes_array */
int vmux__conv_scored_array(const vmux_reply *r, void *out); /* vmux_scored_array */
int vmux__conv_field_array(const vmux_reply *r, void *out);  /* vmux_field_array (hashes.c) */
int vmux__conv_ok(const vmux_reply *r, void *out);           /* out unused: status expected */

/*
 * Moves flat's items into *out as field/value pairs, in their order (hashes.c): HGETALL's flat
 * reply, and the near cache's decoded copy of it (near_typed.c). flat is always left empty: on
 * success its items belong to *out (its array freed), on failure they are freed. Returns 0,
 * VMUX_ERR_PROTOCOL for an odd count (a field without its value), or VMUX_ERR_NOMEM; on failure
 * *out is zeroed. Any thread.
 */
int vmux__pair_up(vmux_bytes_array *flat, vmux_field_array *out);

/* Their release functions, for vmux__typed_run_into()'s scratch value. */
void vmux__release_bytes(void *v);
void vmux__release_bytes_array(void *v);
void vmux__release_scored_array(void *v);
void vmux__release_field_array(void *v); /* hashes.c */

/*
 * A reply that is nil when the thing asked about does not exist, else of kind `kind` and read by
 * convert into out (size bytes, release as in vmux__convert_into()). vmux__conv_maybe() takes a
 * struct vmux_maybe as its out: it sets found, leaves out zeroed for nil, and refuses any other
 * kind with VMUX_ERR_PROTOCOL.
 */
struct vmux_maybe {
    vmux_reply_kind kind;
    vmux_convert_fn convert;
    void *out;
    size_t size;
    void (*release)(void *);
    bool found;
};
int vmux__conv_maybe(const vmux_reply *r, void *maybe);
/* A struct vmux_maybe with found false. */
struct vmux_maybe vmux__maybe(vmux_reply_kind kind, vmux_convert_fn convert, void *out, size_t size,
                              void (*release)(void *));

/*
 * An integer reply, or a whole decimal integer sent as a bulk string (TIME's parts, XPENDING's
 * per-consumer counts), into *out (0 on failure). Returns 0 or VMUX_ERR_PROTOCOL, or the
 * server's error as vmux_reply_to_int() does.
 */
int vmux__reply_to_number(const vmux_reply *r, int64_t *out);

/*
 * vmux_script_new() without its words: the library's own scripts (a conditional transaction's)
 * are made with it so that a call taking an error buffer leaves vmux_last_error() alone. Returns
 * 0, VMUX_ERR_INVALID_ARG (out NULL, source empty or at NULL) or VMUX_ERR_NOMEM.
 */
int vmux__script_make(vmux_str source, vmux_script **out);

/* vmux__typed_run_into() with nothing zeroed (size 0) and no release. */
int vmux__typed_run(vmux *m, const vmux_callopts *opts, struct vmux_args *a, bool idempotent,
                    vmux_convert_fn convert, void *out);

#endif
