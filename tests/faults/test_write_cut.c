/*
 * A write cut short: the socket takes the first bytes of a flush (uv_try_write), and libuv then
 * refuses the rest at once (uv_write fails before writing anything, as it does when it cannot
 * allocate its list of buffers). The bytes the socket took may reach the server: a command
 * among them that is not retry-safe must fail with VMUX_ERR_CONNECTION_LOST, never be written
 * again on the next connection (docs/reliability.md).
 *
 * uv_try_write and uv_write are wrapped (--wrap, this executable links the library statically):
 * armed, the next flush of more than `cut` bytes is cut after `cut` bytes and its uv_write fails.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <uv.h>

#include "fakefixture.h"
#include "mux/mux.h"
#include "testutil.h"
#include "vmux/vmux.h"

#define WAIT_MS 10000

/* The bytes the next flush's uv_try_write takes when armed (0: not armed). */
static atomic_size_t cut;
/* Set when a flush was cut: its uv_write fails. */
static atomic_bool refuse_rest;

int __real_uv_try_write(uv_stream_t *handle, const uv_buf_t bufs[], unsigned int nbufs);
int __real_uv_write(uv_write_t *req, uv_stream_t *handle, const uv_buf_t bufs[], unsigned int nbufs,
                    uv_write_cb cb);
int __wrap_uv_try_write(uv_stream_t *handle, const uv_buf_t bufs[], unsigned int nbufs);
int __wrap_uv_write(uv_write_t *req, uv_stream_t *handle, const uv_buf_t bufs[], unsigned int nbufs,
                    uv_write_cb cb);

/* The first want bytes of bufs[0, nbufs) as a list of at most 16 buffers; returns its length. */
static unsigned prefix(const uv_buf_t bufs[], unsigned nbufs, size_t want, uv_buf_t out[16])
{
    unsigned n = 0;
    for (unsigned i = 0; i < nbufs && want > 0 && n < 16; i++) {
        size_t len = bufs[i].len < want ? bufs[i].len : want;
        out[n++] = uv_buf_init(bufs[i].base, (unsigned)len);
        want -= len;
    }
    return n;
}

int __wrap_uv_try_write(uv_stream_t *handle, const uv_buf_t bufs[], unsigned int nbufs)
{
    size_t total = 0, want = atomic_load(&cut);
    for (unsigned i = 0; i < nbufs; i++)
        total += bufs[i].len;
    if (want == 0 || total <= want)
        return __real_uv_try_write(handle, bufs, nbufs);
    atomic_store(&cut, 0);
    uv_buf_t part[16];
    int sent = __real_uv_try_write(handle, part, prefix(bufs, nbufs, want, part));
    if (sent > 0)
        atomic_store(&refuse_rest, true);
    return sent;
}

int __wrap_uv_write(uv_write_t *req, uv_stream_t *handle, const uv_buf_t bufs[], unsigned int nbufs,
                    uv_write_cb cb)
{
    if (atomic_exchange(&refuse_rest, false))
        return UV_ENOMEM;
    return __real_uv_write(req, handle, bufs, nbufs, cb);
}

static int setup(void **state)
{
    vt_fake_fixture_setup(state);
    vt_fake_fixture *fx = *state;
    fx->m = vt_fake_open(fx->fake, "syncTimeout=10000,asyncTimeout=10000");
    atomic_store(&cut, 0);
    atomic_store(&refuse_rest, false);
    return 0;
}

/* A batch's outcome (asynchronous: a synchronous caller alone may write through the direct
 * lane, which is not uv_try_write). */
struct done {
    int statuses[2];
    atomic_bool ran;
};

static void on_batch(size_t n, const int *statuses, vmux_reply **replies, void *userdata)
{
    struct done *d = userdata;
    for (size_t i = 0; i < n && i < 2; i++)
        d->statuses[i] = statuses[i];
    for (size_t i = 0; i < n; i++)
        vmux_reply_free(replies[i]);
    atomic_store(&d->ran, true);
}

static bool batch_done(void *arg)
{
    return atomic_load(&((struct done *)arg)->ran);
}

static bool nothing_pending(void *arg)
{
    vmux_stats s = VMUX_INIT(vmux_stats);
    return vmux_read_stats(arg, &s) == 0 && s.pending == 0 && s.pending_bytes == 0;
}

/*
 * Runs the batch INCR u, GET g asynchronously (cb with ud) with its flush cut after INCR and four
 * bytes of GET and the rest refused: INCR is read and never answered, and the connection fails
 * inside that flush turn.
 */
static void exec_cut_batch(vt_fake_fixture *fx, vmux_batch_cb cb, void *ud)
{
    static const char incr[] = "*2\r\n$4\r\nINCR\r\n$1\r\nu\r\n";
    vt_fake_script_str(fx->fake, VT_FAKE_SEND, ""); /* INCR: read, never answered */
    vmux_batch *b = NULL;
    assert_int_equal(vmux_batch_new(&b), 0);
    const char *a1[] = {"INCR", "u"}, *a2[] = {"GET", "g"};
    assert_int_equal(vmux_batch_add(b, 2, a1, NULL), 0);
    assert_int_equal(vmux_batch_add(b, 2, a2, NULL), 0);
    atomic_store(&cut, sizeof incr - 1 + 4);
    assert_int_equal(vmux_batch_exec_async(fx->m, NULL, b, cb, ud), 0);
    vmux_batch_free(b);
}

