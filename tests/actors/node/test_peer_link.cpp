// Peer link and replica gateway in one process: a storage actor over the in-memory engine behind
// a gateway, and a link to that gateway, as a coordinator on another node would use them.
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <thread>

#include <caf/all.hpp>

#include "actors/node/peer_link.hpp"
#include "actors/node/storage_actor.hpp"
#include "messages/error.hpp"
#include "messages/register_types.hpp"
#include "storage/engine.hpp"
#include "tests/actors/node/common.hpp"

using namespace actorkv;
using namespace actorkv::test;
using namespace std::chrono_literals;

namespace {

record one_value(replica_id id, uint64_t counter, const bytes& value) {
  record rec;
  rec.context.entries.push_back(dot{id, counter});
  sibling s;
  s.origin = dot{id, counter};
  s.value = value;
  rec.siblings.push_back(s);
  return rec;
}

struct link_fixture {
  caf::actor_system_config cfg;
  caf::actor_system sys{test_config(cfg)};
  caf::scoped_actor self{sys};
  storage_actor storage =
      spawn_storage(sys, std::shared_ptr<storage::engine>{storage::make_memory_engine()},
                    storage_options{"n1", 1, conflict_mode::siblings});
  local_gateway_actor gateway = spawn_replica_gateway(sys, storage);

  /// Makes the gateway drop (or, with `drop` false, serve) every batch from this process.
  void drop_from_here(bool drop) {
    fault_rules rules;
    if (drop)
      rules.by_process[sys.node()] = fault_rule{true, 0};
    caf::anon_send(gateway, fault_atom::value, std::move(rules));
  }

