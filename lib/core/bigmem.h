/*
 * Memory for large commands, recycled: a pipeline of large values allocates and frees blocks of
 * a megabyte or more at a high rate, and glibc hands such blocks back to the kernel (it trims the
 * heap, or unmaps them) as soon as they are freed together, so that every new command faults
 * its pages in again (zero-filled, 256 faults a megabyte). A few freed blocks are kept here for
 * the next large command instead.
 *
 * Bounded: at most VMUX_BIGMEM_KEEP blocks, of at most VMUX_BIGMEM_MAX bytes each and
 * VMUX_BIGMEM_TOTAL bytes in all, are kept; never more. Thread-safe and never blocking: a
 * thread that finds another using the store just calls malloc() or free(). Builds with
 * sanitizers keep nothing, so that a use after free still shows. What is kept goes back to
 * malloc() after ten seconds unused (vmux__bigmem_tick()) and when a handle closes.
 */
#ifndef VMUX_BIGMEM_H
#define VMUX_BIGMEM_H

#include <stddef.h>
#include <stdint.h>

#define VMUX_BIGMEM_MIN ((size_t)64 * 1024)          /* smaller blocks go to malloc() as usual */
#define VMUX_BIGMEM_MAX ((size_t)8 * 1024 * 1024)    /* larger blocks are never kept */
#define VMUX_BIGMEM_TOTAL ((size_t)32 * 1024 * 1024) /* what the kept blocks may hold in all */
#define VMUX_BIGMEM_KEEP 16
#define VMUX_BIGMEM_IDLE_NS (10ull * 1000000000u) /* kept blocks unused this long are freed */

/* malloc(size): a kept block that fits (no more than twice size) when there is one. */
void *vmux__bigmem_alloc(size_t size);

/* free(p) for a block from vmux__bigmem_alloc() (or malloc()): kept while there is room. */
void vmux__bigmem_free(void *p);

/* Frees every kept block, unless another thread is using the store just then (tests). */
void vmux__bigmem_trim(void);

/*
 * Frees every kept block once no block has been taken or kept for VMUX_BIGMEM_IDLE_NS, so that
 * a burst of large values does not hold its memory for the rest of the process's life. Called
 * by every handle's once-a-second tick, with its monotonic clock (now_ns: uv_hrtime()); any
 * thread. Skipped when another thread is at the store just then.
 */
void vmux__bigmem_tick(uint64_t now_ns);

/* What is kept now: blocks and their bytes (tests). */
void vmux__bigmem_kept(size_t *blocks, size_t *bytes);

/* Whether this build keeps blocks at all (not under sanitizers). */
int vmux__bigmem_keeps(void);

#endif
