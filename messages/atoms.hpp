// Every atom actorkv defines, grouped by protocol (CAF 0.17: at most 10 characters each).
// CAF's own get_atom, put_atom, delete_atom, ok_atom, flush_atom, tick_atom are reused as is.
#pragma once

#include <caf/atom.hpp>

namespace actorkv {

// Client protocol (client -> node).
using status_atom = caf::atom_constant<caf::atom("status")>;

// Peer protocol (node <-> node).
using peer_atom = caf::atom_constant<caf::atom("peer")>;

// Replication protocol (coordinator -> vnode -> storage).
using coord_atom = caf::atom_constant<caf::atom("coord")>;     ///< apply a client write here
using merge_atom = caf::atom_constant<caf::atom("merge")>;     ///< merge a replicated record
using read_atom = caf::atom_constant<caf::atom("read")>;       ///< read a replica's record

// Private timers and housekeeping.
using reconnect_atom = caf::atom_constant<caf::atom("reconnect")>;
using connect_to_atom = caf::atom_constant<caf::atom("connect_to")>;

} // namespace actorkv
