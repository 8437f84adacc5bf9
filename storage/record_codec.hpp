// The stored form of a record: a format byte, a CRC32C checksum and Cereal's binary encoding.
// storage/FORMAT.md documents the layout and its versions.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include <caf/expected.hpp>

#include "messages/record.hpp"

namespace actorkv::storage {

/// CRC32C (Castagnoli) of `size` bytes at `data`: with the CPU's crc32 instruction where it has
/// one (SSE 4.2), else crc32c_portable().
uint32_t crc32c(const uint8_t* data, size_t size);

/// The same checksum from tables, on any CPU (the fallback; tests check both agree).
uint32_t crc32c_portable(const uint8_t* data, size_t size);

/// Encodes `rec` with its checksum.
bytes encode_record(const record& rec);

/// The newest timestamp among the record's siblings; 0 when it has none.
inline int64_t newest_timestamp(const record& rec) {
  if (rec.siblings.empty())
    return 0;
  auto newest = rec.siblings.front().timestamp_us;
  for (const auto& s : rec.siblings)
    newest = std::max(newest, s.timestamp_us);
  return newest;
}

/// Verifies and decodes encode_record()'s output. A checksum mismatch, an unknown format byte or
/// a truncated payload yields ec::corrupt_record; never throws.
caf::expected<record> decode_record(const uint8_t* data, size_t size);

/// How many times decode_record() has run in this process (every thread): what a read path
/// costs, in records decoded, measured by tests and benchmarks. A relaxed atomic counter.
uint64_t records_decoded();

} // namespace actorkv::storage
