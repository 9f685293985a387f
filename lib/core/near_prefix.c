/* The near cache's BCAST prefix lists (near_prefix.h). */
#include "core/near_prefix.h"

#include <stdlib.h>
#include <string.h>

#include "core/errbuf.h"

/* The piece of list starting at p: its length (up to the next separator or the end). */
static size_t piece_len(const char *p)
{
    const char *sep = strchr(p, VMUX_NEAR_PREFIX_SEP);
    return sep != NULL ? (size_t)(sep - p) : strlen(p);
}

/* The piece after the one at p (of length n), or NULL after the last. */
static const char *next_piece(const char *p, size_t n)
{
    return p[n] == VMUX_NEAR_PREFIX_SEP ? p + n + 1 : NULL;
}

static bool is_empty(const char *list)
{
    return list == NULL || list[0] == '\0';
}

/* Whether a (an bytes) and b (bn bytes) overlap: one starts with the other. */
static bool overlap(const char *a, size_t an, const char *b, size_t bn)
{
    return memcmp(a, b, an < bn ? an : bn) == 0;
}

/* The first prefix after the one at p that overlaps it, or NULL. */
static const char *overlapping(const char *p, size_t n, size_t *qn)
{
    for (const char *q = next_piece(p, n); q != NULL; q = next_piece(q, *qn)) {
        *qn = piece_len(q);
        if (overlap(p, n, q, *qn))
            return q;
    }
    return NULL;
}

/* Empty pieces and the count first, so that an empty one is named as such, not as an overlap. */
static bool pieces_ok(const char *list, char *why, size_t whylen)
{
    size_t count = 0, n;
    for (const char *p = list; p != NULL; p = next_piece(p, n)) {
        if ((n = piece_len(p)) == 0) {
            vmux__errbuf_set(why, whylen,
                             "holds an empty prefix (leave nearCachePrefixes unset to track "
                             "every key)");
            return false;
        }
        if (++count > VMUX_NEAR_MAX_PREFIXES) {
            vmux__errbuf_set(why, whylen, "has more than %d prefixes", VMUX_NEAR_MAX_PREFIXES);
            return false;
        }
    }
    return true;
}

bool vmux__near_prefixes_ok(const char *list, char *why, size_t whylen)
{
    if (is_empty(list))
        return true;
    if (!pieces_ok(list, why, whylen))
        return false;
    size_t n, qn;
    for (const char *p = list; p != NULL; p = next_piece(p, n)) {
        n = piece_len(p);
        const char *q = overlapping(p, n, &qn);
        if (q != NULL) {
            vmux__errbuf_set(why, whylen,
                             "has overlapping prefixes '%.*s' and '%.*s' (the server refuses "
                             "prefixes of which one starts with the other)",
                             (int)n, p, (int)qn, q);
            return false;
        }
    }
    return true;
}

size_t vmux__near_prefix_count(const char *list)
{
    size_t count = 0;
    for (const char *p = is_empty(list) ? NULL : list; p != NULL; p = next_piece(p, piece_len(p)))
        count++;
    return count;
}

bool vmux__near_prefix_match(const char *list, const void *key, size_t len)
{
    if (is_empty(list))
        return true;
    size_t n;
    for (const char *p = list; p != NULL; p = next_piece(p, n)) {
        n = piece_len(p);
        if (n <= len && memcmp(p, key, n) == 0)
            return true;
    }
    return false;
}

int vmux__near_prefix_split(const char *list, char **copy, const char **argv)
{
    *copy = NULL;
    if (is_empty(list))
        return 0;
    if ((*copy = strdup(list)) == NULL)
        return -1;
    int count = 0;
    for (char *p = *copy; p != NULL && count < VMUX_NEAR_MAX_PREFIXES; count++) {
        argv[count] = p;
        p = strchr(p, VMUX_NEAR_PREFIX_SEP);
        if (p != NULL)
            *p++ = '\0';
    }
    return count;
}
