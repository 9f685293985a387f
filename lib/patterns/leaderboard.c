/* Leaderboards on a sorted set (leaderboard.h). */
#include "vmux/leaderboard.h"

#include <inttypes.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/typed.h"
#include "core/sized.h"
#include "mux/handle.h"
#include "core/value.h"
#include "core/why.h"
#include "vmux/error.h"
#include "vmux/script.h"
#include "vmux/zsets.h"

/*
 * KEYS[1] the board; ARGV[1] the member, ARGV[2] the window size, ARGV[3] "1" for highest
 * first. Returns nil when member is not on the board, else {first index, [member, score...]}.
 * Rank, size and range are read in one step so the window always contains the member.
 */
static const char around_lua[] =
    "local rev = ARGV[3] == '1'\n"
    "local rank = redis.call(rev and 'ZREVRANK' or 'ZRANK', KEYS[1], ARGV[1])\n"
    "if not rank then return false end\n"
    "local n = tonumber(ARGV[2])\n"
    "local total = redis.call('ZCARD', KEYS[1])\n"
    "local start = rank - math.floor((n - 1) / 2)\n"
    "if start + n > total then start = total - n end\n"
    "if start < 0 then start = 0 end\n"
    "local a = string.format('%d', start)\n"
    "local b = string.format('%d', start + n - 1)\n"
    "local items\n"
    "if rev then\n"
    "  items = redis.call('ZRANGE', KEYS[1], a, b, 'REV', 'WITHSCORES')\n"
    "else\n"
    "  items = redis.call('ZRANGE', KEYS[1], a, b, 'WITHSCORES')\n"
    "end\n"
    "return {start, items}\n";

/*
 * The most players a window of around() asks for: more than any sorted set can hold in memory,
 * and still exact in the script's Lua numbers (doubles), whose string.format('%d') would
 * overflow past 2^63. A larger n means the same: every player there is.
 */
#define AROUND_MAX ((size_t)1 << 53)

struct vmux_leaderboard {
    vmux *m;
    vmux_script *around;
    bool high_first;
    size_t key_len;
    char key[]; /* key_len bytes (binary-safe), then a NUL */
};

static vmux_str key_of(const vmux_leaderboard *lb)
{
    return VMUX_STRN(lb->key, lb->key_len);
}

void vmux_leaderboard_entries_free(vmux_leaderboard_entries *e)
{
    if (e == NULL)
        return;
    vmux__free_items(e->items, e->count, sizeof *e->items,
                     offsetof(vmux_leaderboard_entry, member));
    *e = (vmux_leaderboard_entries){0};
}

/* The arguments vmux_leaderboard_new() refuses: 0, or VMUX_ERR_INVALID_ARG with words for
 * vmux_last_error(); *o gets opts as far as the caller's size goes (abi.h). */
static int check_new(vmux *m, vmux_str key, const vmux_leaderboard_opts *opts,
                     vmux_leaderboard **out, vmux_leaderboard_opts *o)
{
    if (m == NULL || out == NULL)
        return vmux__why_set(VMUX_ERR_INVALID_ARG, "%s is NULL", m == NULL ? "the handle" : "out");
    int rc = vmux__why_str("key", key);
    if (rc == 0 && opts != NULL && vmux__sized_in(o, sizeof *o, opts) != 0)
        rc = vmux__why_sized("opts", opts->size, sizeof *o);
    return rc;
}

/* vmux_leaderboard_new() but for clearing and ending its words. */
static int leaderboard_new(vmux *m, vmux_str key, const vmux_leaderboard_opts *opts,
                           vmux_leaderboard **out)
{
    vmux_leaderboard_opts o = {.size = sizeof o};
    if (out != NULL)
        *out = NULL;
    int rc = check_new(m, key, opts, out, &o);
    if (rc != 0)
        return rc;
    if (vmux__handle_forked(m))
        return VMUX_ERR_FORKED; /* as vmux_lock_new(): every call on it would fail so */
    vmux_leaderboard *lb =
        key.len < SIZE_MAX - sizeof(*lb) ? calloc(1, sizeof(*lb) + key.len + 1) : NULL;
    if (lb == NULL)
        return VMUX_ERR_NOMEM;
    rc = vmux_script_new(VMUX_STR(around_lua), &lb->around);
    if (rc != 0) {
        free(lb);
        return rc;
    }
    lb->m = m;
    lb->high_first = !o.lowest_first;
    if (key.len > 0)
        memcpy(lb->key, key.ptr, key.len);
    lb->key_len = key.len;
    *out = lb;
    return 0;
}

