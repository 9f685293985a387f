/* Sorted-set commands (zsets.h). */
#include "vmux/zsets.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/typed.h"
#include "core/cnum.h"
#include "core/sized.h"
#include "vmux/error.h"

/*
 * Scores are written as the server writes them, "-inf" and "+inf" included, with enough
 * digits to come back as the same double. NaN has no meaning to the server: false.
 */
static bool format_score(char *buf, size_t cap, const char *prefix, double v)
{
    if (isnan(v))
        return false;
    if (isinf(v))
        snprintf(buf, cap, "%s%s", prefix, v < 0 ? "-inf" : "+inf");
    else {
        int n = snprintf(buf, cap, "%s", prefix);
        vmux__fmt_g(buf + n, cap - (size_t)n, 17, v); /* in the C locale: the server reads a '.' */
    }
    return true;
}

/* The text of a score or bound argument, which must live until the command is sent. */
struct arg_text {
    char buf[48];
    char *heap; /* a lex bound: its bracket and the member */
    const char *ptr;
    size_t len;
};

static void arg_text_free(struct arg_text *t)
{
    free(t->heap);
    t->heap = NULL;
}

static int text_lex(struct arg_text *t, char bracket, vmux_str member)
{
    if (member.ptr == NULL && member.len > 0)
        return VMUX_ERR_INVALID_ARG;
    t->heap = member.len < SIZE_MAX ? malloc(member.len + 1) : NULL; /* the bracket, then it */
    if (t->heap == NULL)
        return VMUX_ERR_NOMEM;
    t->heap[0] = bracket;
    if (member.len > 0)
        memcpy(t->heap + 1, member.ptr, member.len);
    t->ptr = t->heap;
    t->len = member.len + 1;
    return 0;
}

static int text_score(struct arg_text *t, const char *prefix, double score)
{
    if (!format_score(t->buf, sizeof(t->buf), prefix, score))
        return VMUX_ERR_INVALID_ARG;
    t->ptr = t->buf;
    t->len = strlen(t->buf);
    return 0;
}

static int text_word(struct arg_text *t, const char *word)
{
    t->ptr = word;
    t->len = strlen(word);
    return 0;
}

/* The argument text of a bound; on error nothing is left to free. */
static int bound_text(struct arg_text *t, const vmux_zbound *b)
{
    memset(t, 0, sizeof(*t));
    switch (b->kind) {
    case VMUX_ZBOUND_KIND_INDEX:
        snprintf(t->buf, sizeof(t->buf), "%" PRId64, b->index);
        return text_word(t, t->buf);
    case VMUX_ZBOUND_KIND_SCORE:
        return text_score(t, "", b->score);
    case VMUX_ZBOUND_KIND_SCORE_EXCLUSIVE:
        return text_score(t, "(", b->score);
    case VMUX_ZBOUND_KIND_LEX:
        return text_lex(t, '[', b->member);
    case VMUX_ZBOUND_KIND_LEX_EXCLUSIVE:
        return text_lex(t, '(', b->member);
    case VMUX_ZBOUND_KIND_LEX_MIN:
        return text_word(t, "-");
    case VMUX_ZBOUND_KIND_LEX_MAX:
        return text_word(t, "+");
    }
    return VMUX_ERR_INVALID_ARG;
}

/* What a range is over, from the kind of its bounds. */
enum range_by { BY_INDEX, BY_SCORE, BY_LEX, BY_INVALID };

static enum range_by range_by(vmux_zbound_kind kind)
{
    switch (kind) {
    case VMUX_ZBOUND_KIND_INDEX:
        return BY_INDEX;
    case VMUX_ZBOUND_KIND_SCORE:
    case VMUX_ZBOUND_KIND_SCORE_EXCLUSIVE:
        return BY_SCORE;
    case VMUX_ZBOUND_KIND_LEX:
    case VMUX_ZBOUND_KIND_LEX_EXCLUSIVE:
    case VMUX_ZBOUND_KIND_LEX_MIN:
    case VMUX_ZBOUND_KIND_LEX_MAX:
        return BY_LEX;
    }
    return BY_INVALID;
}

