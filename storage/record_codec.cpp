// The record codec: format byte, CRC32C, then Cereal's portable binary encoding of the record.
// storage/FORMAT.md is the byte-by-byte description; keep the two in step.
//
// Cereal stays inside this file: messages/ is shared by every process and must not depend on it,
// so the serialization functions below are non-intrusive templates found by argument-dependent
// lookup in namespace actorkv.
#include "storage/record_codec.hpp"

#include <array>
#include <atomic>
#include <cstring>
#include <exception>
#include <istream>
#include <ostream>
#include <streambuf>
#include <string>

#include <caf/error.hpp>

#include <cereal/archives/portable_binary.hpp>
#include <cereal/cereal.hpp>

#include "messages/error.hpp"

// Class versions are written once per archive, before the first object of the type. Bump one when
// the type's layout changes and teach its load() the old layout (FORMAT.md lists every version).
// The versions are registered during static initialisation, so encoding and decoding only read
// cereal's version table afterwards and need no CEREAL_THREAD_SAFE lock across storage threads.
namespace actorkv::codec {
/// A sibling written as sibling version 1: what a record none of whose siblings has an expiry
/// is written as, the bytes of before TTLs, which builds from before them still read.
struct sibling_v1 {
  const sibling* s;
};
} // namespace actorkv::codec

CEREAL_CLASS_VERSION(actorkv::record, 1)
CEREAL_CLASS_VERSION(actorkv::sibling, 2)
CEREAL_CLASS_VERSION(actorkv::codec::sibling_v1, 1)

namespace actorkv {
namespace {

/// The format byte this build writes (and the only one it reads).
constexpr uint8_t record_format = 1;

/// Format byte plus checksum.
constexpr size_t header_size = 5;

/// Portable binary archives open with a flag byte: 1 when the payload is little-endian. We always
/// write little-endian, so any other value means the payload is not ours.
constexpr uint8_t little_endian_flag = 1;

/// The fewest payload bytes one element can occupy; a claimed element count is checked against
/// them before anything is allocated, so a corrupt count cannot request gigabytes.
constexpr size_t min_dot_size = 16;     // id, counter
constexpr size_t min_sibling_size = 33; // dot, timestamp, flags byte, value length

/// Sibling version 2's flags byte: bit 0 the tombstone (version 1's byte, 0 or 1), bit 1 an
/// expiry follows (i64 microseconds). A sibling without expiry has version 1's bytes.
constexpr uint8_t tombstone_flag = 1;
constexpr uint8_t expiry_flag = 2;

/// Reads the payload straight from the caller's buffer, and tells the load functions how many
/// bytes remain so they can bound element counts.
class input_buffer : public std::streambuf {
public:
  void reset(const uint8_t* data, size_t size) {
    // std::streambuf wants char*; the get area is never written through.
    auto* first = reinterpret_cast<char*>(const_cast<uint8_t*>(data));
    setg(first, first, first + size);
  }

  size_t remaining() const { return static_cast<size_t>(egptr() - gptr()); }
};

/// Appends the payload to the output vector directly: no intermediate string copy of large values.
class output_buffer : public std::streambuf {
public:
  void reset(bytes& out) { out_ = &out; }

protected:
  int_type overflow(int_type c) override {
    if (!traits_type::eq_int_type(c, traits_type::eof()))
      out_->push_back(static_cast<uint8_t>(c));
    return traits_type::not_eof(c);
  }

  std::streamsize xsputn(const char* s, std::streamsize n) override {
    out_->insert(out_->end(), reinterpret_cast<const uint8_t*>(s),
                 reinterpret_cast<const uint8_t*>(s) + n);
    return n;
  }

private:
  bytes* out_ = nullptr;
};

/// The streams cereal's archives read and write through, kept per thread: constructing a
/// std::istream or std::ostream sets up its locale (dynamic casts and reference counts), which
/// per record cost about as much as the encoding itself.
struct codec_streams {
  input_buffer in_buf;
  std::istream in{&in_buf};
  output_buffer out_buf;
  std::ostream out{&out_buf};
};

codec_streams& thread_streams() {
  thread_local codec_streams streams;
  return streams;
}

/// The archive decode_record() reads with: cereal hands load functions the base archive type, and
/// they reach the buffer through this one. (cereal's own UserDataAdapter does the same but is
/// hidden behind CEREAL_FUTURE_EXPERIMENTAL.)
class bounded_input_archive : public cereal::PortableBinaryInputArchive {
public:
  bounded_input_archive(input_buffer& buf, std::istream& stream)
      : cereal::PortableBinaryInputArchive(stream, Options::LittleEndian()), buf_(buf) {}

