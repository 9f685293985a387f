/* Numbers in the C locale, whatever the program's (cnum.h). */
#include "core/cnum.h"

#include <locale.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

static pthread_once_t once = PTHREAD_ONCE_INIT;
static locale_t c_locale; /* (locale_t)0 if glibc could not make it: the thread's own is used */

static void make_c_locale(void)
{
    c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0);
}

static locale_t the_c_locale(void)
{
    pthread_once(&once, make_c_locale);
    return c_locale;
}

double vmux__strtod(const char *s, char **end)
{
    locale_t c = the_c_locale();
    return c != (locale_t)0 ? strtod_l(s, end, c) : strtod(s, end);
}

int vmux__fmt_g(char *buf, size_t cap, int digits, double v)
{
    locale_t c = the_c_locale();
    locale_t was = c != (locale_t)0 ? uselocale(c) : (locale_t)0;
    int n = snprintf(buf, cap, "%.*g", digits, v);
    if (was != (locale_t)0)
        uselocale(was);
    return n;
}
