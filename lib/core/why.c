/* The words of a pattern call's error, per thread (why.h). */
#include "core/why.h"

#include <stdarg.h>
#include <stdio.h>

#include "core/explain.h"
#include "vmux/error.h"

/* Room for any call's words: a failure's reason and its prefix (docs/errors.md: 640 bytes). */
static _Thread_local char words[1024];

void vmux__why_begin(void)
{
    words[0] = '\0';
}

void vmux__why_opts(vmux_callopts *o)
{
    words[0] = '\0';
    o->errbuf = words;
    o->errlen = sizeof words;
}

int vmux__why_set(int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmux__why_vset(rc, fmt, ap);
    va_end(ap);
    return rc;
}

int vmux__why_sized(size_t size, size_t known)
{
    if (size < sizeof(size_t))
        return vmux__why_set(VMUX_ERR_INVALID_ARG,
                             "opts->size is %zu: opts not made with VMUX_INIT (abi.h)", size);
    return vmux__why_set(VMUX_ERR_INVALID_ARG,
                         "opts->size is %zu: a newer vmux.h's options, with a field set past the "
                         "%zu bytes this library knows",
                         size, known);
}

int vmux__why_vset(int rc, const char *fmt, va_list ap)
{
    vsnprintf(words, sizeof words, fmt, ap);
    return rc;
}

int vmux__why_end(int rc)
{
    if (rc == 0)
        words[0] = '\0'; /* what a command that failed on the way left, the call recovered from */
    else if (words[0] == '\0')
        (void)vmux__why_set(rc, "%s", vmux_strerror(rc));
    return rc;
}

vmux_reply *vmux__why_completion(int status, vmux_reply *reply)
{
    vmux__explain(words, sizeof words, status, reply);
    if (!vmux__words_code(status))
        return reply; /* the callback's own: a server's error reply, vmux's for a redirect loop */
    vmux_reply_free(reply); /* the why of an unsent or lost op: words now, not a reply */
    return NULL;
}

const char *vmux_last_error(void)
{
    return words;
}
