/*
 * One line of a CLUSTER NODES reply, read in place: "<id> <ip:port@cport[,hostname]> <flags>
 * <primary> <ping> <pong> <epoch> <link> <slot>...", slots as "a-b", "a", "[a->-id]" (being
 * migrated away) or "[a-<-id]" (being imported). For the cluster SCAN (scan_cluster.c). Pure
 * functions: any thread.
 */
#ifndef VMUX_API_CLUSTER_NODES_H
#define VMUX_API_CLUSTER_NODES_H

#include <stdbool.h>
#include <stdint.h>

#include "route/slot.h"

struct vmux_node_line {
    const char *id;   /* the node id, into the parsed text */
    const char *host; /* into the parsed text; NULL when the line has no address (noaddr) */
    int port;
    bool myself, primary;
    uint64_t epoch; /* its config epoch: of two primaries that claim a slot, the higher wins */
    uint8_t serves[VMUX_SLOTS / 8]; /* its ranges */
    uint8_t stable[VMUX_SLOTS / 8]; /* its ranges less the slots it is migrating away */
    /* The node its lowest migrating slot not done goes to ("" when it migrates none not done),
     * and its slots not done migrating there: the node to scan after it for them
     * (scan_cluster.c). Only a node's own line (myself) shows its migrations. */
    char to[41];
    uint8_t moving[VMUX_SLOTS / 8];
};

/* Whether bit slot of a slot bitmap is set. */
static inline bool vmux__slot_bit(const uint8_t *bits, unsigned slot)
{
    return (bits[slot / 8] >> (slot % 8)) & 1u;
}

/* Sets bits from..to (both included, cut at the last slot) of a slot bitmap. */
void vmux__slot_bits_set(uint8_t *bits, unsigned from, unsigned to);

/*
 * Parses one line (cut in place: line must stay alive while *n is used). done (a slot bitmap, or
 * NULL for none) holds the slots a cluster SCAN has done: their migrations count in stable, but
 * not for to and moving, so a node with open slots to several targets names each in turn as
 * their slots get done. Returns false when the line has fewer than the eight fixed fields. A
 * slot token that is not one of the forms above (not a number, beyond 16383, a range whose end
 * is before its start) is skipped.
 */
bool vmux__node_line_parse(char *line, const uint8_t *done, struct vmux_node_line *n);

#endif
