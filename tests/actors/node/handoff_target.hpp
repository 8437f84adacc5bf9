// A handoff target double for the node actor suites: a vnode that merges what it is sent into a
// map, counts every record (refused ones too), refuses on command, answers the Merkle trees and
// key listings of what it holds (what a release compares with) and asks its peers' workers the
// pause it is told. Thread-safe, so that it serves tests on the test coordinator and tests on
// real threads alike.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>

#include <caf/all.hpp>

#include "messages/dvv.hpp"
#include "messages/error.hpp"
#include "messages/interfaces.hpp"
#include "storage/engine.hpp"
#include "storage/merkle_tree.hpp"

namespace actorkv::test {

/// What the target saw.
struct target_log {
  std::mutex mtx;
  std::map<bytes, uint32_t> merges; ///< records received per key (refused ones included)
  std::map<bytes, record> held;     ///< what it stored (merged)
  /// `held` as an engine stores it, for trees and key listings.
  std::unique_ptr<storage::engine> engine = storage::make_memory_engine();
  uint32_t accept = UINT32_MAX;     ///< merges it accepts before refusing every other one
  uint32_t accepted = 0;
  uint32_t pause_ms = 0;        ///< the pause its pace asks of its peers' workers (pace_atom)
  /// Holds `rec` under `key` as if it had been sent before (not counted as a merge).
  void preload(partition_id p, const bytes& key, const record& rec) {
    std::lock_guard<std::mutex> guard{mtx};
    held[key] = rec;
    static_cast<void>(engine->put(p, key, rec));
  }
  uint64_t total() const {
    uint64_t n = 0;
    for (auto& [key, count] : merges)
      n += count;
    return n;
  }
};

/// Merges into `log`, refusing with ec::unavailable once it accepted `log->accept` of them, and
/// with ec::bad_request a merge for another partition than `only` (when given).
inline vnode_actor spawn_handoff_target(caf::actor_system& sys, std::shared_ptr<target_log> log,
                                        std::optional<partition_id> only = std::nullopt) {
  return sys.spawn([log, only](vnode_actor::pointer) -> vnode_actor::behavior_type {
    return {
        [=](read_atom, partition_id, const bytes&) -> caf::result<replica_read> {
          return replica_read{};
        },
        [=](merge_atom, partition_id p, const bytes& key,
            const record& rec) -> caf::result<record> {
          if (only && p != *only)
            return caf::make_error(ec::bad_request, "a merge for another partition");
          std::lock_guard<std::mutex> guard{log->mtx};
          ++log->merges[key];
          if (log->accepted >= log->accept)
            return caf::make_error(ec::unavailable, "the target went away");
          ++log->accepted;
          auto& held = log->held[key];
          held = dvv::merge(held, rec, conflict_mode::siblings);
          if (auto err = log->engine->put(p, key, held))
            return err;
          return held;
        },
        [=](tree_atom, partition_id p, uint32_t depth) -> caf::result<std::vector<uint64_t>> {
          std::lock_guard<std::mutex> guard{log->mtx};
          auto leaves = log->engine->leaves(p);
          if (!leaves)
            return leaves.error();
          return storage::merkle_tree::from_leaves(*leaves).level(depth);
        },
        [=](leafkeys_atom, partition_id p,
            const std::vector<uint64_t>& leaves) -> caf::result<std::vector<key_digest>> {
          std::lock_guard<std::mutex> guard{log->mtx};
          auto keys = log->engine->leaf_keys(p, leaves);
          if (!keys)
            return keys.error();
          return std::move(*keys);
        },
        [=](pace_atom) {
          std::lock_guard<std::mutex> guard{log->mtx};
          return log->pause_ms;
        },
    };
  });
}

} // namespace actorkv::test
