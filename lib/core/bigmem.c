/* Recycled memory for large commands (bigmem.h). */
#include "core/bigmem.h"

#include <malloc.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define KEEPS 0 /* a kept block would hide a use after free from the sanitizer */
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define KEEPS 0
#endif
#endif
#ifndef KEEPS
#define KEEPS 1
#endif

static struct {
    atomic_flag busy; /* taken with test-and-set only: whoever finds it taken goes around */
    size_t n, total;
    uint64_t uses;        /* blocks taken or kept, ever */
    uint64_t uses_seen;   /* uses when vmux__bigmem_tick() last found them changed */
    uint64_t quiet_since; /* its now_ns then */
    struct {
        void *p;
        size_t cap;
    } kept[VMUX_BIGMEM_KEEP];
} store = {.busy = ATOMIC_FLAG_INIT};

static bool take_store(void)
{
    return KEEPS && !atomic_flag_test_and_set_explicit(&store.busy, memory_order_acquire);
}

static void give_store(void)
{
    atomic_flag_clear_explicit(&store.busy, memory_order_release);
}

/* The kept block that fits size best, removed from the store; NULL when none does. */
static void *take_fit(size_t size)
{
    size_t best = store.n;
    for (size_t i = 0; i < store.n; i++)
        if (store.kept[i].cap >= size && store.kept[i].cap / 2 <= size &&
            (best == store.n || store.kept[i].cap < store.kept[best].cap))
            best = i;
    if (best == store.n)
        return NULL;
    void *p = store.kept[best].p;
    store.uses++;
    store.total -= store.kept[best].cap;
    store.kept[best] = store.kept[--store.n];
    return p;
}

void *vmux__bigmem_alloc(size_t size)
{
    void *p = NULL;
    if (size >= VMUX_BIGMEM_MIN && size <= VMUX_BIGMEM_MAX && take_store()) {
        p = take_fit(size);
        give_store();
    }
    return p != NULL ? p : malloc(size);
}

void vmux__bigmem_free(void *p)
{
    if (p == NULL)
        return;
    size_t cap = malloc_usable_size(p);
    if (cap >= VMUX_BIGMEM_MIN && cap <= VMUX_BIGMEM_MAX && take_store()) {
        bool keep = store.n < VMUX_BIGMEM_KEEP && store.total + cap <= VMUX_BIGMEM_TOTAL;
        if (keep) {
            store.kept[store.n].p = p;
            store.kept[store.n++].cap = cap;
            store.total += cap;
            store.uses++;
        }
        give_store();
        if (keep)
            return;
    }
    free(p);
}

/* Frees every kept block; the caller holds the store. */
static void free_kept(void)
{
    for (size_t i = 0; i < store.n; i++)
        free(store.kept[i].p);
    store.n = store.total = 0;
}

void vmux__bigmem_trim(void)
{
    if (!take_store())
        return; /* nothing kept, or another thread is at the store: it stays as it is */
    free_kept();
    give_store();
}

void vmux__bigmem_tick(uint64_t now_ns)
{
    if (!take_store())
        return;
    if (store.uses != store.uses_seen || store.n == 0) {
        store.uses_seen = store.uses;
        store.quiet_since = now_ns;
    } else if (now_ns - store.quiet_since >= VMUX_BIGMEM_IDLE_NS) {
        free_kept();
    }
    give_store();
}

void vmux__bigmem_kept(size_t *blocks, size_t *bytes)
{
    *blocks = *bytes = 0;
    if (!take_store())
        return;
    *blocks = store.n;
    *bytes = store.total;
    give_store();
}

int vmux__bigmem_keeps(void)
{
    return KEEPS;
}
