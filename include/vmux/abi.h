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

#ifndef __cplusplus
/**
 * A sized struct of the given type with its size set and the fields given, every other field
 * zero (its default). An expression (a compound literal), so it may initialise a variable or
 * be passed by address:
 *
 *     vmux_callopts o = VMUX_INIT(vmux_callopts, .timeout_ms = 250);
 *     vmux_stats st = VMUX_INIT(vmux_stats);
 *     vmux_get(m, &VMUX_INIT(vmux_callopts, .flags = VMUX_CALL_RETRY_SAFE), key, &value);
 *
 * In C++, which has neither compound literals nor (before C++20) designated initializers, nor
 * takes the address of a temporary, write VMUX_INIT(type) alone (C++11 on): name the fields
 * after, and pass the variable's address. (With fields it is a C++20 designated initializer,
 * as before, which g++'s -Wextra warns of for every field not named.)
 *
 *     vmux_callopts o = VMUX_INIT(vmux_callopts);
 *     o.flags = VMUX_CALL_RETRY_SAFE;
 *     vmux_get(m, &o, key, &value);
 */
#define VMUX_INIT(...) VMUX_INIT_(__VA_ARGS__, )
/** The extra, empty argument lets VMUX_INIT(type) name no field in strict C11. */
#define VMUX_INIT_(type, ...) ((type){.size = sizeof(type), __VA_ARGS__})
/** A value of type from all its fields in order: a compound literal (in C++, a braced temporary).
 */
#define VMUX_LITERAL(type, ...) ((type){__VA_ARGS__})
/** x as a field of the given type: itself in C (where its conversion warns as usual), a
 * static_cast in C++ (whose braces refuse a narrowing conversion). */
#define VMUX_AS(type, x) (x)
#else
#define VMUX_INIT(...)                                                                             \
    VMUX_INIT_PICK_(__VA_ARGS__, VMUX_INIT_WITH_, VMUX_INIT_WITH_, VMUX_INIT_WITH_,                \
                    VMUX_INIT_WITH_, VMUX_INIT_WITH_, VMUX_INIT_WITH_, VMUX_INIT_WITH_,            \
                    VMUX_INIT_WITH_, VMUX_INIT_WITH_, VMUX_INIT_WITH_, VMUX_INIT_WITH_,            \
                    VMUX_INIT_WITH_, VMUX_INIT_WITH_, VMUX_INIT_WITH_, VMUX_INIT_WITH_,            \
                    VMUX_INIT_TYPE_, ~)                                                            \
    (__VA_ARGS__)
/** VMUX_INIT's C++ form, chosen by the number of its arguments (the type, and 0 to 15 fields;
 * the last, ~, keeps the macro's own ... from being empty). */
#define VMUX_INIT_PICK_(t, f1, f2, f3, f4, f5, f6, f7, f8, f9, f10, f11, f12, f13, f14, f15, name, \
                        ...)                                                                       \
    name
/** The type alone: a value with its size set and every other field zero. */
#define VMUX_INIT_TYPE_(type)                                                                      \
    ([] {                                                                                          \
        type vmux_init_value_{};                                                                   \
        vmux_init_value_.size = sizeof(type);                                                      \
        return vmux_init_value_;                                                                   \
    }())
/** With fields: C++20's designated initializers (g++ -Wextra warns of the fields not named). */
#define VMUX_INIT_WITH_(type, ...) (type{.size = sizeof(type), __VA_ARGS__})
#define VMUX_LITERAL(type, ...) (type{__VA_ARGS__})
#define VMUX_AS(type, x) static_cast<type>(x)
#endif

#endif
