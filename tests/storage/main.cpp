#define BOOST_TEST_MODULE actorkv storage tests
#include <boost/test/unit_test.hpp>
