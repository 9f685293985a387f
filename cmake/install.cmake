# Install rules, included by the top-level CMakeLists.txt after the libraries are defined:
# the public headers, libvmux.so and libvmux.a, vmux.pc, the CMake package (vmux::vmux and
# vmux::vmux_static), and the documentation and examples. docs/install.md describes the result.

include(CMakePackageConfigHelpers)
set(VMUX_CMAKE_INSTALL_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/vmux)

install(DIRECTORY include/vmux DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})

# Two export sets, so that the CMake package can load the static library's target, the only one
# that needs libuv and OpenSSL at link time, apart from the shared one
# (cmake/vmuxConfig.cmake.in). The include directory comes from the targets themselves
# (lib/CMakeLists.txt, INSTALL_INTERFACE).
install(TARGETS vmux EXPORT vmuxTargets
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(TARGETS vmux_static EXPORT vmuxStaticTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(EXPORT vmuxTargets NAMESPACE vmux:: DESTINATION ${VMUX_CMAKE_INSTALL_DIR})
install(EXPORT vmuxStaticTargets NAMESPACE vmux:: DESTINATION ${VMUX_CMAKE_INSTALL_DIR})
configure_package_config_file(cmake/vmuxConfig.cmake.in ${CMAKE_CURRENT_BINARY_DIR}/vmuxConfig.cmake
                              INSTALL_DESTINATION ${VMUX_CMAKE_INSTALL_DIR})
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/vmuxConfigVersion.cmake
                                 COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/vmuxConfig.cmake
              ${CMAKE_CURRENT_BINARY_DIR}/vmuxConfigVersion.cmake
        DESTINATION ${VMUX_CMAKE_INSTALL_DIR})

# vmux.pc. The dependencies go in Libs.private as linker flags, not in Requires.private: both
# pkg-config and pkgconf put the Cflags of Requires.private modules into `--cflags`, which would
# hand every application libuv's include flags and its -D_FILE_OFFSET_BITS=64 for headers that
# include none of libuv's. The flags are what pkg-config says each dependency needs for static
# linking, found when configuring, less the linker's own directories; each flag is kept at its
# last place, where it serves every archive before it. hiredis is not among the dependencies:
# the library does not use it (the tests and the benchmark do).
function(_vmux_pc_static_flags out prefix)
  set(flags "")
  foreach(dir IN LISTS ${prefix}_STATIC_LIBRARY_DIRS)
    if(NOT dir IN_LIST CMAKE_C_IMPLICIT_LINK_DIRECTORIES)
      list(APPEND flags -L${dir})
    endif()
  endforeach()
  foreach(lib IN LISTS ${prefix}_STATIC_LIBRARIES)
    list(APPEND flags -l${lib})
  endforeach()
  set(${out} ${${out}} ${flags} ${${prefix}_STATIC_LDFLAGS_OTHER} PARENT_SCOPE)
endfunction()
set(_vmux_pc_libs "")
_vmux_pc_static_flags(_vmux_pc_libs LIBUV)
pkg_check_modules(_VMUX_PC_OPENSSL QUIET openssl)
if(_VMUX_PC_OPENSSL_FOUND)
  _vmux_pc_static_flags(_vmux_pc_libs _VMUX_PC_OPENSSL)
else()
  list(APPEND _vmux_pc_libs -lssl -lcrypto)
endif()
list(APPEND _vmux_pc_libs -lpthread)
list(REVERSE _vmux_pc_libs)
list(REMOVE_DUPLICATES _vmux_pc_libs)
list(REVERSE _vmux_pc_libs)
list(JOIN _vmux_pc_libs " " VMUX_PC_LIBS_PRIVATE)

# The prefix is written when installing, not when configuring, so that
# `cmake --install build --prefix DIR` gives a vmux.pc that points into DIR: the template keeps
# @CMAKE_INSTALL_PREFIX@ for the install script, which knows the prefix actually used.
set(VMUX_PC_PREFIX "@CMAKE_INSTALL_PREFIX@")
foreach(kind LIBDIR INCLUDEDIR)
  if(IS_ABSOLUTE "${CMAKE_INSTALL_${kind}}")
    set(VMUX_PC_${kind} "${CMAKE_INSTALL_${kind}}")
  else()
    set(VMUX_PC_${kind} "\${prefix}/${CMAKE_INSTALL_${kind}}")
  endif()
endforeach()
configure_file(cmake/vmux.pc.in ${CMAKE_CURRENT_BINARY_DIR}/vmux.pc.install @ONLY)
install(CODE "configure_file(\"${CMAKE_CURRENT_BINARY_DIR}/vmux.pc.install\"
                             \"${CMAKE_CURRENT_BINARY_DIR}/vmux.pc\" @ONLY)")
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/vmux.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

# Documentation and examples, the Debian way: share/doc/vmux/ (CMAKE_INSTALL_DOCDIR), with the
# examples in share/doc/vmux/examples/ (as dh_installexamples puts them). docs/ keeps its name
# beside README.md, so the links between the pages still work in the installed copy.
install(FILES README.md CHANGES.md DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(DIRECTORY docs/ DESTINATION ${CMAKE_INSTALL_DOCDIR}/docs FILES_MATCHING PATTERN "*.md")
install(DIRECTORY docs/img DESTINATION ${CMAKE_INSTALL_DOCDIR}/docs) # benchmarks.md's charts
# The pages link the API reference where the build tree has it (../build/docs/reference/api/
# html/); the installed copy has it in share/doc/vmux/api/ (docs/reference/CMakeLists.txt, added
# before this file when Doxygen builds it), so the installed pages' links are rewritten to it.
if(TARGET vmux-docs)
  install(CODE "
    file(GLOB vmux_pages \"\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_DOCDIR}/docs/*.md\")
    foreach(page IN LISTS vmux_pages)
      file(READ \"\${page}\" text)
      string(REPLACE \"../build/docs/reference/api/html/\" \"../api/\" text \"\${text}\")
      file(WRITE \"\${page}\" \"\${text}\")
    endforeach()")
endif()
install(DIRECTORY examples/ DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples
        FILES_MATCHING PATTERN "*.c")
