/*
 * Keeping credentials out of messages. A server may echo a command's arguments in its error
 * reply ("unknown command 'AUTH', with args beginning with: '<password>'"), and such text
 * reaches errbuf, log lines and events; every message built from server text during session
 * setup goes through here first.
 */
#ifndef VMUX_REDACT_H
#define VMUX_REDACT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

/* What replaces a credential in a message: the same mask the config printer uses. */
#define VMUX_REDACTED "*****"

/*
 * Copies text into out (size bytes, always NUL-terminated when size > 0), with every occurrence
 * of any of the nsecrets secrets (NULL or empty ones are skipped) replaced by VMUX_REDACTED; a
 * secret of 1 to 3 characters only where no letter or digit touches it ('a' in "'a'", not in
 * "args").
 * Matching runs over the whole of text before out is cut to size, so a cut never leaves a
 * piece of a secret behind. Any thread; no allocation.
 */
void vmux__redact(const char *text, char *out, size_t size, const char *const *secrets,
                  int nsecrets);

/*
 * Formats fmt with ap whole, then vmux__redact()s it into out (size bytes) and wipes the whole
 * text, so that masking runs before any cut. A text longer than 1 KiB is formatted into a block
 * of its own; when that cannot be had, out gets "out of memory for this message" and the
 * function returns false. Any thread.
 */
bool vmux__redact_vformat(char *out, size_t size, const char *const *secrets, int nsecrets,
                          const char *fmt, va_list ap);

/*
 * Writes into out (size bytes) the error code that begins a server error message: its leading
 * run of capital letters, digits and '_' (at most 31 characters), or "ERR" when there is none.
 * For replies whose text must not be shown at all (AUTH's), only this word is kept.
 */
void vmux__error_code(const char *msg, char *out, size_t size);

#endif
