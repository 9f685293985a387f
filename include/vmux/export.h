/** @file
 * Symbol visibility for the vmux public API, and the sized-struct helper every header uses. */
#ifndef VMUX_EXPORT_H
#define VMUX_EXPORT_H

#if defined(VMUX_STATIC)
#define VMUX_EXPORT
#elif defined(VMUX_BUILDING) && defined(__GNUC__)
#define VMUX_EXPORT __attribute__((visibility("default")))
#else
#define VMUX_EXPORT
#endif

#include "vmux/abi.h"

#endif
