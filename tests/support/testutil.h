/* Helpers shared by the integration tests: where the fixture servers are, and deadlines. */
#ifndef VMUX_TESTUTIL_H
#define VMUX_TESTUTIL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * TLS mode. A test registered with TLS_TOO (tests/CMakeLists.txt) runs twice: as is, and as
 * <prefix>.<name>.tls with VMUX_TEST_TLS=1. In TLS mode the helpers below reach the TLS twin of
 * each server: "plain" means the fixture "plain-tls" (the twin of <name> is <name>-tls; a name
 * that already ends in "-tls" is used as it is), configurations and URLs turn TLS on with the
 * test CA and client certificate, and vt_admin talks TLS. A test needs to ask vt_tls_mode()
 * only where TLS cannot apply to what it does.
 */
bool vt_tls_mode(void);

/*
 * Cluster mode. A test registered with CLUSTER_TOO or CLUSTER_TLS_TOO (tests/CMakeLists.txt) runs
 * again as <prefix>.<name>.cluster (or .cluster-tls) with VMUX_TEST_CLUSTER=<cluster fixture>. In
 * cluster mode every server name the helpers below are given means that cluster (its TLS twin
 * <cluster>-tls in TLS mode): vt_server_port() is its first primary's port, a seed from which
 * the handle (cluster=auto) finds the rest, and vt_admin() follows MOVED replies to the node that
 * serves the key. vt_cluster_mode() returns the cluster's name (without the -tls), or NULL when
 * the test runs against a standalone server.
 */
const char *vt_cluster_mode(void);

/*
 * In cluster mode, prints "[  SKIPPED ] <test>: <reason> (cluster mode)" and returns true; the
 * test then calls cmocka's skip() (VT_SKIP_ON_CLUSTER does both). Returns false otherwise.
 */
bool vt_cluster_skip(const char *test, const char *reason);
#define VT_SKIP_ON_CLUSTER(reason)                                                                 \
    do {                                                                                           \
        if (vt_cluster_skip(__func__, reason))                                                     \
            skip();                                                                                \
    } while (0)

/*
 * Expects call, a function without an error buffer (error.h), to return code and leave words in
 * vmux_last_error(); fails naming the call, its code and the words it left. For a test file that
 * includes <cmocka.h>, <string.h> and vmux/vmux.h.
 */
#define VT_LAST_ERROR(call, code, words)                                                           \
    do {                                                                                           \
        int vt_rc_ = (call);                                                                       \
        if (vt_rc_ != (code) || strcmp(vmux_last_error(), (words)) != 0)                           \
            fail_msg("%s: %s, vmux_last_error() '%s'; expected %s, '%s'", #call,                   \
                     vmux_err_name(vt_rc_), vmux_last_error(), vmux_err_name(code), (words));      \
    } while (0)

/*
 * Which of a suite's cmocka tests run, for its main() to call before cmocka_run_group_tests():
 * only those whose function name matches the glob in $VT_ONLY (cmocka's: * and ?), if set, and
 * of them not those matching $VT_SKIP, if set. A suite registered with SERIAL_TESTS
 * (tests/CMakeLists.txt) must call it: its two CTest entries are the same executable with one
 * variable or the other. By hand: VT_ONLY=test_name runs one test.
 */
void vt_filter_tests(void);

/*
 * The directory of the test certificates made by tests/support/gen-certs.sh ($VMUX_TEST_CERTS_DIR,
 * else $VMUX_TEST_STATE_DIR/certs): ca.crt, client.crt/.key, server.crt/.key, other-ca.crt,
 * expired.crt/.key, wrongname.crt/.key. Fails the running cmocka test when neither variable is
 * set. The string is static.
 */
const char *vt_certs_dir(void);

/*
 * Returns the TCP port of the fixture server called name (as registered in CMake with
 * vmux_add_server_fixture), read from $VMUX_TEST_STATE_DIR/<name>.port; in TLS mode, the port
 * of its TLS twin; in cluster mode, the cluster's seed port, whatever the name. Fails the
 * running cmocka test (fail_msg) when the file is missing or bad.
 */
int vt_server_port(const char *name);

/*
 * Cluster fixtures (vmux_add_cluster_fixture in CMake), read from $VMUX_TEST_STATE_DIR/<name>.ports
 * as written when the cluster became ready. vt_cluster_size() is the number of nodes,
 * vt_cluster_primaries() how many of them were primaries then; vt_cluster_port(name, i) is the
 * port of node i, primaries first (0 .. primaries - 1, in port order), then the replicas. Roles
 * are those at creation: a test that fails a node over must ask the cluster. Each fails the
 * running cmocka test when the file is missing or bad, or i is out of range. The name is taken
 * as it is, whatever the TLS and cluster modes (a TLS cluster is "cluster-tls").
 */
