// What kvnode logs: the levels, the subsystems each log line belongs to, and the settings that
// choose a level per subsystem ([log] level and levels in the manifest, kvnode --log-level).
// Pure logic, unit-tested directly; actors/node/event_log.hpp writes the lines.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace actorkv {

/// Most severe first: a configured level writes its lines and every more severe one.
enum class log_level : uint8_t { error, warning, info, debug };

/// "error", "warning", "info", "debug".
const char* to_string(log_level level);
/// The level a word names (the to_string() words, and "warn"); nullopt otherwise.
std::optional<log_level> parse_log_level(std::string_view word);

/// Where a log line comes from; each may have a level of its own.
enum class log_subsystem : uint8_t {
  node,         ///< lifecycle: start, serving, stop, restore, schema upgrades, fault injection
  peers,        ///< peer connections and handshakes, peers up and down
  gossip,       ///< the membership view, membership changes, ring epochs
  handoff,      ///< partitions streamed to new replicas and released
  hints,        ///< hinted handoff: hints delivered or dropped
  storage,      ///< the store: failing writes, corrupt records, integrity checks, backups
  anti_entropy, ///< anti-entropy rounds and repairs
  tombstones,   ///< tombstone collection
  clock,        ///< clock skew between nodes
  coordinator,  ///< client requests: keys collecting siblings
  connections,  ///< the node port's frame guard and the HTTPS API: connections refused or cut
};

/// Every subsystem, in declaration order.
constexpr std::array<log_subsystem, 11> all_log_subsystems{
    log_subsystem::node,         log_subsystem::peers,      log_subsystem::gossip,
    log_subsystem::handoff,      log_subsystem::hints,      log_subsystem::storage,
    log_subsystem::anti_entropy, log_subsystem::tombstones, log_subsystem::clock,
    log_subsystem::coordinator,  log_subsystem::connections};

/// "node", "peers", "gossip", ... as the manifest and --log-level name them.
const char* to_string(log_subsystem s);
/// The subsystem a name names; nullopt otherwise.
std::optional<log_subsystem> parse_log_subsystem(std::string_view name);
/// "node, peers, ..., connections": for error messages and help.
std::string log_subsystem_names();

/// The level of each subsystem: a default and overrides.
struct log_levels {
  log_level level = log_level::info;
  std::vector<std::pair<log_subsystem, log_level>> overrides; ///< later ones win

  /// The level lines of `s` are written at or above.
  log_level of(log_subsystem s) const;
};

/// Reads kvnode's --log-level: a level ("debug"), subsystem overrides ("handoff=debug,gossip=warn")
/// or both ("info,handoff=debug"), applied left to right over `into` (the manifest's [log]): a
/// plain level sets every subsystem (it drops the overrides before it), a pair one subsystem. On
/// a bad word it returns false, leaves `into` as it was, and `error` names the word and what is
/// allowed.
bool parse_log_levels(std::string_view text, log_levels& into, std::string& error);

} // namespace actorkv
