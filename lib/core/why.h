/*
 * The words of a pattern call's error (vmux_last_error(), error.h): the lock, rate limiter and
 * cache calls take no error buffer, as their objects are shared, so each leaves its words in a
 * buffer of the calling thread's own.
 *
 * A pattern call begins with vmux__why_begin(), passes vmux__why_opts() to its commands (each
 * failing command writes its words there), names its own errors with vmux__why_set() (replacing
 * what a command wrote before), and ends with vmux__why_end(rc).
 */
#ifndef VMUX_WHY_H
#define VMUX_WHY_H

#include "vmux/call.h"

/* Clears the calling thread's words: a call begins. */
void vmux__why_begin(void);

/* Points o's error buffer at the calling thread's words and clears them: each command a pattern
 * sends starts with none, so that after its failure they are its own. */
void vmux__why_opts(vmux_callopts *o);

/* Replaces the thread's words with a printf-style message for rc; returns rc. */
int vmux__why_set(int rc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Ends a call that returns rc: a failure with no words gets rc's description, a success none.
 * Returns rc. */
int vmux__why_end(int rc);

#endif
