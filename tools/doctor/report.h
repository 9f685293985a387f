/*
 * The doctor's report: a list of steps, each with a name, the endpoint it examined, a verdict,
 * a sentence of detail, an optional hint, and facts (key/value pairs for scripts). Text mode
 * prints each step as it ends; --json prints the whole report at the end (json.c).
 */
#ifndef VMUX_DOCTOR_REPORT_H
#define VMUX_DOCTOR_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

typedef enum doc_verdict {
    DOC_OK = 0,
    DOC_WARN = 1,
    DOC_FAIL = 2,
    DOC_SKIPPED = 3,
} doc_verdict;

#define DOC_MAX_FACTS 16

typedef struct doc_fact {
    char key[32];
    char value[512];
} doc_fact;

typedef struct doc_step {
    char name[24];
    char endpoint[300]; /* "host:port", or "" for a step about the whole configuration */
    doc_verdict verdict;
    char detail[1024];
    char hint[1024]; /* "" when there is none */
    doc_fact facts[DOC_MAX_FACTS];
    int nfacts;
} doc_step;

typedef struct doc_report {
    char target[2048]; /* the configuration, as vmux_config_to_string() prints it */
    doc_step *steps;
    size_t n, cap;
    bool text;      /* print each step as it ends */
    bool verbose;   /* text: print every step's facts (else only the tls step's) */
    bool hold;      /* text: keep ended steps unprinted (their verdict may change) until flushed */
    size_t printed; /* text: how many steps have been printed */
} doc_report;

/* Starts a step (verdict ok, no detail yet). Out of memory, it prints so and exits (status 1). */
doc_step *doc_step_begin(doc_report *r, const char *name, const char *endpoint);

/* Sets the verdict and the detail (printf-style). */
void doc_step_set(doc_step *s, doc_verdict v, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Sets the hint (printf-style). */
void doc_step_hint(doc_step *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Adds a fact (printf-style value); facts beyond DOC_MAX_FACTS are dropped. */
void doc_step_fact(doc_step *s, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Ends a step: in text mode, prints it and the held steps before it, unless r->hold is set. */
void doc_step_end(doc_report *r, const doc_step *s);

/* Text mode: prints the ended steps not printed yet (those held by r->hold). */
void doc_report_flush(doc_report *r);

/* Adds an ended step with verdict skipped and the reason as detail. */
void doc_step_skip(doc_report *r, const char *name, const char *endpoint, const char *why);

/* "ok", "warn", "fail", "skipped". */
const char *doc_verdict_name(doc_verdict v);

/* The exit status the report calls for: 1 when a step failed, else 0. */
int doc_report_status(const doc_report *r);

/* Prints the closing summary line (text mode). */
void doc_report_summary(const doc_report *r, FILE *out);

/* json.c: prints the whole report as one JSON document. */
void doc_report_json(const doc_report *r, FILE *out);

/* Frees the steps. */
void doc_report_free(doc_report *r);

#endif
