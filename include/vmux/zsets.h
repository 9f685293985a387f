/** @file
 * Sorted-set commands, typed (leaderboards): ZADD (with a condition, CH, and INCR), ZINCRBY,
 * ZSCORE, ZMSCORE, ZRANK/ZREVRANK (with the score), ZRANGE (by index, score or lex, REV,
 * LIMIT, WITHSCORES), ZRANGESTORE, ZREM, ZREMRANGEBYRANK, ZREMRANGEBYSCORE, ZREMRANGEBYLEX,
 * ZCARD, ZCOUNT, ZLEXCOUNT, ZRANDMEMBER (with a count, WITHSCORES), ZPOPMIN/ZPOPMAX, ZUNION,
 * ZINTER (WEIGHTS, AGGREGATE, WITHSCORES), ZDIFF (WITHSCORES), ZINTERCARD (LIMIT), ZUNIONSTORE,
 * ZINTERSTORE (WEIGHTS, AGGREGATE), ZDIFFSTORE. ZSCAN is an iterator: vmux_zscan_begin() and
 * vmux_zscan_next_scored() in scan.h. BZPOPMIN/BZPOPMAX are in blocking.h.
 *
 * Every function here is synchronous unless named *_async, may be called from any thread but
 * the I/O thread, and returns 0, VMUX_ERR_SERVER (the server refused, such as WRONGTYPE or an
 * increment whose result is not a number; the message goes to opts->errbuf when given),
 * VMUX_ERR_INVALID_ARG for bad input (nothing is sent: a NULL array with n > 0, n == 0, a NaN
 * score or weight, a condition, bound kind or aggregate outside its enum, bounds of a kind the
 * command does not take, contradictory options, an options struct not made with VMUX_INIT, a
 * ZRANDMEMBER count the server would refuse; opts->errbuf, when given, says which argument broke
 * which rule: "invalid argument: increment is NaN: a score must be a number"), or a transport error
 * as vmux_call() (call.h). opts may be NULL. Out-parameters are filled only on success and zeroed
 * otherwise; a NULL out-parameter drops that result. Keys and members are binary-safe (types.h). A
 * missing key is an empty sorted set. Scores are doubles; -INFINITY and INFINITY are the server's
 * "-inf" and "+inf".
 *
 * A leaderboard, the best ten with their scores, and one player's rank (0 is the best):
 *
 *     vmux_zrange_opts top = VMUX_INIT(vmux_zrange_opts, .start = VMUX_ZBOUND_INDEX(0),
 *                                      .stop = VMUX_ZBOUND_INDEX(9), .rev = true);
 *     vmux_scored_array best;
 *     vmux_zrange_withscores(m, NULL, VMUX_STR("board"), &top, &best);
 *     ...
 *     vmux_scored_array_free(&best);
 *     int64_t rank; double score; bool found;
 *     vmux_zrevrank(m, NULL, VMUX_STR("board"), VMUX_STR("alice"), &rank, &score, &found);
 *
 * Retry-safety (call.h, VMUX_CALL_RETRY_SAFE): ZADD with VMUX_COND_ALWAYS (CH allowed), ZREM,
 * ZREMRANGEBYSCORE, ZREMRANGEBYLEX and every read (ZSCORE, ZMSCORE, ZRANK, ZREVRANK, ZRANGE,
 * ZCARD, ZCOUNT, ZLEXCOUNT, ZRANDMEMBER, ZUNION, ZINTER, ZDIFF, ZINTERCARD: they change nothing,
 * so a second run answers as the first) are idempotent and marked so; ZREMRANGEBYRANK is marked
 * only for a range that reaches an end of the set (a second run then removes nothing more), and
 * ZRANGESTORE, ZUNIONSTORE, ZINTERSTORE and ZDIFFSTORE only when the destination is none of
 * their sources (a second run then stores the same set). ZADD with a condition (its count
 * reports the condition), ZADD INCR, ZINCRBY and ZPOPMIN/ZPOPMAX are never sent twice.
 *
 * Cluster: ZRANGESTORE, ZUNIONSTORE, ZINTERSTORE and ZDIFFSTORE use their keys together, so the
 * destination and every source must be in one slot, as must the keys of ZUNION, ZINTER, ZDIFF
 * and ZINTERCARD (give them a common {hash tag}); keys in
 * several slots are VMUX_ERR_CROSSSLOT, nothing sent, with two of the keys and their slots in
 * opts->errbuf.
 */
