/** @file
 * Bitmap commands, typed: SETBIT, GETBIT, BITCOUNT and BITPOS (with a range in bytes or bits),
 * BITOP (AND, OR, XOR, NOT), BITFIELD (GET, SET, INCRBY, each SET and INCRBY with its OVERFLOW)
 * and BITFIELD_RO (GETs only, which a replica may serve). A bitmap is a string read bit by bit: bit
 * 0 is the most significant bit of the first byte.
 *
 * Every function here is synchronous, may be called from any thread but the I/O thread, and
 * returns 0, VMUX_ERR_SERVER (the server refused, such as WRONGTYPE, or an offset past its
 * limit; the message goes to opts->errbuf when given), VMUX_ERR_INVALID_ARG for bad input
 * (nothing is sent: a negative offset, a range whose struct was not made with VMUX_INIT or
 * whose unit is outside vmux_bit_unit, a vmux_str {NULL, len > 0}; opts->errbuf, when given, says
 * which argument broke which rule: "invalid argument: op is 9: none of vmux_bitop_op"), or a
 * transport error as vmux_call() (call.h). opts may be NULL. Out-parameters are filled only on
 * success and zeroed otherwise; a NULL out-parameter drops that result. Keys are binary-safe
 * (types.h). A missing key reads as an empty string: every bit 0.
 *
 * Offsets: a bit's offset is >= 0; the server refuses one past its largest string (2^32 - 1 with
 * the default proto-max-bulk-len of 512 MB) with VMUX_ERR_SERVER. A SETBIT far past a string's
 * end grows it to that length, zero-filled: SETBIT at 2^32 - 1 makes a 512 MB string.
 *
 * Retry-safety (call.h, VMUX_CALL_RETRY_SAFE): GETBIT, BITCOUNT and BITPOS are reads and marked
 * so. SETBIT leaves the same bit however often it runs, but answers the bit it found: it is
 * marked retry-safe when old is NULL (the answer dropped) and never sent twice when old is
 * given, since a resent SETBIT would answer the bit the first run wrote (as SET ... GET would).
 * BITOP replaces dst with what its sources hold, the same string and length on a second run, and
 * is marked, unless dst is one of the sources under XOR or NOT: a second run would then combine
 * what the first one wrote (x ^ k ^ k is x again, NOT NOT x is x). Under AND and OR a source dst
 * is still marked: (x & k) & k is x & k and (x | k) | k is x | k, of the same length. BITFIELD
 * and BITFIELD_RO with GETs only are reads and marked. BITFIELD with an INCRBY is never sent twice
 * (a second run adds again). With SETs (and GETs) but no INCRBY it leaves the same bits however
 * often it runs, but answers the values it found, which a second run finds already written: it
 * is marked only when values and found are both NULL (the answers dropped), as SETBIT.
 *
 * Cluster: BITOP uses dst and its sources together, so they must be in one slot (give them a
 * common {hash tag}); keys in several slots are VMUX_ERR_CROSSSLOT, nothing sent.
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

/** The operation of BITOP. */
typedef enum vmux_bitop_op {
    VMUX_BITOP_AND = 0, /**< AND: a bit set in every source */
    VMUX_BITOP_OR = 1,  /**< OR: a bit set in any source */
    VMUX_BITOP_XOR = 2, /**< XOR: a bit set in an odd number of sources */
    VMUX_BITOP_NOT = 3, /**< NOT: the one source's bits inverted (n must be 1) */
} vmux_bitop_op;

/**
 * BITOP op dst keys...: stores at dst the bitwise op of the n strings at keys (n >= 1; exactly 1
 * for VMUX_BITOP_NOT, whose other counts are VMUX_ERR_INVALID_ARG, nothing sent), replacing
 * whatever dst held; *len is dst's length in bytes, that of the longest source (a shorter source,
 * or a missing key, reads as followed by 0 bytes). When every source is missing, or empty, dst is
 * deleted and *len is 0. An op outside vmux_bitop_op is VMUX_ERR_INVALID_ARG. On a cluster dst and
 * every source must share a slot. Retry-safe unless dst is a source under XOR or NOT (above).
 */
