#include <boost/test/unit_test.hpp>

#include "cluster-config/access.hpp"

using namespace actorkv;

BOOST_AUTO_TEST_SUITE(access_control)

BOOST_AUTO_TEST_CASE(roles_are_ordered_and_parsed_by_name) {
  BOOST_CHECK(allows(role::admin, role::write));
  BOOST_CHECK(allows(role::write, role::read));
  BOOST_CHECK(!allows(role::read, role::write));
  BOOST_CHECK(!allows(role::admin, role::node));
  BOOST_CHECK(!allows(role::none, role::read));
  BOOST_CHECK(parse_role("write") == role::write);
  BOOST_CHECK(parse_role("node") == role::node);
  BOOST_CHECK(!parse_role("none"));
  BOOST_CHECK(!parse_role("Admin"));
  BOOST_CHECK(!parse_role(""));
}

BOOST_AUTO_TEST_CASE(a_process_keeps_its_role_until_its_last_connection_closes) {
  access_table table;
  process_identity alice{42, {1, 2, 3}};
  BOOST_CHECK(table.role_of(alice) == role::none);
  BOOST_CHECK(table.grant(alice, role::write, "alice"));
  BOOST_CHECK(table.grant(alice, role::write, "alice"));
  BOOST_CHECK(table.role_of(alice) == role::write);
  BOOST_CHECK_EQUAL(table.subject_of(alice), "alice");
  table.release(alice);
  BOOST_CHECK(table.role_of(alice) == role::write);
  table.release(alice);
  BOOST_CHECK(table.role_of(alice) == role::none);
}

BOOST_AUTO_TEST_CASE(a_second_process_claiming_an_id_with_another_certificate_is_refused) {
  access_table table;
  process_identity n1{7, {9}};
  BOOST_REQUIRE(table.grant(n1, role::node, "n1"));
  BOOST_CHECK(!table.grant(n1, role::read, "mallory"));
  BOOST_CHECK(!table.grant(n1, role::node, "n2"));
  BOOST_CHECK(table.role_of(n1) == role::node);
  BOOST_CHECK_EQUAL(table.subject_of(n1), "n1");
  table.release(n1);
  BOOST_CHECK(table.role_of(n1) == role::none);
}

BOOST_AUTO_TEST_CASE(a_client_cannot_pass_for_a_member_this_node_dialed) {
  access_table table;
  process_identity n2{11, {2}};
  table.trust_member(n2);
  BOOST_CHECK(table.role_of(n2) == role::node);
  BOOST_CHECK(!table.grant(n2, role::admin, "mallory"));
  BOOST_CHECK(table.grant(n2, role::node, "n2")); // the member's own inbound connection
  BOOST_CHECK(table.role_of(n2) == role::node);
  // The other order: a client claimed the id before this node dialed the member.
  process_identity n3{12, {3}};
  BOOST_REQUIRE(table.grant(n3, role::read, "mallory"));
  table.trust_member(n3);
  BOOST_CHECK(table.role_of(n3) == role::none);
  table.forget_member(n3);
  BOOST_CHECK(table.role_of(n3) == role::read);
}

BOOST_AUTO_TEST_CASE(tokens_match_by_their_sha256_only) {
  // The SHA-256 of "abc" (FIPS 180-2's test vector).
  BOOST_CHECK_EQUAL(sha256_hex("abc"),
                    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  std::vector<access_token> tokens{{"ci", role::write, sha256_hex("s3cret")},
                                   {"ops", role::admin, sha256_hex("other")}};
  BOOST_CHECK(token_role(tokens, "s3cret") == role::write);
  BOOST_CHECK(token_role(tokens, "other") == role::admin);
  BOOST_CHECK(!token_role(tokens, "s3cret "));
  BOOST_CHECK(!token_role(tokens, ""));
  BOOST_CHECK(!token_role({}, "s3cret"));
}

BOOST_AUTO_TEST_SUITE_END()
