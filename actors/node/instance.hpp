// Instance identity kept in a node's data directory.
//
// On first start the [store] settings, a new instance id and a new replica id are written into
// the database's metadata. On every later start the manifest's [store] must match what was
// recorded; the first setting that differs is named in an ec::settings_mismatch error. A data
// directory that was wiped gets a new replica id, so the node never reuses its old counters.
// A restored backup (its meta entry "backup", written into the copy by engine::backup) gets a new
// replica id too: its node may have coordinated writes after the backup was taken, and the copy
// does not know their counters. So does a store that was not closed cleanly (a crash, kill -9, a
// power loss: engine::check_owed): with sync = "normal" an OS crash can take commits whose
// records, and their counters, other replicas already hold.
#pragma once

#include <string>

#include <caf/expected.hpp>

#include "cluster-config/manifest.hpp"
#include "storage/engine.hpp"

namespace actorkv {

struct instance_identity {
  std::string instance_id; ///< drawn when this data directory was created
  replica_id replica = 0;  ///< this data directory's incarnation id
  bool created = false;    ///< true when this start created the data directory's identity
  /// Set when this start found a restored backup (its marker) and drew a new replica id for it.
  std::string restored;
  /// True when the store was not closed cleanly and this start drew a new replica id for it.
  bool renewed_after_unclean_stop = false;
};

caf::expected<instance_identity> open_instance(storage::engine& db, const manifest& cluster,
                                               const std::string& data_dir);

} // namespace actorkv
