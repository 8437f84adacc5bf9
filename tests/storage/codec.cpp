// The record codec (storage/record_codec.hpp): checksum vectors, round trips, the byte layout that
// storage/FORMAT.md promises, and decoding of damaged input without throwing or over-allocating.
#include <atomic>
#include <cstdlib>
#include <new>
#include <string>
#include <vector>

#include <boost/test/unit_test.hpp>

#include "fixtures.hpp"
#include "storage/record_codec.hpp"

using namespace actorkv;
using namespace actorkv::storage;
using namespace actorkv::storage::test;

// -- Allocation tracking ----------------------------------------------------------------------
// This test program replaces the global operator new so a test can measure the largest single
// allocation a decode asks for. While tracking, requests above a limit fail instead of being
// served, so a decoder that trusts a corrupt length fails the check rather than the machine.

namespace {

std::atomic<bool> tracking{false};
std::atomic<size_t> largest_request{0};
constexpr size_t refuse_above = size_t{64} << 20;

/// Tracks allocations while it lives.
class allocation_probe {
public:
  allocation_probe() {
    largest_request = 0;
    tracking = true;
  }
  ~allocation_probe() { tracking = false; }
  allocation_probe(const allocation_probe&) = delete;
  allocation_probe& operator=(const allocation_probe&) = delete;

  size_t largest() const { return largest_request; }
};

} // namespace

// GCC flags free() on memory from the replaced operator new below, but both sides of the
// replacement use malloc/free, so the pairing is right.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

void* operator new(std::size_t size) {
  if (tracking.load(std::memory_order_relaxed)) {
    auto seen = largest_request.load();
    while (size > seen && !largest_request.compare_exchange_weak(seen, size)) {
    }
    if (size > refuse_above)
      throw std::bad_alloc{};
  }
  if (void* p = std::malloc(size == 0 ? 1 : size))
    return p;
  throw std::bad_alloc{};
}

void operator delete(void* p) noexcept {
  std::free(p);
}

void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}

namespace {

uint32_t crc_of(const std::string& text) {
  return crc32c(reinterpret_cast<const uint8_t*>(text.data()), text.size());
}

/// The textbook bit-at-a-time CRC32C, to check the table-driven one against.
uint32_t bitwise_crc32c(const bytes& xs) {
  uint32_t crc = 0xFFFFFFFFu;
  for (auto b : xs) {
    crc ^= b;
    for (int i = 0; i < 8; ++i)
      crc = (crc & 1) ? (crc >> 1) ^ 0x82F63B78u : crc >> 1;
  }
  return ~crc;
}

caf::expected<record> decode(const bytes& xs) {
  return decode_record(xs.data(), xs.size());
}

/// Recomputes the checksum so damage inside the payload reaches the payload decoder.
void reseal(bytes& xs) {
  auto crc = crc32c(xs.data() + 5, xs.size() - 5);
  for (int i = 0; i < 4; ++i)
    xs[1 + i] = static_cast<uint8_t>(crc >> (8 * i));
}

void put_le(bytes& xs, size_t offset, uint64_t value, size_t width) {
  for (size_t i = 0; i < width; ++i)
    xs[offset + i] = static_cast<uint8_t>(value >> (8 * i));
}

void append_le(bytes& xs, uint64_t value, size_t width) {
  for (size_t i = 0; i < width; ++i)
    xs.push_back(static_cast<uint8_t>(value >> (8 * i)));
}

/// One context entry and one sibling: the record the layout test spells out byte by byte.
record layout_record() {
  record r;
  r.context.entries = {dot{0x0102030405060708ull, 9}};
  r.siblings = {make_sibling(0x0102030405060708ull, 9, -2, to_bytes("hi"))};
  return r;
}

// Offsets into encode_record(layout_record()), per storage/FORMAT.md.
constexpr size_t record_version_at = 6;
constexpr size_t context_count_at = 10;
constexpr size_t sibling_count_at = 34;
constexpr size_t sibling_version_at = 42;
constexpr size_t tombstone_at = 70;
constexpr size_t value_length_at = 71;

/// The layout record's bytes as storage/FORMAT.md spells them, with the sibling class version
/// given (1: a record without expiries; 2: the same read as version 2).
bytes documented_layout(uint32_t sibling_version) {
  bytes payload;
  payload.push_back(1);     // portable binary: little-endian
  append_le(payload, 1, 4); // record class version
  append_le(payload, 1, 8); // context: one entry
  append_le(payload, 0x0102030405060708ull, 8);
  append_le(payload, 9, 8);
  append_le(payload, 1, 8);               // one sibling
  append_le(payload, sibling_version, 4); // sibling class version
  append_le(payload, 0x0102030405060708ull, 8);
  append_le(payload, 9, 8);
  append_le(payload, static_cast<uint64_t>(-2), 8); // timestamp
  payload.push_back(0);                             // not a tombstone
  append_le(payload, 2, 8);                         // value length
  payload.push_back('h');
  payload.push_back('i');
  bytes expected{1, 0, 0, 0, 0};
  expected.insert(expected.end(), payload.begin(), payload.end());
  reseal(expected);
  return expected;
}

void check_corrupt(const bytes& xs, const std::string& what) {
  caf::expected<record> got = record{};
  BOOST_CHECK_NO_THROW(got = decode(xs));
  BOOST_CHECK_MESSAGE(!got, what << ": decoded although damaged");
  if (!got)
    ACTORKV_CHECK_EC(got.error(), ec::corrupt_record);
}

} // namespace

