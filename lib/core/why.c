/* The words of a pattern call's error, per thread (why.h). */
#include "core/why.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/explain.h"
#include "core/shareable.h"
#include "vmux/error.h"

/* Room for any call's words: a failure's reason and its prefix (docs/errors.md: 640 bytes). */
static _Thread_local char words[1024];

/* What every VMUX_ERR_INVALID_ARG's words start with (docs/api-conventions.md). */
static const char arg_prefix[] = "invalid argument: ";

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

int vmux__why_sized(const char *name, size_t size, size_t known)
{
    if (size < sizeof(size_t))
        return vmux__why_set(VMUX_ERR_INVALID_ARG,
                             "%s->size is %zu: %s not made with VMUX_INIT (abi.h)", name, size,
                             name);
    return vmux__why_set(VMUX_ERR_INVALID_ARG,
                         "%s->size is %zu: a newer vmux.h's options, with a field set past the "
                         "%zu bytes this library knows",
                         name, size, known);
}

int vmux__why_argv(int argc, const char *const *argv, const size_t *argvlen)
{
    char why[VMUX_ARGV_WHY_SIZE];
    if (!vmux__argv_why(why, sizeof why, argc, argv, argvlen))
        return 0;
    return vmux__why_set(VMUX_ERR_INVALID_ARG, "%s", why);
}

int vmux__why_unsupported(int argc, const char *const *argv, const size_t *argvlen, const char *why)
{
    const char *code = vmux_strerror(VMUX_ERR_UNSUPPORTED);
    if (why == NULL) {
        (void)vmux__why_set(VMUX_ERR_UNSUPPORTED, "%s", code); /* should the classifier not say */
        vmux__unshareable_explain(words, sizeof words, argc, argv, argvlen);
        return VMUX_ERR_UNSUPPORTED;
    }
    size_t len = argvlen != NULL ? argvlen[0] : strlen(argv[0]);
    return vmux__why_set(VMUX_ERR_UNSUPPORTED, "%s: %.*s %s", code, (int)(len < 64 ? len : 64),
                         argv[0], why);
}

int vmux__why_str(const char *name, vmux_str s)
{
    if (s.ptr != NULL || s.len == 0)
        return 0;
    return vmux__why_set(VMUX_ERR_INVALID_ARG,
                         "%s is at NULL with length %zu (a vmux_str {NULL, len > 0} is no string)",
                         name, s.len);
}

int vmux__why_timeout(const char *name, int64_t ms)
{
    if (ms >= VMUX_FOREVER)
        return 0;
    return vmux__why_set(VMUX_ERR_INVALID_ARG,
                         "%s is %lld: must be VMUX_FOREVER (-1), to wait as long as it takes, or "
                         "at least 0",
                         name, (long long)ms);
}

int vmux__why_vset(int rc, const char *fmt, va_list ap)
{
    size_t at = rc == VMUX_ERR_INVALID_ARG ? sizeof arg_prefix - 1 : 0;
    memcpy(words, arg_prefix, at);
    vsnprintf(words + at, sizeof words - at, fmt, ap);
    if (at > 0 && strncmp(words + at, arg_prefix, at) == 0) /* words that had it: a command's */
        memmove(words, words + at, strlen(words + at) + 1);
    return rc;
}

int vmux__why_vput(int rc, const char *fmt, va_list ap)
{
    vsnprintf(words, sizeof words, fmt, ap);
    return rc;
}

int vmux__why_end(int rc)
{
    if (rc == 0)
        words[0] = '\0'; /* what a command that failed on the way left, the call recovered from */
    else if (words[0] == '\0') /* "invalid argument", not "invalid argument: invalid argument" */
        (void)snprintf(words, sizeof words, "%s", vmux_strerror(rc));
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
