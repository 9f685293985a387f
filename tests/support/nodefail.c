/* A handle on a cluster whose node a test fails, and whether it noticed; see nodefail.h. */
#include "nodefail.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <cmocka.h>

#include "testutil.h"

vmux *vt_open_linked(int port, const char *options)
{
    char *conf = vt_node_config(port, options);
    vmux *m = vt_open_conf(conf);
    free(conf);
    int64_t n = -1;
    assert_int_equal(vmux_dbsize(m, NULL, &n), 0); /* every primary's link is open */
    return m;
}

void vt_conn_watch_start(struct vt_conn_watch *w, vmux *m)
{
    *w = (struct vt_conn_watch){m, VMUX_INIT(vmux_stats)};
    assert_int_equal(vmux_read_stats(m, &w->before), 0);
}

bool vt_conn_failed(void *arg)
{
    struct vt_conn_watch *w = arg;
    vmux_stats now = VMUX_INIT(vmux_stats);
    return vmux_read_stats(w->m, &now) == 0 && now.connect_failures > w->before.connect_failures;
}

bool vt_process_stopped(void *arg)
{
    char path[64], buf[256];
    snprintf(path, sizeof path, "/proc/%ld/stat", *(long *)arg);
    FILE *f = fopen(path, "r");
    size_t n = f != NULL ? fread(buf, 1, sizeof buf - 1, f) : 0;
    if (f != NULL)
        fclose(f);
    buf[n] = '\0';
    const char *end = strrchr(buf, ')'); /* the state follows the command's name */
    return end != NULL && end[1] == ' ' && end[2] == 'T';
}
