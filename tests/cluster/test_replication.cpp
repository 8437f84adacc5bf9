// Real kvnode processes on distinct loopback addresses: replication, siblings, read repair,
// strict quorum failures and capacity-weighted ownership, as a user sees them.
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <chrono>
#include <random>
#include <sstream>
#include <string>

#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include "actors/client/client.hpp"
#include "cluster-config/ring.hpp"
#include "messages/dvv.hpp"
#include "messages/error.hpp"
#include "messages/register_types.hpp"
#include "storage/engine.hpp"
#include "tests/cluster/common.hpp"

using namespace actorkv;
using namespace actorkv::test;
using namespace std::chrono_literals;

namespace {

local_cluster::options three_nodes() {
  local_cluster::options o;
  o.nodes = 3;
  o.partitions = 64;
  o.extra_toml = "[timeouts]\nrequest_ms = 2000\nclient_ms = 5000\n";
  return o;
}

/// The visible values of `key` in the stopped node's database (read with checksums verified);
/// a test failure when the record is damaged or missing.
std::vector<std::string> stored_values(const std::string& data_dir, const std::string& key) {
  auto engine = storage::open_sqlite_engine(data_dir + "/actorkv.db", storage::sync_mode::normal);
  BOOST_REQUIRE(engine);
  bytes k(key.begin(), key.end());
  auto rec = (*engine)->get(partition_of(k, 64), k);
  BOOST_REQUIRE_MESSAGE(rec, key << " is damaged in " << data_dir << ": "
                                 << (rec ? "" : describe(rec.error())));
  BOOST_REQUIRE_MESSAGE(rec->has_value(), key << " missing in " << data_dir);
  std::vector<std::string> out;
  auto now = std::chrono::duration_cast<std::chrono::microseconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count();
  for (auto* s : dvv::visible(**rec, now))
    out.emplace_back(s->value.begin(), s->value.end());
  return out;
}

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in{text};
  for (std::string line; std::getline(in, line);)
    out.push_back(line);
  return out;
}

/// In-process clients for tests that need contexts between operations.
struct context_clients : client_system {
  caf::scoped_actor self{sys};

  client_actor client(const std::string& endpoint) {
    return spawn_client(sys, client_options{{endpoint}, 5s});
  }

  caf::expected<get_reply> get(const client_actor& c, const std::string& key) {
    caf::expected<get_reply> out{caf::error{}};
    self->request(c, 10s, caf::get_atom::value, bytes(key.begin(), key.end()))
        .receive([&](get_reply& r) { out = std::move(r); }, [&](caf::error& e) { out = e; });
    return out;
  }

  caf::expected<write_reply> put(const client_actor& c, const std::string& key,
                                 const std::string& value, const bytes& context) {
    caf::expected<write_reply> out{caf::error{}};
    self->request(
            c, 10s, caf::put_atom::value,
            put_request{bytes(key.begin(), key.end()), bytes(value.begin(), value.end()), context})
        .receive([&](write_reply& r) { out = r; }, [&](caf::error& e) { out = e; });
    return out;
  }
};

} // namespace

BOOST_AUTO_TEST_SUITE(replicated_cluster)

BOOST_AUTO_TEST_CASE(writes_through_any_node_are_read_through_every_node) {
  local_cluster c{three_nodes()};
  c.start_all();
  wait_until_all_up(c);
  auto r = c.kvsh(0, "put user:1 alice\n");
  BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  for (size_t i = 0; i < 3; ++i)
    BOOST_TEST(c.kvsh(i, "get user:1\n").out == "alice\n", "through node " << i);
  // 1,000 keys written through random nodes, all read back through each node.
  std::mt19937 rng{42};
  std::vector<std::string> scripts(3);
  std::string gets, expected;
  for (int k = 0; k < 1000; ++k) {
    auto key = "key-" + std::to_string(k);
    scripts[rng() % 3] += "put " + key + " value-" + std::to_string(k) + "\n";
    gets += "get " + key + "\n";
    expected += "value-" + std::to_string(k) + "\n";
  }
  for (size_t i = 0; i < 3; ++i) {
    r = c.kvsh(i, scripts[i], 120s);
    BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  }
  for (size_t i = 0; i < 3; ++i) {
    r = c.kvsh(i, gets, 120s);
    BOOST_TEST(r.exit_code == 0, r.err);
    BOOST_TEST((r.out == expected), "reads through node " << i);
  }
}

