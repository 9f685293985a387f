/* Key commands (keys.h). */
#include "vmux/keys.h"

#include <string.h>

#include "api/split.h"
#include "api/typed.h"
#include "core/sized.h"
#include "vmux/error.h"

/*
 * DEL, UNLINK, EXISTS, TOUCH: one command, or one per slot on a cluster (api/split.h). The split
 * test comes after the arguments are built, where the call's own values are kept anyway: a
 * standalone call pays a function call and one atomic load for it, a cluster call one pass over
 * its keys' slots.
 */
static int run_count(vmux *m, const vmux_callopts *opts, const char *cmd, const vmux_str *keys,
                     size_t n, int64_t *out)
{
    struct vmux_args a;
    vmux_callopts left; /* opts with what waiting for cluster=auto's answer left of its time */
    if (out != NULL)
        *out = 0;
    if (!vmux__args_items(&a, cmd, NULL, keys, n))
        return vmux__items_refuse(opts, "keys", keys, n);
    if (vmux__split_wanted(m, keys, n)) {
        int rc = vmux__split_settle(m, &opts, &left);
        if (rc == 0)
            rc = vmux__split_count(m, opts, cmd, keys, n, out);
        if (rc != VMUX_SPLIT_ONE) {
            vmux__args_free(&a);
            return rc;
        }
    }
    return vmux__run_int(m, opts, &a, true, out);
}

static int count_async(vmux *m, const vmux_callopts *opts, const char *cmd, const vmux_str *keys,
                       size_t n, vmux_reply_cb cb, void *userdata)
{
    struct vmux_args a;
    if (!vmux__args_items(&a, cmd, NULL, keys, n))
        return vmux__items_refuse(opts, "keys", keys, n);
    if (vmux__split_wanted(m, keys, n)) {
        int rc = vmux__split_count_async(m, opts, cmd, keys, n, cb, userdata);
        if (rc != VMUX_SPLIT_ONE) {
            vmux__args_free(&a);
            return rc;
        }
    }
    return vmux__typed_async(m, opts, &a, true, cb, userdata);
}

int vmux_del(vmux *m, const vmux_callopts *opts, const vmux_str *keys, size_t n, int64_t *deleted)
{
    return run_count(m, opts, "DEL", keys, n, deleted);
}

int vmux_del_async(vmux *m, const vmux_callopts *opts, const vmux_str *keys, size_t n,
                   vmux_reply_cb cb, void *userdata)
{
    return count_async(m, opts, "DEL", keys, n, cb, userdata);
}

int vmux_unlink(vmux *m, const vmux_callopts *opts, const vmux_str *keys, size_t n,
                int64_t *unlinked)
{
    return run_count(m, opts, "UNLINK", keys, n, unlinked);
}

int vmux_exists(vmux *m, const vmux_callopts *opts, const vmux_str *keys, size_t n, int64_t *count)
{
    return run_count(m, opts, "EXISTS", keys, n, count);
}

int vmux_exists_async(vmux *m, const vmux_callopts *opts, const vmux_str *keys, size_t n,
                      vmux_reply_cb cb, void *userdata)
{
    return count_async(m, opts, "EXISTS", keys, n, cb, userdata);
}

int vmux_touch(vmux *m, const vmux_callopts *opts, const vmux_str *keys, size_t n, int64_t *touched)
{
    return run_count(m, opts, "TOUCH", keys, n, touched);
}

/* cmd key value [NX|XX|GT|LT|XX GT|XX LT]; false (nothing to free) for an unknown cond. */
static bool build_expire(struct vmux_args *a, const char *cmd, vmux_str key, int64_t value,
                         vmux_cond cond)
{
    if ((unsigned)cond > VMUX_COND_XX_LT)
        return false;
    vmux__args_key_command(a, cmd, key);
    vmux__args_int(a, value);
    return vmux__args_cond(a, cond, VMUX_COND_XX_LT);
}

/* Words for a cond build_expire() refused. */
static int refuse_cond(const vmux_callopts *opts, vmux_cond cond)
{
    return vmux__typed_refuse(opts, "cond is %d: none of vmux_cond", (int)cond);
}

static int run_expire(vmux *m, const vmux_callopts *opts, const char *cmd, vmux_str key,
                      int64_t value, vmux_cond cond, bool *was_set)
{
    struct vmux_args a;
    if (was_set != NULL)
        *was_set = false;
    if (!build_expire(&a, cmd, key, value, cond))
        return refuse_cond(opts, cond);
    return vmux__run_bool(m, opts, &a, cond == VMUX_COND_ALWAYS, was_set);
}

