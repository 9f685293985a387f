/*
 * Restarting a plain valkey-server that a fixture started (tests/support/valkey-fixture.sh),
 * keeping its data and its identity: for tests of what a client sees when a node goes away and
 * comes back as a new process with the same node id, port, slots and keys.
 */
#ifndef VMUX_TEST_NODERESTART_H
#define VMUX_TEST_NODERESTART_H

/*
 * Restarts the server at 127.0.0.1:port (plain, not TLS) as it was started:
 *
 * 1. reads with CONFIG GET what starting it again takes (dir, dbfilename, pidfile, logfile,
 *    bind, port, cluster-enabled, cluster-config-file, cluster-node-timeout,
 *    cluster-require-full-coverage, repl-diskless-sync-delay, repl-ping-replica-period, save,
 *    appendonly) and its process id (INFO server);
 * 2. sends SHUTDOWN SAVE (the RDB keeps its keys, its nodes.conf keeps a cluster node's id,
 *    epoch and slots) and waits, with a deadline, until that process has exited;
 * 3. runs valkey-server (from PATH) with those values and --daemonize yes, so the new process
 *    writes the same pidfile and the fixture's stop finds it, and waits, with a deadline, until
 *    a new process answers PING on the port and its INFO persistence says loading:0.
 *
 * The server is down from step 2 until step 3 ends: a few hundred milliseconds for a small data
 * set, well under a fixture cluster's 2 s cluster-node-timeout, so its replica is not promoted.
 * Not for a server whose dir or files were given as relative paths. Call it from the test's
 * thread (it blocks). Returns 0 once the new process serves, or -1 with the reason on stderr
 * (the node may then be down: the fixture's stop cleans up whatever is left).
 */
int vt_node_restart(int port);

#endif
