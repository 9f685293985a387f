/* The words of a caller's error buffer (core/explain.h). */
#include "core/explain.h"

#include "core/errbuf.h"
#include "core/reply_internal.h"
#include "vmux/error.h"

bool vmux__unsent_code(int status)
{
    return status == VMUX_ERR_TIMEOUT || status == VMUX_ERR_NOT_CONNECTED ||
           status == VMUX_ERR_BACKLOG_FULL;
}

bool vmux__lost_code(int status)
{
    return status == VMUX_ERR_CONNECTION_LOST || status == VMUX_ERR_PROTOCOL;
}

bool vmux__words_code(int status)
{
    return vmux__unsent_code(status) || vmux__lost_code(status) || status == VMUX_ERR_CLOSED;
}

const char vmux__on_io_thread_words[] =
    "a synchronous call from a vmux callback (on the I/O thread) would wait for itself: use the "
    "_async form, or hand the work to a thread of your own";

/* vmux_strerror(VMUX_ERR_CLOSED)'s words cover a command the close ended too ("may have run") */
static const char closing_words[] = "the handle is closing (vmux_close() has begun): the command "
                                    "was not accepted and nothing was sent";

void vmux__explain_refused(char *buf, size_t len, int rc)
{
    if (rc == VMUX_ERR_CLOSED)
        vmux__errbuf_set(buf, len, "%s", closing_words);
    else
        vmux__explain(buf, len, rc, NULL);
}

bool vmux__argv_why(char *buf, size_t len, int argc, const char *const *argv, const size_t *argvlen)
{
    if (argc < 1) {
        vmux__errbuf_set(buf, len, "argc is %d (a command has at least its name)", argc);
        return true;
    }
    if (argv == NULL) {
        vmux__errbuf_set(buf, len, "argv is NULL");
        return true;
    }
    for (int i = 0; i < argc; i++) {
        if (argv[i] == NULL && (argvlen == NULL || argvlen[i] != 0)) {
            vmux__errbuf_set(buf, len, "argv[%d] is NULL%s", i,
                             argvlen == NULL ? " (argvlen is NULL: every argument a C string)"
                                             : " with a length");
            return true;
        }
    }
    return false;
}

bool vmux__explain_argv(char *buf, size_t len, int argc, const char *const *argv,
                        const size_t *argvlen)
{
    char why[VMUX_ARGV_WHY_SIZE];
    if (!vmux__argv_why(why, sizeof why, argc, argv, argvlen))
        return false;
    vmux__errbuf_set(buf, len, "invalid argument: %s", why);
    return true;
}

void vmux__explain(char *buf, size_t len, int status, const vmux_reply *reply)
{
    if (buf == NULL || len == 0 || status == 0)
        return;
    bool worded = (status == VMUX_ERR_SERVER || status == VMUX_ERR_REDIRECT_LOOP ||
                   status == VMUX_ERR_CROSSSLOT || status == VMUX_ERR_CONFIG) &&
                  reply != NULL;
    const char *why = worded ? vmux_reply_str(reply, NULL) : vmux_strerror(status);
    const char *failure =
        vmux__unsent_code(status) && reply != NULL ? vmux_reply_str(reply, NULL) : NULL;
    bool status_words = failure != NULL && vmux_reply_get_kind(reply) == VMUX_REPLY_STATUS;
    /* a router's wait (op_words.c): the code's "no connection was ready" would not be true */
    if (status == VMUX_ERR_CLOSED && reply != NULL) /* never sent, or not run (op_words.c) */
        vmux__errbuf_set(buf, len, "%s", vmux_reply_str(reply, NULL));
    else if (status_words && status == VMUX_ERR_NOT_CONNECTED)
        vmux__errbuf_set(buf, len, "its deadline passed: %s", failure);
    else if (status_words) /* written, or a router's wait: op_words.c */
        vmux__errbuf_set(buf, len, "%s: %s", why, failure);
    else if (failure != NULL && status == VMUX_ERR_BACKLOG_FULL) /* the bound first (net/link.c) */
        vmux__errbuf_set(buf, len, "%s: %s", why, failure);
    else if (failure != NULL)
        vmux__errbuf_set(buf, len, "%s%s; last connection failure: %s", why,
                         status == VMUX_ERR_TIMEOUT ? " waiting for a connection (never sent)" : "",
                         failure);
    else if (vmux__lost_code(status) && reply != NULL)
        vmux__errbuf_set(buf, len, "%s: %s", why, vmux_reply_str(reply, NULL));
    else
        vmux__errbuf_set(buf, len, "%s", why != NULL ? why : "");
}

enum vmux__ran vmux__ran_of(int status, const vmux_reply *why)
{
    if (status == VMUX_ERR_BACKLOG_FULL)
        return VMUX__RAN_UNSENT; /* refused at a bound: never written */
    if (why == NULL || !(vmux__unsent_code(status) || status == VMUX_ERR_CLOSED))
        return VMUX__RAN_MAYBE;
    if (vmux_reply_get_kind(why) == VMUX_REPLY_ERROR)
        return status == VMUX_ERR_CLOSED ? VMUX__RAN_MAYBE : VMUX__RAN_UNSENT;
    return (enum vmux__ran)why->ran; /* set where the words were made (core/op_words.c) */
}