BOOST_AUTO_TEST_SUITE(codec)

BOOST_AUTO_TEST_CASE(crc32c_matches_known_vectors) {
  BOOST_CHECK_EQUAL(crc_of("123456789"), 0xE3069283u);
  BOOST_CHECK_EQUAL(crc32c(nullptr, 0), 0u);
  // RFC 3720 (iSCSI) B.4.
  BOOST_CHECK_EQUAL(crc_of(std::string(32, '\0')), 0x8A9136AAu);
  BOOST_CHECK_EQUAL(crc_of(std::string(32, '\xFF')), 0x62A8AB43u);
  bytes ascending(32);
  bytes descending(32);
  for (size_t i = 0; i < 32; ++i) {
    ascending[i] = static_cast<uint8_t>(i);
    descending[i] = static_cast<uint8_t>(31 - i);
  }
  BOOST_CHECK_EQUAL(crc32c(ascending.data(), ascending.size()), 0x46DD794Eu);
  BOOST_CHECK_EQUAL(crc32c(descending.data(), descending.size()), 0x113FDB5Cu);
}

BOOST_AUTO_TEST_CASE(crc32c_agrees_with_the_bitwise_definition_at_every_length) {
  auto data = pseudo_random_bytes(300, 7);
  for (size_t offset = 0; offset < 8; ++offset)
    for (size_t len = 0; offset + len <= data.size(); len += (len < 40 ? 1 : 37)) {
      bytes slice(data.begin() + offset, data.begin() + offset + len);
      BOOST_CHECK_EQUAL(crc32c(data.data() + offset, len), bitwise_crc32c(slice));
      BOOST_CHECK_EQUAL(crc32c_portable(data.data() + offset, len), bitwise_crc32c(slice));
    }
}

