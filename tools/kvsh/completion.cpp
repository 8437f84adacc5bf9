#include "tools/kvsh/completion.hpp"

#include <algorithm>

namespace actorkv {

namespace {

const std::vector<std::string> commands{"backup", "check",  "delete", "fault", "get",
                                        "help",   "join",   "leave",  "plan",  "put",
                                        "quit",   "remove", "ring",   "status"};

/// The options each command takes (kvsh's parse_words tables, help).
std::vector<std::string> options_of(const std::string& command) {
  if (command == "get")
    return {"--context", "--file", "--hex"};
  if (command == "put")
    return {"--context", "--file", "--hex"};
  if (command == "delete" || command == "del")
    return {"--blind", "--context"};
  if (command == "status")
    return {"--all"};
  if (command == "join" || command == "leave" || command == "remove")
    return {"--wait"};
  return {};
}

/// The words of `typed` before the one being typed, and that one.
void split(std::string_view typed, std::vector<std::string>& before, std::string& current) {
  std::string word;
  bool in_word = false;
  for (char ch : typed) {
    if (ch == ' ' || ch == '\t') {
      if (in_word)
        before.push_back(word);
      word.clear();
      in_word = false;
    } else {
      word += ch;
      in_word = true;
    }
  }
  current = word;
}

/// The words of `from` that start with `prefix`, each with `lead` in front.
std::vector<std::string> matching(const std::vector<std::string>& from, const std::string& prefix,
                                  const std::string& lead = {}) {
  std::vector<std::string> out;
  for (auto& w : from)
    if (w.compare(0, prefix.size(), prefix) == 0)
      out.push_back(lead + w);
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

/// Member names for a comma-separated list of peers: the part after the last comma completes,
/// names already listed are not offered again.
std::vector<std::string> peer_list(const std::string& current,
                                   const std::vector<std::string>& members) {
  auto comma = current.rfind(',');
  auto lead = comma == std::string::npos ? std::string{} : current.substr(0, comma + 1);
  auto part = comma == std::string::npos ? current : current.substr(comma + 1);
  std::vector<std::string> listed;
  for (size_t at = 0; at < lead.size();) {
    auto next = lead.find(',', at);
    listed.push_back(lead.substr(at, next - at));
    at = next + 1;
  }
  std::vector<std::string> rest;
  for (auto& m : members)
    if (std::find(listed.begin(), listed.end(), m) == listed.end())
      rest.push_back(m);
  return matching(rest, part, lead);
}

} // namespace

std::vector<std::string> completions(std::string_view typed,
                                     const std::vector<std::string>& members) {
  std::vector<std::string> before;
  std::string current;
  split(typed, before, current);
  if (before.empty())
    return matching(commands, current);
  auto& command = before[0];
  auto position = before.size(); // 1: the first argument
  // Options anywhere after the command, once a dash is typed.
  if (!current.empty() && current[0] == '-')
    return matching(options_of(command), current);
  if ((command == "leave" || command == "remove") && position == 1)
    return matching(members, current);
  if (command == "plan") {
    if (position == 1)
      return matching({"join", "leave", "remove"}, current);
    if (position == 2 && (before[1] == "leave" || before[1] == "remove"))
      return matching(members, current);
    return {};
  }
  if (command == "fault") {
    if (position == 1)
      return matching({"delay", "drop", "heal"}, current);
    if (position == 2 && (before[1] == "drop" || before[1] == "delay"))
      return peer_list(current, members);
    return {};
  }
  // Keys, values, paths, HOST:PORT: nothing to offer but the options.
  if (current.empty())
    return matching(options_of(command), current);
  return {};
}

} // namespace actorkv
