/* A CLUSTER NODES line (api/cluster_nodes.h). */
#include "api/cluster_nodes.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void vmux__slot_bits_set(uint8_t *bits, unsigned from, unsigned to)
{
    for (unsigned s = from; s <= to && s < VMUX_SLOTS; s++)
        bits[s / 8] |= (uint8_t)(1u << (s % 8));
}

/* host:port from "ip:port@cport[,hostname]" (cut in place); false without an address. */
static bool parse_addr(char *addr, struct vmux_node_line *n)
{
    char *at = strchr(addr, '@');
    if (at != NULL)
        *at = '\0';
    char *colon = strrchr(addr, ':');
    if (colon == NULL || colon == addr)
        return false;
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end != '\0' || port <= 0 || port > 65535)
        return false;
    *colon = '\0';
    n->host = addr;
    n->port = (int)port;
    return true;
}

static bool has_flag(const char *flags, const char *flag)
{
    size_t len = strlen(flag);
    for (const char *p = flags; p != NULL; p = strchr(p, ','), p = p != NULL ? p + 1 : NULL)
        if (strncmp(p, flag, len) == 0 && (p[len] == ',' || p[len] == '\0'))
            return true;
    return false;
}

/* A slot number at s (digits only, 0 .. 16383); *end past it. False otherwise. */
static bool read_slot(const char *s, char **end, unsigned *slot)
{
    if (*s < '0' || *s > '9')
        return false;
    errno = 0;
    unsigned long v = strtoul(s, end, 10);
    if (errno != 0 || v >= VMUX_SLOTS)
        return false;
    *slot = (unsigned)v;
    return true;
}

/*
 * "[a->-id]": slot a migrates to id. The target of the first slot met not in done (slots come in
 * order) is n->to: a done slot's target was scanned already, and taking it again made a node
 * with open slots to two targets be scanned forever, its other target never.
 */
static void parse_migrating(unsigned a, const char *id, const uint8_t *done,
                            struct vmux_node_line *n, uint8_t *mig)
{
    size_t len = strcspn(id, "]");
    vmux__slot_bits_set(mig, a, a);
    if (done != NULL && vmux__slot_bit(done, a))
        return;
    if (n->to[0] == '\0' && len > 0 && len < sizeof n->to) {
        memcpy(n->to, id, len);
        n->to[len] = '\0';
    }
    if (len == strlen(n->to) && strncmp(id, n->to, len) == 0)
        vmux__slot_bits_set(n->moving, a, a);
}

/* One slot token into n's bitmaps; mig collects the slots being migrated away. */
static void parse_slot(const char *tok, const uint8_t *done, struct vmux_node_line *n, uint8_t *mig)
{
    char *end;
    unsigned a, b;
    if (tok[0] == '[') {
        if (read_slot(tok + 1, &end, &a) && strncmp(end, "->-", 3) == 0)
            parse_migrating(a, end + 3, done, n, mig);
        return; /* importing ("-<-"): not its slot yet */
    }
    if (!read_slot(tok, &end, &a))
        return;
    b = a;
    if (*end == '-' && !read_slot(end + 1, &end, &b))
        return;
    if (*end == '\0' && b >= a)
        vmux__slot_bits_set(n->serves, a, b);
}

bool vmux__node_line_parse(char *line, const uint8_t *done, struct vmux_node_line *n)
{
    char *save = NULL, *tok[8];
    for (int i = 0; i < 8; i++)
        if ((tok[i] = strtok_r(i == 0 ? line : NULL, " \r", &save)) == NULL)
            return false;
    memset(n, 0, sizeof *n);
    n->id = tok[0];
    if (!parse_addr(tok[1], n) || has_flag(tok[2], "noaddr"))
        n->host = NULL; /* its slots still count as served */
    n->myself = has_flag(tok[2], "myself");
    n->primary = has_flag(tok[2], "master");
    n->epoch = strtoull(tok[6], NULL, 10); /* not a number: 0 */
    uint8_t mig[VMUX_SLOTS / 8] = {0};
    for (char *t; (t = strtok_r(NULL, " \r", &save)) != NULL;)
        parse_slot(t, done, n, mig);
    for (size_t i = 0; i < sizeof n->stable; i++)
        n->stable[i] = n->serves[i] & (uint8_t)~mig[i];
    return true;
}
