// The node actor: one per kvnode process, published on the node's host:port.
//
// It holds the ring and one vnode actor serving every partition, keeps a connection (and
// handshake) with every other member of the cluster view (the manifest's nodes at first, then
// whoever joins), marks peers down when their connection drops and retries them every second, and
// serves clients through its coordinator (actors/node/coordinator.hpp), which it tells where every
// partition's reachable replicas are whenever peers or the ring change. When the view's ring
// changes it follows: it decides which partitions it must stream to new replicas (the first live
// old replica of each sends), has its handoff worker stream them, hands off and deletes partitions
// it no longer replicates, and, once it has left, stops its process.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "actors/node/wall_clock.hpp"
#include "cluster-config/manifest.hpp"
#include "cluster-config/memory_budget.hpp"
#include "messages/interfaces.hpp"

namespace caf {
class actor_system;
} // namespace caf

namespace actorkv {

class metrics_registry; // cluster-config/metrics.hpp
class link_activity;    // actors/guard/link_activity.hpp

struct node_options {
  manifest cluster;       ///< the validated manifest
  std::string self_name;  ///< this node's name (its manifest entry, or given to kvnode --join)
  replica_id self_id = 0; ///< this data directory's incarnation id
  /// The protocol version this node speaks in its handshake: protocol_version, except under
  /// kvnode's test hook ACTORKV_TEST_PROTOCOL_VERSION (a node of another release, for tests).
  uint32_t protocol = protocol_version;
  storage_actor storage;
  /// Where background work (handoff, anti-entropy, hint delivery, the collector) reads: the
  /// storage's reader (spawn_storage); unset: `storage`.
  storage_actor reads;
  std::string host; ///< where this node listens
  uint16_t port = 0;
  uint32_t capacity = 1;
  std::string zone = "default"; ///< this node's zone (its [[node]] zone, or kvnode --zone)
  std::optional<membership_view> initial_view; ///< kept in the data directory, or from a seed
  /// Called once when this node has left the cluster (or learns it was removed), with why: the
  /// process should stop.
  std::function<void(const std::string&)> on_departure;
  /// Who may do what (filled by the frame guard); null: everyone may do everything (TLS off).
  std::shared_ptr<access_table> access;
  /// The node's clocks (shared with its storage): its wall clock stamps membership versions and
  /// answers peers' probes; its hybrid clock stamps last-writer-wins writes.
  std::shared_ptr<node_clock> clock = std::make_shared<node_clock>();
  /// The node's budget for requests in flight ([limits] memory_budget_bytes), which its
  /// coordinator, replica gateway and hint keeper charge (and kvnode's HTTPS API); null: none.
  std::shared_ptr<memory_budget> budget;
  /// The process's metrics (cluster-config/metrics.hpp), handed to the children that count;
  /// null: nothing is counted.
  std::shared_ptr<metrics_registry> metrics{};
  /// What the frame guard sees of each connected process's messages, and where the node asks it
  /// to close the idle connections of peers it shares no partition with; null: none closed.
  std::shared_ptr<link_activity> links;
};

/// The instance settings as peers compare them, e.g. "name=local partitions=256 replicas=3 ...".
std::string settings_text(const store_settings& s);

node_actor spawn_node(caf::actor_system& sys, node_options options);

} // namespace actorkv
