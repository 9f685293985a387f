/*
 * The fault proxy itself (tests/support/faultproxy.h), against a real server and plain
 * sockets, so that the resilience tests can trust what it does: PASS relays, REFUSE closes new
 * connections, CUT closes open ones, DELAY holds each chunk, BLACKHOLE holds everything without
 * closing and lets it through when the mode turns back to PASS, and the trap lets a command
 * run and cuts the connection before its reply.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "faultproxy.h"
#include "resil.h"
#include "servers.h"
#include "testutil.h"

struct fixture {
    vt_server server;
    vt_proxy *proxy;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    if (f == NULL || vt_server_start(&f->server, 0, NULL) != 0)
        return -1;
    f->proxy = vt_proxy_start("127.0.0.1", f->server.port);
    if (f->proxy == NULL)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    vt_proxy_stop(f->proxy);
    vt_server_stop(&f->server);
    free(f);
    return 0;
}

/* A blocking socket connected to the proxy. */
static int dial(vt_proxy *p)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)vt_proxy_port(p))};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    return fd;
}

static void send_str(int fd, const char *s)
{
    assert_int_equal(send(fd, s, strlen(s), MSG_NOSIGNAL), (ssize_t)strlen(s));
}

/*
 * Reads what arrives within ms into buf (NUL-terminated). Returns the byte count, 0 on EOF,
 * -1 when nothing came in time.
 */
static int recv_within(int fd, char *buf, size_t len, int ms)
{
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    if (poll(&pfd, 1, ms) <= 0)
        return -1;
    ssize_t n = recv(fd, buf, len - 1, 0);
    buf[n > 0 ? n : 0] = '\0';
    return n < 0 ? 0 : (int)n; /* a reset counts as closed */
}

struct live_wait {
    vt_proxy *p;
    unsigned want;
};

static bool live_is(void *arg)
{
    struct live_wait *w = arg;
    return vt_proxy_live(w->p) == w->want;
}

static void test_pass(void **state)
{
    struct fixture *f = *state;
    char *pong = rt_admin(vt_proxy_port(f->proxy), "PING");
    assert_non_null(pong);
    assert_string_equal(pong, "PONG");
    free(pong);
    assert_int_equal(vt_proxy_accepted(f->proxy), 1);
    struct live_wait w = {f->proxy, 0};
    assert_true(vt_wait_until(live_is, &w, 5000)); /* the client left: both sides closed */
}

static void test_refuse(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(vt_proxy_set_mode(f->proxy, VT_PROXY_REFUSE, 0), 0);
    assert_null(rt_admin(vt_proxy_port(f->proxy), "PING"));
    assert_int_equal(vt_proxy_accepted(f->proxy), 1);
    assert_int_equal(vt_proxy_set_mode(f->proxy, VT_PROXY_PASS, 0), 0);
    char *pong = rt_admin(vt_proxy_port(f->proxy), "PING");
    assert_non_null(pong);
    free(pong);
}

static void test_cut(void **state)
{
    struct fixture *f = *state;
    char buf[256];
    int a = dial(f->proxy), b = dial(f->proxy);
    send_str(a, "PING\r\n");
    assert_true(recv_within(a, buf, sizeof(buf), 5000) > 0);
    assert_string_equal(buf, "+PONG\r\n");
    send_str(b, "PING\r\n");
    assert_true(recv_within(b, buf, sizeof(buf), 5000) > 0);
    assert_int_equal(vt_proxy_live(f->proxy), 2);
    vt_proxy_cut(f->proxy);
    assert_int_equal(vt_proxy_live(f->proxy), 0);
    assert_int_equal(recv_within(a, buf, sizeof(buf), 5000), 0); /* closed */
    assert_int_equal(recv_within(b, buf, sizeof(buf), 5000), 0);
    close(a);
    close(b);
}

static void test_delay(void **state)
{
    struct fixture *f = *state;
    enum { DELAY_MS = 200 };
    char buf[256];
    int fd = dial(f->proxy);
    assert_int_equal(vt_proxy_set_mode(f->proxy, VT_PROXY_DELAY, DELAY_MS), 0);
    uint64_t t0 = vt_now_ms();
    send_str(fd, "PING\r\n");
    assert_true(recv_within(fd, buf, sizeof(buf), 5000) > 0);
    uint64_t took = vt_now_ms() - t0;
    assert_string_equal(buf, "+PONG\r\n");
    assert_true(took >= 2 * DELAY_MS); /* held on the way there and on the way back */
    close(fd);
}

static void test_blackhole_holds_then_releases(void **state)
{
    struct fixture *f = *state;
    char buf[256];
    int fd = dial(f->proxy);
    send_str(fd, "PING\r\n");
    assert_true(recv_within(fd, buf, sizeof(buf), 5000) > 0);
    assert_int_equal(vt_proxy_set_mode(f->proxy, VT_PROXY_BLACKHOLE, 0), 0);
    send_str(fd, "ECHO held\r\n");
    assert_int_equal(recv_within(fd, buf, sizeof(buf), 300), -1); /* nothing, not even EOF */
    assert_int_equal(vt_proxy_live(f->proxy), 1);
    /* a new connection is accepted and blackholed too */
    int other = dial(f->proxy);
    send_str(other, "PING\r\n");
    assert_int_equal(recv_within(other, buf, sizeof(buf), 300), -1);
    assert_int_equal(vt_proxy_set_mode(f->proxy, VT_PROXY_PASS, 0), 0);
    assert_true(recv_within(fd, buf, sizeof(buf), 5000) > 0);
    assert_string_equal(buf, "$4\r\nheld\r\n");
    assert_true(recv_within(other, buf, sizeof(buf), 5000) > 0);
    assert_string_equal(buf, "+PONG\r\n");
    close(fd);
    close(other);
}

static void test_trap(void **state)
{
    struct fixture *f = *state;
    char buf[256], key[64], cmd[96];
    rt_unique(key, sizeof(key), "trap");
    snprintf(cmd, sizeof(cmd), "INCR %s\r\n", key);
    int fd = dial(f->proxy);
    vt_proxy_trap_reply(f->proxy, key, 1);
    send_str(fd, cmd);
    assert_int_equal(recv_within(fd, buf, sizeof(buf), 5000), 0); /* cut, no reply */
    close(fd);
    assert_int_equal(vt_proxy_trap_fired(f->proxy), 1);
    assert_int_equal(rt_admin_int(f->server.port, "GET %s", key), 1); /* it ran */
    /* spent: the next one passes */
    fd = dial(f->proxy);
    send_str(fd, cmd);
    assert_true(recv_within(fd, buf, sizeof(buf), 5000) > 0);
    assert_string_equal(buf, ":2\r\n");
    close(fd);
    assert_int_equal(vt_proxy_trap_fired(f->proxy), 1);
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_pass, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refuse, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cut, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delay, setup, teardown),
        cmocka_unit_test_setup_teardown(test_blackhole_holds_then_releases, setup, teardown),
        cmocka_unit_test_setup_teardown(test_trap, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
