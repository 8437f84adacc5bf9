#include "actors/node/permission.hpp"

#include <caf/actor_control_block.hpp>
#include <caf/node_id.hpp>

#include "messages/error.hpp"

namespace actorkv {

process_identity identity_of(const caf::node_id& node) {
  process_identity id;
  // CAF 0.17's processes name themselves with default_data (pid and host hash); a URI node id
  // never comes out of BASP's handshake, so it has no entry and keeps the empty identity.
  if (node && node->implementation_id() == caf::node_id::default_data::class_id) {
    auto& d = static_cast<const caf::node_id::default_data&>(*node);
    id.pid = d.process_id();
    id.host = d.host_id();
  }
  return id;
}

role sender_role(const access_table* access, const caf::strong_actor_ptr& sender,
                 const caf::node_id& self) {
  if (!access)
    return role::node;
  if (!sender)
    return role::none;
  if (sender->node() == self)
    return role::node;
  return access->role_of(identity_of(sender->node()));
}

caf::error forbidden(const char* what, role need, role have) {
  return caf::make_error(ec::forbidden, std::string{what} + " needs the " + role_name(need) +
                                            " role; this client's certificate carries " +
                                            role_name(have));
}

} // namespace actorkv
