// The storage actor's reader on real threads over a SQLite store: background work (a handoff, the
// reads anti-entropy and hint delivery make) is answered from committed data while the storage
// actor is stuck in a commit, and a write becomes visible to it once acknowledged.
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <caf/all.hpp>

#include "actors/node/handoff.hpp"
#include "actors/node/storage_actor.hpp"
#include "messages/dvv.hpp"
#include "messages/error.hpp"
#include "messages/register_types.hpp"
#include "storage/engine.hpp"
#include "storage/merkle_tree.hpp"
#include "tests/actors/common.hpp"
#include "tests/actors/node/handoff_target.hpp"

using namespace actorkv;
using namespace actorkv::test;
using namespace std::chrono_literals;

namespace {

constexpr partition_id part = 3;

/// A SQLite engine whose commits wait while `hold` is set: the storage actor then sits in a
/// commit, with its batch open, for as long as a test wants.
class held_engine final : public storage::engine {
public:
  explicit held_engine(std::unique_ptr<storage::engine> inner) : inner_(std::move(inner)) {}

  void hold(bool on) {
    {
      std::lock_guard<std::mutex> guard{mtx_};
      held_ = on;
    }
    cv_.notify_all();
  }
  /// Waits until a commit is waiting (at most `d`); whether one is.
  bool wait_for_commit(std::chrono::milliseconds d) {
    std::unique_lock<std::mutex> lock{mtx_};
    return cv_.wait_for(lock, d, [&] { return waiting_; });
  }

  caf::error commit() override {
    {
      std::unique_lock<std::mutex> lock{mtx_};
      waiting_ = held_;
      cv_.notify_all();
      cv_.wait(lock, [&] { return !held_; });
      waiting_ = false;
    }
    return inner_->commit();
  }

  caf::expected<std::unique_ptr<storage::reader>> open_reader() override {
    return inner_->open_reader();
  }
  caf::expected<std::optional<record>> get(partition_id p, const bytes& key) override {
    return inner_->get(p, key);
  }
  caf::error put(partition_id p, const bytes& key, const record& rec) override {
    return inner_->put(p, key, rec);
  }
  caf::error erase(partition_id p, const bytes& key) override { return inner_->erase(p, key); }
  caf::error for_each(partition_id p, const std::optional<bytes>& after,
                      const storage::scan_fn& f) override {
    return inner_->for_each(p, after, f);
  }
  caf::expected<uint64_t> count(partition_id p) override { return inner_->count(p); }
  caf::expected<std::vector<uint64_t>> leaves(partition_id p) override { return inner_->leaves(p); }
  caf::expected<std::vector<key_digest>> leaf_keys(partition_id p,
                                                   const std::vector<uint64_t>& l) override {
    return inner_->leaf_keys(p, l);
  }
  caf::error refresh_digest(partition_id p, const bytes& key) override {
    return inner_->refresh_digest(p, key);
  }
  int64_t newest_timestamp() const override { return inner_->newest_timestamp(); }
  caf::error begin() override { return inner_->begin(); }
  void rollback() override { inner_->rollback(); }
  void read_together(const std::function<void()>& reads) override { inner_->read_together(reads); }
  storage::integrity_job integrity_check() override { return inner_->integrity_check(); }
  bool check_owed() const override { return inner_->check_owed(); }
  caf::error check_done(const storage::integrity_report& r) override {
    return inner_->check_done(r);
  }
  caf::expected<std::optional<std::string>> get_meta(const std::string& name) override {
    return inner_->get_meta(name);
  }
  caf::error set_meta(const std::string& name, const std::string& value) override {
    return inner_->set_meta(name, value);
  }
  caf::expected<uint64_t> add_hint(const std::string& target, partition_id p, const bytes& key,
                                   const record& rec) override {
    return inner_->add_hint(target, p, key, rec);
  }
  caf::expected<std::vector<storage::hint>> hints_for(const std::string& target, size_t limit,
                                                      size_t* dropped) override {
    return inner_->hints_for(target, limit, dropped);
  }
  caf::error remove_hint(uint64_t id) override { return inner_->remove_hint(id); }
  caf::expected<uint64_t> drop_hints(const std::string& target, size_t limit) override {
    return inner_->drop_hints(target, limit);
  }
  caf::expected<std::map<std::string, uint64_t>> hint_counts() override {
    return inner_->hint_counts();
  }

private:
  std::unique_ptr<storage::engine> inner_;
  std::mutex mtx_;
  std::condition_variable cv_;
  bool held_ = false;
  bool waiting_ = false;
};

record written(const std::string& value, uint64_t counter) {
  record r;
  r.context.entries = {dot{7, counter}};
  sibling s;
  s.origin = dot{7, counter};
  s.timestamp_us = 1000 + static_cast<int64_t>(counter);
  s.value = b(value);
  r.siblings = {s};
  return r;
}

/// A store of 100 committed records in partition `part` and one hint, under a storage actor and
/// its reader on real threads.
struct reader_fixture {
  caf::actor_system_config cfg;
  caf::actor_system sys;
  caf::scoped_actor self;
  std::filesystem::path dir;
  held_engine* engine = nullptr;
  storage_actor storage;
  storage_actor reads;

