#include "cluster-config/manifest.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <sstream>
#include <string_view>
#include <tuple>
#include <utility>

// Debian's toml++ is the compiled variant (TOML_HEADER_ONLY=0, built with exceptions): parse
// errors arrive as toml::parse_error, caught below; nothing else in toml++ throws here.
#include <toml++/toml.h>

#include "cluster-config/memory_budget.hpp"
#include "messages/error.hpp"

namespace actorkv {

namespace {

constexpr int64_t u32_max = std::numeric_limits<uint32_t>::max();

/// The line a node or key starts on; 1 when toml++ recorded none (whole-file problems).
uint32_t line_of(const toml::source_region& where) {
  return where.begin.line > 0 ? where.begin.line : 1;
}

const char* type_name(const toml::node& v) {
  switch (v.type()) {
  case toml::node_type::table:
    return "a table";
  case toml::node_type::array:
    return "an array";
  case toml::node_type::string:
    return "a string";
  case toml::node_type::integer:
    return "an integer";
  case toml::node_type::floating_point:
    return "a floating-point number";
  case toml::node_type::boolean:
    return "a boolean";
  case toml::node_type::date:
    return "a date";
  case toml::node_type::time:
    return "a time";
  case toml::node_type::date_time:
    return "a date-time";
  default:
    return "nothing";
  }
}

/// Text from the file as it may appear in a message: control characters escaped, so a value
/// such as "a\nb" cannot break the one-line error.
std::string printable(std::string_view s) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : s) {
    if (c == '\n')
      out += "\\n";
    else if (c == '\t')
      out += "\\t";
    else if (c < 0x20 || c == 0x7f)
      out += std::string{"\\x"} + digits[c >> 4] + digits[c & 0xf];
    else
      out += static_cast<char>(c);
  }
  return out;
}

std::string in_quotes(std::string_view s) {
  return "\"" + printable(s) + "\"";
}

/// Collects validation problems and keeps the one nearest the top of the file, so the single
/// line a user sees is always the first thing to fix, whatever order the checks run in.
class checker {
public:
  void fail(uint32_t line, std::string problem) {
    if (!first_ || line < first_->first)
      first_.emplace(line, std::move(problem));
  }

  bool failed() const { return first_.has_value(); }

  caf::error error(const std::string& path) const {
    return caf::make_error(ec::manifest_invalid,
                           path + ":" + std::to_string(first_->first) + ": " + first_->second);
  }

private:
  std::optional<std::pair<uint32_t, std::string>> first_;
};

/// One key of a table as the validators see it: its name, its value and the line of the key.
struct entry {
  std::string_view key;
  const toml::node& value;
  uint32_t line;
};

using key_handler = std::function<void(const entry&)>;

/// Runs the handler registered for every key of `table`; keys without one are unknown.
void for_each_key(checker& ck, const toml::table& table, const std::string& prefix,
                  const std::map<std::string_view, key_handler>& handlers) {
  for (auto&& [k, v] : table) {
    auto line = line_of(k.source().begin.line > 0 ? k.source() : v.source());
    auto i = handlers.find(k.str());
    if (i == handlers.end())
      ck.fail(line, std::string{v.is_table() || v.is_array_of_tables() ? "unknown table '"
                                                                       : "unknown key '"} +
                        printable(prefix + std::string{k.str()}) + "'");
    else
      i->second(entry{k.str(), v, line});
  }
}

std::optional<std::string> read_string(checker& ck, const entry& e) {
  if (auto* s = e.value.as_string())
    return s->get();
  ck.fail(e.line, std::string{e.key} + " must be a string, not " + type_name(e.value));
  return std::nullopt;
}

/// A non-empty string: names, hosts and directories are never meaningfully empty.
std::optional<std::string> read_text(checker& ck, const entry& e) {
  auto s = read_string(ck, e);
  if (s && s->empty()) {
    ck.fail(e.line, std::string{e.key} + " must not be empty");
    return std::nullopt;
  }
  return s;
}

std::optional<int64_t> read_integer(checker& ck, const entry& e) {
  if (auto* i = e.value.as_integer())
    return i->get();
  ck.fail(e.line, std::string{e.key} + " must be an integer, not " + type_name(e.value));
  return std::nullopt;
}

/// An integer in lo..hi, reported as "key = value must be at least lo" or "... is outside".
std::optional<int64_t> read_int(checker& ck, const entry& e, int64_t lo, int64_t hi) {
  auto i = read_integer(ck, e);
  if (!i)
    return std::nullopt;
  auto x = *i;
  if (x >= lo && x <= hi)
    return x;
  auto stated = std::string{e.key} + " = " + std::to_string(x);
  if (x < lo && hi == u32_max)
    ck.fail(e.line, stated + " must be at least " + std::to_string(lo));
  else
    ck.fail(e.line, stated + " is outside " + std::to_string(lo) + ".." + std::to_string(hi));
  return std::nullopt;
}

