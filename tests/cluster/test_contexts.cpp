// Contexts as a user meets them on real kvnode processes: a context is bound to its key and its
// instance, a forged counter cannot turn a key into silent overwrite, and a delete without a
// context removes what it read (through kvsh and the HTTPS API), while `delete --blind` still
// writes a bare tombstone.
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "cluster-config/ring.hpp"
#include "messages/hex.hpp"
#include "storage/engine.hpp"
#include "tests/cluster/common.hpp"

using namespace actorkv;
using namespace actorkv::test;
using namespace std::chrono_literals;

namespace {

local_cluster::options three_nodes(const std::string& conflicts = "siblings") {
  local_cluster::options o;
  o.nodes = 3;
  o.partitions = 64;
  o.conflicts = conflicts;
  o.extra_toml = "[timeouts]\nrequest_ms = 2000\nclient_ms = 5000\n";
  return o;
}

/// The values kvsh printed for one get, sorted: one line, or "(N siblings)" and "[i] value"
/// lines; empty for "(not found)".
std::vector<std::string> values_in(const std::string& out) {
  std::vector<std::string> lines;
  std::istringstream in{out};
  for (std::string line; std::getline(in, line);)
    if (line.rfind("context: ", 0) != 0)
      lines.push_back(line);
  std::vector<std::string> values;
  if (lines.empty() || lines[0] == "(not found)")
    return values;
  if (lines[0].front() == '(' && lines[0].find(" siblings)") != std::string::npos) {
    for (size_t i = 1; i < lines.size(); ++i)
      values.push_back(lines[i].substr(lines[i].find("] ") + 2));
  } else {
    values.push_back(lines[0]);
  }
  std::sort(values.begin(), values.end());
  return values;
}

bool get_varint(const bytes& data, size_t& pos, uint64_t& x) {
  x = 0;
  for (unsigned shift = 0; pos < data.size() && shift < 64; shift += 7) {
    auto byte = data[pos++];
    x |= static_cast<uint64_t>(byte & 0x7f) << shift;
    if ((byte & 0x80) == 0)
      return true;
  }
  return false;
}

void put_varint(bytes& out, uint64_t x) {
  while (x >= 0x80) {
    out.push_back(static_cast<uint8_t>(x) | 0x80);
    x >>= 7;
  }
  out.push_back(static_cast<uint8_t>(x));
}

/// A forged context: `hex` (a context kvsh printed, with one entry) with that entry's counter
/// replaced by `counter`, as a client that knows the layout (messages/dvv.hpp) could craft it.
std::string with_counter(const std::string& hex, uint64_t counter) {
  auto data = from_hex(hex);
  BOOST_REQUIRE(data && !data->empty());
  // Format 1 was the version vector alone; format 2 has the key and instance digests first.
  size_t pos = (*data)[0] == 2 ? 1 + 8 + 4 : 1;
  uint64_t count = 0;
  uint64_t id = 0;
  BOOST_REQUIRE(get_varint(*data, pos, count));
  BOOST_REQUIRE_EQUAL(count, 1u);
  BOOST_REQUIRE(get_varint(*data, pos, id));
  data->resize(pos);
  put_varint(*data, counter);
  return to_hex(*data);
}

/// The siblings of `key` in the stopped node's database: (visible values, tombstones).
std::pair<std::vector<std::string>, size_t>
stored_siblings(const std::string& data_dir, const std::string& key, uint32_t partitions) {
  auto engine = storage::open_sqlite_engine(data_dir + "/actorkv.db", storage::sync_mode::normal);
  BOOST_REQUIRE(engine);
  bytes k(key.begin(), key.end());
  auto rec = (*engine)->get(partition_of(k, partitions), k);
  BOOST_REQUIRE(rec);
  BOOST_REQUIRE_MESSAGE(rec->has_value(), key << " missing in " << data_dir);
  std::vector<std::string> values;
  size_t tombstones = 0;
  for (auto& s : (*rec)->siblings) {
    if (s.tombstone)
      ++tombstones;
    else
      values.emplace_back(s.value.begin(), s.value.end());
  }
  std::sort(values.begin(), values.end());
  return {values, tombstones};
}

/// kvsh against node 0 of `c` as `c`'s admin. With two fixtures alive, the environment names the
/// certificates of the one made last, so each cluster's are passed explicitly.
run_result kvsh_of(local_cluster& c, const std::string& script) {
  return c.kvsh_args({"--connect", c.endpoint(0), "--ca", c.cert_path("ca"), "--cert",
                      c.cert_path("admin"), "--key", c.key_path("admin")},
                     script);
}

/// What curl got from the node's HTTPS API: the status and the body.
struct http_result {
  int status = 0;
  std::string body;
};

http_result curl(local_cluster& c, size_t node, const std::string& who, const std::string& method,
                 const std::string& path, const std::string& data = "") {
  std::vector<std::string> argv{"/usr/bin/curl", "-sS", "--max-time", "20", "-X", method};
  argv.insert(argv.end(), {"--cacert", c.cert_path("ca"), "--cert", c.cert_path(who)});
  argv.insert(argv.end(), {"--key", c.key_path(who), "-w", "\n%{http_code}"});
  if (!data.empty())
    argv.insert(argv.end(), {"--data-binary", data});
  argv.push_back(c.https_url(node) + path);
  auto r = run_program(argv, "", 30s);
  BOOST_REQUIRE_MESSAGE(r.exit_code == 0, "curl: " << r.err);
  auto nl = r.out.rfind('\n');
  return {std::stoi(r.out.substr(nl + 1)), r.out.substr(0, nl)};
}

} // namespace

