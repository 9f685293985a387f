/*
 * VMUX_ASSERT(cond): an invariant of the library's own making, checked beside the code that
 * relies on it instead of only described in a comment. Only for programming errors, never for
 * network input or memory running out.
 *
 * Checked when VMUX_DEBUG_ASSERTS is defined, which CMake does for Debug builds and for every
 * sanitizer build (VMUX_SANITIZE, as scripts/check builds build-asan and build-tsan): a broken
 * invariant prints where it broke and aborts. Elsewhere it compiles away and cond is not
 * evaluated (only named behind a constant false, so that variables and static functions used by
 * assertions alone raise no warning: clang warns of a function named only inside sizeof).
 */
#ifndef VMUX_ASSERT_H
#define VMUX_ASSERT_H

#ifdef VMUX_DEBUG_ASSERTS
#include <stdio.h>
#include <stdlib.h>
#define VMUX_ASSERT(cond)                                                                          \
    ((cond) ? (void)0                                                                              \
            : (fprintf(stderr, "%s:%d: %s: invariant broken: %s\n", __FILE__, __LINE__, __func__,  \
                       #cond),                                                                     \
               abort()))
#else
#define VMUX_ASSERT(cond) ((void)(0 && (cond)))
#endif

#endif