  static caf::actor_system_config& init(caf::actor_system_config& c) {
    register_types(c);
    c.set("logger.verbosity", caf::atom("quiet"));
    return c;
  }

  reader_fixture() : sys(init(cfg)), self(sys) {
    auto pattern = (std::filesystem::temp_directory_path() / "actorkv-reader-XXXXXX").string();
    BOOST_REQUIRE(mkdtemp(pattern.data()) != nullptr);
    dir = pattern;
    auto opened =
        storage::open_sqlite_engine((dir / "store.db").string(), storage::sync_mode::normal);
    BOOST_REQUIRE(opened);
    for (uint64_t i = 0; i < 100; ++i)
      BOOST_REQUIRE(!(*opened)->put(part, key(i), written("old", i + 1)));
    BOOST_REQUIRE((*opened)->add_hint("n2", part, b("hinted"), written("h", 1)));
    auto held = std::make_shared<held_engine>(std::move(*opened));
    engine = held.get();
    storage_options so{"n1", 1, conflict_mode::siblings};
    so.partitions = 8;
    so.seed = 1;
    storage = spawn_storage(sys, held, so, reads);
  }

  ~reader_fixture() {
    engine->hold(false);
    self->monitor(storage);
    self->send(storage, stop_atom::value);
    self->receive([](caf::down_msg&) {}, caf::after(10s) >> [] { BOOST_ERROR("no stop"); });
    std::error_code ignored;
    std::filesystem::remove_all(dir, ignored);
  }

  static bytes key(uint64_t i) { return b("key" + std::to_string(1000 + i)); }

  /// Requests `xs` from `to` and returns the answer, failing the test after `within`.
  template <class T, class Handle, class... Ts>
  std::optional<T> ask(const Handle& to, std::chrono::seconds within, Ts... xs) {
    std::optional<T> out;
    self->request(to, within, xs...)
        .receive([&](T& x) { out = std::move(x); },
                 [&](caf::error& err) { BOOST_ERROR("no answer: " << describe(err)); });
    return out;
  }
};

} // namespace

BOOST_AUTO_TEST_SUITE(storage_reader)

