// A node's memory under clients that send more than it can store ([limits] memory_budget_bytes,
// cluster-config/memory_budget.hpp), on real 3-node clusters: 512 concurrent puts of 1 MiB keep
// the entry node's peak RSS within a stated bound, every failed put is `overloaded` and stored on
// no replica, every acknowledged one reads back, and the budget is all given back afterwards;
// and with the budget held by a write in flight, a put through kvsh and one through HTTPS are
// refused as overloaded (503, Retry-After) and stored nowhere.
//
// Before the budget the entry node took every write: 512 puts of 1 MiB drove it to 1.42 GiB
// (the issue measured 0.62, 1.93 and 2.97 GiB for 64, 256 and 512 kvbench clients), and more
// than half of them ended maybe_applied after their replicas timed out.
#include <boost/test/unit_test.hpp>

#include <cstdio>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <sqlite3.h>

#include <caf/all.hpp>

#include "actors/client/client.hpp"
#include "messages/error.hpp"
#include "tests/cluster/common.hpp"

using namespace actorkv;
using namespace actorkv::test;
using namespace std::chrono_literals;

namespace {

constexpr const char* marker_prefix = "memory-budget-put-";

/// The value of put `i`: its marker, then filler up to `size` bytes.
bytes value_of(size_t i, size_t size) {
  auto marker = marker_prefix + std::to_string(i) + "/";
  bytes v(size, static_cast<uint8_t>('a' + i % 26));
  std::copy(marker.begin(), marker.end(), v.begin());
  return v;
}

/// How a burst of requests ended, other than as intended: failures by code name, and the first
/// few outcomes that were neither intended nor `overloaded`, in full.
struct outcome_tally {
  std::map<std::string, size_t> failures;
  std::vector<std::string> other;

  void failed(const caf::error& err) {
    ++failures[err.category() == caf::atom("actorkv") ? to_string(static_cast<ec>(err.code()))
                                                      : caf::to_string(err)];
    if (!(err == ec::overloaded))
      unexpected(describe(err));
  }
  void unexpected(std::string what) {
    if (other.size() < 5)
      other.push_back(std::move(what));
  }
  size_t overloaded() const {
    auto it = failures.find("overloaded");
    return it == failures.end() ? 0 : it->second;
  }
  /// ", 3 overloaded, 1 timeout"
  std::string summary() const {
    std::string out;
    for (auto& [code, n] : failures)
      out += ", " + std::to_string(n) + " " + code;
    return out;
  }
  std::string others() const {
    std::string out;
    for (auto& o : other)
      out += "\n  " + o;
    return out;
  }
};

bytes key_of(size_t i) {
  auto k = "budget-" + std::to_string(i);
  return bytes(k.begin(), k.end());
}

/// The numbers of every put whose marker a node's records or hints hold, read from its database
/// file while it runs (one pass over the tables, instead of one query per marker).
std::set<size_t> markers_stored(const std::string& data_dir) {
  std::set<size_t> out;
  sqlite3* db = nullptr;
  auto path = data_dir + "/actorkv.db";
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    sqlite3_close(db);
    BOOST_FAIL("cannot open " + path);
  }
  sqlite3_busy_timeout(db, 5000);
  const std::string prefix = marker_prefix;
  for (auto* table : {"records", "hints"}) {
    sqlite3_stmt* st = nullptr;
    auto sql = std::string{"SELECT value FROM "} + table;
    BOOST_REQUIRE(sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr) == SQLITE_OK);
    while (sqlite3_step(st) == SQLITE_ROW) {
      std::string blob{static_cast<const char*>(sqlite3_column_blob(st, 0)),
                       static_cast<size_t>(sqlite3_column_bytes(st, 0))};
      for (auto at = blob.find(prefix); at != std::string::npos;
           at = blob.find(prefix, at + prefix.size())) {
        auto digits = at + prefix.size();
        auto end = blob.find('/', digits);
        if (end != std::string::npos && end > digits && end - digits < 10)
          out.insert(std::stoul(blob.substr(digits, end - digits)));
      }
    }
    sqlite3_finalize(st);
  }
  sqlite3_close(db);
  return out;
}

