#include "core/deadline.h"

#include <stdlib.h>

#include "vmux/error.h"

/* Frees the classes no op is in, keeping the others in their order. */
static void drop_empty(struct vmux_deadlines *d)
{
    size_t kept = 0;
    for (size_t i = 0; i < d->nclasses; i++) {
        if (d->classes[i]->head == NULL)
            free(d->classes[i]);
        else
            d->classes[kept++] = d->classes[i];
    }
    d->nclasses = kept;
}

static struct vmux_deadline_class *find_class(struct vmux_deadlines *d, uint32_t timeout_ms)
{
    for (size_t i = 0; i < d->nclasses; i++)
        if (d->classes[i]->timeout_ms == timeout_ms)
            return d->classes[i];
    /* Timeouts that are what was left of another (a script's EVAL after NOSCRIPT, a lock's next
     * try) make new classes that empty again: past a handful, the empty ones go, so the array
     * stays as short as the timeouts in use, not as long as every one ever seen. */
    if (d->nclasses >= VMUX_DEADLINE_CLASSES_KEPT)
        drop_empty(d);
    struct vmux_deadline_class **grown =
        realloc(d->classes, (d->nclasses + 1) * sizeof(*d->classes));
    if (grown == NULL)
        return NULL;
    d->classes = grown;
    struct vmux_deadline_class *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->timeout_ms = timeout_ms;
    d->classes[d->nclasses++] = c;
    return c;
}

void vmux__deadlines_add(struct vmux_deadlines *d, struct vmux_op *op)
{
    struct vmux_deadline_class *c = find_class(d, op->timeout_ms);
    if (c == NULL)
        c = &d->spare; /* out of memory: still indexed, by deadline */
    /* Almost always op goes last; an op that waited longer in the submit queue than one
     * routed straight from the I/O thread may belong a few places earlier. */
    struct vmux_op *after = c->tail;
    while (after != NULL && after->deadline_ns > op->deadline_ns)
        after = after->dprev;
    op->dclass = c;
    op->dprev = after;
    op->dnext = after != NULL ? after->dnext : c->head;
    if (op->dnext != NULL)
        op->dnext->dprev = op;
    else
        c->tail = op;
    if (after != NULL)
        after->dnext = op;
    else
        c->head = op;
}

void vmux__deadline_moved(struct vmux_op *op)
{
    struct vmux_deadline_class *c = op->dclass;
    if (c == NULL)
        return;
    if (op->dprev != NULL)
        op->dprev->dnext = op;
    else
        c->head = op;
    if (op->dnext != NULL)
        op->dnext->dprev = op;
    else
        c->tail = op;
}

void vmux__deadline_remove(struct vmux_op *op)
{
    struct vmux_deadline_class *c = op->dclass;
    if (c == NULL)
        return;
    VMUX_OP_UNLINK(c->head, c->tail, op, dprev, dnext);
    op->dclass = NULL;
}

/* The head of every class (the spare's too) with the earliest deadline, or NULL. */
static struct vmux_op *earliest(const struct vmux_deadlines *d)
{
    struct vmux_op *first = d->spare.head;
    for (size_t i = 0; i < d->nclasses; i++) {
        struct vmux_op *head = d->classes[i]->head;
        if (head != NULL && (first == NULL || head->deadline_ns < first->deadline_ns))
            first = head;
    }
    return first;
}

struct vmux_op *vmux__deadlines_expired(struct vmux_deadlines *d, uint64_t now_ns)
{
    struct vmux_op *first = earliest(d);
    return first != NULL && first->deadline_ns <= now_ns ? first : NULL;
}

uint64_t vmux__deadlines_next(const struct vmux_deadlines *d)
{
    const struct vmux_op *first = earliest(d);
    return first != NULL ? first->deadline_ns : UINT64_MAX;
}

void vmux__deadlines_free(struct vmux_deadlines *d)
{
    for (size_t i = 0; i < d->nclasses; i++)
        free(d->classes[i]);
    free(d->classes);
    d->classes = NULL;
    d->nclasses = 0;
}