/* Words for a bound (named name: "start", "min") that bound_text() refused. */
static int refuse_bound(const vmux_callopts *opts, const char *name, const vmux_zbound *b)
{
    if (range_by(b->kind) == BY_SCORE)
        return vmux__typed_refuse(opts, "%s.score is NaN: a score bound must be a number", name);
    if (range_by(b->kind) == BY_LEX)
        return vmux__typed_refuse(opts,
                                  "%s.member is at NULL with length %zu (a vmux_str {NULL, len > "
                                  "0} is no string)",
                                  name, b->member.len);
    return vmux__typed_refuse(opts, "%s.kind is %d: none of vmux_zbound_kind", name, (int)b->kind);
}

/*
 * Two bounds of one kind of range (named names[0] and names[1] in the words for opts' error
 * buffer), as text; on error nothing is left to free.
 */
static int bounds_text(const vmux_callopts *opts, const char *const names[2], struct arg_text t[2],
                       const vmux_zbound *lo, const vmux_zbound *hi, enum range_by *by)
{
    *by = range_by(lo->kind);
    if (*by == BY_INVALID || range_by(hi->kind) == BY_INVALID)
        return refuse_bound(opts, names[*by == BY_INVALID ? 0 : 1], *by == BY_INVALID ? lo : hi);
    if (*by != range_by(hi->kind))
        return vmux__typed_refuse(opts,
                                  "%s.kind is %d and %s.kind is %d: both bounds must be of one "
                                  "kind of range (index, score or lex)",
                                  names[0], (int)lo->kind, names[1], (int)hi->kind);
    int rc = bound_text(&t[0], lo);
    if (rc != 0)
        return rc == VMUX_ERR_INVALID_ARG ? refuse_bound(opts, names[0], lo) : rc;
    if ((rc = bound_text(&t[1], hi)) != 0) {
        arg_text_free(&t[0]);
        return rc == VMUX_ERR_INVALID_ARG ? refuse_bound(opts, names[1], hi) : rc;
    }
    return 0;
}

static bool zadd_cond_valid(vmux_cond cond)
{
    return (unsigned)cond <= VMUX_COND_XX_LT;
}

/* Words for a condition zadd_cond_valid() refused. */
static int refuse_cond(const vmux_callopts *opts, vmux_cond cond)
{
    return vmux__typed_refuse(opts, "cond is %d: none of vmux_cond", (int)cond);
}

/* ZADD key, its condition and CH; false (nothing built) for an unknown condition. */
static bool zadd_head(struct vmux_args *a, vmux_str key, vmux_cond cond, bool ch)
{
    if (!zadd_cond_valid(cond))
        return false;
    vmux__args_key_command(a, "ZADD", key);
    vmux__args_cond(a, cond, VMUX_COND_XX_LT);
    if (ch)
        vmux__args_cstr(a, "CH");
    return true;
}

/*
 * Builds ZADD with every score/member pair. The scores' text lives in *scores (one malloc'ed
 * block, since a leaderboard update can carry any number of them), which the caller frees
 * after sending; nothing is left to free on error.
 */
static int build_zadd(const vmux_callopts *opts, struct vmux_args *a, char (**scores)[32],
                      vmux_str key, const vmux_zmember *items, size_t n, vmux_cond cond, bool ch)
{
    *scores = NULL;
    if (items == NULL || n == 0)
        return vmux__items_refuse(opts, "items", items, n);
    if (!zadd_cond_valid(cond))
        return refuse_cond(opts, cond);
    char(*text)[32] = malloc(n * sizeof(*text));
    if (text == NULL)
        return VMUX_ERR_NOMEM;
    for (size_t i = 0; i < n; i++) {
        if (!format_score(text[i], sizeof(text[i]), "", items[i].score)) {
            free(text);
            return vmux__typed_refuse(opts, "items[%zu].score is NaN: a score must be a number", i);
        }
    }
    zadd_head(a, key, cond, ch);
    for (size_t i = 0; i < n; i++) {
        vmux__args_cstr(a, text[i]);
        vmux__args_str(a, items[i].member);
    }
    *scores = text;
    return 0;
}

