// The engine contract (storage/engine.hpp), checked case by case against every engine: the memory
// reference and SQLite must be indistinguishable through the interface.
#include <algorithm>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <boost/mpl/list.hpp>
#include <boost/test/unit_test.hpp>

#include "fixtures.hpp"
#include "storage/merkle_tree.hpp"
#include "storage/record_codec.hpp"

using namespace actorkv;
using namespace actorkv::storage;
using namespace actorkv::storage::test;

namespace {

using engine_fixtures = boost::mpl::list<memory_fixture, sqlite_fixture>;

/// The key's record, failing the test when reading it fails.
std::optional<record> read(engine& e, partition_id p, const bytes& key) {
  auto got = e.get(p, key);
  ACTORKV_REQUIRE_OK(got);
  return *got;
}

/// Every (key, record) of the partition in the order for_each reports them.
std::vector<std::pair<bytes, record>> scan(engine& e, partition_id p) {
  std::vector<std::pair<bytes, record>> out;
  auto err = e.for_each(p, [&](const bytes& key, caf::expected<record>&& rec) {
    BOOST_CHECK_MESSAGE(rec, "record of a key failed to decode: " << why(rec));
    if (rec)
      out.emplace_back(key, std::move(*rec));
    return true;
  });
  ACTORKV_REQUIRE_OK(err);
  return out;
}

/// What the engine's leaf summaries of partition `p` must be: the digests of what scan() reads,
/// folded into a tree the way anti-entropy compares them.
std::vector<uint64_t> expected_leaves(engine& e, partition_id p) {
  merkle_tree t;
  for (auto& [key, rec] : scan(e, p))
    t.toggle(key, record_digest(key, rec));
  return t.level(tree_leaf_bits);
}

/// The leaf summaries, the size and every leaf's keys of partition `p` agree with its records.
void check_summaries(engine& e, partition_id p) {
  auto entries = scan(e, p);
  auto leaves = e.leaves(p);
  ACTORKV_REQUIRE_OK(leaves);
  BOOST_CHECK(*leaves == expected_leaves(e, p));
  auto n = e.count(p);
  ACTORKV_REQUIRE_OK(n);
  BOOST_CHECK_EQUAL(*n, entries.size());
  std::vector<uint64_t> all_leaves;
  for (uint64_t l = 0; l < (uint64_t{1} << tree_leaf_bits); ++l)
    all_leaves.push_back(l);
  auto listed = e.leaf_keys(p, all_leaves);
  ACTORKV_REQUIRE_OK(listed);
  // In scan order: leaf by leaf, key order within each.
  std::vector<std::tuple<size_t, bytes, uint64_t>> expected;
  for (auto& [key, rec] : entries)
    expected.emplace_back(merkle_tree::leaf_of(key, tree_leaf_bits), key, record_digest(key, rec));
  std::sort(expected.begin(), expected.end());
  BOOST_REQUIRE_EQUAL(listed->size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    BOOST_CHECK(listed->at(i).key == std::get<1>(expected[i]));
    BOOST_CHECK_EQUAL(listed->at(i).digest, std::get<2>(expected[i]));
  }
}

std::vector<bytes> keys_of(const std::vector<std::pair<bytes, record>>& entries) {
  std::vector<bytes> out;
  for (const auto& entry : entries)
    out.push_back(entry.first);
  return out;
}

} // namespace

BOOST_AUTO_TEST_SUITE(conformance)

BOOST_AUTO_TEST_CASE_TEMPLATE(get_of_a_missing_key_is_nullopt, F, engine_fixtures) {
  F fx;
  auto& e = fx.store();
  BOOST_CHECK(!read(e, 0, to_bytes("nope")));
  ACTORKV_REQUIRE_OK(e.put(0, to_bytes("present"), sample_record()));
  BOOST_CHECK(!read(e, 0, to_bytes("nope")));
  BOOST_CHECK(!read(e, 1, to_bytes("present")));
}

BOOST_AUTO_TEST_CASE_TEMPLATE(records_round_trip, F, engine_fixtures) {
  F fx;
  auto& e = fx.store();
  record only_tombstone;
  only_tombstone.context.entries = {dot{5, 9}};
  only_tombstone.siblings = {make_tombstone(5, 9, 77)};
  record empty_value = value_record({});
  record binary = value_record(all_byte_values());
  record no_siblings;
  no_siblings.context.entries = {dot{1, 1}, dot{2, 7}};
  record mixed = sample_record();
  mixed.siblings.push_back(make_sibling(0x3333, 4, 0, all_byte_values()));
  const std::vector<std::pair<bytes, record>> cases = {
      {to_bytes("siblings"), sample_record()},
      {to_bytes("mixed"), mixed},
      {to_bytes("tombstone"), only_tombstone},
      {to_bytes("empty-value"), empty_value},
      {to_bytes("binary"), binary},
      {to_bytes("nothing"), record{}},
      {to_bytes("no-siblings"), no_siblings},
      {all_byte_values(), value_record(to_bytes("binary key"))},
      {bytes{0}, value_record(to_bytes("nul key"))},
  };
  for (const auto& [key, rec] : cases)
    ACTORKV_REQUIRE_OK(e.put(7, key, rec));
  for (const auto& [key, rec] : cases) {
    auto got = read(e, 7, key);
    BOOST_REQUIRE(got);
    BOOST_CHECK(*got == rec);
  }
}

