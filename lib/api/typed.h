/*
 * What every typed command needs: an argument vector built from typed pieces, one synchronous
 * call with the command's retry-safety, and a converter into the caller's out-parameter.
 * Private to lib/api.
 */
#ifndef VMUX_TYPED_H
#define VMUX_TYPED_H

#include <stdbool.h>
#include <stdint.h>

#include "vmux/call.h"
#include "vmux/types.h"

#define VMUX_ARGS_INLINE 24

/* An argument vector under construction; small ones need no allocation. */
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
};

void vmux__args_init(struct vmux_args *a);
/* Starts a vector with a command word and a key: the shape of most commands. */
void vmux__args_key_command(struct vmux_args *a, const char *cmd, vmux_str key);
void vmux__args_free(struct vmux_args *a);
void vmux__args_add(struct vmux_args *a, const void *p, size_t len);
void vmux__args_str(struct vmux_args *a, vmux_str s);
void vmux__args_cstr(struct vmux_args *a, const char *s);
void vmux__args_int(struct vmux_args *a, int64_t v);
/*
 * Adds the words of a write condition (NX, XX, GT, LT, XX GT, XX LT; none for ALWAYS). Returns
 * false, adding nothing, for a condition after max in vmux_cond's order (the last one the
 * command takes) or outside the enum.
 */
bool vmux__args_cond(struct vmux_args *a, vmux_cond cond, vmux_cond max);
/* A NaN is refused (VMUX_ERR_INVALID_ARG when the command is sent). */
void vmux__args_double(struct vmux_args *a, double v);

/*
 * Sends the command synchronously (retry-safe when idempotent, on top of opts' own flags),
 * frees a's storage, and returns the reply in *out: 0, VMUX_ERR_SERVER with the error reply
 * (its message also in opts->errbuf), or another error with *out NULL.
 */
int vmux__typed_call(vmux *m, const vmux_callopts *opts, struct vmux_args *a, bool idempotent,
                     vmux_reply **out);

/* Sends the command asynchronously, as vmux_call_async(), and frees a's storage. */
int vmux__typed_async(vmux *m, const vmux_callopts *opts, struct vmux_args *a, bool idempotent,
                      vmux_reply_cb cb, void *userdata);

/* A converter of a reply into *out: the shape of vmux__typed_run()'s. */
typedef int (*vmux_convert_fn)(const vmux_reply *r, void *out);

/*
 * The one general runner: zeroes size bytes of *out (so it reads as zero after any error, the
 * server's and the transport's included), runs vmux__typed_run() into it, and returns as that
 * does. With out NULL the result goes to a scratch value (size at most 64 bytes) that release
 * (NULL: nothing to free) then frees.
 */
int vmux__typed_run_into(vmux *m, const vmux_callopts *opts, struct vmux_args *a, bool idempotent,
                         vmux_convert_fn convert, void *out, size_t size, void (*release)(void *));

/*
 * Runners for the common reply shapes, made with vmux__typed_run_into(): each zeroes *out first (so
 * it reads as zero after any error, the server's and the transport's included), drops the result
 * when out is NULL, and returns as vmux__typed_run().
 */
int vmux__run_int(vmux *m, const vmux_callopts *opts, struct vmux_args *a, bool idempotent,
                  int64_t *out);
int vmux__run_bytes(vmux *m, const vmux_callopts *opts, struct vmux_args *a, bool idempotent,
                    vmux_bytes *out);
int vmux__run_bytes_array(vmux *m, const vmux_callopts *opts, struct vmux_args *a, bool idempotent,
                          vmux_bytes_array *out);
int vmux__run_scored(vmux *m, const vmux_callopts *opts, struct vmux_args *a, bool idempotent,
                     vmux_scored_array *out);

/*
 * opts for a command that may block the server for block_ms: the blocking flag (it runs on a
 * pool connection) and a deadline of block_ms plus opts' timeout (or the config's syncTimeout).
 */
vmux_callopts vmux__blocking_opts(vmux *m, const vmux_callopts *opts, int64_t block_ms);

/* The converters of types.h under one signature, for vmux__typed_run(). */
int vmux__conv_bytes(const vmux_reply *r, void *out);        /* vmux_bytes */
int vmux__conv_int(const vmux_reply *r, void *out);          /* int64_t */
int vmux__conv_double(const vmux_reply *r, void *out);       /* double */
int vmux__conv_bool(const vmux_reply *r, void *out);         /* bool */
int vmux__conv_bytes_array(const vmux_reply *r, void *out);  /* vmux_bytes_array */
int vmux__conv_scored_array(const vmux_reply *r, void *out); /* vmux_scored_array */
int vmux__conv_ok(const vmux_reply *r, void *out);           /* out unused: status expected */

/*
 * An integer reply, or a whole decimal integer sent as a bulk string (TIME's parts, XPENDING's
 * per-consumer counts), into *out (0 on failure). Returns 0 or VMUX_ERR_PROTOCOL, or the
 * server's error as vmux_reply_to_int() does.
 */
int vmux__reply_to_number(const vmux_reply *r, int64_t *out);

/*
 * vmux__typed_call(), then the converter into out when a reply came; frees the reply. It does
 * not touch out when the call fails: each command zeroes its out-parameters before it starts.
 */
int vmux__typed_run(vmux *m, const vmux_callopts *opts, struct vmux_args *a, bool idempotent,
                    vmux_convert_fn convert, void *out);

#endif
