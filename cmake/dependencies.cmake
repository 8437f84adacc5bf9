# Every external dependency is found here, once.

# CAF 0.17 (Debian's libcaf-dev) ships no CMake package and no .pc file: find it and wrap it in
# imported targets so the rest of the build links caf::core / caf::io like any other package.
find_path(CAF_INCLUDE_DIR caf/all.hpp REQUIRED)
find_library(CAF_CORE_LIB caf_core REQUIRED)
find_library(CAF_IO_LIB caf_io REQUIRED)
find_package(Threads REQUIRED)
if(NOT TARGET caf::core)
  add_library(caf::core UNKNOWN IMPORTED)
  set_target_properties(caf::core PROPERTIES
    IMPORTED_LOCATION "${CAF_CORE_LIB}"
    INTERFACE_INCLUDE_DIRECTORIES "${CAF_INCLUDE_DIR}"
    INTERFACE_LINK_LIBRARIES Threads::Threads)
  add_library(caf::io UNKNOWN IMPORTED)
  set_target_properties(caf::io PROPERTIES
    IMPORTED_LOCATION "${CAF_IO_LIB}"
    INTERFACE_LINK_LIBRARIES caf::core)
endif()

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