  size_t remaining() const { return buf_.remaining(); }

private:
  input_buffer& buf_;
};

/// Reads an element count and rejects it when the remaining bytes cannot hold that many elements.
template <class Archive>
size_t load_count(Archive& ar, size_t min_element_size, const char* what) {
  cereal::size_type count = 0;
  ar(cereal::make_size_tag(count));
  // Only decode_record() creates input archives in this file, and these load functions are
  // visible nowhere else, so the archive is always the bounded one.
  auto left = static_cast<const bounded_input_archive&>(ar).remaining();
  if (count > left / min_element_size)
    throw cereal::Exception(std::string{what} + " claims " + std::to_string(count) +
                            " elements but only " + std::to_string(left) + " bytes remain");
  return static_cast<size_t>(count);
}

template <class Archive>
void save_bytes(Archive& ar, const bytes& xs) {
  ar(cereal::make_size_tag(static_cast<cereal::size_type>(xs.size())));
  ar(cereal::binary_data(xs.data(), xs.size()));
}

template <class Archive>
void load_bytes(Archive& ar, bytes& xs, const char* what) {
  xs.resize(load_count(ar, 1, what));
  ar(cereal::binary_data(xs.data(), xs.size()));
}

} // namespace

// -- Cereal serialization (non-intrusive, found by ADL) -------------------------------------------

template <class Archive>
void serialize(Archive& ar, dot& x) {
  ar(x.id, x.counter);
}

template <class Archive>
void save(Archive& ar, const version_vector& x) {
  ar(cereal::make_size_tag(static_cast<cereal::size_type>(x.entries.size())));
  for (const auto& d : x.entries)
    ar(d);
}

template <class Archive>
void load(Archive& ar, version_vector& x) {
  x.entries.resize(load_count(ar, min_dot_size, "version vector"));
  for (auto& d : x.entries)
    ar(d);
}

template <class Archive>
void save(Archive& ar, const sibling& x, std::uint32_t) {
  // One flags byte (see tombstone_flag); loading it as a byte lets us reject other values
  // instead of producing an invalid bool. The expiry is written only when there is one.
  uint8_t flags = (x.tombstone ? tombstone_flag : 0) | (x.expires_us != 0 ? expiry_flag : 0);
  ar(x.origin, x.timestamp_us, flags);
  if (x.expires_us != 0)
    ar(x.expires_us);
  save_bytes(ar, x.value);
}

namespace codec {

template <class Archive>
void save(Archive& ar, const sibling_v1& x, std::uint32_t) {
  actorkv::save(ar, *x.s, 1); // flags 0 or 1 without an expiry: version 1's tombstone byte
}

} // namespace codec

template <class Archive>
void load(Archive& ar, sibling& x, std::uint32_t version) {
  if (version != 1 && version != 2)
    throw cereal::Exception("sibling version " + std::to_string(version) +
                            " is newer than this build understands (2)");
  uint8_t flags = 0;
  ar(x.origin, x.timestamp_us, flags);
  // Version 1 (before TTLs) had only the tombstone byte, 0 or 1.
  uint8_t known = version == 1 ? tombstone_flag : tombstone_flag | expiry_flag;
  if ((flags & ~known) != 0)
    throw cereal::Exception((version == 1 ? "tombstone flag is " : "sibling flags are ") +
                            std::to_string(flags));
  x.tombstone = (flags & tombstone_flag) != 0;
  x.expires_us = 0;
  if (flags & expiry_flag) {
    ar(x.expires_us);
    if (x.expires_us == 0) // one encoding per sibling: no expiry is no flag
      throw cereal::Exception("sibling expiry flagged but 0");
  }
  load_bytes(ar, x.value, "sibling value");
}

template <class Archive>
void save(Archive& ar, const record& x, std::uint32_t) {
  ar(x.context);
  ar(cereal::make_size_tag(static_cast<cereal::size_type>(x.siblings.size())));
  // Sibling version 2 only when a sibling needs it: without expiries a record keeps the bytes
  // of before TTLs, so a node can still go back to a build without them.
  bool expiring = std::any_of(x.siblings.begin(), x.siblings.end(),
                              [](const sibling& s) { return s.expires_us != 0; });
  for (const auto& s : x.siblings)
    if (expiring)
      ar(s);
    else
      ar(codec::sibling_v1{&s});
}

template <class Archive>
void load(Archive& ar, record& x, std::uint32_t version) {
  if (version != 1)
    throw cereal::Exception("record version " + std::to_string(version) +
                            " is newer than this build understands (1)");
  ar(x.context);
  x.siblings.resize(load_count(ar, min_sibling_size, "sibling list"));
  for (auto& s : x.siblings)
    ar(s);
}

namespace storage {
namespace {

/// Slicing-by-8 tables for the reflected Castagnoli polynomial: table[0] is the classic byte-wise
/// table, table[k] advances a byte that sits k positions further from the end.
using crc_tables = std::array<std::array<uint32_t, 256>, 8>;

constexpr crc_tables make_crc_tables() {
  crc_tables t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t crc = i;
    for (int bit = 0; bit < 8; ++bit)
      crc = (crc & 1) ? (crc >> 1) ^ 0x82F63B78u : crc >> 1;
    t[0][i] = crc;
  }
  for (uint32_t i = 0; i < 256; ++i)
    for (size_t k = 1; k < 8; ++k)
      t[k][i] = (t[k - 1][i] >> 8) ^ t[0][t[k - 1][i] & 0xFF];
  return t;
}

constexpr crc_tables crc_table = make_crc_tables();

uint32_t load_le32(const uint8_t* p) {
  return uint32_t{p[0]} | uint32_t{p[1]} << 8 | uint32_t{p[2]} << 16 | uint32_t{p[3]} << 24;
}

void store_le32(uint8_t* p, uint32_t x) {
  for (int i = 0; i < 4; ++i)
    p[i] = static_cast<uint8_t>(x >> (8 * i));
}

std::string hex32(uint32_t x) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out = "0x";
  for (int shift = 28; shift >= 0; shift -= 4)
    out += digits[(x >> shift) & 0xF];
  return out;
}

caf::error corrupt(std::string what) {
  return caf::make_error(ec::corrupt_record, std::move(what));
}

} // namespace

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
namespace {

/// The same checksum with SSE 4.2's crc32 instruction (the Castagnoli polynomial): about ten
/// times the table's speed. Each record read and write checksums its whole payload.
__attribute__((target("sse4.2"))) uint32_t crc32c_sse42(const uint8_t* data, size_t size) {
  uint64_t crc = 0xFFFFFFFFu;
  for (; size >= 8; data += 8, size -= 8) {
    uint64_t word;
    std::memcpy(&word, data, 8);
    crc = __builtin_ia32_crc32di(crc, word);
  }
  auto crc32 = static_cast<uint32_t>(crc);
  for (; size > 0; ++data, --size)
    crc32 = __builtin_ia32_crc32qi(crc32, *data);
  return crc32 ^ 0xFFFFFFFFu;
}

// Zero (the table) until initialised, which is still correct for any caller that runs earlier.
const bool have_sse42 = (__builtin_cpu_init(), __builtin_cpu_supports("sse4.2"));

} // namespace
#endif

