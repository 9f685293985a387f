#include "route/keyslot.h"

#include <stdio.h>
#include <string.h>

#include "core/errbuf.h"
#include "route/slot.h"
#include "vmux/error.h"

/* The most bytes of a key a message shows. */
#define SHOWN_MAX 48

static size_t arg_len(const char *const *argv, const size_t *argvlen, int i)
{
    if (argv[i] == NULL)
        return 0;
    return argvlen != NULL ? argvlen[i] : strlen(argv[i]);
}

static unsigned arg_slot(const char *const *argv, const size_t *argvlen, int i)
{
    return vmux__slot_of(argv[i] != NULL ? argv[i] : "", arg_len(argv, argvlen, i));
}

int vmux__keys_slot(const struct vmux_keys *k, const char *const *argv, const size_t *argvlen,
                    int *slot, struct vmux_crossslot *cross)
{
    *slot = VMUX_SLOT_ANY;
    if (k->kind != VMUX_KEYS_FOUND)
        return 0;
    /* The ranges walked in place: this runs for every op a cluster handle sends. */
    int first = k->range[0].first;
    unsigned want = arg_slot(argv, argvlen, first);
    *slot = (int)want;
    if (k->nranges == 1 && k->range[0].last == first)
        return 0; /* one key (GET, SET, HGET...): most of what is sent */
    for (int r = 0; r < k->nranges; r++) {
        const struct vmux_keyrange *g = &k->range[r];
        for (int at = r == 0 ? g->first + g->step : g->first; at <= g->last; at += g->step) {
            unsigned got = arg_slot(argv, argvlen, at);
            if (got != want) {
                if (cross != NULL)
                    *cross = (struct vmux_crossslot){first, at, want, got};
                return VMUX_ERR_CROSSSLOT;
            }
        }
    }
    return 0;
}

/* Writes key i as the message shows it: printable ASCII as is, the rest as \xNN. */
static void show_key(char *out, size_t outlen, const char *const *argv, const size_t *argvlen,
                     int i)
{
    const unsigned char *p = (const unsigned char *)(argv[i] != NULL ? argv[i] : "");
    size_t n = arg_len(argv, argvlen, i), o = 0;
    for (size_t j = 0; j < n && j < SHOWN_MAX && o + 5 < outlen; j++) {
        if (p[j] >= 0x20 && p[j] < 0x7f && p[j] != '\\' && p[j] != '\'')
            out[o++] = (char)p[j];
        else
            o += (size_t)snprintf(out + o, outlen - o, "\\x%02x", p[j]);
    }
    if (n > SHOWN_MAX && o + 4 <= outlen) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
}

void vmux__crossslot_message(char *buf, size_t len, const struct vmux_crossslot *cross,
                             const char *const *argv, const size_t *argvlen)
{
    char a[SHOWN_MAX * 4 + 8], b[SHOWN_MAX * 4 + 8];
    show_key(a, sizeof a, argv, argvlen, cross->arg_a);
    show_key(b, sizeof b, argv, argvlen, cross->arg_b);
    vmux__errbuf_set(buf, len,
                     "keys '%s' (slot %u) and '%s' (slot %u) hash to different slots; keys used "
                     "together need a common {hash tag}",
                     a, cross->slot_a, b, cross->slot_b);
}