/// The budget figures of node i's status line "memory budget: X of Y bytes in flight (peak P);
/// R requests refused as overloaded": {X, Y, P, R}, or nothing when the line is missing.
std::optional<std::vector<uint64_t>> budget_figures(local_cluster& c, size_t i) {
  auto r = c.kvsh(i, "status\n", 20s);
  auto at = r.out.find("memory budget: ");
  if (at == std::string::npos)
    return std::nullopt;
  unsigned long long used = 0, limit = 0, peak = 0, refused = 0;
  if (std::sscanf(r.out.c_str() + at,
                  "memory budget: %llu of %llu bytes in flight (peak %llu); %llu requests", &used,
                  &limit, &peak, &refused) != 4)
    return std::nullopt;
  return std::vector<uint64_t>{used, limit, peak, refused};
}

/// Waits until every node's budget holds nothing in flight.
void expect_budgets_given_back(local_cluster& c) {
  for (size_t i = 0; i < c.size(); ++i) {
    std::optional<std::vector<uint64_t>> last;
    bool empty = eventually(20s, [&] {
      last = budget_figures(c, i);
      return last && (*last)[0] == 0;
    });
    BOOST_TEST(empty, "node " << i << " still holds " << (last ? (*last)[0] : 0)
                              << " bytes of its memory budget");
  }
}

} // namespace

BOOST_AUTO_TEST_SUITE(memory)

