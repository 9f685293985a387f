/* The report: steps, verdicts and the text output. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"

doc_step *doc_step_begin(doc_report *r, const char *name, const char *endpoint)
{
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 16;
        doc_step *steps = realloc(r->steps, cap * sizeof(*steps));
        if (steps == NULL) {
            /* A report of a few dozen steps: no memory for it means no memory for anything. */
            fputs("vmux-doctor: out of memory\n", stderr);
            exit(1);
        }
        r->steps = steps;
        r->cap = cap;
    }
    doc_step *s = &r->steps[r->n++];
    memset(s, 0, sizeof(*s));
    snprintf(s->name, sizeof(s->name), "%s", name);
    snprintf(s->endpoint, sizeof(s->endpoint), "%s", endpoint ? endpoint : "");
    return s;
}

void doc_step_set(doc_step *s, doc_verdict v, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->detail, sizeof(s->detail), fmt, ap);
    va_end(ap);
    s->verdict = v;
}

void doc_step_hint(doc_step *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->hint, sizeof(s->hint), fmt, ap);
    va_end(ap);
}

void doc_step_fact(doc_step *s, const char *key, const char *fmt, ...)
{
    if (s->nfacts == DOC_MAX_FACTS)
        return;
    doc_fact *f = &s->facts[s->nfacts++];
    snprintf(f->key, sizeof(f->key), "%s", key);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f->value, sizeof(f->value), fmt, ap);
    va_end(ap);
}

const char *doc_verdict_name(doc_verdict v)
{
    static const char *const names[] = {"ok", "warn", "fail", "skipped"};
    return (unsigned)v < 4 ? names[v] : "fail";
}

/* The marks are as wide as each other, so the step names line up. */
static const char *mark(doc_verdict v)
{
    static const char *const marks[] = {"[ ok ]", "[warn]", "[FAIL]", "[skip]"};
    return (unsigned)v < 4 ? marks[v] : "[FAIL]";
}

static void print_step(const doc_report *r, const doc_step *s)
{
    printf("%s %-8s %s%s%s\n", mark(s->verdict), s->name, s->endpoint, s->endpoint[0] ? ": " : "",
           s->detail);
    /* The certificate's details are the tls step's point; the others' facts repeat the detail. */
    bool facts = r->verbose || strcmp(s->name, "tls") == 0;
    for (int i = 0; facts && i < s->nfacts; i++)
        printf("              %s: %s\n", s->facts[i].key, s->facts[i].value);
    if (s->hint[0])
        printf("       hint:  %s\n", s->hint);
}

void doc_report_flush(doc_report *r)
{
    for (; r->text && r->printed < r->n; r->printed++)
        print_step(r, &r->steps[r->printed]);
    fflush(stdout);
}

void doc_step_end(doc_report *r, const doc_step *s)
{
    (void)s; /* the last step begun: printed with any held before it */
    if (!r->hold)
        doc_report_flush(r);
}

void doc_step_skip(doc_report *r, const char *name, const char *endpoint, const char *why)
{
    doc_step *s = doc_step_begin(r, name, endpoint);
    doc_step_set(s, DOC_SKIPPED, "%s", why);
    doc_step_end(r, s);
}

int doc_report_status(const doc_report *r)
{
    for (size_t i = 0; i < r->n; i++)
        if (r->steps[i].verdict == DOC_FAIL)
            return 1;
    return 0;
}

void doc_report_summary(const doc_report *r, FILE *out)
{
    size_t count[4] = {0};
    for (size_t i = 0; i < r->n; i++)
        count[r->steps[i].verdict]++;
    fprintf(out, "\n%zu ok, %zu warnings, %zu failed, %zu skipped: %s\n", count[DOC_OK],
            count[DOC_WARN], count[DOC_FAIL], count[DOC_SKIPPED],
            count[DOC_FAIL]   ? "something is wrong (see the FAIL lines and their hints)"
            : count[DOC_WARN] ? "it works, with warnings"
                              : "everything checked works (connection, TLS, auth, setup, "
                                "topology; writes not tried)");
}

void doc_report_free(doc_report *r)
{
    free(r->steps);
    r->steps = NULL;
    r->n = r->cap = 0;
}