#ifndef VMUX_ZSETS_H
#define VMUX_ZSETS_H

#include <math.h>
#include <stdbool.h>
#include <stdint.h>

#include "vmux/call.h"
#include "vmux/export.h"
#include "vmux/types.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A member and its score, going in (ZADD). The member is borrowed, as any vmux_str. */
typedef struct vmux_zmember {
    vmux_str member;
    double score;
} vmux_zmember;

/**
 * ZADD key [cond] [CH] score member ...: adds or updates the n members of items (n >= 1) when
 * cond holds (types.h; ZADD takes every vmux_cond): VMUX_COND_NX only adds new members, never
 * updates; VMUX_COND_XX only updates existing members, never adds; VMUX_COND_GT and
 * VMUX_COND_LT update only to a greater (lower) score and still add new members; VMUX_COND_XX_GT
 * and VMUX_COND_XX_LT update existing members only, only upwards (downwards). *count is the
 * number added, or with count_changed (CH) the number added or updated.
 */
VMUX_EXPORT int vmux_zadd(vmux *m, const vmux_callopts *opts, vmux_str key,
                          const vmux_zmember *items, size_t n, vmux_cond cond, bool count_changed,
                          int64_t *count);
/** ZADD asynchronously: cb gets the count (vmux_reply_to_int() reads it). */
VMUX_EXPORT int vmux_zadd_async(vmux *m, const vmux_callopts *opts, vmux_str key,
                                const vmux_zmember *items, size_t n, vmux_cond cond,
                                bool count_changed, vmux_reply_cb cb, void *userdata);
/**
 * ZADD key [cond] INCR increment member: adds increment to member's score (a new member starts
 * at 0) when cond holds (as vmux_zadd()). *score is the new score and *applied true; when the
 * condition stopped it (the server's nil), *score is 0 and *applied false.
 */
VMUX_EXPORT int vmux_zadd_incr(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_str member,
                               double increment, vmux_cond cond, double *score, bool *applied);
/** ZINCRBY key increment member: *score is the new score (a new member starts at 0). */
VMUX_EXPORT int vmux_zincrby(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_str member,
                             double increment, double *score);

/** ZSCORE key member: *score and *found true, or 0 and false when there is no such member. */
VMUX_EXPORT int vmux_zscore(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_str member,
                            double *score, bool *found);
/** ZSCORE asynchronously: cb gets the score or nil (vmux_reply_to_score() reads it). */
VMUX_EXPORT int vmux_zscore_async(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_str member,
                                  vmux_reply_cb cb, void *userdata);
/**
 * ZMSCORE key members...: scores[i] and found[i] for members[i], as vmux_zscore(). scores and
 * found are the caller's arrays of n elements (nothing to free); either may be NULL. n >= 1.
 */
VMUX_EXPORT int vmux_zmscore(vmux *m, const vmux_callopts *opts, vmux_str key,
                             const vmux_str *members, size_t n, double *scores, bool *found);
/**
 * Reads a reply of ZSCORE (or of ZADD INCR): *score and *found true for a number, 0 and false
 * for nil. Returns as the converters of types.h.
 */
VMUX_EXPORT int vmux_reply_to_score(const vmux_reply *r, double *score, bool *found);

/**
 * ZRANK key member: *rank is member's position by ascending score (0 first), *found whether it
 * is a member. When score is not NULL, asks for it too (WITHSCORE) and stores it there. All are
 * 0 / false when there is no such member.
 */
VMUX_EXPORT int vmux_zrank(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_str member,
                           int64_t *rank, double *score, bool *found);