int vmux_zadd(vmux *m, const vmux_callopts *opts, vmux_str key, const vmux_zmember *items, size_t n,
              vmux_cond cond, bool count_changed, int64_t *count)
{
    struct vmux_args a;
    char(*scores)[32];
    if (count != NULL)
        *count = 0;
    int rc = build_zadd(opts, &a, &scores, key, items, n, cond, count_changed);
    if (rc != 0)
        return rc;
    rc = vmux__run_int(m, opts, &a, cond == VMUX_COND_ALWAYS, count);
    free(scores);
    return rc;
}

int vmux_zadd_async(vmux *m, const vmux_callopts *opts, vmux_str key, const vmux_zmember *items,
                    size_t n, vmux_cond cond, bool count_changed, vmux_reply_cb cb, void *userdata)
{
    struct vmux_args a;
    char(*scores)[32];
    int rc = build_zadd(opts, &a, &scores, key, items, n, cond, count_changed);
    if (rc != 0)
        return rc;
    rc = vmux__typed_async(m, opts, &a, cond == VMUX_COND_ALWAYS, cb, userdata);
    free(scores);
    return rc;
}

int vmux_reply_to_score(const vmux_reply *r, double *score, bool *found)
{
    double s = 0;
    int rc = 0;
    if (r == NULL)
        rc = VMUX_ERR_INVALID_ARG;
    else if (vmux_reply_get_kind(r) != VMUX_REPLY_NIL)
        rc = vmux_reply_to_double(r, &s);
    if (score != NULL)
        *score = rc == 0 ? s : 0;
    if (found != NULL)
        *found = rc == 0 && vmux_reply_get_kind(r) != VMUX_REPLY_NIL;
    return rc;
}

int vmux_zadd_incr(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_str member,
                   double increment, vmux_cond cond, double *score, bool *applied)
{
    struct vmux_args a;
    char text[32];
    if (score != NULL)
        *score = 0;
    if (applied != NULL)
        *applied = false;
    if (!format_score(text, sizeof(text), "", increment))
        return vmux__typed_refuse(opts, "increment is NaN: a score must be a number");
    if (!zadd_head(&a, key, cond, false))
        return refuse_cond(opts, cond);
    vmux__args_cstr(&a, "INCR");
    vmux__args_cstr(&a, text);
    vmux__args_str(&a, member);
    return vmux__run_score(m, opts, &a, false, score, applied);
}

int vmux_zincrby(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_str member,
                 double increment, double *score)
{
    struct vmux_args a;
    char text[32];
    if (score != NULL)
        *score = 0;
    if (!format_score(text, sizeof(text), "", increment))
        return vmux__typed_refuse(opts, "increment is NaN: a score must be a number");
    vmux__args_key_command(&a, "ZINCRBY", key);
    vmux__args_cstr(&a, text);
    vmux__args_str(&a, member);
    return vmux__run_double(m, opts, &a, false, score);
}

int vmux_zscore(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_str member, double *score,
                bool *found)
{
    struct vmux_args a;
    vmux__args_key_command(&a, "ZSCORE", key);
    vmux__args_str(&a, member);
    return vmux__run_score(m, opts, &a, true, score, found);
}

int vmux_zscore_async(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_str member,
                      vmux_reply_cb cb, void *userdata)
{
    struct vmux_args a;
    vmux__args_key_command(&a, "ZSCORE", key);
    vmux__args_str(&a, member);
    return vmux__typed_async(m, opts, &a, true, cb, userdata);
}

int vmux_zmscore(vmux *m, const vmux_callopts *opts, vmux_str key, const vmux_str *members,
                 size_t n, double *scores, bool *found)
{
    struct vmux_args a;
    struct vmux_each e = {scores, sizeof(*scores), found, n, vmux__conv_double};
    if (!vmux__args_items(&a, "ZMSCORE", &key, members, n))
        return vmux__items_refuse(opts, "members", members, n);
    return vmux__run_each(m, opts, &a, true, &e);
}

/* Where a ZRANK/ZREVRANK reply goes: rank, or [rank, score] WITHSCORE, or nil. */
struct rank_out {
    int64_t rank;
    double score;
    bool found, withscore;
};

