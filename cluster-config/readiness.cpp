#include "cluster-config/readiness.hpp"

#include <cstdio>

namespace actorkv {

namespace {

/// Names listed before the rest is counted: in a large cluster a node starting alone would
/// otherwise name every member in one log line and in every refusal.
constexpr size_t names_listed = 8;

std::string names(const std::vector<std::string>& xs) {
  std::string out;
  for (size_t i = 0; i < xs.size() && i < names_listed; ++i)
    out += (out.empty() ? "" : ", ") + xs[i];
  if (xs.size() > names_listed)
    out += " and " + std::to_string(xs.size() - names_listed) + " more";
  return out;
}

std::string seconds(std::chrono::milliseconds d) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f s", static_cast<double>(d.count()) / 1000.0);
  return buf;
}

} // namespace

startup_state startup_readiness(const std::vector<peer_progress>& peers,
                                std::chrono::milliseconds elapsed, std::chrono::milliseconds wait) {
  if (peers.empty())
    return {true, "no peers"};
  size_t up = 0;
  std::vector<std::string> unreachable, pending;
  for (auto& p : peers) {
    if (p.up)
      ++up;
    else if (p.unreachable)
      unreachable.push_back(p.name);
    else
      pending.push_back(p.name);
  }
  auto text =
      "connected to " + std::to_string(up) + " of " + std::to_string(peers.size()) + " peers";
  if (!unreachable.empty())
    text += ", " + names(unreachable) + " unreachable";
  if (pending.empty())
    return {true, text};
  if (elapsed >= wait)
    return {true, text + ", no word from " + names(pending) + " within " + seconds(wait)};
  return {false, text + ", waiting for " + names(pending) + " (at most " + seconds(wait - elapsed) +
                     " more)"};
}

} // namespace actorkv
