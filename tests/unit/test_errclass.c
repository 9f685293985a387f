/*
 * The server's error classes (core/errclass.h): every class from a real server's words, the
 * space that MOVED, ASK and DENIED need and the whole-word rule they do not have, case, short,
 * empty and NULL inputs, bytes without a NUL after them, and every single-byte change of each
 * sample classified as the hand-written prefix checks it replaced (strncmp) classified it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/errclass.h"
#include "core/reply_internal.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* A text and the class it has. */
struct classed {
    const char *text;
    enum vmux_errclass cls;
};

/* Each class's prefix as the sites that matched it by hand wrote it. */
static const struct classed words[] = {
    {"MOVED ", VMUX_ERRCLASS_MOVED},
    {"ASK ", VMUX_ERRCLASS_ASK},
    {"CLUSTERDOWN", VMUX_ERRCLASS_CLUSTERDOWN},
    {"TRYAGAIN", VMUX_ERRCLASS_TRYAGAIN},
    {"LOADING", VMUX_ERRCLASS_LOADING},
    {"MASTERDOWN", VMUX_ERRCLASS_MASTERDOWN},
    {"UNBLOCKED force unblock from blocking operation, instance state",
     VMUX_ERRCLASS_UNBLOCKED_FAILOVER},
    {"READONLY", VMUX_ERRCLASS_READONLY},
    {"NOSCRIPT", VMUX_ERRCLASS_NOSCRIPT},
    {"NOAUTH", VMUX_ERRCLASS_NOAUTH},
    {"WRONGPASS", VMUX_ERRCLASS_WRONGPASS},
    {"NOPERM", VMUX_ERRCLASS_NOPERM},
    {"WRONGTYPE", VMUX_ERRCLASS_WRONGTYPE},
    {"DENIED ", VMUX_ERRCLASS_DENIED},
    {"ERR max number of clients reached", VMUX_ERRCLASS_MAXCLIENTS},
};

/* Errors as servers word them, one or more of each class. */
static const struct classed samples[] = {
    {"MOVED 3999 127.0.0.1:6381", VMUX_ERRCLASS_MOVED},
    {"MOVED 12182 :7001", VMUX_ERRCLASS_MOVED},
    {"ASK 3999 127.0.0.1:6381", VMUX_ERRCLASS_ASK},
    {"CLUSTERDOWN The cluster is down", VMUX_ERRCLASS_CLUSTERDOWN},
    {"CLUSTERDOWN Hash slot not served", VMUX_ERRCLASS_CLUSTERDOWN},
    {"TRYAGAIN Multiple keys request during rehashing of slot", VMUX_ERRCLASS_TRYAGAIN},
    {"LOADING Valkey is loading the dataset in memory", VMUX_ERRCLASS_LOADING},
    {"MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.",
     VMUX_ERRCLASS_MASTERDOWN},
    {"UNBLOCKED force unblock from blocking operation, instance state changed (master -> "
     "replica?)",
     VMUX_ERRCLASS_UNBLOCKED_FAILOVER},
    {"READONLY You can't write against a read only replica.", VMUX_ERRCLASS_READONLY},
    {"NOSCRIPT No matching script. Please use EVAL.", VMUX_ERRCLASS_NOSCRIPT},
    {"NOAUTH Authentication required.", VMUX_ERRCLASS_NOAUTH},
    {"WRONGPASS invalid username-password pair or user is disabled.", VMUX_ERRCLASS_WRONGPASS},
    {"NOPERM User u has no permissions to run the 'ping' command", VMUX_ERRCLASS_NOPERM},
    {"WRONGTYPE Operation against a key holding the wrong kind of value", VMUX_ERRCLASS_WRONGTYPE},
    {"DENIED Valkey is running in protected mode because protected mode is enabled",
     VMUX_ERRCLASS_DENIED},
    {"ERR max number of clients reached", VMUX_ERRCLASS_MAXCLIENTS},
    {"ERR unknown command 'FOO', with args beginning with: ", VMUX_ERRCLASS_OTHER},
    {"BUSY Valkey is busy running a script.", VMUX_ERRCLASS_OTHER},
    {"EXECABORT Transaction discarded because of previous errors.", VMUX_ERRCLASS_OTHER},
    {"UNBLOCKED client unblocked via CLIENT UNBLOCK", VMUX_ERRCLASS_OTHER},
};

