/*
 * vmux-mappatch-bench: what one MOVED costs the I/O thread in slot-map work during a reshard, by
 * cluster size (docs/benchmarks.md, "Slot map patches"): the patched copy of the map
 * (vmux__slotmap_moved()), the comparison a refresh makes (vmux__slotmap_equal()) and the node
 * events of the change (vmux__slotmap_new_nodes() both ways), as vmux__router_set_map() does.
 * Maps of 3, 30 and 250 shards of a primary and a replica each; no server. Prints the median of
 * --rounds rounds, in microseconds per patch.
 *
 *   vmux-mappatch-bench [--rounds N] [--patches N]
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/reply_internal.h"
#include "median.h"
#include "route/slotmap.h"

enum { MAX_ROUNDS = 99 };

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static vmux_reply *str(const char *s)
{
    return vmux__reply_new_str(VMUX_REPLY_STRING, s, strlen(s));
}

/* One node [host, port], node k of the cluster at 10.0.k/250.k%250:6379. */
static vmux_reply *node(int k)
{
    char host[32];
    snprintf(host, sizeof host, "10.0.%d.%d", k / 250, k % 250);
    vmux_reply *n = vmux__reply_new_array(2);
    vmux__reply_array_set(n, 0, str(host));
    vmux__reply_array_set(n, 1, vmux__reply_new_integer(6379));
    return n;
}

/* A map of nshards shards (a primary and a replica each), the slots split evenly. */
static struct vmux_slotmap *cluster_map(int nshards)
{
    vmux_reply *r = vmux__reply_new_array((size_t)nshards);
    for (int i = 0; i < nshards; i++) {
        vmux_reply *range = vmux__reply_new_array(4);
        vmux__reply_array_set(range, 0, vmux__reply_new_integer(16384L * i / nshards));
        vmux__reply_array_set(range, 1, vmux__reply_new_integer(16384L * (i + 1) / nshards - 1));
        vmux__reply_array_set(range, 2, node(2 * i));
        vmux__reply_array_set(range, 3, node(2 * i + 1));
        vmux__reply_array_set(r, (size_t)i, range);
    }
    struct vmux_slotmap *m = NULL;
    int rc = vmux__slotmap_from_slots(r, "seed", 1, &m, NULL, 0);
    vmux_reply_free(r);
    return rc == 0 ? m : NULL;
}

static void count_node(const struct vmux_node_addr *n, void *arg)
{
    (void)n;
    (*(size_t *)arg)++;
}

/* patches MOVEDs of shard 0's slots to shard 1's primary; microseconds per patch, or -1. */
static double round_us(int nshards, int patches, size_t *events)
{
    struct vmux_slotmap *m = cluster_map(nshards);
    if (m == NULL)
        return -1;
    char dst[64];
    snprintf(dst, sizeof dst, "%s", m->shards[1].nodes[0].host);
    uint64_t t0 = now_ns();
    for (int i = 0; i < patches; i++) {
        struct vmux_slotmap *c = NULL;
        unsigned slot = (unsigned)i % (16384u / (unsigned)nshards);
        if (vmux__slotmap_moved(m, slot, dst, strlen(dst), 6379, &c) != 0) {
            vmux__slotmap_unref(m);
            return -1;
        }
        *events += vmux__slotmap_equal(m, c);
        *events += vmux__slotmap_new_nodes(m, c, count_node, events);
        *events += vmux__slotmap_new_nodes(c, m, count_node, events);
        vmux__slotmap_unref(m);
        m = c;
    }
    double us = (double)(now_ns() - t0) / 1e3 / patches;
    vmux__slotmap_unref(m);
    return us;
}

int main(int argc, char **argv)
{
    int rounds = 5, patches = 300;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--rounds") == 0)
            rounds = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--patches") == 0)
            patches = atoi(argv[i + 1]);
    }
    if (rounds < 1 || rounds > MAX_ROUNDS || patches < 1) {
        fprintf(stderr, "usage: vmux-mappatch-bench [--rounds 1..%d] [--patches N]\n", MAX_ROUNDS);
        return 2;
    }
    static const int sizes[] = {3, 30, 250};
    printf("%-8s %-7s %s\n", "shards", "nodes", "us/patch (median)");
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
        double v[MAX_ROUNDS];
        size_t events = 0;
        for (int r = 0; r < rounds; r++)
            if ((v[r] = round_us(sizes[s], patches, &events)) < 0) {
                fprintf(stderr, "vmux-mappatch-bench: out of memory\n");
                return 1;
            }
        printf("%-8d %-7d %.1f\n", sizes[s], 2 * sizes[s], bench_median(v, rounds));
    }
    return 0;
}