/// A count or duration: 1..2^32-1 (0 would disable what it bounds).
void read_u32(checker& ck, const entry& e, uint32_t& out) {
  if (auto x = read_int(ck, e, 1, u32_max))
    out = static_cast<uint32_t>(*x);
}

/// One of a fixed set of words; `words` is in the order the message lists them.
std::optional<std::string> read_word(checker& ck, const entry& e,
                                     const std::vector<std::string_view>& words) {
  auto s = read_string(ck, e);
  if (!s)
    return std::nullopt;
  for (auto w : words)
    if (*s == w)
      return s;
  std::string choices;
  for (size_t i = 0; i < words.size(); ++i) {
    if (i > 0)
      choices += i + 1 == words.size() ? " or " : ", ";
    choices += in_quotes(words[i]);
  }
  ck.fail(e.line, std::string{e.key} + " = " + in_quotes(*s) + " must be " + choices);
  return std::nullopt;
}

const toml::table* as_table(checker& ck, const entry& e) {
  if (auto* t = e.value.as_table())
    return t;
  ck.fail(e.line, std::string{e.key} + " must be a table ([" + std::string{e.key} + "]), not " +
                      type_name(e.value));
  return nullptr;
}

/// What the whole-file checks need from [store]: where its keys are, and whether N is sound.
struct store_info {
  bool present = false;
  uint32_t table = 1;      ///< line of [store]
  uint32_t replicas = 0;   ///< line of replicas; 0 while the default is in use
  bool replicas_ok = true; ///< false once replicas itself was reported
};

/// R or W: 1..N. Checked once N is known to be sound, so one mistake gives one message.
void check_quorum(checker& ck, std::string_view key, std::optional<int64_t> value, uint32_t line,
                  const store_info& info, uint32_t replicas, uint32_t& out) {
  if (!value)
    return;
  auto stated = std::string{key} + " = " + std::to_string(*value);
  if (info.replicas_ok) {
    if (*value >= 1 && *value <= replicas)
      out = static_cast<uint32_t>(*value);
    else
      ck.fail(line, stated + " is outside 1..replicas (" + std::to_string(replicas) + ")");
  } else if (*value < 1) {
    ck.fail(line, stated + " must be at least 1");
  }
}

void read_store(checker& ck, const entry& e, store_settings& out, store_info& info) {
  info.present = true;
  info.table = e.line;
  auto* t = as_table(ck, e);
  if (!t) {
    info.replicas_ok = false; // nothing to compare with the node count
    return;
  }
  bool named = false;
  std::optional<int64_t> read_quorum;
  std::optional<int64_t> write_quorum;
  uint32_t read_line = info.table;
  uint32_t write_line = info.table;
  for_each_key(ck, *t, "store.",
               {
                   {"name",
                    [&](const entry& x) {
                      named = true;
                      if (auto s = read_text(ck, x))
                        out.name = *s;
                    }},
                   {"partitions",
                    [&](const entry& x) {
                      auto q = read_int(ck, x, 1, 65536);
                      if (!q)
                        return;
                      if ((*q & (*q - 1)) != 0)
                        ck.fail(x.line,
                                "partitions = " + std::to_string(*q) + " is not a power of two");
                      else
                        out.partitions = static_cast<uint32_t>(*q);
                    }},
                   {"replicas",
                    [&](const entry& x) {
                      info.replicas = x.line;
                      auto n = read_int(ck, x, 1, u32_max);
                      info.replicas_ok = n.has_value();
                      if (n)
                        out.replicas = static_cast<uint32_t>(*n);
                    }},
                   {"read_quorum",
                    [&](const entry& x) {
                      read_line = x.line;
                      read_quorum = read_integer(ck, x);
                    }},
                   {"write_quorum",
                    [&](const entry& x) {
                      write_line = x.line;
                      write_quorum = read_integer(ck, x);
                    }},
                   {"quorum",
                    [&](const entry& x) {
                      if (auto w = read_word(ck, x, {"sloppy", "strict"}))
                        out.quorum = *w == "strict" ? quorum_mode::strict : quorum_mode::sloppy;
                    }},
                   {"conflicts",
                    [&](const entry& x) {
                      if (auto w = read_word(ck, x, {"siblings", "lww"}))
                        out.conflicts = *w == "lww" ? conflict_mode::lww : conflict_mode::siblings;
                    }},
               });
  if (!named)
    ck.fail(info.table, "[store] is missing 'name'");
  check_quorum(ck, "read_quorum", read_quorum, read_line, info, out.replicas, out.read_quorum);
  check_quorum(ck, "write_quorum", write_quorum, write_line, info, out.replicas, out.write_quorum);
  // The default R and W (2) must fit an explicit N too: with replicas = 1 they have to be set.
  for (auto [key, given, value] :
       {std::tuple{"read_quorum", read_quorum.has_value(), out.read_quorum},
        std::tuple{"write_quorum", write_quorum.has_value(), out.write_quorum}})
    if (info.replicas_ok && !given && value > out.replicas)
      ck.fail(info.replicas, "replicas = " + std::to_string(out.replicas) + " is less than the " +
                                 "default " + key + " (" + std::to_string(value) + "); set " + key +
                                 " too");
}

