#include "cluster-config/membership_view.hpp"

#include <algorithm>
#include <tuple>

namespace actorkv {

namespace {

/// Strict order deciding which of two entries of the same member wins.
bool loses_to(const member_info& a, const member_info& b) {
  return std::tie(a.version, a.state, a.incarnation, a.capacity, a.host, a.port) <
         std::tie(b.version, b.state, b.incarnation, b.capacity, b.host, b.port);
}

bool same_entry(const member_info& a, const member_info& b) {
  return !loses_to(a, b) && !loses_to(b, a) && a.name == b.name;
}

} // namespace

membership_view view_from_manifest(const manifest& m) {
  membership_view view;
  for (auto& n : m.nodes)
    upsert(view, member_info{n.name, n.host, n.port, n.capacity, member_state::valid, 0, 0});
  return view;
}

membership_view merge(const membership_view& a, const membership_view& b) {
  membership_view out;
  auto i = a.members.begin();
  auto j = b.members.begin();
  while (i != a.members.end() || j != b.members.end()) {
    if (j == b.members.end() || (i != a.members.end() && i->name < j->name)) {
      out.members.push_back(*i++);
    } else if (i == a.members.end() || j->name < i->name) {
      out.members.push_back(*j++);
    } else {
      out.members.push_back(loses_to(*i, *j) ? *j : *i);
      ++i;
      ++j;
    }
  }
  return out;
}

void upsert(membership_view& view, const member_info& info) {
  auto it = std::lower_bound(view.members.begin(), view.members.end(), info.name,
                             [](const member_info& m, const std::string& n) { return m.name < n; });
  if (it != view.members.end() && it->name == info.name)
    *it = info;
  else
    view.members.insert(it, info);
}

const member_info* find_member(const membership_view& view, const std::string& name) {
  for (auto& m : view.members)
    if (m.name == name)
      return &m;
  return nullptr;
}

bool operator==(const membership_view& a, const membership_view& b) {
  return a.members.size() == b.members.size() &&
         std::equal(a.members.begin(), a.members.end(), b.members.begin(), same_entry);
}

uint64_t fingerprint(const membership_view& view) {
  // FNV-1a over the entries: stable across machines and builds.
  uint64_t h = 1469598103934665603ull;
  auto mix = [&](const void* data, size_t n) {
    auto* p = static_cast<const uint8_t*>(data);
    for (size_t k = 0; k < n; ++k) {
      h ^= p[k];
      h *= 1099511628211ull;
    }
  };
  for (auto& m : view.members) {
    mix(m.name.data(), m.name.size());
    mix(m.host.data(), m.host.size());
    uint64_t fields[] = {m.port, m.capacity, static_cast<uint64_t>(m.state), m.incarnation,
                         m.version};
    mix(fields, sizeof(fields));
  }
  return h;
}

} // namespace actorkv