BOOST_AUTO_TEST_CASE_TEMPLATE(a_one_mebibyte_value_round_trips, F, engine_fixtures) {
  F fx;
  auto& e = fx.store();
  auto big = value_record(pseudo_random_bytes(1 << 20));
  ACTORKV_REQUIRE_OK(e.put(3, to_bytes("big"), big));
  auto got = read(e, 3, to_bytes("big"));
  BOOST_REQUIRE(got);
  BOOST_CHECK(*got == big);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(put_replaces_the_previous_record, F, engine_fixtures) {
  F fx;
  auto& e = fx.store();
  auto key = to_bytes("k");
  ACTORKV_REQUIRE_OK(e.put(0, key, sample_record()));
  ACTORKV_REQUIRE_OK(e.put(0, key, value_record(to_bytes("second"), 2)));
  auto got = read(e, 0, key);
  BOOST_REQUIRE(got);
  BOOST_CHECK(*got == value_record(to_bytes("second"), 2));
  BOOST_CHECK_EQUAL(scan(e, 0).size(), 1u);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(erase_removes_and_tolerates_absent_keys, F, engine_fixtures) {
  F fx;
  auto& e = fx.store();
  ACTORKV_REQUIRE_OK(e.put(0, to_bytes("a"), value_record(to_bytes("1"))));
  ACTORKV_REQUIRE_OK(e.put(0, to_bytes("b"), value_record(to_bytes("2"))));
  ACTORKV_REQUIRE_OK(e.erase(0, to_bytes("a")));
  BOOST_CHECK(!read(e, 0, to_bytes("a")));
  BOOST_CHECK(read(e, 0, to_bytes("b")));
  ACTORKV_REQUIRE_OK(e.erase(0, to_bytes("a")));
  ACTORKV_REQUIRE_OK(e.erase(9, to_bytes("never")));
  BOOST_CHECK(keys_of(scan(e, 0)) == std::vector<bytes>{to_bytes("b")});
}

BOOST_AUTO_TEST_CASE_TEMPLATE(partitions_are_isolated, F, engine_fixtures) {
  F fx;
  auto& e = fx.store();
  auto key = to_bytes("shared");
  const partition_id parts[] = {0, 1, 0xFFFFFFFFu};
  for (auto p : parts)
    ACTORKV_REQUIRE_OK(e.put(p, key, value_record(to_bytes("in " + std::to_string(p)), p + 1ull)));
  ACTORKV_REQUIRE_OK(e.put(1, to_bytes("only-in-1"), sample_record()));
  for (auto p : parts) {
    auto got = read(e, p, key);
    BOOST_REQUIRE(got);
    BOOST_CHECK(*got == value_record(to_bytes("in " + std::to_string(p)), p + 1ull));
  }
  BOOST_CHECK_EQUAL(scan(e, 0).size(), 1u);
  BOOST_CHECK_EQUAL(scan(e, 1).size(), 2u);
  BOOST_CHECK_EQUAL(scan(e, 0xFFFFFFFFu).size(), 1u);
  BOOST_CHECK(scan(e, 2).empty());
  ACTORKV_REQUIRE_OK(e.erase(1, key));
  BOOST_CHECK(read(e, 0, key));
  BOOST_CHECK(!read(e, 1, key));
  BOOST_CHECK(read(e, 0xFFFFFFFFu, key));
}

BOOST_AUTO_TEST_CASE_TEMPLATE(for_each_visits_keys_by_leaf_then_in_byte_order, F, engine_fixtures) {
  F fx;
  auto& e = fx.store();
  // Prefixes, NUL and 0xFF bytes: unsigned lexicographic order, shorter prefix first.
  std::vector<bytes> keys = {to_bytes("b"),  to_bytes("a"),  bytes{'a', 0}, to_bytes("ab"),
                             bytes{0xFF},    bytes{0},       bytes{0, 0},   bytes{0x7F, 0xFF},
                             bytes{0x80, 0}, to_bytes("aa"), bytes{0xFF, 0}};
  // Within a leaf the byte order shows: keys extended until they fall into their prefix's leaf.
  for (auto base : {to_bytes("a"), bytes{0xFF}, bytes{0}}) {
    auto leaf = merkle_tree::leaf_of(base, tree_leaf_bits);
    for (unsigned x = 0; x < 65536; ++x) {
      auto longer = base;
      longer.push_back(static_cast<uint8_t>(x >> 8));
      longer.push_back(static_cast<uint8_t>(x));
      if (merkle_tree::leaf_of(longer, tree_leaf_bits) == leaf) {
        keys.push_back(longer);
        break;
      }
    }
  }
  for (size_t i = 0; i < keys.size(); ++i)
    ACTORKV_REQUIRE_OK(e.put(4, keys[i], value_record(keys[i], i + 1)));
  ACTORKV_REQUIRE_OK(e.put(3, to_bytes("other partition"), sample_record()));
  ACTORKV_REQUIRE_OK(e.put(5, bytes{0}, sample_record()));
  auto entries = scan(e, 4);
  auto expected = keys;
  std::sort(expected.begin(), expected.end(), [](const bytes& a, const bytes& b) {
    return std::make_pair(merkle_tree::leaf_of(a, tree_leaf_bits), a) <
           std::make_pair(merkle_tree::leaf_of(b, tree_leaf_bits), b);
  });
  BOOST_CHECK_EQUAL(keys.size(), 14u);
  BOOST_CHECK(keys_of(entries) == expected);
  for (const auto& [key, rec] : entries) {
    BOOST_REQUIRE_EQUAL(rec.siblings.size(), 1u);
    BOOST_CHECK(rec.siblings[0].value == key);
  }
}

BOOST_AUTO_TEST_CASE_TEMPLATE(for_each_stops_when_told, F, engine_fixtures) {
  F fx;
  auto& e = fx.store();
  for (char c = 'a'; c <= 'j'; ++c)
    ACTORKV_REQUIRE_OK(e.put(0, bytes{static_cast<uint8_t>(c)}, value_record(to_bytes("x"))));
  std::vector<bytes> seen;
  auto err = e.for_each(0, [&](const bytes& key, caf::expected<record>&&) {
    seen.push_back(key);
    return seen.size() < 3;
  });
  ACTORKV_REQUIRE_OK(err);
  auto all = keys_of(scan(e, 0));
  BOOST_CHECK(seen == std::vector<bytes>(all.begin(), all.begin() + 3));
  // An early stop leaves the engine ready for the next call, including another scan.
  ACTORKV_REQUIRE_OK(e.put(0, to_bytes("z"), value_record(to_bytes("y"))));
  BOOST_CHECK_EQUAL(scan(e, 0).size(), 11u);
  size_t calls = 0;
  ACTORKV_REQUIRE_OK(e.for_each(9, [&](const bytes&, caf::expected<record>&&) {
    ++calls;
    return true;
  }));
  BOOST_CHECK_EQUAL(calls, 0u);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(a_committed_batch_is_applied, F, engine_fixtures) {
  F fx;
  auto& e = fx.store();
  ACTORKV_REQUIRE_OK(e.put(0, to_bytes("old"), value_record(to_bytes("old"))));
  ACTORKV_REQUIRE_OK(e.begin());
  for (int i = 0; i < 500; ++i)
    ACTORKV_REQUIRE_OK(e.put(1, to_bytes("key" + std::to_string(i)),
                             value_record(to_bytes(std::to_string(i)), i + 1)));
  ACTORKV_REQUIRE_OK(e.erase(0, to_bytes("old")));
  ACTORKV_REQUIRE_OK(e.set_meta("epoch", "7"));
  // A batch reads its own writes.
  BOOST_CHECK(read(e, 1, to_bytes("key499")));
  BOOST_CHECK(!read(e, 0, to_bytes("old")));
  ACTORKV_REQUIRE_OK(e.commit());
  BOOST_CHECK_EQUAL(scan(e, 1).size(), 500u);
  BOOST_CHECK(!read(e, 0, to_bytes("old")));
  auto epoch = e.get_meta("epoch");
  ACTORKV_REQUIRE_OK(epoch);
  BOOST_CHECK(*epoch == std::optional<std::string>{"7"});
  // Writes after the batch are their own transactions again.
  ACTORKV_REQUIRE_OK(e.put(0, to_bytes("after"), sample_record()));
  BOOST_CHECK(read(e, 0, to_bytes("after")));
}

BOOST_AUTO_TEST_CASE_TEMPLATE(a_rolled_back_batch_leaves_no_trace, F, engine_fixtures) {
  F fx;
  auto& e = fx.store();
  ACTORKV_REQUIRE_OK(e.put(0, to_bytes("kept"), value_record(to_bytes("v1"))));
  ACTORKV_REQUIRE_OK(e.put(0, to_bytes("erased"), value_record(to_bytes("v2"))));
  ACTORKV_REQUIRE_OK(e.set_meta("name", "before"));
  ACTORKV_REQUIRE_OK(e.begin());
  ACTORKV_REQUIRE_OK(e.put(0, to_bytes("kept"), value_record(to_bytes("changed"), 2)));
  ACTORKV_REQUIRE_OK(e.put(0, to_bytes("kept"), value_record(to_bytes("changed again"), 3)));
  ACTORKV_REQUIRE_OK(e.erase(0, to_bytes("erased")));
  ACTORKV_REQUIRE_OK(e.put(0, to_bytes("new"), sample_record()));
  ACTORKV_REQUIRE_OK(e.erase(0, to_bytes("new")));
  ACTORKV_REQUIRE_OK(e.put(0, to_bytes("new"), sample_record()));
  ACTORKV_REQUIRE_OK(e.set_meta("name", "during"));
  ACTORKV_REQUIRE_OK(e.set_meta("added", "x"));
  e.rollback();
  auto kept = read(e, 0, to_bytes("kept"));
  BOOST_REQUIRE(kept);
  BOOST_CHECK(*kept == value_record(to_bytes("v1")));
  BOOST_CHECK(read(e, 0, to_bytes("erased")));
  BOOST_CHECK(!read(e, 0, to_bytes("new")));
  auto left = keys_of(scan(e, 0));
  std::sort(left.begin(), left.end());
  BOOST_CHECK(left == (std::vector<bytes>{to_bytes("erased"), to_bytes("kept")}));
  auto name = e.get_meta("name");
  ACTORKV_REQUIRE_OK(name);
  BOOST_CHECK(*name == std::optional<std::string>{"before"});
  auto added = e.get_meta("added");
  ACTORKV_REQUIRE_OK(added);
  BOOST_CHECK(!*added);
  // The engine accepts a new batch and plain writes afterwards.
  ACTORKV_REQUIRE_OK(e.begin());
  ACTORKV_REQUIRE_OK(e.put(0, to_bytes("next"), sample_record()));
  ACTORKV_REQUIRE_OK(e.commit());
  BOOST_CHECK(read(e, 0, to_bytes("next")));
}

BOOST_AUTO_TEST_CASE_TEMPLATE(batches_do_not_nest_and_need_a_begin, F, engine_fixtures) {
  F fx;
  auto& e = fx.store();
  ACTORKV_CHECK_EC(e.commit(), ec::storage_failure);
  e.rollback(); // without a batch: nothing to do
  ACTORKV_REQUIRE_OK(e.begin());
  ACTORKV_CHECK_EC(e.begin(), ec::storage_failure);
  // The failed begin() left the first batch open and intact.
  ACTORKV_REQUIRE_OK(e.put(0, to_bytes("k"), sample_record()));
  ACTORKV_REQUIRE_OK(e.commit());
  BOOST_CHECK(read(e, 0, to_bytes("k")));
  ACTORKV_CHECK_EC(e.commit(), ec::storage_failure);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(reads_together_see_what_is_stored_and_hold_nothing_open, F,
                              engine_fixtures) {
  F fx;
  auto& e = fx.store();
  ACTORKV_REQUIRE_OK(e.put(0, to_bytes("a"), value_record(to_bytes("A"))));
  ACTORKV_REQUIRE_OK(e.put(1, to_bytes("b"), value_record(to_bytes("B"))));
  std::optional<record> a, b, missing;
  e.read_together([&] {
    a = read(e, 0, to_bytes("a"));
    b = read(e, 1, to_bytes("b"));
    missing = read(e, 0, to_bytes("b"));
  });
  BOOST_CHECK(a == value_record(to_bytes("A")));
  BOOST_CHECK(b == value_record(to_bytes("B")));
  BOOST_CHECK(!missing);
  // Nothing stays open: a batch begins and commits, and a plain write stands on its own.
  ACTORKV_REQUIRE_OK(e.begin());
  ACTORKV_REQUIRE_OK(e.put(0, to_bytes("a"), value_record(to_bytes("A2"), 2)));
  // Inside a batch, reads together see the batch's own writes.
  e.read_together([&] { a = read(e, 0, to_bytes("a")); });
  BOOST_CHECK(a == value_record(to_bytes("A2"), 2));
  ACTORKV_REQUIRE_OK(e.commit());
  e.read_together([&] { a = read(e, 0, to_bytes("a")); });
  ACTORKV_REQUIRE_OK(e.put(0, to_bytes("c"), sample_record()));
  e.rollback(); // no batch is open, so this must not undo the plain write
  BOOST_CHECK(read(e, 0, to_bytes("c")));
  BOOST_CHECK(a == value_record(to_bytes("A2"), 2));
}

BOOST_AUTO_TEST_CASE_TEMPLATE(meta_values_are_stored_and_replaced, F, engine_fixtures) {
  F fx;
  auto& e = fx.store();
  auto missing = e.get_meta("replica_id");
  ACTORKV_REQUIRE_OK(missing);
  BOOST_CHECK(!*missing);
  ACTORKV_REQUIRE_OK(e.set_meta("replica_id", "12345"));
  ACTORKV_REQUIRE_OK(e.set_meta("empty", ""));
  ACTORKV_REQUIRE_OK(e.set_meta("replica_id", "67890"));
  auto id = e.get_meta("replica_id");
  ACTORKV_REQUIRE_OK(id);
  BOOST_CHECK(*id == std::optional<std::string>{"67890"});
  auto empty = e.get_meta("empty");
  ACTORKV_REQUIRE_OK(empty);
  BOOST_CHECK(*empty == std::optional<std::string>{""});
  // Meta names and record keys live apart.
  BOOST_CHECK(scan(e, 0).empty());
}

BOOST_AUTO_TEST_CASE_TEMPLATE(the_schema_version_is_readable_but_reserved, F, engine_fixtures) {
  F fx;
  auto& e = fx.store();
  auto version = e.get_meta("schema_version");
  ACTORKV_REQUIRE_OK(version);
  BOOST_CHECK(*version == std::optional<std::string>{"4"});
  ACTORKV_CHECK_EC(e.set_meta("schema_version", "5"), ec::storage_failure);
  version = e.get_meta("schema_version");
  ACTORKV_REQUIRE_OK(version);
  BOOST_CHECK(*version == std::optional<std::string>{"4"});
  // So are the engine's other rows (newest_timestamp(), check_owed()).
  ACTORKV_CHECK_EC(e.set_meta("newest_timestamp_us", "1"), ec::storage_failure);
  ACTORKV_CHECK_EC(e.set_meta("open_state", "closed"), ec::storage_failure);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(hints_are_listed_per_target_oldest_first_up_to_a_limit, F,
                              engine_fixtures) {
  F fx;
  auto& e = fx.store();
  // Interleaved targets, a binary key, a key held twice for one target, a tombstone.
  const std::vector<hint> added = {
      {0, "n2", 5, to_bytes("a"), value_record(to_bytes("1"))},
      {0, "n3", 5, to_bytes("a"), value_record(to_bytes("1"))},
      {0, "n2", 0xFFFFu, all_byte_values(), sample_record()},
      {0, "n2", 5, to_bytes("a"), value_record(to_bytes("2"), 2)},
      {0, "n3", 7, bytes{}, record{}},
      {0, "n2", 9, to_bytes("gone"), {version_vector{{dot{7, 1}}}, {make_tombstone(7, 1, 5)}}},
  };
  std::vector<hint> expected;
  for (auto h : added) {
    auto id = e.add_hint(h.target, h.partition, h.key, h.rec);
    ACTORKV_REQUIRE_OK(id);
    if (!expected.empty())
      BOOST_CHECK_GT(*id, expected.back().id);
    h.id = *id;
    expected.push_back(std::move(h));
  }
  auto of = [&](const std::string& target) {
    std::vector<hint> out;
    for (const auto& h : expected)
      if (h.target == target)
        out.push_back(h);
    return out;
  };
  auto same = [](const std::vector<hint>& got, const std::vector<hint>& want) {
    if (got.size() != want.size())
      return false;
    for (size_t i = 0; i < got.size(); ++i)
      if (got[i].id != want[i].id || got[i].target != want[i].target ||
          got[i].partition != want[i].partition || got[i].key != want[i].key ||
          got[i].rec != want[i].rec)
        return false;
    return true;
  };
  size_t dropped = 99;
  auto all_n2 = e.hints_for("n2", 100, &dropped);
  ACTORKV_REQUIRE_OK(all_n2);
  BOOST_CHECK(same(*all_n2, of("n2")));
  BOOST_CHECK_EQUAL(dropped, 0u);
  auto first_two = e.hints_for("n2", 2);
  ACTORKV_REQUIRE_OK(first_two);
  auto want = of("n2");
  want.resize(2);
  BOOST_CHECK(same(*first_two, want));
  auto n3 = e.hints_for("n3", 2);
  ACTORKV_REQUIRE_OK(n3);
  BOOST_CHECK(same(*n3, of("n3")));
  for (const auto& [target, limit] :
       {std::pair<std::string, size_t>{"n2", 0}, {"n4", 10}, {"n", 10}, {"n22", 10}, {"", 10}}) {
    auto none = e.hints_for(target, limit);
    ACTORKV_REQUIRE_OK(none);
    BOOST_CHECK_MESSAGE(none->empty(), "'" << target << "' limit " << limit);
  }
}

BOOST_AUTO_TEST_CASE_TEMPLATE(hints_live_apart_from_records, F, engine_fixtures) {
  F fx;
  auto& e = fx.store();
  ACTORKV_REQUIRE_OK(e.add_hint("n2", 3, to_bytes("k"), sample_record()));
  ACTORKV_REQUIRE_OK(e.add_hint("n2", 0xFFFFFFFFu, to_bytes("k"), sample_record()));
  BOOST_CHECK(!read(e, 3, to_bytes("k")));
  BOOST_CHECK(scan(e, 3).empty());
  BOOST_CHECK(scan(e, 0xFFFFFFFFu).empty());
  ACTORKV_REQUIRE_OK(e.put(3, to_bytes("k"), value_record(to_bytes("record"))));
  ACTORKV_REQUIRE_OK(e.erase(3, to_bytes("k")));
  auto held = e.hints_for("n2", 10);
  ACTORKV_REQUIRE_OK(held);
  BOOST_REQUIRE_EQUAL(held->size(), 2u);
  BOOST_CHECK(held->at(0).rec == sample_record());
}

BOOST_AUTO_TEST_CASE_TEMPLATE(removing_hints_and_counting_them, F, engine_fixtures) {
  F fx;
  auto& e = fx.store();
  auto counts = e.hint_counts();
  ACTORKV_REQUIRE_OK(counts);
  BOOST_CHECK(counts->empty());
  std::vector<uint64_t> n2_ids;
  for (int i = 0; i < 3; ++i) {
    auto id = e.add_hint("n2", 1, to_bytes("k" + std::to_string(i)), sample_record());
    ACTORKV_REQUIRE_OK(id);
    n2_ids.push_back(*id);
  }
  auto n5 = e.add_hint("n5", 1, to_bytes("k"), sample_record());
  ACTORKV_REQUIRE_OK(n5);
  counts = e.hint_counts();
  ACTORKV_REQUIRE_OK(counts);
  BOOST_CHECK((*counts == std::map<std::string, uint64_t>{{"n2", 3}, {"n5", 1}}));
  // The middle one: the others keep their order.
  ACTORKV_REQUIRE_OK(e.remove_hint(n2_ids[1]));
  auto held = e.hints_for("n2", 10);
  ACTORKV_REQUIRE_OK(held);
  BOOST_REQUIRE_EQUAL(held->size(), 2u);
  BOOST_CHECK_EQUAL(held->at(0).id, n2_ids[0]);
  BOOST_CHECK_EQUAL(held->at(1).id, n2_ids[2]);
  // Absent ids: already removed, never issued.
  ACTORKV_REQUIRE_OK(e.remove_hint(n2_ids[1]));
  ACTORKV_REQUIRE_OK(e.remove_hint(*n5 + 1000));
  ACTORKV_REQUIRE_OK(e.remove_hint(0));
  ACTORKV_REQUIRE_OK(e.remove_hint(*n5));
  counts = e.hint_counts();
  ACTORKV_REQUIRE_OK(counts);
  BOOST_CHECK((*counts == std::map<std::string, uint64_t>{{"n2", 2}}));
  ACTORKV_REQUIRE_OK(e.remove_hint(n2_ids[0]));
  ACTORKV_REQUIRE_OK(e.remove_hint(n2_ids[2]));
  counts = e.hint_counts();
  ACTORKV_REQUIRE_OK(counts);
  BOOST_CHECK(counts->empty());
  // Ids keep increasing after the queue ran empty.
  auto later = e.add_hint("n2", 1, to_bytes("later"), sample_record());
  ACTORKV_REQUIRE_OK(later);
  BOOST_CHECK_GT(*later, *n5);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(hints_for_a_target_are_dropped_a_bounded_batch_at_a_time, F,
                              engine_fixtures) {
  F fx;
  auto& e = fx.store();
  std::vector<uint64_t> gone_ids;
  for (int i = 0; i < 5; ++i) {
    auto id = e.add_hint("gone", 1, to_bytes("k" + std::to_string(i)), sample_record());
    ACTORKV_REQUIRE_OK(id);
    gone_ids.push_back(*id);
    ACTORKV_REQUIRE_OK(e.add_hint("kept", 1, to_bytes("k" + std::to_string(i)), sample_record()));
  }
  auto dropped = e.drop_hints("gone", 2);
  ACTORKV_REQUIRE_OK(dropped);
  BOOST_CHECK_EQUAL(*dropped, 2u);
  // The oldest went first; the other target is untouched.
  auto left = e.hints_for("gone", 10);
  ACTORKV_REQUIRE_OK(left);
  BOOST_REQUIRE_EQUAL(left->size(), 3u);
  BOOST_CHECK_EQUAL(left->front().id, gone_ids[2]);
  auto counts = e.hint_counts();
  ACTORKV_REQUIRE_OK(counts);
  BOOST_CHECK((*counts == std::map<std::string, uint64_t>{{"gone", 3}, {"kept", 5}}));
  // Rolled back with its batch like any removal.
  ACTORKV_REQUIRE_OK(e.begin());
  dropped = e.drop_hints("gone", 100);
  ACTORKV_REQUIRE_OK(dropped);
  BOOST_CHECK_EQUAL(*dropped, 3u);
  e.rollback();
  counts = e.hint_counts();
  ACTORKV_REQUIRE_OK(counts);
  BOOST_CHECK_EQUAL(counts->at("gone"), 3u);
  dropped = e.drop_hints("gone", 100);
  ACTORKV_REQUIRE_OK(dropped);
  BOOST_CHECK_EQUAL(*dropped, 3u);
  dropped = e.drop_hints("gone", 100);
  ACTORKV_REQUIRE_OK(dropped);
  BOOST_CHECK_EQUAL(*dropped, 0u);
  counts = e.hint_counts();
  ACTORKV_REQUIRE_OK(counts);
  BOOST_CHECK((*counts == std::map<std::string, uint64_t>{{"kept", 5}}));
}

BOOST_AUTO_TEST_CASE_TEMPLATE(hints_follow_batches, F, engine_fixtures) {
  F fx;
  auto& e = fx.store();
  auto kept = e.add_hint("n2", 1, to_bytes("kept"), sample_record());
  ACTORKV_REQUIRE_OK(kept);
  // Rolled back: the added hint vanishes, the removed one returns.
  ACTORKV_REQUIRE_OK(e.begin());
  ACTORKV_REQUIRE_OK(e.put(1, to_bytes("record"), sample_record()));
  auto discarded = e.add_hint("n2", 1, to_bytes("discarded"), sample_record());
  ACTORKV_REQUIRE_OK(discarded);
  ACTORKV_REQUIRE_OK(e.remove_hint(*kept));
  auto inside = e.hints_for("n2", 10); // a batch reads its own writes
  ACTORKV_REQUIRE_OK(inside);
  BOOST_REQUIRE_EQUAL(inside->size(), 1u);
  BOOST_CHECK(inside->at(0).key == to_bytes("discarded"));
  e.rollback();
  auto held = e.hints_for("n2", 10);
  ACTORKV_REQUIRE_OK(held);
  BOOST_REQUIRE_EQUAL(held->size(), 1u);
  BOOST_CHECK_EQUAL(held->at(0).id, *kept);
  auto counts = e.hint_counts();
  ACTORKV_REQUIRE_OK(counts);
  BOOST_CHECK((*counts == std::map<std::string, uint64_t>{{"n2", 1}}));
  // Committed: hint and record together.
  ACTORKV_REQUIRE_OK(e.begin());
  ACTORKV_REQUIRE_OK(e.put(1, to_bytes("record"), sample_record()));
  auto committed = e.add_hint("n3", 1, to_bytes("record"), sample_record());
  ACTORKV_REQUIRE_OK(committed);
  ACTORKV_REQUIRE_OK(e.commit());
  BOOST_CHECK_GT(*committed, *kept);
  held = e.hints_for("n3", 10);
  ACTORKV_REQUIRE_OK(held);
  BOOST_REQUIRE_EQUAL(held->size(), 1u);
  BOOST_CHECK_EQUAL(held->at(0).id, *committed);
  BOOST_CHECK(read(e, 1, to_bytes("record")));
}

BOOST_AUTO_TEST_CASE_TEMPLATE(leaf_summaries_and_leaf_keys_follow_every_write, F, engine_fixtures) {
  F fx;
  auto& e = fx.store();
  auto empty = e.leaves(7);
  ACTORKV_REQUIRE_OK(empty);
  BOOST_CHECK(*empty == std::vector<uint64_t>(size_t{1} << tree_leaf_bits, 0));
  for (int i = 0; i < 600; ++i)
    ACTORKV_REQUIRE_OK(e.put(7, to_bytes("k" + std::to_string(i)),
                             value_record(to_bytes("v" + std::to_string(i)), i + 1)));
  ACTORKV_REQUIRE_OK(e.put(8, to_bytes("k1"), sample_record()));
  check_summaries(e, 7);
  // Overwrites, deletes, a delete of an absent key, in a batch and outside.
  ACTORKV_REQUIRE_OK(e.begin());
  for (int i = 0; i < 600; i += 3)
    ACTORKV_REQUIRE_OK(e.put(7, to_bytes("k" + std::to_string(i)), sample_record()));
  for (int i = 1; i < 600; i += 5)
    ACTORKV_REQUIRE_OK(e.erase(7, to_bytes("k" + std::to_string(i))));
  ACTORKV_REQUIRE_OK(e.erase(7, to_bytes("never")));
  ACTORKV_REQUIRE_OK(e.commit());
  ACTORKV_REQUIRE_OK(e.put(7, to_bytes("k0"), value_record(to_bytes("again"), 9)));
  check_summaries(e, 7);
  check_summaries(e, 8);
  // Only the leaves asked for are listed; indexes beyond the last leaf are ignored.
  auto k5 = to_bytes("k5");
  auto leaf = merkle_tree::leaf_of(k5, tree_leaf_bits);
  auto listed = e.leaf_keys(7, {leaf, uint64_t{1} << tree_leaf_bits});
  ACTORKV_REQUIRE_OK(listed);
  BOOST_CHECK(!listed->empty());
  BOOST_CHECK(std::any_of(listed->begin(), listed->end(),
                          [&](const key_digest& kd) { return kd.key == k5; }));
  for (auto& kd : *listed)
    BOOST_CHECK_EQUAL(merkle_tree::leaf_of(kd.key, tree_leaf_bits), leaf);
  // Everything deleted: the leaves are empty again.
  for (auto& key : keys_of(scan(e, 7)))
    ACTORKV_REQUIRE_OK(e.erase(7, key));
  check_summaries(e, 7);
  auto cleared = e.leaves(7);
  ACTORKV_REQUIRE_OK(cleared);
  BOOST_CHECK(*cleared == std::vector<uint64_t>(size_t{1} << tree_leaf_bits, 0));
}

BOOST_AUTO_TEST_CASE_TEMPLATE(a_rolled_back_batch_restores_the_summaries_and_newest_timestamp, F,
                              engine_fixtures) {
  F fx;
  auto& e = fx.store();
  BOOST_CHECK_EQUAL(e.newest_timestamp(), 0);
  for (int i = 0; i < 50; ++i)
    ACTORKV_REQUIRE_OK(e.put(2, to_bytes("k" + std::to_string(i)), value_record(to_bytes("v"))));
  auto before = e.leaves(2);
  ACTORKV_REQUIRE_OK(before);
  auto newest = e.newest_timestamp();
  BOOST_CHECK_EQUAL(newest, 1001); // value_record's timestamp
  ACTORKV_REQUIRE_OK(e.begin());
  record later = value_record(to_bytes("later"));
  later.siblings[0].timestamp_us = 5'000'000;
  ACTORKV_REQUIRE_OK(e.put(2, to_bytes("k1"), later));
  ACTORKV_REQUIRE_OK(e.put(2, to_bytes("added"), later));
  ACTORKV_REQUIRE_OK(e.erase(2, to_bytes("k2")));
  BOOST_CHECK_EQUAL(e.newest_timestamp(), 5'000'000);
  e.rollback();
  auto after = e.leaves(2);
  ACTORKV_REQUIRE_OK(after);
  BOOST_CHECK(*after == *before);
  BOOST_CHECK_EQUAL(e.newest_timestamp(), newest);
  check_summaries(e, 2);
  // Committed, the newest timestamp stays (it never goes down, not even when the record goes).
  ACTORKV_REQUIRE_OK(e.begin());
  ACTORKV_REQUIRE_OK(e.put(2, to_bytes("added"), later));
  ACTORKV_REQUIRE_OK(e.commit());
  ACTORKV_REQUIRE_OK(e.erase(2, to_bytes("added")));
  BOOST_CHECK_EQUAL(e.newest_timestamp(), 5'000'000);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(a_scan_continues_after_its_cursor, F, engine_fixtures) {
  F fx;
  auto& e = fx.store();
  for (int i = 0; i < 100; ++i)
    ACTORKV_REQUIRE_OK(e.put(1, to_bytes("k" + std::to_string(i)), value_record(to_bytes("v"))));
  ACTORKV_REQUIRE_OK(e.put(2, to_bytes("zzz"), value_record(to_bytes("other partition"))));
  auto all = keys_of(scan(e, 1));
  // Batches of 7 from the last key each reported: every key once, in order.
  std::vector<bytes> batched;
  std::optional<bytes> cursor;
  for (;;) {
    std::vector<bytes> batch;
    ACTORKV_REQUIRE_OK(e.for_each(1, cursor, [&](const bytes& key, caf::expected<record>&&) {
      batch.push_back(key);
      return batch.size() < 7;
    }));
    if (batch.empty())
      break;
    batched.insert(batched.end(), batch.begin(), batch.end());
    cursor = batch.back();
  }
  BOOST_CHECK(batched == all);
  // A cursor need not be a stored key: the scan starts at the first key after it.
  std::vector<bytes> rest;
  ACTORKV_REQUIRE_OK(e.for_each(1, to_bytes("k5"), [&](const bytes& key, caf::expected<record>&&) {
    rest.push_back(key);
    return true;
  }));
  auto scan_position = [](const bytes& key) {
    return std::make_pair(merkle_tree::leaf_of(key, tree_leaf_bits), key);
  };
  std::vector<bytes> expected;
  for (auto& key : all)
    if (scan_position(to_bytes("k5")) < scan_position(key))
      expected.push_back(key);
  BOOST_CHECK(rest == expected);
  // Nor need it still be there: the key that followed it comes next.
  auto at = std::find(all.begin(), all.end(), to_bytes("k50"));
  BOOST_REQUIRE(at != all.end() && at + 1 != all.end());
  ACTORKV_REQUIRE_OK(e.erase(1, to_bytes("k50")));
  rest.clear();
  ACTORKV_REQUIRE_OK(e.for_each(1, to_bytes("k50"), [&](const bytes& key, caf::expected<record>&&) {
    rest.push_back(key);
    return rest.size() < 1;
  }));
  BOOST_CHECK(rest == std::vector<bytes>{*(at + 1)});
}

namespace {

/// The keys for_each_dead reports for partition `p` before `before_us`, in order, read in
/// batches of `batch` from a cursor as the collector reads them.
std::vector<bytes> dead_keys(engine& e, partition_id p, int64_t before_us, size_t batch = 1000) {
  std::vector<bytes> out;
  std::optional<bytes> cursor;
  for (;;) {
    size_t n = 0;
    ACTORKV_REQUIRE_OK(
        e.for_each_dead(p, cursor, before_us, [&](const bytes& key, caf::expected<record>&& rec) {
          BOOST_CHECK(rec);
          out.push_back(key);
          return ++n < batch;
        }));
    if (n < batch)
      return out;
    cursor = out.back();
  }
}

} // namespace

BOOST_AUTO_TEST_CASE_TEMPLATE(the_dead_records_are_those_whose_every_sibling_died_before, F,
                              engine_fixtures) {
  F fx;
  auto& e = fx.store();
  auto with_expiry = [](int64_t expires_us) {
    auto r = value_record(to_bytes("ttl"));
    r.siblings[0].expires_us = expires_us;
    return r;
  };
  auto tombstone = [](int64_t ts) {
    record r;
    r.context.entries = {dot{7, 1}};
    r.siblings = {make_tombstone(7, 1, ts)};
    return r;
  };
  ACTORKV_REQUIRE_OK(e.put(1, to_bytes("live"), value_record(to_bytes("v"))));
  ACTORKV_REQUIRE_OK(e.put(1, to_bytes("deleted"), tombstone(1000)));
  ACTORKV_REQUIRE_OK(e.put(1, to_bytes("deleted late"), tombstone(5000)));
  ACTORKV_REQUIRE_OK(e.put(1, to_bytes("expired"), with_expiry(2000)));
  ACTORKV_REQUIRE_OK(e.put(1, to_bytes("expires later"), with_expiry(9000)));
  auto mixed = tombstone(1000);
  mixed.siblings.push_back(make_sibling(8, 1, 500, to_bytes("concurrent value")));
  mixed.context.entries.push_back(dot{8, 1});
  ACTORKV_REQUIRE_OK(e.put(1, to_bytes("deleted beside a value"), mixed));
  ACTORKV_REQUIRE_OK(e.put(1, to_bytes("deleted, then written"), tombstone(1000)));
  ACTORKV_REQUIRE_OK(e.put(1, to_bytes("deleted, then written"), value_record(to_bytes("back"))));
  ACTORKV_REQUIRE_OK(e.put(1, to_bytes("deleted, then erased"), tombstone(1000)));
  ACTORKV_REQUIRE_OK(e.erase(1, to_bytes("deleted, then erased")));
  ACTORKV_REQUIRE_OK(e.put(2, to_bytes("other partition"), tombstone(1000)));
  // In scan order, as for_each reports them.
  auto in_scan_order = [&](std::vector<bytes> wanted) {
    std::vector<bytes> out;
    for (auto& [key, rec] : scan(e, 1))
      if (std::find(wanted.begin(), wanted.end(), key) != wanted.end())
        out.push_back(key);
    return out;
  };
  BOOST_CHECK(dead_keys(e, 1, 3000) == in_scan_order({to_bytes("deleted"), to_bytes("expired")}));
  BOOST_CHECK(dead_keys(e, 1, 1000).empty()); // strictly before
  auto all_dead = in_scan_order({to_bytes("deleted"), to_bytes("deleted late"), to_bytes("expired"),
                                 to_bytes("expires later")});
  BOOST_CHECK(dead_keys(e, 1, 10000) == all_dead);
  BOOST_CHECK(dead_keys(e, 1, 10000, 1) == all_dead); // a cursor continues where it stopped
  // A record that stops dying leaves the list, one that starts dying joins it.
  ACTORKV_REQUIRE_OK(e.begin());
  ACTORKV_REQUIRE_OK(e.put(1, to_bytes("deleted"), value_record(to_bytes("written again"))));
  ACTORKV_REQUIRE_OK(e.put(1, to_bytes("live"), tombstone(100)));
  ACTORKV_REQUIRE_OK(e.commit());
  BOOST_CHECK(dead_keys(e, 1, 3000) == in_scan_order({to_bytes("live"), to_bytes("expired")}));
  // And a rolled-back batch changes nothing.
  ACTORKV_REQUIRE_OK(e.begin());
  ACTORKV_REQUIRE_OK(e.erase(1, to_bytes("live")));
  ACTORKV_REQUIRE_OK(e.put(1, to_bytes("deleted"), tombstone(100)));
  e.rollback();
  BOOST_CHECK(dead_keys(e, 1, 3000) == in_scan_order({to_bytes("live"), to_bytes("expired")}));
  BOOST_CHECK(dead_keys(e, 2, 3000) == std::vector<bytes>{to_bytes("other partition")});
}

BOOST_AUTO_TEST_CASE_TEMPLATE(refreshing_a_digest_of_an_intact_record_changes_nothing, F,
                              engine_fixtures) {
  F fx;
  auto& e = fx.store();
  ACTORKV_REQUIRE_OK(e.put(3, to_bytes("a"), sample_record()));
  auto before = e.leaves(3);
  ACTORKV_REQUIRE_OK(before);
  ACTORKV_REQUIRE_OK(e.refresh_digest(3, to_bytes("a")));
  ACTORKV_REQUIRE_OK(e.refresh_digest(3, to_bytes("absent")));
  auto after = e.leaves(3);
  ACTORKV_REQUIRE_OK(after);
  BOOST_CHECK(*after == *before);
  check_summaries(e, 3);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(an_integrity_check_of_an_intact_store_finds_nothing, F,
                              engine_fixtures) {
  F fx;
  auto& e = fx.store();
  for (int i = 0; i < 300; ++i)
    ACTORKV_REQUIRE_OK(e.put(i % 5, to_bytes("k" + std::to_string(i)), sample_record()));
  BOOST_CHECK(!e.check_owed());
  check_control control;
  auto report = e.integrity_check()(control);
  BOOST_CHECK_MESSAGE(!report.damage, describe(report.damage));
  BOOST_CHECK_MESSAGE(!report.failure, describe(report.failure));
  BOOST_CHECK_EQUAL(report.records, 300u);
  BOOST_CHECK_EQUAL(control.records.load(), 300u);
  BOOST_CHECK(report.suspects.empty());
  ACTORKV_REQUIRE_OK(e.check_done(report));
  BOOST_CHECK(!e.check_owed());
  // Cancelled before it starts: it stops at once and reports a failure, not damage.
  check_control cancelled;
  cancelled.cancel = true;
  report = e.integrity_check()(cancelled);
  BOOST_CHECK(!report.damage);
  BOOST_CHECK(report.failure);
  BOOST_CHECK_LT(report.records, 300u);
}

BOOST_AUTO_TEST_SUITE_END()
