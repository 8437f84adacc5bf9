// The node actor: one per kvnode process, published on the node's host:port.
//
// It holds the ring and a vnode for every partition, keeps a connection (and handshake) with
// every other node of the manifest, marks peers down when their connection drops and retries
// them every second, and serves clients by spawning one coordinator per request with the
// reachable home replicas of the key's partition.
#pragma once

#include <string>
#include <vector>

#include "cluster-config/manifest.hpp"
#include "messages/interfaces.hpp"

namespace caf {
class actor_system;
} // namespace caf

namespace actorkv {

struct node_options {
  manifest cluster;       ///< the validated manifest
  std::string self_name;  ///< this node's entry in it
  replica_id self_id = 0; ///< this data directory's incarnation id
  storage_actor storage;
};

/// The instance settings as peers compare them, e.g. "name=local partitions=256 replicas=3 ...".
std::string settings_text(const store_settings& s);

node_actor spawn_node(caf::actor_system& sys, node_options options);

} // namespace actorkv
