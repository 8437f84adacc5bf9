// The threads that do background work (the reader serving handoff, anti-entropy and hint reads,
// the WAL checkpointer, integrity checks and backups) run at a lower scheduling priority than
// those serving requests: on a busy machine the kernel then gives requests the cores first and
// background work what is left, instead of an equal share. Measured during a 10M-key refill
// (BENCHMARKS.md, "Refilling a wiped node of 10M keys").
#pragma once

#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace actorkv::storage {

/// The nice value of background threads (0 is every thread's default, 19 the lowest priority).
constexpr int background_nice = 10;

/// Lowers the calling thread's priority to background_nice (on Linux a nice value is per
/// thread). Best effort: a failure leaves the thread as it was.
inline void lower_thread_priority() {
  setpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid)), background_nice);
}

} // namespace actorkv::storage