uint32_t crc32c(const uint8_t* data, size_t size) {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  if (have_sse42)
    return crc32c_sse42(data, size);
#endif
  return crc32c_portable(data, size);
}

uint32_t crc32c_portable(const uint8_t* data, size_t size) {
  uint32_t crc = 0xFFFFFFFFu;
  for (; size >= 8; data += 8, size -= 8) {
    uint32_t lo = crc ^ load_le32(data);
    uint32_t hi = load_le32(data + 4);
    crc = crc_table[7][lo & 0xFF] ^ crc_table[6][(lo >> 8) & 0xFF] ^
          crc_table[5][(lo >> 16) & 0xFF] ^ crc_table[4][lo >> 24] ^ crc_table[3][hi & 0xFF] ^
          crc_table[2][(hi >> 8) & 0xFF] ^ crc_table[1][(hi >> 16) & 0xFF] ^ crc_table[0][hi >> 24];
  }
  for (; size > 0; ++data, --size)
    crc = (crc >> 8) ^ crc_table[0][(crc ^ *data) & 0xFF];
  return crc ^ 0xFFFFFFFFu;
}

bytes encode_record(const record& rec) {
  bytes out;
  // Values dominate a record's size; reserving for them avoids regrowing a large buffer.
  size_t estimate = header_size + 64 + rec.context.entries.size() * min_dot_size;
  for (const auto& s : rec.siblings)
    estimate += min_sibling_size + s.value.size();
  out.reserve(estimate);
  out.resize(header_size);
  out[0] = record_format;
  {
    auto& streams = thread_streams();
    streams.out_buf.reset(out);
    streams.out.clear();
    cereal::PortableBinaryOutputArchive archive{
        streams.out, cereal::PortableBinaryOutputArchive::Options::LittleEndian()};
    archive(rec);
  }
  store_le32(out.data() + 1, crc32c(out.data() + header_size, out.size() - header_size));
  return out;
}

namespace {
std::atomic<uint64_t> decoded{0};
} // namespace

uint64_t records_decoded() {
  return decoded.load(std::memory_order_relaxed);
}

caf::expected<record> decode_record(const uint8_t* data, size_t size) {
  decoded.fetch_add(1, std::memory_order_relaxed);
  if (size < header_size + 1)
    return corrupt("record is " + std::to_string(size) + " bytes, too short for its header");
  if (data[0] != record_format)
    return corrupt("unknown record format " + std::to_string(data[0]));
  auto stored = load_le32(data + 1);
  auto computed = crc32c(data + header_size, size - header_size);
  if (stored != computed)
    return corrupt("record checksum mismatch: stored " + hex32(stored) + ", computed " +
                   hex32(computed));
  if (data[header_size] != little_endian_flag)
    return corrupt("record payload has endianness flag " + std::to_string(data[header_size]));
  try {
    auto& streams = thread_streams();
    streams.in_buf.reset(data + header_size, size - header_size);
    streams.in.clear(); // a failed decode leaves the stream's error bits set
    bounded_input_archive archive{streams.in_buf, streams.in};
    record rec;
    archive(rec);
    auto left = streams.in_buf.remaining();
    if (left != 0)
      return corrupt("record payload has " + std::to_string(left) + " trailing bytes");
    return rec;
  } catch (const std::exception& e) {
    return corrupt(std::string{"record payload does not decode: "} + e.what());
  } catch (...) {
    return corrupt("record payload does not decode");
  }
}

} // namespace storage
} // namespace actorkv
