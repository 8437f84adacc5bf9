// Role checks in the node's actors: who sent the message being handled, and what it may do.
#pragma once

#include <caf/actor_control_block.hpp>
#include <caf/error.hpp>
#include <caf/node_id.hpp>

#include "cluster-config/access.hpp"

namespace actorkv {

process_identity identity_of(const caf::node_id& node);

/// The role of `sender`: role::node for every sender when `access` is null (TLS turned off) and
/// for actors of this process; for a remote one what its certificate proved to this node's frame
/// guard; role::none for an anonymous message (its origin is unknown).
role sender_role(const access_table* access, const caf::strong_actor_ptr& sender,
                 const caf::node_id& self);

/// ec::forbidden naming what was refused and the role it needs.
caf::error forbidden(const char* what, role need, role have);

/// For handlers: `self`'s current sender has at least `need`.
template <class Self>
bool permitted(Self* self, const access_table* access, role need) {
  return allows(sender_role(access, self->current_sender(), self->node()), need);
}

} // namespace actorkv