void read_storage(checker& ck, const entry& e, storage_settings& out) {
  if (auto* t = as_table(ck, e))
    for_each_key(ck, *t, "storage.",
                 {
                     {"sync",
                      [&](const entry& x) {
                        if (auto w = read_word(ck, x, {"full", "normal", "off"}))
                          out.sync = *w;
                      }},
                     {"cache_mib",
                      [&](const entry& x) {
                        // Up to 1 TiB: SQLite allocates the cache as pages are read, not upfront.
                        if (auto mib = read_int(ck, x, 1, 1 << 20))
                          out.cache_mib = static_cast<uint32_t>(*mib);
                      }},
                     {"tombstone_grace_s",
                      [&](const entry& x) {
                        // Up to 10 years; a test's few seconds are allowed, not advised.
                        if (auto s = read_int(ck, x, 1, 315360000))
                          out.tombstone_grace_s = static_cast<uint32_t>(*s);
                      }},
                 });
}

/// Lines of the [limits] keys that others are derived from or checked against (0: not set, the
/// default applies), for check_limits and check_frame_budget once every table was read.
struct limits_lines {
  uint32_t sibling_warning = 0;
  uint32_t max_record = 0;
  uint32_t max_frame = 0;
  uint32_t frame_budget = 0;
  uint32_t memory_budget = 0;
};

/// A limit: 1..bound.
void read_limit(checker& ck, const entry& e, uint32_t bound, uint32_t& out) {
  if (auto x = read_int(ck, e, 1, bound))
    out = static_cast<uint32_t>(*x);
}

void read_limits(checker& ck, const entry& e, limits_settings& out, limits_lines& at) {
  auto limit = [&](uint32_t bound, uint32_t& value, uint32_t* line = nullptr) {
    return [&ck, bound, &value, line](const entry& x) {
      if (line)
        *line = x.line;
      read_limit(ck, x, bound, value);
    };
  };
  if (auto* t = as_table(ck, e))
    for_each_key(
        ck, *t, "limits.",
        {
            {"max_key_bytes", limit(max_key_bytes_bound, out.max_key_bytes)},
            {"max_value_bytes", limit(max_value_bytes_bound, out.max_value_bytes)},
            {"max_siblings", limit(max_siblings_bound, out.max_siblings)},
            {"sibling_warning",
             limit(max_siblings_bound, out.sibling_warning, &at.sibling_warning)},
            {"max_record_bytes",
             limit(max_record_bytes_bound, out.max_record_bytes, &at.max_record)},
            {"max_frame_bytes", limit(max_frame_bytes_bound, out.max_frame_bytes, &at.max_frame)},
            // The frame guard's connections.
            {"max_connections",
             [&](const entry& x) {
               // Fewer would leave no connection for a client beside the share kept for nodes.
               if (auto n = read_int(ck, x, 8, u32_max))
                 out.max_connections = static_cast<uint32_t>(*n);
             }},
            {"idle_connection_ms",
             [&](const entry& x) { read_u32(ck, x, out.idle_connection_ms); }},
            {"peer_idle_ms",
             [&](const entry& x) {
               // Shorter would close connections between the probes that keep them in use.
               if (auto n = read_integer(ck, x); n && *n != 0 && (*n < 1000 || *n > u32_max))
                 ck.fail(x.line, "peer_idle_ms = " + std::to_string(*n) +
                                     " must be 0 (never) or between 1000 and " +
                                     std::to_string(u32_max));
               else if (n)
                 out.peer_idle_ms = static_cast<uint32_t>(*n);
             }},
            {"frame_ms", [&](const entry& x) { read_u32(ck, x, out.frame_ms); }},
            {"frame_budget_bytes",
             [&](const entry& x) {
               at.frame_budget = x.line;
               if (auto n = read_integer(ck, x); n && *n < 1)
                 ck.fail(x.line,
                         "frame_budget_bytes = " + std::to_string(*n) + " must be at least 1");
               else if (n)
                 out.frame_budget_bytes = static_cast<uint64_t>(*n);
             }},
            // Checked against the other limits and N once every table was read.
            {"memory_budget_bytes",
             [&](const entry& x) {
               at.memory_budget = x.line;
               if (auto n = read_int(ck, x, 1, static_cast<int64_t>(memory_budget_bytes_bound)))
                 out.memory_budget_bytes = static_cast<uint64_t>(*n);
             }},
        });
}

/// Derives memory_budget_bytes when it was not set; refuses one in which a client write of the
/// largest size could never be admitted beside nothing else. After check_limits.
void check_memory_budget(checker& ck, limits_settings& limits, uint32_t replicas,
                         uint32_t budget_line) {
  if (budget_line == 0) {
    limits.memory_budget_bytes = default_memory_budget_bytes(limits, replicas);
    return;
  }
  auto least = min_memory_budget_bytes(limits, replicas);
  if (limits.memory_budget_bytes < least)
    ck.fail(budget_line, "memory_budget_bytes = " + std::to_string(limits.memory_budget_bytes) +
                             " is less than the " + std::to_string(least) +
                             " bytes one client write of max_key_bytes + max_value_bytes to " +
                             std::to_string(replicas) +
                             " replicas needs ((2 + 2 x replicas) copies, within 3/4 of the "
                             "budget)");
}

