// kvsh's Tab completion (tools/kvsh/completion.hpp), without a terminal: commands, each command's
// options and actions, and the member names the shell knows where a command takes a node.
#include <boost/test/unit_test.hpp>

#include "tools/kvsh/completion.hpp"

using namespace actorkv;

namespace {

using words = std::vector<std::string>;
const words members{"n1", "n2", "n3", "n10"};

} // namespace

BOOST_AUTO_TEST_SUITE(kvsh_completion)

BOOST_AUTO_TEST_CASE(the_first_word_completes_to_commands) {
  BOOST_TEST(completions("", members).size() == 14u);
  BOOST_TEST((completions("st", members) == words{"status"}));
  BOOST_TEST((completions("re", members) == words{"remove"}));
  BOOST_TEST((completions("r", members) == words{"remove", "ring"}));
  BOOST_TEST((completions("  p", members) == words{"plan", "put"}));
  BOOST_TEST(completions("x", members).empty());
}

BOOST_AUTO_TEST_CASE(commands_that_take_a_node_complete_member_names) {
  BOOST_TEST((completions("remove ", members) == words{"n1", "n10", "n2", "n3"}));
  BOOST_TEST((completions("leave n1", members) == words{"n1", "n10"}));
  BOOST_TEST((completions("plan remove n", members) == words{"n1", "n10", "n2", "n3"}));
  BOOST_TEST((completions("plan leave n3", members) == words{"n3"}));
  // join names a HOST:PORT, not a member.
  BOOST_TEST(completions("join n", members).empty());
  BOOST_TEST(completions("plan join n", members).empty());
  // Unknown membership (no status seen yet): nothing to offer.
  BOOST_TEST(completions("remove ", {}).empty());
  // Only one node per command.
  BOOST_TEST((completions("remove n2 ", members) == words{"--wait"}));
}

BOOST_AUTO_TEST_CASE(fault_peers_complete_as_a_comma_separated_list) {
  BOOST_TEST((completions("fault d", members) == words{"delay", "drop"}));
  BOOST_TEST((completions("fault drop n", members) == words{"n1", "n10", "n2", "n3"}));
  BOOST_TEST((completions("fault delay n1,", members) == words{"n1,n10", "n1,n2", "n1,n3"}));
  BOOST_TEST((completions("fault drop n2,n3,n1", members) == words{"n2,n3,n1", "n2,n3,n10"}));
  BOOST_TEST(completions("fault heal ", members).empty());
  BOOST_TEST(completions("fault drop n1 5", members).empty());
}

BOOST_AUTO_TEST_CASE(options_complete_for_their_command) {
  BOOST_TEST((completions("status --", members) == words{"--all"}));
  BOOST_TEST((completions("get k --", members) == words{"--context", "--file", "--hex"}));
  BOOST_TEST((completions("delete k --b", members) == words{"--blind"}));
  BOOST_TEST((completions("join 127.0.0.1:7104 --", members) == words{"--wait"}));
  BOOST_TEST((completions("status ", members) == words{"--all"}));
  BOOST_TEST(completions("ring --", members).empty());
  // A key being typed: nothing to offer.
  BOOST_TEST(completions("get us", members).empty());
}

BOOST_AUTO_TEST_SUITE_END()
