// kvbench as a user runs it against a real cluster: its exit code and report, and the
// read-modify-write workload that keeps siblings in check.
#include <boost/test/unit_test.hpp>

#include <fstream>
#include <sstream>
#include <string>

#include "tests/cluster/common.hpp"

using namespace actorkv::test;
using namespace std::chrono_literals;

namespace {

run_result kvbench(local_cluster& c, std::vector<std::string> args) {
  args.insert(args.begin(), {c.binary("kvbench"), "--connect", c.endpoint(0), "--keys", "500",
                             "--duration", "3", "--warmup", "1"});
  return run_program(args, "", 120s);
}

std::string contents(const std::string& path) {
  std::ifstream in{path};
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

/// The number after `"field": ` in kvbench's JSON report (the first occurrence), or -1.
double json_number(const std::string& text, const std::string& field) {
  auto at = text.find("\"" + field + "\": ");
  if (at == std::string::npos)
    return -1;
  return std::stod(text.substr(at + field.size() + 4));
}

} // namespace

BOOST_AUTO_TEST_SUITE(kvbench_runs)

BOOST_AUTO_TEST_CASE(a_run_without_json_succeeds_and_rmw_keeps_siblings_few) {
  local_cluster c{local_cluster::options{}}; // 3 nodes, conflicts = "siblings"
  c.start_all();
  wait_until_all_up(c);
  // Without --json it used to say "cannot write " and exit 1 after a good run.
  auto r = kvbench(c, {"--workload", "c", "--load"});
  BOOST_TEST(r.exit_code == 0, r.err);
  BOOST_TEST(r.err.find("cannot write") == std::string::npos, r.err);
  BOOST_TEST(r.out.find("workload c:") != std::string::npos, r.out);
  // rmw: each cycle reads a key and writes it back with that read's context, so concurrent
  // cycles leave siblings that the next cycle resolves: a read sees 1-2 values, not a growing pile
  // as blind updates leave in this mode.
  auto report = c.dir() + "/rmw.json";
  r = kvbench(c, {"--workload", "rmw", "--json", report});
  BOOST_TEST(r.exit_code == 0, r.err);
  auto json = contents(report);
  BOOST_TEST_MESSAGE(r.out);
  auto at = json.find("\"rmw\": {");
  BOOST_REQUIRE_MESSAGE(at != std::string::npos, json);
  auto rmw = json.substr(at, json.find('}', json.find("\"errors\"", at)) - at + 1);
  BOOST_TEST(json_number(rmw, "count") > 100, rmw);
  BOOST_TEST(json_number(rmw, "values_per_read") >= 1.0, rmw);
  BOOST_TEST(json_number(rmw, "values_per_read") <= 2.0, rmw);
  BOOST_TEST(rmw.find("\"errors\": {}") != std::string::npos, rmw);
  // --delete-all deletes each key once after the workload: every key reads as not found after it.
  report = c.dir() + "/delete.json";
  r = kvbench(c, {"--workload", "c", "--delete-all", "--json", report});
  BOOST_TEST(r.exit_code == 0, r.err);
  BOOST_TEST(r.out.find("delete:") != std::string::npos, r.out);
  json = contents(report);
  at = json.find("\"delete\": {");
  BOOST_REQUIRE_MESSAGE(at != std::string::npos, json);
  auto deletes = json.substr(at, json.find('}', json.find("\"errors\"", at)) - at + 1);
  BOOST_TEST(json_number(deletes, "count") == 500, deletes);
  BOOST_TEST(deletes.find("\"errors\": {}") != std::string::npos, deletes);
  auto gets = c.kvsh(1, "get user0000000000\nget user0000000499\nget user0000000250\n");
  BOOST_TEST(gets.out == "(not found)\n(not found)\n(not found)\n", gets.out + gets.err);
}

BOOST_AUTO_TEST_SUITE_END()
