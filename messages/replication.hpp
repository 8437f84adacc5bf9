// The replication protocol between coordinators, vnodes and storage.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <caf/error.hpp>
#include <caf/meta/type_name.hpp>

#include "messages/record.hpp"
#include "messages/wire.hpp"

namespace actorkv {

using partition_id = uint32_t;

/// What a client write may leave its key holding ([limits] of the manifest of the node the client
/// asked). The coordinating replica checks the record the write would leave before it stores
/// anything (cluster-config/write_limits.hpp); 0 leaves a bound unchecked.
struct write_limits {
  uint32_t max_siblings = 0;     ///< siblings, tombstones included
  uint32_t max_record_bytes = 0; ///< the siblings' values together
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, write_limits& x) {
  return f(caf::meta::type_name("actorkv::write_limits"), x.max_siblings, x.max_record_bytes);
}

/// A client write, applied by the coordinating replica, which stamps it with its own dot.
struct write_op {
  bytes key;
  bool tombstone = false; ///< a delete; `value` is empty
  bytes value;
  version_vector context;   ///< what the client saw
  int64_t timestamp_us = 0; ///< the coordinator's wall clock, for lww
  write_limits limits;      ///< refused by the coordinating replica beyond these
  /// A put with a TTL: when its value expires (sibling::expires_us), chosen by the coordinator
  /// from `timestamp_us` so that every replica stores the same; 0: never.
  int64_t expires_us = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, write_op& x) {
  return f(caf::meta::type_name("actorkv::write_op"), x.key, x.tombstone, x.value, x.context,
           x.timestamp_us, x.limits, x.expires_us);
}

/// A replica's answer to a read.
struct replica_read {
  bool found = false;   ///< false: no record (or an unreadable one, see corrupt)
  bool corrupt = false; ///< the stored record failed verification; treat as missing and repair
  record rec;
  /// Non-zero: the record was found but left out, because its wire size (this many bytes) is above
  /// the call's inline_limit; the coordinator asks again for it once its memory budget holds it.
  uint64_t withheld_bytes = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, replica_read& x) {
  return f(caf::meta::type_name("actorkv::replica_read"), x.found, x.corrupt, x.rec,
           x.withheld_bytes);
}

/// What a replica call asks of a replica.
enum class replica_call_kind : uint8_t {
  read, ///< the key's record as stored (replica_answer::read)
  /// Applies a client write as its coordinating replica and answers with the resulting record.
  /// With an empty target the record is stored here, stamped with this replica's dot; otherwise
  /// this node is a fallback: the write gets a dot of a fresh one-off id (a fallback holds no
  /// history of the key, so its own counters could repeat) and is held as a hint for `target`.
  coord,
  merge, ///< merges `rec` into the stored record; the answer only tells whether it did
  hint,  ///< holds `rec` as a hint for `target` (ec::unavailable when the hint backlog is full)
};

/// One replica request from a coordinator to a replica of `partition` (this node's storage, or a
/// peer's through its replica gateway), batched with the others for the same place: a batch is
/// one message. Every answer is durable when it arrives (storage answers after commit).
struct replica_call {
  uint64_t id = 0; ///< the sender's number for it, echoed in the answer
  replica_call_kind kind = replica_call_kind::read;
  partition_id partition = 0;
  bytes key;          ///< read, merge, hint
  write_op op;        ///< coord
  record rec;         ///< merge, hint
  std::string target; ///< coord: the hint target ("" for a home replica); hint: the home replica
  /// read: the largest record (estimated wire bytes) to send; a larger one is answered with its
  /// size only (replica_read::withheld_bytes). 0: no limit.
  uint64_t inline_limit = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, replica_call& x) {
  return f(caf::meta::type_name("actorkv::replica_call"), x.id, x.kind, x.partition, x.key, x.op,
           x.rec, x.target, x.inline_limit);
}

/// The answer to a replica_call.
struct replica_answer {
  uint64_t id = 0;
  caf::error err;    ///< set: the request failed (as storage failed it)
  replica_read read; ///< read
  record rec;        ///< coord
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, replica_answer& x) {
  return f(caf::meta::type_name("actorkv::replica_answer"), x.id, x.err, x.read, x.rec);
}

/// The ids of a batch's calls, in order.
inline std::vector<uint64_t> call_ids(const std::vector<replica_call>& calls) {
  std::vector<uint64_t> out;
  out.reserve(calls.size());
  for (auto& c : calls)
    out.push_back(c.id);
  return out;
}

/// The answers to calls `ids` when their whole batch failed with `err`.
inline std::vector<replica_answer> failed_answers(const std::vector<uint64_t>& ids,
                                                  const caf::error& err) {
  std::vector<replica_answer> out(ids.size());
  for (size_t i = 0; i < ids.size(); ++i) {
    out[i].id = ids[i];
    out[i].err = err;
  }
  return out;
}

/// About the bytes a call or answer adds to its batch on the wire (keys, values, records and a
/// fixed allowance), for cutting batches at max_batch_bytes: an estimate, not the encoding.
size_t estimated_wire_bytes(const replica_call& x);
size_t estimated_wire_bytes(const replica_answer& x);

/// The batches as they cross the network (messages/wire.hpp).
bytes encode_wire(const std::vector<replica_call>& xs, std::vector<caf::error>& errors);
caf::error decode_wire(const bytes& blob, std::vector<caf::error>& errors,
                       std::vector<replica_call>& xs);
bytes encode_wire(const std::vector<replica_answer>& xs, std::vector<caf::error>& errors);
caf::error decode_wire(const bytes& blob, std::vector<caf::error>& errors,
                       std::vector<replica_answer>& xs);

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, std::vector<replica_call>& xs) {
  return inspect_wire_batch(f, xs, "actorkv::replica_calls");
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, std::vector<replica_answer>& xs) {
  return inspect_wire_batch(f, xs, "actorkv::replica_answers");
}

