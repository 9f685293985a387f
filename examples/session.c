/*
 * session: web sessions with sliding expiration (vmux/session.h). It opens a handle from a
 * configuration string (argv[1], else the VMUX_CONFIG environment variable, else
 * "127.0.0.1:6379") and makes a session store whose sessions expire after 2 seconds without
 * use. It logs "alice" in (a new session with a random 128-bit id and two fields), reads and
 * writes fields, then shows the sliding expiry: after a pause the session's TTL has run down,
 * and one read puts it back to the full 2 seconds. It logs out (destroys the session), shows
 * that the id is then unknown, and finally leaves a second session idle and reports how long
 * it took to expire. Every step is printed; any failure is reported with the library's words
 * for it (opts.errbuf) and the program exits with status 1. Everything it allocates is freed, and
 * its sessions are gone from the server when it ends (after a failure, within their idle TTL).
 *
 *   session [CONFIG]        e.g. session "127.0.0.1:6379,syncTimeout=2000"
 */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <vmux/vmux.h>

#define IDLE_TTL_MS 2000

static void usage(FILE *to, const char *prog)
{
    fprintf(to,
            "usage: %s [CONFIG]\n"
            "Creates, uses, renews and destroys sessions with a %d ms idle TTL.\n"
            "CONFIG is a vmux configuration string or URL, such as\n"
            "  127.0.0.1:6379,syncTimeout=2000   or   valkey://user:pass@host:6380/0\n"
            "Without CONFIG, $VMUX_CONFIG is used, else 127.0.0.1:6379.\n",
            prog, IDLE_TTL_MS);
}

/* Options for a call whose words, when it fails, go to err. */
#define CALLOPTS(err) VMUX_INIT(vmux_callopts, .errbuf = (err), .errlen = sizeof(err))

