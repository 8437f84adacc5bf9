// One real kvnode process (N = R = W = 1): the foundation's promises as a user sees them through
// kvsh: put/get/delete, durability across kill -9, binary and large values, limits, refusing
// changed instance settings, and corruption reported rather than returned.
#include <boost/test/unit_test.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "tests/cluster/common.hpp"

using namespace actorkv::test;
using namespace std::chrono_literals;

BOOST_AUTO_TEST_SUITE(single_node)

BOOST_AUTO_TEST_CASE(put_get_delete_and_not_found) {
  local_cluster c{one_node()};
  c.start_all();
  auto r = c.kvsh(0, "put user:1 alice\nget user:1\nget nobody\n");
  BOOST_TEST(r.exit_code == 3, r.err); // the last command's: not found
  BOOST_TEST(r.out == "ok\nalice\n(not found)\n");
  auto ctx = context_from(c.kvsh(0, "get user:1 --context\n").out);
  BOOST_REQUIRE(!ctx.empty());
  r = c.kvsh(0, "delete user:1 --context " + ctx + "\nget user:1\n");
  BOOST_TEST(r.exit_code == 3, r.err);
  BOOST_TEST(r.out == "ok\n(not found)\n");
  // -c mode: same plain results; values with spaces are quoted.
  r = c.kvsh_args({"--connect", c.endpoint(0), "-c", "put greeting \"hello world\"; get greeting"});
  BOOST_TEST(r.exit_code == 0, r.err);
  BOOST_TEST(r.out == "ok\nhello world\n");
}

BOOST_AUTO_TEST_CASE(scripts_read_outcomes_from_exit_codes_and_json) {
  local_cluster c{one_node()};
  c.start_all();
  auto kvsh = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {"--connect", c.endpoint(0)});
    return c.kvsh_args(args);
  };
  BOOST_TEST(kvsh({"-c", "get absent"}).exit_code == 3);
  BOOST_TEST(kvsh({"-c", "get absent; put here 1"}).exit_code == 0); // the last command's
  BOOST_TEST(kvsh({"-c", "delete absent"}).exit_code == 3);
  BOOST_TEST(kvsh({"-c", "status"}).exit_code == 0);
  // --json: one line of JSON per command, the HTTPS API's bodies.
  auto r = kvsh({"--json", "-c", "put k v; get k; get absent; delete k"});
  BOOST_TEST(r.exit_code == 0, r.err);
  std::vector<std::string> out;
  std::istringstream text{r.out};
  for (std::string line; std::getline(text, line);)
    out.push_back(line);
  BOOST_REQUIRE(out.size() == 4u);
  BOOST_TEST(out[0] == R"({"replicas":1,"sibling_count":1})");
  BOOST_TEST(out[1].find(R"("siblings":["dg=="])") != std::string::npos, out[1]); // base64 "v"
  BOOST_TEST(out[2] == R"({"error":"not_found","message":"the key is absent or deleted"})");
  BOOST_TEST(out[3].find(R"("removed":1)") != std::string::npos, out[3]);
  r = kvsh({"--json", "-c", "status"});
  BOOST_TEST(r.exit_code == 0);
  BOOST_TEST(r.out.find(R"("node":"n1")") != std::string::npos, r.out);
  r = kvsh({"--json", "-c", "put onlykey"});
  BOOST_TEST(r.exit_code == 1);
  BOOST_TEST(r.out.find(R"({"error":"bad_request","message":"usage: put)") == 0, r.out);
}

BOOST_AUTO_TEST_CASE(script_stops_at_first_error_with_message_on_stderr) {
  local_cluster c{one_node()};
  c.start_all();
  auto r = c.kvsh(0, "put a 1\nbogus command\nput b 2\n");
  BOOST_TEST(r.exit_code == 1);
  BOOST_TEST(r.out == "ok\n");
  BOOST_TEST(r.err.find("unknown command 'bogus'") != std::string::npos, r.err);
  BOOST_TEST(c.kvsh(0, "get b\n").out == "(not found)\n");
}

BOOST_AUTO_TEST_CASE(acknowledged_puts_survive_kill_9) {
  local_cluster c{one_node()};
  c.start_all();
  std::string puts, gets, expected;
  for (int i = 0; i < 300; ++i) {
    puts += "put key-" + std::to_string(i) + " value-" + std::to_string(i) + "\n";
    gets += "get key-" + std::to_string(i) + "\n";
    expected += "value-" + std::to_string(i) + "\n";
  }
  auto r = c.kvsh(0, puts);
  BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  c.kill(0);
  c.start(0);
  r = c.kvsh(0, gets);
  BOOST_TEST(r.exit_code == 0, r.err);
  BOOST_TEST(r.out == expected);
}