/// Derives frame_budget_bytes when it was not set; refuses one below max_frame_bytes (a frame of
/// the largest size could then never pass). After check_limits, which settles max_frame_bytes.
void check_frame_budget(checker& ck, limits_settings& limits, uint32_t budget_line) {
  if (budget_line == 0) {
    limits.frame_budget_bytes = uint64_t{4} * limits.max_frame_bytes;
    return;
  }
  if (limits.frame_budget_bytes < limits.max_frame_bytes)
    ck.fail(budget_line, "frame_budget_bytes = " + std::to_string(limits.frame_budget_bytes) +
                             " is less than max_frame_bytes (" +
                             std::to_string(limits.max_frame_bytes) + ")");
}

/// Derives the limits that were not set from those that were, once [store] partitions are known,
/// and refuses combinations a node cannot work with: a warning above the hard limit, a record
/// limit below one max-size value, a frame too small for a max-size put or record.
void check_limits(checker& ck, limits_settings& limits, uint32_t partitions,
                  const limits_lines& at) {
  auto& l = limits;
  if (at.sibling_warning == 0)
    l.sibling_warning = std::min(limits_settings{}.sibling_warning, l.max_siblings);
  else if (l.sibling_warning > l.max_siblings)
    ck.fail(at.sibling_warning, "sibling_warning = " + std::to_string(l.sibling_warning) +
                                    " is above max_siblings = " + std::to_string(l.max_siblings) +
                                    " (writes beyond it are refused, not warned of)");
  auto put_frame = min_frame_bytes(l.max_key_bytes, l.max_value_bytes, partitions);
  if (at.max_record == 0) {
    l.max_record_bytes = default_max_record_bytes(l.max_value_bytes);
    // A frame set smaller than the default record needs lowers the record limit to fit it.
    if (at.max_frame != 0 && l.max_frame_bytes >= put_frame)
      l.max_record_bytes = static_cast<uint32_t>(std::min<uint64_t>(
          l.max_record_bytes, l.max_frame_bytes - (put_frame - l.max_value_bytes)));
  } else if (l.max_record_bytes < l.max_value_bytes) {
    ck.fail(at.max_record,
            "max_record_bytes = " + std::to_string(l.max_record_bytes) +
                " is less than max_value_bytes = " + std::to_string(l.max_value_bytes) +
                " (a max-size value alone could not be stored)");
  }
  if (at.max_frame == 0) {
    l.max_frame_bytes = default_max_frame_bytes(l.max_key_bytes, l.max_record_bytes, partitions);
    return;
  }
  auto frame = std::to_string(l.max_frame_bytes);
  auto record_frame = min_frame_bytes(l.max_key_bytes, l.max_record_bytes, partitions);
  if (l.max_frame_bytes < put_frame)
    ck.fail(at.max_frame, "max_frame_bytes = " + frame + " is less than the " +
                              std::to_string(put_frame) +
                              " bytes a put needs (max_key_bytes + max_value_bytes + 1 MiB + 256 "
                              "per partition)");
  else if (l.max_frame_bytes < record_frame)
    ck.fail(at.max_frame, "max_frame_bytes = " + frame + " is less than the " +
                              std::to_string(record_frame) +
                              " bytes a record of max_record_bytes needs (max_key_bytes + "
                              "max_record_bytes + 1 MiB + 256 per partition)");
}

void read_timeouts(checker& ck, const entry& e, timeout_settings& out) {
  if (auto* t = as_table(ck, e))
    for_each_key(ck, *t, "timeouts.",
                 {
                     {"request_ms", [&](const entry& x) { read_u32(ck, x, out.request_ms); }},
                     {"client_ms", [&](const entry& x) { read_u32(ck, x, out.client_ms); }},
                     {"max_clock_skew_ms",
                      [&](const entry& x) {
                        if (auto ms = read_int(ck, x, 1, max_clock_skew_ms_limit))
                          out.max_clock_skew_ms = static_cast<uint32_t>(*ms);
                      }},
                     {"connection_ms",
                      [&](const entry& x) {
                        if (auto ms = read_int(ck, x, min_connection_ms, 3600 * 1000))
                          out.connection_ms = static_cast<uint32_t>(*ms);
                      }},
                 });
}

void read_bool(checker& ck, const entry& x, bool& out) {
  if (auto* b = x.value.as_boolean())
    out = b->get();
  else
    ck.fail(x.line, std::string{x.key} + " must be true or false, not " +
                        std::string{type_name(x.value)});
}

void read_faults(checker& ck, const entry& e, fault_settings& out) {
  if (auto* t = as_table(ck, e))
    for_each_key(ck, *t, "faults.",
                 {
                     {"injection", [&](const entry& x) { read_bool(ck, x, out.injection); }},
                 });
}

