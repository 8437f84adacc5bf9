#define BOOST_TEST_MODULE actorkv cluster tests
#include <boost/test/unit_test.hpp>