BOOST_AUTO_TEST_CASE(binary_and_large_values_and_limits) {
  local_cluster c{one_node()};
  c.start_all();
  // Every byte value survives the round trip.
  std::string hex;
  static const char* digits = "0123456789abcdef";
  for (int b = 0; b < 256; ++b) {
    hex += digits[b >> 4];
    hex += digits[b & 15];
  }
  auto r = c.kvsh(0, "put bin " + hex + " --hex\nget bin --hex\n");
  BOOST_TEST(r.exit_code == 0, r.err);
  BOOST_TEST(r.out == "ok\n" + hex + "\n");
  // 1 MiB through --file works both ways; one byte more is refused and stores nothing.
  auto big = c.dir() + "/big.bin";
  auto back = c.dir() + "/back.bin";
  auto too_big = c.dir() + "/too-big.bin";
  {
    std::ofstream f{big, std::ios::binary};
    for (size_t i = 0; i < 1024 * 1024; ++i)
      f.put(static_cast<char>((i * 7) & 0xff));
    std::ofstream g{too_big, std::ios::binary};
    for (size_t i = 0; i < 1024 * 1024 + 1; ++i)
      g.put('x');
  }
  r = c.kvsh(0, "put big --file " + big + "\nget big --file " + back + "\n");
  BOOST_TEST(r.exit_code == 0, r.err);
  std::ifstream a{big, std::ios::binary}, b{back, std::ios::binary};
  std::string sa{std::istreambuf_iterator<char>{a}, {}}, sb{std::istreambuf_iterator<char>{b}, {}};
  BOOST_TEST(sa.size() == 1024u * 1024u);
  BOOST_TEST((sa == sb));
  r = c.kvsh(0, "put huge --file " + too_big + "\n");
  BOOST_TEST(r.exit_code == 1);
  BOOST_TEST(r.err.find("value_too_large: value is 1048577 bytes, the limit is 1048576") !=
                 std::string::npos,
             r.err);
  BOOST_TEST(c.kvsh(0, "get huge\n").out == "(not found)\n");
  // Keys: 1024 bytes accepted, 1025 refused, empty refused.
  std::string key1024(1024, 'k');
  r = c.kvsh(0, "put " + key1024 + " v\nget " + key1024 + "\n");
  BOOST_TEST(r.exit_code == 0, r.err);
  BOOST_TEST(r.out == "ok\nv\n");
  r = c.kvsh(0, "put " + key1024 + "k v\n");
  BOOST_TEST(r.exit_code == 1);
  BOOST_TEST(r.err.find("key_too_large: key is 1025 bytes, the limit is 1024") != std::string::npos,
             r.err);
  r = c.kvsh(0, "put \"\" v\n");
  BOOST_TEST(r.exit_code == 1);
  BOOST_TEST(r.err.find("empty_key") != std::string::npos, r.err);
}

BOOST_AUTO_TEST_CASE(changed_store_settings_are_refused_on_restart) {
  local_cluster c{one_node()};
  c.start_all();
  BOOST_REQUIRE(c.kvsh(0, "put k v\n").exit_code == 0);
  BOOST_REQUIRE(c.stop(0) == 0);
  c.rewrite_manifest([](std::string text) {
    auto at = text.find("conflicts = \"siblings\"");
    BOOST_REQUIRE(at != std::string::npos);
    return text.replace(at, 22, "conflicts = \"lww\"");
  });
  BOOST_CHECK_THROW(c.start(0), std::runtime_error);
  auto log = c.log(0);
  BOOST_TEST(log.find("store.conflicts = siblings") != std::string::npos, log);
  BOOST_TEST(log.find("says lww") != std::string::npos, log);
}

BOOST_AUTO_TEST_CASE(malformed_manifest_is_a_one_line_error) {
  local_cluster c{one_node()};
  c.rewrite_manifest([](std::string text) { return text + "\n[store2]\nfoo = 1\n"; });
  auto r =
      run_program({c.binary("kvnode"), "--manifest", c.manifest_path(), "--node", "n1"}, "", 10s);
  BOOST_TEST(r.exit_code == 2);
  BOOST_TEST(r.err.find(c.manifest_path() + ":") != std::string::npos, r.err);
  BOOST_TEST(std::count(r.err.begin(), r.err.end(), '\n') == 1, r.err);
}

BOOST_AUTO_TEST_CASE(flipped_byte_on_disk_is_reported_never_returned) {
  local_cluster c{one_node()};
  c.start_all();
  BOOST_REQUIRE(c.kvsh(0, "put victim precious-value-0123456789\n").exit_code == 0);
  BOOST_REQUIRE(c.stop(0) == 0);
  BOOST_REQUIRE(flip_byte_in_stored_value(c.data_dir(0), "precious"));
  c.start(0);
  auto r = c.kvsh(0, "get victim\n");
  BOOST_TEST(r.exit_code == 1);
  BOOST_TEST(r.err.find("corrupt_record") != std::string::npos, r.err);
  BOOST_TEST(r.out.find("recious") == std::string::npos, r.out);
  BOOST_TEST(c.log(0).find("corrupt") != std::string::npos);
  // The node keeps serving, and a new write replaces the damaged record.
  r = c.kvsh(0, "put other fine\nget other\nput victim renewed\nget victim\n");
  BOOST_TEST(r.exit_code == 0, r.err);
  BOOST_TEST(r.out == "ok\nfine\nok\nrenewed\n");
}

BOOST_AUTO_TEST_SUITE_END()