/* s (NUL-terminated) classified from a copy of its bytes with no NUL after them. */
static enum vmux_errclass classify_exact(const char *s, size_t len)
{
    char *copy = malloc(len > 0 ? len : 1);
    assert_non_null(copy);
    memcpy(copy, s, len);
    enum vmux_errclass c = vmux__errclass(copy, len);
    free(copy);
    return c;
}

static enum vmux_errclass classify(const char *s)
{
    return classify_exact(s, strlen(s));
}

/* The class the hand-written checks gave s: the word strncmp found at its start, if any. */
static enum vmux_errclass by_strncmp(const char *s)
{
    for (size_t i = 0; i < N(words); i++)
        if (strncmp(s, words[i].text, strlen(words[i].text)) == 0)
            return words[i].cls;
    return VMUX_ERRCLASS_OTHER;
}

static void test_every_class(void **state)
{
    (void)state;
    bool seen[VMUX_ERRCLASS_COUNT] = {false};
    for (size_t i = 0; i < N(samples); i++) {
        enum vmux_errclass c = classify(samples[i].text);
        if (c != samples[i].cls)
            fail_msg("'%s': class %d, not %d", samples[i].text, c, samples[i].cls);
        seen[c] = true;
    }
    for (size_t i = 0; i < N(words); i++) {
        assert_int_equal(classify(words[i].text), words[i].cls);
        seen[words[i].cls] = true;
    }
    for (int c = 0; c < VMUX_ERRCLASS_COUNT; c++)
        if (!seen[c])
            fail_msg("class %d has no sample", c);
}

static void test_word_edges(void **state)
{
    (void)state;
    /* a prefix, not a word: what follows does not matter */
    assert_int_equal(classify("CLUSTERDOWN"), VMUX_ERRCLASS_CLUSTERDOWN);
    assert_int_equal(classify("CLUSTERDOWNX"), VMUX_ERRCLASS_CLUSTERDOWN);
    assert_int_equal(classify("LOADINGX"), VMUX_ERRCLASS_LOADING);
    assert_int_equal(classify("LOADING"), VMUX_ERRCLASS_LOADING);
    assert_int_equal(classify("TRYAGAINLATER"), VMUX_ERRCLASS_TRYAGAIN);
    assert_int_equal(classify("READONLYX"), VMUX_ERRCLASS_READONLY);
    assert_int_equal(classify("NOPERMS"), VMUX_ERRCLASS_NOPERM);
    assert_int_equal(classify("WRONGTYPEX"), VMUX_ERRCLASS_WRONGTYPE);
    assert_int_equal(classify("ERR max number of clients reached!"), VMUX_ERRCLASS_MAXCLIENTS);
    /* the space after MOVED, ASK and DENIED is part of their prefix */
    assert_int_equal(classify("MOVED"), VMUX_ERRCLASS_OTHER);
    assert_int_equal(classify("MOVED\t3999 a:1"), VMUX_ERRCLASS_OTHER);
    assert_int_equal(classify("MOVEDX 3999 a:1"), VMUX_ERRCLASS_OTHER);
    assert_int_equal(classify("MOVED "), VMUX_ERRCLASS_MOVED);
    assert_int_equal(classify("ASK"), VMUX_ERRCLASS_OTHER);
    assert_int_equal(classify("ASKING"), VMUX_ERRCLASS_OTHER);
    assert_int_equal(classify("ASKING 3999 a:1"), VMUX_ERRCLASS_OTHER);
    assert_int_equal(classify("ASK "), VMUX_ERRCLASS_ASK);
    assert_int_equal(classify("DENIED"), VMUX_ERRCLASS_OTHER);
    assert_int_equal(classify("DENIEDX protected"), VMUX_ERRCLASS_OTHER);
    /* case, and anything before the word */
    assert_int_equal(classify("moved 3999 a:1"), VMUX_ERRCLASS_OTHER);
    assert_int_equal(classify("Loading"), VMUX_ERRCLASS_OTHER);
    assert_int_equal(classify(" MOVED 3999 a:1"), VMUX_ERRCLASS_OTHER);
    assert_int_equal(classify("-MOVED 3999 a:1"), VMUX_ERRCLASS_OTHER);
    assert_int_equal(classify("ERR LOADING"), VMUX_ERRCLASS_OTHER);
    assert_int_equal(classify("ERR max number of clients"), VMUX_ERRCLASS_OTHER);
}

