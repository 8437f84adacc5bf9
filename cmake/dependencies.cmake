# Every external dependency is found here, once.

include(${CMAKE_CURRENT_LIST_DIR}/caf_targets.cmake)

find_package(SQLite3 REQUIRED)          # SQLite::SQLite3
find_package(cereal REQUIRED)           # cereal::cereal
find_package(OpenSSL REQUIRED)          # OpenSSL::Crypto, for MD5 ring positions
find_package(Boost 1.74 REQUIRED COMPONENTS unit_test_framework) # and the headers: Beast, Asio

# toml++: Debian ships a compiled library with a CMake config; fall back to the headers alone.
find_package(tomlplusplus QUIET)
if(NOT TARGET tomlplusplus::tomlplusplus)
  find_path(TOMLPP_INCLUDE_DIR toml++/toml.h REQUIRED)
  add_library(tomlplusplus::tomlplusplus INTERFACE IMPORTED)
  set_target_properties(tomlplusplus::tomlplusplus PROPERTIES
    INTERFACE_INCLUDE_DIRECTORIES "${TOMLPP_INCLUDE_DIR}")
endif()

# jemalloc for the programs: a request allocates many small objects (CAF messages, records,
# batches) across threads, and glibc's malloc was a quarter of the coordinating thread's time
# (BENCHMARKS.md). Without it the programs fall back to glibc's allocator.
option(ACTORKV_JEMALLOC "Link kvnode and kvbench with jemalloc when it is installed" ON)
if(ACTORKV_JEMALLOC)
  find_library(ACTORKV_JEMALLOC_LIBRARY jemalloc)
  if(ACTORKV_JEMALLOC_LIBRARY)
    message(STATUS "kvnode and kvbench allocate with ${ACTORKV_JEMALLOC_LIBRARY}")
  else()
    message(STATUS "jemalloc not found (Debian: libjemalloc-dev): glibc's allocator is used")
  endif()
endif()

# Links `target` with jemalloc when it was found.
function(actorkv_use_jemalloc target)
  if(ACTORKV_JEMALLOC AND ACTORKV_JEMALLOC_LIBRARY)
    target_link_libraries(${target} PRIVATE ${ACTORKV_JEMALLOC_LIBRARY})
  endif()
endfunction()
