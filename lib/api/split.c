/*
 * Grouping a typed multi-key command's keys by cluster slot (api/split.h): one sort of
 * (slot, index) pairs makes the groups, a second puts them in the order of their first key, and
 * one allocation of argument vectors makes a part of each.
 */
#include "api/split.h"

#include <stdlib.h>
#include <string.h>

#include "core/assert.h"
#include "core/value.h"
#include "mux/handle.h"
#include "route/slot.h"
#include "vmux/error.h"

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static int cmp_group(const void *a, const void *b)
{
    size_t x = ((const struct vmux_split_group *)a)->first_key;
    size_t y = ((const struct vmux_split_group *)b)->first_key;
    return x < y ? -1 : x > y;
}

/* Fills and sorts s->order; returns how many slots the keys span. */
static size_t sort_keys(struct vmux_split *s, const vmux_str *keys)
{
    for (size_t i = 0; i < s->nkeys; i++)
        s->order[i] = (uint64_t)vmux__slot_of(keys[i].ptr, keys[i].len) << 32 | i;
    qsort(s->order, s->nkeys, sizeof *s->order, cmp_u64);
    size_t slots = 1;
    for (size_t i = 1; i < s->nkeys; i++)
        slots += (s->order[i] >> 32) != (s->order[i - 1] >> 32);
    return slots;
}

/* Cuts s->order into its groups, then orders them by their first key. */
static void make_groups(struct vmux_split *s)
{
    size_t g = 0;
    for (size_t i = 0; i < s->nkeys; i++) {
        if (i == 0 || (s->order[i] >> 32) != (s->order[i - 1] >> 32))
            s->groups[g++] = (struct vmux_split_group){i, 0, (size_t)(s->order[i] & UINT32_MAX),
                                                       (unsigned)(s->order[i] >> 32)};
        s->groups[g - 1].count++;
    }
    qsort(s->groups, s->ngroups, sizeof *s->groups, cmp_group);
}

/* One part per group: cmd, then each key (and its value when there are values). */
static void make_parts(struct vmux_split *s, const char *cmd, const vmux_str *keys,
                       const vmux_str *values)
{
    size_t at = 0, cmdlen = strlen(cmd);
    for (size_t g = 0; g < s->ngroups; g++) {
        const char **argv = s->argv + at;
        size_t *lens = s->lens + at;
        size_t argc = 0;
        argv[argc] = cmd;
        lens[argc++] = cmdlen;
        for (size_t j = 0; j < s->groups[g].count; j++) {
            size_t k = vmux__split_key(s, g, j);
            argv[argc] = keys[k].ptr != NULL ? keys[k].ptr : "";
            lens[argc++] = keys[k].len;
            if (values != NULL) {
                argv[argc] = values[k].ptr != NULL ? values[k].ptr : "";
                lens[argc++] = values[k].len;
            }
        }
        s->parts[g] = (struct vmux_part){(int)argc, argv, lens, (int)s->groups[g].slot};
        at += argc;
    }
}

/* Allocates the groups, parts and argument vectors; false when out of memory. */
static bool alloc_parts(struct vmux_split *s, bool with_values)
{
    size_t per_key = with_values ? 2 : 1;
    size_t nargs = s->ngroups + per_key * s->nkeys;
    s->groups = malloc(s->ngroups * sizeof *s->groups);
    s->parts = malloc(s->ngroups * sizeof *s->parts);
    s->argv = malloc(nargs * sizeof *s->argv);
    s->lens = malloc(nargs * sizeof *s->lens);
    return s->groups != NULL && s->parts != NULL && s->argv != NULL && s->lens != NULL;
}

/* Whether a key or value is {NULL, len > 0}, which the ordinary path refuses. */
static bool any_invalid(const vmux_str *keys, const vmux_str *values, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (vmux__str_invalid(keys[i]) || (values != NULL && vmux__str_invalid(values[i])))
            return true;
    return false;
}

/* Whether the n keys (n >= 1) share one slot: no allocation, and it stops at the first other. */
static bool one_slot(const vmux_str *keys, size_t n)
{
    unsigned first = vmux__slot_of(keys[0].ptr, keys[0].len);
    for (size_t i = 1; i < n; i++)
        if (vmux__slot_of(keys[i].ptr, keys[i].len) != first)
            return false;
    return true;
}

int vmux__split(vmux *m, const char *cmd, const vmux_str *keys, const vmux_str *values, size_t n,
                struct vmux_split *s)
{
    memset(s, 0, sizeof *s);
    if (vmux__slot_routing(m) != VMUX__SLOTS_YES)
        return 0;
    return vmux__split_slots(cmd, keys, values, n, s);
}

int vmux__split_slots(const char *cmd, const vmux_str *keys, const vmux_str *values, size_t n,
                      struct vmux_split *s)
{
    memset(s, 0, sizeof *s);
    /* n bounded so that an index fits the low half of an order entry, and each part's argc an
     * int; larger calls, and bad strings, take the ordinary path, which refuses them. */
    if (keys == NULL || n < 2 || n > INT32_MAX / 2 || any_invalid(keys, values, n) ||
        one_slot(keys, n))
        return 0;
    s->nkeys = n;
    s->order = malloc(n * sizeof *s->order);
    if (s->order == NULL)
        return VMUX_ERR_NOMEM;
    s->ngroups = sort_keys(s, keys);
    VMUX_ASSERT(s->ngroups > 1); /* one_slot() said so */
    if (!alloc_parts(s, values != NULL)) {
        vmux__split_free(s);
        return VMUX_ERR_NOMEM;
    }
    make_groups(s);
    make_parts(s, cmd, keys, values);
    return 1;
}

void vmux__split_free(struct vmux_split *s)
{
    free(s->order);
    free(s->groups);
    free(s->parts);
    free(s->argv);
    free(s->lens);
    memset(s, 0, sizeof *s);
}

size_t vmux__split_failed(const struct vmux_part_result *results, size_t n)
{
    size_t i = 0;
    while (i < n && results[i].status == 0)
        i++;
    return i;
}

void vmux__split_results_free(struct vmux_part_result *results, size_t n)
{
    for (size_t i = 0; i < n; i++)
        vmux_reply_free(results[i].reply);
}
