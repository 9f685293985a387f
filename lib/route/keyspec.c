#include "route/keyspec.h"

#include <limits.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>
#include <uv.h>

#include "core/assert.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* One argument: its bytes and length (a NULL argument reads as empty). */
struct arg {
    const char *p;
    size_t len;
};

static struct arg arg_at(const char *const *argv, const size_t *argvlen, int i)
{
    const char *p = argv[i] != NULL ? argv[i] : "";
    return (struct arg){p, argvlen != NULL && argv[i] != NULL ? argvlen[i] : strlen(p)};
}

static unsigned char upper(unsigned char c)
{
    return c >= 'a' && c <= 'z' ? (unsigned char)(c - 'a' + 'A') : c;
}

/* Compares an upper-case name with an argument read in upper case, in strcmp's order. */
static int name_cmp(const char *name, struct arg a)
{
    size_t i = 0;
    for (; name[i] != '\0' && i < a.len; i++) {
        int d = (unsigned char)name[i] - upper((unsigned char)a.p[i]);
        if (d != 0)
            return d;
    }
    if (name[i] != '\0')
        return 1;
    return i < a.len ? -1 : 0;
}

static bool arg_is(const char *const *argv, const size_t *argvlen, int i, const char *word)
{
    return name_cmp(word, arg_at(argv, argvlen, i)) == 0;
}