int vmux_expire(vmux *m, const vmux_callopts *opts, vmux_str key, int64_t seconds, vmux_cond cond,
                bool *was_set)
{
    return run_expire(m, opts, "EXPIRE", key, seconds, cond, was_set);
}

int vmux_pexpire(vmux *m, const vmux_callopts *opts, vmux_str key, int64_t ms, vmux_cond cond,
                 bool *was_set)
{
    return run_expire(m, opts, "PEXPIRE", key, ms, cond, was_set);
}

int vmux_pexpire_async(vmux *m, const vmux_callopts *opts, vmux_str key, int64_t ms, vmux_cond cond,
                       vmux_reply_cb cb, void *userdata)
{
    struct vmux_args a;
    if (!build_expire(&a, "PEXPIRE", key, ms, cond))
        return refuse_cond(opts, cond);
    return vmux__typed_async(m, opts, &a, cond == VMUX_COND_ALWAYS, cb, userdata);
}

int vmux_expireat(vmux *m, const vmux_callopts *opts, vmux_str key, int64_t unix_seconds,
                  vmux_cond cond, bool *was_set)
{
    return run_expire(m, opts, "EXPIREAT", key, unix_seconds, cond, was_set);
}

int vmux_pexpireat(vmux *m, const vmux_callopts *opts, vmux_str key, int64_t unix_ms,
                   vmux_cond cond, bool *was_set)
{
    return run_expire(m, opts, "PEXPIREAT", key, unix_ms, cond, was_set);
}

static int run_key_int(vmux *m, const vmux_callopts *opts, const char *cmd, vmux_str key,
                       int64_t *result)
{
    struct vmux_args a;
    vmux__args_key_command(&a, cmd, key);
    return vmux__run_int(m, opts, &a, true, result);
}

int vmux_ttl(vmux *m, const vmux_callopts *opts, vmux_str key, int64_t *ttl)
{
    return run_key_int(m, opts, "TTL", key, ttl);
}

int vmux_pttl(vmux *m, const vmux_callopts *opts, vmux_str key, int64_t *ttl_ms)
{
    return run_key_int(m, opts, "PTTL", key, ttl_ms);
}

int vmux_pttl_async(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_reply_cb cb,
                    void *userdata)
{
    struct vmux_args a;
    vmux__args_key_command(&a, "PTTL", key);
    return vmux__typed_async(m, opts, &a, true, cb, userdata);
}

int vmux_expiretime(vmux *m, const vmux_callopts *opts, vmux_str key, int64_t *unix_seconds)
{
    return run_key_int(m, opts, "EXPIRETIME", key, unix_seconds);
}

int vmux_pexpiretime(vmux *m, const vmux_callopts *opts, vmux_str key, int64_t *unix_ms)
{
    return run_key_int(m, opts, "PEXPIRETIME", key, unix_ms);
}

int vmux_persist(vmux *m, const vmux_callopts *opts, vmux_str key, bool *removed)
{
    struct vmux_args a;
    vmux__args_key_command(&a, "PERSIST", key);
    return vmux__run_bool(m, opts, &a, true, removed);
}

static const char *const type_names[] = {"none", "string", "list", "set", "zset", "hash", "stream"};
#define TYPE_NAMES (sizeof(type_names) / sizeof(type_names[0]))

const char *vmux_key_type_name(vmux_key_type type)
{
    return (unsigned)type < TYPE_NAMES ? type_names[type] : NULL;
}

/* TYPE's status reply as a vmux_key_type. */
static int conv_type(const vmux_reply *r, void *out)
{
    vmux_key_type *type = out;
    *type = VMUX_TYPE_NONE;
    if (vmux_reply_get_kind(r) != VMUX_REPLY_STATUS)
        return VMUX_ERR_PROTOCOL;
    size_t len;
    const char *s = vmux_reply_str(r, &len);
    *type = VMUX_TYPE_OTHER;
    for (size_t i = 0; i < TYPE_NAMES; i++)
        if (strlen(type_names[i]) == len && memcmp(s, type_names[i], len) == 0)
            *type = (vmux_key_type)i;
    return 0;
}

int vmux_type(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_key_type *type)
{
    struct vmux_args a;
    vmux__args_key_command(&a, "TYPE", key);
    return vmux__typed_run_into(m, opts, &a, true, conv_type, type, sizeof(*type), NULL);
}

int vmux_rename(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_str newkey)
{
    struct vmux_args a;
    vmux__args_key_command(&a, "RENAME", key);
    vmux__args_str(&a, newkey);
    return vmux__run_ok(m, opts, &a, false);
}

int vmux_renamenx(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_str newkey, bool *renamed)
{
    struct vmux_args a;
    vmux__args_key_command(&a, "RENAMENX", key);
    vmux__args_str(&a, newkey);
    return vmux__run_bool(m, opts, &a, false, renamed);
}

