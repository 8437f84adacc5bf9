// The limits on what a client write may leave its key holding: which records a write is refused
// for (with the texts a client reads), the soft limit's warning, and the log throttle.
#include <chrono>
#include <string>

#include <boost/test/unit_test.hpp>

#include "cluster-config/write_limits.hpp"
#include "messages/dvv.hpp"
#include "messages/error.hpp"

using namespace actorkv;
using namespace std::chrono_literals;

namespace {

bytes to_bytes(const std::string& s) {
  return bytes(s.begin(), s.end());
}

/// A record after `n` blind puts of `value` coordinated by replica 7 (n siblings).
record blind_puts(size_t n, const std::string& value = "v") {
  record r;
  for (size_t i = 0; i < n; ++i)
    r = dvv::update(r, {}, to_bytes(value), 7, static_cast<int64_t>(i), conflict_mode::siblings);
  return r;
}

} // namespace

BOOST_AUTO_TEST_SUITE(write_limits_checks)

BOOST_AUTO_TEST_CASE(a_blind_put_past_max_siblings_is_refused_saying_how_to_resolve) {
  write_limits limits{5, 0};
  auto four = blind_puts(4);
  auto five = dvv::update(four, {}, to_bytes("v"), 7, 10, conflict_mode::siblings);
  BOOST_TEST(!check_client_write(four, five, limits)); // 5 of 5: still allowed
  auto six = dvv::update(five, {}, to_bytes("v"), 7, 11, conflict_mode::siblings);
  auto err = check_client_write(five, six, limits);
  BOOST_TEST((err == ec::too_many_siblings));
  BOOST_TEST(describe(err) ==
             "too_many_siblings: the key has 5 siblings (concurrent versions, deletions included) "
             "and this write would leave 6, above max_siblings = 5: read the key and write it back "
             "with the context of that read to resolve them");
  // A blind delete adds a tombstone sibling: refused alike.
  auto tomb = dvv::update(five, {}, std::nullopt, 7, 12, conflict_mode::siblings);
  BOOST_TEST((check_client_write(five, tomb, limits) == ec::too_many_siblings));
}

BOOST_AUTO_TEST_CASE(a_write_with_the_read_context_resolves_and_is_accepted) {
  write_limits limits{5, 0};
  auto five = blind_puts(5);
  // Past the limit through merges (never refused): a resolving write is still accepted.
  auto seven =
      dvv::merge(five, dvv::update(record{}, {}, to_bytes("x"), 9, 1, conflict_mode::siblings),
                 conflict_mode::siblings);
  seven = dvv::merge(seven, dvv::update(record{}, {}, to_bytes("y"), 8, 1, conflict_mode::siblings),
                     conflict_mode::siblings);
  BOOST_REQUIRE_EQUAL(seven.siblings.size(), 7u);
  auto resolved =
      dvv::update(seven, seven.context, to_bytes("merged"), 7, 20, conflict_mode::siblings);
  BOOST_REQUIRE_EQUAL(resolved.siblings.size(), 1u);
  BOOST_TEST(!check_client_write(seven, resolved, limits));
  // A stale context (it saw the first five only) still leaves 3: fine. Leaving 6 is not.
  auto partial = dvv::update(seven, five.context, to_bytes("m"), 7, 21, conflict_mode::siblings);
  BOOST_REQUIRE_EQUAL(partial.siblings.size(), 3u);
  BOOST_TEST(!check_client_write(seven, partial, limits));
  write_limits two{2, 0};
  auto err = check_client_write(seven, partial, two);
  BOOST_TEST((err == ec::too_many_siblings));
  BOOST_TEST(describe(err).find("the key has 7 siblings") != std::string::npos, describe(err));
  BOOST_TEST(describe(err).find("would leave 3, above max_siblings = 2") != std::string::npos,
             describe(err));
}

