/* What every libFuzzer target here shares: the entry point's prototype and a check that aborts
 * (libFuzzer then saves the input) with the failed condition and its line. */
#ifndef VMUX_TESTS_FUZZ_H
#define VMUX_TESTS_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "check failed: %s (line %d)\n", #cond, __LINE__);                      \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#endif