static const struct vmux_keyspec *lookup(const struct vmux_keyspec *t, size_t n, struct arg name)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = name_cmp(t[mid].name, name);
        if (c == 0)
            return &t[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

static void malformed(struct vmux_keys *out, const char *why)
{
    out->kind = VMUX_KEYS_MALFORMED;
    out->nranges = 0;
    out->why = why;
}

static void add_range(struct vmux_keys *out, int first, int last, int step)
{
    VMUX_ASSERT(out->nranges < VMUX_KEYS_MAX_RANGES && first <= last && step >= 1);
    out->range[out->nranges++] = (struct vmux_keyrange){first, last, step};
    out->kind = VMUX_KEYS_FOUND;
}

/*
 * Reads a decimal integer as the server does (string2ll): an optional '-', then "0" alone or
 * digits without a leading zero; no '+', no spaces, nothing after, within a long long.
 */
static bool parse_int(struct arg a, long long *v)
{
    size_t i = a.len > 0 && a.p[0] == '-' ? 1 : 0;
    bool neg = i == 1;
    if (i == a.len || a.len > 20)
        return false;
    if (a.p[i] == '0') {
        *v = 0;
        return a.len == 1;
    }
    unsigned long long u = 0;
    for (; i < a.len; i++) {
        if (a.p[i] < '0' || a.p[i] > '9' || u > (ULLONG_MAX - 9) / 10)
            return false;
        u = u * 10 + (unsigned)(a.p[i] - '0');
    }
    if (u > (unsigned long long)LLONG_MAX + (neg ? 1u : 0u))
        return false;
    *v = neg ? (long long)(0 - u) : (long long)u;
    return true;
}

/*
 * The first occurrence of word among argv[from .. argc - 2], or 0: the server's keyword search,
 * which never looks at the last argument (a keyword there could not be followed by its key).
 */
static int keyword(int argc, const char *const *argv, const size_t *argvlen, int from,
                   const char *word)
{
    for (int i = from; i < argc - 1; i++)
        if (arg_is(argv, argvlen, i, word))
            return i;
    return 0;
}

/*
 * SORT key [BY pattern] [LIMIT offset count] [GET pattern ...] [ASC|DESC] [ALPHA] [STORE dest]:
 * as the server's sortGetKeys, which skips the values of BY, LIMIT and GET but not STORE's, and
 * keeps the last STORE that has an argument after it.
 */
static void parse_sort(int argc, const char *const *argv, const size_t *argvlen,
                       struct vmux_keys *out)
{
    int store = 0;
    for (int i = 2; i < argc; i++) {
        if (arg_is(argv, argvlen, i, "LIMIT"))
            i += 2;
        else if (arg_is(argv, argvlen, i, "GET") || arg_is(argv, argvlen, i, "BY"))
            i += 1;
        else if (arg_is(argv, argvlen, i, "STORE") && i + 1 < argc)
            store = i + 1;
    }
    add_range(out, 1, 1, 1);
    if (store > 0)
        add_range(out, store, store, 1);
}

/*
 * MIGRATE host port key|"" db timeout [COPY] [REPLACE] [AUTH pw] [AUTH2 user pw] [KEYS key...]:
 * the keys after the first KEYS when a key follows it, else the key argument (which may itself
 * be the empty key), as the server's migrateGetKeys; KEYS needs the key argument empty.
 */
static void parse_migrate(int argc, const char *const *argv, const size_t *argvlen,
                          struct vmux_keys *out)
{
    for (int i = 6; i < argc; i++) {
        if (arg_is(argv, argvlen, i, "KEYS")) {
            if (arg_at(argv, argvlen, 3).len > 0) {
                malformed(out, "KEYS needs an empty key argument");
                return;
            }
            if (i + 1 < argc) {
                add_range(out, i + 1, argc - 1, 1);
                return;
            }
            break;
        }
        if (arg_is(argv, argvlen, i, "AUTH"))
            i += 1;
        else if (arg_is(argv, argvlen, i, "AUTH2"))
            i += 2;
    }
    add_range(out, 3, 3, 1);
}

/* GEORADIUS*: the key, then the keys after the first STORE and the first STOREDIST from from. */
static void georadius_keys(int argc, const char *const *argv, const size_t *argvlen, int from,
                           struct vmux_keys *out)
{
    int store = keyword(argc, argv, argvlen, from, "STORE");
    int dist = keyword(argc, argv, argvlen, from, "STOREDIST");
    add_range(out, 1, 1, 1);
    if (store > 0)
        add_range(out, store + 1, store + 1, 1);
    if (dist > 0)
        add_range(out, dist + 1, dist + 1, 1);
}

/* GEORADIUS key longitude latitude radius unit [options]: options from argument 6. */
static void parse_georadius(int argc, const char *const *argv, const size_t *argvlen,
                            struct vmux_keys *out)
{
    georadius_keys(argc, argv, argvlen, 6, out);
}

/* GEORADIUSBYMEMBER key member radius unit [options]: options from argument 5. */
static void parse_georadiusbymember(int argc, const char *const *argv, const size_t *argvlen,
                                    struct vmux_keys *out)
{
    georadius_keys(argc, argv, argvlen, 5, out);
}

/* ... STREAMS key... id...: the first half of what follows the first STREAMS from from. */
static void streams_keys(int argc, const char *const *argv, const size_t *argvlen, int from,
                         struct vmux_keys *out)
{
    int at = keyword(argc, argv, argvlen, from, "STREAMS");
    int n = argc - at - 1;
    if (at == 0)
        malformed(out, "STREAMS is missing, or is not followed by a key");
    else if (n % 2 != 0)
        malformed(out, "the keys and IDs after STREAMS are unbalanced");
    else
        add_range(out, at + 1, at + n / 2, 1);
}

/* XREAD [COUNT n] [BLOCK ms] STREAMS key... id...: STREAMS looked for from argument 1. */
static void parse_xread(int argc, const char *const *argv, const size_t *argvlen,
                        struct vmux_keys *out)
{
    streams_keys(argc, argv, argvlen, 1, out);
}

/* XREADGROUP GROUP group consumer [...] STREAMS key... id...: past the group, from 4. */
static void parse_xreadgroup(int argc, const char *const *argv, const size_t *argvlen,
                             struct vmux_keys *out)
{
    streams_keys(argc, argv, argvlen, 4, out);
}

/* The table: commands[], sorted by name, and the subcommand tables it points to. */
#include "route/keyspec_table.inc"

static bool arity_ok(int arity, int argc)
{
    return arity >= 0 ? argc == arity : argc >= -arity;
}

static void apply(const struct vmux_keyspec *s, int argc, const char *const *argv,
                  const size_t *argvlen, struct vmux_keys *out);

/* A range: fixed positions, or counted from the end (BLPOP's keys before the timeout). */
static void rule_range(const struct vmux_keyspec *s, int argc, struct vmux_keys *out)
{
    int last = s->b < 0 ? argc + s->b : s->b;
    if (s->b < 0 && s->c > 1 && (argc - s->a) % s->c != 0)
        malformed(out, "a key has no value: the keys and values are unbalanced");
    else if (last >= argc)
        malformed(out, "wrong number of arguments");
    else if (last >= s->a)
        add_range(out, s->a, last, s->c);
}

/* numkeys at argument a, the keys right after it, and a key at b before it when b > 0. */
static void rule_numkeys(const struct vmux_keyspec *s, int argc, const char *const *argv,
                         const size_t *argvlen, struct vmux_keys *out)
{
    long long n;
    if (!parse_int(arg_at(argv, argvlen, s->a), &n))
        malformed(out, "numkeys is not an integer");
    else if (n < 0)
        malformed(out, "numkeys is negative");
    else if (n < s->c)
        malformed(out, "numkeys must be at least 1");
    else if (n > argc - s->a - 1)
        malformed(out, "numkeys is greater than the number of arguments after it");
    else {
        if (s->b > 0)
            add_range(out, s->b, s->b, 1);
        if (n > 0)
            add_range(out, s->a + 1, s->a + (int)n, 1);
    }
}

static void rule_subcommand(const struct vmux_keyspec *s, int argc, const char *const *argv,
                            const size_t *argvlen, struct vmux_keys *out)
{
    const struct vmux_keyspec *sub = lookup(s->sub, s->nsub, arg_at(argv, argvlen, 1));
    if (sub == NULL)
        out->kind = VMUX_KEYS_UNKNOWN;
    else
        apply(sub, argc, argv, argvlen, out);
}

static void apply(const struct vmux_keyspec *s, int argc, const char *const *argv,
                  const size_t *argvlen, struct vmux_keys *out)
{
    if (!arity_ok(s->arity, argc)) {
        malformed(out, "wrong number of arguments");
        return;
    }
    out->readonly = s->readonly; /* a subcommand's own, when the rule below finds one */
    switch (s->rule) {
    case VMUX_KEYRULE_RANGE:
        rule_range(s, argc, out);
        break;
    case VMUX_KEYRULE_NUMKEYS:
        rule_numkeys(s, argc, argv, argvlen, out);
        break;
    case VMUX_KEYRULE_PARSED:
        s->parse(argc, argv, argvlen, out);
        break;
    case VMUX_KEYRULE_SUBCOMMAND:
        rule_subcommand(s, argc, argv, argvlen, out);
        break;
    default:
        break;
    }
}

/*
 * The command table by name: an open-addressed hash of the names, built once (the binary search
 * it replaced cost a few hundred instructions per command, on every command a cluster handle
 * sends). Slots hold a table index + 1; 0 is empty.
 *
 * A name is read as one word (name_word()): its first and last four bytes, or for 1 to 3 bytes
 * its first, middle and last. With its length the word is the whole name up to 8 bytes, which
 * most command names are: GET, SET, HGET, EXPIRE... are then found and checked in a few word
 * operations. The hash is of the word with bit 5 of every byte set, which folds upper-case
 * letters onto lower-case ones without a branch (it folds a few other pairs too, which only share
 * a hash). The check is exact: each entry keeps its word in lower case and a mask of bit 5 where
 * its bytes are letters, so that (word | mask) equals the entry's word only for the name in
 * either case; a longer name is then compared byte by byte.
 */
#define INDEX_SIZE 1024u /* a power of two, over four times the table */
#define INDEX_BITS 10u
#define NAME_MAX_HASHED 32u
#define NAME_WORD_MAX 8u /* the longest name a word holds whole */

struct name_key {
    uint64_t word;    /* name_word() of the name in lower case */
    uint64_t letters; /* 0x20 in each byte of the word that holds a letter */
    size_t len;
};

static uint16_t name_index[INDEX_SIZE];
static struct name_key name_keys[N(commands)];
static uv_once_t name_index_once = UV_ONCE_INIT;
static atomic_bool name_index_built; /* set (release) once the index is whole */

/* The name's word, as above (len >= 1). */
static uint64_t name_word(const unsigned char *p, size_t len)
{
    if (len >= 4) {
        uint32_t head, tail;
        memcpy(&head, p, 4);
        memcpy(&tail, p + len - 4, 4);
        return (uint64_t)head | (uint64_t)tail << 32;
    }
    return (uint64_t)p[0] | (uint64_t)p[len / 2] << 8 | (uint64_t)p[len - 1] << 16;
}

/* The index slot to start at for a name of this word and length (Fibonacci hashing). */
static uint32_t name_hash(uint64_t word, size_t len)
{
    uint64_t x = (word | 0x2020202020202020u) ^ len;
    return (uint32_t)((x * 0x9e3779b97f4a7c15u) >> (64 - INDEX_BITS));
}

static void build_name_index(void)
{
    for (size_t i = 0; i < N(commands); i++) {
        size_t len = strlen(commands[i].name);
        VMUX_ASSERT(len > 0 && len <= NAME_MAX_HASHED);
        unsigned char lower[NAME_MAX_HASHED], letters[NAME_MAX_HASHED];
        for (size_t j = 0; j < len; j++) {
            unsigned char c = (unsigned char)commands[i].name[j];
            bool letter = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
            lower[j] = letter ? (unsigned char)(c | 0x20u) : c;
            letters[j] = letter ? 0x20u : 0;
        }
        name_keys[i] = (struct name_key){name_word(lower, len), name_word(letters, len), len};
        uint32_t h = name_hash(name_keys[i].word, len);
        while (name_index[h & (INDEX_SIZE - 1)] != 0)
            h++;
        name_index[h & (INDEX_SIZE - 1)] = (uint16_t)(i + 1);
    }
    atomic_store_explicit(&name_index_built, true, memory_order_release);
}

/* Whether the argument is the upper-case name, read without regard to case (lengths equal). */
static bool name_equal(const char *name, struct arg a)
{
    for (size_t i = 0; i < a.len; i++) {
        unsigned char n = (unsigned char)name[i], c = (unsigned char)a.p[i];
        if (c != n && !(n >= 'A' && n <= 'Z' && (c ^ 0x20u) == n))
            return false;
    }
    return true;
}

static const struct vmux_keyspec *lookup_command(struct arg name)
{
    if (name.len == 0 || name.len > NAME_MAX_HASHED)
        return NULL;
    if (!atomic_load_explicit(&name_index_built, memory_order_acquire))
        uv_once(&name_index_once, build_name_index);
    uint64_t word = name_word((const unsigned char *)name.p, name.len);
    for (uint32_t h = name_hash(word, name.len);; h++) {
        unsigned at = name_index[h & (INDEX_SIZE - 1)];
        if (at == 0)
            return NULL;
        const struct name_key *k = &name_keys[at - 1];
        if (k->len == name.len && (word | k->letters) == k->word &&
            (name.len <= NAME_WORD_MAX || name_equal(commands[at - 1].name, name)))
            return &commands[at - 1];
    }
}

int vmux__keys_single(int argc, const char *const *argv, const size_t *argvlen, bool *readonly)
{
    if (argv == NULL || argc < 2)
        return 0;
    const struct vmux_keyspec *s = lookup_command(arg_at(argv, argvlen, 0));
    if (s == NULL || s->rule != VMUX_KEYRULE_RANGE || s->a != s->b || s->a < 1 || s->a >= argc ||
        !arity_ok(s->arity, argc))
        return 0;
    *readonly = s->readonly;
    return s->a;
}

enum vmux_keys_kind vmux__keys_find(int argc, const char *const *argv, const size_t *argvlen,
                                    struct vmux_keys *out)
{
    out->kind = VMUX_KEYS_NONE;
    out->nranges = 0;
    out->why = NULL;
    out->readonly = false;
    if (argv == NULL || argc < 1) {
        malformed(out, "empty command");
        return out->kind;
    }
    const struct vmux_keyspec *s = lookup_command(arg_at(argv, argvlen, 0));
    if (s == NULL)
        out->kind = VMUX_KEYS_UNKNOWN;
    else
        apply(s, argc, argv, argvlen, out);
    return out->kind;
}

static size_t range_count(const struct vmux_keyrange *r)
{
    return (size_t)((r->last - r->first) / r->step) + 1;
}

size_t vmux__keys_count(const struct vmux_keys *k)
{
    size_t n = 0;
    for (int r = 0; k->kind == VMUX_KEYS_FOUND && r < k->nranges; r++)
        n += range_count(&k->range[r]);
    return n;
}

int vmux__keys_arg(const struct vmux_keys *k, size_t n)
{
    for (int r = 0; k->kind == VMUX_KEYS_FOUND && r < k->nranges; r++) {
        size_t c = range_count(&k->range[r]);
        if (n < c)
            return k->range[r].first + (int)n * k->range[r].step;
        n -= c;
    }
    return -1;
}

const struct vmux_keyspec *vmux__keyspec_table(size_t *n)
{
    *n = N(commands);
    return commands;
}
