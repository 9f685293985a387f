/** @file
 * Bitmap commands, typed: SETBIT, GETBIT, BITCOUNT and BITPOS (with a range in bytes or bits).
 * A bitmap is a string read bit by bit: bit 0 is the most significant bit of the first byte.
 *
 * Every function here is synchronous, may be called from any thread but the I/O thread, and
 * returns 0, VMUX_ERR_SERVER (the server refused, such as WRONGTYPE, or an offset past its
 * limit; the message goes to opts->errbuf when given), VMUX_ERR_INVALID_ARG for bad input
 * (nothing is sent: a negative offset, a range whose struct was not made with VMUX_INIT or
 * whose unit is outside vmux_bit_unit, a vmux_str {NULL, len > 0}), or a transport error as
 * vmux_call() (call.h). opts may be NULL. Out-parameters are filled only on success and zeroed
 * otherwise; a NULL out-parameter drops that result. Keys are binary-safe (types.h). A missing
 * key reads as an empty string: every bit 0.
 *
 * Offsets: a bit's offset is >= 0; the server refuses one past its largest string (2^32 - 1 with
 * the default proto-max-bulk-len of 512 MB) with VMUX_ERR_SERVER. A SETBIT far past a string's
 * end grows it to that length, zero-filled: SETBIT at 2^32 - 1 makes a 512 MB string.
 *
 * Retry-safety (call.h, VMUX_CALL_RETRY_SAFE): GETBIT, BITCOUNT and BITPOS are reads and marked
 * so. SETBIT leaves the same bit however often it runs, but answers the bit it found: it is
 * marked retry-safe when old is NULL (the answer dropped) and never sent twice when old is
 * given, since a resent SETBIT would answer the bit the first run wrote (as SET ... GET would).
 */
#ifndef VMUX_BITMAPS_H
#define VMUX_BITMAPS_H

#include <stdbool.h>
#include <stdint.h>

#include "vmux/call.h"
#include "vmux/export.h"
#include "vmux/types.h"

#ifdef __cplusplus
extern "C" {
#endif

/** SETBIT key offset value: sets the bit at offset to value; *old is the bit it replaced. */
VMUX_EXPORT int vmux_setbit(vmux *m, const vmux_callopts *opts, vmux_str key, int64_t offset,
                            bool value, bool *old);

/** GETBIT key offset: *bit is the bit at offset, false past the string's end or for no key. */
VMUX_EXPORT int vmux_getbit(vmux *m, const vmux_callopts *opts, vmux_str key, int64_t offset,
                            bool *bit);

/** The unit of a bit range's start and end (BITCOUNT, BITPOS). */
typedef enum vmux_bit_unit {
    VMUX_BIT_UNIT_BYTE = 0, /**< bytes: the server's default (BYTE) */
    VMUX_BIT_UNIT_BIT = 1,  /**< bits (BIT) */
} vmux_bit_unit;

/**
 * A range of a string for BITCOUNT and BITPOS. A range given is always sent: start and end have
 * no default of their own (a range NULL means the whole string).
 *
 * start, end: the first and the last byte (or bit) of the range, both included; a negative one
 *             counts from the end (-1 the last), as the server reads them.
 * unit:       VMUX_BIT_UNIT_BYTE (0) or VMUX_BIT_UNIT_BIT.
 * no_end:     in bytes only: leave end out (BITCOUNT key start, BITPOS key bit start), so that
 *             the range runs to the end of the string (for BITPOS, a string that reads as
 *             followed by 0 bits); end is not read. With VMUX_BIT_UNIT_BIT it is
 *             VMUX_ERR_INVALID_ARG, as the server takes a unit only after an end. BITCOUNT takes
 *             it from Valkey 8.0 on (an older server refuses it: VMUX_ERR_SERVER).
 */
typedef struct vmux_bitrange_opts {
    size_t size; /**< sized struct: make it with VMUX_INIT(vmux_bitrange_opts, ...) (abi.h) */
    int64_t start, end;
    vmux_bit_unit unit;
    bool no_end;
} vmux_bitrange_opts;

/**
 * BITCOUNT key [start [end BYTE|BIT]]: *count is the number of bits set in range (range NULL:
 * the whole string), 0 for a missing key.
 */
VMUX_EXPORT int vmux_bitcount(vmux *m, const vmux_callopts *opts, vmux_str key,
                              const vmux_bitrange_opts *range, int64_t *count);

/**
 * BITPOS key bit [start [end BYTE|BIT]]: *pos is the offset, counted in bits from the string's
 * first bit whatever the range's unit, of the first bit equal to bit in range (range NULL: the
 * whole string), or -1 when there is none. As on the server, a search for a 0 bit without an end
 * (range NULL, or no_end) reads the string as followed by 0 bits: in a string of n bytes whose
 * bits are all 1 it finds n * 8, where with an end it finds -1. In a missing key, whatever the
 * range, a 0 bit is found at 0 and a 1 bit is not (-1).
 */
VMUX_EXPORT int vmux_bitpos(vmux *m, const vmux_callopts *opts, vmux_str key, bool bit,
                            const vmux_bitrange_opts *range, int64_t *pos);

#ifdef __cplusplus
}
#endif

#endif
