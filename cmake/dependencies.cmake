# Every external dependency is found here, once.

include(${CMAKE_CURRENT_LIST_DIR}/caf_targets.cmake)

find_package(SQLite3 REQUIRED)          # SQLite::SQLite3
find_package(cereal REQUIRED)           # cereal::cereal
find_package(OpenSSL REQUIRED)          # OpenSSL::Crypto, for MD5 ring positions
find_package(Boost 1.74 REQUIRED COMPONENTS unit_test_framework)

# toml++: Debian ships a compiled library with a CMake config; fall back to the headers alone.
find_package(tomlplusplus QUIET)
if(NOT TARGET tomlplusplus::tomlplusplus)
  find_path(TOMLPP_INCLUDE_DIR toml++/toml.h REQUIRED)
  add_library(tomlplusplus::tomlplusplus INTERFACE IMPORTED)
  set_target_properties(tomlplusplus::tomlplusplus PROPERTIES
    INTERFACE_INCLUDE_DIRECTORIES "${TOMLPP_INCLUDE_DIR}")
endif()