/// The words a level may be written as (cluster-config/log_levels.hpp).
const std::vector<std::string_view> log_level_words{"error", "warning", "warn", "info", "debug"};

/// [log] levels = { SUBSYSTEM = "LEVEL", ... }.
void read_log_levels(checker& ck, const entry& e,
                     std::vector<std::pair<log_subsystem, log_level>>& out) {
  auto* t = e.value.as_table();
  if (!t) {
    ck.fail(e.line, "log.levels must be a table of subsystem = \"level\" (levels = { handoff = "
                    "\"debug\" }), not " +
                        std::string{type_name(e.value)});
    return;
  }
  for (auto&& [k, v] : *t) {
    auto line = line_of(k.source().begin.line > 0 ? k.source() : v.source());
    auto subsystem = parse_log_subsystem(k.str());
    if (!subsystem) {
      ck.fail(line, "unknown subsystem 'log.levels." + printable(k.str()) + "': subsystems are " +
                        log_subsystem_names());
      continue;
    }
    auto full = "log.levels." + std::string{k.str()};
    if (auto w = read_word(ck, entry{full, v, line}, log_level_words))
      out.emplace_back(*subsystem, *parse_log_level(*w));
  }
}

void read_log(checker& ck, const entry& e, log_settings& out) {
  if (auto* t = as_table(ck, e))
    for_each_key(ck, *t, "log.",
                 {
                     {"level",
                      [&](const entry& x) {
                        if (auto w = read_word(ck, x, log_level_words))
                          out.level = *w;
                      }},
                     {"levels", [&](const entry& x) { read_log_levels(ck, x, out.levels); }},
                     {"format",
                      [&](const entry& x) {
                        if (auto w = read_word(ck, x, {"text", "json"}))
                          out.format = *w;
                      }},
                 });
}

void read_gossip(checker& ck, const entry& e, gossip_settings& out) {
  if (auto* t = as_table(ck, e))
    for_each_key(ck, *t, "gossip.",
                 {
                     {"interval_ms", [&](const entry& x) { read_u32(ck, x, out.interval_ms); }},
                     {"removed_grace_s",
                      [&](const entry& x) { read_u32(ck, x, out.removed_grace_s); }},
                     {"tombstone_grace_s",
                      [&](const entry& x) { read_u32(ck, x, out.tombstone_grace_s); }},
                 });
}

void read_failure_detector(checker& ck, const entry& e, failure_detector_settings& out) {
  if (auto* t = as_table(ck, e))
    for_each_key(
        ck, *t, "failure_detector.",
        {
            {"mode",
             [&](const entry& x) {
               if (auto w = read_word(ck, x, {"all", "swim"}))
                 out.mode = *w == "swim" ? detector_mode::swim : detector_mode::all;
             }},
            {"interval_ms", [&](const entry& x) { read_u32(ck, x, out.interval_ms); }},
            {"phi_threshold", [&](const entry& x) { read_u32(ck, x, out.phi_threshold); }},
            {"indirect_probes", [&](const entry& x) { read_u32(ck, x, out.indirect_probes); }},
            {"suspicion_ms", [&](const entry& x) { read_u32(ck, x, out.suspicion_ms); }},
        });
}

void read_handoff(checker& ck, const entry& e, handoff_settings& out) {
  if (auto* t = as_table(ck, e))
    for_each_key(ck, *t, "handoff.",
                 {
                     {"enabled", [&](const entry& x) { read_bool(ck, x, out.enabled); }},
                     {"max_hints", [&](const entry& x) { read_u32(ck, x, out.max_hints); }},
                     {"batch", [&](const entry& x) { read_u32(ck, x, out.batch); }},
                     {"interval_ms", [&](const entry& x) { read_u32(ck, x, out.interval_ms); }},
                 });
}

void read_anti_entropy(checker& ck, const entry& e, anti_entropy_settings& out) {
  if (auto* t = as_table(ck, e))
    for_each_key(ck, *t, "anti_entropy.",
                 {
                     {"enabled", [&](const entry& x) { read_bool(ck, x, out.enabled); }},
                     {"interval_ms", [&](const entry& x) { read_u32(ck, x, out.interval_ms); }},
                     {"pace_ms", [&](const entry& x) { read_u32(ck, x, out.pace_ms); }},
                     {"repairs", [&](const entry& x) { read_u32(ck, x, out.repairs); }},
                 });
}

void read_background(checker& ck, const entry& e, background_settings& out) {
  if (auto* t = as_table(ck, e))
    for_each_key(ck, *t, "background.",
                 {
                     {"target_p99_ms",
                      [&](const entry& x) {
                        if (auto ms = read_int(ck, x, 1, background_target_limit_ms))
                          out.target_p99_ms = static_cast<uint32_t>(*ms);
                      }},
                     {"max_slowdown_percent",
                      [&](const entry& x) {
                        if (auto p = read_int(ck, x, background_min_slowdown_percent,
                                              background_max_slowdown_percent))
                          out.max_slowdown_percent = static_cast<uint32_t>(*p);
                      }},
                 });
}

