/* vmux__errclass() and the groups of classes (errclass.h). */
#include "core/errclass.h"

#include <string.h>

/* A class's prefix: the bytes an error of that class begins with. */
struct prefix {
    const char *text;
    size_t len;
    enum vmux_errclass cls;
};

#define PREFIX(text, cls)                                                                          \
    {                                                                                              \
        text, sizeof(text) - 1, VMUX_ERRCLASS_##cls                                                \
    }

static const struct prefix prefixes[] = {
    PREFIX("ASK ", ASK),
    PREFIX("CLUSTERDOWN", CLUSTERDOWN),
    PREFIX("DENIED ", DENIED),
    PREFIX("ERR max number of clients reached", MAXCLIENTS),
    PREFIX("LOADING", LOADING),
    PREFIX("MOVED ", MOVED),
    PREFIX("MASTERDOWN", MASTERDOWN),
    PREFIX("NOAUTH", NOAUTH),
    PREFIX("NOPERM", NOPERM),
    PREFIX("NOSCRIPT", NOSCRIPT),
    PREFIX("READONLY", READONLY),
    PREFIX("TRYAGAIN", TRYAGAIN),
    PREFIX("UNBLOCKED force unblock from blocking operation, instance state", UNBLOCKED_FAILOVER),
    PREFIX("WRONGPASS", WRONGPASS),
    PREFIX("WRONGTYPE", WRONGTYPE),
};

enum vmux_errclass vmux__errclass(const char *msg, size_t len)
{
    if (msg == NULL || len == 0)
        return VMUX_ERRCLASS_OTHER;
    for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
        const struct prefix *p = &prefixes[i];
        if (p->text[0] == msg[0] && len >= p->len && memcmp(msg, p->text, p->len) == 0)
            return p->cls;
    }
    return VMUX_ERRCLASS_OTHER;
}

enum vmux_errclass vmux__errclass_of(const vmux_reply *r)
{
    size_t len;
    const char *msg = vmux_reply_str(r, &len);
    return vmux__errclass(msg, len);
}

bool vmux__errclass_busy(enum vmux_errclass c)
{
    return c == VMUX_ERRCLASS_LOADING || c == VMUX_ERRCLASS_MASTERDOWN ||
           c == VMUX_ERRCLASS_TRYAGAIN || c == VMUX_ERRCLASS_CLUSTERDOWN ||
           c == VMUX_ERRCLASS_UNBLOCKED_FAILOVER;
}

bool vmux__errclass_auth(enum vmux_errclass c)
{
    return c == VMUX_ERRCLASS_NOAUTH || c == VMUX_ERRCLASS_WRONGPASS || c == VMUX_ERRCLASS_NOPERM;
}
