#include "core/expect.h"

#include <stddef.h>
#include <strings.h>

#define KIND(k) ((uint8_t)(1u << (k)))

struct expect_rule {
    const char *name, *sub; /* sub NULL: any subcommand */
    uint8_t expect;
};

/* The commands the library sends on its own connections (net/setup.c, route/). */
static const struct expect_rule rules[] = {
    {"INFO", NULL, KIND(VMUX_REPLY_STRING)},         {"ROLE", NULL, KIND(VMUX_REPLY_ARRAY)},
    {"AUTH", NULL, KIND(VMUX_REPLY_STATUS)},         {"SELECT", NULL, KIND(VMUX_REPLY_STATUS)},
    {"READONLY", NULL, KIND(VMUX_REPLY_STATUS)},     {"READWRITE", NULL, KIND(VMUX_REPLY_STATUS)},
    {"CLIENT", "SETNAME", KIND(VMUX_REPLY_STATUS)},  {"CLIENT", "SETINFO", KIND(VMUX_REPLY_STATUS)},
    {"CLIENT", "TRACKING", KIND(VMUX_REPLY_STATUS)}, {"CLUSTER", "SLOTS", KIND(VMUX_REPLY_ARRAY)},
    {"CLUSTER", "MYID", KIND(VMUX_REPLY_STRING)},
};

uint8_t vmux__expect_of(int argc, const char *const *argv)
{
    if (argc < 1)
        return 0;
    if (argc == 1 && strcasecmp(argv[0], "PING") == 0)
        return KIND(VMUX_REPLY_STATUS); /* PING with a message answers it as a string */
    for (size_t i = 0; i < sizeof rules / sizeof rules[0]; i++) {
        const struct expect_rule *r = &rules[i];
        if (strcasecmp(argv[0], r->name) == 0 &&
            (r->sub == NULL || (argc > 1 && strcasecmp(argv[1], r->sub) == 0)))
            return r->expect;
    }
    return 0;
}

bool vmux__expect_met(uint8_t expect, const vmux_reply *r)
{
    vmux_reply_kind kind = vmux_reply_get_kind(r);
    return expect == 0 || kind == VMUX_REPLY_ERROR || (expect & KIND(kind)) != 0;
}

const char *vmux__expect_name(uint8_t expect)
{
    for (int k = VMUX_REPLY_STRING; k <= VMUX_REPLY_ERROR; k++)
        if (expect & KIND(k))
            return vmux_reply_kind_name((vmux_reply_kind)k);
    return "any";
}
