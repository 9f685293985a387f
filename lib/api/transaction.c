/* Transactions (transaction.h): a MULTI ... EXEC block, or a generated script for conditions. */
#include "vmux/transaction.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/typed.h"
#include "core/buf.h"
#include "core/encode.h"
#include "core/errbuf.h"
#include "core/explain.h"
#include "core/op.h"
#include "core/shareable.h"
#include "core/sized.h"
#include "core/value.h"
#include "core/why.h"
#include "mux/handle.h"
#include "route/keyspec.h"
#include "vmux/error.h"
#include "vmux/script.h"

enum cond_kind {
    C_EXISTS,
    C_NOT_EXISTS,
    C_EQUAL,
    C_HASH_EQUAL,
    C_HASH_EXISTS,
    C_HASH_NOT_EXISTS,
    C_LENGTH
};

struct tx_cond {
    enum cond_kind kind;
    vmux_bytes arg[3]; /* key, then field and/or value */
    int nargs;
    vmux_length_of length_of;
    vmux_cmp cmp;
    int64_t n;
};

struct vmux_tx {
    vmux_bytes_array *cmd_args; /* each command's arguments: encoded or scripted at exec */
    size_t ncmds, cap;
    struct tx_cond *conds;
    size_t nconds, ccap;
};

int vmux_tx_new(vmux_tx **out)
{
    vmux__why_begin();
    if (out == NULL)
        return vmux__why_set(VMUX_ERR_INVALID_ARG, "out is NULL");
    *out = calloc(1, sizeof(**out));
    return vmux__why_end(*out != NULL ? 0 : VMUX_ERR_NOMEM);
}

void vmux_tx_free(vmux_tx *tx)
{
    if (tx == NULL)
        return;
    for (size_t i = 0; i < tx->ncmds; i++)
        vmux_bytes_array_free(&tx->cmd_args[i]);
    for (size_t i = 0; i < tx->nconds; i++)
        for (int k = 0; k < tx->conds[i].nargs; k++)
            vmux_bytes_free(&tx->conds[i].arg[k]);
    free(tx->cmd_args);
    free(tx->conds);
    free(tx);
}

/* Checks a command's arguments as vmux_batch_add() does: VMUX_ERR_INVALID_ARG, with words for
 * vmux_last_error(), for argc < 1, argv NULL, a NULL argument (unless its given length is 0) or
 * lengths whose sum overflows a size_t. */
static int check_args(int argc, const char *const *argv, const size_t *argvlen)
{
    size_t bytes = 0;
    int rc = vmux__why_argv(argc, argv, argvlen);
    for (int i = 0; rc == 0 && i < argc; i++) {
        size_t len = argv[i] == NULL ? 0 : argvlen != NULL ? argvlen[i] : strlen(argv[i]);
        if (len >= SIZE_MAX - bytes) /* each copy needs len + 1 */
            return vmux__why_set(VMUX_ERR_INVALID_ARG,
                                 "argvlen[%d] is %zu: the arguments' lengths add up past SIZE_MAX",
                                 i, len);
        bytes += len;
    }
    return rc;
}

/* Copies a command's arguments, checked by check_args(). */
static int copy_args(int argc, const char *const *argv, const size_t *argvlen,
                     vmux_bytes_array *out)
{
    out->items = calloc((size_t)argc, sizeof(*out->items));
    if (out->items == NULL)
        return VMUX_ERR_NOMEM;
    out->count = (size_t)argc;
    int rc = 0;
    for (int i = 0; i < argc && rc == 0; i++) {
        size_t len = argv[i] == NULL ? 0 : argvlen != NULL ? argvlen[i] : strlen(argv[i]);
        rc = vmux__bytes_copy(argv[i], len, &out->items[i]);
    }
    if (rc != 0)
        vmux_bytes_array_free(out);
    return rc;
}

static bool grow_cmds(vmux_tx *tx)
{
    if (tx->ncmds < tx->cap)
        return true;
    size_t cap = tx->cap ? tx->cap * 2 : 8;
    vmux_bytes_array *args = realloc(tx->cmd_args, cap * sizeof(*args));
    if (args == NULL)
        return false;
    tx->cmd_args = args;
    tx->cap = cap;
    return true;
}

