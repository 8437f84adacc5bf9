#include "actors/node/event_log.hpp"

#include <atomic>
#include <cstdio>
#include <ctime>

#include "actors/node/wall_clock.hpp"
#include "cluster-config/json_text.hpp"

namespace actorkv {

namespace {

// Set once at start, read by every actor's thread.
std::atomic<int> configured_level{static_cast<int>(log_level::info)};
std::atomic<bool> configured_json{false};

} // namespace

const char* to_string(log_level level) {
  switch (level) {
  case log_level::error:
    return "error";
  case log_level::warning:
    return "warning";
  case log_level::info:
    return "info";
  case log_level::debug:
    return "debug";
  }
  return "info";
}

std::optional<log_level> parse_log_level(const std::string& word) {
  if (word == "error")
    return log_level::error;
  if (word == "warning" || word == "warn")
    return log_level::warning;
  if (word == "info")
    return log_level::info;
  if (word == "debug")
    return log_level::debug;
  return std::nullopt;
}

void configure_log(log_config config) {
  configured_level = static_cast<int>(config.level);
  configured_json = config.json;
}

std::string format_log_line(log_level level, const std::string& node, const std::string& text,
                            int64_t time_us, bool json) {
  auto secs = static_cast<std::time_t>(time_us / 1000000);
  auto ms = (time_us / 1000) % 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
  char millis[8];
  std::snprintf(millis, sizeof(millis), ".%03dZ", static_cast<int>(ms));
  auto time = std::string{stamp} + millis;
  if (json)
    return "{\"time\":\"" + time + "\",\"node\":" + json_quote(node) + ",\"level\":\"" +
           to_string(level) + "\",\"message\":" + json_quote(text) + "}\n";
  return time + " " + node + " " + to_string(level) + " " + text + "\n";
}

void log_event(log_level level, const std::string& node, const std::string& text) {
  if (static_cast<int>(level) > configured_level.load(std::memory_order_relaxed))
    return;
  auto line = format_log_line(level, node, text, system_wall_clock_us(),
                              configured_json.load(std::memory_order_relaxed));
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fflush(stderr);
}

} // namespace actorkv
