/* A strict reader of Prometheus text exposition, for the metrics tests (promtext.h). */
#include "promtext.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_FAMILIES = 256 };

struct family {
    char name[128];
    bool help, type, counter, sampled;
};

struct parser {
    struct vt_prom *out;
    struct family fam[MAX_FAMILIES];
    size_t nfam;
    const char *current; /* the family whose samples came last */
    int line;
};

static bool fail(struct parser *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static bool fail(struct parser *p, const char *fmt, ...)
{
    int n = snprintf(p->out->error, sizeof p->out->error, "line %d: ", p->line);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->out->error + n, sizeof p->out->error - (size_t)n, fmt, ap);
    va_end(ap);
    return false;
}

static bool name_char(char c, bool first, bool colon)
{
    return isalpha((unsigned char)c) || c == '_' || (colon && c == ':') ||
           (!first && isdigit((unsigned char)c));
}

/* Reads a metric name (colon allowed) or label name at *s into buf; false when there is none. */
static bool read_name(const char **s, char *buf, size_t cap, bool colon)
{
    size_t n = 0;
    while (name_char((*s)[n], n == 0, colon))
        n++;
    if (n == 0 || n >= cap)
        return false;
    memcpy(buf, *s, n);
    buf[n] = '\0';
    *s += n;
    return true;
}

static struct family *family(struct parser *p, const char *name, bool create)
{
    for (size_t i = 0; i < p->nfam; i++)
        if (strcmp(p->fam[i].name, name) == 0)
            return &p->fam[i];
    if (!create || p->nfam == MAX_FAMILIES)
        return NULL;
    struct family *f = &p->fam[p->nfam++];
    memset(f, 0, sizeof *f);
    snprintf(f->name, sizeof f->name, "%s", name);
    return f;
}

/* "# HELP name text" and "# TYPE name type"; any other comment is allowed and ignored. */
static bool comment(struct parser *p, const char *s)
{
    bool help = strncmp(s, "# HELP ", 7) == 0, type = strncmp(s, "# TYPE ", 7) == 0;
    if (!help && !type)
        return true;
    s += 7;
    char name[128];
    if (!read_name(&s, name, sizeof name, true) || *s != ' ')
        return fail(p, "%s without a valid metric name", help ? "HELP" : "TYPE");
    struct family *f = family(p, name, true);
    if (f == NULL)
        return fail(p, "too many metrics");
    s++;
    if (help) {
        if (f->help)
            return fail(p, "second HELP for %s", name);
        for (const char *e = strchr(s, '\\'); e != NULL; e = strchr(e + 2, '\\'))
            if (e[1] != '\\' && e[1] != 'n')
                return fail(p, "HELP of %s: bad escape \\%c", name, e[1]);
        f->help = true;
        return true;
    }
    if (f->type)
        return fail(p, "second TYPE for %s", name);
    if (f->sampled)
        return fail(p, "TYPE of %s after its samples", name);
    if (strcmp(s, "counter") != 0 && strcmp(s, "gauge") != 0)
        return fail(p, "TYPE of %s is '%s', not counter or gauge", name, s);
    f->type = true;
    f->counter = strcmp(s, "counter") == 0;
    return true;
}

/* A label value after its opening quote, up to and past its closing quote. */
static bool label_value(struct parser *p, const char **s)
{
    const char *c = *s;
    for (; *c != '"'; c++) {
        if (*c == '\0')
            return fail(p, "label value without its closing quote");
        if (*c == '\\' && c[1] != '\\' && c[1] != '"' && c[1] != 'n')
            return fail(p, "bad escape \\%c in a label value", c[1]);
        if (*c == '\\')
            c++;
    }
    *s = c + 1;
    return true;
}

/* "{name="value",...}" at *s (after the '{'): checks it and copies it into labels. */
static bool labels(struct parser *p, const char **s, char *out, size_t cap)
{
    const char *start = *s, *c = *s;
    char seen[16][128];
    size_t nseen = 0;
    while (*c != '}') {
        char name[128];
        if (!read_name(&c, name, sizeof name, false) || strncmp(name, "__", 2) == 0)
            return fail(p, "bad label name at '%.20s'", c);
        for (size_t i = 0; i < nseen; i++)
            if (strcmp(seen[i], name) == 0)
                return fail(p, "label %s twice", name);
        if (nseen < 16)
            snprintf(seen[nseen++], sizeof seen[0], "%s", name);
        if (c[0] != '=' || c[1] != '"')
            return fail(p, "label %s without =\"", name);
        c += 2;
        if (!label_value(p, &c))
            return false;
        if (*c == ',')
            c++;
        else if (*c != '}')
            return fail(p, "expected , or } after label %s", name);
    }
    if ((size_t)(c - start) >= cap)
        return fail(p, "labels too long");
    memcpy(out, start, (size_t)(c - start));
    out[c - start] = '\0';
    *s = c + 1;
    return true;
}

static bool number(const char *s, double *v)
{
    if (strcmp(s, "NaN") == 0 || strcmp(s, "+Inf") == 0 || strcmp(s, "-Inf") == 0) {
        *v = strcmp(s, "-Inf") == 0 ? -1e308 : 1e308;
        return true;
    }
    char *end;
    errno = 0;
    *v = strtod(s, &end);
    return end != s && *end == '\0' && errno == 0;
}

