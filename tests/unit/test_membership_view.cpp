#include <boost/test/unit_test.hpp>

#include <random>

#include "cluster-config/membership_view.hpp"

using namespace actorkv;

namespace {

member_info member(const std::string& name, uint64_t version, uint64_t incarnation = 1,
                   member_state state = member_state::valid) {
  return member_info{name, "127.0.0.1", 7100, 1, state, incarnation, version};
}

membership_view view_of(std::initializer_list<member_info> ms) {
  membership_view v;
  for (auto& m : ms)
    upsert(v, m);
  return v;
}

} // namespace

BOOST_AUTO_TEST_SUITE(membership_views)

BOOST_AUTO_TEST_CASE(newer_entry_wins_and_unknown_members_are_learnt) {
  auto a = view_of({member("n1", 5, 11), member("n2", 1)});
  auto b = view_of({member("n1", 7, 12), member("n3", 1)});
  auto m = merge(a, b);
  BOOST_REQUIRE(m.members.size() == 3u);
  BOOST_TEST(find_member(m, "n1")->incarnation == 12u);
  BOOST_TEST(find_member(m, "n2") != nullptr);
  BOOST_TEST(find_member(m, "n3") != nullptr);
}

BOOST_AUTO_TEST_CASE(equal_versions_resolve_the_same_way_everywhere) {
  auto a = view_of({member("n1", 5, 11, member_state::valid)});
  auto b = view_of({member("n1", 5, 11, member_state::removed)});
  BOOST_TEST((merge(a, b) == merge(b, a)));
  BOOST_TEST((find_member(merge(a, b), "n1")->state == member_state::removed));
}

BOOST_AUTO_TEST_CASE(gossip_in_any_order_converges) {
  unsigned seed = std::random_device{}();
  if (auto* env = std::getenv("ACTORKV_SEED"))
    seed = static_cast<unsigned>(std::stoul(env));
  BOOST_TEST_MESSAGE("seed " << seed);
  std::mt19937 rng{seed};
  // Five nodes each know a different random history; pairwise push-pull gossip in random order.
  std::vector<membership_view> views(5);
  for (auto& v : views)
    for (int k = 0; k < 6; ++k)
      upsert(v, member("n" + std::to_string(rng() % 6), rng() % 4, rng() % 3,
                       static_cast<member_state>(rng() % 3)));
  membership_view all;
  for (auto& v : views)
    all = merge(all, v);
  for (int round = 0; round < 200; ++round) {
    auto i = rng() % 5, j = rng() % 5;
    auto m = merge(views[i], views[j]);
    views[i] = m;
    views[j] = m;
  }
  for (auto& v : views) {
    BOOST_TEST((v == all), "seed " << seed);
    BOOST_TEST(fingerprint(v) == fingerprint(all));
  }
  BOOST_TEST((merge(all, all) == all));
}

BOOST_AUTO_TEST_SUITE_END()