static void test_short_empty_null(void **state)
{
    (void)state;
    assert_int_equal(vmux__errclass(NULL, 0), VMUX_ERRCLASS_OTHER);
    assert_int_equal(vmux__errclass(NULL, 11), VMUX_ERRCLASS_OTHER);
    assert_int_equal(vmux__errclass("", 0), VMUX_ERRCLASS_OTHER);
    assert_int_equal(vmux__errclass("LOADING", 0), VMUX_ERRCLASS_OTHER);
    /* every proper prefix of every word is short of it, read only as far as len */
    for (size_t i = 0; i < N(words); i++)
        for (size_t n = 0; n < strlen(words[i].text); n++)
            if (classify_exact(words[i].text, n) != VMUX_ERRCLASS_OTHER)
                fail_msg("'%.*s' (%zu bytes) has a class", (int)n, words[i].text, n);
    /* a NUL is a byte like any other: inside the word it breaks it, after it nothing */
    assert_int_equal(vmux__errclass("LOAD\0ING", 8), VMUX_ERRCLASS_OTHER);
    assert_int_equal(vmux__errclass("LOADING\0x", 9), VMUX_ERRCLASS_LOADING);
    assert_int_equal(vmux__errclass("MOVED\0003999", 10), VMUX_ERRCLASS_OTHER);
}

/* Every single-byte change of each sample: the class strncmp gave it before. */
static void test_as_strncmp(void **state)
{
    (void)state;
    static const char subs[] = {' ', 'A', 'a', 'X', '\t', '-'};
    for (size_t i = 0; i < N(samples); i++) {
        size_t len = strlen(samples[i].text);
        char *s = malloc(len + 1);
        assert_non_null(s);
        for (size_t at = 0; at < len; at++) {
            for (size_t k = 0; k < sizeof subs; k++) {
                memcpy(s, samples[i].text, len + 1);
                s[at] = subs[k];
                if (classify(s) != by_strncmp(s))
                    fail_msg("'%s': class %d, strncmp's %d", s, classify(s), by_strncmp(s));
            }
        }
        free(s);
    }
}

static void test_groups(void **state)
{
    (void)state;
    for (int c = 0; c < VMUX_ERRCLASS_COUNT; c++) {
        bool busy = c == VMUX_ERRCLASS_LOADING || c == VMUX_ERRCLASS_MASTERDOWN ||
                    c == VMUX_ERRCLASS_TRYAGAIN || c == VMUX_ERRCLASS_CLUSTERDOWN ||
                    c == VMUX_ERRCLASS_UNBLOCKED_FAILOVER;
        bool auth =
            c == VMUX_ERRCLASS_NOAUTH || c == VMUX_ERRCLASS_WRONGPASS || c == VMUX_ERRCLASS_NOPERM;
        assert_int_equal(vmux__errclass_busy((enum vmux_errclass)c), busy);
        assert_int_equal(vmux__errclass_auth((enum vmux_errclass)c), auth);
    }
}

/* A reply's class is its text's, whatever its kind; no text, no class. */
static void test_of_reply(void **state)
{
    (void)state;
    static const char moved[] = "MOVED 3999 127.0.0.1:6381";
    vmux_reply *r = vmux__reply_new_str(VMUX_REPLY_ERROR, moved, sizeof moved - 1);
    assert_non_null(r);
    assert_int_equal(vmux__errclass_of(r), VMUX_ERRCLASS_MOVED);
    vmux_reply_free(r);
    r = vmux__reply_new_str(VMUX_REPLY_ERROR, "ASKING", 3); /* "ASK", no space */
    assert_non_null(r);
    assert_int_equal(vmux__errclass_of(r), VMUX_ERRCLASS_OTHER);
    vmux_reply_free(r);
    r = vmux__reply_new_str(VMUX_REPLY_STATUS, "LOADING", 7);
    assert_non_null(r);
    assert_int_equal(vmux__errclass_of(r), VMUX_ERRCLASS_LOADING);
    vmux_reply_free(r);
    r = vmux__reply_new_integer(7);
    assert_non_null(r);
    assert_int_equal(vmux__errclass_of(r), VMUX_ERRCLASS_OTHER);
    vmux_reply_free(r);
    assert_int_equal(vmux__errclass_of(NULL), VMUX_ERRCLASS_OTHER);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_class),      cmocka_unit_test(test_word_edges),
        cmocka_unit_test(test_short_empty_null), cmocka_unit_test(test_as_strncmp),
        cmocka_unit_test(test_groups),           cmocka_unit_test(test_of_reply),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
