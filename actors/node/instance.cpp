#include "actors/node/instance.hpp"

#include <cstdio>
#include <random>
#include <utility>
#include <vector>

#include "messages/error.hpp"

namespace actorkv {

namespace {

uint64_t random_u64() {
  std::random_device rd;
  return (uint64_t{rd()} << 32) ^ rd();
}

std::string hex64(uint64_t x) {
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(x));
  return buf;
}

} // namespace

caf::expected<instance_identity> open_instance(storage::engine& db, const manifest& cluster,
                                               const std::string& data_dir) {
  instance_identity out;
  auto replica = db.get_meta("replica_id");
  if (!replica)
    return replica.error();
  if (!*replica) {
    // A fresh data directory: record the settings first, the identity last, in one batch.
    if (auto err = db.begin())
      return err;
    for (auto& [name, value] : describe(cluster.store))
      if (auto err = db.set_meta("store." + name, value)) {
        db.rollback();
        return err;
      }
    uint64_t id = 0;
    while (id == 0)
      id = random_u64();
    out.instance_id = hex64(random_u64());
    out.replica = id;
    out.created = true;
    if (auto err = db.set_meta("instance_id", out.instance_id)) {
      db.rollback();
      return err;
    }
    if (auto err = db.set_meta("replica_id", std::to_string(id))) {
      db.rollback();
      return err;
    }
    if (auto err = db.commit())
      return err;
    return out;
  }
  for (auto& [name, value] : describe(cluster.store)) {
    auto recorded = db.get_meta("store." + name);
    if (!recorded)
      return recorded.error();
    if (!*recorded || **recorded != value)
      return caf::make_error(ec::settings_mismatch,
                             data_dir + " was created with store." + name + " = " +
                                 (*recorded ? **recorded : std::string{"(unset)"}) + " but " +
                                 cluster.path + " says " + value +
                                 "; [store] settings cannot change for an existing instance");
  }
  auto backup = db.get_meta("backup");
  if (!backup)
    return backup.error();
  bool from_backup = *backup && !(*backup)->empty();
  // The counters this replica issued may be higher than the store says in two cases, and a
  // counter issued again would give a new write the dot of one the other replicas hold: they
  // would take the two for one write and keep one of them.
  // - A backup put in place as the store: its node may have coordinated writes after the copy.
  // - A store not closed cleanly: with sync = "normal" an OS crash or power loss takes the last
  //   commits, which were acknowledged and sent to the other replicas, with it. (After a mere
  //   kill nothing is lost; a new id costs a version-vector entry, pruned once retired.)
  // So a new id, and for a backup the marker spent, in one batch.
  if (from_backup || db.check_owed()) {
    uint64_t id = 0;
    while (id == 0 || std::to_string(id) == **replica)
      id = random_u64();
    std::vector<std::pair<std::string, std::string>> changes{{"replica_id", std::to_string(id)}};
    if (from_backup) {
      out.restored = **backup + ", restored with new replica id " + std::to_string(id);
      changes.emplace_back("backup", "");
      changes.emplace_back("restored", out.restored);
    } else {
      out.renewed_after_unclean_stop = true;
    }
    if (auto err = db.begin())
      return err;
    for (auto& [name, value] : changes)
      if (auto err = db.set_meta(name, value)) {
        db.rollback();
        return err;
      }
    if (auto err = db.commit())
      return err;
    *replica = std::to_string(id);
  }
  auto instance = db.get_meta("instance_id");
  if (!instance)
    return instance.error();
  out.instance_id = *instance ? **instance : std::string{};
  out.replica = std::stoull(**replica);
  return out;
}

} // namespace actorkv
