#include "messages/register_types.hpp"

#include <caf/actor_system_config.hpp>

#include "messages/error.hpp"
#include "messages/interfaces.hpp"

namespace actorkv {

void register_types(caf::actor_system_config& cfg) {
  // Names are part of the wire protocol: both sides of a connection must use the same ones.
  cfg.add_message_type<bytes>("actorkv::bytes");
  cfg.add_message_type<dot>("actorkv::dot");
  cfg.add_message_type<version_vector>("actorkv::version_vector");
  cfg.add_message_type<sibling>("actorkv::sibling");
  cfg.add_message_type<record>("actorkv::record");
  cfg.add_message_type<get_reply>("actorkv::get_reply");
  cfg.add_message_type<put_request>("actorkv::put_request");
  cfg.add_message_type<delete_request>("actorkv::delete_request");
  cfg.add_message_type<write_reply>("actorkv::write_reply");
  cfg.add_message_type<member_status>("actorkv::member_status");
  cfg.add_message_type<cluster_status>("actorkv::cluster_status");
  cfg.add_message_type<member_answer>("actorkv::member_answer");
  cfg.add_message_type<cluster_answers>("actorkv::cluster_answers");
  cfg.add_message_type<write_op>("actorkv::write_op");
  cfg.add_message_type<replica_read>("actorkv::replica_read");
  cfg.add_message_type<peer_hello>("actorkv::peer_hello");
  cfg.add_message_type<stored_hint>("actorkv::stored_hint");
  cfg.add_message_type<hint_backlog>("actorkv::hint_backlog");
  cfg.add_message_type<key_digest>("actorkv::key_digest");
  cfg.add_message_type<peer_view>("actorkv::peer_view");
  cfg.add_message_type<member_info>("actorkv::member_info");
  cfg.add_message_type<membership_view>("actorkv::membership_view");
  cfg.add_message_type<member_tombstone>("actorkv::member_tombstone");
  cfg.add_message_type<member_digest>("actorkv::member_digest");
  cfg.add_message_type<ring_digest>("actorkv::ring_digest");
  cfg.add_message_type<retired_digest>("actorkv::retired_digest");
  cfg.add_message_type<view_digest>("actorkv::view_digest");
  cfg.add_message_type<view_delta>("actorkv::view_delta");
  cfg.add_message_type<partition_transfer>("actorkv::partition_transfer");
  cfg.add_message_type<ring_layout>("actorkv::ring_layout");
  cfg.add_message_type<keyed_record>("actorkv::keyed_record");
  cfg.add_message_type<std::vector<keyed_record>>("actorkv::keyed_record_vector");
  cfg.add_message_type<handoff_task>("actorkv::handoff_task");
  cfg.add_message_type<std::vector<handoff_task>>("actorkv::handoff_task_vector");
  cfg.add_message_type<handoff_stats>("actorkv::handoff_stats");
  cfg.add_message_type<anti_entropy_stats>("actorkv::anti_entropy_stats");
  cfg.add_message_type<clock_reading>("actorkv::clock_reading");
  cfg.add_message_type<clock_report>("actorkv::clock_report");
  cfg.add_message_type<swim_rumor>("actorkv::swim_rumor");
  cfg.add_message_type<swim_ping>("actorkv::swim_ping");
  cfg.add_message_type<swim_relay>("actorkv::swim_relay");
  cfg.add_message_type<swim_ack>("actorkv::swim_ack");
  cfg.add_message_type<swim_peer_actor>("actorkv::swim_peer_actor");
  cfg.add_message_type<std::vector<uint64_t>>("actorkv::u64_vector");
  cfg.add_message_type<vnode_actor>("actorkv::vnode_actor");
  cfg.add_message_type<client_call>("actorkv::client_call");
  cfg.add_message_type<std::vector<client_call>>("actorkv::client_call_vector");
  cfg.add_message_type<client_answer>("actorkv::client_answer");
  cfg.add_message_type<std::vector<client_answer>>("actorkv::client_answer_vector");
  cfg.add_message_type<replica_gateway_actor>("actorkv::replica_gateway_actor");
  cfg.add_message_type<client_requests_actor>("actorkv::client_requests_actor");
  cfg.add_message_type<replica_call>("actorkv::replica_call");
  cfg.add_message_type<std::vector<replica_call>>("actorkv::replica_call_vector");
  cfg.add_message_type<replica_answer>("actorkv::replica_answer");
  cfg.add_message_type<std::vector<replica_answer>>("actorkv::replica_answer_vector");
  cfg.add_error_category(caf::atom("actorkv"),
                         [](uint8_t code, caf::atom_value, const caf::message& ctx) {
                           return describe(caf::error{code, caf::atom("actorkv"), ctx});
                         });
}

} // namespace actorkv
