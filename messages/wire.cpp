#include "messages/wire.hpp"

#include "messages/client.hpp"
#include "messages/error.hpp"
#include "messages/replication.hpp"

namespace actorkv {

namespace {

// The fewest bytes each element can take, to bound claimed counts before allocating.
constexpr size_t min_dot_bytes = 9;            // fixed64 id, varint counter
constexpr size_t min_sibling_bytes = 19;       // dot, fixed64 timestamp, flag, value length
constexpr size_t min_replica_call_bytes = 22;  // id, kind, partition, key, op (with limits),
                                               // record, target, inline limit
constexpr size_t min_replica_answer_bytes = 9; // id, error flag, read (4), record (2), withheld
constexpr size_t min_client_call_bytes = 5;    // id, kind, key, value, context
constexpr size_t min_client_answer_bytes = 8;  // id, error flag, found, values, context, acks,
                                               // siblings, warning

/// Room for the fixed fields of one element, on top of its keys and values.
constexpr size_t element_overhead = 48;

// A sibling's and a write's flags byte: bit 0 the tombstone (the byte was 0 or 1 before TTLs),
// bit 1 an expiry follows (fixed64). Without an expiry the bytes are those of before.
constexpr uint8_t tombstone_bit = 1;
constexpr uint8_t expiry_bit = 2;

void write_flags(wire_writer& w, bool tombstone, int64_t expires_us) {
  w.u8((tombstone ? tombstone_bit : 0) | (expires_us != 0 ? expiry_bit : 0));
  if (expires_us != 0)
    w.fixed64(static_cast<uint64_t>(expires_us));
}

/// Reads what write_flags wrote; false for unknown bits or an expiry of 0.
bool read_flags(wire_reader& r, bool& tombstone, int64_t& expires_us) {
  auto flags = r.u8();
  if ((flags & ~(tombstone_bit | expiry_bit)) != 0)
    return false;
  tombstone = (flags & tombstone_bit) != 0;
  expires_us = 0;
  if (flags & expiry_bit) {
    expires_us = static_cast<int64_t>(r.fixed64());
    if (expires_us == 0)
      return false;
  }
  return true;
}

// A client call's kind byte carries a TTL flag in its top bit: a varint of seconds follows.
constexpr uint8_t ttl_bit = 0x80;

size_t record_size(const record& r) {
  size_t n = element_overhead + r.context.entries.size() * 18;
  for (auto& s : r.siblings)
    n += s.value.size() + 32;
  return n;
}

/// The errors travelling next to a batch of answers, handed out in order to the answers whose
/// error flag is set.
class error_feed {
public:
  explicit error_feed(std::vector<caf::error>& errors) : errors_(errors) {}

  /// The next error; false when the batch sent too few.
  bool take(caf::error& out) {
    if (next_ >= errors_.size())
      return false;
    out = std::move(errors_[next_++]);
    return true;
  }

