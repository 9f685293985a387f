/*
 * Checking a server behind the library's back, on a hiredis connection of the test's own
 * (vt_node_connect() in testutil.h): commands that must succeed, and numbers in INFO text.
 */
#ifndef VMUX_TEST_NODE_H
#define VMUX_TEST_NODE_H

struct redisContext;
struct redisReply;

/*
 * Runs a command on c (format as hiredis's redisCommand, %b included) and returns its reply, which
 * the caller frees with freeReplyObject(); fails the running cmocka test (fail_msg, with the format
 * and the server's or the connection's error) when no reply comes or the reply is an error.
 */
struct redisReply *vt_must(struct redisContext *c, const char *format, ...);

/* As vt_must(), for a command whose reply is not needed: frees it. */
void vt_must_ok(struct redisContext *c, const char *format, ...);

/* As vt_must(), with the command as argc arguments (redisCommandArgv, lengths by strlen). */
struct redisReply *vt_must_argv(struct redisContext *c, int argc, const char **argv);

/*
 * Moves every key of slot from the node on c to the node at 127.0.0.1:to_port, as a resharding
 * does between SETSLOT MIGRATING and SETSLOT NODE: CLUSTER GETKEYSINSLOT, 100 at a time, each key
 * by MIGRATE (REPLACE, 5 s), until none is left. After each batch that moved keys it calls
 * between(arg) when between is not NULL (a test whose load runs meanwhile waits for it there).
 * Fails the test as vt_must() does, and when GETKEYSINSLOT's reply is not an array.
 */
void vt_migrate_keys(struct redisContext *c, long long slot, int to_port,
                     void (*between)(void *arg), void *arg);

/*
 * As vt_migrate_keys(), from a node that imports slot but does not own it (ASKING before each
 * MIGRATE): the keys of an open or cancelled migration moved back to their owner at
 * 127.0.0.1:to_port. Fails the test as vt_migrate_keys() does.
 */
void vt_migrate_keys_asking(struct redisContext *c, long long slot, int to_port);

/*
 * The integer after "<field>:" at the start of a line of INFO text ("tcp_port:7000\r\n" for
 * field "tcp_port"), or -1 when info is NULL or has no such line. field is given without the
 * colon.
 */
long long vt_info_field(const char *info, const char *field);

/* The node id of the cluster node at 127.0.0.1:port (CLUSTER MYID), which the caller frees; fails
 * the running test when none comes. */
char *vt_node_myid(int port);

/* A node of the fixture cluster (vt_cluster_port()) other than port that is a primary now; fails
 * the running test when there is none. */
int vt_cluster_other_primary(const char *cluster, int port);

/* The sum of DBSIZE over the primaries that the CLUSTER SLOTS of the node at 127.0.0.1:port
 * names, each counted once (16 at most); fails the running test when a reply is missing. */
long long vt_primaries_dbsize(int port);

/*
 * A planned failover: CLUSTER FAILOVER on the node at 127.0.0.1:promoted (a replica of the one at
 * old), sent again (it is refused while the replica syncs) until promoted says it is a primary
 * and old that it is not; fails the running test, naming the last answer, when they have not
 * swapped within 30 s.
 */
void vt_fail_over(int promoted, int old);

#endif