BOOST_AUTO_TEST_CASE(five_hundred_twelve_puts_of_1_mib_keep_the_entry_node_within_its_budget) {
  // The default limits: memory_budget_bytes = 256 MiB. The bound on the entry node's peak RSS is
  // that budget plus 192 MiB for what does not depend on the load: the process itself, SQLite's
  // page cache (64 MiB), and CAF's per-connection buffers and the frame guard's frames being
  // received (16 client connections, 1 MiB each).
  const size_t puts = 512;
  const size_t value_size = 1 << 20;
  const size_t clients = 16; // client actors, each its own connection to n1
  const long budget_kib = 256 * 1024;
  const long bound_kib = budget_kib + 192 * 1024;
  local_cluster c;
  c.start_all();
  wait_until_all_up(c);
  auto before = usage_of(c.pid(0));
  BOOST_TEST_MESSAGE("n1 before the load: " << before);

  client_system cs;
  caf::scoped_actor self{cs.sys};
  std::vector<client_actor> actors;
  for (size_t i = 0; i < clients; ++i)
    actors.push_back(spawn_client(cs.sys, client_options{{c.endpoint(0)}, 30s}));
  // Every client connected first (a get each): what is measured is the budget under the puts, not
  // whether a client's TLS handshake still gets through once the first clients flood the node
  // (on some machines the last ones did not, and their puts failed "no node reachable").
  for (auto& a : actors)
    self->request(a, 40s, caf::get_atom::value, bytes{'w'})
        .receive(
            [](get_reply&) {},
            [](caf::error& err) { BOOST_FAIL("a client could not connect: " << describe(err)); });
  // All at once: every put is sent before any answer is awaited.
  using handle = decltype(self->request(actors[0], 40s, caf::put_atom::value, put_request{}));
  std::vector<handle> pending;
  auto started = std::chrono::steady_clock::now();
  for (size_t i = 0; i < puts; ++i)
    pending.push_back(self->request(actors[i % clients], 40s, caf::put_atom::value,
                                    put_request{key_of(i), value_of(i, value_size), {}}));
  std::set<size_t> acked;
  outcome_tally tally;
  for (size_t i = 0; i < puts; ++i)
    pending[i].receive([&](write_reply&) { acked.insert(i); },
                       [&](caf::error& err) { tally.failed(err); });
  auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - started);
  auto after = usage_of(c.pid(0));
  BOOST_TEST_MESSAGE(puts << " puts of " << value_size << " bytes through n1 in " << took.count()
                          << " ms: " << acked.size() << " acknowledged" << tally.summary());
  BOOST_TEST_MESSAGE("n1 after the load: " << after << "; bound " << bound_kib << " KiB");
  for (size_t i = 1; i < c.size(); ++i)
    BOOST_TEST_MESSAGE("n" << i + 1 << " after the load: " << usage_of(c.pid(i)));

  // Shed, not grown: the peak stays within the bound, and what was shed was refused as such.
  BOOST_TEST(after.peak_kib < bound_kib, "n1 peaked at " << after.peak_kib << " KiB");
  BOOST_TEST(acked.size() + tally.overloaded() == puts, "other failures: " << tally.others()
                                                                           << "\nn1's log:\n"
                                                                           << c.log_tail(0, 30));
  BOOST_TEST(!acked.empty()); // the node kept storing while it shed load

  // Nothing refused was stored, on any replica; everything acknowledged is on W replicas and
  // reads back whole (through another node).
  expect_budgets_given_back(c);
  std::map<size_t, size_t> holders;
  for (size_t n = 0; n < c.size(); ++n)
    for (auto i : markers_stored(c.data_dir(n)))
      ++holders[i];
  for (auto& [i, n] : holders)
    BOOST_TEST(acked.count(i) == 1u, "put " << i << " failed but " << n << " replicas hold it");
  auto reader = spawn_client(cs.sys, client_options{{c.endpoint(1)}, 30s});
  size_t read_back = 0;
  for (auto i : acked) {
    BOOST_TEST(holders[i] >= 2u, "put " << i << " acknowledged but held by " << holders[i]);
    self->request(reader, 40s, caf::get_atom::value, key_of(i))
        .receive(
            [&](get_reply& r) {
              bool same = r.found && r.values.size() == 1 && r.values[0] == value_of(i, value_size);
              BOOST_TEST(same, "put " << i << " reads back differently");
              read_back += same;
            },
            [&](caf::error& err) { BOOST_FAIL("get of put " << i << ": " << describe(err)); });
  }
  BOOST_TEST(read_back == acked.size());
  for (auto& a : actors)
    self->send_exit(a, caf::exit_reason::user_shutdown);
  self->send_exit(reader, caf::exit_reason::user_shutdown);
}

