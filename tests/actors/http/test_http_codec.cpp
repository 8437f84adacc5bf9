#include <boost/test/unit_test.hpp>

#include <random>

#include "actors/http/http_codec.hpp"

using namespace actorkv;

namespace {

bytes b(const std::string& s) {
  return bytes(s.begin(), s.end());
}

std::string s(const bytes& data) {
  return std::string(data.begin(), data.end());
}

} // namespace

BOOST_AUTO_TEST_SUITE(http_codec)

BOOST_AUTO_TEST_CASE(percent_decoding_takes_escapes_in_either_case_and_nothing_else) {
  BOOST_CHECK_EQUAL(s(*percent_decode("user%3A1")), "user:1");
  BOOST_CHECK(*percent_decode("%00%ff%FF%7e") == (bytes{0x00, 0xff, 0xff, 0x7e}));
  BOOST_CHECK_EQUAL(s(*percent_decode("a+b/c")), "a+b/c"); // a path: '+' is a plus
  BOOST_CHECK(percent_decode("")->empty());
  for (auto bad : {"%", "%2", "a%2", "%zz", "%g1", "%1g", "ok%%20"})
    BOOST_CHECK_MESSAGE(!percent_decode(bad), bad);
}

BOOST_AUTO_TEST_CASE(percent_encoding_round_trips_every_byte) {
  bytes all;
  for (int i = 0; i < 256; ++i)
    all.push_back(static_cast<uint8_t>(i));
  auto text = percent_encode(all);
  BOOST_CHECK(text.find('/') == std::string::npos);
  BOOST_CHECK(text.find('?') == std::string::npos);
  BOOST_CHECK(*percent_decode(text) == all);
  BOOST_CHECK_EQUAL(percent_encode(b("a-b_c.d~e f")), "a-b_c.d~e%20f");
}

BOOST_AUTO_TEST_CASE(base64_follows_rfc4648_test_vectors) {
  std::pair<const char*, const char*> vectors[] = {{"", ""},
                                                   {"f", "Zg=="},
                                                   {"fo", "Zm8="},
                                                   {"foo", "Zm9v"},
                                                   {"foob", "Zm9vYg=="},
                                                   {"fooba", "Zm9vYmE="},
                                                   {"foobar", "Zm9vYmFy"}};
  for (auto [plain, encoded] : vectors) {
    BOOST_CHECK_EQUAL(base64_encode(b(plain)), encoded);
    auto back = base64_decode(encoded);
    BOOST_REQUIRE(back);
    BOOST_CHECK_EQUAL(s(*back), plain);
  }
  BOOST_CHECK(*base64_decode("/+8=") == (bytes{0xff, 0xef}));
}

BOOST_AUTO_TEST_CASE(base64_refuses_what_is_not_padded_base64) {
  for (auto bad : {"Zg", "Zg=", "Z===", "=Zg=", "Zm9v\n", "Zg==Zg==", "Zm=v", "Zm9v Zg==", "Zm-_"})
    BOOST_CHECK_MESSAGE(!base64_decode(bad), bad);
}

BOOST_AUTO_TEST_CASE(base64_round_trips_random_bytes) {
  std::mt19937 rng{7};
  for (size_t n = 0; n < 64; ++n) {
    bytes data(n);
    for (auto& x : data)
      x = static_cast<uint8_t>(rng());
    auto back = base64_decode(base64_encode(data));
    BOOST_REQUIRE(back);
    BOOST_CHECK(*back == data);
  }
}

