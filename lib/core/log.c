#include "core/log.h"

#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/redact.h"

/* The longest line a log callback gets (masked, then cut). */
#define LINE_SIZE 512

/*
 * Formats fmt into small (size bytes) or, when longer, a new block (NULL when memory ran out:
 * small then holds the start); *len gets the whole length.
 */
static char *format_whole(char *small, size_t size, size_t *len, const char *fmt, va_list ap)
{
    va_list again;
    va_copy(again, ap);
    int n = vsnprintf(small, size, fmt, ap);
    char *whole = small;
    if (n >= 0 && (size_t)n >= size && (whole = malloc((size_t)n + 1)) != NULL)
        vsnprintf(whole, (size_t)n + 1, fmt, again);
    va_end(again);
    *len = n > 0 ? (size_t)n : 0;
    return whole != NULL ? whole : small;
}

/*
 * A line may quote a server, which may echo the credentials (an error reply to a command sent
 * after AUTH, on any connection): the configured ones are masked in the whole line before it is
 * cut to size (docs/reliability.md).
 */
void vmux__log(const struct vmux_config *cfg, vmux_log_level level, const char *fmt, ...)
{
    if (cfg->log_fn == NULL || level < cfg->log_level)
        return;
    char small[2 * LINE_SIZE], line[LINE_SIZE];
    size_t len;
    va_list ap;
    va_start(ap, fmt);
    char *whole = format_whole(small, sizeof small, &len, fmt, ap);
    va_end(ap);
    /* "default", the server's own user, is no secret, and masking it would blot out words */
    const char *user = cfg->user != NULL && strcmp(cfg->user, "default") != 0 ? cfg->user : NULL;
    const char *secrets[] = {cfg->password, user, cfg->sentinel_password};
    vmux__redact(whole, line, sizeof line, secrets, 3);
    OPENSSL_cleanse(whole, whole == small ? sizeof small : len);
    if (whole != small)
        free(whole);
    cfg->log_fn(level, line, cfg->log_userdata);
}

void vmux__event(const struct vmux_config *cfg, vmux_event_type type, int code,
                 const char *endpoint, const char *reason)
{
    if (cfg->event_fn == NULL)
        return;
    vmux_event ev = {type, code, endpoint != NULL ? endpoint : "", reason != NULL ? reason : ""};
    cfg->event_fn(&ev, cfg->event_userdata);
}
