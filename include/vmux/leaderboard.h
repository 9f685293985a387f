/** @file
 * Leaderboards: players (members, binary-safe) with scores (doubles) in one Valkey sorted set,
 * read as ranked lists: the top N, one player's rank and score, a page of ranks, and the N
 * players around one player. Built on the sorted-set commands of zsets.h.
 *
 * Ranks are 1-based: rank 1 is the best player, who has the highest score (or, with
 * lowest_first, the lowest: race times, golf). Ranks are ordinal: players with equal scores
 * get different, consecutive ranks, in the server's order for equal scores, which compares
 * members byte by byte (memcmp, then the shorter first):
 *   - highest first (the default): equal scores in descending member order ("bob" before
 *     "alice"), as ZREVRANGE and ZREVRANK order them;
 *   - lowest_first: equal scores in ascending member order ("alice" before "bob").
 * Every call that returns several entries reads them in one atomic step on the server, so the
 * entries and their ranks are one consistent snapshot.
 *
 * Threads: a leaderboard object is immutable once made; any thread but the I/O thread may use
 * it at any time, concurrently. Free it once no call uses it.
 *
 * Every function taking a vmux_callopts (NULL for the defaults) is synchronous and returns 0,
 * VMUX_ERR_INVALID_ARG (bad input, a member with ptr NULL and len > 0 too: types.h; nothing
 * sent; opts->errbuf, when given, says which argument broke which rule: "invalid argument:
 * first_rank is 0: ranks start at 1"), VMUX_ERR_SERVER (the server refused: for instance WRONGTYPE
 * when the key holds something other than a sorted set, or an increment making a score NaN; the
 * message goes to opts->errbuf when given), or a transport error as vmux_call() (call.h;
 * VMUX_ERR_FORKED in a child of fork(), on a leaderboard made in the parent: it keeps no lock of
 * its own, so none is waited for). Out-parameters are filled only on success and zeroed otherwise;
 * a NULL out-parameter drops that result. Reads and vmux_leaderboard_set() are retry-safe;
 * vmux_leaderboard_incr() and vmux_leaderboard_set_best() are never sent twice (call.h). Requires
 * Valkey 7.2 or later (ZREVRANK
 * ... WITHSCORE).
 */
#ifndef VMUX_LEADERBOARD_H
#define VMUX_LEADERBOARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmux/call.h"
#include "vmux/client.h"
#include "vmux/export.h"
#include "vmux/types.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A leaderboard (opaque): vmux_leaderboard_new(), vmux_leaderboard_free(). */
typedef struct vmux_leaderboard vmux_leaderboard;

/** Options of a leaderboard. Make them with VMUX_INIT(vmux_leaderboard_opts, ...) (abi.h). */
typedef struct vmux_leaderboard_opts {
    /** Sized struct (abi.h). */
    size_t size;
    /** Rank the lowest score first (rank 1) instead of the highest. */
    bool lowest_first;
} vmux_leaderboard_opts;

/** One ranked player. */
typedef struct vmux_leaderboard_entry {
    vmux_bytes member; /**< owned */
    double score;
    int64_t rank; /**< 1 is the best */
} vmux_leaderboard_entry;

/** Owned array of ranked players, best first. */
typedef struct vmux_leaderboard_entries {
    vmux_leaderboard_entry *items;
    size_t count;
} vmux_leaderboard_entries;

/** Frees every member and the array, and zeroes it. NULL and a zeroed array are allowed. */
VMUX_EXPORT void vmux_leaderboard_entries_free(vmux_leaderboard_entries *e);

/**
 * Makes a leaderboard kept in the sorted set at key (copied) on handle m (borrowed: it must
 * outlive the leaderboard), with opts (NULL for the defaults; copied). Sends nothing. On
 * success *out owns it; free it with vmux_leaderboard_free(). Errors: VMUX_ERR_INVALID_ARG (NULL
 * m or out, key.ptr NULL with key.len > 0, opts not made with VMUX_INIT), VMUX_ERR_NOMEM,
 * VMUX_ERR_FORKED (m was opened in a parent process). It takes no error buffer: a failure's words
 * go to vmux_last_error() (error.h: "invalid argument: the handle is NULL", "invalid argument: key
 * is at NULL with length 3 (...)"),
 * "" on success.
 */
