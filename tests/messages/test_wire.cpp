// Tests for messages/wire.hpp: the request batches cross CAF's serializer and come back equal,
// errors included, and damaged bytes fail with an error instead of crashing or allocating what
// they claim.
#include "messages/wire.hpp"

#include <string>
#include <vector>

#include <boost/test/unit_test.hpp>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/binary_deserializer.hpp>
#include <caf/binary_serializer.hpp>
#include <caf/deep_to_string.hpp>
#include <caf/sec.hpp>

#include "messages/client.hpp"
#include "messages/error.hpp"
#include "messages/interfaces.hpp"
#include "messages/liveness.hpp"
#include "messages/membership.hpp"
#include "messages/register_types.hpp"
#include "messages/replication.hpp"

using namespace actorkv;

namespace {

bytes to_bytes(const std::string& s) {
  return bytes(s.begin(), s.end());
}

/// A record with two siblings (one a tombstone) and a three-entry context.
record sample_record(uint64_t salt) {
  record r;
  r.context.entries = {{1, 7 + salt}, {0xFFFFFFFFFFFFFFFFull, 1}, {1ull << 40, 300}};
  r.siblings.push_back(
      sibling{{1, 7 + salt}, 1700000000000000 + int64_t(salt), false, bytes(100, uint8_t(salt))});
  r.siblings.push_back(sibling{{1ull << 40, 300}, -5, true, {}});
  if (salt % 2 == 1) // a value written with a TTL
    r.siblings[0].expires_us = 1700000000000000 + int64_t(salt) * 1000;
  return r;
}

/// membership_view and member_info as format 1 (before zones) laid them out, to check that a view
/// from an older node is never taken for a current one.
struct v1_member {
  std::string name;
  std::string host;
  uint16_t port = 0;
  uint32_t capacity = 1;
  member_state state = member_state::valid;
  uint64_t incarnation = 0;
  uint64_t version = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, v1_member& x) {
  return f(x.name, x.host, x.port, x.capacity, x.state, x.incarnation, x.version);
}

struct v1_view {
  std::vector<v1_member> members;
  ring_layout layout;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, v1_view& x) {
  return f(x.members, x.layout);
}

struct system_fixture {
  caf::actor_system_config cfg;
  caf::actor_system sys;

  static caf::actor_system_config& configured(caf::actor_system_config& cfg) {
    register_types(cfg);
    return cfg;
  }

  system_fixture() : sys(configured(cfg)) {}

