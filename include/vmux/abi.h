/** @file
 * Sized structs (docs/api-conventions.md, "ABI policy"). Every struct that a caller allocates
 * and vmux reads (the *_opts structs) or fills (vmux_stats, vmux_cache_stats,
 * vmux_ratelimit_result) starts with `size_t size`: the struct's size as the caller's program
 * was compiled. vmux reads and writes only the bytes that size covers, so a program built
 * against older headers (a smaller struct) keeps working with a newer library: the fields it
 * lacks read as zero, which is always their default. A size below sizeof(size_t) (a struct
 * zeroed by hand) is VMUX_ERR_INVALID_ARG; a larger struct than the library knows is accepted
 * only when the bytes it does not know are zero.
 */
#ifndef VMUX_ABI_H
#define VMUX_ABI_H

/**
 * A sized struct of the given type with its size set and the fields given, every other field
 * zero (its default). An expression (a compound literal), so it may initialise a variable or
 * be passed by address:
 *
 *     vmux_callopts o = VMUX_INIT(vmux_callopts, .timeout_ms = 250);
 *     vmux_stats st = VMUX_INIT(vmux_stats);
 *     vmux_get(m, &VMUX_INIT(vmux_callopts, .flags = VMUX_CALL_RETRY_SAFE), key, &value);
 */
#define VMUX_INIT(...) VMUX_INIT_(__VA_ARGS__, )
/** The extra, empty argument lets VMUX_INIT(type) name no field in strict C11. */
#define VMUX_INIT_(type, ...) ((type){.size = sizeof(type), __VA_ARGS__})

#endif
