/*
 * Delivery. Four subscriptions of one handle (a callback and a queue on channels, a callback
 * and a queue on patterns) each receive exactly the 10,000 messages published to them, in
 * order, while four threads publish through the same handle; binary channel names, patterns
 * and payloads (NUL bytes, CR LF, every byte value, RESP look-alikes, a large payload) arrive
 * intact; PUBLISH reports how many subscriptions received a message; shard channels
 * (SSUBSCRIBE, SPUBLISH) work on a standalone server and stay apart from ordinary channels;
 * a subscription the server refuses (ACL) never becomes live and disturbs no other.
 *
 * Channel names carry the process id: the TLS run of this file and other tests share servers.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"
#include "vmux/vmux.h"

enum { NMSG = 10000, NSINKS = 4, WAIT_MS = 120000, LIVE_MS = 10000 };

/* ---- problems seen on other threads, reported by the test's thread ---- */

static pthread_mutex_t problem_mu = PTHREAD_MUTEX_INITIALIZER;
static unsigned problems;
static char first_problem[256];

static void problem(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void problem(const char *fmt, ...)
{
    pthread_mutex_lock(&problem_mu);
    if (problems++ == 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(first_problem, sizeof first_problem, fmt, ap);
        va_end(ap);
    }
    pthread_mutex_unlock(&problem_mu);
}

static void expect_no_problem(void)
{
    char what[sizeof first_problem];
    pthread_mutex_lock(&problem_mu);
    unsigned n = problems;
    memcpy(what, first_problem, sizeof what);
    problems = 0;
    pthread_mutex_unlock(&problem_mu);
    if (n != 0)
        fail_msg("%u problem(s); the first: %s", n, what);
}

/* ---- helpers ---- */

static vmux *open_handle(void)
{
    return vt_open("plain", "syncTimeout=20000");
}

static void name_of(char *buf, size_t size, const char *what)
{
    snprintf(buf, size, "vmux:ps:%d:%s", (int)getpid(), what);
}

static bool bytes_eq(vmux_bytes b, const void *p, size_t n)
{
    return b.ptr != NULL && b.len == n && memcmp(b.ptr, p, n) == 0 && b.ptr[n] == '\0';
}

struct goal {
    atomic_uint *n;
    unsigned want;
};

static bool goal_reached(void *arg)
{
    struct goal *g = arg;
    return atomic_load(g->n) >= g->want;
}

static bool wait_count(atomic_uint *n, unsigned want, int ms)
{
    struct goal g = {n, want};
    return vt_wait_until(goal_reached, &g, ms);
}

static int64_t publish(vmux *m, bool shard, vmux_str channel, vmux_str payload)
{
    int64_t receivers = -1;
    int rc = vmux_publish(m, NULL, shard ? VMUX_SUB_SHARD : VMUX_SUB_CHANNEL, channel, payload,
                          &receivers);
    if (rc != 0)
        fail_msg("%s: %s", shard ? "SPUBLISH" : "PUBLISH", vmux_err_name(rc));
    return receivers;
}

static void subscribe_live(vmux *m, vmux_sub_kind kind, vmux_str name, vmux_message_cb cb, void *ud,
                           vmux_msgq *q, vmux_sub **out)
{
    int rc = q != NULL ? vmux_subscribe_queue(m, kind, name, q, out)
                       : vmux_subscribe(m, kind, name, cb, ud, out);
    assert_int_equal(rc, 0);
    assert_non_null(*out);
    assert_int_equal(vmux_sub_wait_live(*out, LIVE_MS), 0);
}

/*
 * A barrier: messages reach a handle's subscriptions in the order the server sent them on the
 * one subscriber connection, so once a message published after others has arrived, the others
 * have too (or never will).
 */
struct barrier {
    char channel[64];
    vmux_sub *sub;
    atomic_uint seen;
};

static void on_barrier(const vmux_message *msg, void *ud)
{
    (void)msg;
    atomic_fetch_add(&((struct barrier *)ud)->seen, 1);
}

static void barrier_init(struct barrier *b, vmux *m, const char *what)
{
    name_of(b->channel, sizeof b->channel, what);
    atomic_init(&b->seen, 0);
    subscribe_live(m, VMUX_SUB_CHANNEL, VMUX_STR(b->channel), on_barrier, b, NULL, &b->sub);
}

static void barrier_pass(struct barrier *b, vmux *m)
{
    unsigned want = atomic_load(&b->seen) + 1;
    assert_int_equal(publish(m, false, VMUX_STR(b->channel), VMUX_STR("barrier")), 1);
    assert_true(wait_count(&b->seen, want, WAIT_MS));
}

/* ---- four subscribers, 10,000 messages each ---- */

struct sink {
    vmux *m;
    char channel[64]; /* where its messages are published */
    char pattern[64]; /* the pattern it subscribed; "" for a channel subscription */
    vmux_msgq *queue; /* NULL: a callback subscription */
    vmux_sub *sub;
    unsigned next; /* the sequence number expected next; the consuming thread's own */
    atomic_uint got;
    pthread_t reader, publisher;
};

static size_t payload_of(char *buf, size_t size, const struct sink *s, unsigned seq)
{
    return (size_t)snprintf(buf, size, "%u|%s", seq, s->channel);
}

static void check_message(struct sink *s, const vmux_message *msg)
{
    char want[128];
    size_t n = payload_of(want, sizeof want, s, s->next);
    if (!bytes_eq(msg->channel, s->channel, strlen(s->channel)))
        problem("%s: a message on channel \"%.*s\"", s->channel, (int)msg->channel.len,
                msg->channel.ptr ? msg->channel.ptr : "(null)");
    else if (s->pattern[0] != '\0' && !bytes_eq(msg->pattern, s->pattern, strlen(s->pattern)))
        problem("%s: pattern missing or wrong", s->channel);
    else if (s->pattern[0] == '\0' && msg->pattern.ptr != NULL)
        problem("%s: a pattern on a channel subscription's message", s->channel);
    else if (!bytes_eq(msg->payload, want, n))
        problem("%s: expected \"%s\", got \"%.*s\"", s->channel, want, (int)msg->payload.len,
                msg->payload.ptr ? msg->payload.ptr : "(null)");
    s->next++;
    atomic_fetch_add(&s->got, 1);
}

static void on_sink_message(const vmux_message *msg, void *ud)
{
    check_message(ud, msg);
}

static void *queue_reader(void *arg)
{
    struct sink *s = arg;
    while (atomic_load(&s->got) < NMSG) {
        vmux_message msg;
        int rc = vmux_msgq_pop(s->queue, WAIT_MS, &msg);
        if (rc != 0) {
            problem("%s: vmux_msgq_pop: %s", s->channel, vmux_err_name(rc));
            break;
        }
        check_message(s, &msg);
        vmux_message_free(&msg);
    }
    return NULL;
}

static void *publisher(void *arg)
{
    struct sink *s = arg;
    char buf[128];
    for (unsigned i = 0; i < NMSG; i++) {
        size_t n = payload_of(buf, sizeof buf, s, i);
        int64_t receivers = -1;
        int rc = vmux_publish(s->m, NULL, VMUX_SUB_CHANNEL, VMUX_STR(s->channel), VMUX_STRN(buf, n),
                              &receivers);
        if (rc != 0 || receivers != 1) {
            problem("%s: PUBLISH #%u: %s, %lld receivers", s->channel, i, vmux_err_name(rc),
                    (long long)receivers);
            break;
        }
    }
    return NULL;
}

static void sink_subscribe(struct sink *s, vmux *m, const char *what, bool pattern, bool queue)
{
    s->m = m;
    name_of(s->channel, sizeof s->channel, what);
    s->pattern[0] = '\0';
    if (pattern) {
        /* "vmux:ps:<pid>:c:1" is published, "vmux:ps:<pid>:c:*" subscribed */
        snprintf(s->pattern, sizeof s->pattern, "%.*s*", (int)strlen(s->channel) - 1, s->channel);
    }
    s->queue = NULL;
    if (queue)
        assert_int_equal(vmux_msgq_new(NMSG, VMUX_OVERFLOW_DROP_OLDEST, &s->queue), 0);
    atomic_init(&s->got, 0);
    s->next = 0;
    subscribe_live(m, pattern ? VMUX_SUB_PATTERN : VMUX_SUB_CHANNEL,
                   VMUX_STR(pattern ? s->pattern : s->channel), on_sink_message, s, s->queue,
                   &s->sub);
}

static void test_four_subscribers(void **state)
{
    (void)state;
    vmux *m = open_handle();
    static struct sink sinks[NSINKS];
    sink_subscribe(&sinks[0], m, "a", false, false);
    sink_subscribe(&sinks[1], m, "b", false, true);
    sink_subscribe(&sinks[2], m, "c:1", true, false);
    sink_subscribe(&sinks[3], m, "d:1", true, true);
    struct barrier bar;
    barrier_init(&bar, m, "four:barrier");

    for (int i = 0; i < NSINKS; i++)
        if (sinks[i].queue != NULL)
            assert_int_equal(pthread_create(&sinks[i].reader, NULL, queue_reader, &sinks[i]), 0);
    for (int i = 0; i < NSINKS; i++)
        assert_int_equal(pthread_create(&sinks[i].publisher, NULL, publisher, &sinks[i]), 0);
    for (int i = 0; i < NSINKS; i++)
        pthread_join(sinks[i].publisher, NULL);
    for (int i = 0; i < NSINKS; i++)
        if (!wait_count(&sinks[i].got, NMSG, WAIT_MS))
            problem("%s: %u of %d messages arrived", sinks[i].channel, atomic_load(&sinks[i].got),
                    NMSG);
    for (int i = 0; i < NSINKS; i++)
        if (sinks[i].queue != NULL)
            pthread_join(sinks[i].reader, NULL);
    expect_no_problem();

    /* Nothing more comes: no duplicate, no stray message after the last one. */
    barrier_pass(&bar, m);
    for (int i = 0; i < NSINKS; i++) {
        assert_int_equal(atomic_load(&sinks[i].got), NMSG);
        if (sinks[i].queue != NULL) {
            assert_int_equal(vmux_msgq_length(sinks[i].queue), 0);
            assert_int_equal(vmux_msgq_dropped(sinks[i].queue), 0);
        }
    }
    for (int i = 0; i < NSINKS; i++) {
        assert_int_equal(vmux_unsubscribe(m, sinks[i].sub), 0);
        vmux_msgq_free(sinks[i].queue);
    }
    assert_int_equal(vmux_unsubscribe(m, bar.sub), 0);
    vmux_close(m);
}

/* ---- binary names and payloads ---- */

enum { NPAYLOADS = 7, BIG = 200000, MAXNAME = 64 };

struct sent {
    char *bytes[NPAYLOADS];
    size_t len[NPAYLOADS];
};

/* A literal's bytes and length, NULs included. */
#define LIT(s) s, sizeof(s) - 1

static void make_payloads(struct sent *p)
{
    static const struct {
        const char *bytes;
        size_t len;
    } fixed[] = {{LIT("\r\n")},
                 {LIT("\0")},
                 {LIT("")},
                 {LIT("*3\r\n$7\r\nmessage\r\n$1\r\nx\r\n")},
                 {LIT("a\0b\r\nc\0")}};
    for (int i = 0; i < 5; i++) {
        p->len[i] = fixed[i].len;
        p->bytes[i] = malloc(fixed[i].len + 1);
        memcpy(p->bytes[i], fixed[i].bytes, fixed[i].len);
    }
    p->len[5] = 256; /* every byte value */
    p->bytes[5] = malloc(256);
    for (int i = 0; i < 256; i++)
        p->bytes[5][i] = (char)i;
    p->len[6] = BIG; /* large, with NULs and CR LFs throughout */
    p->bytes[6] = malloc(BIG);
    for (size_t i = 0; i < BIG; i++)
        p->bytes[6][i] = i % 97 == 0   ? '\0'
                         : i % 89 == 0 ? '\r'
                         : i % 89 == 1 ? '\n'
                                       : (char)(i * 131);
}

static void free_payloads(struct sent *p)
{
    for (int i = 0; i < NPAYLOADS; i++)
        free(p->bytes[i]);
}

/* What a callback subscription received, copied out of the callback. */
struct recorder {
    atomic_uint count;
    vmux_message msgs[NPAYLOADS];
};

static vmux_bytes copy_bytes(vmux_bytes b)
{
    vmux_bytes c = {NULL, b.len};
    if (b.ptr != NULL) {
        c.ptr = malloc(b.len + 1);
        memcpy(c.ptr, b.ptr, b.len + 1); /* with the NUL that follows the bytes */
    }
    return c;
}

static void on_record(const vmux_message *msg, void *ud)
{
    struct recorder *r = ud;
    unsigned i = atomic_load(&r->count);
    if (i >= NPAYLOADS) {
        problem("more binary messages than were published");
        return;
    }
    r->msgs[i].channel = copy_bytes(msg->channel);
    r->msgs[i].pattern = copy_bytes(msg->pattern);
    r->msgs[i].payload = copy_bytes(msg->payload);
    atomic_store(&r->count, i + 1);
}

static void check_binary(const vmux_message *got, const char *chan, size_t chan_len,
                         const char *pat, size_t pat_len, const struct sent *p, int i)
{
    if (!bytes_eq(got->channel, chan, chan_len))
        fail_msg("message %d: the binary channel name changed", i);
    if (pat == NULL ? got->pattern.ptr != NULL : !bytes_eq(got->pattern, pat, pat_len))
        fail_msg("message %d: the pattern is wrong", i);
    if (got->payload.len != p->len[i] ||
        (p->len[i] > 0 && memcmp(got->payload.ptr, p->bytes[i], p->len[i]) != 0))
        fail_msg("message %d: payload of %zu bytes, expected %zu bytes as sent", i,
                 got->payload.len, p->len[i]);
}

static void test_binary(void **state)
{
    (void)state;
    vmux *m = open_handle();
    /* channel "<prefix>\0\r\nx\xff\0\r\n", pattern "<prefix>\0\r\n*" */
    char chan[MAXNAME], pat[MAXNAME];
    name_of(chan, sizeof chan, "bin:");
    size_t base = strlen(chan);
    memcpy(pat, chan, base);
    memcpy(chan + base, "\0\r\nx\xff\0\r\n", 8);
    memcpy(pat + base, "\0\r\n*", 4);
    size_t chan_len = base + 8, pat_len = base + 4;

    static struct recorder rec;
    atomic_init(&rec.count, 0);
    vmux_msgq *cq, *pq;
    vmux_sub *s_cb, *s_cq, *s_pq;
    assert_int_equal(vmux_msgq_new(16, VMUX_OVERFLOW_DROP_OLDEST, &cq), 0);
    assert_int_equal(vmux_msgq_new(16, VMUX_OVERFLOW_DROP_OLDEST, &pq), 0);
    subscribe_live(m, VMUX_SUB_CHANNEL, VMUX_STRN(chan, chan_len), on_record, &rec, NULL, &s_cb);
    subscribe_live(m, VMUX_SUB_CHANNEL, VMUX_STRN(chan, chan_len), NULL, NULL, cq, &s_cq);
    subscribe_live(m, VMUX_SUB_PATTERN, VMUX_STRN(pat, pat_len), NULL, NULL, pq, &s_pq);

    struct sent p;
    make_payloads(&p);
    /* One client subscribed to the channel (twice: the server counts it once) and to the
     * pattern: two receivers. */
    for (int i = 0; i < NPAYLOADS; i++)
        assert_int_equal(
            publish(m, false, VMUX_STRN(chan, chan_len), VMUX_STRN(p.bytes[i], p.len[i])), 2);

    assert_true(wait_count(&rec.count, NPAYLOADS, WAIT_MS));
    for (int i = 0; i < NPAYLOADS; i++) {
        check_binary(&rec.msgs[i], chan, chan_len, NULL, 0, &p, i);
        vmux_message_free(&rec.msgs[i]);
        vmux_message got;
        assert_int_equal(vmux_msgq_pop(cq, WAIT_MS, &got), 0);
        check_binary(&got, chan, chan_len, NULL, 0, &p, i);
        vmux_message_free(&got);
        assert_int_equal(vmux_msgq_pop(pq, WAIT_MS, &got), 0);
        check_binary(&got, chan, chan_len, pat, pat_len, &p, i);
        vmux_message_free(&got);
    }
    expect_no_problem();
    assert_int_equal(vmux_msgq_dropped(cq) + vmux_msgq_dropped(pq), 0);
    free_payloads(&p);
    assert_int_equal(vmux_unsubscribe(m, s_cb), 0);
    assert_int_equal(vmux_unsubscribe(m, s_cq), 0);
    assert_int_equal(vmux_unsubscribe(m, s_pq), 0);
    vmux_msgq_free(cq);
    vmux_msgq_free(pq);
    vmux_close(m);
}

/* ---- PUBLISH receiver counts ---- */

struct receivers_goal {
    vmux *m;
    bool shard;
    const char *channel;
    int64_t want;
};

/* Publishes (a message nobody checks) until the server reports want receivers. */
static bool receivers_are(void *arg)
{
    struct receivers_goal *g = arg;
    return publish(g->m, g->shard, VMUX_STR(g->channel), VMUX_STR("count")) == g->want;
}

static void on_ignore(const vmux_message *msg, void *ud)
{
    (void)msg;
    (void)ud;
}

static void test_receiver_counts(void **state)
{
    (void)state;
    vmux *m = open_handle(), *other = open_handle();
    char chan[MAXNAME], pat[MAXNAME];
    name_of(chan, sizeof chan, "count:x");
    name_of(pat, sizeof pat, "count:*");
    vmux_sub *a, *b, *p, *o;

    assert_int_equal(publish(m, false, VMUX_STR(chan), VMUX_STR("nobody")), 0);
    subscribe_live(m, VMUX_SUB_CHANNEL, VMUX_STR(chan), on_ignore, NULL, NULL, &a);
    assert_int_equal(publish(m, false, VMUX_STR(chan), VMUX_STR("one")), 1);
    /* A second subscription of the same handle shares its subscriber connection. */
    subscribe_live(m, VMUX_SUB_CHANNEL, VMUX_STR(chan), on_ignore, NULL, NULL, &b);
    assert_int_equal(publish(m, false, VMUX_STR(chan), VMUX_STR("still one")), 1);
    /* The server counts a matching pattern as one more receiver, and another handle too. */
    subscribe_live(m, VMUX_SUB_PATTERN, VMUX_STR(pat), on_ignore, NULL, NULL, &p);
    assert_int_equal(publish(m, false, VMUX_STR(chan), VMUX_STR("two")), 2);
    subscribe_live(other, VMUX_SUB_CHANNEL, VMUX_STR(chan), on_ignore, NULL, NULL, &o);
    assert_int_equal(publish(m, false, VMUX_STR(chan), VMUX_STR("three")), 3);

    /* Unsubscribing reaches the server on another connection than PUBLISH: wait for it. */
    struct receivers_goal g = {m, false, chan, 2};
    assert_int_equal(vmux_unsubscribe(m, p), 0);
    assert_true(vt_wait_until(receivers_are, &g, WAIT_MS));
    vmux_close(other); /* its subscriptions end with it */
    g.want = 1;
    assert_true(vt_wait_until(receivers_are, &g, WAIT_MS));
    assert_int_equal(vmux_unsubscribe(m, a), 0);
    assert_int_equal(publish(m, false, VMUX_STR(chan), VMUX_STR("b is left")), 1);
    assert_int_equal(vmux_unsubscribe(m, b), 0);
    g.want = 0;
    assert_true(vt_wait_until(receivers_are, &g, WAIT_MS));
    vmux_close(m);
}

/* ---- shard channels ---- */

static void test_shard_channels(void **state)
{
    (void)state;
    vmux *m = open_handle();
    char chan[MAXNAME];
    name_of(chan, sizeof chan, "shard");
    vmux_msgq *sq, *cq;
    vmux_sub *ss, *cs;
    assert_int_equal(vmux_msgq_new(16, VMUX_OVERFLOW_DROP_OLDEST, &sq), 0);
    assert_int_equal(vmux_msgq_new(16, VMUX_OVERFLOW_DROP_OLDEST, &cq), 0);
    /* The same name as a shard channel and as an ordinary channel: two different things. */
    subscribe_live(m, VMUX_SUB_SHARD, VMUX_STR(chan), NULL, NULL, sq, &ss);
    subscribe_live(m, VMUX_SUB_CHANNEL, VMUX_STR(chan), NULL, NULL, cq, &cs);

    assert_int_equal(publish(m, true, VMUX_STR(chan), VMUX_STR("to the shard")), 1);
    assert_int_equal(publish(m, false, VMUX_STR(chan), VMUX_STR("to the channel")), 1);
    vmux_message got;
    assert_int_equal(vmux_msgq_pop(sq, WAIT_MS, &got), 0);
    assert_true(bytes_eq(got.channel, chan, strlen(chan)));
    assert_null(got.pattern.ptr);
    assert_true(bytes_eq(got.payload, "to the shard", 12));
    vmux_message_free(&got);
    assert_int_equal(vmux_msgq_pop(cq, WAIT_MS, &got), 0);
    assert_true(bytes_eq(got.payload, "to the channel", 14));
    vmux_message_free(&got);

    /* Each reached only its own kind; a barrier proves nothing else is on its way. */
    struct barrier bar;
    barrier_init(&bar, m, "shard:barrier");
    barrier_pass(&bar, m);
    assert_int_equal(vmux_msgq_length(sq), 0);
    assert_int_equal(vmux_msgq_length(cq), 0);

    assert_int_equal(vmux_unsubscribe(m, ss), 0);
    /* SUNSUBSCRIBE goes on the subscriber connection: wait until SPUBLISH finds nobody. */
    struct receivers_goal g = {m, true, chan, 0};
    assert_true(vt_wait_until(receivers_are, &g, WAIT_MS));
    assert_int_equal(vmux_unsubscribe(m, cs), 0);
    assert_int_equal(vmux_unsubscribe(m, bar.sub), 0);
    vmux_msgq_free(sq);
    vmux_msgq_free(cq);
    vmux_close(m);
}

/* ---- a subscription the server refuses ---- */

static atomic_bool noperm_logged;

static void on_log(vmux_log_level level, const char *message, void *ud)
{
    (void)ud;
    if (level >= VMUX_LOG_ERROR && strstr(message, "NOPERM") != NULL)
        atomic_store(&noperm_logged, true);
}

static bool noperm_seen(void *arg)
{
    (void)arg;
    return atomic_load(&noperm_logged);
}

static void on_count(const vmux_message *msg, void *ud)
{
    (void)msg;
    atomic_fetch_add((atomic_uint *)ud, 1);
}

/*
 * An ACL user that may use only some channels: the refused SUBSCRIBE never becomes live, the
 * server's error reaches the log, and the error reply on the subscriber connection does not
 * disturb the subscriptions that share it.
 */
static void test_refused_subscription(void **state)
{
    (void)state;
    char user[64], allowed[MAXNAME], ok[MAXNAME], denied[MAXNAME];
    snprintf(user, sizeof user, "vmuxps%d", (int)getpid());
    name_of(allowed, sizeof allowed, "acl:ok:*");
    name_of(ok, sizeof ok, "acl:ok:1");
    name_of(denied, sizeof denied, "acl:denied");
    char *r = vt_admin("plain", "ACL SETUSER %s on >pw resetchannels &%s ~* +@all", user, allowed);
    assert_non_null(r);
    assert_string_equal(r, "OK");
    free(r);

    char extra[128];
    snprintf(extra, sizeof extra, "user=%s,password=pw,syncTimeout=20000", user);
    char *text = vt_server_config("plain", extra);
    vmux_config *cfg = vt_config(text);
    atomic_init(&noperm_logged, false);
    assert_int_equal(vmux_config_set_log(cfg, on_log, VMUX_LOG_WARN, NULL), 0);
    vmux *m = vt_open_config(cfg, text);
    vmux_config_free(cfg);
    free(text);

    atomic_uint denied_calls, ok_calls;
    atomic_init(&denied_calls, 0);
    atomic_init(&ok_calls, 0);
    vmux_sub *ds, *os;
    assert_int_equal(
        vmux_subscribe(m, VMUX_SUB_CHANNEL, VMUX_STR(denied), on_count, &denied_calls, &ds), 0);
    /* The server answers in order: once this one is confirmed, the refusal has come. */
    subscribe_live(m, VMUX_SUB_CHANNEL, VMUX_STR(ok), on_count, &ok_calls, NULL, &os);
    assert_int_equal(vmux_sub_wait_live(ds, 0), VMUX_ERR_TIMEOUT);
    assert_true(vt_wait_until(noperm_seen, NULL, WAIT_MS));

    assert_int_equal(publish(m, false, VMUX_STR(ok), VMUX_STR("allowed")), 1);
    assert_true(wait_count(&ok_calls, 1, WAIT_MS));
    assert_int_equal(atomic_load(&denied_calls), 0);

    assert_int_equal(vmux_unsubscribe(m, ds), 0);
    assert_int_equal(vmux_unsubscribe(m, os), 0);
    vmux_close(m);
    r = vt_admin("plain", "ACL DELUSER %s", user);
    free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_four_subscribers),     cmocka_unit_test(test_binary),
        cmocka_unit_test(test_receiver_counts),      cmocka_unit_test(test_shard_channels),
        cmocka_unit_test(test_refused_subscription),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
