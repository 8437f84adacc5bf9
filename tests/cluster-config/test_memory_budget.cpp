// The node's memory budget: what it admits for clients and for replication, that every charge
// comes back however it ends, the refusal's text, and what a write is charged.
#include <atomic>
#include <memory>
#include <thread>
#include <utility>
#include <vector>

#include <boost/test/unit_test.hpp>

#include "cluster-config/memory_budget.hpp"
#include "messages/error.hpp"

using namespace actorkv;

BOOST_AUTO_TEST_SUITE(memory_budget_checks)

BOOST_AUTO_TEST_CASE(clients_fill_three_quarters_and_replication_the_rest) {
  auto budget = std::make_shared<memory_budget>(1000);
  BOOST_TEST(budget->ceiling(budget_class::client) == 750u);
  BOOST_TEST(budget->ceiling(budget_class::replication) == 1000u);
  auto a = budget->take(500, budget_class::client);
  BOOST_TEST(static_cast<bool>(a));
  BOOST_TEST(a.bytes() == 500u);
  auto b = budget->take(250, budget_class::client); // exactly the clients' share
  BOOST_TEST(static_cast<bool>(b));
  auto c = budget->take(1, budget_class::client);
  BOOST_TEST(!c);
  BOOST_TEST(c.bytes() == 0u);
  // Replication still gets the quarter kept for it, and not a byte more.
  auto r = budget->take(250, budget_class::replication);
  BOOST_TEST(static_cast<bool>(r));
  BOOST_TEST(!budget->take(1, budget_class::replication));
  BOOST_TEST(budget->used() == 1000u);
  BOOST_TEST(budget->refused() == 2u);
  BOOST_TEST(budget->peak() == 1000u);
}

BOOST_AUTO_TEST_CASE(every_charge_comes_back_however_it_ends) {
  auto budget = std::make_shared<memory_budget>(1000);
  {
    auto scoped = budget->take(100, budget_class::client);
    BOOST_TEST(budget->used() == 100u);
  }
  BOOST_TEST(budget->used() == 0u);
  auto a = budget->take(100, budget_class::client);
  auto moved = std::move(a); // the bytes move with it, and come back once
  BOOST_TEST(!a);
  BOOST_TEST(budget->used() == 100u);
  moved.release();
  moved.release(); // twice: nothing more
  BOOST_TEST(!moved);
  BOOST_TEST(budget->used() == 0u);
  auto b = budget->take(200, budget_class::client);
  auto c = budget->take(300, budget_class::client);
  b = std::move(c); // b's 200 go back, c's 300 stay with b
  BOOST_TEST(budget->used() == 300u);
  b = memory_budget::charge{};
  BOOST_TEST(budget->used() == 0u);
  BOOST_TEST(budget->peak() == 500u);
  // A charge keeps its budget alive: it may outlive everything else that held it.
  auto last = budget->take(10, budget_class::client);
  std::weak_ptr<memory_budget> weak = budget;
  budget.reset();
  BOOST_TEST(!weak.expired());
  last.release();
  BOOST_TEST(weak.expired());
}

BOOST_AUTO_TEST_CASE(a_charge_above_its_ceiling_passes_only_alone) {
  // Nothing may be refused forever: a request larger than the budget waits for it to empty.
  auto budget = std::make_shared<memory_budget>(1000);
  auto small = budget->take(1, budget_class::replication);
  BOOST_TEST(!budget->take(800, budget_class::client));
  small.release();
  auto big = budget->take(5000, budget_class::client);
  BOOST_TEST(static_cast<bool>(big));
  BOOST_TEST(budget->used() == 5000u);
  BOOST_TEST(!budget->take(1, budget_class::replication));
  big.release();
  BOOST_TEST(budget->used() == 0u);
}

BOOST_AUTO_TEST_CASE(threads_never_take_more_than_the_limit_and_give_it_all_back) {
  auto budget = std::make_shared<memory_budget>(10000);
  std::atomic<uint64_t> granted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      std::vector<memory_budget::charge> held;
      for (int i = 0; i < 20000; ++i) {
        auto who = (i + t) % 3 == 0 ? budget_class::replication : budget_class::client;
        if (auto c = budget->take(100 + (i % 7) * 50, who)) {
          granted.fetch_add(1);
          held.push_back(std::move(c));
        }
        if (held.size() > 40 || i % 97 == 0)
          held.clear();
      }
    });
  for (auto& th : threads)
    th.join();
  BOOST_TEST(budget->used() == 0u);
  BOOST_TEST(budget->peak() <= 10000u);
  BOOST_TEST(budget->peak() > 7500u); // it did fill up: replication past the clients' share
  BOOST_TEST(granted.load() > 0u);
  BOOST_TEST(budget->refused() > 0u);
}

