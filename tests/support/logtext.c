/* A handle's log lines kept as text; see logtext.h. */
#include "logtext.h"

#include <stdio.h>
#include <string.h>

void vt_logtext_line(vmux_log_level level, const char *message, void *userdata)
{
    vt_logtext *t = userdata;
    pthread_mutex_lock(&t->lock);
    size_t n = strlen(t->text);
    snprintf(t->text + n, sizeof t->text - n, "[%d] %s\n", (int)level, message);
    pthread_mutex_unlock(&t->lock);
}

bool vt_logtext_has(vt_logtext *t, const char *words)
{
    pthread_mutex_lock(&t->lock);
    bool has = strstr(t->text, words) != NULL;
    pthread_mutex_unlock(&t->lock);
    return has;
}

void vt_logtext_clear(vt_logtext *t)
{
    pthread_mutex_lock(&t->lock);
    t->text[0] = '\0';
    pthread_mutex_unlock(&t->lock);
}
