// The client protocol: what kvsh, kvbench and applications send to any node.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>
#include <caf/meta/type_name.hpp>
#include <caf/optional.hpp>

#include "messages/record.hpp"
#include "messages/wire.hpp"

namespace actorkv {

/// Answer to a get. A missing (or deleted) key is `found == false`, not an error.
struct get_reply {
  bool found = false;
  std::vector<bytes> values; ///< every concurrent sibling; exactly one when there is no conflict
  /// Opaque, bound to this key and instance: pass it to the put or delete of this key that
  /// resolves these values (another key's context is refused with ec::bad_context).
  bytes context;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, get_reply& x) {
  return f(caf::meta::type_name("actorkv::get_reply"), x.found, x.values, x.context);
}

/// The longest TTL a put may ask for, in seconds: ten years. Anything longer is most likely a
/// mistake (milliseconds, or an absolute time, passed as seconds).
constexpr uint64_t max_ttl_s = 10ull * 365 * 86400;

/// Why a put may not ask for a TTL of `ttl_s` seconds (0, or above max_ttl_s): ec::bad_request
/// with a text saying so; none when it may.
caf::error check_ttl(uint64_t ttl_s);

/// A TTL as people type it (kvsh's --ttl, the HTTP API's ?ttl=): decimal seconds, 1 up to
/// max_ttl_s. Anything else (empty, a sign, a fraction, a unit, too large) is ec::bad_request.
caf::expected<uint32_t> parse_ttl(const std::string& text);

/// A put: `context` (possibly empty) says which versions this value supersedes. With `ttl_s`
/// (seconds, 1 up to max_ttl_s; 0: none) the value expires that long after the write: from then
/// on every replica reads the key as deleted (unless another write supersedes it first).
struct put_request {
  bytes key;
  bytes value;
  bytes context;
  uint32_t ttl_s = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, put_request& x) {
  return f(caf::meta::type_name("actorkv::put_request"), x.key, x.value, x.context, x.ttl_s);
}

/// A delete: a versioned tombstone superseding what `context` covers. Without a context the
/// client actor first reads the key and deletes exactly what that read returned (write_reply
/// says how many values). `blind` skips the read: the tombstone then supersedes only what
/// `context` covers, nothing when it is empty (in siblings mode a sibling that hides no value
/// written before it; under lww it wins by its newer timestamp).
struct delete_request {
  bytes key;
  bytes context;
  bool blind = false;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, delete_request& x) {
  return f(caf::meta::type_name("actorkv::delete_request"), x.key, x.context, x.blind);
}

/// Answer to a successful put or delete.
struct write_reply {
  uint32_t acks = 0; ///< replicas that stored it durably (>= W); 0 when nothing was written
  /// A delete without a context (read first): the values it read and removed, identical ones
  /// counted once. 0 when the key was absent or already deleted: then nothing was written.
  uint32_t removed = 0;
  uint32_t siblings = 0; ///< siblings the key holds after the write (tombstones included)
  /// Set when `siblings` is above the manifest's [limits] sibling_warning: the key is collecting
  /// concurrent writes (blind puts) that nobody resolves; past max_siblings writes are refused.
  std::string warning{};
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, write_reply& x) {
  return f(caf::meta::type_name("actorkv::write_reply"), x.acks, x.removed, x.siblings, x.warning);
}

/// What a client call asks of a node, when it travels in a batch.
enum class client_call_kind : uint8_t { get, put, del };

/// A get, put or delete from a client actor to its node, batched with the others it has in
/// flight (a node's answers come back batched too): many requests share one network message.
struct client_call {
  uint64_t id = 0; ///< the client's number for it, echoed in the answer
  client_call_kind kind = client_call_kind::get;
  bytes key;
  bytes value;        ///< put
  bytes context;      ///< put, delete
  uint32_t ttl_s = 0; ///< put: put_request::ttl_s
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, client_call& x) {
  return f(caf::meta::type_name("actorkv::client_call"), x.id, x.kind, x.key, x.value, x.context,
           x.ttl_s);
}

/// The answer to a client_call.
struct client_answer {
  uint64_t id = 0;
  caf::error err;    ///< set: the request failed, as the single request would have
  get_reply get;     ///< get
  write_reply write; ///< put, delete
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, client_answer& x) {
  return f(caf::meta::type_name("actorkv::client_answer"), x.id, x.err, x.get, x.write);
}

/// About the bytes a call or answer adds to its batch on the wire (keys, values, contexts and a
/// fixed allowance), for cutting batches at max_batch_bytes: an estimate, not the encoding.
size_t estimated_wire_bytes(const client_call& x);
size_t estimated_wire_bytes(const client_answer& x);

/// The batches as they cross the network (messages/wire.hpp).
bytes encode_wire(const std::vector<client_call>& xs, std::vector<caf::error>& errors);
caf::error decode_wire(const bytes& blob, std::vector<caf::error>& errors,
                       std::vector<client_call>& xs);
bytes encode_wire(const std::vector<client_answer>& xs, std::vector<caf::error>& errors);
caf::error decode_wire(const bytes& blob, std::vector<caf::error>& errors,
                       std::vector<client_answer>& xs);

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, std::vector<client_call>& xs) {
  return inspect_wire_batch(f, xs, "actorkv::client_calls");
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, std::vector<client_answer>& xs) {
  return inspect_wire_batch(f, xs, "actorkv::client_answers");
}

