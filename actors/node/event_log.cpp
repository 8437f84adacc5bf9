#include "actors/node/event_log.hpp"

#include <cstdio>
#include <ctime>

#include "actors/node/wall_clock.hpp"

namespace actorkv {

void log_event(const std::string& node, const std::string& text) {
  auto us = system_wall_clock_us();
  auto secs = static_cast<std::time_t>(us / 1000000);
  auto ms = (us / 1000) % 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
  std::string line = std::string{stamp} + "." + (ms < 100 ? (ms < 10 ? "00" : "0") : "") +
                     std::to_string(ms) + "Z " + node + " " + text + "\n";
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fflush(stderr);
}

} // namespace actorkv
