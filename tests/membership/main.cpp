#define BOOST_TEST_MODULE actorkv membership tests
#include <boost/test/unit_test.hpp>
