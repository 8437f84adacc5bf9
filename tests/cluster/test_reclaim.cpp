// Deletes that reclaim space, with real kvnode processes: tombstones are collected once every
// home replica holds them (or nothing) and their grace period passed, and a replica that was down
// during the delete cannot bring the deleted value back. Version-vector entries of a retired
// replica id (a wiped node's former one) are pruned the same way, and nothing they covered comes
// back.
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "tests/cluster/common.hpp"

using namespace actorkv;
using namespace actorkv::test;
using namespace std::chrono_literals;

namespace {

/// Three nodes, N = 3, R = W = 2, a grace period of 2 s and quick anti-entropy rounds.
local_cluster::options three_quick() {
  local_cluster::options o;
  o.nodes = 3;
  o.partitions = 16;
  o.extra_toml = "[timeouts]\nrequest_ms = 2000\n[anti_entropy]\ninterval_ms = 1000\npace_ms = 1\n";
  return o;
}

std::string script(const std::string& verb, int keys, const std::string& suffix = "") {
  std::string s;
  for (int i = 0; i < keys; ++i)
    s += verb + " gone-" + std::to_string(i) + suffix + "\n";
  return s;
}

uint64_t collected(local_cluster& c, size_t i) {
  return status_figure(c.kvsh(i, "status\n").out, "tombstones collected: ");
}

/// Whether `rec`'s context (or a sibling's dot) names replica `id`.
bool names(const record& rec, uint64_t id) {
  for (auto& e : rec.context.entries)
    if (e.id == id)
      return true;
  for (auto& s : rec.siblings)
    if (s.origin.id == id)
      return true;
  return false;
}

/// The single value of `rec`, or "" when it holds no sibling or several.
std::string only_value(const record& rec) {
  if (rec.siblings.size() != 1 || rec.siblings[0].tombstone)
    return {};
  auto& v = rec.siblings[0].value;
  return std::string(v.begin(), v.end());
}

} // namespace

BOOST_AUTO_TEST_SUITE(reclaim)

BOOST_AUTO_TEST_CASE(a_replica_down_during_the_delete_cannot_bring_the_value_back) {
  constexpr int keys = 40;
  local_cluster c{three_quick()};
  short_tombstone_grace(c);
  c.start_all();
  wait_until_all_up(c);
  std::string puts;
  for (int i = 0; i < keys; ++i)
    puts += "put gone-" + std::to_string(i) + " doomed-" + std::to_string(i) + "\n";
  auto r = c.kvsh(0, puts, 60s);
  BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  BOOST_REQUIRE(eventually(30s, [&] { return stored_with(c.data_dir(2), "doomed-") == keys; }));
  // n3 goes down holding every value; the deletes reach n1 and n2 only.
  c.kill(2);
  r = c.kvsh(0, script("delete", keys), 60s);
  BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  // Well past the grace period: n1 and n2 keep their tombstones, since n3 may still hold the
  // values (collecting now is what would let anti-entropy copy them back later).
  std::this_thread::sleep_for(5s);
  for (size_t i : {0, 1}) {
    BOOST_TEST(stored_records(c.data_dir(i)) == keys);
    BOOST_TEST(collected(c, i) == 0u);
  }
  // n3 returns with the old values. Anti-entropy gives it the tombstones; then every replica
  // collects its own, and nothing of the keys is left anywhere.
  c.start(2);
  for (size_t i = 0; i < 3; ++i)
    BOOST_TEST(eventually(60s, [&] { return stored_records(c.data_dir(i)) == 0; }),
               "n" << i + 1 << " still holds " << stored_records(c.data_dir(i)) << " records");
  uint64_t total = 0;
  for (size_t i = 0; i < 3; ++i)
    total += collected(c, i);
  BOOST_TEST(total >= uint64_t{2 * keys}, total << " tombstones collected"); // n3's may be merges
  // Several anti-entropy rounds later the values have not come back, on disk or to a reader.
  std::this_thread::sleep_for(4s);
  for (size_t i = 0; i < 3; ++i) {
    BOOST_TEST(stored_with(c.data_dir(i), "doomed-") == 0, "n" << i + 1 << " holds a value");
    r = c.kvsh(i, script("get", keys), 60s);
    BOOST_TEST(r.out.find("doomed-") == std::string::npos, r.out);
  }
}

BOOST_AUTO_TEST_CASE(a_write_after_the_delete_is_never_collected) {
  local_cluster c{three_quick()};
  short_tombstone_grace(c);
  c.start_all();
  wait_until_all_up(c);
  auto r = c.kvsh(0, "put back v1\ndelete back\nput back v2\nput gone v\ndelete gone\n", 30s);
  BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  for (size_t i = 0; i < 3; ++i)
    BOOST_TEST(eventually(30s, [&] { return stored_records(c.data_dir(i)) == 1; }));
  r = c.kvsh(1, "get back\nget gone\n");
  BOOST_TEST(r.out.find("v2") != std::string::npos, r.out);
  BOOST_TEST(r.out.find("(not found)") != std::string::npos, r.out);
}

