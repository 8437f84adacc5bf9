// Counts the bytes the calling thread allocates with operator new between start() and stop(): the
// memory bound of the frame guard's fuzz tests. The test program replaces the global allocation
// functions for it (allocation_count.cpp): they allocate with malloc as usual, and count.
#pragma once

#include <cstddef>

namespace guard_test {

struct allocation_count {
  static void start();
  /// The bytes allocated since start().
  static size_t stop();
};

} // namespace guard_test
