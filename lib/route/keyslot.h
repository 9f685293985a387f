/*
 * The one hash slot of a command: all its keys (route/keyspec.h) must hash to the same slot
 * (route/slot.h) for one cluster node to run it. When two do not, the command is refused
 * before anything is sent with VMUX_ERR_CROSSSLOT and a message naming two of its keys and
 * their slots, the first key and the first one found in another slot.
 *
 * Pure functions, no allocation: any thread.
 */
#ifndef VMUX_ROUTE_KEYSLOT_H
#define VMUX_ROUTE_KEYSLOT_H

#include <stddef.h>

#include "route/keyspec.h"

/* The slot of a command without keys: any node may run it. */
#define VMUX_SLOT_ANY (-1)

/* Two keys of one command in different slots. */
struct vmux_crossslot {
    int arg_a, arg_b;        /* their argument indexes: the first key, then the one that differs */
    unsigned slot_a, slot_b; /* and their slots */
};

/*
 * Finds the slot that every key of k (found by vmux__keys_find() over the same argv and
 * argvlen) hashes to. Returns 0 with *slot set to it, or to VMUX_SLOT_ANY when k names no key
 * (any kind but VMUX_KEYS_FOUND); or VMUX_ERR_CROSSSLOT with *cross filled (when cross is not
 * NULL) and *slot set to the first key's slot. Stops at the first key in another slot.
 */
int vmux__keys_slot(const struct vmux_keys *k, const char *const *argv, const size_t *argvlen,
                    int *slot, struct vmux_crossslot *cross);

/*
 * Writes VMUX_ERR_CROSSSLOT's message for *cross into buf (len bytes, always NUL-terminated, cut
 * if too long; nothing when buf is NULL or len is 0), for instance
 * "keys 'a' (slot 15495) and 'b' (slot 3300) hash to different slots; keys used together need a
 * common {hash tag}". A key is shown up to 48 bytes, its bytes outside printable ASCII (and '\'
 * and ''') escaped as \xNN, and "..." marks a cut.
 */
void vmux__crossslot_message(char *buf, size_t len, const struct vmux_crossslot *cross,
                             const char *const *argv, const size_t *argvlen);

#endif