static int conv_rank(const vmux_reply *r, void *out)
{
    struct rank_out *o = out;
    if (vmux_reply_get_kind(r) == VMUX_REPLY_NIL)
        return 0;
    if (!o->withscore) {
        int rc = vmux_reply_to_int(r, &o->rank);
        o->found = rc == 0;
        return rc;
    }
    const vmux_reply *rank = vmux_reply_element(r, 0), *score = vmux_reply_element(r, 1);
    if (vmux_reply_len(r) != 2 || vmux_reply_get_kind(r) != VMUX_REPLY_ARRAY ||
        vmux_reply_to_int(rank, &o->rank) != 0 || vmux_reply_to_double(score, &o->score) != 0) {
        *o = (struct rank_out){0};
        return VMUX_ERR_PROTOCOL;
    }
    o->found = true;
    return 0;
}

static int run_rank(vmux *m, const vmux_callopts *opts, const char *cmd, vmux_str key,
                    vmux_str member, int64_t *rank, double *score, bool *found)
{
    struct vmux_args a;
    struct rank_out o = {.withscore = score != NULL};
    vmux__args_key_command(&a, cmd, key);
    vmux__args_str(&a, member);
    if (o.withscore)
        vmux__args_cstr(&a, "WITHSCORE");
    int rc = vmux__typed_run_into(m, opts, &a, true, conv_rank, &o, 0, NULL);
    if (rc != 0)
        o = (struct rank_out){0};
    if (rank != NULL)
        *rank = o.rank;
    if (score != NULL)
        *score = o.score;
    if (found != NULL)
        *found = o.found;
    return rc;
}

int vmux_zrank(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_str member, int64_t *rank,
               double *score, bool *found)
{
    return run_rank(m, opts, "ZRANK", key, member, rank, score, found);
}

int vmux_zrevrank(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_str member, int64_t *rank,
                  double *score, bool *found)
{
    return run_rank(m, opts, "ZREVRANK", key, member, rank, score, found);
}

/* The text of a ZRANGE's bounds, alive until it is sent. */
struct range_text {
    struct arg_text bound[2];
};

static void range_text_free(struct range_text *t)
{
    arg_text_free(&t->bound[0]);
    arg_text_free(&t->bound[1]);
}

/* Words for a range build_zrange() refused after its bounds (LIMIT, or WITHSCORES by lex). */
static int refuse_range(const vmux_callopts *opts, const vmux_zrange_opts *range, enum range_by by)
{
    if (range->limit && by == BY_INDEX)
        return vmux__typed_refuse(opts, "range->limit is set on a range by index: LIMIT takes a "
                                        "range by score or lex");
    if (range->limit && range->offset < 0)
        return vmux__typed_refuse(opts, "range->offset is %" PRId64 ": must be at least 0",
                                  range->offset);
    return vmux__typed_refuse(opts, "a range by lex has no scores to give (WITHSCORES takes a "
                                    "range by index or score)");
}

/*
 * Checks the options and builds ZRANGE key ..., or with dst ZRANGESTORE dst key ...; on error
 * nothing is built or left to free.
 */
static int build_zrange(const vmux_callopts *opts, struct vmux_args *a, struct range_text *t,
                        const vmux_str *dst, vmux_str key, const vmux_zrange_opts *range,
                        bool withscores)
{
    static const char *const names[2] = {"range->start", "range->stop"};
    static const vmux_zrange_opts every = {.size = sizeof(vmux_zrange_opts),
                                           .start = {.kind = VMUX_ZBOUND_KIND_INDEX, .index = 0},
                                           .stop = {.kind = VMUX_ZBOUND_KIND_INDEX, .index = -1}};
    enum range_by by;
    vmux_zrange_opts copy;
    if (range != NULL && vmux__sized_in(&copy, sizeof copy, range) != 0)
        return vmux__sized_refuse(opts, "range", range, sizeof copy);
    range = range != NULL ? &copy : &every; /* no further than the caller's size (abi.h) */
    int rc = bounds_text(opts, names, t->bound, &range->start, &range->stop, &by);
    if (rc != 0)
        return rc;
    if ((range->limit && (by == BY_INDEX || range->offset < 0)) || (withscores && by == BY_LEX)) {
        range_text_free(t);
        return refuse_range(opts, range, by);
    }
    vmux__args_key_command(a, dst != NULL ? "ZRANGESTORE" : "ZRANGE", dst != NULL ? *dst : key);
    if (dst != NULL)
        vmux__args_str(a, key);
    vmux__args_add(a, t->bound[0].ptr, t->bound[0].len);
    vmux__args_add(a, t->bound[1].ptr, t->bound[1].len);
    if (by != BY_INDEX)
        vmux__args_cstr(a, by == BY_SCORE ? "BYSCORE" : "BYLEX");
    if (range->rev)
        vmux__args_cstr(a, "REV");
    if (range->limit) {
        vmux__args_cstr(a, "LIMIT");
        vmux__args_int(a, range->offset);
        vmux__args_int(a, range->count < 0 ? -1 : range->count);
    }
    if (withscores)
        vmux__args_cstr(a, "WITHSCORES");
    return 0;
}

