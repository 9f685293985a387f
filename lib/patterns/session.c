/*
 * Sessions with sliding expiration (session.h). Each operation is one script that checks the
 * session, renews its TTL and reads or writes, so a read can never see a session that the
 * renewal then fails to keep, and a write can never bring an expired session back.
 */
#include "vmux/session.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/typed.h"
#include "core/random.h"
#include "core/sized.h"
#include "core/why.h"
#include "mux/handle.h"
#include "patterns/prefixed_key.h"
#include "vmux/error.h"
#include "vmux/keys.h"
#include "vmux/script.h"

_Static_assert(VMUX_SESSION_ID_BYTES_MAX <= VMUX_RANDOM_HEX_MAX, "an id fits vmux__random_hex()");

/*
 * KEYS[1] the session; ARGV[1] idle TTL, ARGV[2] absolute lifetime (0: none), both in ms.
 * renew() returns the TTL it set, or false when the session is missing or past its lifetime.
 * The reserved field "" holds the creation time; a key without it is not a session.
 */
#define SESSION_PRELUDE                                                                            \
    "local key = KEYS[1]\n"                                                                        \
    "local idle = tonumber(ARGV[1])\n"                                                             \
    "local life = tonumber(ARGV[2])\n"                                                             \
    "local function now_ms()\n"                                                                    \
    "  local t = redis.call('TIME')\n"                                                             \
    "  return t[1] * 1000 + math.floor(t[2] / 1000)\n"                                             \
    "end\n"                                                                                        \
    "local function renew()\n"                                                                     \
    "  local created = redis.call('HGET', key, '')\n"                                              \
    "  if not created then return false end\n"                                                     \
    "  local ttl = idle\n"                                                                         \
    "  if life > 0 then\n"                                                                         \
    "    local left = tonumber(created) + life - now_ms()\n"                                       \
    "    if left <= 0 then\n"                                                                      \
    "      redis.call('DEL', key)\n"                                                               \
    "      return false\n"                                                                         \
    "    end\n"                                                                                    \
    "    if left < ttl then ttl = left end\n"                                                      \
    "  end\n"                                                                                      \
    "  redis.call('PEXPIRE', key, string.format('%d', ttl))\n"                                     \
    "  return ttl\n"                                                                               \
    "end\n"

/* Returns 0 when the id is taken, else 1; ARGV[3..] are field/value pairs. */
static const char create_lua[] =
    SESSION_PRELUDE "if redis.call('EXISTS', key) == 1 then return 0 end\n"
                    "redis.call('HSET', key, '', string.format('%d', now_ms()))\n"
                    "for i = 3, #ARGV, 2 do redis.call('HSET', key, ARGV[i], ARGV[i + 1]) end\n"
                    "local ttl = idle\n"
                    "if life > 0 and life < ttl then ttl = life end\n"
                    "redis.call('PEXPIRE', key, string.format('%d', ttl))\n"
                    "return 1\n";

/* nil for a missing session, else {value or nil}. */
static const char get_lua[] = SESSION_PRELUDE "if not renew() then return false end\n"
                                              "return {redis.call('HGET', key, ARGV[3])}\n";

/* nil for a missing session, else HGETALL (reserved field included). */
static const char get_all_lua[] = SESSION_PRELUDE "if not renew() then return false end\n"
                                                  "return redis.call('HGETALL', key)\n";

/* 0 for a missing session (nothing written), else 1; ARGV[3..] are field/value pairs. */
static const char set_lua[] =
    SESSION_PRELUDE "if not renew() then return 0 end\n"
                    "for i = 3, #ARGV, 2 do redis.call('HSET', key, ARGV[i], ARGV[i + 1]) end\n"
                    "return 1\n";

/* nil for a missing session, else how many of ARGV[3..] existed. */
static const char del_lua[] =
    SESSION_PRELUDE "if not renew() then return false end\n"
                    "local n = 0\n"
                    "for i = 3, #ARGV do n = n + redis.call('HDEL', key, ARGV[i]) end\n"
                    "return n\n";

/* nil for a missing session, else the TTL set. */
static const char touch_lua[] = SESSION_PRELUDE "return renew() or false\n";

enum { S_CREATE, S_GET, S_GET_ALL, S_SET, S_DEL, S_TOUCH, S_COUNT };

struct vmux_session_store {
    vmux *m;
    vmux_script *scripts[S_COUNT];
    size_t id_bytes;
    char idle[24], life[24]; /* ARGV[1] and ARGV[2], as decimal text */
    size_t prefix_len;
    char prefix[]; /* NUL-terminated */
};