void read_tls(checker& ck, const entry& e, tls_settings& out) {
  out.configured = true;
  auto* t = as_table(ck, e);
  if (!t)
    return;
  bool switch_ok = true; // a malformed `enabled` is the problem to report, not missing files
  for_each_key(ck, *t, "tls.",
               {
                   {"enabled",
                    [&](const entry& x) {
                      switch_ok = x.value.is_boolean();
                      read_bool(ck, x, out.enabled);
                    }},
                   {"ca",
                    [&](const entry& x) {
                      if (auto s = read_text(ck, x))
                        out.ca = *s;
                    }},
                   {"cert",
                    [&](const entry& x) {
                      if (auto s = read_text(ck, x))
                        out.cert = *s;
                    }},
                   {"key",
                    [&](const entry& x) {
                      if (auto s = read_text(ck, x))
                        out.key = *s;
                    }},
               });
  if (!out.enabled || !switch_ok)
    return;
  for (auto [name, value] : {std::pair{"ca", &out.ca}, std::pair{"cert", &out.cert},
                             std::pair{"key", &out.key}})
    if (value->empty())
      ck.fail(e.line, std::string{"[tls] is missing '"} + name +
                          "' (tools/certs makes a CA and certificates; enabled = false turns TLS "
                          "off)");
}

void read_http(checker& ck, const entry& e, http_settings& out) {
  if (auto* t = as_table(ck, e))
    for_each_key(
        ck, *t, "http.",
        {
            {"max_connections", [&](const entry& x) { read_u32(ck, x, out.max_connections); }},
            {"max_header_bytes",
             [&](const entry& x) {
               if (auto b = read_int(ck, x, 1024, 1 << 20))
                 out.max_header_bytes = static_cast<uint32_t>(*b);
             }},
            {"request_ms", [&](const entry& x) { read_u32(ck, x, out.request_ms); }},
            {"idle_ms", [&](const entry& x) { read_u32(ck, x, out.idle_ms); }},
            {"threads",
             [&](const entry& x) {
               if (auto n = read_int(ck, x, 1, 64))
                 out.threads = static_cast<uint32_t>(*n);
             }},
        });
}

void read_token(checker& ck, const toml::node& v, std::vector<access_token>& out) {
  auto line = line_of(v.source());
  auto* t = v.as_table();
  if (!t) {
    ck.fail(line, std::string{"each token must be a table ([[token]]), not "} + type_name(v));
    return;
  }
  access_token token;
  bool has_role = false;
  bool has_hash = false;
  for_each_key(ck, *t, "token.",
               {
                   {"name",
                    [&](const entry& x) {
                      if (auto s = read_text(ck, x))
                        token.name = *s;
                    }},
                   {"role",
                    [&](const entry& x) {
                      has_role = true;
                      if (auto w = read_word(ck, x, {"read", "write", "admin"}))
                        token.granted = *parse_role(*w);
                    }},
                   {"sha256",
                    [&](const entry& x) {
                      has_hash = true;
                      auto s = read_string(ck, x);
                      if (!s)
                        return;
                      bool hex = s->size() == 64 && std::all_of(s->begin(), s->end(), [](char c) {
                                   return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
                                 });
                      if (hex)
                        token.sha256_hex = *s;
                      else
                        ck.fail(x.line, "sha256 must be 64 lowercase hex digits (tools/certs "
                                        "--token ROLE makes a token and its line)");
                    }},
               });
  if (token.name.empty())
    ck.fail(line, "[[token]] is missing 'name'");
  if (!has_role)
    ck.fail(line, "[[token]] is missing 'role'");
  if (!has_hash)
    ck.fail(line, "[[token]] is missing 'sha256'");
  out.push_back(std::move(token));
}

/// Lines of one [[node]] entry's keys, for the duplicate checks.
struct node_lines {
  uint32_t table = 0;
  uint32_t name = 0;
  uint32_t port = 0;
  uint32_t https_port = 0;
  uint32_t data_dir = 0;
};