/* ZRANGE into out: a vmux_scored_array WITHSCORES, else a vmux_bytes_array (zeroed first). */
static int run_zrange(vmux *m, const vmux_callopts *opts, vmux_str key,
                      const vmux_zrange_opts *range, bool withscores, void *out)
{
    struct vmux_args a;
    struct range_text t;
    size_t size = withscores ? sizeof(vmux_scored_array) : sizeof(vmux_bytes_array);
    if (out != NULL)
        memset(out, 0, size);
    int rc = build_zrange(opts, &a, &t, NULL, key, range, withscores);
    if (rc != 0)
        return rc;
    rc = withscores ? vmux__run_scored(m, opts, &a, true, out)
                    : vmux__run_bytes_array(m, opts, &a, true, out);
    range_text_free(&t);
    return rc;
}

int vmux_zrange(vmux *m, const vmux_callopts *opts, vmux_str key, const vmux_zrange_opts *range,
                vmux_bytes_array *members)
{
    return run_zrange(m, opts, key, range, false, members);
}

int vmux_zrange_withscores(vmux *m, const vmux_callopts *opts, vmux_str key,
                           const vmux_zrange_opts *range, vmux_scored_array *items)
{
    return run_zrange(m, opts, key, range, true, items);
}

int vmux_zrange_async(vmux *m, const vmux_callopts *opts, vmux_str key,
                      const vmux_zrange_opts *range, bool withscores, vmux_reply_cb cb,
                      void *userdata)
{
    struct vmux_args a;
    struct range_text t;
    int rc = build_zrange(opts, &a, &t, NULL, key, range, withscores);
    if (rc != 0)
        return rc;
    rc = vmux__typed_async(m, opts, &a, true, cb, userdata);
    range_text_free(&t);
    return rc;
}

int vmux_zrangestore(vmux *m, const vmux_callopts *opts, vmux_str dst, vmux_str src,
                     const vmux_zrange_opts *range, int64_t *count)
{
    struct vmux_args a;
    struct range_text t;
    if (count != NULL)
        *count = 0;
    int rc = build_zrange(opts, &a, &t, &dst, src, range, false);
    if (rc != 0)
        return rc;
    /* a second run reads the same src, unless src is where the first one stored */
    rc = vmux__run_int(m, opts, &a, !vmux__str_among(dst, &src, 1), count);
    range_text_free(&t);
    return rc;
}

int vmux_zrem(vmux *m, const vmux_callopts *opts, vmux_str key, const vmux_str *members, size_t n,
              int64_t *removed)
{
    return vmux__run_items_int(m, opts, "ZREM", &key, members, "members", n, true, removed);
}

int vmux_zcard(vmux *m, const vmux_callopts *opts, vmux_str key, int64_t *count)
{
    struct vmux_args a;
    vmux__args_key_command(&a, "ZCARD", key);
    return vmux__run_int(m, opts, &a, true, count);
}

/*
 * cmd key min max with two bounds of one kind, by (a score or a lex range), and an integer reply
 * (ZCOUNT, ZLEXCOUNT, ZREMRANGEBYSCORE, ZREMRANGEBYLEX). Bounds of another kind are refused.
 */
