// The cluster manifest (TOML): instance settings, storage settings, limits and the node list.
//
// load_manifest() validates everything a node relies on; any problem is an ec::manifest_invalid
// error whose text is one line: "FILE:LINE: problem" (LINE is that of the offending key or table,
// or of the file's first line for whole-file problems such as "no [[node]] entries").
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <caf/expected.hpp>

#include "cluster-config/access.hpp"
#include "cluster-config/log_levels.hpp"
#include "messages/record.hpp"

namespace actorkv {

/// Whether only home replicas count towards R and W.
enum class quorum_mode : uint8_t {
  sloppy, ///< fallback nodes holding hints count; always writable while W nodes are up
  strict, ///< only the N home replicas count
};

/// [store]: fixed when the instance is created; a node refuses a manifest that differs.
struct store_settings {
  std::string name;
  uint32_t partitions = 256; ///< Q, a power of two, 1..65536
  uint32_t replicas = 3;     ///< N
  uint32_t read_quorum = 2;  ///< R, 1..N
  uint32_t write_quorum = 2; ///< W, 1..N
  quorum_mode quorum = quorum_mode::sloppy;
  conflict_mode conflicts = conflict_mode::siblings;
};

/// The settings as (name, value) pairs in manifest spelling, e.g. ("replicas", "3"), in a fixed
/// order: used to record them in a data directory and to name the one that differs.
std::vector<std::pair<std::string, std::string>> describe(const store_settings& s);

/// [storage]
struct storage_settings {
  std::string sync = "normal"; ///< "full" | "normal" | "off"
  /// SQLite's page cache per node, MiB. The default holds a few hundred thousand small records:
  /// the reads of a record not in it cost a system call per page.
  uint32_t cache_mib = 64;
  /// How long a tombstone is kept at least before it may be collected (once every home replica
  /// holds it or nothing: docs/design.md section 6). Also the longest a node may be down and
  /// rejoin with its data; one down longer must be wiped or removed (gc_grace_seconds).
  uint32_t tombstone_grace_s = 86400;
};

/// What a message needs besides the values it carries: CAF's framing, node ids and type names, a
/// key, version vectors, the siblings' dots and timestamps (at most max_siblings_bound of them),
/// and the part of the messages that grows with the partition count (the ring's owners, next
/// owners and transfers in the membership view, the vnode handles of the peer handshake: well
/// under 256 bytes per partition together).
constexpr uint64_t frame_overhead_bytes(uint32_t partitions) {
  return (uint64_t{1} << 20) + uint64_t{256} * partitions;
}

/// The least max_frame_bytes that carries a key of `max_key` bytes with `payload` bytes of values
/// (a put's value, or a record's siblings) and the membership messages. Any less and such a
/// message would make the receiving node's frame guard drop the connection it came on, with every
/// request in flight on it.
constexpr uint64_t min_frame_bytes(uint32_t max_key, uint32_t payload, uint32_t partitions) {
  return uint64_t{max_key} + payload + frame_overhead_bytes(partitions);
}

/// Upper bounds of [limits]; the manifest check refuses more. CAF 0.17 receives a BASP frame
/// whole, in a buffer of the size its header announced, before it looks at it; and a node closes
/// a connection on which nothing complete arrived for 4 s (kvnode's middleman connection
/// timeout), while its failure detector calls a peer down that answers no probe for about 2 s.
/// So a frame must be small enough to allocate without harm and to cross a connection, TLS
/// included, well within those times on a busy machine, and a record travels whole in one frame
/// (replication, read repair, handoff). Measured on a 2-core VM (3 nodes, TLS): a put leaving
/// a 128 MiB record (two 64 MiB siblings) was acknowledged in 7 s; one leaving 192 MiB made the
/// nodes' failure detectors call each other down, and the write ended maybe_applied.
/// Keys appear in URLs, log lines and every message about them.
constexpr uint32_t max_key_bytes_bound = 1u << 20;      // 1 MiB
constexpr uint32_t max_value_bytes_bound = 64u << 20;   // 64 MiB
constexpr uint32_t max_record_bytes_bound = 128u << 20; // 128 MiB
constexpr uint32_t max_frame_bytes_bound = 256u << 20;  // 256 MiB
constexpr uint32_t max_siblings_bound = 10000;

/// The default max_record_bytes: 8 max-size values (the values of concurrent writes nobody has
/// resolved yet), within max_record_bytes_bound. With the default limits 8 MiB.
constexpr uint32_t default_max_record_bytes(uint32_t max_value) {
  auto x = uint64_t{8} * max_value;
  return x > max_record_bytes_bound ? max_record_bytes_bound : static_cast<uint32_t>(x);
}

/// The default max_frame_bytes. A record travels whole in one message (replication, read repair,
/// hints, handoff and anti-entropy send one record each; a get reply carries every sibling).
/// Client writes are refused beyond max_record_bytes, but merges never are, so concurrent writes
/// coordinated by different replicas can take a record past it: leave room for four times
/// max_record_bytes plus the overhead, within max_frame_bytes_bound. With the default limits and
/// 256 partitions: 33 MiB + 65 KiB (1024 + 4 x 8 MiB + 1 MiB + 256 x 256 bytes), well below what
/// a forged header could make a node allocate without the guard.
constexpr uint32_t default_max_frame_bytes(uint32_t max_key, uint32_t max_record,
                                           uint32_t partitions) {
  auto x = uint64_t{max_key} + uint64_t{4} * max_record + frame_overhead_bytes(partitions);
  return x > max_frame_bytes_bound ? max_frame_bytes_bound : static_cast<uint32_t>(x);
}

/// [limits]: optional; requests beyond them are refused before anything is stored. Every limit
/// is at least 1 and at most its bound above.
struct limits_settings {
  uint32_t max_key_bytes = 1024;
  uint32_t max_value_bytes = 1024 * 1024;
  /// A client put or delete that would leave its key more siblings (tombstones included) is
  /// refused with ec::too_many_siblings, and stored nowhere (cluster-config/write_limits.hpp).
  /// Riak's default hard limit.
  uint32_t max_siblings = 100;
  /// A write leaving more siblings is stored, and its reply and the node's log warn. At most
  /// max_siblings; unless set, 25 (Riak's default) or max_siblings if that is less.
  uint32_t sibling_warning = 25;
  /// A client write that would leave its key's sibling values larger is refused with
  /// ec::record_too_large, and stored nowhere. At least max_value_bytes. Unless set,
  /// default_max_record_bytes(), lowered to what max_frame_bytes carries when that is set.
  uint32_t max_record_bytes = default_max_record_bytes(max_value_bytes);
  /// The largest BASP message payload a node's port accepts: its frame guard drops a connection
  /// whose next message announces more, before CAF allocates room for it. At least what a record
  /// of max_record_bytes needs (min_frame_bytes). Unless set in the manifest,
  /// default_max_frame_bytes() of the other limits and [store] partitions (256 here).
  uint32_t max_frame_bytes = default_max_frame_bytes(max_key_bytes, max_record_bytes, 256);

