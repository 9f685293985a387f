#include "core/redact.h"

#include <openssl/crypto.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Secrets shorter than this are masked only where they stand alone (see word_at()). */
enum { SHORT_SECRET = 4 };

static bool is_word_char(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
}

/*
 * Whether the n bytes at p stand alone in text: no letter or digit right before or after them.
 * A one-letter password masked inside every word made a message unreadable, and showed where
 * that letter is.
 */
static bool word_at(const char *text, const char *p, size_t n)
{
    return (p == text || !is_word_char(p[-1])) && !is_word_char(p[n]);
}

/*
 * The length of the longest secret that starts at p (in text), or 0 when none does. The
 * longest, so that a user name that begins the password cannot leave the password's tail
 * behind. A short secret counts only where it stands alone.
 */
static size_t secret_at(const char *text, const char *p, const char *const *secrets, int nsecrets)
{
    size_t best = 0;
    for (int i = 0; i < nsecrets; i++) {
        size_t n = secrets[i] != NULL ? strlen(secrets[i]) : 0;
        if (n > best && strncmp(p, secrets[i], n) == 0 &&
            (n >= SHORT_SECRET || word_at(text, p, n)))
            best = n;
    }
    return best;
}

/* Appends len bytes to out at *used, as many as fit before the terminator. */
static void put(char *out, size_t size, size_t *used, const char *bytes, size_t len)
{
    size_t room = size - 1 - *used;
    size_t n = len < room ? len : room;
    memcpy(out + *used, bytes, n);
    *used += n;
}

void vmux__redact(const char *text, char *out, size_t size, const char *const *secrets,
                  int nsecrets)
{
    if (out == NULL || size == 0)
        return;
    size_t used = 0;
    for (const char *p = text; *p != '\0';) {
        size_t n = secret_at(text, p, secrets, nsecrets);
        if (n > 0) {
            put(out, size, &used, VMUX_REDACTED, sizeof(VMUX_REDACTED) - 1);
            p += n;
        } else {
            put(out, size, &used, p, 1);
            p++;
        }
    }
    out[used] = '\0';
}

static int is_code_char(char ch)
{
    return (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_';
}

void vmux__error_code(const char *msg, char *out, size_t size)
{
    size_t n = 0;
    while (msg != NULL && n < 31 && is_code_char(msg[n]))
        n++;
    if (n == 0) {
        msg = "ERR";
        n = 3;
    }
    if (size == 0)
        return;
    if (n >= size)
        n = size - 1;
    memcpy(out, msg, n);
    out[n] = '\0';
}

bool vmux__redact_vformat(char *out, size_t size, const char *const *secrets, int nsecrets,
                          const char *fmt, va_list ap)
{
    char small[1024];
    va_list again;
    va_copy(again, ap);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    char *whole = n >= 0 && (size_t)n >= sizeof small ? malloc((size_t)n + 1) : small;
    if (whole != NULL && whole != small)
        vsnprintf(whole, (size_t)n + 1, fmt, again);
    va_end(again);
    if (whole == NULL) {
        OPENSSL_cleanse(small, sizeof small);
        snprintf(out, size, "out of memory for this message");
        return false;
    }
    vmux__redact(whole, out, size, secrets, nsecrets);
    OPENSSL_cleanse(whole, whole == small ? sizeof small : (size_t)n + 1);
    if (whole != small)
        free(whole);
    return true;
}
