#include <boost/test/unit_test.hpp>

#include <string>

#include "cluster-config/name_table.hpp"

using namespace actorkv;

BOOST_AUTO_TEST_SUITE(name_table_suite)

BOOST_AUTO_TEST_CASE(names_keep_their_numbers_in_the_order_they_came) {
  name_table t;
  BOOST_TEST(t.find("n1") == name_table::npos);
  BOOST_TEST(t.intern("n1") == 0u);
  BOOST_TEST(t.intern("") == 1u); // the empty name is a name too
  BOOST_TEST(t.intern("node-with-a-long-name") == 2u);
  BOOST_TEST(t.intern("n1") == 0u);
  BOOST_TEST(t.size() == 3u);
  BOOST_TEST(t.find("node-with-a-long-name") == 2u);
  BOOST_TEST(t.name(1) == "");
  BOOST_TEST(t.name(2) == "node-with-a-long-name");
  BOOST_TEST(t.find("n2") == name_table::npos);
}

BOOST_AUTO_TEST_CASE(ten_thousand_names_through_every_growth_of_the_table) {
  name_table t;
  for (uint32_t i = 0; i < 10000; ++i)
    BOOST_REQUIRE(t.intern("n" + std::to_string(i)) == i);
  for (uint32_t i = 0; i < 10000; ++i) {
    BOOST_REQUIRE(t.find("n" + std::to_string(i)) == i);
    BOOST_REQUIRE(t.name(i) == "n" + std::to_string(i));
  }
  BOOST_TEST(t.find("n10000") == name_table::npos);
  BOOST_TEST(t.size() == 10000u);
}

BOOST_AUTO_TEST_SUITE_END()