/** ZREVRANK: as vmux_zrank(), by descending score (0 is the highest: a leaderboard's rank). */
VMUX_EXPORT int vmux_zrevrank(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_str member,
                              int64_t *rank, double *score, bool *found);

/** One end of a range: a position, a score or a member. Make them with the macros below. */
typedef enum vmux_zbound_kind {
    VMUX_ZBOUND_KIND_INDEX = 0,           /**< index: a position (0 first, -1 last) */
    VMUX_ZBOUND_KIND_SCORE = 1,           /**< score, included */
    VMUX_ZBOUND_KIND_SCORE_EXCLUSIVE = 2, /**< score, excluded: "(score" */
    VMUX_ZBOUND_KIND_LEX = 3,             /**< member, included: "[member" */
    VMUX_ZBOUND_KIND_LEX_EXCLUSIVE = 4,   /**< member, excluded: "(member" */
    VMUX_ZBOUND_KIND_LEX_MIN = 5,         /**< below every member: "-" */
    VMUX_ZBOUND_KIND_LEX_MAX = 6,         /**< above every member: "+" */
} vmux_zbound_kind;

/** One bound of a ZRANGE: its kind and the field that kind reads. */
typedef struct vmux_zbound {
    vmux_zbound_kind kind;
    int64_t index;   /**< VMUX_ZBOUND_KIND_INDEX */
    double score;    /**< VMUX_ZBOUND_KIND_SCORE*: -INFINITY and INFINITY are "-inf" and "+inf" */
    vmux_str member; /**< VMUX_ZBOUND_KIND_LEX and _LEX_EXCLUSIVE (borrowed) */
} vmux_zbound;

/** @{ */
/** A vmux_zbound of each kind; the LEX ones take a vmux_str (VMUX_STR("m")), not a C string. */
#define VMUX_ZBOUND_INDEX(i)                                                                       \
    VMUX_LITERAL(vmux_zbound, VMUX_ZBOUND_KIND_INDEX, VMUX_AS(int64_t, i), 0.0, {NULL, 0})
#define VMUX_ZBOUND_SCORE(s)                                                                       \
    VMUX_LITERAL(vmux_zbound, VMUX_ZBOUND_KIND_SCORE, 0, VMUX_AS(double, s), {NULL, 0})
#define VMUX_ZBOUND_SCORE_EXCL(s)                                                                  \
    VMUX_LITERAL(vmux_zbound, VMUX_ZBOUND_KIND_SCORE_EXCLUSIVE, 0, VMUX_AS(double, s), {NULL, 0})
#define VMUX_ZBOUND_NEG_INF VMUX_ZBOUND_SCORE(-INFINITY)
#define VMUX_ZBOUND_POS_INF VMUX_ZBOUND_SCORE(INFINITY)
#define VMUX_ZBOUND_LEX(s) VMUX_LITERAL(vmux_zbound, VMUX_ZBOUND_KIND_LEX, 0, 0.0, (s))
#define VMUX_ZBOUND_LEX_EXCL(s)                                                                    \
    VMUX_LITERAL(vmux_zbound, VMUX_ZBOUND_KIND_LEX_EXCLUSIVE, 0, 0.0, (s))
#define VMUX_ZBOUND_LEX_MIN VMUX_LITERAL(vmux_zbound, VMUX_ZBOUND_KIND_LEX_MIN, 0, 0.0, {NULL, 0})
#define VMUX_ZBOUND_LEX_MAX VMUX_LITERAL(vmux_zbound, VMUX_ZBOUND_KIND_LEX_MAX, 0, 0.0, {NULL, 0})
/** @} */

/**
 * What ZRANGE returns. The kind of the bounds chooses the range: two indexes select by
 * position, two scores by score (BYSCORE), two lex bounds by member (BYLEX; for members that
 * all have the same score); mixing kinds is VMUX_ERR_INVALID_ARG.
 *
 * start, stop: the range, both ends as given. As with the server, with rev the range is
 *              written from the high end: for scores and members start is then the higher
 *              bound (VMUX_ZBOUND_POS_INF .. VMUX_ZBOUND_NEG_INF); for indexes, 0 is then the
 *              highest score.
 * rev:         highest score first (REV).
 * limit:       by score or by member only: skip offset (>= 0) matching members, then return at
 *              most count of them (count < 0: all the rest) (LIMIT offset count).
 */