#define DEFAULT_IDLE_TTL_MS 1800000
#define MIN_ID_BYTES 16
#define CREATE_ATTEMPTS 3

/* A TTL within 0 .. VMUX_TTL_MAX_MS, or VMUX_ERR_INVALID_ARG naming the field. */
static int check_ttl(const char *field, int64_t ttl_ms)
{
    if (ttl_ms >= 0 && ttl_ms <= VMUX_TTL_MAX_MS)
        return 0;
    return vmux__why_set(VMUX_ERR_INVALID_ARG,
                         "%s %" PRId64 " out of range 0 .. 2^53 (VMUX_TTL_MAX_MS)", field, ttl_ms);
}

/* 0, or VMUX_ERR_INVALID_ARG with the words of what is wrong. */
static int check_opts(const vmux_session_opts *o)
{
    int rc = check_ttl("idle_ttl_ms", o->idle_ttl_ms);
    if (rc == 0)
        rc = check_ttl("max_lifetime_ms", o->max_lifetime_ms);
    if (rc == 0 && o->id_bytes != 0 &&
        (o->id_bytes < MIN_ID_BYTES || o->id_bytes > VMUX_SESSION_ID_BYTES_MAX))
        rc = vmux__why_set(VMUX_ERR_INVALID_ARG, "id_bytes %zu out of range %d .. %d", o->id_bytes,
                           MIN_ID_BYTES, VMUX_SESSION_ID_BYTES_MAX);
    return rc;
}

