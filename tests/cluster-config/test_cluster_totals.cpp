// Cluster-wide figures (cluster-config/cluster_totals.hpp): the sums are those of the members
// that answered, the others are named, and members gone for good are not asked.
#include <boost/test/unit_test.hpp>

#include "cluster-config/cluster_totals.hpp"

using namespace actorkv;

namespace {

member_answer answered(const std::string& name, uint64_t hints, uint64_t sent, uint64_t repairs) {
  member_answer a;
  a.name = name;
  a.answered = true;
  a.status.node = name;
  a.status.pending_hints = hints;
  a.status.handoff_keys_sent = sent;
  a.status.ae_repairs_total = repairs;
  a.status.ae_rounds = 1;
  a.status.memory_in_flight = 100;
  a.status.tombstones_collected = 2;
  a.status.entries_pruned = 3;
  return a;
}

member_answer silent(const std::string& name) {
  member_answer a;
  a.name = name;
  a.error = "timeout";
  a.message = "no answer within 2000 ms";
  return a;
}

} // namespace

BOOST_AUTO_TEST_SUITE(cluster_totals_suite)

BOOST_AUTO_TEST_CASE(sums_are_those_of_every_member_that_answered) {
  auto t =
      sum_members({answered("n1", 10, 5, 1), answered("n2", 0, 7, 2), answered("n3", 32, 0, 0)});
  BOOST_TEST(t.members == 3u);
  BOOST_TEST(t.answered == 3u);
  BOOST_TEST(t.complete());
  BOOST_TEST(t.pending_hints == 42u);
  BOOST_TEST(t.handoff_keys_sent == 12u);
  BOOST_TEST(t.ae_repairs_total == 3u);
  BOOST_TEST(t.ae_rounds == 3u);
  BOOST_TEST(t.memory_in_flight == 300u);
  BOOST_TEST(t.tombstones_collected == 6u);
  BOOST_TEST(t.entries_pruned == 9u);
}

BOOST_AUTO_TEST_CASE(members_that_did_not_answer_are_named_not_counted) {
  auto lost = answered("n2", 1000, 1000, 1000);
  lost.answered = false; // a stale figure in a failed answer must not count
  auto t = sum_members({answered("n1", 10, 5, 1), lost, silent("n3")});
  BOOST_TEST(t.members == 3u);
  BOOST_TEST(t.answered == 1u);
  BOOST_TEST(!t.complete());
  BOOST_TEST((t.unreachable == std::vector<std::string>{"n2", "n3"}));
  BOOST_TEST(t.pending_hints == 10u);
  BOOST_TEST(t.handoff_keys_sent == 5u);
}

BOOST_AUTO_TEST_CASE(no_members_sum_to_zero_and_count_as_complete) {
  auto t = sum_members({});
  BOOST_TEST(t.members == 0u);
  BOOST_TEST(t.complete());
  BOOST_TEST(t.pending_hints == 0u);
}

BOOST_AUTO_TEST_CASE(members_gone_for_good_are_not_asked) {
  member_status m;
  m.state = "valid";
  BOOST_TEST(asked_in_cluster_view(m));
  m.state = "leaving";
  BOOST_TEST(asked_in_cluster_view(m));
  m.state = "removed";
  BOOST_TEST(!asked_in_cluster_view(m));
  m.state = "left";
  BOOST_TEST(!asked_in_cluster_view(m));
  m.partitions = 3; // still owns partitions until the handoff finishes: still asked
  BOOST_TEST(asked_in_cluster_view(m));
}

BOOST_AUTO_TEST_SUITE_END()