BOOST_AUTO_TEST_CASE(the_record_limit_counts_every_siblings_value) {
  write_limits limits{0, 10};
  auto one = blind_puts(1, "abcd");
  BOOST_TEST(record_value_bytes(one) == 4u);
  auto two = dvv::update(one, {}, to_bytes("efgh"), 7, 5, conflict_mode::siblings);
  BOOST_TEST(record_value_bytes(two) == 8u);
  BOOST_TEST(!check_client_write(one, two, limits));
  auto three = dvv::update(two, {}, to_bytes("ijk"), 7, 6, conflict_mode::siblings);
  auto err = check_client_write(two, three, limits);
  BOOST_TEST((err == ec::record_too_large));
  BOOST_TEST(describe(err) ==
             "record_too_large: the key's values would take 11 bytes in 3 siblings (now 8 in 2), "
             "above max_record_bytes = 10: read the key and write it back with the context of "
             "that read to resolve them");
  // Tombstones hold no value; replacing both values with a small one is accepted.
  auto tomb = dvv::update(two, {}, std::nullopt, 7, 7, conflict_mode::siblings);
  BOOST_TEST(record_value_bytes(tomb) == 8u);
  BOOST_TEST(!check_client_write(two, tomb, limits));
  auto replaced =
      dvv::update(two, two.context, to_bytes("0123456789"), 7, 8, conflict_mode::siblings);
  BOOST_TEST(!check_client_write(two, replaced, limits));
}

BOOST_AUTO_TEST_CASE(zero_limits_are_not_checked) {
  auto many = blind_puts(50, "0123456789");
  BOOST_TEST(!check_client_write(record{}, many, write_limits{}));
  BOOST_TEST((check_client_write(record{}, many, write_limits{49, 0}) == ec::too_many_siblings));
  BOOST_TEST((check_client_write(record{}, many, write_limits{0, 499}) == ec::record_too_large));
}

BOOST_AUTO_TEST_CASE(the_warning_starts_past_the_soft_limit) {
  BOOST_TEST(sibling_warning_text(3, 3, 5).empty());
  BOOST_TEST(sibling_warning_text(4, 3, 5) ==
             "the key has 4 siblings, above sibling_warning = 3 (writes that would make more than "
             "5 are refused): read the key and write it back with the context of that read to "
             "resolve them");
  BOOST_TEST(sibling_warning_text(1, 25, 100).empty());
  // 0: no soft limit (a coordinator not told any limits yet); no hard limit to mention.
  BOOST_TEST(sibling_warning_text(7, 0, 5).empty());
  BOOST_TEST(sibling_warning_text(4, 3, 0) ==
             "the key has 4 siblings, above sibling_warning = 3: read the key and write it back "
             "with the context of that read to resolve them");
}

BOOST_AUTO_TEST_CASE(the_log_hears_of_a_key_once_per_interval) {
  warning_throttle t{60s, 3};
  warning_throttle::time_point start{};
  auto a = to_bytes("a");
  BOOST_TEST(t.due(a, start));
  BOOST_TEST(!t.due(a, start + 1s));
  BOOST_TEST(!t.due(a, start + 59s));
  BOOST_TEST(t.due(a, start + 60s));
  BOOST_TEST(!t.due(a, start + 61s));
  // Other keys have their own interval.
  BOOST_TEST(t.due(to_bytes("b"), start + 61s));
  BOOST_TEST(t.due(to_bytes("c"), start + 62s));
  // Full (3 keys): a new key evicts the oldest warning ("a", at 60 s), so its memory stays
  // bounded; the evicted key is due again at once.
  BOOST_TEST(t.due(to_bytes("d"), start + 63s));
  BOOST_TEST(!t.due(to_bytes("b"), start + 64s));
  BOOST_TEST(t.due(a, start + 65s));
  // Once their interval passed, remembered keys are forgotten to make room.
  BOOST_TEST(t.due(to_bytes("e"), start + 200s));
  BOOST_TEST(!t.due(to_bytes("e"), start + 201s));
}

BOOST_AUTO_TEST_SUITE_END()