BOOST_AUTO_TEST_CASE(records_round_trip) {
  record many;
  for (uint64_t i = 1; i <= 100; ++i) {
    many.context.entries.push_back(dot{i * 1000, i});
    many.siblings.push_back(i % 3 == 0 ? make_tombstone(i * 1000, i, static_cast<int64_t>(i))
                                       : make_sibling(i * 1000, i, -static_cast<int64_t>(i),
                                                      pseudo_random_bytes(i, i)));
  }
  record tombstone;
  tombstone.siblings = {make_tombstone(1, 1, 0)};
  // Values with an expiry (a put with a TTL) beside values without one and a tombstone.
  auto expiring = many;
  for (size_t i = 0; i < expiring.siblings.size(); i += 2)
    if (!expiring.siblings[i].tombstone)
      expiring.siblings[i].expires_us = 1700000000000000 + static_cast<int64_t>(i);
  expiring.siblings[1].expires_us = -1; // any non-zero value round-trips, even a negative one
  const std::vector<record> cases = {record{},
                                     sample_record(),
                                     tombstone,
                                     value_record({}),
                                     value_record(all_byte_values()),
                                     value_record(pseudo_random_bytes(1 << 20)),
                                     many,
                                     expiring};
  for (const auto& rec : cases) {
    auto encoded = encode_record(rec);
    auto decoded = decode(encoded);
    ACTORKV_REQUIRE_OK(decoded);
    BOOST_CHECK(*decoded == rec);
    // Deterministic: the same record always encodes to the same bytes.
    BOOST_CHECK(encode_record(*decoded) == encoded);
  }
}

BOOST_AUTO_TEST_CASE(the_layout_is_the_documented_one) {
  auto expected = documented_layout(1);
  auto encoded = encode_record(layout_record());
  BOOST_CHECK_EQUAL_COLLECTIONS(encoded.begin(), encoded.end(), expected.begin(), expected.end());
  // The version of a type is written once, before its first object: a second, empty sibling
  // adds its dot, timestamp, tombstone flag and value length (16 + 8 + 1 + 8 bytes), no version.
  auto two = layout_record();
  two.siblings.push_back(make_sibling(7, 1, 0, {}));
  BOOST_CHECK_EQUAL(encode_record(two).size(), encoded.size() + 33);
  // An expiry makes it sibling version 2, sets bit 1 of the flags byte and follows it as an i64.
  auto expiring = layout_record();
  expiring.siblings[0].expires_us = 0x1122334455667788;
  auto with_expiry = encode_record(expiring);
  BOOST_REQUIRE_EQUAL(with_expiry.size(), encoded.size() + 8);
  BOOST_CHECK_EQUAL(with_expiry[sibling_version_at], 2);
  BOOST_CHECK_EQUAL(with_expiry[tombstone_at], 2);
  bytes stamp(with_expiry.begin() + tombstone_at + 1, with_expiry.begin() + tombstone_at + 9);
  BOOST_CHECK((stamp == bytes{0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11}));
}

BOOST_AUTO_TEST_CASE(records_without_expiry_keep_the_bytes_of_before_ttls) {
  // Records written before TTLs (sibling version 1) decode without expiry, and a record without
  // one is still written that way, so builds without TTLs read it. Version 2 without an
  // expiry decodes to the same record.
  auto old = decode(documented_layout(1));
  ACTORKV_REQUIRE_OK(old);
  BOOST_CHECK(*old == layout_record());
  BOOST_CHECK_EQUAL(old->siblings[0].expires_us, 0);
  BOOST_CHECK(encode_record(*old) == documented_layout(1));
  auto v2 = decode(documented_layout(2));
  ACTORKV_REQUIRE_OK(v2);
  BOOST_CHECK(*v2 == layout_record());
  // One sibling with an expiry makes every sibling of the record version 2.
  auto mixed = layout_record();
  mixed.siblings.push_back(make_sibling(0x0102030405060708ull, 10, 5, to_bytes("x")));
  mixed.siblings[1].expires_us = 77;
  mixed.context.entries[0].counter = 10;
  auto round = decode(encode_record(mixed));
  ACTORKV_REQUIRE_OK(round);
  BOOST_CHECK(*round == mixed);
  BOOST_CHECK_EQUAL(encode_record(mixed)[sibling_version_at], 2);
  // Version 1 knew no expiry: its byte stays 0 or 1.
  auto v1 = documented_layout(1);
  v1[tombstone_at] = 2;
  reseal(v1);
  check_corrupt(v1, "version 1 with an expiry flag");
}

