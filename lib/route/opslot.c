/*
 * An op's slot from its RESP bytes (vmux__router_slot(), route/router.h): the argument vector is
 * read in place, as views into the op's buffer, and given to the key table (keyspec.c) and the
 * slot check (keyslot.c). Done once per op, in the caller's thread.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/errbuf.h"
#include "route/keyslot.h"
#include "route/router.h"
#include "vmux/error.h"

#define INLINE_ARGS 16

/* Reads a decimal number ended by CRLF at *p (before end); advances *p past the CRLF. */
static bool read_count(const char **p, const char *end, size_t *out)
{
    size_t n = 0;
    const char *s = *p;
    if (s >= end || *s < '0' || *s > '9')
        return false;
    for (; s < end && *s >= '0' && *s <= '9'; s++) {
        if (n > (SIZE_MAX - 9) / 10)
            return false;
        n = n * 10 + (size_t)(*s - '0');
    }
    if (end - s < 2 || s[0] != '\r' || s[1] != '\n')
        return false;
    *p = s + 2;
    *out = n;
    return true;
}

/* Fills argv/lens with views of the n bulk strings at p; false when the bytes are not that. */
static bool read_args(const char *p, const char *end, size_t n, const char **argv, size_t *lens)
{
    for (size_t i = 0; i < n; i++) {
        size_t len;
        if (p >= end || *p++ != '$' || !read_count(&p, end, &len) || (size_t)(end - p) < len + 2)
            return false;
        argv[i] = p;
        lens[i] = len;
        p += len + 2;
    }
    return true;
}

/* The first key of an op's commands, and its slot: what a later command's keys must match. */
struct first_key {
    const char *ptr;
    size_t len;
    int slot;       /* VMUX_SLOT_ANY until a command with keys was seen */
    bool unknown;   /* a command the key table does not know was seen */
    bool writes;    /* a command that is not read-only was seen (or one the table does not know) */
    bool one_shard; /* standalone: keys in several slots are no error */
};

/* The message for a key of one command whose slot differs from an earlier command's key. */
static void across_commands(char *err, size_t errlen, const struct first_key *first,
                            const char *key, size_t keylen, int slot)
{
    const char *argv[2] = {first->ptr, key};
    size_t lens[2] = {first->len, keylen};
    struct vmux_crossslot cross = {0, 1, (unsigned)first->slot, (unsigned)slot};
    vmux__crossslot_message(err, errlen, &cross, argv, lens);
}

/* Argument i's bytes: a NULL argument reads as empty. */
static void arg_view(const char *const *argv, const size_t *lens, int i, const char **p,
                     size_t *len)
{
    *p = argv[i] != NULL ? argv[i] : "";
    *len = argv[i] == NULL ? 0 : lens != NULL ? lens[i] : strlen(argv[i]);
}

/*
 * The slot of one command's keys (*slot) and the index of its first key (*at; 0: it has none),
 * or VMUX_ERR_CROSSSLOT when its own keys disagree. first->unknown and first->writes are set for
 * a command the table does not know, and for one that is not read-only.
 */
static int command_slot(int argc, const char *const *argv, const size_t *lens, int *slot, int *at,
                        struct first_key *first, char *err, size_t errlen)
{
    const char *key;
    size_t keylen;
    bool readonly = false;
    *at = vmux__keys_single(argc, argv, lens, &readonly);
    if (*at > 0) { /* GET, SET and the like: no key ranges to walk */
        first->writes = first->writes || !readonly;
        arg_view(argv, lens, *at, &key, &keylen);
        *slot = (int)vmux__slot_of(key, keylen);
        return 0;
    }
    struct vmux_keys keys;
    struct vmux_crossslot cross;
    enum vmux_keys_kind kind = vmux__keys_find(argc, argv, lens, &keys);
    first->unknown = first->unknown || kind == VMUX_KEYS_UNKNOWN;
    first->writes = first->writes || !keys.readonly;
    if (kind != VMUX_KEYS_FOUND)
        return 0;
    if (vmux__keys_slot(&keys, argv, lens, slot, &cross) == VMUX_ERR_CROSSSLOT) {
        if (first->one_shard) {
            *slot = (int)cross.slot_a; /* any of them: one shard serves every slot */
            *at = keys.range[0].first;
            return 0;
        }
        vmux__crossslot_message(err, errlen, &cross, argv, lens);
        return VMUX_ERR_CROSSSLOT;
    }
    *at = keys.range[0].first;
    return 0;
}

/* Checks the command argv[0..argc) against the op's keys so far (*first). */
static int slot_of_args(struct first_key *first, int argc, const char *const *argv,
                        const size_t *lens, char *err, size_t errlen)
{
    int slot = VMUX_SLOT_ANY, at = 0;
    int rc = command_slot(argc, argv, lens, &slot, &at, first, err, errlen);
    if (rc != 0 || at == 0)
        return rc;
    const char *key;
    size_t keylen;
    arg_view(argv, lens, at, &key, &keylen);
    if (first->slot == VMUX_SLOT_ANY) {
        first->ptr = key;
        first->len = keylen;
        first->slot = slot;
    } else if (slot != first->slot && !first->one_shard) {
        across_commands(err, errlen, first, key, keylen, slot);
        return VMUX_ERR_CROSSSLOT;
    }
    return 0;
}

/*
 * Reads the command at *p (before end) and checks its keys; advances *p past it. Returns 0,
 * VMUX_ERR_CROSSSLOT, VMUX_ERR_NOMEM, or 1 when the bytes are not a command as the encoder
 * writes it (the server will say: nothing more is read).
 */