BOOST_FIXTURE_TEST_CASE(background_reads_are_answered_while_a_write_waits_in_its_commit,
                        reader_fixture) {
  auto fresh = b("key-new");
  // The write is sent from a helper actor, so that the test can go on while it waits.
  engine->hold(true);
  auto writer = sys.spawn([=](caf::event_based_actor* me) {
    me->request(storage, 30s, merge_atom::value, part, fresh, written("new", 500))
        .then([](const record&) {}, [](caf::error&) {});
  });
  BOOST_REQUIRE(engine->wait_for_commit(10s));

  // Anti-entropy's and hint delivery's reads, and a handoff scan: answered at once, from what was
  // committed (not the waiting write, which could still fail).
  auto scanned =
      ask<std::vector<keyed_record>>(reads, 5s, scan_atom::value, part, bytes{}, uint32_t{1000});
  BOOST_REQUIRE(scanned);
  BOOST_CHECK_EQUAL(scanned->size(), 100u);
  auto leaf = storage::merkle_tree::leaf_of(fresh, storage::tree_leaf_bits);
  auto listed = ask<std::vector<key_digest>>(reads, 5s, leafkeys_atom::value, part,
                                             std::vector<uint64_t>{leaf});
  BOOST_REQUIRE(listed);
  for (auto& kd : *listed)
    BOOST_CHECK(kd.key != fresh);
  auto read = ask<replica_read>(reads, 5s, read_atom::value, part, fresh);
  BOOST_REQUIRE(read);
  BOOST_CHECK(!read->found);
  auto old = ask<replica_read>(reads, 5s, read_atom::value, part, key(7));
  BOOST_REQUIRE(old);
  BOOST_CHECK(old->found && old->rec == written("old", 8));
  auto hints =
      ask<std::vector<stored_hint>>(reads, 5s, hints_atom::value, std::string{"n2"}, uint32_t{10});
  BOOST_REQUIRE(hints);
  BOOST_CHECK_EQUAL(hints->size(), 1u);

  // A handoff of the partition runs to its end meanwhile.
  auto received = std::make_shared<target_log>();
  auto target = spawn_handoff_target(sys, received);
  auto done = std::make_shared<std::promise<partition_transfer>>();
  auto transferred = done->get_future();
  auto listener =
      sys.spawn([done](handoff_listener_actor::pointer) -> handoff_listener_actor::behavior_type {
        return {
            [=](transfer_atom, uint64_t, const partition_transfer& t) { done->set_value(t); },
            [=](release_atom, partition_id) {},
        };
      });
  handoff_options ho;
  ho.node = "n1";
  ho.storage = reads;
  ho.listener = listener;
  ho.batch = 16;
  auto handoff = spawn_handoff(sys, ho);
  self->send(handoff, peer_atom::value, std::vector<peer_view>{peer_view{"n2", true, target, {}}});
  self->send(handoff, handoff_atom::value, uint64_t{1},
             std::vector<handoff_task>{handoff_task{part, {"n2"}, false}});
  BOOST_REQUIRE(transferred.wait_for(10s) == std::future_status::ready);
  BOOST_CHECK_EQUAL(transferred.get().partition, part);
  {
    std::lock_guard<std::mutex> guard{received->mtx};
    BOOST_CHECK_EQUAL(received->held.size(), 100u);
  }
  BOOST_CHECK(engine->wait_for_commit(0ms)); // the write still waited all along

  // Once committed (and so acknowledged), the write is what the reader reads.
  engine->hold(false);
  auto after = ask<replica_read>(storage, 10s, read_atom::value, part, fresh);
  BOOST_REQUIRE(after);
  BOOST_CHECK(after->found);
  auto through_reader = ask<replica_read>(reads, 5s, read_atom::value, part, fresh);
  BOOST_REQUIRE(through_reader);
  BOOST_CHECK(through_reader->found && through_reader->rec == after->rec);
  for (auto& a : {caf::actor_cast<caf::actor>(handoff), caf::actor_cast<caf::actor>(listener),
                  caf::actor_cast<caf::actor>(target), caf::actor_cast<caf::actor>(writer)})
    caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
}

BOOST_FIXTURE_TEST_CASE(the_reader_forwards_writes_and_tree_reads_to_the_storage_actor,
                        reader_fixture) {
  // Background work holds only the reader: its merges, counts and trees still work.
  auto merged = ask<record>(reads, 5s, merge_atom::value, part, b("via-reader"), written("x", 900));
  BOOST_REQUIRE(merged);
  auto n = ask<uint64_t>(reads, 5s, count_atom::value, part);
  BOOST_REQUIRE(n);
  BOOST_CHECK_EQUAL(*n, 101u);
  auto root = ask<std::vector<uint64_t>>(reads, 5s, tree_atom::value, part, uint32_t{0});
  BOOST_REQUIRE(root);
  BOOST_CHECK_EQUAL(root->size(), 1u);
  auto read = ask<replica_read>(reads, 5s, read_atom::value, part, b("via-reader"));
  BOOST_REQUIRE(read);
  BOOST_CHECK(read->found && read->rec == *merged);
  // A delivered hint deleted through it is gone for the next listing.
  auto hints =
      ask<std::vector<stored_hint>>(reads, 5s, hints_atom::value, std::string{"n2"}, uint32_t{10});
  BOOST_REQUIRE(hints && hints->size() == 1u);
  BOOST_REQUIRE(
      ask<caf::ok_atom>(reads, 5s, unhint_atom::value, std::string{"n2"}, hints->front().id));
  hints =
      ask<std::vector<stored_hint>>(reads, 5s, hints_atom::value, std::string{"n2"}, uint32_t{10});
  BOOST_REQUIRE(hints);
  BOOST_CHECK(hints->empty());
}

BOOST_AUTO_TEST_SUITE_END()
