/* Server commands (server.h). */
#include "vmux/server.h"

#include <stdlib.h>
#include <string.h>

#include "api/fanout.h"
#include "api/typed.h"
#include "vmux/error.h"

/* PING or ECHO with its optional message ({NULL, 0}: none; {NULL, len > 0} is refused). */
static void message_command(struct vmux_args *a, const char *cmd, vmux_str message)
{
    vmux__args_init(a);
    vmux__args_cstr(a, cmd);
    if (message.ptr != NULL || message.len > 0)
        vmux__args_str(a, message);
}

int vmux_ping(vmux *m, const vmux_callopts *opts, vmux_str message, vmux_bytes *reply)
{
    struct vmux_args a;
    message_command(&a, "PING", message);
    if (vmux__fan_wanted(m))
        return vmux__fan_run(m, opts, &a, true, VMUX__RERUN_ALL, vmux__combine_same, reply,
                             sizeof *reply, vmux__release_bytes);
    return vmux__run_bytes(m, opts, &a, true, reply);
}

int vmux_ping_async(vmux *m, const vmux_callopts *opts, vmux_str message, vmux_reply_cb cb,
                    void *userdata)
{
    struct vmux_args a;
    message_command(&a, "PING", message);
    return vmux__typed_async(m, opts, &a, true, cb, userdata);
}

int vmux_echo(vmux *m, const vmux_callopts *opts, vmux_str message, vmux_bytes *reply)
{
    struct vmux_args a;
    /* ECHO needs its argument: an empty message is sent as an empty string, not left out. */
    message_command(&a, "ECHO",
                    message.ptr != NULL || message.len > 0 ? message : VMUX_STRN("", 0));
    return vmux__run_bytes(m, opts, &a, true, reply);
}

/* TIME's reply: [seconds, microseconds], both as decimal text. */
struct server_time {
    int64_t s, us;
};

static int conv_time(const vmux_reply *r, void *out)
{
    struct server_time *t = out;
    if (vmux_reply_get_kind(r) == VMUX_REPLY_ARRAY && vmux_reply_len(r) == 2 &&
        vmux__reply_to_number(vmux_reply_element(r, 0), &t->s) == 0 &&
        vmux__reply_to_number(vmux_reply_element(r, 1), &t->us) == 0)
        return 0;
    *t = (struct server_time){0};
    return VMUX_ERR_PROTOCOL;
}

int vmux_time(vmux *m, const vmux_callopts *opts, int64_t *seconds, int64_t *microseconds)
{
    struct server_time t;
    struct vmux_args a;
    vmux__args_init(&a);
    vmux__args_cstr(&a, "TIME");
    int rc = vmux__typed_run_into(m, opts, &a, true, conv_time, &t, sizeof t, NULL);
    if (seconds != NULL)
        *seconds = t.s;
    if (microseconds != NULL)
        *microseconds = t.us;
    return rc;
}

int vmux_info(vmux *m, const vmux_callopts *opts, const char *section, vmux_bytes *text)
{
    struct vmux_args a;
    vmux__args_init(&a);
    vmux__args_cstr(&a, "INFO");
    if (section != NULL)
        vmux__args_cstr(&a, section);
    return vmux__run_bytes(m, opts, &a, true, text);
}

int vmux_dbsize(vmux *m, const vmux_callopts *opts, int64_t *count)
{
    struct vmux_args a;
    vmux__args_init(&a);
    vmux__args_cstr(&a, "DBSIZE");
    if (vmux__fan_wanted(m))
        return vmux__fan_run(m, opts, &a, true, VMUX__RERUN_ALL, vmux__combine_sum, count,
                             sizeof *count, NULL);
    return vmux__run_int(m, opts, &a, true, count);
}

/* FLUSHDB, FLUSHALL: on every primary of a cluster, OK only when every one said OK. */
static int flush(vmux *m, const vmux_callopts *opts, const char *cmd, vmux_flush_mode mode)
{
    struct vmux_args a;
    vmux__args_init(&a);
    vmux__args_cstr(&a, cmd);
    vmux__args_flush_mode(&a, mode);
    if (vmux__fan_wanted(m))
        return vmux__fan_run(m, opts, &a, false, VMUX__RERUN_REST, vmux__combine_all_ok, NULL, 0,
                             NULL);
    return vmux__run_ok(m, opts, &a, false);
}

int vmux_flushdb_for_tests(vmux *m, const vmux_callopts *opts, vmux_flush_mode mode)
{
    return flush(m, opts, "FLUSHDB", mode);
}

int vmux_flushall_for_tests(vmux *m, const vmux_callopts *opts, vmux_flush_mode mode)
{
    return flush(m, opts, "FLUSHALL", mode);
}
