/*
 * The deadline index: every pending op, grouped by its timeout. Ops of one timeout arrive nearly
 * in deadline order, so each class is a list kept sorted by inserting from its tail (O(1) in
 * practice), the earliest deadline is always at a head, and removing is O(1). Programs use a
 * handful of distinct timeouts, so the classes are a short array; once it holds
 * VMUX_DEADLINE_CLASSES_KEPT, a new class first frees the empty ones (timeouts computed from what
 * is left of a budget are many, each used briefly).
 *
 * Only the I/O thread touches it.
 */
#ifndef VMUX_DEADLINE_H
#define VMUX_DEADLINE_H

#include <stddef.h>
#include <stdint.h>

#include "core/op.h"

#define VMUX_DEADLINE_CLASSES_KEPT 16

struct vmux_deadline_class {
    uint32_t timeout_ms;
    struct vmux_op *head, *tail;
};

struct vmux_deadlines {
    struct vmux_deadline_class **classes;
    size_t nclasses;
    /* The ops whose timeout's class could not be allocated, in deadline order whatever their
     * timeouts (inserted from the tail: O(n) when timeouts mix; only when memory ran out). So
     * indexing never fails, and an op that was written already keeps its deadline. */
    struct vmux_deadline_class spare;
};

/*
 * Indexes op under its timeout_ms; op->deadline_ns must be set. Never fails: when a new class
 * cannot be allocated, op goes to the spare class.
 */
void vmux__deadlines_add(struct vmux_deadlines *d, struct vmux_op *op);

/*
 * Points op's neighbours in the index (and its class's ends) at op, whose memory moved: a copy of
 * an indexed op (vmux__op_splice()). Nothing when op is not indexed.
 */
void vmux__deadline_moved(struct vmux_op *op);

/* Removes op from the index; nothing happens if it is not indexed. */
void vmux__deadline_remove(struct vmux_op *op);

/*
 * Returns the indexed op with the earliest deadline at or before now_ns, or NULL. The caller
 * completes it (which removes it) and asks again.
 */
struct vmux_op *vmux__deadlines_expired(struct vmux_deadlines *d, uint64_t now_ns);

/* Returns the earliest deadline in the index, or UINT64_MAX when it is empty. */
uint64_t vmux__deadlines_next(const struct vmux_deadlines *d);

/* Frees the classes (the ops are not touched; the spare class must be empty). */
void vmux__deadlines_free(struct vmux_deadlines *d);

#endif