BOOST_AUTO_TEST_CASE(truncated_input_is_corrupt_at_every_length) {
  auto encoded = encode_record(sample_record());
  for (size_t len = 0; len < encoded.size(); ++len) {
    bytes cut(encoded.begin(), encoded.begin() + len);
    check_corrupt(cut, "truncated to " + std::to_string(len));
    // With a valid checksum over what is left, the payload decoder itself must notice.
    if (len > 5) {
      reseal(cut);
      check_corrupt(cut, "truncated to " + std::to_string(len) + " and resealed");
    }
  }
  BOOST_CHECK_NO_THROW(decode_record(nullptr, 0));
}

BOOST_AUTO_TEST_CASE(a_flipped_bit_anywhere_is_corrupt) {
  auto rec = sample_record();
  rec.siblings.push_back(make_sibling(3, 3, 3, all_byte_values()));
  auto encoded = encode_record(rec);
  for (size_t pos = 0; pos < encoded.size(); ++pos)
    for (int bit = 0; bit < 8; ++bit) {
      auto damaged = encoded;
      damaged[pos] ^= static_cast<uint8_t>(1u << bit);
      check_corrupt(damaged, "bit " + std::to_string(bit) + " of byte " + std::to_string(pos));
    }
}

BOOST_AUTO_TEST_CASE(damage_behind_a_valid_checksum_is_corrupt) {
  const auto good = encode_record(layout_record());
  auto with = [&](size_t offset, uint64_t value, size_t width) {
    auto xs = good;
    put_le(xs, offset, value, width);
    reseal(xs);
    return xs;
  };
  auto format = good;
  format[0] = 2;
  check_corrupt(format, "format byte 2");
  check_corrupt(with(5, 0, 1), "big-endian flag");
  check_corrupt(with(record_version_at, 2, 4), "record version 2");
  auto newer = decode(with(record_version_at, 2, 4));
  BOOST_CHECK(!newer && describe(newer.error()).find("version 2") != std::string::npos);
  check_corrupt(with(sibling_version_at, 3, 4), "sibling version 3");
  check_corrupt(with(tombstone_at, 4, 1), "sibling flags 4");
  // The expiry flag with an expiry of 0: no expiry has exactly one encoding, no flag.
  auto zero_expiry = good;
  zero_expiry[tombstone_at] = 2;
  zero_expiry.insert(zero_expiry.begin() + tombstone_at + 1, 8, 0);
  reseal(zero_expiry);
  check_corrupt(zero_expiry, "an expiry flagged as 0");
  auto trailing = good;
  trailing.push_back(0);
  reseal(trailing);
  check_corrupt(trailing, "a trailing byte");
}

BOOST_AUTO_TEST_CASE(a_corrupt_length_does_not_allocate_gigabytes) {
  const auto good = encode_record(layout_record());
  const uint64_t claims[] = {
      3, 1000, uint64_t{1} << 31, uint64_t{1} << 40, uint64_t{1} << 62, ~uint64_t{0}};
  for (auto at : {context_count_at, sibling_count_at, value_length_at})
    for (auto claim : claims) {
      auto xs = good;
      put_le(xs, at, claim, 8);
      reseal(xs);
      BOOST_TEST_CONTEXT("count at offset " << at << " claims " << claim) {
        size_t largest = 0;
        caf::expected<record> got = record{};
        {
          allocation_probe probe;
          got = decode(xs);
          largest = probe.largest();
        }
        BOOST_CHECK(!got);
        if (!got)
          ACTORKV_CHECK_EC(got.error(), ec::corrupt_record);
        BOOST_CHECK_LT(largest, size_t{64} << 10);
      }
    }
}

BOOST_AUTO_TEST_SUITE_END()