/* vmux_tx_add() but for clearing and ending its words. */
static int tx_add(vmux_tx *tx, int argc, const char *const *argv, const size_t *argvlen)
{
    uint32_t flags = 0;
    if (tx == NULL)
        return vmux__why_set(VMUX_ERR_INVALID_ARG, "tx is NULL");
    int rc = check_args(argc, argv, argvlen);
    if (rc != 0)
        return rc;
    if (vmux__classify(argc, argv, argvlen, &flags) != 0)
        return vmux__why_unsupported(argc, argv, argvlen, NULL);
    if (flags & VMUX_OP_BLOCKING)
        return vmux__why_unsupported(argc, argv, argvlen,
                                     "blocks on the server: inside MULTI the server answers it at "
                                     "once, as if its block had ended");
    if (vmux__waits_for_replicas(argc, argv, argvlen))
        return vmux__why_unsupported(argc, argv, argvlen,
                                     "waits for replicas: inside MULTI the server answers it at "
                                     "once without waiting (vmux_wait() after the transaction)");
    if (!grow_cmds(tx))
        return VMUX_ERR_NOMEM;
    rc = copy_args(argc, argv, argvlen, &tx->cmd_args[tx->ncmds]);
    if (rc == 0)
        tx->ncmds++;
    return rc;
}

int vmux_tx_add(vmux_tx *tx, int argc, const char *const *argv, const size_t *argvlen)
{
    vmux__why_begin();
    return vmux__why_end(tx_add(tx, argc, argv, argvlen));
}

/* A condition's arguments, as transaction.h names them. */
static const char *const KEY_VALUE[] = {"key", "value"};
static const char *const KEY_FIELD_VALUE[] = {"key", "field", "value"};
static const char *const KEY_FIELD[] = {"key", "field"};

/* add_cond() but for clearing and ending its words: names[i] is args[i]'s name, for them. */
static int cond_add(vmux_tx *tx, struct tx_cond c, const vmux_str *args, const char *const *names,
                    int nargs)
{
    if (tx == NULL)
        return vmux__why_set(VMUX_ERR_INVALID_ARG, "tx is NULL");
    int rc = 0;
    for (int i = 0; rc == 0 && i < nargs; i++)
        rc = vmux__why_str(names[i], args[i]);
    if (rc != 0)
        return rc;
    if (tx->nconds == tx->ccap) {
        size_t cap = tx->ccap ? tx->ccap * 2 : 4;
        struct tx_cond *conds = realloc(tx->conds, cap * sizeof(*conds));
        if (conds == NULL)
            return VMUX_ERR_NOMEM;
        tx->conds = conds;
        tx->ccap = cap;
    }
    for (c.nargs = 0; c.nargs < nargs; c.nargs++) {
        if (vmux__bytes_copy(args[c.nargs].ptr, args[c.nargs].len, &c.arg[c.nargs]) != 0) {
            while (c.nargs-- > 0)
                vmux_bytes_free(&c.arg[c.nargs]);
            return VMUX_ERR_NOMEM;
        }
    }
    tx->conds[tx->nconds++] = c;
    return 0;
}

/* Adds a condition with up to three byte arguments (names: theirs); its words for
 * vmux_last_error(). */
static int add_cond(vmux_tx *tx, struct tx_cond c, const vmux_str *args, const char *const *names,
                    int nargs)
{
    vmux__why_begin();
    return vmux__why_end(cond_add(tx, c, args, names, nargs));
}

int vmux_tx_when_exists(vmux_tx *tx, vmux_str key)
{
    return add_cond(tx, (struct tx_cond){.kind = C_EXISTS}, &key, KEY_VALUE, 1);
}

int vmux_tx_when_not_exists(vmux_tx *tx, vmux_str key)
{
    return add_cond(tx, (struct tx_cond){.kind = C_NOT_EXISTS}, &key, KEY_VALUE, 1);
}

int vmux_tx_when_equal(vmux_tx *tx, vmux_str key, vmux_str value)
{
    vmux_str args[] = {key, value};
    return add_cond(tx, (struct tx_cond){.kind = C_EQUAL}, args, KEY_VALUE, 2);
}

int vmux_tx_when_hash_equal(vmux_tx *tx, vmux_str key, vmux_str field, vmux_str value)
{
    vmux_str args[] = {key, field, value};
    return add_cond(tx, (struct tx_cond){.kind = C_HASH_EQUAL}, args, KEY_FIELD_VALUE, 3);
}

int vmux_tx_when_hash_exists(vmux_tx *tx, vmux_str key, vmux_str field)
{
    vmux_str args[] = {key, field};
    return add_cond(tx, (struct tx_cond){.kind = C_HASH_EXISTS}, args, KEY_FIELD, 2);
}

