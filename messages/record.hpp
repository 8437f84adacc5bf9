// The versioned value of one key: what replicas store, exchange and reconcile.
//
// Plain data, free of actors. Causality follows Riak 2's "dotted version vectors" as used per
// sibling: every sibling carries the dot (replica, counter) of the write that created it, and the
// record carries one version vector (its causal context) summarising every write it has seen. A
// sibling is obsolete once another record's context covers its dot without holding it; this is
// what keeps the number of siblings bounded by the number of truly concurrent writers. The
// operations live in dvv.hpp; the on-disk encoding in storage/record_codec.hpp.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <caf/meta/type_name.hpp>

namespace actorkv {

/// Arbitrary bytes: keys, values and opaque contexts.
using bytes = std::vector<uint8_t>;

/// Identifies one incarnation of a node's data: drawn at random when a data directory is created,
/// so a node whose data was wiped never reuses the counters of its former self.
using replica_id = uint64_t;

/// One event: the `counter`-th write coordinated by replica `id`.
struct dot {
  replica_id id = 0;
  uint64_t counter = 0;
  friend bool operator==(const dot& a, const dot& b) {
    return a.id == b.id && a.counter == b.counter;
  }
  friend bool operator!=(const dot& a, const dot& b) { return !(a == b); }
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, dot& x) {
  return f(caf::meta::type_name("actorkv::dot"), x.id, x.counter);
}

/// A version vector: for each replica, the highest counter seen; sorted by id, no zero counters.
struct version_vector {
  std::vector<dot> entries;
  friend bool operator==(const version_vector& a, const version_vector& b) {
    return a.entries == b.entries;
  }
  friend bool operator!=(const version_vector& a, const version_vector& b) { return !(a == b); }
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, version_vector& x) {
  return f(caf::meta::type_name("actorkv::version_vector"), x.entries);
}

/// One concurrent value of a key, or a deletion marker.
struct sibling {
  dot origin;               ///< the write that created this sibling
  int64_t timestamp_us = 0; ///< wall clock of the coordinating replica; orders writes under lww
  bool tombstone = false;   ///< a versioned delete; `value` is empty
  bytes value;
  /// A put with a TTL: when the value expires (Unix microseconds, chosen once by the write's
  /// coordinator and stored alike by every replica); from then on readers treat the sibling as a
  /// tombstone (dvv::is_dead). 0: never.
  int64_t expires_us = 0;
  friend bool operator==(const sibling& a, const sibling& b) {
    return a.origin == b.origin && a.timestamp_us == b.timestamp_us && a.tombstone == b.tombstone &&
           a.value == b.value && a.expires_us == b.expires_us;
  }
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, sibling& x) {
  return f(caf::meta::type_name("actorkv::sibling"), x.origin, x.timestamp_us, x.tombstone, x.value,
           x.expires_us);
}

/// Everything a replica knows about one key.
struct record {
  version_vector context;        ///< every write this record has seen
  std::vector<sibling> siblings; ///< the writes not yet superseded, sorted by origin
  friend bool operator==(const record& a, const record& b) {
    return a.context == b.context && a.siblings == b.siblings;
  }
  friend bool operator!=(const record& a, const record& b) { return !(a == b); }
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, record& x) {
  return f(caf::meta::type_name("actorkv::record"), x.context, x.siblings);
}

/// How concurrent writes are settled; fixed when the instance is created.
enum class conflict_mode : uint8_t {
  siblings, ///< keep every concurrent write; the client resolves
  lww,      ///< the newest timestamp wins; ties go to the larger (replica id, counter)
};

} // namespace actorkv
