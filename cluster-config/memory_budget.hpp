// A node's budget for the bytes of requests in flight ([limits] memory_budget_bytes): one
// thread-safe counter that every part of the node which holds a request's bytes for a while
// charges before it takes the request on, and that the charge gives back when its holder lets go
// (the charge's destructor: whatever way the request ends, nothing leaks).
//
// Why: without it a node took every write it was sent, and each one's value was copied several
// times over (the request, the record, one per replica, and each of those serialised by CAF into
// buffers that grow while peers are slower than clients). 512 clients putting 1 MiB values drove
// the node they used to 3 GiB, and the backlog made most writes time out.
//
// Who charges (docs/design.md section 4, "Memory"):
// - the coordinator, for each client put or delete, write_charge() of its size and replica
//   count, from admission until its last replica answered or timed out; refused before anything
//   is sent to a replica, so a refused write is stored nowhere;
// - the replica gateway, for each batch of a peer's replica writes while storage serves it;
// - the hint keeper, for each batch of hints while it delivers them;
// - the HTTPS API, for each request body from its header until the response is written.
// A refusal is ec::overloaded, answered at once.
//
// Two classes of charges: client requests are admitted only while the total stays within
// client_share() of the limit; replication (peers' writes, hint delivery) may use all of it, so
// that a node busy with its own clients still stores its peers' writes (refusing those would turn
// their writes into maybe_applied). One charge larger than its ceiling is admitted when nothing
// else is held, so that no request is refused forever by a budget too small for it.
//
// Pure logic apart from the atomic counter: no actors, clocks or I/O; unit-tested directly.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include <caf/error.hpp>

namespace actorkv {

/// Who is asking: client requests stop earlier than replication.
enum class budget_class : uint8_t {
  client,      ///< client writes (CAF clients and HTTPS), HTTPS request bodies
  replication, ///< peers' replica writes, hints being delivered
};

/// The node's budget. Create it with std::make_shared (charges keep it alive).
class memory_budget : public std::enable_shared_from_this<memory_budget> {
public:
  /// Bytes held for one request; given back when destroyed or released. Move-only.
  class charge {
  public:
    charge() = default;
    charge(charge&& other) noexcept;
    charge& operator=(charge&& other) noexcept;
    charge(const charge&) = delete;
    charge& operator=(const charge&) = delete;
    ~charge();

    /// Whether the bytes were granted (false: refused, or released already).
    explicit operator bool() const { return budget_ != nullptr; }
    uint64_t bytes() const { return bytes_; }
    /// Gives the bytes back now; afterwards the charge is empty.
    void release();

  private:
    friend class memory_budget;
    charge(std::shared_ptr<memory_budget> budget, uint64_t bytes);
    std::shared_ptr<memory_budget> budget_;
    uint64_t bytes_ = 0;
  };

  /// `limit` bytes (at least 1).
  explicit memory_budget(uint64_t limit);

  /// Takes `bytes` if the total then stays within the ceiling of `who` (or nothing else is
  /// held); otherwise returns an empty charge and counts a refusal. Thread-safe, lock-free.
  charge take(uint64_t bytes, budget_class who);

  uint64_t limit() const { return limit_; }
  /// What `who` may fill the budget up to: the limit for replication, client_share() of it for
  /// clients.
  uint64_t ceiling(budget_class who) const;
  uint64_t used() const { return used_.load(std::memory_order_relaxed); }
  /// The most ever held at once.
  uint64_t peak() const { return peak_.load(std::memory_order_relaxed); }
  /// Charges refused since the start.
  uint64_t refused() const { return refused_.load(std::memory_order_relaxed); }

  /// The share of the limit client requests may fill: 3/4, keeping a quarter for replication.
  static constexpr uint64_t client_share(uint64_t limit) { return limit - limit / 4; }

  /// ec::overloaded for `what` ("a put of 1048576 bytes"), refused `bytes` for `who`: "a put of
  /// 1048576 bytes needs 8.0 MiB of the node's memory budget, which holds 190.2 MiB of requests
  /// in flight (memory_budget_bytes = 256.0 MiB, of which clients may fill 192.0 MiB); nothing
  /// was stored: retry shortly".
  caf::error refusal(const std::string& what, uint64_t bytes, budget_class who) const;

private:
  void give_back(uint64_t bytes);

  const uint64_t limit_;
  std::atomic<uint64_t> used_{0};
  std::atomic<uint64_t> peak_{0};
  std::atomic<uint64_t> refused_{0};
};

/// What a request is charged per copy besides its bytes: the round, the call and message
/// envelopes, the key's and context's small allocations.
constexpr uint64_t per_copy_overhead_bytes = 512;

/// What a client write of `payload` bytes (key and value) costs the node it entered, going to
/// `targets` replicas (the plan's, and those a membership change adds): the request and the
/// coordinating replica's call, and per target the call that carries the record and the buffer
/// CAF serialises it into (this node's storage: the record and its encoding). (2 + 2 x targets)
/// copies, 8 for N = 3; measured under 512 concurrent 1 MiB puts with N = 3, the node that
/// coordinated them held about 6.5 MiB more per write in flight.
constexpr uint64_t write_charge(uint64_t payload, uint64_t targets) {
  return (payload + per_copy_overhead_bytes) * (2 + 2 * targets);
}

/// What `payload` bytes held in `copies` copies cost (replica batches: the batch and storage's
/// working copy; hints: the hint, the merge and its serialised form).
constexpr uint64_t held_charge(uint64_t payload, uint64_t copies) {
  return (payload + per_copy_overhead_bytes) * copies;
}

/// The least budget under which a client write of `payload` bytes to `targets` replicas is
/// admitted `writes` at a time.
constexpr uint64_t budget_for_writes(uint64_t payload, uint64_t targets, uint64_t writes) {
  // client_share(limit) >= need  <=>  limit >= need * 4 / 3 (rounded up).
  auto need = write_charge(payload, targets) * writes;
  return (need * 4 + 2) / 3;
}

/// "1.5 MiB", "300 KiB", "12 bytes": sizes for people.
std::string bytes_for_people(uint64_t bytes);

} // namespace actorkv