  // The frame guard's connections (actors/guard/frame_guard.hpp, "Bounded").
  /// Connections a node's port holds at most (kvnode lowers it, with a log line, to what
  /// RLIMIT_NOFILE leaves room for: 3 descriptors each). An eighth is kept for nodes.
  uint32_t max_connections = 4096;
  /// A connection that sent nothing for this long is closed (nodes send heartbeats four times
  /// within it: heartbeat_ms).
  uint32_t idle_connection_ms = 600000;
  /// A connection between two nodes that share no partition is closed once it carried no
  /// message (CAF's heartbeats aside) for this long, and dialed again when needed
  /// (actors/node/peers.cpp, "Idle connections"); 0: never. At least 1000 when set.
  uint32_t peer_idle_ms = 60000;
  /// A frame's payload must arrive within this time of its header.
  uint32_t frame_ms = 30000;
  /// Payload bytes announced but not yet received, across a node's connections; a header beyond
  /// waits. Unless set in the manifest, 4 x max_frame_bytes; at least max_frame_bytes.
  uint64_t frame_budget_bytes = uint64_t{4} * max_frame_bytes;
  /// Bytes a node holds for requests in flight (cluster-config/memory_budget.hpp): client writes
  /// beyond 3/4 of it, and peers' replica writes beyond all of it, are refused with
  /// ec::overloaded. Unless set, default_memory_budget_bytes(); at least
  /// min_memory_budget_bytes(), at most memory_budget_bytes_bound.
  uint64_t memory_budget_bytes = uint64_t{256} << 20;
};

/// The largest memory_budget_bytes: 1 TiB.
constexpr uint64_t memory_budget_bytes_bound = uint64_t{1} << 40;

/// The least memory_budget_bytes: one client write of the largest key and value to N replicas
/// must fit within the clients' share (memory_budget.hpp write_charge).
uint64_t min_memory_budget_bytes(const limits_settings& limits, uint32_t replicas);

/// The default memory_budget_bytes: 256 MiB, or room for two of the largest client writes at
/// once when that is more (with the default limits and N = 3 those take 16 MiB each).
uint64_t default_memory_budget_bytes(const limits_settings& limits, uint32_t replicas);

/// [timeouts]: optional; every request that crosses the network is bounded.
struct timeout_settings {
  uint32_t request_ms = 5000; ///< coordinator -> replica
  uint32_t client_ms = 10000; ///< client -> node, whole operation
  /// A node whose wall clock differs from its peers' by more than this warns (log and status).
  /// At most max_clock_skew_ms_limit, so that a warned-of skew is always within what the hybrid
  /// clock follows (cluster-config/clock.hpp).
  uint32_t max_clock_skew_ms = 1000;
  /// CAF closes a connection on which no whole frame arrived for this long (its heartbeats, every
  /// heartbeat_ms, keep live ones busy): how long a frozen peer's connection is held. A node
  /// whose one I/O thread stalls (large frames on a loaded machine) hears nobody meanwhile, so
  /// this must outlast such stalls; at 4 s it closed every connection of a node under 512 puts
  /// of 1 MiB.
  uint32_t connection_ms = 15000;
};

/// The shortest connection_ms: four of CAF's shortest heartbeats.
constexpr uint32_t min_connection_ms = 2000;

/// The largest max_clock_skew_ms: an hour, hybrid_clock::default_max_lead_us.
constexpr uint32_t max_clock_skew_ms_limit = 3600 * 1000;

/// [gossip]: optional; membership gossip with one random peer per interval.
struct gossip_settings {
  uint32_t interval_ms = 1000;
  /// How long a removed member stays in the view (once it owns nothing) before it is purged to a
  /// tombstone: a day, time for every member to have seen the removal.
  uint32_t removed_grace_s = 24 * 3600;
  /// How long a tombstone stays before it is dropped: a week, so that a node that was away (or a
  /// view kept on disk) no older than that cannot bring the member's entry back.
  uint32_t tombstone_grace_s = 7 * 24 * 3600;
};

/// How a node's failure detector probes its peers.
enum class detector_mode : uint8_t {
  all,  ///< every peer every interval, judged by phi accrual (work per node grows with n)
  swim, ///< one peer per interval, SWIM with indirect probes and suspicion (constant work)
};

/// "all" or "swim", as the manifest spells it.
const char* detector_mode_name(detector_mode mode);

/// [failure_detector]: optional; SWIM (the default), or phi accrual over probes of every peer
/// every interval.
struct failure_detector_settings {
  detector_mode mode = detector_mode::swim;
  uint32_t interval_ms = 500;  ///< probe period
  uint32_t phi_threshold = 8;  ///< suspicion above which a peer counts as down (mode "all")
  uint32_t indirect_probes = 3; ///< mode "swim": peers asked to probe one that did not answer
  uint32_t suspicion_ms = 2000; ///< mode "swim": least time a suspect has to refute
};

/// [handoff]: optional; hinted handoff to fallbacks and its delivery.
struct handoff_settings {
  bool enabled = true;          ///< false: no fallbacks even under sloppy quorum
  uint32_t max_hints = 100000;  ///< hints a node holds at most; more fallback writes are refused
  uint32_t batch = 64;          ///< hints delivered per target per round
  uint32_t interval_ms = 1000;  ///< pause between delivery rounds
};

/// [anti_entropy]: optional; Merkle tree exchanges between the replicas of each partition.
struct anti_entropy_settings {
  bool enabled = true;
  uint32_t interval_ms = 10000; ///< pause between rounds (a round visits every partition once)
  uint32_t pace_ms = 10;        ///< pause between two partitions of a round, to spare foreground
  uint32_t repairs = 16;        ///< keys of a partition repaired at once (read, merged, written)
};

/// [background]: optional; how background work (handoff, anti-entropy) yields to foreground
/// requests (cluster-config/background_pace.hpp).
struct background_settings {
  /// Foreground p99 latency (coordinated requests and replica calls served, over 2 s windows)
  /// above which background work is slowed, down to one unit a second.
  uint32_t target_p99_ms = 50;
  /// When the p99 with background work at its floor is already above target_p99_ms, the p99
  /// background work may bring the requests to, in percent of that floor's p99 (100: hold
  /// background work at its floor until the target is met again).
  uint32_t max_slowdown_percent = 130;
};

/// The largest background.target_p99_ms: a minute.
constexpr uint32_t background_target_limit_ms = 60 * 1000;
/// The range of background.max_slowdown_percent.
constexpr uint32_t background_min_slowdown_percent = 100;
constexpr uint32_t background_max_slowdown_percent = 1000;

/// [log]: optional; what kvnode writes to stderr (actors/node/event_log.hpp). kvnode's
/// --log-level and --log-format override it.
struct log_settings {
  std::string level = "info";  ///< error | warning | info | debug: the least severe line written
  /// levels = { handoff = "debug", gossip = "warn" }: a level of their own for some subsystems
  /// (cluster-config/log_levels.hpp); TOML allows each key once, so their order does not matter.
  std::vector<std::pair<log_subsystem, log_level>> levels;
  std::string format = "text"; ///< text: "TIME NODE LEVEL message"; json: one object per line
};

/// [faults]: optional; fault injection is refused unless enabled here.
struct fault_settings {
  bool injection = false;
};

/// [tls]: certificates of the cluster CA for every connection (docs/security.md). A node refuses
/// to start without the table: plaintext needs an explicit `enabled = false`.
struct tls_settings {
  bool configured = false; ///< the manifest has a [tls] table
  bool enabled = true;
  std::string ca;   ///< CA bundle that verifies every peer, client and node certificate (a
                    ///< relative path, like cert and key, is relative to the manifest)
  std::string cert; ///< the node's certificate; "{node}" stands for the node's name
  std::string key;  ///< its private key; "{node}" likewise
};

/// `pattern` with every "{node}" replaced by `node`.
std::string node_file(const std::string& pattern, const std::string& node);

/// [http]: optional; the HTTPS API of the nodes that have an https_port.
struct http_settings {
  uint32_t max_connections = 1024;  ///< more are answered 503 and closed
  uint32_t max_header_bytes = 16384; ///< a request's header block
  uint32_t request_ms = 10000;      ///< to receive a whole request (and the TLS handshake)
  uint32_t idle_ms = 60000;         ///< a keep-alive connection idle longer is closed
  uint32_t threads = 1;             ///< I/O threads, besides CAF's
};

/// One [[node]] entry.
struct node_entry {
  std::string name;
  std::string host; ///< an IPv4 address or host name
  uint16_t port = 0;
  uint32_t capacity = 1; ///< relative weight, >= 1
  std::string data_dir;  ///< a relative path is relative to the manifest's directory
  uint16_t https_port = 0; ///< 0: no HTTPS API on this node
  std::string zone = "default"; ///< failure domain (data centre, rack); see valid_zone()
};

/// Whether `zone` can name a zone: 1 to 64 ASCII letters, digits, '.', '_' or '-' (it travels in
/// space-separated text and status tables).
bool valid_zone(const std::string& zone);

struct manifest {
  std::string path; ///< the file it was loaded from
  store_settings store;
  storage_settings storage;
  limits_settings limits;
  timeout_settings timeouts;
  fault_settings faults;
  log_settings log;
  gossip_settings gossip;
  failure_detector_settings failure_detector;
  handoff_settings handoff;
  anti_entropy_settings anti_entropy;
  background_settings background;
  tls_settings tls;
  http_settings http;
  std::vector<access_token> tokens; ///< [[token]]: HTTPS bearer tokens, by SHA-256
  std::vector<node_entry> nodes;