BOOST_AUTO_TEST_CASE(deleting_every_key_shrinks_the_database_files) {
  constexpr int keys = 3000;
  local_cluster c{three_quick()};
  short_tombstone_grace(c);
  c.start_all();
  wait_until_all_up(c);
  const std::string filler(1000, 'f');
  std::string puts;
  for (int i = 0; i < keys; ++i)
    puts += "put gone-" + std::to_string(i) + " " + filler + "\n";
  auto r = c.kvsh(0, puts, 180s);
  BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  auto file = [&](size_t i) {
    return static_cast<uint64_t>(std::filesystem::file_size(c.data_dir(i) + "/actorkv.db"));
  };
  std::vector<uint64_t> loaded(3);
  for (size_t i = 0; i < 3; ++i) {
    BOOST_REQUIRE(eventually(60s, [&] { return stored_records(c.data_dir(i)) == keys; }));
    // The records reach the file itself once the log is copied into it.
    BOOST_REQUIRE(eventually(60s, [&] { return file(i) > uint64_t{keys} * 1000; }));
    loaded[i] = file(i);
  }
  r = c.kvsh(0, script("delete", keys), 180s);
  BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  for (size_t i = 0; i < 3; ++i) {
    BOOST_TEST(eventually(90s, [&] { return stored_records(c.data_dir(i)) == 0; }),
               "n" << i + 1 << " still holds " << stored_records(c.data_dir(i)) << " records");
    BOOST_TEST(eventually(60s, [&] { return file(i) < loaded[i] / 4; }),
               "n" << i + 1 << "'s file has " << file(i) << " of " << loaded[i] << " bytes");
  }
}

BOOST_AUTO_TEST_CASE(a_wiped_nodes_former_replica_id_is_pruned_from_every_home_replica) {
  const std::string key = "pruned";
  const auto partitions = three_quick().partitions;
  local_cluster c{three_quick()};
  short_tombstone_grace(c);
  c.start_all();
  wait_until_all_up(c);
  auto r = c.kvsh(0, "put " + key + " superseded-value\n");
  BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  for (size_t i = 0; i < 3; ++i)
    BOOST_REQUIRE(eventually(30s, [&] { return stored_with(c.data_dir(i), "superseded-") == 1; }));
  // n1 coordinated the write: its replica id is in every copy's context. Wiped, n1 starts with a
  // new id; the old one is retired (it never writes again).
  auto old_id = stored_replica_id(c.data_dir(0));
  BOOST_REQUIRE(old_id != 0);
  BOOST_REQUIRE(c.stop(0) == 0);
  std::filesystem::remove_all(c.data_dir(0));
  c.start(0);
  wait_until_all_up(c);
  BOOST_REQUIRE(stored_replica_id(c.data_dir(0)) != old_id);
  BOOST_REQUIRE(eventually(30s, [&] { return stored_with(c.data_dir(0), "superseded-") == 1; }));
  // Overwritten through n2 with the context of a read: the new record still names the old id.
  auto ctx = context_from(c.kvsh(1, "get " + key + " --context\n").out);
  BOOST_REQUIRE(!ctx.empty());
  r = c.kvsh(1, "put " + key + " current-value --context " + ctx + "\n");
  BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  // Past the grace period (2 s, a sweep every second), no home replica's copy names it.
  auto pruned_everywhere = [&] {
    for (size_t i = 0; i < 3; ++i) {
      auto rec = stored_record(c.data_dir(i), key, partitions);
      if (!rec || names(*rec, old_id) || only_value(*rec) != "current-value")
        return false;
    }
    return true;
  };
  BOOST_TEST(eventually(30s, pruned_everywhere));
  for (size_t i = 0; i < 3; ++i) {
    auto rec = stored_record(c.data_dir(i), key, partitions);
    BOOST_TEST_MESSAGE("n" << i + 1 << " holds " << (rec ? rec->context.entries.size() : 0)
                           << " context entries");
  }
  uint64_t pruned = 0;
  for (size_t i = 0; i < 3; ++i) {
    auto n = status_figure(c.kvsh(i, "status\n").out, "entries pruned: ");
    BOOST_TEST(n != UINT64_MAX, "n" << i + 1 << "'s status shows no entries pruned");
    pruned += n == UINT64_MAX ? 0 : n;
  }
  BOOST_TEST(pruned >= 1u, pruned << " entries pruned");
  // Several anti-entropy rounds later (a round a second) nothing gave the entry back, and the
  // superseded value is nowhere: not on disk, not to a reader.
  std::this_thread::sleep_for(4s);
  BOOST_TEST(pruned_everywhere());
  for (size_t i = 0; i < 3; ++i) {
    BOOST_TEST(stored_with(c.data_dir(i), "superseded-") == 0, "n" << i + 1 << " holds it");
    r = c.kvsh(i, "get " + key + "\n");
    BOOST_TEST(r.out.find("current-value") != std::string::npos, r.out);
    BOOST_TEST(r.out.find("superseded-") == std::string::npos, r.out);
  }
}

BOOST_AUTO_TEST_SUITE_END()