/// One member as the answering node sees it.
struct member_status {
  std::string name;
  std::string endpoint; ///< host:port
  uint32_t capacity = 1;
  bool up = false;              ///< reachable from the answering node
  uint32_t partitions = 0;      ///< partitions it owns
  std::string state = "valid";  ///< joining, valid, leaving or removed
  uint32_t next_partitions = 0; ///< partitions it will own once the handoff under way finishes
  /// Its wall clock minus the answering node's (positive: ahead), estimated from the failure
  /// detector's probes; none for the answering node and for peers not up or not measured yet.
  caf::optional<int64_t> clock_offset_ms{};
  std::string zone{}; ///< its failure domain (manifest [[node]] zone, kvnode --zone)
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, member_status& x) {
  return f(caf::meta::type_name("actorkv::member_status"), x.name, x.endpoint, x.capacity, x.up,
           x.partitions, x.state, x.next_partitions, x.clock_offset_ms, x.zone);
}

/// Answer to status: the cluster as the answering node sees it.
struct cluster_status {
  std::string node;     ///< the answering node
  std::string settings; ///< the instance settings, "N=3 R=2 W=2 Q=256 strict siblings"
  std::vector<member_status> members;
  std::vector<std::string> owners; ///< owner name of each partition, in partition order
  uint64_t pending_hints = 0;      ///< hints the answering node holds for other nodes
  uint64_t ae_rounds = 0;          ///< anti-entropy rounds the answering node completed
  uint64_t ae_repairs_last_round = 0;
  uint64_t ae_repairs_total = 0;
  uint64_t view_fingerprint = 0;   ///< equal on every node once membership gossip converged
  uint64_t ring_epoch = 0;         ///< advances with each membership change and handoff finished
  bool handoff_running = false;    ///< a membership change is moving partitions
  uint32_t transfers_total = 0;    ///< partition copies the change needs, cluster-wide
  uint32_t transfers_done = 0;     ///< of which finished
  uint64_t handoff_keys_sent = 0;  ///< records the answering node streamed to new replicas
  uint64_t handoff_keys_total = 0; ///< records it has had to stream (partition sizes when queued)
  uint32_t handoff_queued = 0;     ///< partitions the answering node still has to stream
  int64_t clock_skew_ms = 0; ///< the answering node's wall clock minus its peers' (the median)
  /// The answering node's clock is the one off by more than max_clock_skew_ms (judged once at
  /// least two peers were measured): check its time source.
  bool clock_skewed = false;
  uint32_t max_clock_skew_ms = 0; ///< the manifest's [timeouts] max_clock_skew_ms
  /// The answering node's memory budget ([limits] memory_budget_bytes; 0: none): bytes charged
  /// for requests in flight now, the most at once since it started, and requests refused with
  /// ec::overloaded since then.
  uint64_t memory_budget = 0;
  uint64_t memory_in_flight = 0;
  uint64_t memory_peak = 0;
  uint64_t overloaded_refusals = 0;
  /// Empty once the answering node serves clients; while it is starting, why it does not yet
  /// ("connected to 1 of 4 peers, waiting for n3, n4 (at most 3.2 s more)"): it gives no
  /// sessions until it is connected to its peers or node_startup_wait has passed.
  std::string starting{};
  /// The answering node's integrity check: running (records read so far), or how the last ended.
  std::string integrity_check;
  uint64_t ae_partition = 0;          ///< partitions compared in the anti-entropy round under way
  uint64_t ae_partitions = 0;         ///< partitions the round visits
  uint64_t ae_repairs_running = 0;    ///< keys being repaired now (at most [anti_entropy] repairs)
  uint64_t ae_repairs_this_round = 0; ///< keys repaired so far in the round under way
  /// The pause (ms) anti-entropy's last unit of repairs waited because the other side's pace asked
  /// more than this node's, and that side's name (0 and empty: its own pause decided).
  uint32_t ae_peer_pause_ms = 0;
  std::string ae_paced_by;
  /// The answering node's background pace ([background]): units (handoff batches, anti-entropy
  /// partitions) admitted per second, the p99 of its requests in the last 2 s window (0: too few
  /// to judge) and the target judged: the configured one, or max_slowdown_percent of the p99
  /// measured with background work at its floor (0: none) when that is larger.
  double background_rate = 0;
  double background_max_rate = 0; ///< the rate at which nothing is slowed
  uint64_t background_p99_us = 0;
  uint64_t background_target_us = 0;
  uint64_t background_floor_p99_us = 0;
  uint64_t background_configured_target_us = 0;
  uint64_t tombstones_collected = 0; ///< tombstones the answering node erased since it started
  uint64_t collection_sweeps = 0;    ///< tombstone collection sweeps it finished since then
  /// Version-vector entries of retired replica ids the answering node pruned since it started.
  uint64_t entries_pruned = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, cluster_status& x) {
  return f(caf::meta::type_name("actorkv::cluster_status"), x.node, x.settings, x.members, x.owners,
           x.pending_hints, x.ae_rounds, x.ae_repairs_last_round, x.ae_repairs_total,
           x.view_fingerprint, x.ring_epoch, x.handoff_running, x.transfers_total, x.transfers_done,
           x.handoff_keys_sent, x.handoff_keys_total, x.handoff_queued, x.clock_skew_ms,
           x.clock_skewed, x.max_clock_skew_ms, x.memory_budget, x.memory_in_flight, x.memory_peak,
           x.overloaded_refusals, x.starting, x.integrity_check, x.ae_partition, x.ae_partitions,
           x.ae_repairs_running, x.ae_repairs_this_round, x.ae_peer_pause_ms, x.ae_paced_by,
           x.background_rate, x.background_max_rate, x.background_p99_us, x.background_target_us,
           x.background_floor_p99_us, x.background_configured_target_us, x.tombstones_collected,
           x.collection_sweeps, x.entries_pruned);
}

/// One member's own status as a node asked it of each member for a cluster-wide view (HTTP
/// `GET /v1/status?scope=cluster`): its answer, or why none came (the member is not connected to
/// the asking node, or did not answer within the deadline).
struct member_answer {
  std::string name;
  std::string endpoint; ///< host:port
  bool answered = false;
  cluster_status status; ///< the member's own answer, when answered
  std::string error;     ///< when not answered: an error name ("unavailable", "timeout", ...)
  std::string message;   ///< when not answered: for people
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, member_answer& x) {
  return f(caf::meta::type_name("actorkv::member_answer"), x.name, x.endpoint, x.answered, x.status,
           x.error, x.message);
}

/// Answer to the cluster-wide status: every member (those that left or were removed and own
/// nothing excepted), in the view's order, as the asking node collected them.
struct cluster_answers {
  std::string asked_by; ///< the node that collected them
  std::vector<member_answer> members;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, cluster_answers& x) {
  return f(caf::meta::type_name("actorkv::cluster_answers"), x.asked_by, x.members);
}

} // namespace actorkv
