#include "actors/node/event_log.hpp"

#include <atomic>
#include <cstdio>
#include <ctime>

#include "actors/node/wall_clock.hpp"
#include "cluster-config/json_text.hpp"

namespace actorkv {

namespace {

// Set once at start, read by every actor's thread: the level of each subsystem, four bits each
// (subsystem i in bits 4i..4i+3), in one word so that it is constant-initialised (info
// everywhere until configure_log runs) and read with one load.
constexpr uint64_t every_subsystem_at(log_level level) {
  uint64_t packed = 0;
  for (size_t i = 0; i < all_log_subsystems.size(); ++i)
    packed |= uint64_t{static_cast<uint8_t>(level)} << (4 * i);
  return packed;
}
static_assert(all_log_subsystems.size() * 4 <= 64, "levels of every subsystem fit one word");

std::atomic<uint64_t> configured_levels{every_subsystem_at(log_level::info)};
std::atomic<bool> configured_json{false};

int level_of(uint64_t packed, log_subsystem s) {
  return static_cast<int>(packed >> (4 * static_cast<size_t>(s)) & 15);
}

} // namespace

void configure_log(const log_config& config) {
  uint64_t packed = 0;
  for (auto s : all_log_subsystems)
    packed |= uint64_t{static_cast<uint8_t>(config.levels.of(s))} << (4 * static_cast<size_t>(s));
  configured_levels = packed;
  configured_json = config.json;
}

std::string format_log_line(log_subsystem subsystem, log_level level, const std::string& node,
                            const std::string& text, int64_t time_us, bool json) {
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
           to_string(level) + "\",\"subsystem\":\"" + to_string(subsystem) +
           "\",\"message\":" + json_quote(text) + "}\n";
  return time + " " + node + " " + to_string(level) + " " + text + "\n";
}

void log_event(log_subsystem subsystem, log_level level, const std::string& node,
               const std::string& text) {
  if (static_cast<int>(level) >
      level_of(configured_levels.load(std::memory_order_relaxed), subsystem))
    return;
  auto line = format_log_line(subsystem, level, node, text, system_wall_clock_us(),
                              configured_json.load(std::memory_order_relaxed));
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fflush(stderr);
}

} // namespace actorkv
