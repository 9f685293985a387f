/*
 * A strict reader of Prometheus text exposition (format 0.0.4), for the tests of
 * vmux_format_metrics(): it accepts a text only when a Prometheus server would, and holds it to
 * the naming conventions on top (counters end in _total and are never negative).
 */
#ifndef VMUX_TEST_PROMTEXT_H
#define VMUX_TEST_PROMTEXT_H

#include <stdbool.h>
#include <stddef.h>

struct vt_prom_sample {
    char name[128];
    char labels[512]; /* as written between the braces ("" for none), escapes included */
    double value;
};

struct vt_prom {
    struct vt_prom_sample *samples;
    size_t n;
    char error[256]; /* why the text was refused: "line N: ..." */
};

/*
 * Parses text into *out. Returns true when the text is valid exposition: every line ends in a
 * line feed; HELP and TYPE at most once per metric, TYPE before the metric's first sample; every
 * sample has a TYPE (counter or gauge: the only types vmux writes), a valid metric name, valid
 * label names with values whose only escapes are \\, \" and \n, no label twice, a numeric value
 * and an optional integer timestamp; a metric's samples are together and no series repeats;
 * counters end in _total and are >= 0. Otherwise false, with out->error set. Free *out with
 * vt_prom_free() either way.
 */
bool vt_prom_parse(const char *text, struct vt_prom *out);
void vt_prom_free(struct vt_prom *p);

/* The sample name{labels} (labels as written; "" for none), or NULL. */
const struct vt_prom_sample *vt_prom_find(const struct vt_prom *p, const char *name,
                                          const char *labels);

/* How many samples of the metric called name there are. */
size_t vt_prom_count(const struct vt_prom *p, const char *name);

/*
 * The value of the label called label in s, unescaped, into buf (cap bytes); false when s has
 * no such label or it does not fit.
 */
bool vt_prom_label(const struct vt_prom_sample *s, const char *label, char *buf, size_t cap);

#endif
