/*
 * The reply reader: a RESP2 parser (our own, core/reader.c) building vmux_reply values directly,
 * with limits so a hostile or broken server cannot make it buffer or allocate without bound. A
 * reader that reported an error stays failed; the link that owns it closes and starts a fresh
 * one. One reader per connection, used by one thread at a time.
 */
#ifndef VMUX_READER_H
#define VMUX_READER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmux/reply.h"

typedef struct vmux_reader vmux_reader;

/*
 * The deepest nesting of arrays a reply may have. Valkey's own replies go to 13 levels (COMMAND
 * DOCS); a script's reply as deep as its tables. Deeper is refused as a hostile reply: the values
 * are freed by recursion.
 */
#define VMUX_READER_MAX_DEPTH 1024

struct vmux_reader_limits {
    uint64_t max_bulk;     /* largest bulk string accepted, bytes */
    uint64_t max_elements; /* largest array accepted, elements */
    uint64_t max_buffer;   /* most bytes one reply may take, parsed and unparsed together */
};

/*
 * The limits of the library's own replies (the answers to the commands it sends itself: setup,
 * ROLE, INFO, CLUSTER SLOTS...): the configuration's defaults, so that a user's low
 * maxBulkLength or maxReplyElements cannot keep it from reading them.
 */
extern const struct vmux_reader_limits vmux__reader_own_limits;

/*
 * Returns a new reader, or NULL when out of memory. limits bound the user's replies; the
 * library's own (vmux__reader_own()) are bound by vmux__reader_own_limits.
 */
vmux_reader *vmux__reader_new(const struct vmux_reader_limits *limits);

/*
 * Sets other limits for the library's own replies than vmux__reader_own_limits (for tests).
 * limits is copied. Before the first reply is fed.
 */
void vmux__reader_set_own_limits(vmux_reader *rd, const struct vmux_reader_limits *limits);

/*
 * Whether the next reply is the library's own (read under the own limits) or the user's (under
 * the limits given to vmux__reader_new()). Takes effect between replies only: a reply half built
 * keeps the limits it started with. Called before each vmux__reader_next() by whoever knows
 * which command the next reply answers (net/conn_read.c); cheap when nothing changes.
 */
void vmux__reader_own(vmux_reader *rd, bool own);

/* Frees the reader and any reply it was building. NULL is allowed. */
void vmux__reader_free(vmux_reader *rd);

/*
 * Wipes the bytes of the reader's buffer that were already parsed, and its free room (where
 * parsed bytes were moved from), keeping what is still unparsed: after session setup, so that
 * a server's echo of the credentials does not linger in memory. NULL is allowed.
 */
void vmux__reader_wipe(vmux_reader *rd);

/* Appends bytes read from the socket. Returns 0, VMUX_ERR_PROTOCOL or VMUX_ERR_NOMEM. */
int vmux__reader_feed(vmux_reader *rd, const char *buf, size_t len);

/* What vmux__reader_next() returns for a reply refused over a limit (see below). */
#define VMUX__READER_REFUSED 2

/*
 * Takes the next complete reply: returns 1 with *out set (the caller owns it), 0 when more bytes
 * are needed, or VMUX_ERR_PROTOCOL / VMUX_ERR_NOMEM; vmux__reader_error() then says why. With
 * vmux__reader_refuse_over_limit() on, a user's reply over a limit returns VMUX__READER_REFUSED
 * (*out NULL; vmux__reader_error() says which limit) until vmux__reader_take_refusal(); the calls
 * after that skip the rest of it as it comes, then read the next reply.
 */
int vmux__reader_next(vmux_reader *rd, vmux_reply **out);

/*
 * Whether a user's reply over a limit (maxBulkLength, maxReplyElements, maxReplyBuffer) is
 * refused and skipped (on), or fails the reader (off, the default). Skipping keeps the
 * connection: the replies behind it are read as usual; nothing of it is kept (but what was built
 * of its outermost array, until the refusal is taken: vmux__reader_refused_part()), its bytes
 * are dropped as they are fed. A refused reply that claims more than 2^32 values or a string over
 * 4 GiB, and a reply to
 * the library's own command (vmux__reader_own()), still fail the reader.
 */
void vmux__reader_refuse_over_limit(vmux_reader *rd, bool on);

/* Takes the refusal vmux__reader_next() told (VMUX__READER_REFUSED): the next calls skip. */
void vmux__reader_take_refusal(vmux_reader *rd);

/*
 * While a refusal is told and not taken: the refused reply's outermost array as far as it was
 * built, its first elements whole and none after the one over the limit (a subscriber's message
 * ["message", channel, payload] refused for its payload: ["message", channel]); NULL when the
 * reply is no array or none of it was built. The reader owns it, and frees it at
 * vmux__reader_take_refusal(); NULL after that. Cold: kept only when a reply is refused.
 */
const vmux_reply *vmux__reader_refused_part(const vmux_reader *rd);

/* Whether the reader holds no byte it has not turned into a reply, is not skipping a refused
 * one, and has not failed. */
bool vmux__reader_idle(const vmux_reader *rd);

/*
 * The type byte of the next reply ('+', '-', ':', '$', '*'), once its first byte has been fed
 * and no reply is half built (no array of it parsed yet) or being skipped (refused); -1 otherwise.
 */
int vmux__reader_peek(const vmux_reader *rd);

/* The reason for the reader's failure, or for the last refused reply, or "" before either. */
const char *vmux__reader_error(const vmux_reader *rd);

/*
 * Whether the reader failed on a reply over one of its limits (maxBulkLength, maxReplyElements,
 * maxReplyBuffer): a well-formed reply that the same command would get again, unlike bytes that
 * are no RESP.
 */
bool vmux__reader_over_limit(const vmux_reader *rd);

/*
 * What one value of bytes bytes (0 for an array, an integer or a nil) counts against
 * maxReplyBuffer: its bytes and its memory's overhead. Any thread (a pure function).
 */
uint64_t vmux__reader_value_cost(uint64_t bytes);

/*
 * The bytes the reader searched for a line end that had not come yet, since it was made: its
 * work on lines that come in pieces, which must grow with their bytes, not with their bytes
 * times the pieces (for tests).
 */
uint64_t vmux__reader_scanned(const vmux_reader *rd);

#endif
