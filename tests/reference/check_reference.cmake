# The API reference's check (docs/reference/reference.cmake), run on a copy of the public
# headers: CASE "real" leaves the copy as it is and expects the reference to build, with a man
# page per function; every other case breaks the copy in one way and expects the build to fail
# naming the symbol at fault.
#
#   cmake -DCASE=<case> -DDOXYGEN=<doxygen> -DSOURCE=<repo> -DSCRIPT=<reference.cmake>
#         -DWORK=<scratch dir> -P check_reference.cmake
cmake_minimum_required(VERSION 3.18)

file(REMOVE_RECURSE ${WORK})
file(MAKE_DIRECTORY ${WORK}/include)
file(COPY ${SOURCE}/include/vmux DESTINATION ${WORK}/include)
set(inc ${WORK}/include/vmux)

# A new public header, as another family's author might add it, with a documented file comment
# and the declarations in probe_body (a variable, since CMake splits arguments at semicolons).
function(write_probe_header)
  file(WRITE ${inc}/probe.h "/** @file\n * A header added by the test.\n */\n#ifndef VMUX_PROBE_H\n"
                            "#define VMUX_PROBE_H\n#include \"vmux/export.h\"\n${probe_body}"
                            "#endif\n")
endfunction()

if(CASE STREQUAL "real")
  set(expect_fail FALSE)
elseif(CASE STREQUAL "plain_comment")
  # vmux_call's documentation written as a plain comment, which Doxygen does not read.
  file(READ ${inc}/call.h text)
  set(doc "/**\n * Sends a command and waits for its reply.")
  string(FIND "${text}" "${doc}" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "check_reference: call.h has no comment starting '${doc}' to make plain")
  endif()
  string(REPLACE "${doc}" "/*\n * Sends a command and waits for its reply." text "${text}")
  file(WRITE ${inc}/call.h "${text}")
  set(expect_fail TRUE)
  set(expect_name "vmux_call\\(")
elseif(CASE STREQUAL "new_function")
  set(probe_body [[
/** Documented. */
VMUX_EXPORT int vmux_probe_documented(int x);
VMUX_EXPORT int vmux_probe_undocumented(int x);
]])
  write_probe_header()
  set(expect_fail TRUE)
  set(expect_name "vmux_probe_undocumented")
elseif(CASE STREQUAL "new_macro")
  set(probe_body [[
/** Documented. */
VMUX_EXPORT int vmux_probe_documented(int x);
#define VMUX_PROBE_LIMIT 10
]])
  write_probe_header()
  set(expect_fail TRUE)
  set(expect_name "VMUX_PROBE_LIMIT")
elseif(CASE STREQUAL "plain_header")
  # A new header whose top comment is plain: Doxygen would leave its members out in silence.
  file(WRITE ${inc}/probe.h [[
/*
 * A header whose top comment is plain.
 */
#ifndef VMUX_PROBE_H
#define VMUX_PROBE_H
#include "vmux/export.h"
/** Documented. */
#define VMUX_PROBE_LIMIT 10
#endif
]])
  set(expect_fail TRUE)
  set(expect_name "vmux/probe\\.h")
else()
  message(FATAL_ERROR "check_reference: unknown CASE '${CASE}'")
endif()

execute_process(COMMAND ${CMAKE_COMMAND} -DDOXYGEN=${DOXYGEN} -DINPUT=${inc} -DOUT=${WORK}/out
                        -DVERSION=0.0.0 -P ${SCRIPT}
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
message("${out}${err}")

if(expect_fail)
  if(rc EQUAL 0)
    message(FATAL_ERROR "check_reference: the reference built although ${expect_name} is "
                        "undocumented")
  endif()
  if(NOT err MATCHES "${expect_name}[^\n]* is not documented")
    message(FATAL_ERROR "check_reference: the build failed, but not naming ${expect_name} as "
                        "undocumented")
  endif()
  message(STATUS "check_reference: ${CASE}: failed as it should, naming ${expect_name}")
  return()
endif()

if(NOT rc EQUAL 0)
  message(FATAL_ERROR "check_reference: the reference of the real headers did not build")
endif()
# A function's page: its name and brief, the header to include, the header's page.
set(page ${WORK}/out/man3/vmux_call.3)
if(NOT EXISTS ${page})
  message(FATAL_ERROR "check_reference: no man page ${page}")
endif()
file(READ ${page} text)
foreach(want "vmux_call \\\\- Sends a command and waits for its reply"
             "#include <vmux/call.h>" "int vmux_call \\(" "VMUX_ERR_NOT_CONNECTED"
             "vmux_call.h\\\\fP\\(3\\)")
  if(NOT text MATCHES "${want}")
    message(FATAL_ERROR "check_reference: ${page} lacks '${want}':\n${text}")
  endif()
endforeach()
# A function in a named member group carries the group's text (config.h's callbacks: the thread).
file(READ ${WORK}/out/man3/vmux_config_set_log.3 text)
if(NOT text MATCHES "Sends the library's diagnostics[^\n]*\n(.*\n)?\\.PP\nEach runs on the handle's I/O thread")
  message(FATAL_ERROR "check_reference: vmux_config_set_log.3 lacks the Callbacks group's text:\n${text}")
endif()
foreach(f ${WORK}/out/man3/vmux_call.h.3 ${WORK}/out/man3/vmux_callopts.3
          ${WORK}/out/html/index.html ${WORK}/out/html/call_8h.html)
  if(NOT EXISTS ${f})
    message(FATAL_ERROR "check_reference: ${f} was not written")
  endif()
endforeach()
message(STATUS "check_reference: real: the reference built")