static int make_scripts(vmux_session_store *s)
{
    static const char *const sources[S_COUNT] = {create_lua, get_lua, get_all_lua,
                                                 set_lua,    del_lua, touch_lua};
    for (int i = 0; i < S_COUNT; i++) {
        int rc = vmux_script_new(VMUX_STR(sources[i]), &s->scripts[i]);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* vmux_session_store_new() but for its words. */
static int store_make(vmux *m, const vmux_session_opts *opts, vmux_session_store **out)
{
    vmux_session_opts o = {.size = sizeof o};
    if (out != NULL)
        *out = NULL;
    if (opts != NULL && vmux__sized_in(&o, sizeof o, opts) != 0)
        return vmux__why_sized("opts", opts->size, sizeof o);
    if (m == NULL || out == NULL)
        return vmux__why_set(VMUX_ERR_INVALID_ARG, "%s is NULL", m == NULL ? "the handle" : "out");
    int rc = check_opts(&o);
    if (rc != 0)
        return rc;
    if (vmux__handle_forked(m))
        return VMUX_ERR_FORKED; /* as vmux_lock_new(): every call on it would fail so */
    const char *prefix = o.prefix != NULL ? o.prefix : "session:";
    size_t plen = strlen(prefix);
    vmux_session_store *s = calloc(1, sizeof(*s) + plen + 1);
    if (s == NULL)
        return VMUX_ERR_NOMEM;
    s->m = m;
    s->id_bytes = o.id_bytes != 0 ? o.id_bytes : MIN_ID_BYTES;
    snprintf(s->idle, sizeof s->idle, "%" PRId64,
             o.idle_ttl_ms != 0 ? o.idle_ttl_ms : (int64_t)DEFAULT_IDLE_TTL_MS);
    snprintf(s->life, sizeof s->life, "%" PRId64, o.max_lifetime_ms);
    memcpy(s->prefix, prefix, plen + 1);
    s->prefix_len = plen;
    rc = make_scripts(s);
    if (rc != 0) {
        vmux_session_store_free(s);
        return rc;
    }
    *out = s;
    return 0;
}

int vmux_session_store_new(vmux *m, const vmux_session_opts *opts, vmux_session_store **out)
{
    vmux__why_begin();
    return vmux__why_end(store_make(m, opts, out));
}

void vmux_session_store_free(vmux_session_store *s)
{
    if (s == NULL)
        return;
    for (int i = 0; i < S_COUNT; i++)
        vmux_script_free(s->scripts[i]);
    free(s);
}

/* True when id has the length and alphabet of this store's ids. */
static bool valid_id(const vmux_session_store *s, const char *id)
{
    size_t want = 2 * s->id_bytes;
    if (strnlen(id, want + 1) != want)
        return false;
    for (size_t i = 0; i < want; i++) {
        char c = id[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return false;
    }
    return true;
}

/* vmux_session_key() but for clearing and ending its words. */
static int session_key(const vmux_session_store *s, const char *id, char *key, size_t keylen)
{
    if (s == NULL || id == NULL || key == NULL)
        return vmux__why_set(VMUX_ERR_INVALID_ARG, "%s is NULL",
                             s == NULL    ? "s"
                             : id == NULL ? "id"
                                          : "key");
    if (!valid_id(s, id))
        return vmux__why_set(VMUX_ERR_INVALID_ARG,
                             "id is no id of this store (%zu lowercase hex digits)",
                             2 * s->id_bytes);
    size_t len = s->prefix_len + 2 * s->id_bytes;
    if (len + 1 > keylen)
        return vmux__why_set(VMUX_ERR_INVALID_ARG,
                             "keylen is %zu: the key needs %zu bytes with its NUL", keylen,
                             len + 1);
    memcpy(key, s->prefix, s->prefix_len);
    memcpy(key + s->prefix_len, id, 2 * s->id_bytes + 1);
    return (int)len;
}

int vmux_session_key(const vmux_session_store *s, const char *id, char *key, size_t keylen)
{
    vmux__why_begin();
    int n = session_key(s, id, key, keylen);
    (void)vmux__why_end(n < 0 ? n : 0); /* a length on success: no words */
    return n;
}

/* The session's key into *k (free with vmux__prefixed_key_free()): 0 or VMUX_ERR_NOMEM. id is
 * valid (valid_id()). */
static int key_of(const vmux_session_store *s, const char *id, struct vmux__prefixed_key *k)
{
    return vmux__prefixed_key_make(k, s->prefix, s->prefix_len, VMUX_STRN(id, 2 * s->id_bytes));
}

static vmux_callopts retry_safe(const vmux_callopts *opts)
{
    vmux_callopts o = vmux__callopts_copy(opts);
    o.flags |= VMUX_CALL_RETRY_SAFE;
    return o;
}

/*
 * 0, or VMUX_ERR_INVALID_ARG with words in opts->errbuf for fields (n of them; values, when not
 * NULL, beside them) that the scripts cannot take. The reserved field "" is the session's own;
 * callers may not name it.
 */
static int fields_refuse(const vmux_callopts *opts, const vmux_str *fields, const vmux_str *values,
                         size_t n)
{
    if (n > 0 && fields == NULL)
        return vmux__typed_refuse(opts, "fields is NULL with n %zu", n);
    for (size_t i = 0; i < n; i++) {
        if (fields[i].len == 0)
            return vmux__typed_refuse(
                opts, "fields[%zu] is empty: the field \"\" is the session's own", i);
        if (fields[i].ptr == NULL || (values != NULL && values[i].ptr == NULL && values[i].len > 0))
            return vmux__typed_refuse(opts,
                                      "%s[%zu] is at NULL with length %zu (a vmux_str {NULL, len "
                                      "> 0} is no string)",
                                      fields[i].ptr == NULL ? "fields" : "values", i,
                                      fields[i].ptr == NULL ? fields[i].len : values[i].len);
    }
    return 0;
}

/*
 * Runs script which on the session with ARGV = idle, life, then extra[0..nextra) (borrowed),
 * and converts the reply into out (vmux__reply_into(), nothing zeroed: the callers zero their
 * out-parameters first).
 */
static int run(vmux_session_store *s, vmux_callopts opts, int which, const char *id,
               const vmux_str *extra, size_t nextra, vmux_convert_fn convert, void *out)
{
    struct vmux__prefixed_key key;
    bool have_key = key_of(s, id, &key) == 0;
    vmux_str *args = malloc((nextra + 2) * sizeof(*args));
    vmux_reply *r = NULL;
    int rc = VMUX_ERR_NOMEM;
    if (have_key && args != NULL) {
        vmux_str k = VMUX_STRN(key.ptr, key.len);
        args[0] = VMUX_STR(s->idle);
        args[1] = VMUX_STR(s->life);
        if (nextra > 0)
            memcpy(args + 2, extra, nextra * sizeof(*args));
        rc = vmux_script_run(s->m, &opts, s->scripts[which], &k, 1, args, nextra + 2, &r);
    }
    free(args);
    if (have_key)
        vmux__prefixed_key_free(&key);
    return vmux__reply_into(rc, r, convert, out, 0, NULL);
}

/*
 * Runs a script that answers nil for a missing session, else a reply that w reads; *found
 * (may be NULL) says which. Retry-safe: these scripts only read, or write what they read.
 */
static int run_maybe(vmux_session_store *s, const vmux_callopts *opts, int which, const char *id,
                     const vmux_str *extra, size_t nextra, struct vmux_maybe *w, bool *found)
{
    int rc = run(s, retry_safe(opts), which, id, extra, nextra, vmux__conv_maybe, w);
    if (found != NULL)
        *found = rc == 0 && w->found;
    return rc;
}

/* A script's 0 or 1: whether it did its work. */
static int conv_done(const vmux_reply *r, void *out)
{
    if (vmux_reply_get_kind(r) != VMUX_REPLY_INTEGER)
        return VMUX_ERR_PROTOCOL;
    *(bool *)out = vmux_reply_integer(r) == 1;
    return 0;
}

/* fields and values interleaved, as the scripts take them; NULL when out of memory. */
static vmux_str *interleave(const vmux_str *fields, const vmux_str *values, size_t n)
{
    vmux_str *pairs = malloc((2 * n + 1) * sizeof(*pairs));
    for (size_t i = 0; pairs != NULL && i < n; i++) {
        pairs[2 * i] = fields[i];
        pairs[2 * i + 1] = values[i].ptr != NULL ? values[i] : VMUX_STRN("", 0);
    }
    return pairs;
}

/* Runs a script taking field/value pairs; *ok is whether it answered 1. */
static int run_pairs(vmux_session_store *s, vmux_callopts opts, int which, const char *id,
                     const vmux_str *fields, const vmux_str *values, size_t n, bool *ok)
{
    vmux_str *pairs = interleave(fields, values, n);
    if (pairs == NULL)
        return VMUX_ERR_NOMEM;
    *ok = false;
    int rc = run(s, opts, which, id, pairs, 2 * n, conv_done, ok);
    free(pairs);
    return rc;
}

int vmux_session_create(vmux_session_store *s, const vmux_callopts *opts, const vmux_str *fields,
                        const vmux_str *values, size_t n, char *id)
{
    if (id != NULL)
        id[0] = '\0';
    if (s == NULL || id == NULL)
        return vmux__typed_refuse(opts, "%s is NULL", s == NULL ? "s" : "id");
    if (n > 0 && values == NULL)
        return vmux__typed_refuse(opts, "values is NULL with n %zu", n);
    int rc = fields_refuse(opts, fields, values, n);
    if (rc != 0)
        return rc;
    vmux_callopts o = vmux__callopts_copy(opts);
    for (int attempt = 0; attempt < CREATE_ATTEMPTS; attempt++) {
        bool created = false;
        rc = vmux__random_hex(s->id_bytes, id);
        if (rc == 0)
            rc = run_pairs(s, o, S_CREATE, id, fields, values, n, &created);
        if (rc != 0 || created) {
            if (rc != 0)
                id[0] = '\0';
            return rc;
        }
    }
    id[0] = '\0';
    return VMUX_ERR_IO; /* three 128-bit ids all taken: the generator is broken */
}

/* Checks the common arguments: 0, or VMUX_ERR_INVALID_ARG with words in opts->errbuf; also
 * zeroes *found, so early returns need not. */
static int check(const vmux_callopts *opts, const vmux_session_store *s, const char *id,
                 bool *found)
{
    if (found != NULL)
        *found = false;
    if (s == NULL || id == NULL)
        return vmux__typed_refuse(opts, "%s is NULL", s == NULL ? "s" : "id");
    return 0;
}

/* check(), then fields: at least 1, n of them (values beside them when not NULL). */
static int check_fields(const vmux_callopts *opts, const vmux_session_store *s, const char *id,
                        bool *found, const vmux_str *fields, const vmux_str *values, size_t n)
{
    int rc = check(opts, s, id, found);
    if (rc == 0 && n == 0)
        rc = vmux__typed_refuse(opts, "n is 0: must be at least 1");
    return rc != 0 ? rc : fields_refuse(opts, fields, values, n);
}

/* The get script's {value}: the value of the field asked for. */
static int conv_first(const vmux_reply *r, void *out)
{
    const vmux_reply *e = vmux_reply_element(r, 0);
    return e != NULL ? vmux_reply_to_bytes(e, out) : VMUX_ERR_PROTOCOL;
}

int vmux_session_get(vmux_session_store *s, const vmux_callopts *opts, const char *id,
                     vmux_str field, vmux_bytes *value, bool *found)
{
    if (value != NULL)
        memset(value, 0, sizeof(*value));
    int rc = check_fields(opts, s, id, found, &field, NULL, 1);
    if (rc != 0)
        return rc;
    if (!valid_id(s, id))
        return 0;
    struct vmux_maybe w =
        vmux__maybe(VMUX_REPLY_ARRAY, conv_first, value, sizeof(vmux_bytes), vmux__release_bytes);
    return run_maybe(s, opts, S_GET, id, &field, 1, &w, found);
}

/* Drops the reserved field from an HGETALL result, keeping the order of the others. */
static void drop_reserved(vmux_field_array *a)
{
    size_t kept = 0;
    for (size_t i = 0; i < a->count; i++) {
        if (a->items[i].field.len == 0) {
            vmux_bytes_free(&a->items[i].field);
            vmux_bytes_free(&a->items[i].value);
        } else {
            a->items[kept++] = a->items[i];
        }
    }
    a->count = kept;
    if (kept == 0) {
        free(a->items);
        a->items = NULL;
    }
}

/* HGETALL's reply without the reserved field. */
static int conv_fields(const vmux_reply *r, void *out)
{
    int rc = vmux_reply_to_field_array(r, out);
    drop_reserved(out);
    return rc;
}

int vmux_session_get_all(vmux_session_store *s, const vmux_callopts *opts, const char *id,
                         vmux_field_array *fields, bool *found)
{
    if (fields != NULL)
        memset(fields, 0, sizeof(*fields));
    int rc = check(opts, s, id, found);
    if (rc != 0)
        return rc;
    if (!valid_id(s, id))
        return 0;
    struct vmux_maybe w = vmux__maybe(VMUX_REPLY_ARRAY, conv_fields, fields,
                                      sizeof(vmux_field_array), vmux__release_field_array);
    return run_maybe(s, opts, S_GET_ALL, id, NULL, 0, &w, found);
}

int vmux_session_set(vmux_session_store *s, const vmux_callopts *opts, const char *id,
                     const vmux_str *fields, const vmux_str *values, size_t n, bool *found)
{
    int rc = check_fields(opts, s, id, found, fields, values, n);
    if (rc == 0 && values == NULL)
        rc = vmux__typed_refuse(opts, "values is NULL with n %zu", n);
    if (rc != 0)
        return rc;
    if (!valid_id(s, id))
        return 0;
    bool ok = false;
    rc = run_pairs(s, retry_safe(opts), S_SET, id, fields, values, n, &ok);
    if (found != NULL)
        *found = ok;
    return rc;
}

/* Runs a script answering nil for a missing session or an integer; *v is that integer. */
static int run_int(vmux_session_store *s, const vmux_callopts *opts, int which, const char *id,
                   const vmux_str *extra, size_t nextra, int64_t *v, bool *found)
{
    struct vmux_maybe w = vmux__maybe(VMUX_REPLY_INTEGER, vmux__conv_int, v, sizeof(int64_t), NULL);
    return run_maybe(s, opts, which, id, extra, nextra, &w, found);
}

int vmux_session_del(vmux_session_store *s, const vmux_callopts *opts, const char *id,
                     const vmux_str *fields, size_t n, int64_t *deleted, bool *found)
{
    if (deleted != NULL)
        *deleted = 0;
    int rc = check_fields(opts, s, id, found, fields, NULL, n);
    if (rc != 0)
        return rc;
    if (!valid_id(s, id))
        return 0;
    return run_int(s, opts, S_DEL, id, fields, n, deleted, found);
}

int vmux_session_touch(vmux_session_store *s, const vmux_callopts *opts, const char *id,
                       bool *found, int64_t *ttl_ms)
{
    if (ttl_ms != NULL)
        *ttl_ms = 0;
    int rc = check(opts, s, id, found);
    if (rc != 0)
        return rc;
    if (!valid_id(s, id))
        return 0;
    return run_int(s, opts, S_TOUCH, id, NULL, 0, ttl_ms, found);
}

int vmux_session_destroy(vmux_session_store *s, const vmux_callopts *opts, const char *id,
                         bool *existed)
{
    int rc = check(opts, s, id, existed);
    if (rc != 0)
        return rc;
    if (!valid_id(s, id))
        return 0;
    struct vmux__prefixed_key key;
    if (key_of(s, id, &key) != 0)
        return VMUX_ERR_NOMEM;
    vmux_str k = VMUX_STRN(key.ptr, key.len);
    int64_t n = 0;
    rc = vmux_del(s->m, opts, &k, 1, &n);
    vmux__prefixed_key_free(&key);
    if (existed != NULL)
        *existed = rc == 0 && n == 1;
    return rc;
}
