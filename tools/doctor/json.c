/*
 * The report as one JSON document (--json), for scripts:
 *   {"target": "...", "status": 0|1, "verdict": "ok|warn|fail",
 *    "steps": [{"name", "endpoint", "verdict", "detail", "hint" (null when none),
 *               "facts": {key: "value", ...}}, ...]}
 */
#include <stdio.h>

#include "report.h"

/* Writes s as a JSON string: quotes, backslashes and control characters escaped. */
static void json_string(FILE *out, const char *s)
{
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(out, "\\%c", *p);
        else if (*p == '\n')
            fputs("\\n", out);
        else if (*p < 0x20 || *p == 0x7f)
            fprintf(out, "\\u%04x", *p);
        else
            fputc(*p, out);
    }
    fputc('"', out);
}

static void json_facts(FILE *out, const doc_step *s)
{
    fputs("{", out);
    for (int i = 0; i < s->nfacts; i++) {
        fputs(i ? ", " : "", out);
        json_string(out, s->facts[i].key);
        fputs(": ", out);
        json_string(out, s->facts[i].value);
    }
    fputs("}", out);
}

static void json_step(FILE *out, const doc_step *s)
{
    fputs("    {\"name\": ", out);
    json_string(out, s->name);
    fputs(", \"endpoint\": ", out);
    json_string(out, s->endpoint);
    fputs(", \"verdict\": ", out);
    json_string(out, doc_verdict_name(s->verdict));
    fputs(",\n     \"detail\": ", out);
    json_string(out, s->detail);
    fputs(",\n     \"hint\": ", out);
    if (s->hint[0])
        json_string(out, s->hint);
    else
        fputs("null", out);
    fputs(",\n     \"facts\": ", out);
    json_facts(out, s);
    fputs("}", out);
}

/* The worst verdict among the steps (skipped counts as ok). */
static doc_verdict overall(const doc_report *r)
{
    doc_verdict worst = DOC_OK;
    for (size_t i = 0; i < r->n; i++)
        if (r->steps[i].verdict != DOC_SKIPPED && r->steps[i].verdict > worst)
            worst = r->steps[i].verdict;
    return worst;
}

void doc_report_json(const doc_report *r, FILE *out)
{
    fputs("{\"target\": ", out);
    json_string(out, r->target);
    fprintf(out, ", \"status\": %d, \"verdict\": ", doc_report_status(r));
    json_string(out, doc_verdict_name(overall(r)));
    fputs(",\n \"steps\": [\n", out);
    for (size_t i = 0; i < r->n; i++) {
        json_step(out, &r->steps[i]);
        fputs(i + 1 < r->n ? ",\n" : "\n", out);
    }
    fputs(" ]}\n", out);
}