VMUX_EXPORT int vmux_bitop(vmux *m, const vmux_callopts *opts, vmux_bitop_op op, vmux_str dst,
                           const vmux_str *keys, size_t n, int64_t *len);

/** What one BITFIELD operation does. */
typedef enum vmux_bitfield_kind {
    VMUX_BITFIELD_GET = 0,    /**< GET type offset: the field's value */
    VMUX_BITFIELD_SET = 1,    /**< SET type offset value: the value it replaced */
    VMUX_BITFIELD_INCRBY = 2, /**< INCRBY type offset value: the field's new value */
} vmux_bitfield_kind;

/** What a SET or an INCRBY does with a value that does not fit its field (OVERFLOW). */
typedef enum vmux_bitfield_overflow {
    VMUX_BITFIELD_WRAP = 0, /**< WRAP: modulo the field's range (the server's default) */
    VMUX_BITFIELD_SAT = 1,  /**< SAT: the field's least or greatest value */
    VMUX_BITFIELD_FAIL = 2, /**< FAIL: nothing written, and a nil answer (found false) */
} vmux_bitfield_overflow;

/**
 * One operation of BITFIELD or BITFIELD_RO, on a field of bits bits (the type iN when is_signed,
 * else uN). Make it zeroed and name the fields (a compound literal with designators), so that
 * overflow reads as WRAP unless given.
 *
 * kind:       VMUX_BITFIELD_GET, _SET or _INCRBY.
 * is_signed:  a signed field (i1 to i64) or an unsigned one (u1 to u63: the server has no u64).
 *             Other widths are VMUX_ERR_INVALID_ARG, nothing sent.
 * bits:       the field's width.
 * offset:     where the field starts (>= 0: a negative one is VMUX_ERR_INVALID_ARG), in bits,
 *             or with in_fields in fields of bits bits ("#offset": field offset of its kind).
 * value:      SET's new value, INCRBY's increment; GET does not read it.
 * overflow:   SET and INCRBY: what to do when the value does not fit (WRAP, SAT, FAIL); vmux
 *             sends OVERFLOW before an operation whose overflow differs from the last one's.
 */
typedef struct vmux_bitfield_op {
    vmux_bitfield_kind kind;
    bool is_signed;
    unsigned bits;
    int64_t offset;
    bool in_fields;
    int64_t value;
    vmux_bitfield_overflow overflow;
} vmux_bitfield_op;

/**
 * BITFIELD key ops...: runs the n operations of ops (n >= 1) in their order, as one command;
 * values[i] is the answer to ops[i] and found[i] true, or 0 and false for an INCRBY or SET under
 * VMUX_BITFIELD_FAIL whose value did not fit (the server's nil: nothing written). values and
 * found are the caller's arrays of n items (nothing to free); either may be NULL. A missing key
 * reads as 0 bits and is created by a SET or an INCRBY. Every operation is checked before
 * anything is sent: a kind or overflow outside its enum, a width the server refuses or a negative
 * offset is VMUX_ERR_INVALID_ARG. Retry-safe with GETs only, or with no INCRBY and values and
 * found both NULL (above).
 */
VMUX_EXPORT int vmux_bitfield(vmux *m, const vmux_callopts *opts, vmux_str key,
                              const vmux_bitfield_op *ops, size_t n, int64_t *values, bool *found);

/**
 * BITFIELD_RO key GET ...: as vmux_bitfield() with GETs only (an operation of another kind is
 * VMUX_ERR_INVALID_ARG, nothing sent); values[i] is the value of ops[i]'s field (a GET is never
 * nil). values is the caller's array of n items, or NULL. A read, marked retry-safe and
 * read-only: a replica may serve it, as the readFrom policy or VMUX_CALL_REPLICA says (call.h),
 * where BITFIELD, even with GETs only, always goes to the primary.
 */
VMUX_EXPORT int vmux_bitfield_ro(vmux *m, const vmux_callopts *opts, vmux_str key,
                                 const vmux_bitfield_op *ops, size_t n, int64_t *values);

#ifdef __cplusplus
}
#endif

#endif