void read_node(checker& ck, const toml::node& v, std::vector<node_entry>& out,
               std::vector<node_lines>& lines) {
  auto line = line_of(v.source());
  auto* t = v.as_table();
  if (!t) {
    ck.fail(line, std::string{"each node must be a table ([[node]]), not "} + type_name(v));
    return;
  }
  node_entry n;
  node_lines at;
  at.table = line;
  bool has_name = false;
  bool has_host = false;
  bool has_port = false;
  bool has_dir = false;
  for_each_key(ck, *t, "node.",
               {
                   {"name",
                    [&](const entry& x) {
                      has_name = true;
                      at.name = x.line;
                      if (auto s = read_text(ck, x))
                        n.name = *s;
                    }},
                   {"host",
                    [&](const entry& x) {
                      has_host = true;
                      if (auto s = read_text(ck, x))
                        n.host = *s;
                    }},
                   {"port",
                    [&](const entry& x) {
                      has_port = true;
                      at.port = x.line;
                      if (auto p = read_int(ck, x, 1, 65535))
                        n.port = static_cast<uint16_t>(*p);
                    }},
                   {"https_port",
                    [&](const entry& x) {
                      at.https_port = x.line;
                      if (auto p = read_int(ck, x, 1, 65535))
                        n.https_port = static_cast<uint16_t>(*p);
                    }},
                   {"capacity", [&](const entry& x) { read_u32(ck, x, n.capacity); }},
                   {"zone",
                    [&](const entry& x) {
                      if (auto s = read_string(ck, x)) {
                        if (valid_zone(*s))
                          n.zone = *s;
                        else
                          ck.fail(x.line, "zone = '" + printable(*s) +
                                              "' must be 1 to 64 letters, digits, '.', '_' or '-'");
                      }
                    }},
                   {"data_dir",
                    [&](const entry& x) {
                      has_dir = true;
                      at.data_dir = x.line;
                      if (auto s = read_text(ck, x))
                        n.data_dir = *s;
                    }},
               });
  auto which = has_name && !n.name.empty() ? "[[node]] '" + printable(n.name) + "'"
                                           : std::string{"[[node]]"};
  if (!has_name)
    ck.fail(line, which + " is missing 'name'");
  if (!has_host)
    ck.fail(line, which + " is missing 'host'");
  if (!has_port)
    ck.fail(line, which + " is missing 'port'");
  if (!has_dir)
    ck.fail(line, which + " is missing 'data_dir'");
  out.push_back(std::move(n));
  lines.push_back(at);
}

/// Names, addresses and data directories must each be unique: two nodes sharing one would
/// silently overwrite each other's data or answer for each other.
void check_unique(checker& ck, const std::vector<node_entry>& nodes,
                  const std::vector<node_lines>& lines) {
  std::map<std::string, uint32_t> names;
  std::map<std::string, uint32_t> addresses;
  std::map<std::string, uint32_t> dirs;
  for (size_t i = 0; i < nodes.size(); ++i) {
    auto& n = nodes[i];
    auto& at = lines[i];
    if (!n.name.empty()) {
      auto [it, fresh] = names.emplace(n.name, at.name);
      if (!fresh)
        ck.fail(at.name, "duplicate node name '" + printable(n.name) + "' (first at line " +
                             std::to_string(it->second) + ")");
    }
    for (auto [port, port_line] : {std::pair{n.port, at.port}, std::pair{n.https_port, at.https_port}}) {
      if (n.host.empty() || port == 0)
        continue;
      auto address = n.host + ":" + std::to_string(port);
      auto [it, fresh] = addresses.emplace(address, port_line);
      if (!fresh)
        ck.fail(port_line, "duplicate address " + printable(address) + " (first at line " +
                               std::to_string(it->second) + ")");
    }
    if (!n.data_dir.empty()) {
      auto [it, fresh] = dirs.emplace(n.data_dir, at.data_dir);
      if (!fresh)
        ck.fail(at.data_dir, "duplicate data_dir '" + printable(n.data_dir) + "' (first at line " +
                                 std::to_string(it->second) + ")");
    }
  }
}

} // namespace

std::vector<std::pair<std::string, std::string>> describe(const store_settings& s) {
  return {
      {"name", s.name},
      {"partitions", std::to_string(s.partitions)},
      {"replicas", std::to_string(s.replicas)},
      {"read_quorum", std::to_string(s.read_quorum)},
      {"write_quorum", std::to_string(s.write_quorum)},
      {"quorum", s.quorum == quorum_mode::strict ? "strict" : "sloppy"},
      {"conflicts", s.conflicts == conflict_mode::lww ? "lww" : "siblings"},
  };
}

const char* detector_mode_name(detector_mode mode) {
  return mode == detector_mode::swim ? "swim" : "all";
}

std::string node_file(const std::string& pattern, const std::string& node) {
  static const std::string placeholder = "{node}";
  std::string out = pattern;
  for (auto at = out.find(placeholder); at != std::string::npos;
       at = out.find(placeholder, at + node.size()))
    out.replace(at, placeholder.size(), node);
  return out;
}

bool valid_zone(const std::string& zone) {
  if (zone.empty() || zone.size() > 64)
    return false;
  for (unsigned char c : zone)
    if (!std::isalnum(c) && c != '.' && c != '_' && c != '-')
      return false;
  return true;
}

const node_entry* manifest::find_node(const std::string& name) const {
  for (auto& n : nodes)
    if (n.name == name)
      return &n;
  return nullptr;
}

caf::expected<manifest> load_manifest(const std::string& path) {
  // A directory opens as a stream that reads nothing; say so rather than "missing [store]".
  std::error_code ignored;
  if (std::filesystem::is_directory(path, ignored))
    return caf::make_error(ec::manifest_invalid,
                           path + ": cannot read the manifest: it is a directory");
  std::ifstream in{path, std::ios::binary};
  if (!in)
    return caf::make_error(ec::manifest_invalid,
                           path + ": cannot read the manifest: " + std::strerror(errno));
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad())
    return caf::make_error(ec::manifest_invalid,
                           path + ": cannot read the manifest: " + std::strerror(errno));
  return parse_manifest(text.str(), path);
}