static int run_bounds(vmux *m, const vmux_callopts *opts, const char *cmd, vmux_str key,
                      vmux_zbound min, vmux_zbound max, enum range_by by, int64_t *out)
{
    struct vmux_args a;
    struct arg_text t[2];
    enum range_by got;
    if (out != NULL)
        *out = 0;
    static const char *const names[2] = {"min", "max"};
    int rc = bounds_text(opts, names, t, &min, &max, &got);
    if (rc != 0)
        return rc;
    if (got == by) {
        vmux__args_key_command(&a, cmd, key);
        vmux__args_add(&a, t[0].ptr, t[0].len);
        vmux__args_add(&a, t[1].ptr, t[1].len);
        rc = vmux__run_int(m, opts, &a, true, out); /* a second removal removes nothing more */
    } else {
        rc = vmux__typed_refuse(opts, "min and max are a %s range: %s takes a %s range",
                                got == BY_SCORE ? "score"
                                : got == BY_LEX ? "lex"
                                                : "index",
                                cmd, by == BY_SCORE ? "score" : "lex");
    }
    arg_text_free(&t[0]);
    arg_text_free(&t[1]);
    return rc;
}

int vmux_zcount(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_zbound min, vmux_zbound max,
                int64_t *count)
{
    return run_bounds(m, opts, "ZCOUNT", key, min, max, BY_SCORE, count);
}

int vmux_zlexcount(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_zbound min,
                   vmux_zbound max, int64_t *count)
{
    return run_bounds(m, opts, "ZLEXCOUNT", key, min, max, BY_LEX, count);
}

int vmux_zremrangebyscore(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_zbound min,
                          vmux_zbound max, int64_t *removed)
{
    return run_bounds(m, opts, "ZREMRANGEBYSCORE", key, min, max, BY_SCORE, removed);
}

int vmux_zremrangebylex(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_zbound min,
                        vmux_zbound max, int64_t *removed)
{
    return run_bounds(m, opts, "ZREMRANGEBYLEX", key, min, max, BY_LEX, removed);
}

int vmux_zremrangebyrank(vmux *m, const vmux_callopts *opts, vmux_str key, int64_t start,
                         int64_t stop, int64_t *removed)
{
    struct vmux_args a;
    vmux__args_key_command(&a, "ZREMRANGEBYRANK", key);
    vmux__args_int(&a, start);
    vmux__args_int(&a, stop);
    /* A range from an end leaves fewer members than it starts past: a second run finds none. */
    bool idempotent = (start == 0 && stop < 0) || (start >= 0 && stop == -1);
    return vmux__run_int(m, opts, &a, idempotent, removed);
}

int vmux_zrandmember(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_bytes *member)
{
    struct vmux_args a;
    vmux__args_key_command(&a, "ZRANDMEMBER", key);
    return vmux__run_bytes(m, opts, &a, true, member);
}

int vmux_zrandmember_count(vmux *m, const vmux_callopts *opts, vmux_str key, int64_t count,
                           vmux_bytes_array *members)
{
    struct vmux_args a;
    vmux__args_random_pick(&a, "ZRANDMEMBER", key, count, NULL);
    return vmux__run_bytes_array(m, opts, &a, true, members);
}

int vmux_zrandmember_withscores(vmux *m, const vmux_callopts *opts, vmux_str key, int64_t count,
                                vmux_scored_array *items)
{
    struct vmux_args a;
    vmux__args_random_pick(&a, "ZRANDMEMBER", key, count, "WITHSCORES");
    return vmux__run_scored(m, opts, &a, true, items);
}

static int zpop(vmux *m, const vmux_callopts *opts, const char *cmd, vmux_str key, int64_t count,
                vmux_scored_array *items)
{
    struct vmux_args a;
    vmux__args_key_command(&a, cmd, key);
    vmux__args_count(&a, count);
    return vmux__run_scored(m, opts, &a, false, items);
}

int vmux_zpopmin(vmux *m, const vmux_callopts *opts, vmux_str key, int64_t count,
                 vmux_scored_array *items)
{
    return zpop(m, opts, "ZPOPMIN", key, count, items);
}

int vmux_zpopmax(vmux *m, const vmux_callopts *opts, vmux_str key, int64_t count,
                 vmux_scored_array *items)
{
    return zpop(m, opts, "ZPOPMAX", key, count, items);
}
