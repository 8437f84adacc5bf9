// Every typed actor interface of actorkv, in one place. Implementations include this header and
// never restate a signature. Handlers that cross the network are always requested with a timeout.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "messages/atoms.hpp"
#include "messages/client.hpp"
#include "messages/record.hpp"
#include "messages/replication.hpp"

namespace actorkv {

/// Storage: the one owner of a node's database (spawned detached: every handler may block on
/// disk). Writes are group-committed: a reply is sent only after the write's batch committed.
using storage_actor = caf::typed_actor<
  /// Reads the key's record as stored.
  caf::replies_to<read_atom, partition_id, bytes>::with<replica_read>,
  /// Applies a client write as its coordinating replica (stamping this node's dot) and returns
  /// the resulting record, durable. An unreadable stored record is replaced; the new dot's
  /// counter then starts above any counter issued before (see storage_actor.cpp).
  caf::replies_to<coord_atom, partition_id, write_op>::with<record>,
  /// Merges a record from another replica into the stored one; returns the merged record, durable.
  caf::replies_to<merge_atom, partition_id, bytes, record>::with<record>>;

/// Vnode: one partition's replica on this node; the address other nodes use for that partition.
using vnode_actor = caf::typed_actor<
  /// This replica's record of a key.
  caf::replies_to<read_atom, bytes>::with<replica_read>,
  /// Applies a client write with this replica as coordinator (see storage_actor).
  caf::replies_to<coord_atom, write_op>::with<record>,
  /// Merges a record sent by a coordinator (replication or read repair).
  caf::replies_to<merge_atom, bytes, record>::with<record>>;

/// Peer handshake: who a node is, with which instance settings, and its vnodes.
struct peer_hello {
  std::string name;
  replica_id id = 0;
  std::string settings; ///< describe(store_settings) flattened; peers must agree exactly
  std::vector<vnode_actor> vnodes; ///< indexed by partition; empty in the request
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, peer_hello& x) {
  return f(caf::meta::type_name("actorkv::peer_hello"), x.name, x.id, x.settings, x.vnodes);
}

/// Coordinator: serves exactly one client request, then read-repairs and exits.
using coordinator_actor = caf::typed_actor<
  caf::replies_to<caf::get_atom, bytes>::with<get_reply>,
  caf::replies_to<caf::put_atom, put_request>::with<write_reply>,
  caf::replies_to<caf::delete_atom, delete_request>::with<write_reply>>;

/// Node: the one actor each kvnode publishes on its host:port. Serves clients (spawning a
/// coordinator per request) and peers (handshake).
using node_actor = coordinator_actor::extend<
  /// The cluster as this node sees it.
  caf::replies_to<status_atom>::with<cluster_status>,
  /// Peer handshake: answers with this node's own hello, including its vnodes. Fails with
  /// ec::peer_mismatch when the settings differ.
  caf::replies_to<peer_atom, peer_hello>::with<peer_hello>>;

/// Client: what kvsh, kvbench and applications hold. Talks to one node at a time, fails over to
/// the next known node when it goes away, bounds every request with the configured timeout.
using client_actor = node_actor::extend<>;

} // namespace actorkv
