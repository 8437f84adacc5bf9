// What the node actor suites build replicas from: a storage actor over the in-memory engine that
// the test coordinator runs (not detached), with a fixed seed.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "actors/node/storage_actor.hpp"
#include "storage/engine.hpp"
#include "tests/actors/common.hpp"

namespace actorkv::test {

/// Storage of replica `id` ("n<id>") with `partitions` partitions, stopped when the test ends.
inline storage_actor spawn_memory_storage(deterministic_fixture& fx, replica_id id,
                                          uint32_t partitions = 256) {
  storage_options opts{"n" + std::to_string(id), id, conflict_mode::siblings};
  opts.partitions = partitions;
  opts.detached = false; // the test coordinator runs it
  opts.seed = id;
  return fx.keep(
      spawn_storage(fx.sys, std::shared_ptr<storage::engine>{storage::make_memory_engine()}, opts));
}

/// Routes in which every key has one plan: the replicas `reachable` (indexes into `stores`, named
/// "n<index + 1>") of N = 3, read at `r` and written at `w`.
inline routes one_plan_routes(const std::vector<storage_actor>& stores,
                              const std::vector<size_t>& reachable, uint32_t r, uint32_t w) {
  coordination_plan plan;
  for (auto i : reachable)
    plan.replicas.push_back({"n" + std::to_string(i + 1), {}, stores[i], {}});
  plan.replicas_total = 3;
  plan.read_quorum = r;
  plan.write_quorum = w;
  routes out;
  out.plans.push_back(std::move(plan));
  return out;
}

} // namespace actorkv::test
