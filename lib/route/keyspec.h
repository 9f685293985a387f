/*
 * Where a command's keys are: the argument positions that decide which cluster node must run
 * it, read from the argument vector before it is encoded, with no allocation.
 *
 * One table holds the rules for the commands vmux knows (every command of Valkey 8.0), each with
 * its arity as the server declares it (n: exactly n arguments, the name included; -n: at least
 * n), so a vector the server would refuse for its length is caught here too. The rules:
 *
 * - keyless: PING, INFO, PUBLISH, SCRIPT ..., CLIENT ..., KEYS, SCAN ...: any node may run it;
 * - a range: one key (GET k), all the arguments (MGET, DEL, EXISTS, UNLINK, TOUCH), every other
 *   one (MSET k v k v), all but the last (BLPOP k... timeout), two (RENAME, LMOVE, COPY,
 *   SMOVE...);
 * - a key count: EVAL/EVALSHA/FCALL (and their _RO forms) script numkeys key...,
 *   ZUNIONSTORE/ZINTERSTORE/ZDIFFSTORE dest numkeys key..., ZUNION/ZINTER/ZDIFF/ZINTERCARD/
 *   SINTERCARD/LMPOP/ZMPOP numkeys key..., BLMPOP/BZMPOP timeout numkeys key...;
 * - a subcommand: OBJECT <sub> key, MEMORY USAGE key, XINFO <sub> key, XGROUP <sub> key (other
 *   subcommands are keyless);
 * - parsed: SORT key ... [STORE dest], MIGRATE (the key, or with an empty key the keys after
 *   KEYS), GEORADIUS/GEORADIUSBYMEMBER ... [STORE dest] [STOREDIST dest], XREAD/XREADGROUP ...
 *   STREAMS key... id... (the first half after STREAMS).
 *
 * Where the keys are is what the server's cluster check uses (its key specs, or where those
 * cannot tell, its getkeys functions), so that a command goes where the server expects it: the
 * parsed rules follow those to the letter (the first STREAMS, even where an option's value
 * could be read as one; the last STORE for SORT; both STORE and STOREDIST for GEORADIUS). A
 * vector is VMUX_KEYS_MALFORMED only where the server would refuse to run it: a wrong number of
 * arguments, an MSET without a value for each key, a numkeys that is not an integer, negative,
 * 0 where a key is required, or beyond the arguments, STREAMS missing or not followed by as many
 * IDs as keys.
 *
 * SPUBLISH, SSUBSCRIBE and SUNSUBSCRIBE give their shard channels as keys: a shard channel is
 * routed by its slot like a key, although the server's COMMAND GETKEYS does not list it.
 *
 * tests/unit/test_route_keyspec.c checks the rules; tests/integration/test_route_keyspec.c
 * checks every entry of the table against a real server's COMMAND INFO and COMMAND GETKEYS.
 * Pure functions over a constant table: any thread.
 */
#ifndef VMUX_ROUTE_KEYSPEC_H
#define VMUX_ROUTE_KEYSPEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum vmux_keys_kind {
    VMUX_KEYS_FOUND = 1, /* one key or more, at the positions in range[] */
    VMUX_KEYS_NONE,      /* no key (a keyless command, or none given): any node may run it */
    VMUX_KEYS_UNKNOWN,   /* not in the table: ask the server (COMMAND GETKEYS) */
    VMUX_KEYS_MALFORMED, /* the server would refuse these arguments; why says what is wrong */
};

/*
 * The most ranges one command's keys take: GEORADIUS key ... STORE dest STOREDIST dest2 (and
 * ZUNIONSTORE dest numkeys key..., SORT key ... STORE dest take two).
 */
#define VMUX_KEYS_MAX_RANGES 3

/* Keys at argv[first], argv[first + step], ... up to argv[last]; first <= last, step >= 1. */
struct vmux_keyrange {
    int first, last, step;
};

struct vmux_keys {
    enum vmux_keys_kind kind;
    int nranges; /* VMUX_KEYS_FOUND: 1 to VMUX_KEYS_MAX_RANGES; otherwise 0 */
    struct vmux_keyrange range[VMUX_KEYS_MAX_RANGES];
    const char *why; /* VMUX_KEYS_MALFORMED: a static sentence (no command name); else NULL */
    bool readonly;   /* the command (or subcommand) only reads: a replica may serve it */
};

/*
 * Finds the keys of the command argv[0..argc) (argvlen NULL: NUL-terminated strings; a NULL
 * argument is read as empty). Command and subcommand names and the option words that matter
 * (STORE, KEYS, STREAMS...) are matched without regard to case. Fills *out and returns its kind.
 * An empty vector is VMUX_KEYS_MALFORMED. No allocation; the command is found by a hash of its
 * name (built once), a subcommand by a binary search.
 */
enum vmux_keys_kind vmux__keys_find(int argc, const char *const *argv, const size_t *argvlen,
                                    struct vmux_keys *out);

/*
 * The shortcut for the commands most traffic is made of (GET, SET, INCR, HGET, EXPIRE...: one key
 * at a fixed position, whatever the other arguments): that key's argument index when argv is such
 * a command with a valid number of arguments, else 0, and then vmux__keys_find() has the whole
 * answer. Where it answers, it answers as vmux__keys_find() would (one range, first == last,
 * and *readonly).
 * Same rules: any thread, no allocation.
 */
int vmux__keys_single(int argc, const char *const *argv, const size_t *argvlen, bool *readonly);

/* The number of keys *k names (0 unless VMUX_KEYS_FOUND). */
size_t vmux__keys_count(const struct vmux_keys *k);

/* The argument index of key n (0 <= n < vmux__keys_count(k)), in the order the command gives. */
int vmux__keys_arg(const struct vmux_keys *k, size_t n);

/*
 * The table, for the tests that check it against a server. Each entry is a command (upper
 * case), or in the table of a command whose rule is VMUX_KEYRULE_SUBCOMMAND, a subcommand;
 * each table is sorted by name (strcmp), which the binary search needs.
 */
enum vmux_keyrule {
    VMUX_KEYRULE_NONE = 1, /* keyless */
    VMUX_KEYRULE_RANGE,    /* a = first, b = last (negative: from the end, -1 the last), c = step */
    VMUX_KEYRULE_NUMKEYS, /* a = numkeys' index, b = a key before it (0: none), c = least numkeys */
    VMUX_KEYRULE_PARSED,  /* parse() reads the options */
    VMUX_KEYRULE_SUBCOMMAND, /* sub[] holds the rule of each subcommand */
};

struct vmux_keyspec {
    const char *name;
    int8_t arity; /* the server's: n exactly, -n at least n arguments (names included) */
    uint8_t rule; /* enum vmux_keyrule */
    int8_t a, b, c;
    uint8_t nsub;
    bool readonly; /* the server flags it "readonly" (COMMAND INFO): a replica may serve it */
    const struct vmux_keyspec *sub;
    void (*parse)(int argc, const char *const *argv, const size_t *argvlen, struct vmux_keys *out);
};

/* Returns the table of commands and stores its length in *n. */
const struct vmux_keyspec *vmux__keyspec_table(size_t *n);

#endif
