// Registers every type that crosses a process boundary, and the error category. Every program
// and every test that builds an actor system calls this once on its config.
#pragma once

namespace caf {
class actor_system_config;
} // namespace caf

namespace actorkv {

void register_types(caf::actor_system_config& cfg);

} // namespace actorkv