int vmux_tx_when_hash_not_exists(vmux_tx *tx, vmux_str key, vmux_str field)
{
    vmux_str args[] = {key, field};
    return add_cond(tx, (struct tx_cond){.kind = C_HASH_NOT_EXISTS}, args, KEY_FIELD, 2);
}

int vmux_tx_when_length(vmux_tx *tx, vmux_length_of kind, vmux_str key, vmux_cmp cmp, int64_t n)
{
    struct tx_cond c = {.kind = C_LENGTH, .length_of = kind, .cmp = cmp, .n = n};
    vmux__why_begin(); /* add_cond() begins again, should these pass */
    if (kind < VMUX_LENGTH_STRING || kind > VMUX_LENGTH_HASH) /* its words replace any */
        return vmux__why_set(VMUX_ERR_INVALID_ARG, "kind is %d: none of vmux_length_of", (int)kind);
    if (cmp < VMUX_CMP_EQ || cmp > VMUX_CMP_GE)
        return vmux__why_set(VMUX_ERR_INVALID_ARG, "cmp is %d: none of vmux_cmp", (int)cmp);
    return add_cond(tx, c, &key, KEY_VALUE, 1);
}

/* ---- without conditions: one MULTI ... EXEC block ---- */

static const vmux_bytes MULTI = {(char *)"MULTI", 5};
static const vmux_bytes EXEC = {(char *)"EXEC", 4};

static int exec_block(vmux *m, const vmux_callopts *opts, vmux_tx *tx, bool *committed,
                      vmux_reply **replies)
{
    struct vmux_buf block = {0};
    int rc = vmux__encode_append(&block, &MULTI, 1);
    for (size_t i = 0; i < tx->ncmds && rc == 0; i++)
        rc = vmux__encode_append(&block, tx->cmd_args[i].items, tx->cmd_args[i].count);
    if (rc == 0)
        rc = vmux__encode_append(&block, &EXEC, 1);
    vmux_reply *r = NULL;
    if (rc == 0)
        rc = vmux__call_block(m, opts, block.data, block.len, (uint32_t)tx->ncmds + 2, &r);
    vmux__buf_free(&block);
    *committed = rc == 0 && vmux_reply_get_kind(r) == VMUX_REPLY_ARRAY;
    if (rc == 0 && !*committed) {
        vmux_reply_free(r); /* EXEC answered nil: cannot happen without WATCH */
        return VMUX_ERR_PROTOCOL;
    }
    *replies = r;
    return rc;
}

/* ---- with conditions: a generated script ---- */

struct gen {
    struct vmux_buf src;
    vmux_str *argv;
    size_t argc;
    bool failed;
};