typedef struct vmux_zrange_opts {
    size_t size; /**< sized struct: make it with VMUX_INIT(vmux_zrange_opts, ...) (abi.h) */
    vmux_zbound start, stop;
    bool rev;
    bool limit;
    int64_t offset, count;
} vmux_zrange_opts;

/** ZRANGE key ... : the members in range, in order. range NULL means every member (0, -1). */
VMUX_EXPORT int vmux_zrange(vmux *m, const vmux_callopts *opts, vmux_str key,
                            const vmux_zrange_opts *range, vmux_bytes_array *members);
/** ZRANGE key ... WITHSCORES: the members in range with their scores. Not by member (BYLEX). */
VMUX_EXPORT int vmux_zrange_withscores(vmux *m, const vmux_callopts *opts, vmux_str key,
                                       const vmux_zrange_opts *range, vmux_scored_array *items);
/**
 * ZRANGE asynchronously: cb gets the members (vmux_reply_to_bytes_array() reads them) or, with
 * withscores, members and scores (vmux_reply_to_scored_array()).
 */
VMUX_EXPORT int vmux_zrange_async(vmux *m, const vmux_callopts *opts, vmux_str key,
                                  const vmux_zrange_opts *range, bool withscores, vmux_reply_cb cb,
                                  void *userdata);

/**
 * ZRANGESTORE dst src ...: stores at dst the members of src that ZRANGE src ... would return
 * (range as for vmux_zrange(); NULL: every member), with their scores, replacing whatever dst
 * held; *count is how many. An empty result deletes dst. On a cluster dst and src must share a
 * slot.
 */
VMUX_EXPORT int vmux_zrangestore(vmux *m, const vmux_callopts *opts, vmux_str dst, vmux_str src,
                                 const vmux_zrange_opts *range, int64_t *count);

/** ZREM key members...: *removed is how many were members. n >= 1. */
VMUX_EXPORT int vmux_zrem(vmux *m, const vmux_callopts *opts, vmux_str key, const vmux_str *members,
                          size_t n, int64_t *removed);
/** ZCARD key: the number of members, 0 for a missing key. */
VMUX_EXPORT int vmux_zcard(vmux *m, const vmux_callopts *opts, vmux_str key, int64_t *count);
/** ZCOUNT key min max: the number of members with a score in range; both bounds are scores. */
VMUX_EXPORT int vmux_zcount(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_zbound min,
                            vmux_zbound max, int64_t *count);
/**
 * ZLEXCOUNT key min max: the number of members in range by member (for members that all have
 * the same score); both bounds are lex bounds (VMUX_ZBOUND_LEX*).
 */
VMUX_EXPORT int vmux_zlexcount(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_zbound min,
                               vmux_zbound max, int64_t *count);

/**
 * ZREMRANGEBYRANK key start stop: removes the members at positions start..stop by ascending
 * score, both included (0 first, -1 last, as vmux_zrange() by index); *removed is how many.
 * Retry-safe only when the range reaches an end of the set, as a capped leaderboard's trim
 * does: start 0 with a negative stop (0 -11 keeps the ten highest), or start >= 0 with stop -1
 * (10 -1 keeps the ten lowest); a second run of those removes nothing more. Another range (0 9,
 * the ten lowest, or -10 -1) removes more each time it runs, and is never sent twice.
 */
VMUX_EXPORT int vmux_zremrangebyrank(vmux *m, const vmux_callopts *opts, vmux_str key,
                                     int64_t start, int64_t stop, int64_t *removed);
