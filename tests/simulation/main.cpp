#define BOOST_TEST_MODULE actorkv simulation tests
#include <boost/test/unit_test.hpp>
