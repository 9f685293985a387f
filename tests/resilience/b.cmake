# The second half of the resilience tests, included by CMakeLists.txt in this directory:
# failover between a primary and its replica under load, the credentials provider, and what
# a handle reports (events, log lines, counters, a dead link replaced). Each test starts and
# stops its own valkey-servers (tests/support/servers.c); test_events also needs the TLS
# fixture without client authentication, for the sslVerify=false warning.
#
# failover's two failovers under 16 writer threads (the handle must move within 10 s) run alone
# (resilience.failover.serial), its three other tests beside other tests; events (a 2 s dead-link
# threshold a paused server must stay under) runs alone: so that a loaded machine cannot stretch
# their deadlines.
set(_vmux_res_b_servers ${CMAKE_CURRENT_LIST_DIR}/../support/servers.c)
get_target_property(_vmux_res_b_util_srcs vmux_testutil SOURCES)
if(_vmux_res_b_util_srcs MATCHES "servers\\.c")
  set(_vmux_res_b_servers "") # already in the test support library
endif()

vmux_add_integration_test(NAME failover PREFIX resilience
                          SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_failover.c ${_vmux_res_b_servers}
                          TIMEOUT 600 SERIAL_TESTS *failover_*)
vmux_add_integration_test(NAME credentials PREFIX resilience
                          SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_credentials.c
                                  ${_vmux_res_b_servers}
                          TIMEOUT 300)
vmux_add_integration_test(NAME events PREFIX resilience
                          SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_events.c ${_vmux_res_b_servers}
                          SERVERS tls-noclient CERTS TIMEOUT 600 RUN_SERIAL)
vmux_add_integration_test(NAME redact PREFIX resilience
                          SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_redact.c ${_vmux_res_b_servers}
                          TIMEOUT 120)