BOOST_AUTO_TEST_CASE(json_quote_escapes_controls_and_keeps_output_valid_utf8) {
  BOOST_CHECK_EQUAL(json_quote("plain"), "\"plain\"");
  BOOST_CHECK_EQUAL(json_quote("a\"b\\c"), "\"a\\\"b\\\\c\"");
  BOOST_CHECK_EQUAL(json_quote("l1\nl2\r\t"), "\"l1\\nl2\\r\\t\"");
  BOOST_CHECK_EQUAL(json_quote(std::string{"\x00\x01\x1f\x7f", 4}),
                    "\"\\u0000\\u0001\\u001f\\u007f\"");
  BOOST_CHECK_EQUAL(json_quote("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"),
                    "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"");
  // A stray byte, an overlong '/', a surrogate, a truncated sequence: each byte becomes U+FFFD.
  BOOST_CHECK_EQUAL(json_quote("\xff"), "\"\xef\xbf\xbd\"");
  BOOST_CHECK_EQUAL(json_quote("\xc0\xaf"), "\"\xef\xbf\xbd\xef\xbf\xbd\"");
  BOOST_CHECK_EQUAL(json_quote("\xed\xa0\x80").size(), 2 + 3 * 3);
  BOOST_CHECK_EQUAL(json_quote("x\xe2\x82"), "\"x\xef\xbf\xbd\xef\xbf\xbd\"");
}

BOOST_AUTO_TEST_CASE(json_parses_documents_with_escapes_and_nesting) {
  std::string error;
  auto doc = parse_json(R"( {"keys": ["a", "b\n\u00e9\ud83d\ude00"], "n": 12, "ok": true,
                            "none": null, "x": {"y": [1.5e3, -0, false]}} )",
                        error);
  BOOST_REQUIRE_MESSAGE(doc, error);
  BOOST_CHECK(doc->type == json_value::kind::object);
  auto keys = doc->find("keys");
  BOOST_REQUIRE(keys && keys->type == json_value::kind::array && keys->items.size() == 2);
  BOOST_CHECK_EQUAL(keys->items[1].text, "b\n\xc3\xa9\xf0\x9f\x98\x80");
  BOOST_CHECK(*doc->find("n")->as_uint(100) == 12u);
  BOOST_CHECK(!doc->find("n")->as_uint(11));
  BOOST_CHECK(doc->find("ok")->boolean);
  BOOST_CHECK(doc->find("none")->type == json_value::kind::null);
  BOOST_CHECK_EQUAL(doc->find("x")->find("y")->items[0].text, "1.5e3");
  BOOST_CHECK(!doc->find("x")->find("y")->items[0].as_uint(100000));
  BOOST_CHECK(!doc->find("missing"));
  BOOST_CHECK(parse_json("[]", error) && parse_json("\"s\"", error) && parse_json("0", error));
}

BOOST_AUTO_TEST_CASE(json_refuses_malformed_documents) {
  for (auto bad :
       {"", "{", "{\"a\":1,}", "[1,]", "{a:1}", "01", "1.", "-", "[1] x", "\"\\x\"", "\"\\ud800\"",
        "\"\\udc00\"", "\"a\nb\"", "tru", "{\"a\" 1}", "[\"a\" \"b\"]", "\"unterminated"}) {
    std::string error;
    BOOST_CHECK_MESSAGE(!parse_json(bad, error), bad);
    BOOST_CHECK(!error.empty());
  }
  std::string error;
  BOOST_CHECK(!parse_json(std::string(100000, '['), error)); // bounded depth, no stack overflow
  BOOST_CHECK(parse_json(std::string(32, '[') + std::string(32, ']'), error));
  BOOST_CHECK(!parse_json(std::string(33, '[') + std::string(33, ']'), error));
}

BOOST_AUTO_TEST_CASE(multipart_bodies_delimit_each_part) {
  auto body = multipart_body({b("alice"), b("bob")}, "XYZ");
  BOOST_CHECK_EQUAL(s(body), "--XYZ\r\nContent-Type: application/octet-stream\r\n\r\nalice"
                             "\r\n--XYZ\r\nContent-Type: application/octet-stream\r\n\r\nbob"
                             "\r\n--XYZ--\r\n");
}

BOOST_AUTO_TEST_CASE(multipart_boundaries_avoid_the_parts) {
  auto first = multipart_boundary({b("a"), b("b")}, 42);
  BOOST_CHECK_EQUAL(first, multipart_boundary({}, 42)); // a function of seed and parts
  BOOST_CHECK_NE(first, multipart_boundary({}, 43));
  // A value built to contain the boundary forces another one.
  auto hostile = b("x" + first + "y");
  auto second = multipart_boundary({b("a"), hostile}, 42);
  BOOST_CHECK_NE(first, second);
  BOOST_CHECK(s(hostile).find(second) == std::string::npos);
  BOOST_CHECK_LE(second.size(), 70u); // RFC 2046's limit
}

BOOST_AUTO_TEST_SUITE_END()