static int slot_of_command(const char **p, const char *end, struct first_key *first, char *err,
                           size_t errlen)
{
    const char *s = *p;
    size_t n;
    if (s >= end || *s++ != '*' || !read_count(&s, end, &n) || n == 0 || n > (size_t)INT32_MAX)
        return 1;
    const char *inl_argv[INLINE_ARGS];
    size_t inl_lens[INLINE_ARGS];
    const char **argv = inl_argv;
    size_t *lens = inl_lens;
    if (n > INLINE_ARGS) {
        argv = malloc(n * sizeof *argv);
        lens = malloc(n * sizeof *lens);
        if (argv == NULL || lens == NULL) {
            free(argv);
            free(lens);
            return VMUX_ERR_NOMEM;
        }
    }
    int rc = 1;
    if (read_args(s, end, n, argv, lens)) {
        rc = slot_of_args(first, (int)n, argv, lens, err, errlen);
        *p = argv[n - 1] + lens[n - 1] + 2;
    }
    if (argv != inl_argv) {
        free(argv);
        free(lens);
    }
    return rc;
}

/* Only reads, and a key to say whose replica: readFrom may send it to a replica. */
static void mark_readonly(struct vmux_op *op, const struct first_key *first)
{
    if (!first->writes && first->slot >= 0)
        op->flags |= VMUX_OP_READONLY;
}

/* Whether a command's name is PUBLISH: keyless, it runs where the handle's subscriptions are. */
static bool is_publish(const char *name, size_t len)
{
    return len == 7 && strncasecmp(name, "PUBLISH", 7) == 0;
}

/* Whether op's bytes are one command named PUBLISH ("*3\r\n$7\r\nPUBLISH\r\n..."). */
static bool bytes_publish(const struct vmux_op *op)
{
    const char *nl = memchr(op->cmd, '\n', op->len);
    if (op->nreplies != 1 || nl == NULL || (size_t)(op->cmd + op->len - nl) < 12)
        return false;
    return memcmp(nl + 1, "$7\r\n", 4) == 0 && is_publish(nl + 5, 7);
}

/*
 * Every command in the op's bytes (one, or MULTI ... EXEC and other blocks of several) counts:
 * their keys must share one slot, and that is the op's.
 */
int vmux__router_slot(struct vmux_op *op, char *err, size_t errlen)
{
    const char *p = op->cmd, *end = op->cmd + op->len;
    struct first_key first = {NULL, 0, VMUX_SLOT_ANY, false, false, false};
    op->slot = VMUX_SLOT_ANY;
    int rc = 0;
    while (p < end && (rc = slot_of_command(&p, end, &first, err, errlen)) == 0)
        ;
    if (rc < 0)
        return rc;
    op->slot = first.slot;
    mark_readonly(op, &first);
    if (first.unknown && first.slot == VMUX_SLOT_ANY && op->nreplies == 1)
        op->slot = VMUX_OP_SLOT_ASK; /* one command the table does not know: ask a node */
    else if (op->slot == VMUX_SLOT_ANY && bytes_publish(op))
        op->slot = VMUX_OP_SLOT_PUBLISH;
    return 0;
}

bool vmux__router_readonly_argv(int argc, const char *const *argv, const size_t *argvlen)
{
    bool readonly = false;
    if (vmux__keys_single(argc, argv, argvlen, &readonly) > 0)
        return readonly;
    struct vmux_keys keys;
    return vmux__keys_find(argc, argv, argvlen, &keys) == VMUX_KEYS_FOUND && keys.readonly;
}

int vmux__router_slot_argv(struct vmux_op *op, int argc, const char *const *argv,
                           const size_t *argvlen, char *err, size_t errlen)
{
    bool readonly = false;
    int at = vmux__keys_single(argc, argv, argvlen, &readonly);
    if (at > 0) { /* GET, SET and the like, most of the traffic: straight to the key's slot */
        const char *key;
        size_t keylen;
        arg_view(argv, argvlen, at, &key, &keylen);
        op->slot = (int)vmux__slot_of(key, keylen);
        if (readonly)
            op->flags |= VMUX_OP_READONLY;
        return 0;
    }
    struct first_key first = {NULL, 0, VMUX_SLOT_ANY, false, false, false};
    op->slot = VMUX_SLOT_ANY;
    int rc = slot_of_args(&first, argc, argv, argvlen, err, errlen);
    if (rc != 0)
        return rc;
    op->slot = first.unknown ? VMUX_OP_SLOT_ASK : first.slot;
    if (op->slot == VMUX_SLOT_ANY && argc >= 1 && argv[0] != NULL &&
        is_publish(argv[0], argvlen != NULL ? argvlen[0] : strlen(argv[0])))
        op->slot = VMUX_OP_SLOT_PUBLISH;
    mark_readonly(op, &first);
    return 0;
}

void vmux__router_mark_read(struct vmux_op *op)
{
    const char *p = op->cmd, *end = op->cmd + op->len;
    struct first_key first = {NULL, 0, VMUX_SLOT_ANY, false, false, true};
    int rc = 0;
    while (p < end && (rc = slot_of_command(&p, end, &first, NULL, 0)) == 0)
        ;
    if (rc == 0 && !first.writes && first.slot >= 0) {
        op->slot = 0;
        op->flags |= VMUX_OP_READONLY;
    }
}

void vmux__router_mark_read_argv(struct vmux_op *op, int argc, const char *const *argv,
                                 const size_t *argvlen)
{
    if (vmux__router_readonly_argv(argc, argv, argvlen)) {
        op->slot = 0;
        op->flags |= VMUX_OP_READONLY;
    }
}