BOOST_AUTO_TEST_SUITE(contexts)

BOOST_AUTO_TEST_CASE(another_keys_context_is_refused_and_nothing_is_lost) {
  local_cluster c{three_nodes()};
  c.start_all();
  wait_until_all_up(c);
  BOOST_REQUIRE(c.kvsh(0, "put a apple\nput b banana\n").exit_code == 0);
  auto ctx_b = context_from(c.kvsh(0, "get b --context\n").out);
  BOOST_REQUIRE(!ctx_b.empty());
  // b's context would supersede a's apple, which this client never read.
  for (auto cmd : {"put a cherry --context ", "delete a --context "}) {
    auto r = c.kvsh(0, cmd + ctx_b + "\n");
    BOOST_TEST(r.exit_code != 0, cmd << "was accepted: " << r.out);
    BOOST_TEST(r.err.find("bad_context: the context belongs to another key") != std::string::npos,
               r.err);
  }
  for (size_t i = 0; i < 3; ++i) {
    BOOST_TEST(c.kvsh(i, "get a\n").out == "apple\n", "through node " << i);
    BOOST_TEST(c.kvsh(i, "get b\n").out == "banana\n", "through node " << i);
  }
  // The key's own context still works; in the older format, which bound it to nothing, it is
  // refused as such (the same version vector without the scope's 12 bytes).
  auto ctx_a = context_from(c.kvsh(0, "get a --context\n").out);
  BOOST_REQUIRE(ctx_a.size() > 26u);
  auto r = c.kvsh(1, "put a cherry --context 01" + ctx_a.substr(26) + "\n");
  BOOST_TEST(r.exit_code != 0, "accepted: " << r.out);
  BOOST_TEST(r.err.find("bad_context: the context is in the format of an older actorkv") !=
                 std::string::npos,
             r.err);
  BOOST_REQUIRE(c.kvsh(1, "put a cherry --context " + ctx_a + "\n").exit_code == 0);
  BOOST_TEST(c.kvsh(2, "get a\n").out == "cherry\n");
}

BOOST_AUTO_TEST_CASE(a_context_from_another_instance_is_refused) {
  local_cluster first{one_node()};
  local_cluster second{one_node()};
  // The fixture names every instance "test"; an instance is its store.name.
  second.rewrite_manifest([](std::string text) {
    auto at = text.find("name = \"test\"");
    BOOST_REQUIRE(at != std::string::npos);
    return text.replace(at, 13, "name = \"other\"");
  });
  first.start_all();
  second.start_all();
  BOOST_REQUIRE(kvsh_of(first, "put k one\n").exit_code == 0);
  BOOST_REQUIRE(kvsh_of(second, "put k two\n").exit_code == 0);
  auto ctx = context_from(kvsh_of(first, "get k --context\n").out);
  BOOST_REQUIRE(!ctx.empty());
  auto r = kvsh_of(second, "put k three --context " + ctx + "\n");
  BOOST_TEST(r.exit_code != 0, "accepted: " << r.out);
  BOOST_TEST(r.err.find("bad_context: the context comes from another instance") !=
                 std::string::npos,
             r.err);
  BOOST_TEST(kvsh_of(second, "get k\n").out == "two\n");
}

