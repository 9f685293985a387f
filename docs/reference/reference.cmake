# Builds the API reference from the public headers and fails on any public symbol without
# documentation. Run by the vmux-docs target and by the reference.* tests:
#
#   cmake -DDOXYGEN=<doxygen> -DINPUT=<dir of the headers> -DOUT=<output dir>
#         [-DVERSION=<x.y.z>] -P reference.cmake
#
# Writes <OUT>/html (the HTML reference), <OUT>/man3 (section 3: one page per public function,
# one per header, one per struct) and <OUT>/warnings.log (every Doxygen warning). Fails, listing
# them, when Doxygen warns about anything but an undocumented struct field (a field is documented
# by its struct's comment where its name says enough), when a header has no file comment, or
# when a VMUX_EXPORT function of the headers has no page of its own.
cmake_minimum_required(VERSION 3.18)

foreach(var DOXYGEN INPUT OUT)
  if(NOT DEFINED ${var} OR "${${var}}" STREQUAL "")
    message(FATAL_ERROR "reference.cmake: -D${var}=... is required")
  endif()
endforeach()
if(NOT IS_DIRECTORY "${INPUT}")
  message(FATAL_ERROR "reference.cmake: INPUT '${INPUT}' is not a directory")
endif()
if(NOT DEFINED VERSION)
  set(VERSION "")
endif()
find_program(VMUX_AWK awk REQUIRED)

set(dir ${CMAKE_CURRENT_LIST_DIR})
file(REMOVE_RECURSE ${OUT}/html ${OUT}/man ${OUT}/man3)
file(MAKE_DIRECTORY ${OUT}/man3)

# The Doxyfile's @...@ values. Names are shown as included: <vmux/call.h>.
set(VMUX_DOC_VERSION "${VERSION}")
set(VMUX_DOC_OUT "${OUT}")
set(VMUX_DOC_INPUT "${INPUT}")
get_filename_component(VMUX_DOC_STRIP "${INPUT}" DIRECTORY)
configure_file(${dir}/Doxyfile.in ${OUT}/Doxyfile @ONLY)

execute_process(COMMAND ${DOXYGEN} ${OUT}/Doxyfile WORKING_DIRECTORY ${OUT} RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "reference.cmake: doxygen failed (${rc})")
endif()

# Every warning but an undocumented struct field fails the build.
file(STRINGS ${OUT}/warnings.log warnings)
set(problems "")
foreach(w IN LISTS warnings)
  if(w MATCHES "Member [A-Za-z0-9_]+ \\(variable\\) of (struct|union) [A-Za-z0-9_]+ is not documented")
    continue()
  endif()
  string(APPEND problems "  ${w}\n")
endforeach()
# Doxygen says nothing about the members of a header that has no file comment, and leaves
# them out: such a header fails too.
file(GLOB headers ${INPUT}/*.h)
foreach(h IN LISTS headers)
  get_filename_component(name ${h} NAME)
  if(NOT EXISTS ${OUT}/man/man3/${name}.3)
    string(APPEND problems "  ${h}: vmux/${name} is not documented: start it with /** @file\n")
  endif()
endforeach()
if(NOT problems STREQUAL "")
  message(FATAL_ERROR "reference.cmake: the public headers have undocumented symbols or bad "
                      "documentation comments (write a /** ... */ comment before each):\n"
                      "${problems}")
endif()

# Man pages: the struct pages as Doxygen wrote them; each header's page split by man3.awk.
file(GLOB pages ${OUT}/man/man3/*.3)
set(functions "")
foreach(p IN LISTS pages)
  get_filename_component(name ${p} NAME)
  if(NOT name MATCHES "^(.+\\.h)\\.3$")
    file(COPY ${p} DESTINATION ${OUT}/man3)
    continue()
  endif()
  set(h ${CMAKE_MATCH_1})
  if(h STREQUAL "vmux.h")
    set(page vmux.h)
  else()
    set(page vmux_${h})
  endif()
  execute_process(COMMAND ${VMUX_AWK} -v header=vmux/${h} -v page=${page} -v outdir=${OUT}/man3
                          -f ${dir}/man3.awk ${p}
                  RESULT_VARIABLE rc OUTPUT_VARIABLE written)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "reference.cmake: splitting ${name} into function pages failed")
  endif()
  string(REPLACE "\n" ";" written "${written}")
  list(APPEND functions ${written})
endforeach()

# One page per exported function: the headers' VMUX_EXPORT declarations are the list.
set(missing "")
set(count 0)
foreach(h IN LISTS headers)
  file(READ ${h} text)
  string(REGEX MATCHALL "VMUX_EXPORT[^;(]*[ *]vmux_[a-z0-9_]+\\(" decls "${text}")
  foreach(d IN LISTS decls)
    string(REGEX MATCH "vmux_[a-z0-9_]+\\($" f "${d}")
    string(REPLACE "(" "" f "${f}")
    math(EXPR count "${count} + 1")
    if(NOT EXISTS ${OUT}/man3/${f}.3)
      string(APPEND missing "  ${f} (${h})\n")
    endif()
  endforeach()
endforeach()
if(NOT missing STREQUAL "")
  message(FATAL_ERROR "reference.cmake: these exported functions have no man page:\n${missing}")
endif()
message(STATUS "API reference: ${count} functions, HTML in ${OUT}/html, man pages in ${OUT}/man3")