  /// The entry named `name`, or nullptr.
  const node_entry* find_node(const std::string& name) const;
};

/// How often a node sends CAF's heartbeat on each of its connections: a quarter of the shorter
/// silence that closes a connection (`[timeouts] connection_ms`, the guard's `[limits]
/// idle_connection_ms`), 3.75 s by default, at least 50 ms: a live but quiet connection is never
/// closed for silence, and no more is sent on every connection than that needs.
uint32_t heartbeat_ms(const manifest& m);

/// Loads and validates the manifest at `path`. Rules: unknown tables or keys, wrong types,
/// missing required keys (store.name, node name/host/port/data_dir), partitions not a power of
/// two, N < 1, R or W outside 1..N, N larger than the number of nodes, quorum/conflicts/sync not
/// one of their words, capacity < 1, a zone that is not valid_zone(), port outside 1..65535,
/// duplicate node names, duplicate host:port, duplicate data_dir, limits of 0 or above their
/// bounds, sibling_warning above max_siblings, max_record_bytes below max_value_bytes,
/// max_frame_bytes below min_frame_bytes() of a max-size put or record, max_connections below 8,
/// frame_budget_bytes below max_frame_bytes, memory_budget_bytes outside
/// min_memory_budget_bytes() .. memory_budget_bytes_bound are each an ec::manifest_invalid
/// "FILE:LINE: ...". [tls] with enabled = true needs ca, cert and key; an https_port must differ
/// from every other address; [[token]] needs name, role (read, write or admin) and sha256 (64 hex
/// digits). Also refused: empty names, hosts or data_dirs, and timeouts of 0. When several problems
/// exist, the one nearest the top of the file is reported. A file that cannot be read gives "FILE:
/// cannot read the manifest: REASON" (no line). Relative data_dir and [tls] file paths are resolved
/// against the directory of `path`, so a node finds its files whatever directory it is started
/// from.
caf::expected<manifest> load_manifest(const std::string& path);

/// Parses manifest text as if read from `path` (for tests).
caf::expected<manifest> parse_manifest(const std::string& text, const std::string& path);

} // namespace actorkv