VMUX_EXPORT int vmux_leaderboard_new(vmux *m, vmux_str key, const vmux_leaderboard_opts *opts,
                                     vmux_leaderboard **out);

/** Frees a leaderboard object (the sorted set stays on the server). NULL is allowed. */
VMUX_EXPORT void vmux_leaderboard_free(vmux_leaderboard *lb);

/** Sets member's score, adding the member if new (ZADD). A NaN score is VMUX_ERR_INVALID_ARG. */
VMUX_EXPORT int vmux_leaderboard_set(vmux_leaderboard *lb, const vmux_callopts *opts,
                                     vmux_str member, double score);

/**
 * Records a result, keeping each member's best: sets member's score only when it is new or the
 * score is better than its current one (higher, or with lowest_first lower: ZADD GT/LT).
 * *improved says whether it was set.
 */
VMUX_EXPORT int vmux_leaderboard_set_best(vmux_leaderboard *lb, const vmux_callopts *opts,
                                          vmux_str member, double score, bool *improved);

/**
 * Adds delta to member's score (a new member starts at 0; ZINCRBY); *score is the new score.
 * Concurrent increments from many clients all count. A NaN delta is VMUX_ERR_INVALID_ARG.
 */
VMUX_EXPORT int vmux_leaderboard_incr(vmux_leaderboard *lb, const vmux_callopts *opts,
                                      vmux_str member, double delta, double *score);

/** Removes member (ZREM); *removed says whether it was there. */
VMUX_EXPORT int vmux_leaderboard_remove(vmux_leaderboard *lb, const vmux_callopts *opts,
                                        vmux_str member, bool *removed);

/** *count is the number of players (ZCARD). */
VMUX_EXPORT int vmux_leaderboard_count(vmux_leaderboard *lb, const vmux_callopts *opts,
                                       int64_t *count);

/**
 * One player's rank and score, read together (ZREVRANK or ZRANK ... WITHSCORE). *found is false
 * (and *rank, *score 0) when member is not on the board.
 */
VMUX_EXPORT int vmux_leaderboard_get(vmux_leaderboard *lb, const vmux_callopts *opts,
                                     vmux_str member, int64_t *rank, double *score, bool *found);

/**
 * The best n players (n >= 1, up to SIZE_MAX: "up to n"), best first: ranks 1 to n, fewer if
 * the board is smaller. Free *out with vmux_leaderboard_entries_free().
 */
VMUX_EXPORT int vmux_leaderboard_top(vmux_leaderboard *lb, const vmux_callopts *opts, size_t n,
                                     vmux_leaderboard_entries *out);

/**
 * A page: the n players (n >= 1, up to SIZE_MAX) from rank first_rank (1..INT64_MAX) on, fewer
 * past the end of the board (none, and no error, when first_rank is beyond it). out as
 * vmux_leaderboard_top().
 */
VMUX_EXPORT int vmux_leaderboard_range(vmux_leaderboard *lb, const vmux_callopts *opts,
                                       int64_t first_rank, size_t n, vmux_leaderboard_entries *out);

/**
 * The n players (n >= 1, up to SIZE_MAX) around member, member included, best first: (n - 1) / 2
 * players ranked above it and the rest below, shifted at either end of the board so that n players
 * come back whenever the board has n (the best player's window starts at rank 1, the last
 * player's ends at the last rank); a board with fewer than n players comes back whole. One atomic
 * step (a script), so the window always contains member. *found is false, and *out empty, when
 * member is not on the board.
 */
VMUX_EXPORT int vmux_leaderboard_around(vmux_leaderboard *lb, const vmux_callopts *opts,
                                        vmux_str member, size_t n, vmux_leaderboard_entries *out,
                                        bool *found);

#ifdef __cplusplus
}
#endif

#endif
