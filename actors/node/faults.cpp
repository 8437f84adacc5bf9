// Fault injection commands (see actors/node/fault_gate.hpp and node_state.hpp): the node keeps
// the rules by peer name and hands them, resolved to the processes the peers run as, to every
// actor that serves peers.
#include <caf/all.hpp>

#include "actors/node/event_log.hpp"
#include "actors/node/node_state.hpp"
#include "messages/error.hpp"

namespace actorkv::node_internals {

namespace {

void push_faults(self_ptr self) {
  auto& st = self->state;
  fault_rules rules;
  for (auto& [name, rule] : st.faults)
    if (auto it = st.processes.find(name); it != st.processes.end())
      rules.by_process[it->second] = rule;
  st.gate.set(rules);
  self->send(st.gateway, fault_atom::value, rules);
  self->send(st.vnodes, fault_atom::value, rules);
}

} // namespace

void bind_process(self_ptr self, const std::string& name, const caf::node_id& process) {
  auto& st = self->state;
  auto& known = st.processes[name];
  if (known == process)
    return;
  known = process;
  if (!st.faults.empty())
    push_faults(self);
}

caf::result<std::string> apply_fault(self_ptr self, const std::string& action,
                                     const std::vector<std::string>& peers, uint32_t delay_ms) {
  auto& st = self->state;
  if (!st.options.cluster.faults.injection)
    return caf::make_error(ec::bad_request, "fault injection is disabled; set [faults] "
                                            "injection = true in the manifest to allow it");
  if (action == "heal") {
    st.faults.clear();
  } else if (action == "drop" || action == "delay") {
    if (peers.empty())
      return caf::make_error(ec::bad_request, "name the peers whose traffic to " + action);
    for (auto& name : peers)
      if (!st.find_peer(name))
        return caf::make_error(ec::bad_request, "no peer named '" + name + "'");
    for (auto& name : peers)
      st.faults[name] = fault_rule{action == "drop", action == "delay" ? delay_ms : 0};
  } else {
    return caf::make_error(ec::bad_request,
                           "unknown fault '" + action + "' (drop PEERS, delay PEERS MS, or heal)");
  }
  push_faults(self);
  std::string text;
  for (auto& [name, rule] : st.faults)
    text += (text.empty() ? "" : ", ") + name + ": " +
            (rule.drop ? "drop" : "delay " + std::to_string(rule.delay_ms) + " ms");
  if (text.empty())
    text = "no faults";
  log_event(st.options.self_name, "fault injection: " + text);
  return text;
}

} // namespace actorkv::node_internals
