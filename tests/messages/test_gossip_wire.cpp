// The gossip messages (view_digest, view_delta, tombstones) through CAF's binary serializer, as
// BASP sends them, and what one idle gossip exchange costs at n = 1,000, Q = 65,536: the whole
// view both ways before digests, a digest and an empty answer since.
#include <boost/test/unit_test.hpp>

#include <cstdio>
#include <string>
#include <vector>

#include <caf/all.hpp>

#include "cluster-config/membership_view.hpp"
#include "messages/error.hpp"
#include "messages/register_types.hpp"

using namespace actorkv;

namespace {

struct gossip_fixture {
  caf::actor_system_config cfg;
  caf::actor_system sys;

  static caf::actor_system_config& configured(caf::actor_system_config& cfg) {
    register_types(cfg);
    return cfg;
  }

  gossip_fixture() : sys(configured(cfg)) {}

  template <class T>
  std::vector<char> bytes_of(T x) {
    std::vector<char> buf;
    caf::binary_serializer sink{sys, buf};
    BOOST_REQUIRE(!sink(x));
    return buf;
  }

  template <class T>
  T round_trip(T x) {
    auto buf = bytes_of(std::move(x));
    T out;
    caf::binary_deserializer source{sys, buf};
    auto err = source(out);
    BOOST_REQUIRE_MESSAGE(!err, "deserializing failed: " << describe(err));
    return out;
  }
};

std::string node_name(int i) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "node-%04d", i);
  return buf;
}

/// n members named node-0000.. on 127.0.x.y in three zones, a ring of q partitions dealt round
/// (the owner names' bytes are what matter here, not the balance).
membership_view big_view(int n, uint32_t q) {
  membership_view v;
  for (int i = 0; i < n; ++i)
    v.members.push_back(member_info{
        node_name(i), "127.0." + std::to_string(i / 250) + "." + std::to_string(i % 250 + 1), 7100,
        1, member_state::valid, 1000 + uint64_t(i), 1'700'000'000'000'000 + uint64_t(i),
        "zone-" + std::string(1, char('a' + i % 3))});
  for (uint32_t p = 0; p < q; ++p)
    v.layout.owners.push_back(node_name(int(p % uint32_t(n))));
  return v;
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(gossip_wire, gossip_fixture)

BOOST_AUTO_TEST_CASE(digests_deltas_and_tombstones_round_trip) {
  membership_view v;
  v.members.push_back(member_info{"n1", "127.0.0.1", 7101, 2, member_state::valid, 5, 9, "a"});
  v.layout.epoch = 4;
  v.layout.owners = {"n1", "n1"};
  v.layout.next_owners = {"n1", "n1"};
  v.layout.done = {partition_transfer{1, "n1"}};
  v.tombstones.push_back(member_tombstone{"n0", UINT64_MAX});
  v.retired = {3, UINT64_MAX - 1};
  auto view = round_trip(v);
  BOOST_TEST((view.retired == v.retired));
  BOOST_TEST((view == v));
  BOOST_TEST(view.format == membership_format);

  auto d = digest_of(v);
  auto digest = round_trip(d);
  BOOST_TEST(digest.format == membership_format);
  BOOST_REQUIRE_EQUAL(digest.members.size(), 2u);
  BOOST_TEST(digest.members[0].name == "n0");
  BOOST_TEST(digest.members[0].version == UINT64_MAX);
  BOOST_TEST(digest.members[1].stamp == d.members[1].stamp);
  BOOST_TEST((digest.ring == d.ring));
  BOOST_TEST(digest.retired.count == 2u);
  BOOST_TEST((digest.retired == d.retired));

  view_delta x;
  x.members = v.members;
  x.tombstones = v.tombstones;
  x.wanted = {"n7", "n8"};
  x.ring_of = d.ring;
  x.ring_sent = ring_part::done;
  x.ring.epoch = 4;
  x.ring.done = v.layout.done;
  x.ring_wanted = ring_part::full;
  x.retired = v.retired;
  x.retired_wanted = true;
  auto delta = round_trip(x);
  BOOST_TEST((delta.retired == v.retired));
  BOOST_TEST(delta.retired_wanted);
  BOOST_TEST(delta.format == membership_format);
  BOOST_TEST(delta.members.size() == 1u);
  BOOST_TEST(delta.tombstones[0].name == "n0");
  BOOST_TEST((delta.wanted == x.wanted));
  BOOST_TEST((delta.ring_of == d.ring));
  BOOST_TEST((delta.ring_sent == ring_part::done));
  BOOST_TEST((delta.ring.done == x.ring.done));
  BOOST_TEST((delta.ring_wanted == ring_part::full));
}

BOOST_AUTO_TEST_CASE(an_idle_exchange_at_1000_members_and_q_65536_costs_a_digest) {
  auto a = big_view(1000, 65536);
  auto b = a;
  auto whole = bytes_of(a).size();
  // Before: the starter sent its view, the peer answered with the merged one.
  auto before = 2 * whole;
  // Now: the digest, and an answer that carries nothing (nothing goes back).
  auto digest = digest_of(a);
  auto answer = answer_digest(b, digest_of(b), digest);
  BOOST_REQUIRE(carries_nothing(answer));
  BOOST_REQUIRE(carries_nothing(fulfil(a, digest.ring, answer)));
  // (Sizes first: a check inside BOOST_TEST_MESSAGE's argument would swallow the message.)
  auto digest_bytes = bytes_of(digest).size();
  auto answer_bytes = bytes_of(answer).size();
  auto after = digest_bytes + answer_bytes;
  BOOST_TEST_MESSAGE("idle gossip exchange, n = 1,000, Q = 65,536: whole views "
                     << before << " bytes (view " << whole << "), digests " << after
                     << " bytes (digest " << digest_bytes << ", answer " << answer_bytes << ")");
  // O(members): about 30 bytes a member, nothing per partition.
  BOOST_TEST(after < 1000u * 40u);
  BOOST_TEST(after * 20 < before);
  // One member changed: the answer carries that entry, not the ring.
  upsert(b, member_info{node_name(500), "127.0.2.1", 7100, 1, member_state::leaving, 1500,
                        1'800'000'000'000'000, "zone-c"});
  auto one = answer_digest(b, digest_of(b), digest);
  BOOST_TEST(one.members.size() == 1u);
  BOOST_TEST((one.ring_sent == ring_part::none));
  auto one_bytes = bytes_of(one).size();
  BOOST_TEST_MESSAGE("one member changed: answer " << one_bytes << " bytes");
  BOOST_TEST(one_bytes < 200u);
}

BOOST_AUTO_TEST_SUITE_END()