/** ZREMRANGEBYSCORE key min max: removes the members with a score in range (two score bounds). */
VMUX_EXPORT int vmux_zremrangebyscore(vmux *m, const vmux_callopts *opts, vmux_str key,
                                      vmux_zbound min, vmux_zbound max, int64_t *removed);
/** ZREMRANGEBYLEX key min max: removes the members in range by member (two lex bounds). */
VMUX_EXPORT int vmux_zremrangebylex(vmux *m, const vmux_callopts *opts, vmux_str key,
                                    vmux_zbound min, vmux_zbound max, int64_t *removed);

/**
 * ZRANDMEMBER key: *member is a member picked at random (the set unchanged), ptr NULL for a
 * missing key.
 */
VMUX_EXPORT int vmux_zrandmember(vmux *m, const vmux_callopts *opts, vmux_str key,
                                 vmux_bytes *member);
/**
 * ZRANDMEMBER key count: count > 0 picks up to count distinct members (all of them when the set
 * has no more); count < 0 picks exactly -count members, the same one possibly several times;
 * count 0 picks none. A missing key gives none. INT64_MIN (whose negation the server cannot
 * take) is VMUX_ERR_INVALID_ARG. The server builds all -count of them in memory at once: a huge
 * negative count can exhaust it, as the raw command would.
 */
VMUX_EXPORT int vmux_zrandmember_count(vmux *m, const vmux_callopts *opts, vmux_str key,
                                       int64_t count, vmux_bytes_array *members);
/**
 * ZRANDMEMBER key count WITHSCORES: as vmux_zrandmember_count(), with each member's score. The
 * server takes this count only within INT64_MAX / 2 either way: one beyond is
 * VMUX_ERR_INVALID_ARG.
 */
VMUX_EXPORT int vmux_zrandmember_withscores(vmux *m, const vmux_callopts *opts, vmux_str key,
                                            int64_t count, vmux_scored_array *items);
/**
 * ZPOPMIN key count: removes and returns up to count members with the lowest scores, lowest
 * first. count >= 0.
 */
VMUX_EXPORT int vmux_zpopmin(vmux *m, const vmux_callopts *opts, vmux_str key, int64_t count,
                             vmux_scored_array *items);
/** ZPOPMAX key count: as vmux_zpopmin(), the highest scores, highest first. */
VMUX_EXPORT int vmux_zpopmax(vmux *m, const vmux_callopts *opts, vmux_str key, int64_t count,
                             vmux_scored_array *items);

/** How ZUNION(STORE) and ZINTER(STORE) combine a member's scores from several sets (AGGREGATE). */
typedef enum vmux_zaggregate {
    VMUX_ZAGGREGATE_SUM = 0, /**< their (weighted) sum: the server's default */
    VMUX_ZAGGREGATE_MIN = 1, /**< the lowest */
    VMUX_ZAGGREGATE_MAX = 2, /**< the highest */
} vmux_zaggregate;

/**
 * How ZUNION(STORE) and ZINTER(STORE) weigh and combine the sources' scores; NULL means every
 * default (weights 1, summed).
 *
 * weights:   NULL (every weight 1), or the caller's array of n weights, one per source in order
 *            (WEIGHTS): each score of keys[i] is multiplied by weights[i] before they are
 *            combined. A NaN is VMUX_ERR_INVALID_ARG; -INFINITY and INFINITY are sent.
 * aggregate: VMUX_ZAGGREGATE_SUM (0), _MIN or _MAX (AGGREGATE).
 */
typedef struct vmux_zstore_opts {
    size_t size; /**< sized struct: make it with VMUX_INIT(vmux_zstore_opts, ...) (abi.h) */
    const double *weights;
    vmux_zaggregate aggregate;
} vmux_zstore_opts;

/**
 * ZUNIONSTORE dst n keys... [WEIGHTS ...] [AGGREGATE ...]: stores at dst the members of any of
 * the n sorted sets (n >= 1; a plain set counts as one with every score 1), each with its
 * sources' scores weighted and combined by store (NULL: summed), replacing whatever dst held.
 * *count is the number of members stored; an empty result deletes dst. Retry-safe unless dst is
 * one of keys. On a cluster dst and keys must share a slot.
 */
