/** @file
 * The vmux version: the one place it is written; CMake reads it from here. */
#ifndef VMUX_VERSION_H
#define VMUX_VERSION_H

#include "vmux/export.h"

/** @{ */
/** The version of these headers; vmux_version() gives the library's. */
#define VMUX_VERSION_MAJOR 0
#define VMUX_VERSION_MINOR 2
#define VMUX_VERSION_PATCH 0
#define VMUX_VERSION_STRING "0.2.0"
/** @} */

/** Encodes a version as one comparable number: 0x00MMmmpp. */
#define VMUX_VERSION_HEX                                                                           \
    ((VMUX_VERSION_MAJOR << 16) | (VMUX_VERSION_MINOR << 8) | VMUX_VERSION_PATCH)

#ifdef __cplusplus
extern "C" {
#endif

/**
 * Returns the version of the library the program runs against, as "MAJOR.MINOR.PATCH".
 * The string is static; any thread may call this at any time.
 */
VMUX_EXPORT const char *vmux_version(void);

/** Returns the run-time library version as VMUX_VERSION_HEX would encode it. */
VMUX_EXPORT unsigned vmux_version_hex(void);

#ifdef __cplusplus
}
#endif

#endif
