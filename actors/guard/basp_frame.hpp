// Checks the frames of a BASP byte stream (CAF 0.17's wire protocol between actor systems) as
// they pass by, for the frame guard in front of a node's port (frame_guard.hpp).
//
// CAF 0.17.6 reads a fixed 32-byte header, validates it, then sizes its receive buffer from the
// header's payload_len before any payload arrives (basp_broker.cpp: configure_read(exactly(
// payload_len))), so a forged header announcing ~4 GiB makes a node allocate that much. No CAF
// 0.17 setting bounds it; this checker does, by refusing such a header before CAF sees it.
//
// Wire format (libcaf_io/caf/io/basp/header.hpp, serialised by binary_serializer, integers in
// network byte order, no preamble: the first bytes a client sends are its client handshake's
// header). Every frame is this header followed by payload_len bytes of payload:
//
//   offset  size  field
//        0     1  operation: 0 server_handshake, 1 client_handshake, 2 direct_message,
//                 3 routed_message, 4 monitor_message, 5 down_message, 6 heartbeat
//        1     2  padding
//        3     1  flags
//        4     4  payload_len
//        8     8  operation_data
//       16     8  source_actor
//       24     8  dest_actor
//
// Pure logic, free of CAF and sockets: it only looks at header bytes and counts payload bytes
// past without copying them.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

namespace actorkv {

/// Why a BASP stream was refused.
enum class frame_problem : uint8_t {
  none,
  unknown_operation, ///< the operation byte names no BASP message type
  invalid_header,    ///< a known operation whose fields CAF itself would refuse
  too_large,         ///< payload_len above the limit
};

/// One decoded BASP header.
struct basp_header {
  uint8_t operation = 0;
  uint8_t flags = 0;
  uint32_t payload_len = 0;
  uint64_t operation_data = 0;
  uint64_t source_actor = 0;
  uint64_t dest_actor = 0;
};

/// Follows one direction of a BASP connection, header by header.
class basp_frame_checker {
public:
  static constexpr size_t header_size = 32;

  /// Refuses frames whose payload exceeds `max_payload` bytes.
  explicit basp_frame_checker(uint32_t max_payload) : max_payload_(max_payload) {}

  /// Decodes a header from its 32 wire bytes.
  static basp_header decode(const uint8_t* p) {
    basp_header h;
    h.operation = p[0];
    h.flags = p[3];
    h.payload_len = static_cast<uint32_t>(big_endian(p + 4, 4));
    h.operation_data = big_endian(p + 8, 8);
    h.source_actor = big_endian(p + 16, 8);
    h.dest_actor = big_endian(p + 24, 8);
    return h;
  }

  /// The checks of CAF 0.17.6's basp::valid(header), so that nothing CAF accepts is refused
  /// here (refusing more would drop a legitimate connection).
  static frame_problem validate(const basp_header& h) {
    bool ok = false;
    switch (h.operation) {
    case 0: // server_handshake: carries the protocol version
      ok = h.operation_data != 0;
      break;
    case 1: // client_handshake
      ok = h.source_actor == 0 && h.dest_actor == 0;
      break;
    case 2: // direct_message
    case 3: // routed_message
      ok = h.dest_actor != 0 && h.payload_len != 0;
      break;
    case 4: // monitor_message
      ok = h.payload_len != 0 && h.operation_data == 0;
      break;
    case 5: // down_message
      ok = h.source_actor != 0 && h.dest_actor == 0 && h.payload_len != 0 && h.operation_data == 0;
      break;
    case 6: // heartbeat
      ok = h.source_actor == 0 && h.dest_actor == 0 && h.payload_len == 0 && h.operation_data == 0;
      break;
    default:
      return frame_problem::unknown_operation;
    }
    return ok ? frame_problem::none : frame_problem::invalid_header;
  }

  /// Takes the next `n` bytes of the stream. False once a header is refused: the stream is then
  /// unusable (problem() and describe() say why) and must be closed without forwarding these
  /// bytes.
  bool feed(const uint8_t* data, size_t n) {
    if (problem_ != frame_problem::none)
      return false;
    while (n > 0) {
      if (payload_left_ > 0) { // payload: counted, never copied
        auto k = static_cast<size_t>(std::min<uint64_t>(payload_left_, n));
        payload_left_ -= k;
        data += k;
        n -= k;
        continue;
      }
      const uint8_t* header = nullptr;
      if (have_ == 0 && n >= header_size) { // the usual case: the header lies in one read
        header = data;
        data += header_size;
        n -= header_size;
      } else { // a header split across reads: gather its 32 bytes
        auto k = std::min(header_size - have_, n);
        std::memcpy(partial_ + have_, data, k);
        have_ += k;
        data += k;
        n -= k;
        if (have_ < header_size)
          return true;
        have_ = 0;
        header = partial_;
      }
      if (!check(decode(header)))
        return false;
    }
    return true;
  }

  frame_problem problem() const { return problem_; }

  /// The refused header.
  const basp_header& refused() const { return refused_; }

  /// Headers accepted so far.
  uint64_t frames() const { return frames_; }

  /// One line: why the stream was refused ("" while it was not).
  std::string describe() const {
    auto& h = refused_;
    switch (problem_) {
    case frame_problem::unknown_operation:
      return "invalid BASP header: unknown operation " + std::to_string(h.operation);
    case frame_problem::invalid_header:
      return "invalid BASP header: operation " + std::to_string(h.operation) +
             " with payload_len " + std::to_string(h.payload_len) + ", operation_data " +
             std::to_string(h.operation_data) + ", source_actor " + std::to_string(h.source_actor) +
             ", dest_actor " + std::to_string(h.dest_actor);
    case frame_problem::too_large:
      return "BASP header announces a payload of " + std::to_string(h.payload_len) +
             " bytes, above max_frame_bytes (" + std::to_string(max_payload_) + ")";
    default:
      return "";
    }
  }

private:
  static uint64_t big_endian(const uint8_t* p, size_t n) {
    uint64_t x = 0;
    for (size_t i = 0; i < n; ++i)
      x = (x << 8) | p[i];
    return x;
  }

  bool check(const basp_header& h) {
    auto problem = validate(h);
    if (problem == frame_problem::none && h.payload_len > max_payload_)
      problem = frame_problem::too_large;
    if (problem != frame_problem::none) {
      problem_ = problem;
      refused_ = h;
      return false;
    }
    ++frames_;
    payload_left_ = h.payload_len;
    return true;
  }

  uint32_t max_payload_;
  uint64_t payload_left_ = 0; ///< payload bytes of the current frame still to come
  uint8_t partial_[header_size] = {};
  size_t have_ = 0; ///< bytes of a split header gathered in partial_
  uint64_t frames_ = 0;
  frame_problem problem_ = frame_problem::none;
  basp_header refused_;
};

} // namespace actorkv
