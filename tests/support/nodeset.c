/* A small set of node names (nodeset.h). */
#include <stdio.h>
#include <string.h>

#include "nodeset.h"

/* The index of name in s, or -1. */
static ptrdiff_t vt_nodeset_find(const vt_nodeset *s, const char *name)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->name[i], name) == 0)
            return (ptrdiff_t)i;
    return -1;
}

bool vt_nodeset_has(const vt_nodeset *s, const char *name)
{
    return vt_nodeset_find(s, name) >= 0;
}

bool vt_nodeset_add(vt_nodeset *s, const char *name)
{
    if (vt_nodeset_has(s, name))
        return true;
    if (s->n >= VT_NODESET_MAX)
        return false;
    snprintf(s->name[s->n++], sizeof s->name[0], "%s", name);
    return true;
}

bool vt_nodeset_del(vt_nodeset *s, const char *name)
{
    ptrdiff_t at = vt_nodeset_find(s, name);
    if (at < 0)
        return false;
    memmove(s->name[at], s->name[at + 1], (s->n-- - (size_t)at - 1) * sizeof s->name[0]);
    return true;
}

bool vt_nodeset_same(const vt_nodeset *a, const vt_nodeset *b)
{
    if (a->n != b->n)
        return false;
    for (size_t i = 0; i < a->n; i++)
        if (!vt_nodeset_has(b, a->name[i]))
            return false;
    return true;
}

void vt_nodeset_text(const vt_nodeset *s, char *out, size_t len)
{
    out[0] = '\0';
    for (size_t i = 0; i < s->n; i++)
        snprintf(out + strlen(out), len - strlen(out), " %s", s->name[i]);
}
