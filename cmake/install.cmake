# cmake/install.cmake - install rules and package metadata for memcg.
#
# Installs:
#   ${CMAKE_INSTALL_INCLUDEDIR}/memcg/*.hpp, *.h     public headers (C++20; memcg.h: the C API, C11)
#   ${CMAKE_INSTALL_LIBDIR}/libmemcg.a               memcg_static
#   ${CMAKE_INSTALL_LIBDIR}/libmemcg.so*             memcg_shared
#   ${CMAKE_INSTALL_LIBDIR}/cmake/memcg/             memcgConfig.cmake, memcgConfigVersion.cmake,
#                                                    memcgTargets*.cmake (namespace memcg::)
#   ${CMAKE_INSTALL_LIBDIR}/pkgconfig/memcg.pc       pkg-config metadata (+ memcg-shared.pc)
#   ${CMAKE_INSTALL_DOCDIR}/                         LICENSE, README.md, CHANGELOG.md
#   (src/interpose and tools/ install libmemcg_preload.so, memcgctl and memcg-run)
#
# `cmake --install` does not build: it copies what the last build produced.
# The target memcg_package depends on everything installed here and in the
# subdirectories, so `cmake --build <dir> --target memcg_package` (or a full
# build) makes an install possible; scripts/demo.sh, the quick start, builds
# it. tests/install/check_package_target.sh checks that no installed build
# output is missing from it.
#
# Consumers (C++ with the *.hpp headers, C with memcg/memcg.h; docs/c-api.md):
#   find_package(memcg CONFIG REQUIRED)     # memcg::memcg = shared library
#   set(MEMCG_USE_STATIC ON)                # before find_package: memcg::memcg = static library
#   target_link_libraries(app PRIVATE memcg::memcg)
# or
#   g++ -std=c++20 app.cpp $(pkg-config --cflags --libs memcg)            # libmemcg.so
#   g++ -std=c++20 app.cpp $(pkg-config --static --cflags --libs memcg)   # libmemcg.a
#
# Only memcg_static and memcg_shared are exported. memcg_objects reaches them
# as $<TARGET_OBJECTS:...> sources (not as a link dependency) and
# memcg_internal is build-tree only, so neither appears in the export set.
# The static library's link interface names PkgConfig::URCU, fmt::fmt and
# Threads::Threads (memcgConfig.cmake recreates those targets), and, for
# programs linked as C, the C++ runtime libraries (MEMCG_CXX_RUNTIME_LIBS).

include(CMakePackageConfigHelpers)

set(MEMCG_INSTALL_CMAKEDIR "${CMAKE_INSTALL_LIBDIR}/cmake/memcg"
    CACHE STRING "Where memcgConfig.cmake is installed (relative to the prefix)")
mark_as_advanced(MEMCG_INSTALL_CMAKEDIR)

# --- headers -----------------------------------------------------------------
install(DIRECTORY "${PROJECT_SOURCE_DIR}/include/memcg/"
        DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}/memcg"
        COMPONENT memcg_development
        FILES_MATCHING PATTERN "*.hpp" PATTERN "*.h")

# --- what an install needs built ---------------------------------------------
add_custom_target(memcg_package)
add_dependencies(memcg_package memcg_static memcg_shared)
foreach(_memcg_t memcg_preload memcgctl memcg-run memcg-tenant-cache)
  if(TARGET ${_memcg_t})
    add_dependencies(memcg_package ${_memcg_t})
  endif()
endforeach()
unset(_memcg_t)

# --- license and documentation -----------------------------------------------
install(FILES "${PROJECT_SOURCE_DIR}/LICENSE"
              "${PROJECT_SOURCE_DIR}/README.md"
              "${PROJECT_SOURCE_DIR}/CHANGELOG.md"
        DESTINATION "${CMAKE_INSTALL_DOCDIR}"
        COMPONENT memcg_runtime)

# --- libraries ---------------------------------------------------------------
install(TARGETS memcg_static memcg_shared memcg_serve
        EXPORT memcgTargets
        ARCHIVE DESTINATION "${CMAKE_INSTALL_LIBDIR}" COMPONENT memcg_development
        LIBRARY DESTINATION "${CMAKE_INSTALL_LIBDIR}" COMPONENT memcg_runtime
                NAMELINK_COMPONENT memcg_development
        RUNTIME DESTINATION "${CMAKE_INSTALL_BINDIR}" COMPONENT memcg_runtime
        INCLUDES DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}")

