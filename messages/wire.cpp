#include "messages/wire.hpp"

#include "messages/client.hpp"
#include "messages/error.hpp"
#include "messages/replication.hpp"

namespace actorkv {

namespace {

// The fewest bytes each element can take, to bound claimed counts before allocating.
constexpr size_t min_dot_bytes = 9;      // fixed64 id, varint counter
constexpr size_t min_sibling_bytes = 19; // dot, fixed64 timestamp, flag, value length
constexpr size_t min_replica_call_bytes =
    19; // id, kind, partition, key, op (12), record (2), target
constexpr size_t min_replica_answer_bytes = 8; // id, error flag, read (4), record (2)
constexpr size_t min_client_call_bytes = 5;    // id, kind, key, value, context
constexpr size_t min_client_answer_bytes = 6;  // id, error flag, found, values, context, acks

/// Room for the fixed fields of one element, on top of its keys and values.
constexpr size_t element_overhead = 48;

size_t record_size(const record& r) {
  size_t n = element_overhead + r.context.entries.size() * 18;
  for (auto& s : r.siblings)
    n += s.value.size() + 32;
  return n;
}

/// Starts a batch: its format byte and element count.
bytes start(size_t estimate, size_t count) {
  bytes out;
  out.reserve(estimate);
  wire_writer w{out};
  w.u8(wire_format);
  w.varint(count);
  return out;
}

/// Reads a batch's format byte and element count; false (reader failed) on a foreign format.
bool open(wire_reader& r, size_t min_element_bytes, size_t& count) {
  if (r.u8() != wire_format)
    return false;
  count = r.count(min_element_bytes);
  return !r.failed();
}

/// The next error of an answer whose error flag is set; false when the batch sent too few.
bool take_error(std::vector<caf::error>& errors, size_t& next, caf::error& out) {
  if (next >= errors.size())
    return false;
  out = std::move(errors[next++]);
  return true;
}

} // namespace

void wire_writer::versions(const version_vector& vv) {
  varint(vv.entries.size());
  for (auto& d : vv.entries) {
    fixed64(d.id);
    varint(d.counter);
  }
}

void wire_writer::rec(const record& r) {
  versions(r.context);
  varint(r.siblings.size());
  for (auto& s : r.siblings) {
    fixed64(s.origin.id);
    varint(s.origin.counter);
    fixed64(static_cast<uint64_t>(s.timestamp_us));
    flag(s.tombstone);
    blob(s.value);
  }
}

void wire_reader::versions(version_vector& vv) {
  vv.entries.resize(count(min_dot_bytes));
  for (auto& d : vv.entries) {
    d.id = fixed64();
    d.counter = varint();
  }
}

void wire_reader::rec(record& r) {
  versions(r.context);
  r.siblings.resize(count(min_sibling_bytes));
  for (auto& s : r.siblings) {
    s.origin.id = fixed64();
    s.origin.counter = varint();
    s.timestamp_us = static_cast<int64_t>(fixed64());
    s.tombstone = flag();
    blob(s.value);
  }
}

caf::error wire_error(const char* batch) {
  return caf::make_error(ec::bad_request, std::string{"malformed "} + batch + " on the wire");
}

// -- replica calls and answers ------------------------------------------------------------------

bytes encode_wire(const std::vector<replica_call>& xs, std::vector<caf::error>&) {
  size_t estimate = 8;
  for (auto& c : xs)
    estimate += element_overhead + c.key.size() + c.op.key.size() + c.op.value.size() +
                c.target.size() + record_size(c.rec);
  auto out = start(estimate, xs.size());
  wire_writer w{out};
  for (auto& c : xs) {
    w.varint(c.id);
    w.u8(static_cast<uint8_t>(c.kind));
    w.varint(c.partition);
    w.blob(c.key);
    w.blob(c.op.key);
    w.flag(c.op.tombstone);
    w.blob(c.op.value);
    w.versions(c.op.context);
    w.fixed64(static_cast<uint64_t>(c.op.timestamp_us));
    w.rec(c.rec);
    w.text(c.target);
  }
  return out;
}

caf::error decode_wire(const bytes& blob, std::vector<caf::error>& errors,
                       std::vector<replica_call>& xs) {
  wire_reader r{blob.data(), blob.size()};
  size_t n = 0;
  if (!open(r, min_replica_call_bytes, n) || !errors.empty())
    return wire_error("replica calls");
  xs.clear();
  xs.resize(n);
  for (auto& c : xs) {
    c.id = r.varint();
    auto kind = r.u8();
    if (kind > static_cast<uint8_t>(replica_call_kind::hint))
      return wire_error("replica calls");
    c.kind = static_cast<replica_call_kind>(kind);
    auto partition = r.varint();
    if (partition > UINT32_MAX)
      return wire_error("replica calls");
    c.partition = static_cast<partition_id>(partition);
    r.blob(c.key);
    r.blob(c.op.key);
    c.op.tombstone = r.flag();
    r.blob(c.op.value);
    r.versions(c.op.context);
    c.op.timestamp_us = static_cast<int64_t>(r.fixed64());
    r.rec(c.rec);
    r.text(c.target);
    if (r.failed())
      return wire_error("replica calls");
  }
  if (r.left() != 0)
    return wire_error("replica calls");
  return caf::none;
}

bytes encode_wire(const std::vector<replica_answer>& xs, std::vector<caf::error>& errors) {
  size_t estimate = 8;
  for (auto& a : xs)
    estimate += record_size(a.read.rec) + record_size(a.rec);
  auto out = start(estimate, xs.size());
  wire_writer w{out};
  for (auto& a : xs) {
    w.varint(a.id);
    w.flag(static_cast<bool>(a.err));
    if (a.err)
      errors.push_back(a.err);
    w.flag(a.read.found);
    w.flag(a.read.corrupt);
    w.rec(a.read.rec);
    w.rec(a.rec);
  }
  return out;
}

caf::error decode_wire(const bytes& blob, std::vector<caf::error>& errors,
                       std::vector<replica_answer>& xs) {
  wire_reader r{blob.data(), blob.size()};
  size_t n = 0;
  if (!open(r, min_replica_answer_bytes, n))
    return wire_error("replica answers");
  xs.clear();
  xs.resize(n);
  size_t next_error = 0;
  for (auto& a : xs) {
    a.id = r.varint();
    if (r.flag() && !take_error(errors, next_error, a.err))
      return wire_error("replica answers");
    a.read.found = r.flag();
    a.read.corrupt = r.flag();
    r.rec(a.read.rec);
    r.rec(a.rec);
    if (r.failed())
      return wire_error("replica answers");
  }
  if (r.left() != 0 || next_error != errors.size())
    return wire_error("replica answers");
  return caf::none;
}

// -- client calls and answers -------------------------------------------------------------------

bytes encode_wire(const std::vector<client_call>& xs, std::vector<caf::error>&) {
  size_t estimate = 8;
  for (auto& c : xs)
    estimate += element_overhead + c.key.size() + c.value.size() + c.context.size();
  auto out = start(estimate, xs.size());
  wire_writer w{out};
  for (auto& c : xs) {
    w.varint(c.id);
    w.u8(static_cast<uint8_t>(c.kind));
    w.blob(c.key);
    w.blob(c.value);
    w.blob(c.context);
  }
  return out;
}

caf::error decode_wire(const bytes& blob, std::vector<caf::error>& errors,
                       std::vector<client_call>& xs) {
  wire_reader r{blob.data(), blob.size()};
  size_t n = 0;
  if (!open(r, min_client_call_bytes, n) || !errors.empty())
    return wire_error("client calls");
  xs.clear();
  xs.resize(n);
  for (auto& c : xs) {
    c.id = r.varint();
    auto kind = r.u8();
    if (kind > static_cast<uint8_t>(client_call_kind::del))
      return wire_error("client calls");
    c.kind = static_cast<client_call_kind>(kind);
    r.blob(c.key);
    r.blob(c.value);
    r.blob(c.context);
    if (r.failed())
      return wire_error("client calls");
  }
  if (r.left() != 0)
    return wire_error("client calls");
  return caf::none;
}

bytes encode_wire(const std::vector<client_answer>& xs, std::vector<caf::error>& errors) {
  size_t estimate = 8;
  for (auto& a : xs) {
    estimate += element_overhead + a.get.context.size();
    for (auto& v : a.get.values)
      estimate += v.size() + 4;
  }
  auto out = start(estimate, xs.size());
  wire_writer w{out};
  for (auto& a : xs) {
    w.varint(a.id);
    w.flag(static_cast<bool>(a.err));
    if (a.err)
      errors.push_back(a.err);
    w.flag(a.get.found);
    w.varint(a.get.values.size());
    for (auto& v : a.get.values)
      w.blob(v);
    w.blob(a.get.context);
    w.varint(a.write.acks);
  }
  return out;
}

caf::error decode_wire(const bytes& blob, std::vector<caf::error>& errors,
                       std::vector<client_answer>& xs) {
  wire_reader r{blob.data(), blob.size()};
  size_t n = 0;
  if (!open(r, min_client_answer_bytes, n))
    return wire_error("client answers");
  xs.clear();
  xs.resize(n);
  size_t next_error = 0;
  for (auto& a : xs) {
    a.id = r.varint();
    if (r.flag() && !take_error(errors, next_error, a.err))
      return wire_error("client answers");
    a.get.found = r.flag();
    a.get.values.resize(r.count(1));
    for (auto& v : a.get.values)
      r.blob(v);
    r.blob(a.get.context);
    auto acks = r.varint();
    if (acks > UINT32_MAX)
      return wire_error("client answers");
    a.write.acks = static_cast<uint32_t>(acks);
    if (r.failed())
      return wire_error("client answers");
  }
  if (r.left() != 0 || next_error != errors.size())
    return wire_error("client answers");
  return caf::none;
}

} // namespace actorkv
