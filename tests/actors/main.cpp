#define BOOST_TEST_MODULE actorkv actor tests
#include <boost/test/unit_test.hpp>