BOOST_AUTO_TEST_CASE(a_forged_counter_is_refused_and_overwrites_nothing) {
  local_cluster c{three_nodes()};
  c.start_all();
  wait_until_all_up(c);
  // Every node is a home replica of every key (N = 3): the entry node coordinates, so v1's dot
  // is node 0's and the context names node 0's first write.
  BOOST_REQUIRE(c.kvsh(0, "put k v1\n").exit_code == 0);
  auto ctx = context_from(c.kvsh(0, "get k --context\n").out);
  BOOST_REQUIRE(!ctx.empty());
  auto forged = with_counter(ctx, UINT64_MAX);
  auto r = c.kvsh(0, "put k forged --context " + forged + "\n");
  BOOST_TEST(r.exit_code != 0, "accepted: " << r.out);
  BOOST_TEST(r.err.find("bad_context: the context names write 18446744073709551615 of the "
                        "replica coordinating this write, which has made 1") != std::string::npos,
             r.err);
  for (size_t i = 0; i < 3; ++i)
    BOOST_TEST(c.kvsh(i, "get k\n").out == "v1\n", "through node " << i);
  // Through node 1 the forged entry names another replica's writes, which node 1 cannot check
  // (it could merely be stale): it keeps none of the excess. Node 0's counter stays where it
  // was, so two more blind puts through node 0 are two new siblings, neither overwriting the
  // other nor the value written with the forged context.
  r = c.kvsh(1, "put k vx --context " + forged + "\n");
  BOOST_TEST(r.exit_code == 0, r.err);
  BOOST_REQUIRE(c.kvsh(0, "put k v2\n").exit_code == 0);
  BOOST_REQUIRE(c.kvsh(0, "put k v3\n").exit_code == 0);
  for (size_t i = 0; i < 3; ++i) {
    auto values = values_in(c.kvsh(i, "get k\n").out);
    for (auto v : {"v2", "v3", "vx"})
      BOOST_TEST((std::count(values.begin(), values.end(), v) == 1),
                 v << " missing through node " << i);
  }
}

// With sync = "normal" (the default) a commit reaches the disk at the next checkpoint: an OS
// crash or power loss can take a node's last writes with it after they were acknowledged and
// replicated. Its next write of such a key must not be stamped with a dot the lost write had
// (replicas take two records with one dot for the same write and keep one): after an unclean
// stop a node writes under a new replica id. The crash is simulated by putting back a copy of
// node 0's files taken (paused) before the write it then loses.
BOOST_AUTO_TEST_CASE(a_node_that_lost_its_last_writes_does_not_reuse_their_dots) {
  auto o = three_nodes();
  o.extra_toml += "[anti_entropy]\nenabled = false\n"; // read repair alone brings them together
  local_cluster c{o};
  c.start_all();
  wait_until_all_up(c);
  auto dir = c.data_dir(0);
  auto copy = c.dir() + "/n1-before";
  std::filesystem::create_directories(copy);
  auto files = {"/actorkv.db", "/actorkv.db-wal"};
  c.pause(0);
  for (auto f : files)
    if (std::filesystem::exists(dir + f))
      std::filesystem::copy_file(dir + f, copy + f);
  c.resume(0);
  auto before = stored_replica_id(dir);
  // Acknowledged by all three (node 0 coordinates: every node is a home replica).
  BOOST_REQUIRE(c.kvsh(0, "put cart lost-by-n1\n").exit_code == 0);
  BOOST_REQUIRE(eventually(10s, [&] {
    return stored_with(c.data_dir(1), "lost-by-n1") == 1 &&
           stored_with(c.data_dir(2), "lost-by-n1") == 1;
  }));
  // The crash: node 0's files as they were before that write.
  c.kill(0);
  std::filesystem::remove(dir + "/actorkv.db-shm");
  for (auto f : files) {
    std::filesystem::remove(dir + f);
    if (std::filesystem::exists(copy + f))
      std::filesystem::copy_file(copy + f, dir + f);
  }
  c.start(0);
  wait_until_all_up(c);
  BOOST_TEST(stored_with(dir, "lost-by-n1") == 0);
  // A blind put through node 0 before anything brought the lost write back: a new sibling.
  auto put = c.kvsh(0, "put cart written-after\n");
  BOOST_REQUIRE_MESSAGE(put.exit_code == 0, put.err);
  BOOST_TEST(stored_replica_id(dir) != before, "node 0 kept its replica id after an unclean stop");
  // Reads repair the replicas: every one ends with both values.
  auto both = std::vector<std::string>{"lost-by-n1", "written-after"};
  for (size_t i = 0; i < 3; ++i)
    BOOST_TEST(eventually(10s, [&] { return values_in(c.kvsh(i, "get cart\n").out) == both; }),
               "through node " << i << ": " << c.kvsh(i, "get cart\n").out);
}

