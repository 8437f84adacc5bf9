// The threads that do background work (the reader serving handoff, anti-entropy and hint reads,
// the WAL checkpointer, integrity checks and backups) run at a lower scheduling priority than
// those serving requests: on a busy machine the kernel then gives requests the cores first and
// background work what is left, instead of an equal share. Measured during a 10M-key refill
// (BENCHMARKS.md, "Refilling a wiped node of 10M keys").
#pragma once

#include <algorithm>
#include <cerrno>

#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace actorkv::storage {

/// How much nicer background threads are than the process (19 is the lowest priority).
constexpr int background_nice = 10;

/// Lowers the calling thread's priority by background_nice, to at most 19 (on Linux a nice value
/// is per thread; relative, so that a node an operator started at nice 15 does not get
/// background threads at a higher priority than its requests'). Best effort: a failure leaves
/// the thread as it was.
inline void lower_thread_priority() {
  auto tid = static_cast<id_t>(syscall(SYS_gettid));
  errno = 0;
  int now = getpriority(PRIO_PROCESS, tid);
  if (now == -1 && errno != 0)
    return;
  setpriority(PRIO_PROCESS, tid, std::min(now + background_nice, 19));
}

} // namespace actorkv::storage
