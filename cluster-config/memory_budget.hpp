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
// - the coordinator, for each client get, read_charge() of inline_read_bytes at admission
//   (replicas send records up to that size; a larger one only its size at first), grown to
//   read_charge() of a larger record before asking for it again, until its last replica answered
//   and its read repairs were answered;
// - the hint keeper, for each batch of hints while it delivers them;
// - the HTTPS API, for each request body from its header until the response is written.
// A refusal is ec::overloaded, answered at once (for a read: nothing was lost).
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
  client,      ///< client writes and reads (CAF clients and HTTPS), HTTPS request bodies
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
    /// Takes `more` bytes into this charge if they fit under the ceiling of `who` (or, when
    /// `alone_passes`, this charge is all the budget holds: one request larger than the ceiling);
    /// otherwise counts a refusal and keeps the charge as it was. An empty charge cannot grow.
    bool grow(uint64_t more, budget_class who, bool alone_passes = true);

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
  /// `outcome` closes the text: what the refusal left undone ("nothing was stored", "nothing was
  /// read").
  caf::error refusal(const std::string& what, uint64_t bytes, budget_class who,
                     const std::string& outcome = "nothing was stored") const;

private:
  void give_back(uint64_t bytes);
  /// Adds `bytes` if the total then stays within `ceil`, or the total was `alone` (what the
  /// caller holds already); counts a refusal otherwise.
  bool add(uint64_t bytes, uint64_t ceil, uint64_t alone);

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

/// What a client get costs the node it entered when the record it reads is `payload` bytes, asking
/// `asked` replicas: one answer per replica held by the tally until all answered, the merge, the
/// reply and the buffer CAF serialises it into. (asked + 3) copies, 6 for N = 3.
constexpr uint64_t read_charge(uint64_t payload, uint64_t asked) {
  return (payload + per_copy_overhead_bytes) * (asked + 3);
}

/// The largest record a replica sends in its first answer to a get (estimated wire bytes): a
/// larger one is answered with its size only, and sent once the coordinator's budget holds
/// read_charge() of that size. So a get is admitted at read_charge(inline_read_bytes) and never
/// brings more than it was charged for, whatever its replicas hold: the coordinator cannot know a
/// record's size before a replica read it, and what it asked for arrives whether it fits or not.
constexpr uint64_t inline_read_bytes = 16 * 1024;

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