BOOST_AUTO_TEST_CASE(five_hundred_twelve_gets_of_1_mib_keep_the_entry_node_within_its_budget) {
  // 64 values of 1 MiB, stored a few at a time; then 512 concurrent gets of them (8 each) through
  // n1. A get's size is known only when its replicas answer: the coordinator charges an estimate
  // at admission and the real size of each answer as it arrives, and replicas charge the answers
  // they read. Same default budget and bound as the puts above.
  const size_t values = 64;
  const size_t gets = 512;
  const size_t value_size = 1 << 20;
  const size_t clients = 16;
  const long budget_kib = 256 * 1024;
  const long bound_kib = budget_kib + 192 * 1024;
  local_cluster c;
  c.start_all();
  wait_until_all_up(c);
  client_system cs;
  caf::scoped_actor self{cs.sys};
  std::vector<client_actor> actors;
  for (size_t i = 0; i < clients; ++i)
    actors.push_back(spawn_client(cs.sys, client_options{{c.endpoint(0)}, 30s}));
  for (size_t first = 0; first < values; first += 8) {
    using handle = decltype(self->request(actors[0], 40s, caf::put_atom::value, put_request{}));
    std::vector<handle> wave;
    for (size_t i = first; i < first + 8; ++i)
      wave.push_back(self->request(actors[i % clients], 40s, caf::put_atom::value,
                                   put_request{key_of(i), value_of(i, value_size), {}}));
    for (auto& h : wave)
      h.receive([](write_reply&) {},
                [](caf::error& err) { BOOST_FAIL("storing a value: " << describe(err)); });
  }
  // The peak of the gets alone: the kernel resets VmHWM to the current RSS.
  std::ofstream{"/proc/" + std::to_string(c.pid(0)) + "/clear_refs"} << "5";
  auto before = usage_of(c.pid(0));
  BOOST_TEST_MESSAGE("n1 before the gets: " << before);

  using handle = decltype(self->request(actors[0], 40s, caf::get_atom::value, bytes{}));
  std::vector<handle> pending;
  auto started = std::chrono::steady_clock::now();
  for (size_t i = 0; i < gets; ++i)
    pending.push_back(
        self->request(actors[i % clients], 40s, caf::get_atom::value, key_of(i % values)));
  size_t right = 0;
  outcome_tally tally;
  for (size_t i = 0; i < gets; ++i)
    pending[i].receive(
        [&](get_reply& r) {
          if (r.found && r.values.size() == 1 && r.values[0] == value_of(i % values, value_size))
            ++right;
          else
            tally.unexpected("get " + std::to_string(i) + " returned " +
                             std::to_string(r.values.size()) + " values, not its own");
        },
        [&](caf::error& err) { tally.failed(err); });
  auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - started);
  auto after = usage_of(c.pid(0));
  BOOST_TEST_MESSAGE(gets << " gets of " << value_size << " bytes through n1 in " << took.count()
                          << " ms: " << right << " right" << tally.summary());
  BOOST_TEST_MESSAGE("n1 after the gets: " << after << "; bound " << bound_kib << " KiB");
  for (size_t i = 1; i < c.size(); ++i)
    BOOST_TEST_MESSAGE("n" << i + 1 << " after the gets: " << usage_of(c.pid(i)));

  BOOST_TEST(c.running(0), "n1 is gone");
  BOOST_TEST(after.peak_kib < bound_kib, "n1 peaked at " << after.peak_kib << " KiB");
  BOOST_TEST(right + tally.overloaded() == gets, "other outcomes: " << tally.others());
  BOOST_TEST(right > 0u); // the node kept serving reads while it shed load
  expect_budgets_given_back(c);
  // Once the load is gone every value reads back through n1.
  for (size_t i = 0; i < values; ++i)
    self->request(actors[0], 40s, caf::get_atom::value, key_of(i))
        .receive(
            [&](get_reply& r) {
              BOOST_TEST(
                  (r.found && r.values.size() == 1 && r.values[0] == value_of(i, value_size)),
                  "value " << i << " reads back differently");
            },
            [&](caf::error& err) {
              BOOST_TEST(false, "get of value " << i << ": " << describe(err));
            });
  for (auto& a : actors)
    self->send_exit(a, caf::exit_reason::user_shutdown);
}