int vmux_copy(vmux *m, const vmux_callopts *opts, vmux_str src, vmux_str dst,
              const vmux_copy_opts *copy, bool *copied)
{
    struct vmux_args a;
    vmux_copy_opts o = {.size = sizeof o}; /* every default */
    if (copied != NULL)
        *copied = false;
    if (copy != NULL && vmux__sized_in(&o, sizeof o, copy) != 0)
        return vmux__sized_refuse(opts, "copy", copy, sizeof o);
    vmux__args_key_command(&a, "COPY", src);
    vmux__args_str(&a, dst);
    if (o.to_db) {
        vmux__args_cstr(&a, "DB");
        vmux__args_count(&a, o.db);
    }
    if (o.replace)
        vmux__args_cstr(&a, "REPLACE");
    /* without REPLACE a second run finds the first one's copy and answers 0 */
    return vmux__run_bool(m, opts, &a, o.replace, copied);
}

int vmux_object_encoding(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_bytes *encoding)
{
    struct vmux_args a;
    vmux__args_sub_key_command(&a, "OBJECT", "ENCODING", key); /* not an access to the key */
    return vmux__run_bytes(m, opts, &a, true, encoding);
}

/* OBJECT sub key, answered with an integer, or nil for a missing key. */
static int run_object_int(vmux *m, const vmux_callopts *opts, const char *sub, vmux_str key,
                          int64_t *value, bool *found)
{
    struct vmux_args a;
    struct vmux_maybe w =
        vmux__maybe(VMUX_REPLY_INTEGER, vmux__conv_int, value, sizeof(int64_t), NULL);
    if (value != NULL)
        *value = 0;
    vmux__args_sub_key_command(&a, "OBJECT", sub, key);
    int rc = vmux__typed_run_into(m, opts, &a, true, vmux__conv_maybe, &w, 0, NULL);
    if (found != NULL)
        *found = rc == 0 && w.found;
    return rc;
}

int vmux_object_idletime(vmux *m, const vmux_callopts *opts, vmux_str key, int64_t *seconds,
                         bool *found)
{
    return run_object_int(m, opts, "IDLETIME", key, seconds, found);
}

int vmux_object_freq(vmux *m, const vmux_callopts *opts, vmux_str key, int64_t *freq, bool *found)
{
    return run_object_int(m, opts, "FREQ", key, freq, found);
}

int vmux_dump(vmux *m, const vmux_callopts *opts, vmux_str key, vmux_bytes *payload, bool *found)
{
    struct vmux_args a;
    vmux_bytes v;
    vmux__args_key_command(&a, "DUMP", key);
    return vmux__bytes_found(vmux__run_bytes(m, opts, &a, true, &v), &v, payload, found);
}

/* Options RESTORE's server would refuse: a negative idle time, a frequency outside a byte, or
 * both at once (its syntax error). */
static bool restore_refused(const vmux_restore_opts *o)
{
    return (o->idletime && o->idle_seconds < 0) ||
           (o->freq && (o->frequency < 0 || o->frequency > 255)) || (o->idletime && o->freq);
}

/* The words after RESTORE key ttl payload. */
static void restore_options(struct vmux_args *a, const vmux_restore_opts *o)
{
    if (o->replace)
        vmux__args_cstr(a, "REPLACE");
    if (o->absttl)
        vmux__args_cstr(a, "ABSTTL");
    if (o->idletime) {
        vmux__args_cstr(a, "IDLETIME");
        vmux__args_int(a, o->idle_seconds);
    }
    if (o->freq) {
        vmux__args_cstr(a, "FREQ");
        vmux__args_int(a, o->frequency);
    }
}

int vmux_restore(vmux *m, const vmux_callopts *opts, vmux_str key, int64_t ttl_ms, vmux_str payload,
                 const vmux_restore_opts *restore)
{
    struct vmux_args a;
    vmux_restore_opts o = {.size = sizeof o}; /* every default */
    vmux__args_key_command(&a, "RESTORE", key);
    vmux__args_count(&a, ttl_ms);
    vmux__args_str(&a, payload);
    if ((restore != NULL && vmux__sized_in(&o, sizeof o, restore) != 0) || restore_refused(&o))
        vmux__args_refuse_why(&a, "restore is refused: made without VMUX_INIT, idle_seconds below "
                                  "0, frequency outside 0 to 255, or idletime with freq (one of "
                                  "the two)");
    else
        restore_options(&a, &o);
    /* without REPLACE a second run finds the first one's key: BUSYKEY */
    return vmux__run_ok(m, opts, &a, o.replace);
}