int vt_cluster_size(const char *name);
int vt_cluster_primaries(const char *name);
int vt_cluster_port(const char *name, int i);

/*
 * Returns a configuration string for the fixture server called name: "127.0.0.1:<port>", in
 * TLS mode followed by ",ssl=true,sslCaFile=<ca.crt>,sslCert=<client.crt>,sslKey=<client.key>",
 * then by ",<extra>" when extra is not NULL or empty (so extra can override those keys). The
 * string is malloc'ed; the caller frees it.
 */
char *vt_server_config(const char *name, const char *extra);

/* As vt_server_config(), for the server at 127.0.0.1:port (a cluster node, say). */
char *vt_node_config(int port, const char *extra);

/*
 * Returns a URL for the fixture server called name:
 * "redis://[<userinfo>@]127.0.0.1:<port>[<path>]", or in TLS mode "rediss://..." with
 * "?sslCaFile=...&sslCert=...&sslKey=..." (percent-encoded) appended. userinfo ("user:password")
 * and path ("/2") may be NULL. The string is malloc'ed; the caller frees it.
 */
char *vt_server_url(const char *name, const char *userinfo, const char *path);

/*
 * The test openers: every test opens its handles through these, so that a handle that cannot
 * open fails the running cmocka test the same way everywhere, with the error, the library's
 * reason and the configuration.
 */
struct vmux;
struct vmux_config;

/* Opens a vmux handle on the fixture server called name (vt_server_config(name, extra)). */
struct vmux *vt_open(const char *name, const char *extra);

/*
 * Opens a vmux handle on a configuration string or URL: a fixture's (vt_server_config()), a
 * server the test started (vt_server_open() in servers.h), a fake server's (fakefixture.h).
 */
struct vmux *vt_open_conf(const char *conf);

/*
 * For a handle that needs callbacks set on its config first (events, log, credentials):
 * vt_config() parses conf into a new config, which the caller frees, failing the running test
 * with the parser's reason when it cannot; vt_open_config() opens a handle on cfg (still the
 * caller's), what naming the configuration in a failure's message.
 */
struct vmux_config *vt_config(const char *conf);
struct vmux *vt_open_config(const struct vmux_config *cfg, const char *what);

/*
 * SET key value through m within timeout_ms (0: the handle's syncTimeout); the call's status
 * (the reply is dropped). Any thread but the handle's I/O thread.
 */
int vt_try_set(struct vmux *m, const char *key, const char *value, int timeout_ms);

/*
 * Calls argv through m (the handle's syncTimeout) and returns the reply's text (a string or a
 * status), malloc'ed; fails the running test when the call fails or the reply holds no text.
 */
char *vt_call_text(struct vmux *m, int argc, const char *const *argv);

/* EXISTS key through m (the handle's syncTimeout), asserted answered: 1 or 0. */
long long vt_exists(struct vmux *m, const char *key);

/*
 * GET key through m (the handle's syncTimeout); fails the running test when the call fails
 * (with the error's name and words) or the reply is not the string want.
 */
void vt_get_value(struct vmux *m, const char *key, const char *want);

/* Monotonic clock in milliseconds and nanoseconds. */
uint64_t vt_now_ms(void);
uint64_t vt_now_ns(void);

/* Keeps the calling thread standing still for ms, as a frozen process would: called from a
 * vmux callback it holds the I/O thread (the freeze tests). Not a wait for a condition. */
void vt_stand_still(uint64_t ms);

/*
 * Polls cond(arg) every millisecond until it returns true or timeout_ms passes; returns the
 * last result. Use it to wait for a condition with a deadline, never a bare sleep.
 */
bool vt_wait_until(bool (*cond)(void *arg), void *arg, int timeout_ms);

/*
 * The scheduler state of a thread of this process from /proc ('S' while it sleeps in a wait,
 * 'R' running...), by its kernel id (syscall(SYS_gettid)); '?' when it cannot be read (the
 * thread has ended).
 */
char vt_thread_state(int tid);

/* How many threads of this process carry the name (/proc/self/task/N/comm; pthread_setname_np). */
int vt_threads_named(const char *name);

struct vmux_reply;

