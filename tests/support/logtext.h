/*
 * A handle's log lines kept as text, for a test to look for words in: register
 * vt_logtext_line as the configuration's log function with a vt_logtext as its userdata.
 */
#ifndef VMUX_TEST_LOGTEXT_H
#define VMUX_TEST_LOGTEXT_H

#include <pthread.h>
#include <stdbool.h>

#include "vmux/vmux.h"

/* Initialize with VT_LOGTEXT_INIT. Each line reads "[level] message\n"; what does not fit is
 * dropped. */
typedef struct vt_logtext {
    pthread_mutex_t lock;
    char text[32768];
} vt_logtext;

#define VT_LOGTEXT_INIT                                                                            \
    {                                                                                              \
        PTHREAD_MUTEX_INITIALIZER, ""                                                              \
    }

/* A vmux_log_fn: appends the line to the vt_logtext at userdata. Any thread. */
void vt_logtext_line(vmux_log_level level, const char *message, void *userdata);

/* Whether the text holds words. Any thread. */
bool vt_logtext_has(vt_logtext *t, const char *words);

/* Forgets every line kept. Any thread. */
void vt_logtext_clear(vt_logtext *t);

#endif
