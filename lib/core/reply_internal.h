/* The reply representation, shared by the reader glue and the public accessors. */
#ifndef VMUX_REPLY_INTERNAL_H
#define VMUX_REPLY_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmux/reply.h"
#include "vmux/types.h"

struct vmux_reply {
    vmux_reply_kind type;
    /* the words of an op that failed on its way (core/op_words.c): whether they say the command
     * did not run, as enum vmux__ran (core/explain.h), set where they are made; 0 (it may have
     * run) on every other reply. In what was padding: the reply is no larger. */
    uint8_t ran;
    size_t len; /* bytes (string, status, error) or elements filled so far (array) */
    union {
        int64_t integer;
        struct {
            vmux_reply **element;
            size_t expected; /* element count announced by the array header */
            size_t cap;      /* slots allocated in element */
        } array;
    } u;
    char str[]; /* string, status and error bytes, NUL-terminated */
};

/*
 * Allocates a string-like reply holding a copy of len bytes (bytes NULL: room for len bytes, to be
 * filled by the caller; the NUL after them is written). NULL when out of memory.
 */
vmux_reply *vmux__reply_new_str(vmux_reply_kind type, const char *bytes, size_t len);
/* Allocates an integer, nil or (empty, expecting n elements) array reply. */
vmux_reply *vmux__reply_new_integer(int64_t value);
vmux_reply *vmux__reply_new_nil(void);
vmux_reply *vmux__reply_new_array(size_t expected);

/*
 * Stores child as element idx of array parent, growing the element table geometrically (never
 * by the header's announced count, which a hostile server controls). Returns 0 or -1 when out of
 * memory or idx is not the next slot.
 */
int vmux__reply_array_set(vmux_reply *parent, size_t idx, vmux_reply *child);

/* Bulk strings of at least this many bytes are handed over by vmux__reply_take_str(). */
#define VMUX_REPLY_TAKE_MIN ((size_t)64 * 1024)

/*
 * A large bulk string's bytes for a typed result, without a second buffer: when r (owned by the
 * caller) is a bulk string of VMUX_REPLY_TAKE_MIN bytes or more, moves its bytes and their NUL to
 * the start of r's own allocation, shrinks it, stores it in *out (owned by the caller, freed by
 * vmux_bytes_free()) and returns true; r is gone. Otherwise returns false and leaves r and
 * *out alone. A fresh buffer of that size would cost its page faults and a copy; moving the bytes
 * within pages already touched costs the copy alone. Any thread.
 */
bool vmux__reply_take_str(vmux_reply *r, vmux_bytes *out);

/* Whether r (NULL allowed) is a string-like reply whose bytes are exactly word's. Any thread. */
bool vmux__reply_is(const vmux_reply *r, const char *word);

#endif