  /// Sends `x` through CAF's binary serializer and back, as BASP does between processes.
  template <class T>
  T round_trip(T x) {
    std::vector<char> buf;
    caf::binary_serializer sink{sys, buf};
    BOOST_REQUIRE(!sink(x));
    T out;
    caf::binary_deserializer source{sys, buf};
    auto err = source(out);
    BOOST_REQUIRE_MESSAGE(!err, "deserializing failed: " << describe(err));
    return out;
  }
};

std::vector<replica_call> sample_calls() {
  std::vector<replica_call> calls(4);
  calls[0].id = 1;
  calls[0].kind = replica_call_kind::read;
  calls[0].partition = 255;
  calls[0].key = to_bytes("a key");
  calls[1].id = 1ull << 62;
  calls[1].kind = replica_call_kind::coord;
  calls[1].partition = 0xFFFFFFFFu;
  calls[1].op.key = to_bytes("written");
  calls[1].op.value = bytes(1000, 0xAB);
  calls[1].op.context = sample_record(1).context;
  calls[1].op.timestamp_us = -42;
  calls[1].op.limits = write_limits{100, 0xFFFFFFFFu};
  calls[1].op.expires_us = 1700000000000000;
  calls[1].target = "n3";
  calls[2].id = 3;
  calls[2].kind = replica_call_kind::merge;
  calls[2].key = to_bytes("merged");
  calls[2].rec = sample_record(2);
  calls[3].id = 4;
  calls[3].kind = replica_call_kind::hint;
  calls[3].key = bytes{0, 1, 2};
  calls[3].rec = sample_record(3);
  calls[3].target = "n2";
  calls[3].op.tombstone = true;
  return calls;
}

void check_equal(const replica_call& a, const replica_call& b) {
  BOOST_TEST(a.id == b.id);
  BOOST_TEST((a.kind == b.kind));
  BOOST_TEST(a.partition == b.partition);
  BOOST_TEST(a.key == b.key);
  BOOST_TEST(a.op.key == b.op.key);
  BOOST_TEST(a.op.tombstone == b.op.tombstone);
  BOOST_TEST(a.op.value == b.op.value);
  BOOST_TEST((a.op.context == b.op.context));
  BOOST_TEST(a.op.timestamp_us == b.op.timestamp_us);
  BOOST_TEST(a.op.expires_us == b.op.expires_us);
  BOOST_TEST(a.op.limits.max_siblings == b.op.limits.max_siblings);
  BOOST_TEST(a.op.limits.max_record_bytes == b.op.limits.max_record_bytes);
  BOOST_TEST((a.rec == b.rec));
  BOOST_TEST(a.target == b.target);
}

/// Every proper prefix of a batch's bytes, and the bytes with one more at the end, must fail.
template <class T>
void check_damage_fails(const bytes& blob, std::vector<caf::error> errors) {
  for (size_t len = 0; len < blob.size(); ++len) {
    bytes cut(blob.begin(), blob.begin() + static_cast<std::ptrdiff_t>(len));
    auto errs = errors;
    std::vector<T> out;
    BOOST_TEST_CONTEXT("prefix of " << len << " of " << blob.size() << " bytes") {
      BOOST_TEST(static_cast<bool>(decode_wire(cut, errs, out)));
    }
  }
  auto longer = blob;
  longer.push_back(0);
  std::vector<T> out;
  BOOST_TEST(static_cast<bool>(decode_wire(longer, errors, out)));
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(wire, system_fixture)

BOOST_AUTO_TEST_CASE(replica_calls_round_trip) {
  auto calls = sample_calls();
  auto out = round_trip(calls);
  BOOST_REQUIRE_EQUAL(out.size(), calls.size());
  for (size_t i = 0; i < calls.size(); ++i)
    check_equal(out[i], calls[i]);
  BOOST_TEST(round_trip(std::vector<replica_call>{}).empty());
}

BOOST_AUTO_TEST_CASE(replica_answers_round_trip_with_their_errors) {
  std::vector<replica_answer> answers(4);
  answers[0].id = 9;
  answers[0].read.found = true;
  answers[0].read.rec = sample_record(5);
  answers[1].id = 10;
  answers[1].err = caf::make_error(ec::storage_failure, "n2.db: disk is full");
  answers[2].id = 11;
  answers[2].read.corrupt = true;
  answers[2].rec = sample_record(6);
  answers[3].id = 12;
  answers[3].err = caf::sec::request_timeout;
  auto out = round_trip(answers);
  BOOST_REQUIRE_EQUAL(out.size(), answers.size());
  for (size_t i = 0; i < answers.size(); ++i) {
    BOOST_TEST(out[i].id == answers[i].id);
    BOOST_TEST((out[i].err == answers[i].err));
    BOOST_TEST(describe(out[i].err) == describe(answers[i].err));
    BOOST_TEST(out[i].read.found == answers[i].read.found);
    BOOST_TEST(out[i].read.corrupt == answers[i].read.corrupt);
    BOOST_TEST((out[i].read.rec == answers[i].read.rec));
    BOOST_TEST((out[i].rec == answers[i].rec));
  }
  BOOST_TEST(describe(out[1].err) == "storage_failure: n2.db: disk is full");
}

BOOST_AUTO_TEST_CASE(client_batches_round_trip_with_their_errors) {
  std::vector<client_call> calls(3);
  calls[0] = client_call{7, client_call_kind::get, to_bytes("k"), {}, {}};
  calls[1] = client_call{8, client_call_kind::put, to_bytes("k"), bytes(300, 1), bytes{9, 9}};
  calls[1].ttl_s = 0xFFFFFFFFu; // a put with a TTL
  calls[2] = client_call{1ull << 63, client_call_kind::del, to_bytes("gone"), {}, bytes{1}};
  auto calls_out = round_trip(calls);
  BOOST_REQUIRE_EQUAL(calls_out.size(), calls.size());
  for (size_t i = 0; i < calls.size(); ++i) {
    BOOST_TEST(calls_out[i].id == calls[i].id);
    BOOST_TEST((calls_out[i].kind == calls[i].kind));
    BOOST_TEST(calls_out[i].key == calls[i].key);
    BOOST_TEST(calls_out[i].value == calls[i].value);
    BOOST_TEST(calls_out[i].context == calls[i].context);
    BOOST_TEST(calls_out[i].ttl_s == calls[i].ttl_s);
  }
  // Without TTLs the bytes are those of before them: flag bits only where there is a TTL.
  std::vector<caf::error> none;
  auto plain = calls;
  plain[1].ttl_s = 0;
  BOOST_TEST(encode_wire(calls, none).size() == encode_wire(plain, none).size() + 5);

  std::vector<client_answer> answers(3);
  answers[0].id = 7;
  answers[0].get.found = true;
  answers[0].get.values = {to_bytes("one"), {}, bytes(2000, 3)};
  answers[0].get.context = bytes{1, 2, 3};
  answers[1].id = 8;
  answers[1].write.acks = 3;
  answers[1].write.siblings = 26;
  answers[1].write.warning = "the key has 26 siblings";
  answers[2].id = 1ull << 63;
  answers[2].err = caf::make_error(ec::unavailable, "1 of 3 replicas reachable, 2 needed");
  auto out = round_trip(answers);
  BOOST_REQUIRE_EQUAL(out.size(), answers.size());
  for (size_t i = 0; i < answers.size(); ++i) {
    BOOST_TEST(out[i].id == answers[i].id);
    BOOST_TEST((out[i].err == answers[i].err));
    BOOST_TEST(out[i].get.found == answers[i].get.found);
    BOOST_TEST(out[i].get.values == answers[i].get.values);
    BOOST_TEST(out[i].get.context == answers[i].get.context);
    BOOST_TEST(out[i].write.acks == answers[i].write.acks);
    BOOST_TEST(out[i].write.siblings == answers[i].write.siblings);
    BOOST_TEST(out[i].write.warning == answers[i].write.warning);
  }
  BOOST_TEST(describe(out[2].err) == "unavailable: 1 of 3 replicas reachable, 2 needed");
}

BOOST_AUTO_TEST_CASE(damaged_batches_fail_to_decode) {
  std::vector<caf::error> errors;
  auto calls = encode_wire(sample_calls(), errors);
  BOOST_TEST(errors.empty());
  check_damage_fails<replica_call>(calls, errors);

  std::vector<replica_answer> answers(2);
  answers[0].read.rec = sample_record(1);
  answers[1].err = caf::make_error(ec::timeout, "slow");
  auto answer_bytes = encode_wire(answers, errors);
  BOOST_REQUIRE_EQUAL(errors.size(), 1u);
  check_damage_fails<replica_answer>(answer_bytes, errors);

  // An answer flagged as failed needs its error, and no error may be left over.
  std::vector<replica_answer> out;
  std::vector<caf::error> none;
  BOOST_TEST(static_cast<bool>(decode_wire(answer_bytes, none, out)));
  auto extra = errors;
  extra.push_back(caf::sec::request_timeout);
  BOOST_TEST(static_cast<bool>(decode_wire(answer_bytes, extra, out)));
  auto exact = errors;
  BOOST_TEST(!decode_wire(answer_bytes, exact, out));
}

BOOST_AUTO_TEST_CASE(claims_beyond_the_bytes_are_refused) {
  std::vector<caf::error> errors;
  std::vector<replica_call> out;
  // Format byte, then a count of 2^62 calls in 9 bytes of varint.
  bytes huge{wire_format, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x40};
  BOOST_TEST(static_cast<bool>(decode_wire(huge, errors, out)));
  BOOST_TEST(out.capacity() == 0u);

  std::vector<client_call> client_out;
  BOOST_TEST(static_cast<bool>(decode_wire(bytes{2, 0}, errors, client_out))); // foreign format
  BOOST_TEST(static_cast<bool>(decode_wire(bytes{wire_format, 1, 5, 3, 0, 0, 0}, errors,
                                           client_out))); // kind 3 does not exist
  BOOST_TEST(!decode_wire(bytes{wire_format, 1, 5, 2, 0, 0, 0}, errors, client_out));
  BOOST_TEST((client_out.at(0).kind == client_call_kind::del));
  // A varint longer than 64 bits.
  bytes overlong{wire_format, 1,    0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
                 0xFF,        0xFF, 0xFF, 0x02, 0,    0,    0,    0};
  BOOST_TEST(static_cast<bool>(decode_wire(overlong, errors, client_out)));
}

BOOST_AUTO_TEST_CASE(cluster_status_round_trips_with_why_a_node_is_starting) {
  cluster_status st;
  st.node = "n1";
  st.settings = "N=3";
  st.members.push_back(
      member_status{"n2", "127.0.0.1:7102", 2, true, 7, "valid", 7, int64_t{-3}, "eu-west"});
  st.max_clock_skew_ms = 1000;
  st.starting = "connected to 1 of 2 peers, waiting for n3 (at most 4.0 s more)";
  st.ae_peer_pause_ms = 250;
  st.ae_paced_by = "n3";
  auto out = round_trip(st);
  BOOST_TEST(out.node == "n1");
  BOOST_REQUIRE_EQUAL(out.members.size(), 1u);
  BOOST_TEST(out.members[0].endpoint == "127.0.0.1:7102");
  BOOST_TEST(out.members[0].zone == "eu-west");
  BOOST_TEST(out.max_clock_skew_ms == 1000u);
  BOOST_TEST(out.starting == st.starting);
  BOOST_TEST(out.ae_peer_pause_ms == 250u);
  BOOST_TEST(out.ae_paced_by == "n3");
}

BOOST_AUTO_TEST_CASE(a_peer_hello_round_trips_with_its_detector_mode) {
  peer_hello h;
  h.name = "n2";
  h.id = 42;
  h.settings = "N=3";
  h.detector = "swim";
  auto out = round_trip(h);
  BOOST_TEST(out.protocol == protocol_version);
  BOOST_TEST(out.name == "n2");
  BOOST_TEST(out.id == 42u);
  BOOST_TEST(out.settings == "N=3");
  BOOST_TEST(out.detector == "swim");
  BOOST_TEST(!out.vnodes);
  BOOST_TEST(!out.gateway);
}

BOOST_AUTO_TEST_CASE(cluster_answers_round_trip_with_members_that_did_not_answer) {
  cluster_answers in;
  in.asked_by = "n1";
  member_answer ok;
  ok.name = "n1";
  ok.endpoint = "127.0.0.1:7101";
  ok.answered = true;
  ok.status.node = "n1";
  ok.status.pending_hints = 42;
  member_answer down;
  down.name = "n3";
  down.endpoint = "127.0.0.1:7103";
  down.error = "unavailable";
  down.message = "not connected to n1";
  in.members = {ok, down};
  auto out = round_trip(in);
  BOOST_TEST(out.asked_by == "n1");
  BOOST_REQUIRE_EQUAL(out.members.size(), 2u);
  BOOST_TEST(out.members[0].answered);
  BOOST_TEST(out.members[0].status.pending_hints == 42u);
  BOOST_TEST(!out.members[1].answered);
  BOOST_TEST(out.members[1].endpoint == "127.0.0.1:7103");
  BOOST_TEST(out.members[1].error == "unavailable");
  BOOST_TEST(out.members[1].message == "not connected to n1");
}

BOOST_AUTO_TEST_CASE(membership_views_round_trip_with_zones_and_their_format) {
  membership_view v;
  v.members.push_back(
      member_info{"n1", "127.0.0.1", 7101, 2, member_state::valid, 5, 9, "eu-west-1a"});
  v.members.push_back(member_info{"n2", "127.0.0.2", 7102, 1, member_state::joining, 6, 3, "b"});
  v.layout.epoch = 4;
  v.layout.owners = {"n1", "n2", "n1", "n2"};
  auto out = round_trip(v);
  BOOST_TEST(out.format == membership_format);
  BOOST_REQUIRE_EQUAL(out.members.size(), 2u);
  BOOST_TEST(out.members[0].zone == "eu-west-1a");
  BOOST_TEST(out.members[1].zone == "b");
  BOOST_TEST(out.members[1].incarnation == 6u);
  BOOST_TEST(out.layout.owners == v.layout.owners);
}

BOOST_AUTO_TEST_CASE(a_view_from_a_node_of_format_1_is_never_read_as_a_current_one) {
  // Whatever CAF makes of the older layout, it either fails to read or carries a format this
  // build refuses (the membership actor then logs why and keeps its own view).
  v1_view old;
  for (int i = 1; i <= 3; ++i)
    old.members.push_back(v1_member{"n" + std::to_string(i), "127.0.0.1", uint16_t(7100 + i), 1,
                                    member_state::valid, uint64_t(i), 10});
  old.layout.owners = {"n1", "n2", "n3", "n1"};
  std::vector<char> buf;
  caf::binary_serializer sink{sys, buf};
  BOOST_REQUIRE(!sink(old));
  membership_view out;
  caf::binary_deserializer source{sys, buf};
  auto err = source(out);
  BOOST_TEST((err || out.format != membership_format));
}

BOOST_AUTO_TEST_CASE(swim_probes_and_acks_round_trip_with_their_rumors) {
  std::vector<swim_rumor> rumors{{"n1", swim_health::suspect, 7},
                                 {"n2", swim_health::dead, 1ull << 40},
                                 {"n3", swim_health::alive, 0}};
  auto ping = round_trip(swim_ping{"n0", rumors});
  BOOST_TEST(ping.from == "n0");
  BOOST_REQUIRE_EQUAL(ping.rumors.size(), 3u);
  BOOST_TEST(ping.rumors[1].member == "n2");
  BOOST_TEST((ping.rumors[1].health == swim_health::dead));
  BOOST_TEST(ping.rumors[1].incarnation == 1ull << 40);
  auto relay = round_trip(swim_relay{"n9", rumors});
  BOOST_TEST(relay.target == "n9");
  BOOST_TEST((relay.rumors[0].health == swim_health::suspect));
  auto ack = round_trip(swim_ack{clock_reading{-5, 1700000000000000}, rumors, false});
  BOOST_TEST(ack.clock.wall_us == -5);
  BOOST_TEST(ack.clock.stamp_us == 1700000000000000);
  BOOST_TEST(!ack.reached);
  BOOST_TEST(ack.rumors.size() == 3u);
  BOOST_TEST(round_trip(swim_ack{}).reached);
}

BOOST_AUTO_TEST_CASE(to_string_shows_the_elements) {
  auto text = caf::deep_to_string(sample_calls());
  BOOST_TEST(text.find("replica_call") != std::string::npos);
  BOOST_TEST(text.find("n3") != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
