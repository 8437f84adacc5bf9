// What the node actor suites build replicas from: a storage actor over the in-memory engine that
// the test coordinator runs (not detached), with a fixed seed.
#pragma once

#include <memory>
#include <string>

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

} // namespace actorkv::test