int vmux_leaderboard_new(vmux *m, vmux_str key, const vmux_leaderboard_opts *opts,
                         vmux_leaderboard **out)
{
    vmux__why_begin();
    return vmux__why_end(leaderboard_new(m, key, opts, out));
}

void vmux_leaderboard_free(vmux_leaderboard *lb)
{
    if (lb == NULL)
        return;
    vmux_script_free(lb->around);
    free(lb);
}

int vmux_leaderboard_set(vmux_leaderboard *lb, const vmux_callopts *opts, vmux_str member,
                         double score)
{
    if (lb == NULL)
        return vmux__typed_refuse(opts, "lb is NULL");
    vmux_zmember item = {member, score};
    return vmux_zadd(lb->m, opts, key_of(lb), &item, 1, VMUX_COND_ALWAYS, false, NULL);
}

int vmux_leaderboard_set_best(vmux_leaderboard *lb, const vmux_callopts *opts, vmux_str member,
                              double score, bool *improved)
{
    if (improved != NULL)
        *improved = false;
    if (lb == NULL)
        return vmux__typed_refuse(opts, "lb is NULL");
    vmux_zmember item = {member, score};
    vmux_cond better = lb->high_first ? VMUX_COND_GT : VMUX_COND_LT;
    int64_t changed = 0;
    int rc = vmux_zadd(lb->m, opts, key_of(lb), &item, 1, better, true, &changed);
    if (improved != NULL)
        *improved = rc == 0 && changed == 1;
    return rc;
}

int vmux_leaderboard_incr(vmux_leaderboard *lb, const vmux_callopts *opts, vmux_str member,
                          double delta, double *score)
{
    if (score != NULL)
        *score = 0;
    if (lb == NULL)
        return vmux__typed_refuse(opts, "lb is NULL");
    return vmux_zincrby(lb->m, opts, key_of(lb), member, delta, score);
}

int vmux_leaderboard_remove(vmux_leaderboard *lb, const vmux_callopts *opts, vmux_str member,
                            bool *removed)
{
    if (removed != NULL)
        *removed = false;
    if (lb == NULL)
        return vmux__typed_refuse(opts, "lb is NULL");
    int64_t n = 0;
    int rc = vmux_zrem(lb->m, opts, key_of(lb), &member, 1, &n);
    if (removed != NULL)
        *removed = rc == 0 && n == 1;
    return rc;
}

int vmux_leaderboard_count(vmux_leaderboard *lb, const vmux_callopts *opts, int64_t *count)
{
    if (count != NULL)
        *count = 0;
    if (lb == NULL)
        return vmux__typed_refuse(opts, "lb is NULL");
    return vmux_zcard(lb->m, opts, key_of(lb), count);
}

int vmux_leaderboard_get(vmux_leaderboard *lb, const vmux_callopts *opts, vmux_str member,
                         int64_t *rank, double *score, bool *found)
{
    if (rank != NULL)
        *rank = 0;
    if (score != NULL)
        *score = 0;
    if (found != NULL)
        *found = false;
    if (lb == NULL)
        return vmux__typed_refuse(opts, "lb is NULL");
    int64_t r = 0;
    double sc = 0;
    bool f = false;
    int rc = lb->high_first ? vmux_zrevrank(lb->m, opts, key_of(lb), member, &r, &sc, &f)
                            : vmux_zrank(lb->m, opts, key_of(lb), member, &r, &sc, &f);
    if (rc != 0 || !f)
        return rc;
    if (rank != NULL)
        *rank = r + 1;
    if (score != NULL)
        *score = sc;
    if (found != NULL)
        *found = true;
    return 0;
}

/* Moves scored items into *out as entries ranked from first_index + 1; frees *items. */
static int to_entries(vmux_scored_array *items, int64_t first_index, vmux_leaderboard_entries *out)
{
    vmux_leaderboard_entry *e = NULL;
    if (items->count > 0 && (e = calloc(items->count, sizeof(*e))) == NULL) {
        vmux_scored_array_free(items);
        return VMUX_ERR_NOMEM;
    }
    for (size_t i = 0; i < items->count; i++) {
        e[i].member = items->items[i].member;
        e[i].score = items->items[i].score;
        e[i].rank = first_index + (int64_t)i + 1;
    }
    out->items = e;
    out->count = items->count;
    free(items->items); /* the members now belong to the entries */
    items->items = NULL;
    items->count = 0;
    return 0;
}