install(EXPORT memcgTargets
        NAMESPACE memcg::
        FILE memcgTargets.cmake
        DESTINATION "${MEMCG_INSTALL_CMAKEDIR}"
        COMPONENT memcg_development)

# --- CMake package config ----------------------------------------------------
configure_package_config_file(
  "${CMAKE_CURRENT_LIST_DIR}/memcgConfig.cmake.in"
  "${PROJECT_BINARY_DIR}/memcgConfig.cmake"
  INSTALL_DESTINATION "${MEMCG_INSTALL_CMAKEDIR}")
# 0.x: a minor version bump may break the API.
write_basic_package_version_file(
  "${PROJECT_BINARY_DIR}/memcgConfigVersion.cmake"
  VERSION ${PROJECT_VERSION}
  COMPATIBILITY SameMinorVersion)
install(FILES "${PROJECT_BINARY_DIR}/memcgConfig.cmake"
              "${PROJECT_BINARY_DIR}/memcgConfigVersion.cmake"
        DESTINATION "${MEMCG_INSTALL_CMAKEDIR}"
        COMPONENT memcg_development)

# --- pkg-config --------------------------------------------------------------
# The .pc file locates the prefix relative to itself (${pcfiledir}), so it stays
# right when the tree is installed with `cmake --install <dir> --prefix <p>` or
# relocated. With an absolute CMAKE_INSTALL_LIBDIR it falls back to absolute paths.
if(IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}")
  set(MEMCG_PC_DIR "${CMAKE_INSTALL_LIBDIR}/pkgconfig")
  set(MEMCG_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
  set(MEMCG_PC_LIBDIR "${CMAKE_INSTALL_LIBDIR}")
else()
  set(MEMCG_PC_DIR "${CMAKE_INSTALL_LIBDIR}/pkgconfig")
  file(RELATIVE_PATH _memcg_pc_up "/memcg-prefix/${MEMCG_PC_DIR}" "/memcg-prefix")
  string(REGEX REPLACE "/$" "" _memcg_pc_up "${_memcg_pc_up}")
  set(MEMCG_PC_PREFIX "\${pcfiledir}/${_memcg_pc_up}")
  set(MEMCG_PC_LIBDIR "\${prefix}/${CMAKE_INSTALL_LIBDIR}")
  unset(_memcg_pc_up)
endif()
if(IS_ABSOLUTE "${CMAKE_INSTALL_INCLUDEDIR}")
  set(MEMCG_PC_INCLUDEDIR "${CMAKE_INSTALL_INCLUDEDIR}")
else()
  set(MEMCG_PC_INCLUDEDIR "\${prefix}/${CMAKE_INSTALL_INCLUDEDIR}")
endif()
# The C++ runtime for C programs linking libmemcg.a (see MEMCG_CXX_RUNTIME_LIBS
# in CMakeLists.txt), as -l flags.
set(MEMCG_PC_CXX_RUNTIME "")
foreach(_memcg_l ${MEMCG_CXX_RUNTIME_LIBS})
  string(APPEND MEMCG_PC_CXX_RUNTIME " -l${_memcg_l}")
endforeach()
unset(_memcg_l)
string(STRIP "${MEMCG_PC_CXX_RUNTIME}" MEMCG_PC_CXX_RUNTIME)
# memcg.pc (what consumers name) requires memcg-shared.pc; memcg.pc.in says why.
configure_file("${CMAKE_CURRENT_LIST_DIR}/memcg.pc.in" "${PROJECT_BINARY_DIR}/memcg.pc" @ONLY)
configure_file("${CMAKE_CURRENT_LIST_DIR}/memcg-shared.pc.in" "${PROJECT_BINARY_DIR}/memcg-shared.pc" @ONLY)
install(FILES "${PROJECT_BINARY_DIR}/memcg.pc" "${PROJECT_BINARY_DIR}/memcg-shared.pc"
        DESTINATION "${MEMCG_PC_DIR}"
        COMPONENT memcg_development)