static void emit(struct gen *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void emit(struct gen *g, const char *fmt, ...)
{
    char line[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(line) || vmux__buf_append(&g->src, line, (size_t)n) != 0)
        g->failed = true;
}

/* Appends ARGV entries and returns the Lua index of the first. */
static size_t push_args(struct gen *g, const vmux_bytes *args, size_t n)
{
    size_t first = g->argc + 1;
    for (size_t i = 0; i < n; i++)
        g->argv[g->argc++] = VMUX_STRN(args[i].ptr, args[i].len);
    return first;
}

static void emit_cond(struct gen *g, const struct tx_cond *c)
{
    static const char *const len_cmd[] = {"STRLEN", "LLEN", "SCARD", "ZCARD", "HLEN"};
    static const char *const cmp_op[] = {"==", "~=", "<", "<=", ">", ">="};
    size_t i = push_args(g, c->arg, (size_t)c->nargs);
    switch (c->kind) {
    case C_EXISTS:
    case C_NOT_EXISTS:
        emit(g, "if redis.call('EXISTS', a[%zu]) %s 0 then return false end\n", i,
             c->kind == C_EXISTS ? "==" : "~=");
        break;
    case C_EQUAL:
        emit(g, "if redis.call('GET', a[%zu]) ~= a[%zu] then return false end\n", i, i + 1);
        break;
    case C_HASH_EQUAL:
        emit(g, "if redis.call('HGET', a[%zu], a[%zu]) ~= a[%zu] then return false end\n", i, i + 1,
             i + 2);
        break;
    case C_HASH_EXISTS:
    case C_HASH_NOT_EXISTS:
        emit(g, "if redis.call('HEXISTS', a[%zu], a[%zu]) %s 0 then return false end\n", i, i + 1,
             c->kind == C_HASH_EXISTS ? "==" : "~=");
        break;
    case C_LENGTH:
        emit(g, "if not (redis.call('%s', a[%zu]) %s %lld) then return false end\n",
             len_cmd[c->length_of], i, cmp_op[c->cmp], (long long)c->n);
        break;
    }
}

/* The keys a script declares for a transaction's commands, and the replies some point into. */
struct tx_keys {
    vmux_str *keys;
    size_t n, cap;      /* cap: the conditions' and every command's arguments, a bound */
    vmux_reply **asked; /* COMMAND GETKEYS replies, one per command at most */
    size_t nasked;
};

static void tx_keys_free(struct tx_keys *k)
{
    for (size_t i = 0; i < k->nasked; i++)
        vmux_reply_free(k->asked[i]);
    free(k->asked);
    free(k->keys);
}

/* Whether r is COMMAND GETKEYS's answer for a command of n arguments: an array of at most n
 * strings (a bad answer must neither pass the bound of k->keys nor declare nothing). */
static bool getkeys_shaped(const vmux_reply *r, size_t n)
{
    if (vmux_reply_get_kind(r) != VMUX_REPLY_ARRAY || vmux_reply_len(r) > n)
        return false;
    for (size_t i = 0; i < vmux_reply_len(r); i++)
        if (vmux_reply_get_kind(vmux_reply_element(r, i)) != VMUX_REPLY_STRING)
            return false;
    return true;
}

/*
 * A command the key table does not know (a module's): its keys asked of the server, COMMAND
 * GETKEYS (one round trip; an ACL without it refuses the transaction); a command without keys
 * ("no key arguments") declares none. Another refusal fails the transaction with the server's
 * words in the caller's error buffer, before anything ran.
 */
static int ask_keys(vmux *m, const vmux_callopts *opts, const char **argv, size_t *lens, size_t n,
                    struct tx_keys *k)
{
    argv[0] = "COMMAND";
    lens[0] = 7;
    argv[1] = "GETKEYS";
    lens[1] = 7;
    vmux_callopts o = vmux__callopts_copy(opts); /* words only for a refusal, below */
    char *errbuf = o.errbuf;
    size_t errlen = o.errlen;
    o.errbuf = NULL;
    o.errlen = 0;
    vmux_reply *r = NULL;
    int rc = vmux_call(m, &o, (int)n + 2, argv, lens, &r);
    if (rc == VMUX_ERR_SERVER && r != NULL &&
        strstr(vmux_reply_str(r, NULL), "no key arguments") != NULL) {
        rc = 0; /* nothing to declare */
    } else if (rc == 0 && (!getkeys_shaped(r, n) || vmux_reply_len(r) > k->cap - k->n)) {
        rc = VMUX_ERR_PROTOCOL;
        vmux__errbuf_set(errbuf, errlen, "COMMAND GETKEYS %.*s: not an array of at most %zu keys",
                         (int)(lens[2] < 64 ? lens[2] : 64), argv[2], n);
    } else if (rc == 0) {
        for (size_t i = 0; i < vmux_reply_len(r); i++) {
            size_t len = 0;
            const char *key = vmux_reply_str(vmux_reply_element(r, i), &len);
            k->keys[k->n++] = VMUX_STRN(key, len);
        }
    } else {
        vmux__explain(errbuf, errlen, rc, r);
    }
    k->asked[k->nasked++] = r;
    return rc;
}

/* Argument vectors up to this long are made on the stack (with the two words of GETKEYS). */
#define INLINE_ARGS 16

/*
 * Appends the keys of the command args[0..n) to k: as the key table finds them, or as the server
 * says for a command the table does not know (on a cluster an undeclared key of another slot
 * would fail inside the script while the other commands ran: a transaction half committed).
 */
static int command_keys(vmux *m, const vmux_callopts *opts, const vmux_bytes *args, size_t n,
                        struct tx_keys *k)
{
    const char *argv_inline[INLINE_ARGS + 2];
    size_t lens_inline[INLINE_ARGS + 2];
    bool inline_ok = n <= INLINE_ARGS;
    const char **argv = inline_ok ? argv_inline : malloc((n + 2) * sizeof *argv);
    size_t *lens = inline_ok ? lens_inline : malloc((n + 2) * sizeof *lens);
    int rc = argv == NULL || lens == NULL ? VMUX_ERR_NOMEM : 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        argv[i + 2] = args[i].ptr;
        lens[i + 2] = args[i].len;
    }
    struct vmux_keys found;
    enum vmux_keys_kind kind =
        rc == 0 ? vmux__keys_find((int)n, argv + 2, lens + 2, &found) : VMUX_KEYS_NONE;
    if (kind == VMUX_KEYS_FOUND)
        for (size_t i = 0, c = vmux__keys_count(&found); i < c; i++) {
            int at = vmux__keys_arg(&found, i) + 2;
            k->keys[k->n++] = VMUX_STRN(argv[at], lens[at]);
        }
    else if (kind == VMUX_KEYS_UNKNOWN)
        rc = ask_keys(m, opts, argv, lens, n, k);
    if (!inline_ok) {
        free(argv);
        free(lens);
    }
    return rc;
}

