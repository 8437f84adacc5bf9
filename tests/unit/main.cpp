#define BOOST_TEST_MODULE actorkv unit tests
#include <boost/test/unit_test.hpp>