  ~link_fixture() {
    caf::anon_send_exit(gateway, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(storage, caf::exit_reason::user_shutdown);
  }

  /// Sends `count` merges of keys k0.. (each its own value, `value_bytes` long when larger than
  /// its name) through `link` in batches of `per_batch` calls, all in flight at once, then reads
  /// them all back through it the same way. Returns how many reads answered with their own
  /// key's value; every failure's description goes to `errors`.
  size_t round_trip(const peer_link_actor& link, size_t count, size_t value_bytes,
                    std::vector<std::string>& errors, size_t per_batch = 10) {
    struct outcome {
      size_t matched = 0;
      std::vector<std::string> errors;
    };
    auto result = std::make_shared<outcome>();
    auto value_of = [=](size_t i) {
      auto v = b("v" + std::to_string(i));
      if (value_bytes > v.size())
        v.resize(value_bytes, static_cast<uint8_t>('a' + i % 26));
      return v;
    };
    // Batches of calls, each call's id its key's number.
    auto batches = [=](replica_call_kind kind) {
      std::vector<std::vector<replica_call>> out;
      for (size_t i = 0; i < count; ++i) {
        if (i % per_batch == 0)
          out.emplace_back();
        replica_call c;
        c.id = i;
        c.kind = kind;
        c.key = b("k" + std::to_string(i));
        if (kind == replica_call_kind::merge)
          c.rec = one_value(7, i + 1, value_of(i));
        out.back().push_back(std::move(c));
      }
      return out;
    };
    auto waiter = caf::actor_cast<caf::actor>(self);
    sys.spawn([=](caf::event_based_actor* driver) {
      auto send_all = [=](replica_call_kind kind, std::function<void(replica_answer&)> check,
                          std::function<void()> then) {
        auto all = batches(kind);
        auto left = std::make_shared<size_t>(all.size());
        for (auto& batch : all) {
          auto sent = batch.size();
          driver->request(link, 30s, batch_atom::value, std::move(batch))
              .then(
                  [=](std::vector<replica_answer>& answers) {
                    if (answers.size() != sent)
                      result->errors.push_back("batch of " + std::to_string(sent) + " got " +
                                               std::to_string(answers.size()) + " answers");
                    for (auto& a : answers)
                      check(a);
                    if (--*left == 0)
                      then();
                  },
                  [=](caf::error& e) {
                    result->errors.push_back("batch: " + describe(e));
                    if (--*left == 0)
                      then();
                  });
        }
      };
      auto read_check = [=](replica_answer& a) {
        if (a.err)
          result->errors.push_back("read: " + describe(a.err));
        else if (a.read.found && a.read.rec.siblings.size() == 1 &&
                 a.read.rec.siblings[0].value == value_of(a.id))
          ++result->matched;
      };
      auto merge_check = [=](replica_answer& a) {
        if (a.err)
          result->errors.push_back("merge: " + describe(a.err));
      };
      send_all(replica_call_kind::merge, merge_check, [=] {
        send_all(replica_call_kind::read, read_check,
                 [=] { driver->send(waiter, caf::ok_atom::value); });
      });
    });
    bool finished = false;
    self->receive([&](caf::ok_atom) { finished = true; },
                  caf::after(std::chrono::seconds(30)) >> [&] {});
    BOOST_REQUIRE_MESSAGE(finished, "the round trip did not finish within 30 s");
    errors = result->errors;
    return result->matched;
  }

  /// A batch of one read of "k".
  static std::vector<replica_call> one_read() {
    replica_call c;
    c.kind = replica_call_kind::read;
    c.key = b("k");
    return {c};
  }

  /// One read through `link`, with `meanwhile` run once it is sent; the error it failed with,
  /// and how long it took.
  std::pair<caf::error, std::chrono::milliseconds>
  failing_read(const peer_link_actor& link, const std::function<void()>& meanwhile = {}) {
    caf::error out;
    auto start = std::chrono::steady_clock::now();
    auto answer = self->request(link, 20s, batch_atom::value, one_read());
    if (meanwhile)
      meanwhile();
    answer.receive(
        [&](std::vector<replica_answer>& answers) {
          if (answers.size() == 1)
            out = answers[0].err;
        },
        [&](caf::error& e) { out = e; });
    return {out, std::chrono::duration_cast<std::chrono::milliseconds>(
                     std::chrono::steady_clock::now() - start)};
  }
};

} // namespace

BOOST_AUTO_TEST_SUITE(peer_link)

BOOST_FIXTURE_TEST_CASE(many_requests_in_flight_each_get_their_own_answer, link_fixture) {
  auto link = spawn_peer_link(sys, gateway, 5s);
  std::vector<std::string> errors;
  auto matched = round_trip(link, 500, 0, errors);
  BOOST_TEST(errors.empty(), (errors.empty() ? "" : errors.front()));
  BOOST_TEST(matched == 500u);
  caf::anon_send_exit(link, caf::exit_reason::user_shutdown);
}

BOOST_FIXTURE_TEST_CASE(large_values_are_split_over_batches, link_fixture) {
  // 40 values of 100 KiB in flight at once: 4 MB, cut into batches of at most max_batch_bytes.
  auto link = spawn_peer_link(sys, gateway, 5s);
  std::vector<std::string> errors;
  auto matched = round_trip(link, 40, 100 * 1024, errors);
  BOOST_TEST(errors.empty(), (errors.empty() ? "" : errors.front()));
  BOOST_TEST(matched == 40u);
  caf::anon_send_exit(link, caf::exit_reason::user_shutdown);
}

BOOST_FIXTURE_TEST_CASE(a_gone_peer_fails_requests_at_once_not_at_the_timeout, link_fixture) {
  auto link = spawn_peer_link(sys, gateway, 15s);
  caf::anon_send_exit(gateway, caf::exit_reason::kill);
  auto [err, took] = failing_read(link);
  BOOST_TEST((err == caf::sec::request_receiver_down), describe(err));
  BOOST_TEST(took.count() < 2000, "took " << took.count() << " ms");
}

BOOST_FIXTURE_TEST_CASE(a_link_told_to_exit_fails_what_is_in_flight, link_fixture) {
  // The gateway drops everything (an injected cut), so requests stay in flight until the link
  // exits, as it does when its peer is marked down.
  drop_from_here(true);
  auto link = spawn_peer_link(sys, gateway, 15s);
  auto [err, took] = failing_read(link, [&] {
    std::this_thread::sleep_for(200ms);
    caf::anon_send_exit(link, caf::exit_reason::user_shutdown);
  });
  BOOST_TEST((err == caf::sec::request_receiver_down), describe(err));
  BOOST_TEST(took.count() < 5000, "took " << took.count() << " ms");
}

BOOST_FIXTURE_TEST_CASE(a_dropped_batch_fails_by_the_link_timeout, link_fixture) {
  drop_from_here(true);
  auto link = spawn_peer_link(sys, gateway, 300ms);
  auto [err, took] = failing_read(link);
  BOOST_TEST((err == caf::sec::request_timeout), describe(err));
  BOOST_TEST(took.count() >= 300);
  BOOST_TEST(took.count() < 5000, "took " << took.count() << " ms");
  // Healed, the same link serves again.
  drop_from_here(false);
  std::vector<std::string> errors;
  BOOST_TEST(round_trip(link, 10, 0, errors) == 10u);
  caf::anon_send_exit(link, caf::exit_reason::user_shutdown);
}

BOOST_AUTO_TEST_SUITE_END()
