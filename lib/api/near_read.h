/*
 * One tracked read through the near cache, whatever the command (api/near.c runs it: GET there,
 * HGET, HGETALL and SMEMBERS in near_typed.c). A read names its key, its variant (what the store
 * holds its value under besides the key: core/near_store.h, struct vmux_near_key) and its kind:
 * how a reply becomes the bytes the store keeps (its image) and how those bytes become the
 * caller's result. A hit and a miss hand the caller the same result, both made from the image.
 * Private to lib/api.
 */
#ifndef VMUX_API_NEAR_READ_H
#define VMUX_API_NEAR_READ_H

#include <stddef.h>

#include "core/buf.h"
#include "vmux/call.h"
#include "vmux/reply.h"
#include "vmux/types.h"

/* What a reply says about its key and read. */
enum vmux_near_found {
    VMUX_NEAR_FOUND_VALUE = 1, /* a value: bytes and len are what the store keeps */
    VMUX_NEAR_FOUND_NONE,      /* no value for this read only (HGET: no such field) */
    VMUX_NEAR_FOUND_GONE,      /* the key does not exist (GET's nil, an empty hash or set) */
};

/* A reply's image: owned by the kind's image function, freed with vmux__near_image_free(). */
struct vmux_near_image {
    enum vmux_near_found found;
    const void *bytes; /* VALUE: the bytes to store (in the reply, or in enc) */
    size_t len;
    struct vmux_buf enc; /* the bytes, when the kind had to encode the reply */
};

void vmux__near_image_free(struct vmux_near_image *img);

/* How one command's replies are stored and handed back. */
struct vmux_near_kind {
    /*
     * The image of a reply that is not an error; VMUX_ERR_PROTOCOL for a reply the command
     * cannot give, VMUX_ERR_NOMEM.
     */
    int (*image)(const vmux_reply *r, struct vmux_near_image *img);
    /*
     * Makes the caller's result in out from stored bytes (bytes NULL: an image without a value,
     * the result of a missing field or key). Returns 0, or an error with out zeroed.
     */
    int (*give)(const void *bytes, size_t len, void *out);
};

struct vmux_near_read {
    const struct vmux_near_kind *kind;
    vmux_str key;
    const void *var; /* the variant (NULL when varlen is 0) */
    size_t varlen;
    int argc; /* the read as sent: argv[1] is the key */
    const char *const *argv;
    const size_t *argvlen;
};

/*
 * The read through m's near cache: a hit from the store, a miss as one tracked block (near.c's
 * comment). Returns 0 with the result in out; VMUX_ERR_UNSUPPORTED (nearCache is off),
 * VMUX_ERR_INVALID_ARG (VMUX_CALL_REPLICA or VMUX_CALL_PREFER_REPLICA in opts), VMUX_ERR_SERVER
 * (the read's error reply, its message in opts->errbuf), VMUX_ERR_PROTOCOL, VMUX_ERR_NOMEM, or
 * vmux_call()'s transport errors, with out zeroed. m, out and the key are checked by the caller.
 * Any thread but the I/O thread.
 */
int vmux__near_read(vmux *m, const vmux_callopts *opts, const struct vmux_near_read *rd, void *out);

/* key's bytes, never NULL (an empty key may come as NULL). */
const void *vmux__near_key_bytes(vmux_str key);

/* The image of GET and HGET (struct vmux_near_kind): a string reply's bytes as they are, nil
 * found as nil says (GET: the key is gone; HGET: no such field); VMUX_ERR_PROTOCOL otherwise. */
int vmux__near_string_image(const vmux_reply *r, enum vmux_near_found nil,
                            struct vmux_near_image *img);

/* The give of GET and HGET (struct vmux_near_kind): a copy of the bytes into a vmux_bytes out,
 * zeroed for NULL bytes. */
int vmux__near_give_bytes(const void *bytes, size_t len, void *out);

/* The most arguments a read may have (struct vmux_near_read's argc). */
#define VMUX_NEAR_READ_ARGS 3

#endif
