/*
 * The socket options a connection is given from its configuration, read back from the sockets
 * the handle holds (the process's descriptors connected to the server's port): TCP_USER_TIMEOUT,
 * twice syncTimeout, at least 10 s and at most INT_MAX ms; SO_KEEPALIVE with TCP_KEEPIDLE from
 * keepAlive, at most 32767 s (Linux's maximum).
 */
#include <dirent.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "testutil.h"
#include "vmux/vmux.h"

/* The first descriptor of this process connected to port on the loopback, or -1. */
static int socket_to(int port)
{
    DIR *d = opendir("/proc/self/fd");
    assert_non_null(d);
    int found = -1;
    for (struct dirent *e = readdir(d); e != NULL && found < 0; e = readdir(d)) {
        int fd = atoi(e->d_name);
        struct sockaddr_storage peer;
        socklen_t len = sizeof peer;
        if (e->d_name[0] == '.' || fd == dirfd(d) ||
            getpeername(fd, (struct sockaddr *)&peer, &len) != 0)
            continue;
        if (peer.ss_family == AF_INET && ntohs(((struct sockaddr_in *)&peer)->sin_port) == port)
            found = fd;
        if (peer.ss_family == AF_INET6 && ntohs(((struct sockaddr_in6 *)&peer)->sin6_port) == port)
            found = fd;
    }
    closedir(d);
    return found;
}

/* Opens a handle on the plain fixture with extra settings, connected: one PING answered. */
static vmux *open_connected(const char *extra)
{
    vmux *m = vt_open("plain", extra);
    vmux_reply *r = NULL;
    assert_int_equal(vmux_command(m, &r, "PING"), 0);
    vmux_reply_free(r);
    return m;
}

static int int_option(int fd, int level, int name)
{
    int v = -1;
    socklen_t len = sizeof v;
    assert_int_equal(getsockopt(fd, level, name, &v, &len), 0);
    return v;
}

static void expect_user_timeout(const char *extra, int ms)
{
    vmux *m = open_connected(extra);
    int fd = socket_to(vt_server_port("plain"));
    assert_true(fd >= 0);
    assert_int_equal(int_option(fd, IPPROTO_TCP, TCP_USER_TIMEOUT), ms);
    vmux_close(m);
}

/* syncTimeout=1073741824 once overflowed 2 * sync_ms: a UBSan abort, or in a release build a
 * negative TCP_USER_TIMEOUT the kernel refused, leaving none (review 182 L1). */
static void test_user_timeout(void **state)
{
    (void)state;
    expect_user_timeout("syncTimeout=1000", 10000);
    expect_user_timeout("syncTimeout=6000", 12000);
    expect_user_timeout("syncTimeout=1073741823", 2147483646);
    expect_user_timeout("syncTimeout=1073741824", INT_MAX);
    expect_user_timeout("syncTimeout=2147483647", INT_MAX);
}

static void expect_keepalive(const char *extra, int on, int idle_s)
{
    vmux *m = open_connected(extra);
    int fd = socket_to(vt_server_port("plain"));
    assert_true(fd >= 0);
    assert_int_equal(int_option(fd, SOL_SOCKET, SO_KEEPALIVE), on);
    if (on)
        assert_int_equal(int_option(fd, IPPROTO_TCP, TCP_KEEPIDLE), idle_s);
    vmux_close(m);
}

/* keepAlive=32768 or more was refused by the kernel (EINVAL, unchecked), leaving its default
 * idle time of 7200 s in place of the one configured (review 182 L2). */
static void test_keepalive_idle(void **state)
{
    (void)state;
    expect_keepalive("keepAlive=0", 0, 0);
    expect_keepalive("keepAlive=15", 1, 15);
    expect_keepalive("keepAlive=32767", 1, 32767);
    expect_keepalive("keepAlive=32768", 1, 32767);
    expect_keepalive("keepAlive=2147483647", 1, 32767);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_user_timeout),
        cmocka_unit_test(test_keepalive_idle),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
