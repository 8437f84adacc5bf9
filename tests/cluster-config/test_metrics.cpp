// The metrics registry: counters, gauges and histograms as Prometheus text exposition 0.0.4,
// escaping, and updates from several threads at once.
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <boost/test/unit_test.hpp>

#include "cluster-config/metrics.hpp"

using namespace actorkv;

namespace {

bool contains(const std::string& text, const std::string& line) {
  return text.find(line) != std::string::npos;
}

} // namespace

BOOST_AUTO_TEST_SUITE(metrics)

BOOST_AUTO_TEST_CASE(counters_render_with_help_type_and_labels) {
  metrics_registry reg;
  auto& ok =
      reg.counter("actorkv_requests_total", "Client requests.", {{"op", "get"}, {"outcome", "ok"}});
  ok.add();
  ok.add(2);
  reg.counter("actorkv_requests_total", "ignored", {{"op", "put"}, {"outcome", "timeout"}}).add();
  // The same name and labels are the same series.
  BOOST_TEST(&reg.counter("actorkv_requests_total", "", {{"op", "get"}, {"outcome", "ok"}}) == &ok);
  auto text = reg.render();
  BOOST_TEST(text == "# HELP actorkv_requests_total Client requests.\n"
                     "# TYPE actorkv_requests_total counter\n"
                     "actorkv_requests_total{op=\"get\",outcome=\"ok\"} 3\n"
                     "actorkv_requests_total{op=\"put\",outcome=\"timeout\"} 1\n");
}

BOOST_AUTO_TEST_CASE(gauges_go_up_and_down) {
  metrics_registry reg;
  auto& g = reg.gauge("actorkv_open", "Open things.");
  g.add(5);
  g.add(-2);
  BOOST_TEST(contains(reg.render(), "\nactorkv_open 3\n"));
  g.set(-7);
  BOOST_TEST(contains(reg.render(), "\nactorkv_open -7\n"));
}

BOOST_AUTO_TEST_CASE(histograms_are_cumulative_with_sum_and_count) {
  metrics_registry reg;
  auto& h = reg.histogram("actorkv_d_seconds", "Durations.", {0.1, 1}, {{"op", "get"}});
  h.observe(0.05);
  h.observe(0.1); // on the bound: counts as le="0.1"
  h.observe(0.5);
  h.observe(3);
  auto text = reg.render();
  BOOST_TEST(contains(text, "# TYPE actorkv_d_seconds histogram\n"));
  BOOST_TEST(contains(text, "actorkv_d_seconds_bucket{op=\"get\",le=\"0.1\"} 2\n"));
  BOOST_TEST(contains(text, "actorkv_d_seconds_bucket{op=\"get\",le=\"1\"} 3\n"));
  BOOST_TEST(contains(text, "actorkv_d_seconds_bucket{op=\"get\",le=\"+Inf\"} 4\n"));
  BOOST_TEST(contains(text, "actorkv_d_seconds_sum{op=\"get\"} 3.65\n"));
  BOOST_TEST(contains(text, "actorkv_d_seconds_count{op=\"get\"} 4\n"));
  // A histogram without labels gets le alone.
  reg.histogram("actorkv_size", "Sizes.", size_buckets()).observe(3);
  text = reg.render();
  BOOST_TEST(contains(text, "actorkv_size_bucket{le=\"2\"} 0\n"));
  BOOST_TEST(contains(text, "actorkv_size_bucket{le=\"4\"} 1\n"));
}

BOOST_AUTO_TEST_CASE(label_values_are_escaped) {
  BOOST_TEST(render_labels({{"k", "a\"b\\c\nd"}}) == "{k=\"a\\\"b\\\\c\\nd\"}");
  BOOST_TEST(render_labels({}) == "");
  BOOST_TEST(render_number(2) == "2");
  BOOST_TEST(render_number(0.5) == "0.5");
}

BOOST_AUTO_TEST_CASE(misuse_is_a_logic_error) {
  metrics_registry reg;
  reg.counter("actorkv_x_total", "X.");
  BOOST_CHECK_THROW(reg.gauge("actorkv_x_total", "X."), std::logic_error);
  BOOST_CHECK_THROW(reg.counter("bad name", "X."), std::logic_error);
  BOOST_CHECK_THROW(reg.counter("actorkv_y_total", "Y.", {{"9bad", "v"}}), std::logic_error);
}

BOOST_AUTO_TEST_CASE(updates_from_many_threads_are_all_counted) {
  metrics_registry reg;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&reg] {
      for (int i = 0; i < 10000; ++i) {
        reg.counter("actorkv_n_total", "N.").add();
        reg.histogram("actorkv_h", "H.", {1}).observe(1);
      }
    });
  for (auto& t : threads)
    t.join();
  auto text = reg.render();
  BOOST_TEST(contains(text, "\nactorkv_n_total 40000\n"));
  BOOST_TEST(contains(text, "actorkv_h_count 40000\n"));
  BOOST_TEST(contains(text, "actorkv_h_sum 40000\n"));
}

BOOST_AUTO_TEST_CASE(families_computed_elsewhere_render_alike) {
  std::string out;
  render_family(out, "actorkv_peers", "Peers by state.", "gauge",
                {{{{"state", "up"}}, 2}, {{{"state", "down"}}, 0}});
  BOOST_TEST(out == "# HELP actorkv_peers Peers by state.\n# TYPE actorkv_peers gauge\n"
                    "actorkv_peers{state=\"up\"} 2\nactorkv_peers{state=\"down\"} 0\n");
}

BOOST_AUTO_TEST_SUITE_END()
