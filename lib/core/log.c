#include "core/log.h"

#include <stdarg.h>
#include <string.h>

#include "core/redact.h"

/*
 * A line may quote a server, which may echo the credentials (an error reply to a command sent
 * after AUTH, on any connection): the configured ones are masked in the whole line before it is
 * cut to size (docs/reliability.md).
 */
void vmux__log(const struct vmux_config *cfg, vmux_log_level level, const char *fmt, ...)
{
    if (cfg->log_fn == NULL || level < cfg->log_level)
        return;
    char line[512];
    /* "default", the server's own user, is no secret, and masking it would blot out words */
    const char *user = cfg->user != NULL && strcmp(cfg->user, "default") != 0 ? cfg->user : NULL;
    const char *secrets[] = {cfg->password, user, cfg->sentinel_password};
    va_list ap;
    va_start(ap, fmt);
    (void)vmux__redact_vformat(line, sizeof line, secrets, 3, fmt, ap);
    va_end(ap);
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
