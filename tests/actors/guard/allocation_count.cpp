// The global allocation functions of the guard tests' program, counting for allocation_count.hpp.
// In a file of their own, so that no caller sees malloc and free behind new and delete.
#include "tests/actors/guard/allocation_count.hpp"

#include <cstdlib>
#include <new>

namespace {
thread_local bool counting = false;
thread_local size_t counted = 0;
} // namespace

void* operator new(std::size_t n) {
  if (counting)
    counted += n;
  if (void* p = std::malloc(n ? n : 1))
    return p;
  throw std::bad_alloc{};
}

void operator delete(void* p) noexcept {
  std::free(p);
}

void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}

namespace guard_test {

void allocation_count::start() {
  counted = 0;
  counting = true;
}

size_t allocation_count::stop() {
  counting = false;
  return counted;
}

} // namespace guard_test