BOOST_AUTO_TEST_CASE(concurrent_writes_become_siblings_and_a_context_put_resolves_them) {
  local_cluster c{three_nodes()};
  c.start_all();
  wait_until_all_up(c);
  BOOST_REQUIRE(c.kvsh(0, "put cart apples\n").exit_code == 0);
  BOOST_REQUIRE(c.kvsh(1, "put cart pears\n").exit_code == 0);
  auto r = c.kvsh(2, "get cart\n");
  BOOST_TEST(r.exit_code == 0, r.err);
  auto out = lines(r.out);
  BOOST_REQUIRE(out.size() == 4u);
  BOOST_TEST(out[0] == "(2 siblings)");
  std::vector<std::string> values{out[1].substr(4), out[2].substr(4)};
  std::sort(values.begin(), values.end());
  BOOST_TEST(values == (std::vector<std::string>{"apples", "pears"}));
  auto ctx = context_from(r.out);
  BOOST_REQUIRE(!ctx.empty());
  BOOST_REQUIRE(c.kvsh(2, "put cart apples,pears --context " + ctx + "\n").exit_code == 0);
  for (size_t i = 0; i < 3; ++i)
    BOOST_TEST(c.kvsh(i, "get cart\n").out == "apples,pears\n", "through node " << i);
}

BOOST_AUTO_TEST_CASE(one_node_killed_then_restarted_is_read_repaired) {
  local_cluster c{three_nodes()};
  c.start_all();
  wait_until_all_up(c);
  BOOST_REQUIRE(c.kvsh(0, "put k1 old\nput k2 old\n").exit_code == 0);
  c.kill(2);
  // R = W = 2 of 3: still available.
  auto r = c.kvsh(0, "put k1 new --context " + context_from(c.kvsh(0, "get k1 --context\n").out) +
                         "\nget k1\nput k3 fresh\nget k2\n");
  BOOST_TEST(r.exit_code == 0, r.err);
  BOOST_TEST(r.out == "ok\nnew\nok\nold\n");
  // For scripts, status exits 4 while a member is down.
  BOOST_TEST(eventually(std::chrono::seconds(10),
                        [&] { return c.kvsh(0, "status\n").exit_code == 4; }));
  c.start(2);
  wait_until_all_up(c);
  // Reads through the restarted node return the newest values...
  r = c.kvsh(2, "get k1\nget k3\n");
  BOOST_TEST(r.exit_code == 0, r.err);
  BOOST_TEST(r.out == "new\nfresh\n");
  // ...and that read repaired its own replica: stop everything and look at n3's storage.
  std::this_thread::sleep_for(500ms);
  for (size_t i = 0; i < 3; ++i)
    c.stop(i);
  for (std::string key : {"k1", "k3"})
    BOOST_TEST(stored_values(c.data_dir(2), key) ==
                   std::vector<std::string>{key == "k1" ? "new" : "fresh"},
               key);
}

BOOST_AUTO_TEST_CASE(flipped_byte_on_one_replica_is_never_returned_and_is_repaired) {
  local_cluster c{three_nodes()};
  c.start_all();
  wait_until_all_up(c);
  const std::string value = "precious-value-0123456789";
  BOOST_REQUIRE(c.kvsh(0, "put victim " + value + "\n").exit_code == 0);
  // N = 3 of 3 nodes: n2 holds a copy. Damage it while n2 is stopped.
  BOOST_REQUIRE(eventually(5s, [&] { return stored_records(c.data_dir(1)) == 1; }));
  BOOST_REQUIRE(c.stop(1) == 0);
  BOOST_REQUIRE(flip_byte_in_stored_value(c.data_dir(1), "precious"));
  c.start(1);
  wait_until_all_up(c);
  // Through the damaged node and through another: the intact value, never the damaged one.
  for (size_t via : {1, 0}) {
    auto r = c.kvsh(via, "get victim\n");
    BOOST_TEST(r.exit_code == 0, r.err);
    BOOST_TEST(r.out == value + "\n", "via n" << via + 1);
  }
  BOOST_TEST(c.log(1).find("record checksum mismatch") != std::string::npos);
  // Repaired from the other replicas: n2's own storage holds the intact record again.
  std::this_thread::sleep_for(500ms);
  for (size_t i = 0; i < 3; ++i)
    c.stop(i);
  BOOST_TEST(stored_values(c.data_dir(1), "victim") == std::vector<std::string>{value});
}

