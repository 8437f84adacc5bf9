// The wire encoding of the batches every request travels in between processes: client calls and
// answers (client.hpp), replica calls and answers (replication.hpp).
//
// CAF 0.17 serializes a struct field by field, each field a virtual call that returns a
// caf::error; for these batches that was about 9% of the cluster's CPU under workload a
// (BENCHMARKS.md). Their inspect() hands CAF one byte string built here instead, so CAF copies it
// in one piece; the answers' errors travel next to it as a vector CAF serializes as it always did
// (any category, any context). Other inspectors (CAF's to_string) see the elements as before.
//
// Byte string: a format byte (wire_format), then the batch. Counts, lengths, ids, partitions,
// counters and acks are LEB128 varints; replica ids and timestamps 8 bytes little-endian;
// flags and kinds one byte. Decoding checks every length and count against the bytes left, so a
// damaged or hostile message fails with ec::bad_request instead of allocating what it claims.
// Both ends of a connection must run the same format: it is part of the wire protocol.
#pragma once

#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include <caf/error.hpp>
#include <caf/meta/type_name.hpp>

#include "messages/record.hpp"

namespace actorkv {

/// The format byte this build writes and reads.
constexpr uint8_t wire_format = 1;

/// Appends encoded values to a byte string.
class wire_writer {
public:
  explicit wire_writer(bytes& out) : out_(out) {}

  void u8(uint8_t x) { out_.push_back(x); }

  void flag(bool x) { out_.push_back(x ? 1 : 0); }

  void varint(uint64_t x) {
    uint8_t buf[10];
    size_t n = 0;
    while (x >= 0x80) {
      buf[n++] = static_cast<uint8_t>(x | 0x80);
      x >>= 7;
    }
    buf[n++] = static_cast<uint8_t>(x);
    out_.insert(out_.end(), buf, buf + n);
  }

  void fixed64(uint64_t x) {
    uint8_t buf[8];
    for (int i = 0; i < 8; ++i)
      buf[i] = static_cast<uint8_t>(x >> (8 * i));
    out_.insert(out_.end(), buf, buf + 8);
  }

  void blob(const uint8_t* data, size_t size) {
    varint(size);
    out_.insert(out_.end(), data, data + size);
  }

  void blob(const bytes& xs) { blob(xs.data(), xs.size()); }

  void text(const std::string& xs) { blob(reinterpret_cast<const uint8_t*>(xs.data()), xs.size()); }

  void versions(const version_vector& vv);

  void rec(const record& r);

private:
  bytes& out_;
};

/// Reads what wire_writer wrote. A read past the end, an overlong varint or a count larger than
/// the bytes left could hold marks the reader failed and yields zeros; check failed() once at
/// the end.
class wire_reader {
public:
  wire_reader(const uint8_t* data, size_t size) : pos_(data), end_(data + size) {}

  bool failed() const { return failed_; }

  /// Bytes not yet read.
  size_t left() const { return static_cast<size_t>(end_ - pos_); }

  uint8_t u8() {
    if (pos_ == end_)
      return fail();
    return *pos_++;
  }

  /// A byte that must be 0 or 1.
  bool flag() {
    auto x = u8();
    if (x > 1)
      fail();
    return x == 1;
  }

  uint64_t varint() {
    uint64_t x = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      auto b = u8();
      if (failed_)
        return 0;
      if (shift == 63 && b > 1)
        return fail(); // more than 64 bits
      x |= uint64_t{b & 0x7Fu} << shift;
      if ((b & 0x80) == 0)
        return x;
    }
    return fail();
  }

  uint64_t fixed64() {
    if (left() < 8)
      return fail();
    uint64_t x = 0;
    for (int i = 0; i < 8; ++i)
      x |= uint64_t{pos_[i]} << (8 * i);
    pos_ += 8;
    return x;
  }

  /// An element count, each element taking at least `min_bytes` bytes.
  size_t count(size_t min_bytes) {
    auto n = varint();
    if (n > left() / min_bytes)
      return fail();
    return static_cast<size_t>(n);
  }

  void blob(bytes& out) {
    auto n = count(1);
    out.assign(pos_, pos_ + n);
    pos_ += n;
  }

  void text(std::string& out) {
    auto n = count(1);
    out.assign(reinterpret_cast<const char*>(pos_), n);
    pos_ += n;
  }

  void versions(version_vector& vv);

  void rec(record& r);

private:
  uint8_t fail() {
    failed_ = true;
    pos_ = end_;
    return 0;
  }

  const uint8_t* pos_;
  const uint8_t* end_;
  bool failed_ = false;
};

/// The error for a batch that does not decode.
caf::error wire_error(const char* batch);

/// The inspect() of a batch type: encode_wire and decode_wire are its overloads, found by
/// argument-dependent lookup next to the element type. `errors` holds the errors of the answers
/// that have one, in order (always empty for calls).
template <class Inspector, class T>
typename Inspector::result_type inspect_wire_batch(Inspector& f, std::vector<T>& xs,
                                                   const char* name) {
  if constexpr (Inspector::writes_state) {
    bytes blob;
    std::vector<caf::error> errors;
    if (auto err = f(caf::meta::type_name(name), blob, errors))
      return err;
    return decode_wire(blob, errors, xs);
  } else if constexpr (std::is_same<typename Inspector::result_type, caf::error>::value) {
    std::vector<caf::error> errors;
    auto blob = encode_wire(xs, errors);
    return f(caf::meta::type_name(name), blob, errors);
  } else {
    // to_string and friends: the elements, through their own inspect().
    f(caf::meta::type_name(name));
    for (auto& x : xs)
      f(x);
  }
}

} // namespace actorkv
