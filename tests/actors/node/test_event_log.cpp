// The log line formats: text and JSON (one object per line), and the level words.
#include <boost/test/unit_test.hpp>

#include <string>

#include "actors/node/event_log.hpp"

using namespace actorkv;

namespace {

/// 2026-01-01T00:00:00Z plus 42.007 s, in microseconds.
constexpr int64_t at = 1767225600000000 + 42007123;

} // namespace

BOOST_AUTO_TEST_SUITE(event_log)

BOOST_AUTO_TEST_CASE(text_lines_carry_time_node_level_and_message) {
  BOOST_CHECK_EQUAL(format_log_line(log_subsystem::peers, log_level::warning, "n1",
                                    "peer n2 down (closed)", at, false),
                    "2026-01-01T00:00:42.007Z n1 warning peer n2 down (closed)\n");
  BOOST_CHECK_EQUAL(format_log_line(log_subsystem::node, log_level::info, "n3", "stopped",
                                    1767225600000000, false),
                    "2026-01-01T00:00:00.000Z n3 info stopped\n");
}

BOOST_AUTO_TEST_CASE(json_lines_are_one_object_with_escaped_strings) {
  BOOST_CHECK_EQUAL(
      format_log_line(log_subsystem::storage, log_level::error, "n1",
                      "integrity check: \"bad\" page\\2\n", at, true),
      "{\"time\":\"2026-01-01T00:00:42.007Z\",\"node\":\"n1\",\"level\":\"error\","
      "\"subsystem\":\"storage\",\"message\":\"integrity check: \\\"bad\\\" page\\\\2\\n\"}\n");
  auto line = format_log_line(log_subsystem::gossip, log_level::debug, "n\t2",
                              std::string{"a\x01z"}, at, true);
  BOOST_CHECK(line.find("\"node\":\"n\\t2\"") != std::string::npos);
  BOOST_CHECK(line.find("\"message\":\"a\\u0001z\"") != std::string::npos);
  BOOST_CHECK_EQUAL(line.back(), '\n');
  BOOST_CHECK_EQUAL(line.find('\n'), line.size() - 1); // one line, whatever the message holds
}

BOOST_AUTO_TEST_CASE(level_words_round_trip_and_others_are_refused) {
  for (auto level : {log_level::error, log_level::warning, log_level::info, log_level::debug})
    BOOST_CHECK(parse_log_level(to_string(level)) == level);
  BOOST_CHECK(parse_log_level("warn") == log_level::warning);
  BOOST_CHECK(!parse_log_level("verbose"));
  BOOST_CHECK(!parse_log_level("INFO"));
}

BOOST_AUTO_TEST_SUITE_END()