int vmux_leaderboard_range(vmux_leaderboard *lb, const vmux_callopts *opts, int64_t first_rank,
                           size_t n, vmux_leaderboard_entries *out)
{
    if (out == NULL) { /* the caller drops the entries (docs/api-conventions.md) */
        vmux_leaderboard_entries dropped;
        int rc = vmux_leaderboard_range(lb, opts, first_rank, n, &dropped);
        vmux_leaderboard_entries_free(&dropped);
        return rc;
    }
    memset(out, 0, sizeof(*out));
    if (lb == NULL)
        return vmux__typed_refuse(opts, "lb is NULL");
    if (first_rank < 1)
        return vmux__typed_refuse(opts, "first_rank is %" PRId64 ": ranks start at 1", first_rank);
    if (n == 0)
        return vmux__typed_refuse(opts, "n is 0: must be at least 1");
    int64_t start = first_rank - 1;
    /* The last index, saturated: a page past INT64_MAX's rank only has fewer players (none). */
    uint64_t more = (uint64_t)n - 1;
    int64_t stop = more > (uint64_t)(INT64_MAX - start) ? INT64_MAX : start + (int64_t)more;
    vmux_zrange_opts range = VMUX_INIT(vmux_zrange_opts, .start = VMUX_ZBOUND_INDEX(start),
                                       .stop = VMUX_ZBOUND_INDEX(stop), .rev = lb->high_first);
    vmux_scored_array items;
    int rc = vmux_zrange_withscores(lb->m, opts, key_of(lb), &range, &items);
    return rc != 0 ? rc : to_entries(&items, start, out);
}

int vmux_leaderboard_top(vmux_leaderboard *lb, const vmux_callopts *opts, size_t n,
                         vmux_leaderboard_entries *out)
{
    return vmux_leaderboard_range(lb, opts, 1, n, out);
}

/* Reads the around script's {first index, [member, score...]} into *out (entries). */
static int conv_around(const vmux_reply *r, void *out)
{
    const vmux_reply *first = vmux_reply_element(r, 0);
    const vmux_reply *flat = vmux_reply_element(r, 1);
    if (vmux_reply_len(r) != 2 || first == NULL || flat == NULL ||
        vmux_reply_get_kind(first) != VMUX_REPLY_INTEGER || vmux_reply_integer(first) < 0)
        return VMUX_ERR_PROTOCOL;
    vmux_scored_array items;
    int rc = vmux_reply_to_scored_array(flat, &items);
    return rc != 0 ? rc : to_entries(&items, vmux_reply_integer(first), out);
}

static void release_entries(void *e)
{
    vmux_leaderboard_entries_free(e);
}

int vmux_leaderboard_around(vmux_leaderboard *lb, const vmux_callopts *opts, vmux_str member,
                            size_t n, vmux_leaderboard_entries *out, bool *found)
{
    if (out != NULL)
        memset(out, 0, sizeof(*out));
    if (found != NULL)
        *found = false;
    if (lb == NULL)
        return vmux__typed_refuse(opts, "lb is NULL");
    if (n == 0)
        return vmux__typed_refuse(opts, "n is 0: must be at least 1");
    if (vmux__str_refuse(opts, "member", member) != 0)
        return VMUX_ERR_INVALID_ARG;
    char count[24];
    snprintf(count, sizeof count, "%zu", n < AROUND_MAX ? n : AROUND_MAX);
    vmux_str key = key_of(lb);
    vmux_str args[3] = {member, VMUX_STR(count), VMUX_STR(lb->high_first ? "1" : "0")};
    vmux_callopts o = vmux__callopts_copy(opts);
    o.flags |= VMUX_CALL_RETRY_SAFE; /* it only reads */
    struct vmux_maybe w =
        vmux__maybe(VMUX_REPLY_ARRAY, conv_around, out, sizeof(*out), release_entries);
    vmux_reply *r = NULL;
    int rc = vmux_script_run(lb->m, &o, lb->around, &key, 1, args, 3, &r);
    rc = vmux__reply_into(rc, r, vmux__conv_maybe, &w, 0, NULL);
    if (found != NULL)
        *found = rc == 0 && w.found;
    return rc;
}
