// What the in-process actor suites share.
#pragma once

#include <chrono>
#include <string>

#include <caf/actor_system_config.hpp>
#include <caf/after.hpp>
#include <caf/scoped_actor.hpp>

#include "messages/error.hpp"
#include "messages/interfaces.hpp"
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

/// One client call through `to` (a coordinator), as a client actor makes it: a batch of one,
/// answered in a batch. An answer with ec::timeout when none came within 10 s.
inline client_answer call(caf::scoped_actor& self, const client_requests_actor& to,
                          client_call c) {
  client_answer out;
  out.err = caf::make_error(ec::timeout, "no answer within 10 s");
  self->send(to, batch_atom::value, std::vector<client_call>{std::move(c)});
  self->receive(
      [&](batch_atom, std::vector<client_answer>& answers) {
        if (answers.size() == 1)
          out = std::move(answers[0]);
      },
      caf::after(std::chrono::seconds(10)) >> [] {});
  return out;
}

inline client_call put_call(bytes key, bytes value, bytes context = {}) {
  return client_call{0, client_call_kind::put, std::move(key), std::move(value),
                     std::move(context)};
}

inline client_call get_call(bytes key) {
  return client_call{0, client_call_kind::get, std::move(key), {}, {}};
}

inline client_call delete_call(bytes key, bytes context) {
  return client_call{0, client_call_kind::del, std::move(key), {}, std::move(context)};
}

} // namespace actorkv::test
