/*
 * Numbers as the server writes and reads them, whatever locale the program set: the decimal
 * point is '.', not the ',' of a de_DE LC_NUMERIC (a review saw every fractional reply refused
 * and every double argument sent as "1,5" after setlocale(LC_ALL, "de_DE.UTF-8")).
 *
 * Threads: any, at once; the calling thread's locale is left as it was.
 */
#ifndef VMUX_CORE_CNUM_H
#define VMUX_CORE_CNUM_H

#include <stddef.h>

/* strtod() in the C locale. */
double vmux__strtod(const char *s, char **end);

/* snprintf(buf, cap, "%.*g", digits, v) in the C locale: what snprintf returns. */
int vmux__fmt_g(char *buf, size_t cap, int digits, double v);

#endif