BOOST_AUTO_TEST_CASE(with_the_budget_held_puts_are_refused_as_overloaded_and_stored_nowhere) {
  // A budget that admits one 1 MiB write at a time (N = 3: 8 copies, within the clients' three
  // quarters: 9,000,000 bytes), and a write held in flight: its merges at n2 and n3 are delayed
  // by 3 s.
  local_cluster::options o;
  o.partitions = 16;
  o.https = true;
  o.extra_toml = "[limits]\nmemory_budget_bytes = 12000000\n[faults]\ninjection = true\n"
                 "[timeouts]\nrequest_ms = 30000\n[failure_detector]\ninterval_ms = 5000\n";
  local_cluster c{o};
  c.start_all();
  wait_until_all_up(c);
  auto figures = budget_figures(c, 0);
  BOOST_REQUIRE(figures);
  BOOST_TEST((*figures)[1] == 12000000u);
  // 1 MiB files, each value starting with its marker.
  auto file = [&](const std::string& name) {
    auto path = c.dir() + "/" + name;
    std::string v(1 << 20, 'v');
    v.replace(0, 0, std::string{marker_prefix} + name + "/");
    v.resize(1 << 20);
    std::ofstream{path, std::ios::binary} << v;
    return path;
  };
  auto held_file = file("held");
  auto refused_file = file("refused");
  auto https_file = file("https");
  for (size_t i : {1, 2})
    BOOST_REQUIRE(c.kvsh(i, "fault delay n1 3000\n").exit_code == 0);
  run_result held;
  std::thread writer{[&] {
    held = c.kvsh_args(
        {"--connect", c.endpoint(0), "--timeout", "30000", "-c", "put held --file " + held_file},
        "", 60s);
  }};
  // Until the held write's charge shows (its merges wait at n2 and n3 meanwhile).
  BOOST_TEST(eventually(10s, [&] {
    auto f = budget_figures(c, 0);
    return f && (*f)[0] > 8000000u;
  }));
  auto refused = c.kvsh_args(
      {"--connect", c.endpoint(0), "-c", "put refused --file " + refused_file}, "", 30s);
  BOOST_TEST(refused.exit_code == 1);
  BOOST_TEST(refused.out == "");
  BOOST_TEST(refused.err.find("error: overloaded: a put of 1048583 bytes needs 8.0 MiB of the "
                              "node's memory budget, which holds 8.0 MiB of requests in flight "
                              "(memory_budget_bytes = 11.4 MiB, of which clients may fill 8.6 "
                              "MiB); nothing was stored: retry shortly") != std::string::npos,
             refused.err);
  // Over HTTPS the body is refused before it is read: 503, Retry-After, the JSON error.
  auto curl = run_program({"/usr/bin/curl", "-sS", "-i", "--cacert", c.cert_path("ca"), "--cert",
                           c.cert_path("writer"), "--key", c.key_path("writer"), "-X", "PUT",
                           "--data-binary", "@" + https_file, c.https_url(0) + "/v1/kv/https"},
                          "", 30s);
  BOOST_TEST(curl.out.find("HTTP/1.1 503") == 0u, curl.out << curl.err);
  BOOST_TEST(curl.out.find("Retry-After: 1") != std::string::npos, curl.out);
  BOOST_TEST(curl.out.find("{\"error\":\"overloaded\",\"message\":\"a request body of 1048576 "
                           "bytes needs 1.0 MiB of the node's memory budget") != std::string::npos,
             curl.out);
  writer.join();
  BOOST_TEST(held.exit_code == 0, held.err);
  BOOST_TEST(held.out == "ok\n");
  for (size_t i : {1, 2})
    BOOST_REQUIRE(c.kvsh(i, "fault heal\n").exit_code == 0);
  expect_budgets_given_back(c);
  // The refused writes are nowhere; the held one is on every replica; the node counted both
  // refusals.
  for (size_t n = 0; n < c.size(); ++n) {
    BOOST_TEST(stored_with(c.data_dir(n), std::string{marker_prefix} + "refused/") == 0,
               "node " << n);
    BOOST_TEST(stored_with(c.data_dir(n), std::string{marker_prefix} + "https/") == 0,
               "node " << n);
    BOOST_TEST(eventually(10s,
                          [&] {
                            return stored_with(c.data_dir(n),
                                               std::string{marker_prefix} + "held/") == 1;
                          }),
               "node " << n);
  }
  figures = budget_figures(c, 0);
  BOOST_REQUIRE(figures);
  BOOST_TEST((*figures)[3] == 2u);
  BOOST_TEST((*figures)[2] >= 8000000u); // the held write's charge was the peak
  // With the budget free again, the same put goes through.
  auto again = c.kvsh_args({"--connect", c.endpoint(0), "-c", "put refused --file " + refused_file},
                           "", 30s);
  BOOST_TEST(again.exit_code == 0, again.err);
  BOOST_TEST(again.out == "ok\n");
}

BOOST_AUTO_TEST_SUITE_END()
