# Package config of actorkv's client library: find_package(actorkv) gives actorkv::client.
include(CMakeFindDependencyMacro)
# CAF 0.17 has no package of its own: the same imported targets the build used.
include(${CMAKE_CURRENT_LIST_DIR}/caf_targets.cmake)
include(${CMAKE_CURRENT_LIST_DIR}/actorkv_targets.cmake)
