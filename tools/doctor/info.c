/* Commands the session steps send through the library, and reading INFO's text. */
#include <stdlib.h>
#include <string.h>

#include "doctor.h"

vmux_reply *doc_call(vmux *m, char *errbuf, size_t errlen, int argc, const char *const *argv)
{
    vmux_callopts opts = VMUX_INIT(vmux_callopts, .errbuf = errbuf, .errlen = errlen);
    vmux_reply *r = NULL;
    int rc = vmux_call(m, &opts, argc, argv, NULL, &r);
    if (rc == 0)
        return r;
    if (rc == VMUX_ERR_SERVER && r != NULL)
        snprintf(errbuf, errlen, "%s", vmux_reply_str(r, NULL));
    vmux_reply_free(r);
    return NULL;
}

char *doc_info(vmux *m, const char *section, char *errbuf, size_t errlen)
{
    vmux_reply *r = doc_call(m, errbuf, errlen, 2, (const char *[]){"INFO", section});
    if (r == NULL)
        return NULL;
    size_t len = 0;
    const char *text = vmux_reply_str(r, &len);
    char *copy = text ? strndup(text, len) : NULL;
    if (copy == NULL)
        snprintf(errbuf, errlen, "INFO %s gave no text", section);
    vmux_reply_free(r);
    return copy;
}

/* The start of the line after p's, or NULL at the end of the text. */
static const char *next_line(const char *p)
{
    const char *nl = strchr(p, '\n');
    return nl != NULL && nl[1] != '\0' ? nl + 1 : NULL;
}

bool doc_info_field(const char *info, const char *field, char *out, size_t outlen)
{
    size_t flen = strlen(field);
    for (const char *p = info; p != NULL; p = next_line(p)) {
        if (strncmp(p, field, flen) != 0 || p[flen] != ':')
            continue;
        const char *v = p + flen + 1;
        snprintf(out, outlen, "%.*s", (int)strcspn(v, "\r\n"), v);
        return true;
    }
    return false;
}
