/* The library's diagnostics, delivered to the config's log callback (or nowhere). */
#ifndef VMUX_LOG_H
#define VMUX_LOG_H

#include "core/config_internal.h"

/* Formats and delivers a message if cfg has a log callback at level or below. */
void vmux__log(const struct vmux_config *cfg, vmux_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * Delivers an event to cfg's event handler, if it has one (vmux_config_set_event_handler()), on
 * the calling (I/O) thread: type, code, endpoint ("host:port") and reason (both may be "").
 */
void vmux__event(const struct vmux_config *cfg, vmux_event_type type, int code,
                 const char *endpoint, const char *reason);

#endif