/* "value" or "value timestamp", after the name and labels' single space. */
static bool value(struct parser *p, const char *s, double *v)
{
    char tok[64];
    size_t n = strcspn(s, " ");
    if (n == 0 || n >= sizeof tok)
        return fail(p, "no value");
    memcpy(tok, s, n);
    tok[n] = '\0';
    if (!number(tok, v))
        return fail(p, "value '%s' is not a number", tok);
    if (s[n] == '\0')
        return true;
    const char *ts = s + n + 1;
    char *end;
    (void)strtoll(ts, &end, 10);
    if (end == ts || *end != '\0')
        return fail(p, "timestamp '%s' is not an integer", ts);
    return true;
}

static bool check_family(struct parser *p, struct vt_prom_sample *smp)
{
    struct family *f = family(p, smp->name, false);
    if (f == NULL || !f->type)
        return fail(p, "sample of %s without a TYPE before it", smp->name);
    if (f->sampled && (p->current == NULL || strcmp(p->current, f->name) != 0))
        return fail(p, "samples of %s are not together", smp->name);
    f->sampled = true;
    p->current = f->name;
    if (f->counter) {
        size_t len = strlen(smp->name);
        if (len < 6 || strcmp(smp->name + len - 6, "_total") != 0)
            return fail(p, "counter %s does not end in _total", smp->name);
        if (smp->value < 0)
            return fail(p, "counter %s is negative", smp->name);
    }
    if (vt_prom_find(p->out, smp->name, smp->labels) != NULL)
        return fail(p, "series %s{%s} twice", smp->name, smp->labels);
    return true;
}

static bool sample(struct parser *p, const char *s)
{
    struct vt_prom_sample smp = {0};
    if (!read_name(&s, smp.name, sizeof smp.name, true))
        return fail(p, "bad metric name at '%.20s'", s);
    if (*s == '{') {
        s++;
        if (!labels(p, &s, smp.labels, sizeof smp.labels))
            return false;
    }
    if (*s != ' ')
        return fail(p, "no space after %s", smp.name);
    if (!value(p, s + 1, &smp.value) || !check_family(p, &smp))
        return false;
    struct vt_prom *out = p->out;
    struct vt_prom_sample *grown = realloc(out->samples, (out->n + 1) * sizeof *grown);
    if (grown == NULL)
        return fail(p, "out of memory");
    out->samples = grown;
    out->samples[out->n++] = smp;
    return true;
}

static bool parse_lines(struct parser *p, const char *text)
{
    char line[2048];
    for (const char *s = text; *s != '\0';) {
        p->line++;
        const char *nl = strchr(s, '\n');
        if (nl == NULL)
            return fail(p, "no line feed at the end");
        if ((size_t)(nl - s) >= sizeof line)
            return fail(p, "line too long");
        memcpy(line, s, (size_t)(nl - s));
        line[nl - s] = '\0';
        s = nl + 1;
        if (line[0] == '\0')
            return fail(p, "empty line");
        if (!(line[0] == '#' ? comment(p, line) : sample(p, line)))
            return false;
    }
    return true;
}

bool vt_prom_parse(const char *text, struct vt_prom *out)
{
    memset(out, 0, sizeof *out);
    struct parser *p = calloc(1, sizeof *p); /* large, and one per call: any thread may parse */
    if (p == NULL) {
        snprintf(out->error, sizeof out->error, "out of memory");
        return false;
    }
    p->out = out;
    bool ok = parse_lines(p, text);
    free(p);
    return ok;
}

void vt_prom_free(struct vt_prom *p)
{
    free(p->samples);
    p->samples = NULL;
    p->n = 0;
}

const struct vt_prom_sample *vt_prom_find(const struct vt_prom *p, const char *name,
                                          const char *labels)
{
    for (size_t i = 0; i < p->n; i++)
        if (strcmp(p->samples[i].name, name) == 0 && strcmp(p->samples[i].labels, labels) == 0)
            return &p->samples[i];
    return NULL;
}

size_t vt_prom_count(const struct vt_prom *p, const char *name)
{
    size_t n = 0;
    for (size_t i = 0; i < p->n; i++)
        n += strcmp(p->samples[i].name, name) == 0;
    return n;
}

bool vt_prom_label(const struct vt_prom_sample *s, const char *label, char *buf, size_t cap)
{
    size_t want = strlen(label);
    for (const char *c = s->labels; *c != '\0';) {
        bool match = strncmp(c, label, want) == 0 && c[want] == '=';
        c = strchr(c, '"') + 1;
        size_t n = 0;
        for (; *c != '"'; c++) {
            char ch = *c;
            if (ch == '\\')
                ch = *++c == 'n' ? '\n' : *c;
            if (match && n + 1 < cap)
                buf[n++] = ch;
            else if (match)
                return false;
        }
        if (match) {
            buf[n] = '\0';
            return true;
        }
        c += c[1] == ',' ? 2 : 1;
    }
    return false;
}