BOOST_AUTO_TEST_CASE(delete_without_context_removes_what_it_read) {
  local_cluster c{three_nodes()};
  c.start_all();
  wait_until_all_up(c);
  // Two blind puts through two nodes: two siblings.
  BOOST_REQUIRE(c.kvsh(0, "put cart apples\n").exit_code == 0);
  BOOST_REQUIRE(c.kvsh(1, "put cart pears\n").exit_code == 0);
  BOOST_REQUIRE(values_in(c.kvsh(2, "get cart\n").out) ==
                (std::vector<std::string>{"apples", "pears"}));
  auto r = c.kvsh(2, "delete cart\n");
  BOOST_TEST(r.exit_code == 0, r.err);
  BOOST_TEST(r.out == "ok (removed 2 versions)\n");
  for (size_t i = 0; i < 3; ++i)
    BOOST_TEST(c.kvsh(i, "get cart\n").out == "(not found)\n", "through node " << i);
  // Nothing left to remove: said so, nothing written, not an error.
  r = c.kvsh(0, "delete cart\ndelete never-written\n");
  BOOST_TEST(r.exit_code == 3, r.err); // kvsh's exit code for "not found"
  BOOST_TEST(r.out == "(not found)\n(not found)\n");
  // A value written after the delete is there as usual.
  BOOST_REQUIRE(c.kvsh(1, "put cart plums\n").exit_code == 0);
  BOOST_TEST(c.kvsh(0, "get cart\n").out == "plums\n");
}

BOOST_AUTO_TEST_CASE(a_blind_delete_is_a_tombstone_sibling) {
  local_cluster c{three_nodes()};
  c.start_all();
  wait_until_all_up(c);
  BOOST_REQUIRE(c.kvsh(0, "put note hello\n").exit_code == 0);
  auto before = context_from(c.kvsh(0, "get note --context\n").out);
  auto r = c.kvsh(0, "delete note --blind\n");
  BOOST_TEST(r.exit_code == 0, r.err);
  BOOST_TEST(r.out == "ok\n");
  // Concurrent with the value, so it hides nothing: every node still shows the value, under a
  // context that now covers the tombstone too.
  for (size_t i = 0; i < 3; ++i)
    BOOST_TEST(c.kvsh(i, "get note\n").out == "hello\n", "through node " << i);
  auto after = context_from(c.kvsh(0, "get note --context\n").out);
  BOOST_TEST(after != before);
  r = c.kvsh(0, "delete note --blind --context " + after + "\n");
  BOOST_TEST(r.exit_code != 0);
  BOOST_TEST(r.err.find("--blind takes no --context") != std::string::npos, r.err);
  BOOST_REQUIRE(c.stop(0) == 0);
  auto [values, tombstones] = stored_siblings(c.data_dir(0), "note", 64);
  BOOST_TEST(values == std::vector<std::string>{"hello"}, boost::test_tools::per_element());
  BOOST_TEST(tombstones == 1u);
}

BOOST_AUTO_TEST_CASE(lww_deletes_with_and_without_reading) {
  local_cluster c{three_nodes("lww")};
  c.start_all();
  wait_until_all_up(c);
  BOOST_REQUIRE(c.kvsh(0, "put k v1\n").exit_code == 0);
  auto r = c.kvsh(1, "delete k\n");
  BOOST_TEST(r.exit_code == 0, r.err);
  BOOST_TEST(r.out == "ok (removed 1 version)\n");
  BOOST_TEST(c.kvsh(2, "get k\n").out == "(not found)\n");
  // A blind delete wins by its newer timestamp, as before.
  BOOST_REQUIRE(c.kvsh(0, "put k v2\n").exit_code == 0);
  r = c.kvsh(1, "delete k --blind\n");
  BOOST_TEST(r.exit_code == 0, r.err);
  BOOST_TEST(r.out == "ok\n");
  for (size_t i = 0; i < 3; ++i)
    BOOST_TEST(c.kvsh(i, "get k\n").out == "(not found)\n", "through node " << i);
}

BOOST_AUTO_TEST_CASE(https_delete_without_context_removes_what_it_read) {
  auto o = one_node();
  o.https = true;
  local_cluster c{o};
  c.start_all();
  auto r = curl(c, 0, "writer", "PUT", "/v1/kv/cart", "apples");
  BOOST_REQUIRE_MESSAGE(r.status == 200, r.body);
  r = curl(c, 0, "writer", "PUT", "/v1/kv/cart", "pears");
  BOOST_REQUIRE_MESSAGE(r.status == 200, r.body);
  BOOST_REQUIRE(curl(c, 0, "reader", "GET", "/v1/kv/cart").status == 300);
  r = curl(c, 0, "writer", "DELETE", "/v1/kv/cart");
  BOOST_TEST(r.status == 200, r.body);
  BOOST_TEST(r.body == "{\"replicas\":1,\"removed\":2,\"sibling_count\":1}\n");
  r = curl(c, 0, "reader", "GET", "/v1/kv/cart");
  BOOST_TEST(r.status == 404, r.body);
  r = curl(c, 0, "writer", "DELETE", "/v1/kv/cart");
  BOOST_TEST(r.status == 404, r.body);
  BOOST_TEST(r.body.find(R"("error":"not_found")") != std::string::npos, r.body);
}

BOOST_AUTO_TEST_SUITE_END()
