#include "cluster-config/log_levels.hpp"

namespace actorkv {

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

std::optional<log_level> parse_log_level(std::string_view word) {
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

const char* to_string(log_subsystem s) {
  switch (s) {
  case log_subsystem::node:
    return "node";
  case log_subsystem::peers:
    return "peers";
  case log_subsystem::gossip:
    return "gossip";
  case log_subsystem::handoff:
    return "handoff";
  case log_subsystem::hints:
    return "hints";
  case log_subsystem::storage:
    return "storage";
  case log_subsystem::anti_entropy:
    return "anti_entropy";
  case log_subsystem::tombstones:
    return "tombstones";
  case log_subsystem::clock:
    return "clock";
  case log_subsystem::coordinator:
    return "coordinator";
  case log_subsystem::connections:
    return "connections";
  }
  return "node";
}

std::optional<log_subsystem> parse_log_subsystem(std::string_view name) {
  for (auto s : all_log_subsystems)
    if (name == to_string(s))
      return s;
  return std::nullopt;
}

std::string log_subsystem_names() {
  std::string out;
  for (auto s : all_log_subsystems)
    out += (out.empty() ? "" : ", ") + std::string{to_string(s)};
  return out;
}

log_level log_levels::of(log_subsystem s) const {
  auto out = level;
  for (auto& [sub, l] : overrides)
    if (sub == s)
      out = l;
  return out;
}

bool parse_log_levels(std::string_view text, log_levels& into, std::string& error) {
  constexpr const char* levels = "error, warning (warn), info or debug";
  auto result = into;
  if (text.empty()) {
    error = "--log-level needs a level (" + std::string{levels} +
            ") or SUBSYSTEM=LEVEL pairs, separated by commas";
    return false;
  }
  while (true) {
    auto comma = text.find(',');
    auto item = text.substr(0, comma);
    auto eq = item.find('=');
    if (eq == std::string_view::npos) {
      auto l = parse_log_level(item);
      if (!l) {
        error = "--log-level: '" + std::string{item} + "' is not a level (" + levels + ")";
        return false;
      }
      // A plain level stands for every subsystem: it replaces the overrides before it.
      result.level = *l;
      result.overrides.clear();
    } else {
      auto name = item.substr(0, eq);
      auto word = item.substr(eq + 1);
      auto s = parse_log_subsystem(name);
      if (!s) {
        error = "--log-level: '" + std::string{name} + "' is not a subsystem (" +
                log_subsystem_names() + ")";
        return false;
      }
      auto l = parse_log_level(word);
      if (!l) {
        error = "--log-level: " + std::string{name} + "='" + std::string{word} +
                "' is not a level (" + levels + ")";
        return false;
      }
      result.overrides.emplace_back(*s, *l);
    }
    if (comma == std::string_view::npos)
      break;
    text.remove_prefix(comma + 1);
  }
  into = std::move(result);
  return true;
}

} // namespace actorkv