BOOST_AUTO_TEST_CASE(two_of_three_down_in_strict_mode_is_unavailable) {
  local_cluster c{three_nodes()};
  c.start_all();
  wait_until_all_up(c);
  c.kill(1);
  c.kill(2);
  auto started = std::chrono::steady_clock::now();
  auto r = c.kvsh(0, "put k v\n");
  auto took = std::chrono::steady_clock::now() - started;
  BOOST_TEST(r.exit_code == 1);
  BOOST_TEST(r.err.find("unavailable") != std::string::npos, r.err);
  BOOST_TEST((took < 10s));
  r = c.kvsh(0, "get k\n");
  BOOST_TEST(r.exit_code == 1);
  BOOST_TEST(r.err.find("unavailable") != std::string::npos, r.err);
}

BOOST_AUTO_TEST_CASE(status_shows_capacity_weighted_ownership) {
  local_cluster::options o;
  o.nodes = 5;
  o.partitions = 256;
  o.capacities = {1, 1, 1, 1, 2};
  local_cluster c{o};
  c.start_all();
  auto r = c.kvsh(0, "status\n");
  // 4: some member is not reached yet, which does not matter to the ownership shown.
  BOOST_REQUIRE_MESSAGE(r.exit_code == 0 || r.exit_code == 4, r.err);
  // NAME ENDPOINT CAPACITY STATE PARTITIONS SHARE ZONE MEMBER
  std::map<std::string, int> owned;
  for (auto& line : lines(r.out)) {
    std::istringstream in{line};
    std::string name, endpoint, state, share, zone;
    int capacity = 0, partitions = 0;
    if (in >> name >> endpoint >> capacity >> state >> partitions >> share >> zone &&
        name[0] == 'n') {
      owned[name] = partitions;
      BOOST_TEST(zone == "default", line); // the manifest gives no zones
    }
  }
  BOOST_REQUIRE_MESSAGE(owned.size() == 5u, r.out);
  BOOST_TEST(std::abs(owned["n5"] - 256.0 / 3) <= 256.0 / 3 * 0.1, r.out);
  for (auto n : {"n1", "n2", "n3", "n4"})
    BOOST_TEST(std::abs(owned[n] - 256.0 / 6) <= 256.0 / 6 * 0.1, r.out);
}

BOOST_AUTO_TEST_CASE(interleaved_read_modify_write_keeps_siblings_bounded) {
  local_cluster c{three_nodes()};
  c.start_all();
  wait_until_all_up(c);
  context_clients cs;
  auto a = cs.client(c.endpoint(0));
  auto b = cs.client(c.endpoint(1));
  size_t most = 0;
  for (int round = 0; round < 200; ++round) {
    // Both read, then both write with what they read: the worst interleaving for siblings.
    auto ra = cs.get(a, "counter");
    auto rb = cs.get(b, "counter");
    BOOST_REQUIRE(ra);
    BOOST_REQUIRE(rb);
    most = std::max({most, ra->values.size(), rb->values.size()});
    BOOST_REQUIRE(cs.put(a, "counter", "a" + std::to_string(round), ra->context));
    BOOST_REQUIRE(cs.put(b, "counter", "b" + std::to_string(round), rb->context));
  }
  auto last = cs.get(a, "counter");
  BOOST_REQUIRE(last);
  BOOST_TEST(most <= 2u);
  BOOST_TEST(last->values.size() <= 2u);
  BOOST_TEST_MESSAGE("most siblings seen: " << most);
  caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(b, caf::exit_reason::user_shutdown);
}

BOOST_AUTO_TEST_SUITE_END()
