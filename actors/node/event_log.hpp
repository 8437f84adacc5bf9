// One line per significant event, on stderr, written with a single call so that concurrent actors
// never interleave within a line. Text: "2026-11-23T21:50:00.123Z n1 info peer n2 up"; JSON (one
// object per line): {"time":"2026-11-23T21:50:00.123Z","node":"n1","level":"info",
// "subsystem":"peers","message":"peer n2 up"}. Each line belongs to a subsystem
// (cluster-config/log_levels.hpp); lines less severe than their subsystem's configured level are
// not written. kvnode configures it once at start ([log] in the manifest, --log-level,
// --log-format).
#pragma once

#include <cstdint>
#include <string>

#include "cluster-config/log_levels.hpp"

namespace actorkv {

struct log_config {
  log_levels levels; ///< a level for every subsystem, and overrides
  bool json = false;
};

/// Sets what log_event writes from now on (process-wide; call before the actors start).
void configure_log(const log_config& config);

/// The line (newline included) for an event at `time_us` microseconds since the epoch (UTC).
std::string format_log_line(log_subsystem subsystem, log_level level, const std::string& node,
                            const std::string& text, int64_t time_us, bool json);

/// Writes an event of `subsystem` at `level`, unless the subsystem's configured level leaves it
/// out.
void log_event(log_subsystem subsystem, log_level level, const std::string& node,
               const std::string& text);

/// An event of `subsystem` at level info.
inline void log_event(log_subsystem subsystem, const std::string& node, const std::string& text) {
  log_event(subsystem, log_level::info, node, text);
}

/// An event of the node subsystem (lifecycle) at `level`.
inline void log_event(log_level level, const std::string& node, const std::string& text) {
  log_event(log_subsystem::node, level, node, text);
}

/// An event of the node subsystem at level info.
inline void log_event(const std::string& node, const std::string& text) {
  log_event(log_subsystem::node, log_level::info, node, text);
}

} // namespace actorkv