/*
 * The keys the script touches, declared as KEYS (the script itself reads them from ARGV): so
 * that a cluster routes it to their slot's primary, or refuses keys in two slots with
 * VMUX_ERR_CROSSSLOT before anything runs.
 */
static int script_keys(vmux *m, const vmux_callopts *opts, const vmux_tx *tx, struct tx_keys *k)
{
    size_t cap = tx->nconds;
    for (size_t i = 0; i < tx->ncmds; i++)
        cap += tx->cmd_args[i].count;
    k->cap = cap;
    k->keys = malloc((cap > 0 ? cap : 1) * sizeof *k->keys);
    k->asked = calloc(tx->ncmds, sizeof *k->asked);
    if (k->keys == NULL || k->asked == NULL)
        return VMUX_ERR_NOMEM;
    for (size_t i = 0; i < tx->nconds; i++)
        k->keys[k->n++] = VMUX_STRN(tx->conds[i].arg[0].ptr, tx->conds[i].arg[0].len);
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < tx->ncmds; i++)
        rc = command_keys(m, opts, tx->cmd_args[i].items, tx->cmd_args[i].count, k);
    return rc;
}

static int exec_script(vmux *m, const vmux_callopts *opts, vmux_tx *tx, bool *committed,
                       vmux_reply **replies)
{
    size_t nargs = 3 * tx->nconds;
    for (size_t i = 0; i < tx->ncmds; i++)
        nargs += tx->cmd_args[i].count;
    struct gen g = {.argv = malloc(nargs * sizeof(vmux_str))};
    if (g.argv == NULL)
        return VMUX_ERR_NOMEM;
    /* The shebang makes it a script that may write (Valkey 7+): a replica refuses it whole with
     * READONLY, as it refuses MULTI's writes, instead of running it with each write's READONLY
     * caught by pcall and reported as a committed transaction. */
    emit(&g, "#!lua\nlocal a = ARGV\n");
    for (size_t i = 0; i < tx->nconds; i++)
        emit_cond(&g, &tx->conds[i]);
    emit(&g, "local r = {}\n");
    for (size_t i = 0; i < tx->ncmds; i++) {
        size_t first = push_args(&g, tx->cmd_args[i].items, tx->cmd_args[i].count);
        emit(&g, "r[%zu] = redis.pcall(unpack(a, %zu, %zu))\n", i + 1, first,
             first + tx->cmd_args[i].count - 1);
    }
    emit(&g, "return r\n");
    vmux_script *s = NULL;
    struct tx_keys k = {0};
    int rc = g.failed ? VMUX_ERR_NOMEM : script_keys(m, opts, tx, &k);
    if (rc == 0)
        rc = vmux__script_make(VMUX_STRN(g.src.data, g.src.len), &s);
    vmux_reply *r = NULL;
    if (rc == 0)
        rc = vmux_script_run(m, opts, s, k.keys, k.n, g.argv, g.argc, &r);
    tx_keys_free(&k);
    *committed = rc == 0 && vmux_reply_get_kind(r) == VMUX_REPLY_ARRAY;
    if (rc == 0 && !*committed) {
        vmux_reply_free(r); /* a condition failed: the script returned false (nil) */
        r = NULL;
    }
    *replies = r;
    vmux_script_free(s);
    vmux__buf_free(&g.src);
    free(g.argv);
    return rc;
}

int vmux_tx_exec(vmux *m, const vmux_callopts *opts, vmux_tx *tx, bool *committed,
                 vmux_reply **replies)
{
    bool ran = false;
    vmux_reply *r = NULL;
    if (replies != NULL)
        *replies = NULL;
    if (committed != NULL)
        *committed = false;
    if (tx == NULL)
        return vmux__typed_refuse(opts, "tx is NULL");
    if (tx->ncmds == 0)
        return vmux__typed_refuse(opts, "tx holds no command (vmux_tx_add() adds them)");
    int rc =
        tx->nconds == 0 ? exec_block(m, opts, tx, &ran, &r) : exec_script(m, opts, tx, &ran, &r);
    if (committed != NULL)
        *committed = ran;
    if (replies != NULL)
        *replies = r;
    else
        vmux_reply_free(r);
    return rc;
}