uint64_t min_memory_budget_bytes(const limits_settings& limits, uint32_t replicas) {
  return budget_for_writes(uint64_t{limits.max_key_bytes} + limits.max_value_bytes, replicas, 1);
}

uint64_t default_memory_budget_bytes(const limits_settings& limits, uint32_t replicas) {
  auto two =
      budget_for_writes(uint64_t{limits.max_key_bytes} + limits.max_value_bytes, replicas, 2);
  return std::min(memory_budget_bytes_bound, std::max(uint64_t{256} << 20, two));
}

caf::expected<manifest> parse_manifest(const std::string& text, const std::string& path) {
  toml::table doc;
  try {
    doc = toml::parse(text, path);
  } catch (const toml::parse_error& e) {
    return caf::make_error(ec::manifest_invalid, path + ":" + std::to_string(line_of(e.source())) +
                                                     ": " + std::string{e.description()});
  }
  checker ck;
  manifest m;
  m.path = path;
  store_info store_at;
  size_t node_entries = 0;
  std::vector<node_lines> node_at;
  limits_lines limits_at;
  for_each_key(ck, doc, "",
               {
                   {"store", [&](const entry& e) { read_store(ck, e, m.store, store_at); }},
                   {"storage", [&](const entry& e) { read_storage(ck, e, m.storage); }},
                   {"limits", [&](const entry& e) { read_limits(ck, e, m.limits, limits_at); }},
                   {"timeouts", [&](const entry& e) { read_timeouts(ck, e, m.timeouts); }},
                   {"faults", [&](const entry& e) { read_faults(ck, e, m.faults); }},
                   {"log", [&](const entry& e) { read_log(ck, e, m.log); }},
                   {"gossip", [&](const entry& e) { read_gossip(ck, e, m.gossip); }},
                   {"failure_detector",
                    [&](const entry& e) { read_failure_detector(ck, e, m.failure_detector); }},
                   {"handoff", [&](const entry& e) { read_handoff(ck, e, m.handoff); }},
                   {"anti_entropy",
                    [&](const entry& e) { read_anti_entropy(ck, e, m.anti_entropy); }},
                   {"background", [&](const entry& e) { read_background(ck, e, m.background); }},
                   {"tls", [&](const entry& e) { read_tls(ck, e, m.tls); }},
                   {"http", [&](const entry& e) { read_http(ck, e, m.http); }},
                   {"token",
                    [&](const entry& e) {
                      auto* list = e.value.as_array();
                      if (!list) {
                        ck.fail(e.line, std::string{"token must be an array of tables "
                                                    "([[token]]), not "} +
                                            type_name(e.value));
                        return;
                      }
                      for (auto& v : *list)
                        read_token(ck, v, m.tokens);
                    }},
                   {"node",
                    [&](const entry& e) {
                      auto* list = e.value.as_array();
                      if (!list) {
                        node_entries = 1;
                        ck.fail(e.line, std::string{"node must be an array of tables ([[node]]), "
                                                    "not "} +
                                            type_name(e.value));
                        return;
                      }
                      node_entries = list->size();
                      for (auto& v : *list)
                        read_node(ck, v, m.nodes, node_at);
                    }},
               });
  if (!store_at.present)
    ck.fail(1, "missing [store] table (store.name is required)");
  if (node_entries == 0)
    ck.fail(1, "no [[node]] entries");
  check_unique(ck, m.nodes, node_at);
  check_limits(ck, m.limits, m.store.partitions, limits_at);
  check_frame_budget(ck, m.limits, limits_at.frame_budget);
  check_memory_budget(ck, m.limits, m.store.replicas, limits_at.memory_budget);
  if (store_at.present && store_at.replicas_ok && !m.nodes.empty() &&
      m.store.replicas > m.nodes.size())
    ck.fail(store_at.replicas > 0 ? store_at.replicas : store_at.table,
            "replicas = " + std::to_string(m.store.replicas) + " but only " +
                std::to_string(m.nodes.size()) + (m.nodes.size() == 1 ? " node is" : " nodes are") +
                " listed");
  if (ck.failed())
    return ck.error(path);
  // Files the manifest names belong with it, wherever a node is started from: a data_dir that
  // followed the working directory instead silently made an empty node that rejoined.
  auto base = std::filesystem::path{path}.parent_path();
  auto beside_manifest = [&](std::string& file) {
    if (!file.empty() && std::filesystem::path{file}.is_relative())
      file = (base / file).lexically_normal().string();
  };
  for (auto& n : m.nodes)
    beside_manifest(n.data_dir);
  beside_manifest(m.tls.ca);
  beside_manifest(m.tls.cert);
  beside_manifest(m.tls.key);
  return m;
}

uint32_t heartbeat_ms(const manifest& m) {
  auto silence = std::min(m.timeouts.connection_ms, m.limits.idle_connection_ms);
  return std::max<uint32_t>(silence / 4, 50);
}

} // namespace actorkv