static int fail(const char *what, int rc, const char *err)
{
    fprintf(stderr, "session: %s failed: %s: %s\n", what, vmux_err_name(rc),
            err[0] != '\0' ? err : vmux_strerror(rc));
    return -1;
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void pause_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* The session's remaining TTL as the server reports it (PTTL), in *ttl. */
static int ttl_of(vmux *m, vmux_session_store *s, const char *id, int64_t *ttl)
{
    char key[256], err[256] = "";
    vmux_callopts co = CALLOPTS(err);
    int rc = vmux_session_key(s, id, key, sizeof key);
    if (rc < 0)
        return fail("vmux_session_key", rc, err);
    rc = vmux_pttl(m, &co, VMUX_STR(key), ttl);
    return rc != 0 ? fail("vmux_pttl", rc, err) : 0;
}

static int show_field(vmux_session_store *s, const char *id, const char *field)
{
    char err[256] = "";
    vmux_callopts co = CALLOPTS(err);
    vmux_bytes v;
    bool found = false;
    int rc = vmux_session_get(s, &co, id, VMUX_STR(field), &v, &found);
    if (rc != 0)
        return fail("vmux_session_get", rc, err);
    if (!found)
        printf("  %s: no such session\n", field);
    else
        printf("  %s = %s\n", field, v.ptr != NULL ? v.ptr : "(not set)");
    vmux_bytes_free(&v);
    return found ? 0 : -1;
}

static int login_and_use(vmux *m, vmux_session_store *s, char *id)
{
    vmux_str fields[] = {VMUX_STR("user"), VMUX_STR("cart")};
    vmux_str values[] = {VMUX_STR("alice"), VMUX_STR("0 items")};
    char err[256] = "";
    vmux_callopts co = CALLOPTS(err);
    int64_t ttl = 0;
    int rc = vmux_session_create(s, &co, fields, values, 2, id);
    if (rc != 0)
        return fail("vmux_session_create", rc, err);
    if (ttl_of(m, s, id, &ttl) != 0)
        return -1;
    printf("alice logs in: session %s (TTL %lld ms)\n", id, (long long)ttl);
    if (show_field(s, id, "user") != 0 || show_field(s, id, "theme") != 0)
        return -1;

    vmux_str f = VMUX_STR("cart"), v = VMUX_STR("2 items");
    bool found = false;
    rc = vmux_session_set(s, &co, id, &f, &v, 1, &found);
    if (rc != 0)
        return fail("vmux_session_set", rc, err);
    if (!found) {
        fprintf(stderr, "session: alice's session was gone before she added to her cart\n");
        return -1;
    }
    printf("alice adds to her cart:\n");
    if (show_field(s, id, "cart") != 0)
        return -1;

    pause_ms(IDLE_TTL_MS / 2);
    if (ttl_of(m, s, id, &ttl) != 0)
        return -1;
    printf("after a %d ms pause the TTL is down to %lld ms\n", IDLE_TTL_MS / 2, (long long)ttl);
    if (show_field(s, id, "user") != 0 || ttl_of(m, s, id, &ttl) != 0)
        return -1;
    printf("one read later it is back to %lld ms (sliding expiration)\n", (long long)ttl);
    if (ttl <= IDLE_TTL_MS / 2) {
        fprintf(stderr, "session: the read did not renew the TTL\n");
        return -1;
    }
    return 0;
}

static int logout(vmux_session_store *s, const char *id)
{
    char err[256] = "";
    vmux_callopts co = CALLOPTS(err);
    bool existed = false;
    int rc = vmux_session_destroy(s, &co, id, &existed);
    if (rc != 0)
        return fail("vmux_session_destroy", rc, err);
    printf("alice logs out: session destroyed (%s)\n", existed ? "it existed" : "already gone");
    vmux_field_array all;
    bool found = true;
    rc = vmux_session_get_all(s, &co, id, &all, &found);
    vmux_field_array_free(&all);
    if (rc != 0)
        return fail("vmux_session_get_all", rc, err);
    printf("reading it again: %s\n", found ? "still there (unexpected)" : "no such session");
    return found ? -1 : 0;
}

/* Leaves a session unused and waits (with a deadline) for the server to expire it. */
static int idle_expiry(vmux *m, vmux_session_store *s)
{
    char id[VMUX_SESSION_ID_MAX], err[256] = "";
    vmux_callopts co = CALLOPTS(err);
    int rc = vmux_session_create(s, &co, NULL, NULL, 0, id);
    if (rc != 0)
        return fail("vmux_session_create", rc, err);
    printf("bob logs in (session %.8s...) and walks away\n", id);
    uint64_t t0 = now_ms();
    int64_t ttl = 0;
    for (;;) {
        if (ttl_of(m, s, id, &ttl) != 0)
            return -1;
        if (ttl == VMUX_TTL_NO_KEY)
            break;
        if (now_ms() - t0 > 10 * IDLE_TTL_MS) {
            fprintf(stderr, "session: bob's session did not expire\n");
            return -1;
        }
        pause_ms(20);
    }
    printf("bob's session expired after about %llu ms idle\n", (unsigned long long)(now_ms() - t0));
    bool found = true;
    rc = vmux_session_touch(s, &co, id, &found, NULL);
    if (rc != 0)
        return fail("vmux_session_touch", rc, err);
    printf("touching it now: %s\n", found ? "found (unexpected)" : "no such session");
    return found ? -1 : 0;
}

static int run(vmux *m)
{
    vmux_session_opts o =
        VMUX_INIT(vmux_session_opts, .prefix = "vmux:example:session:", .idle_ttl_ms = IDLE_TTL_MS);
    vmux_session_store *s = NULL;
    int rc = vmux_session_store_new(m, &o, &s);
    if (rc != 0)
        return fail("vmux_session_store_new", rc, "");
    char id[VMUX_SESSION_ID_MAX] = "", err[256] = "";
    vmux_callopts co = CALLOPTS(err);
    rc = login_and_use(m, s, id);
    if (rc == 0)
        rc = logout(s, id);
    else if (id[0] != '\0') {
        int drc = vmux_session_destroy(s, &co, id, NULL);
        if (drc != 0)
            fail("vmux_session_destroy", drc, err);
    }
    if (rc == 0)
        rc = idle_expiry(m, s);
    vmux_session_store_free(s);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        usage(stdout, argv[0]);
        return 0;
    }
    if (argc > 2) {
        usage(stderr, argv[0]);
        return 2;
    }
    const char *config = argc > 1 ? argv[1] : getenv("VMUX_CONFIG");
    if (config == NULL || config[0] == '\0')
        config = "127.0.0.1:6379";

    char err[256] = "";
    vmux *m = NULL;
    int rc = vmux_open_str(config, &m, err, sizeof err);
    if (rc != 0) {
        fprintf(stderr, "session: cannot open: %s (%s)%s%s\n", vmux_strerror(rc), vmux_err_name(rc),
                err[0] ? ": " : "", err);
        return 1;
    }
    rc = run(m);
    vmux_close(m);
    if (rc == 0)
        printf("done\n");
    return rc == 0 ? 0 : 1;
}
