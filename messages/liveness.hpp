// Failure detection between nodes: the answer to a liveness probe (with the clocks that ride on
// it) and SWIM's messages (cluster-config/swim.hpp, actors/node/swim_detector.hpp), which carry
// rumors of suspicion and verdicts piggybacked on the probes themselves.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <caf/meta/type_name.hpp>

namespace actorkv {

/// A node's answer to a liveness probe: its clocks when it answered.
struct clock_reading {
  int64_t wall_us = 0;  ///< its wall clock: the prober estimates the offset from it
  int64_t stamp_us = 0; ///< its hybrid clock (peek): the prober's hybrid clock follows it
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, clock_reading& x) {
  return f(caf::meta::type_name("actorkv::clock_reading"), x.wall_us, x.stamp_us);
}

/// What SWIM believes of a member.
enum class swim_health : uint8_t { alive = 0, suspect = 1, dead = 2 };

/// What a member believes about another, as the probes carry it.
struct swim_rumor {
  std::string member;
  swim_health health = swim_health::alive;
  uint64_t incarnation = 0; ///< raised only by the member itself, to refute a suspicion
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, swim_rumor& x) {
  return f(caf::meta::type_name("actorkv::swim_rumor"), x.member, x.health, x.incarnation);
}

/// A direct probe, with the prober's rumors (and what it believes of the probed member itself
/// when that is a suspicion, so that the member can refute it at once). The ack likewise carries
/// what the probed member believes of the prober (`from`) when that is a suspicion or a verdict:
/// a node declared dead while it was paused is probed by nobody, but it probes others.
struct swim_ping {
  std::string from;
  std::vector<swim_rumor> rumors;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, swim_ping& x) {
  return f(caf::meta::type_name("actorkv::swim_ping"), x.from, x.rumors);
}

/// An indirect probe: the receiver probes `target` and answers whether it answered.
struct swim_relay {
  std::string target;
  std::vector<swim_rumor> rumors;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, swim_relay& x) {
  return f(caf::meta::type_name("actorkv::swim_relay"), x.target, x.rumors);
}

/// The answer to a probe: the answering node's clocks and rumors; for an indirect probe, whether
/// the target answered the helper.
struct swim_ack {
  clock_reading clock;
  std::vector<swim_rumor> rumors;
  bool reached = true;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, swim_ack& x) {
  return f(caf::meta::type_name("actorkv::swim_ack"), x.clock, x.rumors, x.reached);
}

} // namespace actorkv
