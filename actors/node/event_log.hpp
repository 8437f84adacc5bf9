// One line per significant event, on stderr, written with a single call so that concurrent actors
// never interleave within a line. Text: "2026-11-23T21:50:00.123Z n1 info peer n2 up"; JSON (one
// object per line): {"time":"2026-11-23T21:50:00.123Z","node":"n1","level":"info",
// "message":"peer n2 up"}. Lines less severe than the configured level are not written.
// kvnode configures it once at start ([log] in the manifest, --log-level, --log-format).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace actorkv {

/// Most severe first: a configured level writes its lines and every more severe one.
enum class log_level { error, warning, info, debug };

/// "error", "warning", "info", "debug".
const char* to_string(log_level level);
/// The level a word names (the to_string() words, and "warn"); nullopt otherwise.
std::optional<log_level> parse_log_level(const std::string& word);

struct log_config {
  log_level level = log_level::info;
  bool json = false;
};

/// Sets what log_event writes from now on (process-wide; call before the actors start).
void configure_log(log_config config);

/// The line (newline included) for an event at `time_us` microseconds since the epoch (UTC).
std::string format_log_line(log_level level, const std::string& node, const std::string& text,
                            int64_t time_us, bool json);

/// Writes an event at `level`, unless the configured level leaves it out.
void log_event(log_level level, const std::string& node, const std::string& text);

/// An event at level info.
inline void log_event(const std::string& node, const std::string& text) {
  log_event(log_level::info, node, text);
}

} // namespace actorkv
