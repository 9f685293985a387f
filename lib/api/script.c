/* Scripts that load themselves (script.h). */
#include "vmux/script.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/typed.h"
#include "vmux/error.h"

struct vmux_script {
    char sha1[41];
    size_t len;
    char source[];
};

int vmux_script_new(vmux_str source, vmux_script **out)
{
    if (out == NULL || source.ptr == NULL || source.len == 0)
        return VMUX_ERR_INVALID_ARG;
    *out = NULL;
    vmux_script *s = malloc(sizeof(*s) + source.len + 1);
    if (s == NULL)
        return VMUX_ERR_NOMEM;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (EVP_Digest(source.ptr, source.len, md, &mdlen, EVP_sha1(), NULL) != 1 || mdlen != 20) {
        free(s);
        return VMUX_ERR_NOMEM;
    }
    for (unsigned i = 0; i < mdlen; i++)
        snprintf(s->sha1 + 2 * i, 3, "%02x", md[i]);
    memcpy(s->source, source.ptr, source.len);
    s->source[source.len] = '\0';
    s->len = source.len;
    *out = s;
    return 0;
}

void vmux_script_free(vmux_script *s)
{
    free(s);
}

const char *vmux_script_sha1(const vmux_script *s)
{
    return s->sha1;
}

/* EVALSHA sha (or EVAL source) nkeys keys... args... */
static void build(struct vmux_args *a, const vmux_script *s, bool by_sha, const vmux_str *keys,
                  size_t nkeys, const vmux_str *args, size_t nargs)
{
    vmux__args_init(a);
    vmux__args_cstr(a, by_sha ? "EVALSHA" : "EVAL");
    if (by_sha)
        vmux__args_add(a, s->sha1, 40);
    else
        vmux__args_add(a, s->source, s->len);
    vmux__args_int(a, (int64_t)nkeys);
    for (size_t i = 0; i < nkeys; i++)
        vmux__args_str(a, keys[i]);
    for (size_t i = 0; i < nargs; i++)
        vmux__args_str(a, args[i]);
}

static bool is_noscript(int rc, const vmux_reply *r)
{
    const char *msg = rc == VMUX_ERR_SERVER ? vmux_reply_str(r, NULL) : NULL;
    return msg != NULL && strncmp(msg, "NOSCRIPT", 8) == 0;
}

int vmux_script_run(vmux *m, const vmux_callopts *opts, const vmux_script *s, const vmux_str *keys,
                    size_t nkeys, const vmux_str *args, size_t nargs, vmux_reply **out)
{
    if (out != NULL)
        *out = NULL;
    if (s == NULL || out == NULL || (nkeys > 0 && keys == NULL) || (nargs > 0 && args == NULL))
        return VMUX_ERR_INVALID_ARG;
    struct vmux_args a;
    build(&a, s, true, keys, nkeys, args, nargs);
    int rc = vmux__typed_call(m, opts, &a, false, out);
    if (!is_noscript(rc, *out))
        return rc;
    vmux_reply_free(*out); /* NOSCRIPT: it did not run; send the source, which loads it */
    build(&a, s, false, keys, nkeys, args, nargs);
    return vmux__typed_call(m, opts, &a, false, out);
}