/* An async completion captured for the test thread: pass vt_on_async and one of these. */
struct vt_async {
    atomic_bool done;
    int status;
    struct vmux_reply *reply; /* the callback's, for the test to free */
    char words[640];          /* vmux_last_error() as the callback saw it */
};

/* A reply callback (run on the handle's I/O thread) that fills the struct vt_async userdata
 * points to (vmux_last_error() too) and marks it done. */
void vt_on_async(int status, struct vmux_reply *reply, void *userdata);

/* Whether the struct vt_async at arg is done: a condition for vt_wait_until(). */
bool vt_async_done(void *arg);

/*
 * As vt_wait_until(), polling every interval_ms: for conditions that open a connection each
 * time (polled every millisecond, those would pile up sockets in TIME_WAIT) or that ask a
 * server to act (SENTINEL FAILOVER) and should not ask a thousand times a second.
 */
bool vt_poll_until(bool (*cond)(void *arg), void *arg, int timeout_ms, int interval_ms);

/* How many lines of text (separated by '\n') are exactly line. */
int vt_lines_equal(const char *text, const char *line);

/*
 * Sends one command to the fixture server called name over a fresh blocking connection that
 * does not go through vmux (hiredis's command formatting and reply reader over a plain socket,
 * or in TLS mode over an OpenSSL connection that verifies the server against the test CA and
 * shows the client certificate), for setting up or inspecting server state independently of
 * the library under test. format is hiredis's (redisCommand). Returns the reply as a malloc'ed
 * string (status, error or bulk text; integers printed in decimal; nil as "(nil)"; an array as
 * its elements' text, one per line), or NULL on a connection or TLS failure, or when no reply
 * came within 10 seconds. The caller frees it.
 */
char *vt_admin(const char *name, const char *format, ...);

/*
 * CLIENT PAUSE hold_ms WRITE on the server name (vt_admin()): it holds every write command, and
 * whatever a connection sent after one, until vt_unpause() or hold_ms (a safety net for a test
 * that dies before it lifts the pause). True when the server said OK.
 */
bool vt_pause_writes(const char *name, int hold_ms);

/* CLIENT UNPAUSE on the server name (vt_admin()); it lifts every pause, another test's too (the
 * tests that pause a server run alone or have it to themselves). True when it said OK. */
bool vt_unpause(const char *name);

/*
 * vt_admin() on every primary of the cluster in cluster mode (on the one server otherwise), for
 * keyless commands whose effect is per node (SCRIPT FLUSH, SCRIPT EXISTS). Returns the replies'
 * texts joined by newlines, in node order (malloc'ed), or NULL when any node failed as
 * vt_admin() does.
 */
char *vt_admin_all(const char *name, const char *format, ...);

/*
 * vt_admin() on the node at 127.0.0.1:port, over TLS (verified as vt_admin does) when tls is
 * true, whatever the mode; no redirect is followed.
 */
char *vt_node_admin(int port, bool tls, const char *format, ...);

/* The process id of the plain node at port (INFO server); fails the running test without one. */
long vt_node_pid(int port);

/* Whether the plain node at port answers INFO replication with role:master (false when it does
 * not answer). */
bool vt_node_is_primary(int port);

/* vt_node_is_primary() of the port arg points to (an int): a condition for vt_wait_until(). */
bool vt_port_is_primary(void *arg);

/* A replica of the primary at port in the named cluster fixture: the first node whose INFO
 * replication says role:slave and master_port port (nodes that do not answer are skipped).
 * Fails the running test when there is none. */
int vt_cluster_replica_of(const char *cluster, int port);

struct redisReply;
/*
 * As vt_node_admin(), returning the reply itself (freeReplyObject() it), for replies whose
 * structure matters (CLUSTER SLOTS); NULL on a connection or TLS failure or no reply.
 */
struct redisReply *vt_node_command(int port, bool tls, const char *format, ...);

/*
 * The port of the primary that serves slot, as the CLUSTER SLOTS of the node at 127.0.0.1:port
 * says (over TLS, verified as vt_admin does, when tls is true); -1 when the node gives no reply,
 * an error, or no range with slot. Fails the test when it cannot connect to the node.
 */
int vt_slot_primary(int port, bool tls, int slot);

struct redisContext;
/*
 * A hiredis connection to 127.0.0.1:port with 10 s connect and I/O timeouts, for checking a
 * server behind the library's back; fails the test when it cannot connect. redisFree() it.
 */
struct redisContext *vt_node_connect(int port);

#endif