/*
 * One flush holds INCR u (not retry-safe) and GET g; the socket takes INCR and four bytes of GET,
 * and the rest is refused. The server read INCR: it fails with CONNECTION_LOST and is not
 * written again; GET, begun on the wire, is not resent either. Before the fix both went out
 * again on the next connection (the server read INCR twice).
 */
static void test_cut_write_not_resent(void **state)
{
    vt_fake_fixture *fx = *state;
    struct done d = {0};
    exec_cut_batch(fx, on_batch, &d);
    assert_true(vt_wait_until(batch_done, &d, 2 * WAIT_MS));
    assert_int_equal(atomic_load(&cut), 0); /* the flush was cut */
    assert_string_equal(vmux_err_name(d.statuses[0]), vmux_err_name(VMUX_ERR_CONNECTION_LOST));
    assert_string_equal(vmux_err_name(d.statuses[1]), vmux_err_name(VMUX_ERR_CONNECTION_LOST));

    /* A PING (answered by the fake itself, uncounted) behind anything resent: then the count is
     * final. */
    const char *ping[] = {"PING"};
    vmux_reply *r = NULL;
    assert_int_equal(vmux_call(fx->m, NULL, 1, ping, NULL, &r), 0);
    vmux_reply_free(r);
    assert_int_equal(vt_fake_commands(fx->fake), 1);
    assert_int_equal(vt_fake_accepted(fx->fake), 2);
    assert_true(vt_wait_until(nothing_pending, fx->m, WAIT_MS));
}

/* What the callback of a batch that failed inside a flush turn did and saw. */
struct late {
    vmux *m;
    int submitted;       /* vmux_call_async()'s result */
    int poll_timeout;    /* uv_backend_timeout() right after: how long the loop would sleep */
    atomic_bool ran;     /* the batch's callback ran */
    atomic_int answered; /* the BLPOP's status + 1, once it completed */
};

static void on_late_blpop(int status, vmux_reply *reply, void *userdata)
{
    vmux_reply_free(reply);
    atomic_store(&((struct late *)userdata)->answered, status + 1);
}

/* Runs inside the flush turn that failed the connection: submits to the blocking pool's. */
static void on_batch_submit(size_t n, const int *statuses, vmux_reply **replies, void *userdata)
{
    struct late *l = userdata;
    (void)statuses;
    for (size_t i = 0; i < n; i++)
        vmux_reply_free(replies[i]);
    const char *blpop[] = {"BLPOP", "q", "1"};
    l->submitted = vmux_call_async(l->m, NULL, 3, blpop, NULL, on_late_blpop, l);
    l->poll_timeout = uv_backend_timeout(&l->m->loop);
    atomic_store(&l->ran, true);
}

static bool late_ran(void *arg)
{
    return atomic_load(&((struct late *)arg)->ran);
}

static bool late_answered(void *arg)
{
    return atomic_load(&((struct late *)arg)->answered) != 0;
}

/*
 * A command a callback submits to another ready connection while the flush turns run (here: the
 * batch fails with its connection inside its flush turn, and its callback sends BLPOP to the
 * blocking pool's open connection) is written in the next loop turn without the loop sleeping
 * (conn_write.c, vmux__conn_arm_flush()). With the flush a prepare handle, as it was, this held
 * only because the failed connection's handles were closing (libuv does not sleep while a
 * handle closes); the flush is an idle handle now, which keeps the loop awake by itself.
 */
static void test_flush_armed_during_flush_turn(void **state)
{
    vt_fake_fixture *fx = *state;
    assert_int_equal(vt_fake_answer(fx->fake, "BLPOP", "*-1\r\n", 0), 0);
    const char *blpop[] = {"BLPOP", "q", "1"};
    vmux_reply *r = NULL;
    assert_int_equal(vmux_call(fx->m, NULL, 3, blpop, NULL, &r), 0); /* the pool's link opens */
    vmux_reply_free(r);

    struct late l = {.m = fx->m, .poll_timeout = -2};
    exec_cut_batch(fx, on_batch_submit, &l);
    assert_true(vt_wait_until(late_ran, &l, 2 * WAIT_MS));
    assert_int_equal(l.submitted, 0);
    assert_int_equal(l.poll_timeout, 0);
    assert_true(vt_wait_until(late_answered, &l, WAIT_MS));
    assert_int_equal(atomic_load(&l.answered), VMUX_OK + 1);
    assert_int_equal(vt_fake_count(fx->fake, "BLPOP"), 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_cut_write_not_resent, setup, vt_fake_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_flush_armed_during_flush_turn, setup,
                                        vt_fake_fixture_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
