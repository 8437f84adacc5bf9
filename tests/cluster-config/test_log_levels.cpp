// Levels per subsystem (cluster-config/log_levels.hpp): --log-level's forms, what each subsystem
// ends up at, and bad words named with what is allowed.
#include <boost/test/unit_test.hpp>

#include "cluster-config/log_levels.hpp"

using namespace actorkv;

BOOST_AUTO_TEST_SUITE(log_levels_suite)

BOOST_AUTO_TEST_CASE(subsystem_names_round_trip_and_others_are_refused) {
  for (auto s : all_log_subsystems)
    BOOST_CHECK(parse_log_subsystem(to_string(s)) == s);
  BOOST_CHECK(!parse_log_subsystem("Handoff"));
  BOOST_CHECK(!parse_log_subsystem("membership"));
  BOOST_CHECK(!parse_log_subsystem(""));
  BOOST_CHECK_EQUAL(log_subsystem_names().substr(0, 20), "node, peers, gossip,");
}

BOOST_AUTO_TEST_CASE(a_plain_level_sets_every_subsystem) {
  log_levels l;
  std::string error;
  BOOST_REQUIRE(parse_log_levels("debug", l, error));
  for (auto s : all_log_subsystems)
    BOOST_CHECK(l.of(s) == log_level::debug);
}

BOOST_AUTO_TEST_CASE(pairs_set_their_subsystem_over_the_level) {
  log_levels l; // info, as without a manifest
  std::string error;
  BOOST_REQUIRE(parse_log_levels("handoff=debug,gossip=warn", l, error));
  BOOST_CHECK(l.of(log_subsystem::handoff) == log_level::debug);
  BOOST_CHECK(l.of(log_subsystem::gossip) == log_level::warning);
  BOOST_CHECK(l.of(log_subsystem::peers) == log_level::info);
  // A later pair for the same subsystem wins.
  BOOST_REQUIRE(parse_log_levels("handoff=error", l, error));
  BOOST_CHECK(l.of(log_subsystem::handoff) == log_level::error);
  BOOST_CHECK(l.of(log_subsystem::gossip) == log_level::warning);
}

BOOST_AUTO_TEST_CASE(a_plain_level_replaces_the_manifests_overrides_and_pairs_add_to_them) {
  log_levels manifest;
  manifest.level = log_level::warning;
  manifest.overrides = {{log_subsystem::storage, log_level::debug}};
  auto l = manifest;
  std::string error;
  BOOST_REQUIRE(parse_log_levels("peers=debug", l, error));
  BOOST_CHECK(l.of(log_subsystem::storage) == log_level::debug);
  BOOST_CHECK(l.of(log_subsystem::peers) == log_level::debug);
  BOOST_CHECK(l.of(log_subsystem::node) == log_level::warning);
  l = manifest;
  BOOST_REQUIRE(parse_log_levels("info,handoff=debug", l, error));
  BOOST_CHECK(l.of(log_subsystem::storage) == log_level::info);
  BOOST_CHECK(l.of(log_subsystem::handoff) == log_level::debug);
}

BOOST_AUTO_TEST_CASE(bad_words_are_named_and_change_nothing) {
  log_levels l;
  l.overrides = {{log_subsystem::clock, log_level::error}};
  std::string error;
  BOOST_CHECK(!parse_log_levels("handof=debug", l, error));
  BOOST_CHECK_EQUAL(error,
                    "--log-level: 'handof' is not a subsystem (" + log_subsystem_names() + ")");
  BOOST_CHECK(!parse_log_levels("handoff=loud", l, error));
  BOOST_CHECK_EQUAL(error, "--log-level: handoff='loud' is not a level (error, warning (warn), "
                           "info or debug)");
  BOOST_CHECK(!parse_log_levels("verbose", l, error));
  BOOST_CHECK(error.find("'verbose' is not a level") != std::string::npos);
  BOOST_CHECK(!parse_log_levels("debug,", l, error)); // an empty item is no level
  BOOST_CHECK(!parse_log_levels("", l, error));
  // Refused whole: the valid part before the bad word was not applied.
  BOOST_CHECK(!parse_log_levels("debug,gossip=nope", l, error));
  BOOST_CHECK(l.level == log_level::info);
  BOOST_CHECK(l.of(log_subsystem::clock) == log_level::error);
}

BOOST_AUTO_TEST_SUITE_END()