  /// Whether every error was handed out (none may be left over).
  bool drained() const { return next_ == errors_.size(); }

private:
  std::vector<caf::error>& errors_;
  size_t next_ = 0;
};

/// A batch's bytes: the format byte, the element count, then each element as `write_one`
/// writes it; `estimate` is the room reserved up front.
template <class T, class WriteOne>
bytes encode_batch(const std::vector<T>& xs, size_t estimate, WriteOne write_one) {
  bytes out;
  out.reserve(estimate);
  wire_writer w{out};
  w.u8(wire_format);
  w.varint(xs.size());
  for (auto& x : xs)
    write_one(w, x);
  return out;
}

/// Decodes what encode_batch wrote into `xs`, each element as `read_one(reader, element, feed)`
/// reads it (false: malformed). Fails with wire_error(what) on a foreign format, a count the
/// bytes cannot hold, a malformed element, bytes left over, or errors left over.
template <class T, class ReadOne>
caf::error decode_batch(const bytes& blob, std::vector<caf::error>& errors, std::vector<T>& xs,
                        size_t min_element_bytes, const char* what, ReadOne read_one) {
  wire_reader r{blob.data(), blob.size()};
  if (r.u8() != wire_format)
    return wire_error(what);
  auto n = r.count(min_element_bytes);
  if (r.failed())
    return wire_error(what);
  xs.clear();
  xs.resize(n);
  error_feed feed{errors};
  for (auto& x : xs)
    if (!read_one(r, x, feed) || r.failed())
      return wire_error(what);
  if (r.left() != 0 || !feed.drained())
    return wire_error(what);
  return caf::none;
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
    write_flags(*this, s.tombstone, s.expires_us);
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
    if (!read_flags(*this, s.tombstone, s.expires_us))
      fail();
    blob(s.value);
  }
}

caf::error wire_error(const char* batch) {
  return caf::make_error(ec::bad_request, std::string{"malformed "} + batch + " on the wire");
}

// -- replica calls and answers ------------------------------------------------------------------

namespace {

/// The room a batch's bytes take, reserved up front.
template <class T>
size_t batch_estimate(const std::vector<T>& xs) {
  size_t n = 8;
  for (auto& x : xs)
    n += estimated_wire_bytes(x);
  return n;
}

} // namespace

size_t estimated_wire_bytes(const replica_call& c) {
  return element_overhead + c.key.size() + c.op.key.size() + c.op.value.size() + c.target.size() +
         record_size(c.rec);
}

size_t estimated_wire_bytes(const replica_answer& a) {
  return element_overhead + record_size(a.read.rec) + record_size(a.rec);
}

size_t estimated_wire_bytes(const client_call& c) {
  return element_overhead + c.key.size() + c.value.size() + c.context.size();
}

size_t estimated_wire_bytes(const client_answer& a) {
  size_t n = element_overhead + a.get.context.size() + a.write.warning.size();
  for (auto& v : a.get.values)
    n += v.size() + 4;
  return n;
}

bytes encode_wire(const std::vector<replica_call>& xs, std::vector<caf::error>&) {
  auto estimate = batch_estimate(xs);
  return encode_batch(xs, estimate, [](wire_writer& w, const replica_call& c) {
    w.varint(c.id);
    w.u8(static_cast<uint8_t>(c.kind));
    w.varint(c.partition);
    w.blob(c.key);
    w.blob(c.op.key);
    write_flags(w, c.op.tombstone, c.op.expires_us);
    w.blob(c.op.value);
    w.versions(c.op.context);
    w.fixed64(static_cast<uint64_t>(c.op.timestamp_us));
    w.varint(c.op.limits.max_siblings);
    w.varint(c.op.limits.max_record_bytes);
    w.rec(c.rec);
    w.text(c.target);
    w.varint(c.inline_limit);
  });
}

caf::error decode_wire(const bytes& blob, std::vector<caf::error>& errors,
                       std::vector<replica_call>& xs) {
  return decode_batch(blob, errors, xs, min_replica_call_bytes, "replica calls",
                      [](wire_reader& r, replica_call& c, error_feed&) {
                        c.id = r.varint();
                        auto kind = r.u8();
                        if (kind > static_cast<uint8_t>(replica_call_kind::hint))
                          return false;
                        c.kind = static_cast<replica_call_kind>(kind);
                        auto partition = r.varint();
                        if (partition > UINT32_MAX)
                          return false;
                        c.partition = static_cast<partition_id>(partition);
                        r.blob(c.key);
                        r.blob(c.op.key);
                        if (!read_flags(r, c.op.tombstone, c.op.expires_us))
                          return false;
                        r.blob(c.op.value);
                        r.versions(c.op.context);
                        c.op.timestamp_us = static_cast<int64_t>(r.fixed64());
                        auto max_siblings = r.varint();
                        auto max_record_bytes = r.varint();
                        if (max_siblings > UINT32_MAX || max_record_bytes > UINT32_MAX)
                          return false;
                        c.op.limits.max_siblings = static_cast<uint32_t>(max_siblings);
                        c.op.limits.max_record_bytes = static_cast<uint32_t>(max_record_bytes);
                        r.rec(c.rec);
                        r.text(c.target);
                        c.inline_limit = r.varint();
                        return true;
                      });
}

bytes encode_wire(const std::vector<replica_answer>& xs, std::vector<caf::error>& errors) {
  auto estimate = batch_estimate(xs);
  return encode_batch(xs, estimate, [&errors](wire_writer& w, const replica_answer& a) {
    w.varint(a.id);
    w.flag(static_cast<bool>(a.err));
    if (a.err)
      errors.push_back(a.err);
    w.flag(a.read.found);
    w.flag(a.read.corrupt);
    w.rec(a.read.rec);
    w.rec(a.rec);
    w.varint(a.read.withheld_bytes);
  });
}

caf::error decode_wire(const bytes& blob, std::vector<caf::error>& errors,
                       std::vector<replica_answer>& xs) {
  return decode_batch(blob, errors, xs, min_replica_answer_bytes, "replica answers",
                      [](wire_reader& r, replica_answer& a, error_feed& feed) {
                        a.id = r.varint();
                        if (r.flag() && !feed.take(a.err))
                          return false;
                        a.read.found = r.flag();
                        a.read.corrupt = r.flag();
                        r.rec(a.read.rec);
                        r.rec(a.rec);
                        a.read.withheld_bytes = r.varint();
                        return true;
                      });
}

// -- client calls and answers -------------------------------------------------------------------

bytes encode_wire(const std::vector<client_call>& xs, std::vector<caf::error>&) {
  auto estimate = batch_estimate(xs);
  return encode_batch(xs, estimate, [](wire_writer& w, const client_call& c) {
    w.varint(c.id);
    w.u8(static_cast<uint8_t>(c.kind) | (c.ttl_s != 0 ? ttl_bit : 0));
    if (c.ttl_s != 0)
      w.varint(c.ttl_s);
    w.blob(c.key);
    w.blob(c.value);
    w.blob(c.context);
  });
}

caf::error decode_wire(const bytes& blob, std::vector<caf::error>& errors,
                       std::vector<client_call>& xs) {
  return decode_batch(blob, errors, xs, min_client_call_bytes, "client calls",
                      [](wire_reader& r, client_call& c, error_feed&) {
                        c.id = r.varint();
                        auto kind = r.u8();
                        c.ttl_s = 0;
                        if (kind & ttl_bit) {
                          kind &= ~ttl_bit;
                          auto ttl = r.varint();
                          if (ttl == 0 || ttl > UINT32_MAX)
                            return false;
                          c.ttl_s = static_cast<uint32_t>(ttl);
                        }
                        if (kind > static_cast<uint8_t>(client_call_kind::del))
                          return false;
                        c.kind = static_cast<client_call_kind>(kind);
                        r.blob(c.key);
                        r.blob(c.value);
                        r.blob(c.context);
                        return true;
                      });
}

bytes encode_wire(const std::vector<client_answer>& xs, std::vector<caf::error>& errors) {
  auto estimate = batch_estimate(xs);
  return encode_batch(xs, estimate, [&errors](wire_writer& w, const client_answer& a) {
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
    w.varint(a.write.siblings);
    w.text(a.write.warning);
  });
}

caf::error decode_wire(const bytes& blob, std::vector<caf::error>& errors,
                       std::vector<client_answer>& xs) {
  return decode_batch(blob, errors, xs, min_client_answer_bytes, "client answers",
                      [](wire_reader& r, client_answer& a, error_feed& feed) {
                        a.id = r.varint();
                        if (r.flag() && !feed.take(a.err))
                          return false;
                        a.get.found = r.flag();
                        a.get.values.resize(r.count(1));
                        for (auto& v : a.get.values)
                          r.blob(v);
                        r.blob(a.get.context);
                        auto acks = r.varint();
                        if (acks > UINT32_MAX)
                          return false;
                        a.write.acks = static_cast<uint32_t>(acks);
                        auto siblings = r.varint();
                        if (siblings > UINT32_MAX)
                          return false;
                        a.write.siblings = static_cast<uint32_t>(siblings);
                        r.text(a.write.warning);
                        return true;
                      });
}

} // namespace actorkv
