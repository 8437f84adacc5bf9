// What the in-process actor suites share.
#pragma once

#include <string>

#include <caf/actor_system_config.hpp>

#include "messages/record.hpp"
#include "messages/register_types.hpp"

namespace actorkv::test {

/// actorkv's types, 2 scheduler threads, CAF's logger quiet.
inline caf::actor_system_config& test_config(caf::actor_system_config& cfg) {
  register_types(cfg);
  cfg.set("scheduler.max-threads", 2);
  cfg.set("logger.verbosity", caf::atom("quiet"));
  return cfg;
}

/// The bytes of a string.
inline bytes b(const std::string& s) {
  return bytes(s.begin(), s.end());
}

} // namespace actorkv::test