VMUX_EXPORT int vmux_zunionstore(vmux *m, const vmux_callopts *opts, vmux_str dst,
                                 const vmux_str *keys, size_t n, const vmux_zstore_opts *store,
                                 int64_t *count);
/** ZINTERSTORE: as vmux_zunionstore(), the members of every one of the n sets. */
VMUX_EXPORT int vmux_zinterstore(vmux *m, const vmux_callopts *opts, vmux_str dst,
                                 const vmux_str *keys, size_t n, const vmux_zstore_opts *store,
                                 int64_t *count);
/**
 * ZDIFFSTORE dst n keys...: stores at dst the members of keys[0] that are in none of the other
 * sets, with their scores in keys[0]; as vmux_zunionstore() otherwise (no weights: the server
 * takes none).
 */
VMUX_EXPORT int vmux_zdiffstore(vmux *m, const vmux_callopts *opts, vmux_str dst,
                                const vmux_str *keys, size_t n, int64_t *count);

/**
 * ZUNION n keys... [WEIGHTS ...] [AGGREGATE ...]: the members of any of the n sorted sets (n >=
 * 1; a plain set counts as one with every score 1), in *members by their combined score, lowest
 * first (ties by member), weighted and combined as vmux_zunionstore() would store them; nothing
 * is written. The caller frees *members with vmux_bytes_array_free(). On a cluster the keys must
 * share a slot.
 */
VMUX_EXPORT int vmux_zunion(vmux *m, const vmux_callopts *opts, const vmux_str *keys, size_t n,
                            const vmux_zstore_opts *store, vmux_bytes_array *members);
/**
 * ZUNION ... WITHSCORES: as vmux_zunion(), with each member's combined score, in *items as
 * vmux_zrange_withscores() gives them (freed with vmux_scored_array_free()).
 */
VMUX_EXPORT int vmux_zunion_withscores(vmux *m, const vmux_callopts *opts, const vmux_str *keys,
                                       size_t n, const vmux_zstore_opts *store,
                                       vmux_scored_array *items);
/** ZINTER: as vmux_zunion(), the members of every one of the n sets. */
VMUX_EXPORT int vmux_zinter(vmux *m, const vmux_callopts *opts, const vmux_str *keys, size_t n,
                            const vmux_zstore_opts *store, vmux_bytes_array *members);
/** ZINTER ... WITHSCORES: as vmux_zunion_withscores(), the members of every one of the n sets. */
VMUX_EXPORT int vmux_zinter_withscores(vmux *m, const vmux_callopts *opts, const vmux_str *keys,
                                       size_t n, const vmux_zstore_opts *store,
                                       vmux_scored_array *items);
/**
 * ZDIFF n keys...: the members of keys[0] that are in none of the other sets, by their score in
 * keys[0]; as vmux_zunion() otherwise (no weights or aggregate: the server takes none).
 */
VMUX_EXPORT int vmux_zdiff(vmux *m, const vmux_callopts *opts, const vmux_str *keys, size_t n,
                           vmux_bytes_array *members);
/** ZDIFF ... WITHSCORES: as vmux_zdiff(), with their scores in keys[0]. */
VMUX_EXPORT int vmux_zdiff_withscores(vmux *m, const vmux_callopts *opts, const vmux_str *keys,
                                      size_t n, vmux_scored_array *items);
/**
 * ZINTERCARD n keys... [LIMIT limit]: *count is the number of members in every one of the n sets
 * (the size of vmux_zinter()'s answer, without sending it). limit > 0 stops counting at limit
 * (LIMIT: *count is then at most limit); 0 counts them all; < 0 is VMUX_ERR_INVALID_ARG.
 */
VMUX_EXPORT int vmux_zintercard(vmux *m, const vmux_callopts *opts, const vmux_str *keys, size_t n,
                                int64_t limit, int64_t *count);

#ifdef __cplusplus
}
#endif

#endif
