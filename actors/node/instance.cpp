#include "actors/node/instance.hpp"

#include <cstdio>
#include <random>

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
  if (*backup && !(*backup)->empty()) {
    // A backup put in place as the store: the counters of the writes this node coordinated after
    // the copy was taken are unknown here, so reusing the id could repeat a dot (a new write
    // would then be taken for one the other replicas already hold, and dropped). A new id, and
    // the marker spent, in one batch.
    uint64_t id = 0;
    while (id == 0 || std::to_string(id) == **replica)
      id = random_u64();
    if (auto err = db.begin())
      return err;
    auto restored = **backup + ", restored with new replica id " + std::to_string(id);
    for (auto& [name, value] : {std::pair<std::string, std::string>{"replica_id", std::to_string(id)},
                                {"backup", ""},
                                {"restored", restored}})
      if (auto err = db.set_meta(name, value)) {
        db.rollback();
        return err;
      }
    if (auto err = db.commit())
      return err;
    out.restored = restored;
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