BOOST_AUTO_TEST_CASE(the_refusal_says_what_was_refused_and_why) {
  auto budget = std::make_shared<memory_budget>(uint64_t{256} << 20);
  auto held = budget->take(uint64_t{190} << 20, budget_class::client);
  auto err =
      budget->refusal("a put of 1048590 bytes", write_charge(1048590, 3), budget_class::client);
  BOOST_TEST((err == ec::overloaded));
  BOOST_TEST(describe(err) ==
             "overloaded: a put of 1048590 bytes needs 8.0 MiB of the node's memory budget, which "
             "holds 190.0 MiB of requests in flight (memory_budget_bytes = 256.0 MiB, of which "
             "clients may fill 192.0 MiB); nothing was stored: retry shortly");
  auto peer = budget->refusal("3 replica writes from a peer", 5000, budget_class::replication);
  BOOST_TEST(describe(peer) ==
             "overloaded: 3 replica writes from a peer needs 4.9 KiB of the node's memory budget, "
             "which holds 190.0 MiB of requests in flight (memory_budget_bytes = 256.0 MiB); "
             "nothing was stored: retry shortly");
}

BOOST_AUTO_TEST_CASE(a_write_is_charged_per_copy_it_makes) {
  // The request and the coordinating call, then per replica the call with the record and CAF's
  // buffer: 8 copies for N = 3, each with the fixed allowance.
  BOOST_TEST(write_charge(1 << 20, 3) == uint64_t{8} * ((1 << 20) + 512));
  BOOST_TEST(write_charge(0, 1) == uint64_t{4} * 512);
  BOOST_TEST(held_charge(1000, 2) == 3024u);
  // The least budget admitting two such writes within the clients' three quarters.
  auto two = budget_for_writes(1 << 20, 3, 2);
  BOOST_TEST(memory_budget::client_share(two) >= 2 * write_charge(1 << 20, 3));
  BOOST_TEST(memory_budget::client_share(two - 2) < 2 * write_charge(1 << 20, 3));
  BOOST_TEST(bytes_for_people(12) == "12 bytes");
  BOOST_TEST(bytes_for_people(1536) == "1.5 KiB");
  BOOST_TEST(bytes_for_people(uint64_t{3} << 30) == "3.0 GiB");
}

BOOST_AUTO_TEST_CASE(a_charge_grows_within_its_ceiling_or_alone) {
  auto budget = std::make_shared<memory_budget>(1000);
  auto a = budget->take(100, budget_class::client);
  BOOST_TEST(a.grow(200, budget_class::client));
  BOOST_TEST(a.bytes() == 300u);
  BOOST_TEST(budget->used() == 300u);
  // Alone, it may grow past its ceiling (a get of a record larger than the share must pass).
  BOOST_TEST(!a.grow(900, budget_class::client, false)); // unless told it may not
  BOOST_TEST(a.grow(900, budget_class::client));
  BOOST_TEST(budget->used() == 1200u);
  a.release();
  BOOST_TEST(budget->used() == 0u);
  BOOST_TEST(!a.grow(1, budget_class::client)); // released: nothing to grow
  auto b = budget->take(100, budget_class::client);
  auto other = budget->take(600, budget_class::client);
  BOOST_TEST(!b.grow(51, budget_class::client)); // 751 > 750
  BOOST_TEST(b.bytes() == 100u);                 // kept as it was
  BOOST_TEST(budget->refused() == 2u);
  BOOST_TEST(b.grow(50, budget_class::client));
  BOOST_TEST(b.grow(250, budget_class::replication)); // replication may fill the rest
  BOOST_TEST(budget->used() == 1000u);
  BOOST_TEST(budget->peak() == 1200u);
  b.release();
  other.release();
  BOOST_TEST(budget->used() == 0u);
}

BOOST_AUTO_TEST_CASE(a_get_is_charged_per_copy_its_answers_make) {
  BOOST_TEST(read_charge(1 << 20, 3) == uint64_t{6} * ((1 << 20) + 512));
  // Admission: three replicas' answers of up to inline_read_bytes each, about 99 KiB.
  BOOST_TEST(read_charge(inline_read_bytes, 3) == uint64_t{6} * (16384 + 512));
  auto budget = std::make_shared<memory_budget>(1000);
  auto err = budget->refusal("a get", 2000, budget_class::client, "nothing was read");
  BOOST_TEST(describe(err) == "overloaded: a get needs 2.0 KiB of the node's memory budget, which "
                              "holds 0 bytes of requests in flight (memory_budget_bytes = 1000 "
                              "bytes, of which clients may fill 750 bytes); nothing was read: "
                              "retry shortly");
}

BOOST_AUTO_TEST_SUITE_END()
