#include "tools/kvbench/arguments.hpp"

#include <cerrno>
#include <cmath>
#include <cstdlib>

namespace actorkv::bench {

uint64_t parse_count(const std::string& flag, const std::string& text, uint64_t min, uint64_t max) {
  errno = 0;
  char* end = nullptr;
  auto v = std::strtoull(text.c_str(), &end, 10);
  if (text.empty() || text[0] == '-' || *end != '\0' || errno == ERANGE || v < min || v > max)
    throw usage_error{flag + " needs a whole number from " + std::to_string(min) + " to " +
                      std::to_string(max) + ", got '" + text + "'"};
  return v;
}

double parse_seconds(const std::string& flag, const std::string& text, double min) {
  char* end = nullptr;
  auto v = std::strtod(text.c_str(), &end);
  if (text.empty() || *end != '\0' || !std::isfinite(v) || v < min || v > 86400)
    throw usage_error{flag + " needs a number of seconds (at least " + std::to_string(int(min)) +
                      ", at most 86400), got '" + text + "'"};
  return v;
}

distribution_kind parse_distribution(const std::string& text) {
  if (text == "uniform")
    return distribution_kind::uniform;
  if (text == "zipfian")
    return distribution_kind::zipfian;
  throw usage_error{"--distribution needs uniform or zipfian, got '" + text + "'"};
}

} // namespace actorkv::bench