/// A write held by a fallback node for `target`, a home replica that was down.
struct stored_hint {
  uint64_t id = 0;    ///< the storage engine's id of this hint
  std::string target; ///< the home replica's node name (stable across restarts and wipes)
  partition_id partition = 0;
  bytes key;
  record rec;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, stored_hint& x) {
  return f(caf::meta::type_name("actorkv::stored_hint"), x.id, x.target, x.partition, x.key, x.rec);
}

/// How many hints a node holds for one target.
struct hint_backlog {
  std::string target;
  uint64_t count = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, hint_backlog& x) {
  return f(caf::meta::type_name("actorkv::hint_backlog"), x.target, x.count);
}

/// A key and the anti-entropy digest of its record (storage/merkle_tree.hpp).
struct key_digest {
  bytes key;
  uint64_t digest = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, key_digest& x) {
  return f(caf::meta::type_name("actorkv::key_digest"), x.key, x.digest);
}

/// A key with its record, as a partition handoff streams it.
struct keyed_record {
  bytes key;
  record rec;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, keyed_record& x) {
  return f(caf::meta::type_name("actorkv::keyed_record"), x.key, x.rec);
}

/// One partition a node must stream to nodes that become its home replicas. A transfer (release
/// false) reports each target as done; a release (this node no longer replicates the partition
/// after a change) streams it once more to the new replicas, then deletes it here.
struct handoff_task {
  uint32_t partition = 0;
  std::vector<std::string> targets;
  bool release = false;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, handoff_task& x) {
  return f(caf::meta::type_name("actorkv::handoff_task"), x.partition, x.targets, x.release);
}

/// Progress of a node's handoff worker, shown by status.
struct handoff_stats {
  uint32_t tasks_queued = 0;        ///< partitions still to stream from this node
  uint32_t tasks_done = 0;          ///< partitions streamed since the worker started
  uint64_t keys_sent = 0;           ///< records streamed since the worker started
  uint64_t keys_total = 0;          ///< records of every partition queued or streamed since then
  uint32_t partitions_released = 0; ///< partitions deleted here after their handoff
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, handoff_stats& x) {
  return f(caf::meta::type_name("actorkv::handoff_stats"), x.tasks_queued, x.tasks_done,
           x.keys_sent, x.keys_total, x.partitions_released);
}

} // namespace actorkv
