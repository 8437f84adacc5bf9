// The replication protocol between coordinators, vnodes and storage.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <caf/meta/type_name.hpp>

#include "messages/record.hpp"

namespace actorkv {

using partition_id = uint32_t;

/// A client write, applied by the coordinating replica, which stamps it with its own dot.
struct write_op {
  bytes key;
  bool tombstone = false;  ///< a delete; `value` is empty
  bytes value;
  version_vector context;  ///< what the client saw
  int64_t timestamp_us = 0; ///< the coordinator's wall clock, for lww
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, write_op& x) {
  return f(caf::meta::type_name("actorkv::write_op"), x.key, x.tombstone, x.value, x.context,
           x.timestamp_us);
}

/// A replica's answer to a read.
struct replica_read {
  bool found = false;   ///< false: no record (or an unreadable one, see corrupt)
  bool corrupt = false; ///< the stored record failed verification; treat as missing and repair
  record rec;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, replica_read& x) {
  return f(caf::meta::type_name("actorkv::replica_read"), x.found, x.corrupt, x.rec);
}

} // namespace actorkv
