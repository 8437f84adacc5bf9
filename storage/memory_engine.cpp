// The in-memory reference engine: the behaviour the SQLite engine is tested against.
//
// It stores encoded records, not records, so every get() runs the same decode_record() path as the
// durable engine, and a batch keeps an undo log so rollback() restores exactly what was there. The
// leaf summaries (count, leaves) are computed from the stored digests when asked: the definition
// the SQLite engine's maintained ones are tested against.
#include <map>
#include <set>
#include <tuple>
#include <utility>
#include <vector>

#include "messages/dvv.hpp"
#include "storage/engine.hpp"
#include "storage/merkle_tree.hpp"
#include "storage/record_codec.hpp"

namespace actorkv::storage {

// The default of every engine without a file (the SQLite engine overrides it).
backup_job engine::backup(const std::string&, const std::string&) {
  return [](backup_control&) -> caf::expected<backup_result> {
    return caf::make_error(ec::bad_request,
                           "this store is held in memory: there is no file to back up");
  };
}

namespace {

/// Passes to `f` the records of a scan that are dead for good since before `before_us`.
scan_fn dead_only(int64_t before_us, const scan_fn& f) {
  return [before_us, &f](const bytes& key, caf::expected<record>&& rec) {
    if (!rec)
      return true;
    auto died = dvv::dead_from(*rec);
    if (!died || *died >= before_us)
      return true;
    return f(key, std::move(rec));
  };
}

} // namespace

caf::error engine::for_each_dead(partition_id p, const std::optional<bytes>& after,
                                 int64_t before_us, const scan_fn& f) {
  return for_each(p, after, dead_only(before_us, f));
}

caf::error reader::for_each_dead(partition_id p, const std::optional<bytes>& after,
                                 int64_t before_us, const scan_fn& f) {
  return for_each(p, after, dead_only(before_us, f));
}

namespace {

/// Mirrors the SQLite engine's meta table, which always holds its schema version.
constexpr const char* schema_version_name = "schema_version";

class memory_engine final : public engine {
public:
  memory_engine() { meta_[schema_version_name] = "4"; }

  caf::expected<std::optional<record>> get(partition_id p, const bytes& key) override {
    auto i = records_.find(key_of(p, key));
    if (i == records_.end())
      return std::optional<record>{};
    auto rec = decode_record(i->second.value.data(), i->second.value.size());
    if (!rec)
      return std::move(rec.error());
    return std::optional<record>{std::move(*rec)};
  }

  caf::error put(partition_id p, const bytes& key, const record& rec) override {
    auto k = key_of(p, key);
    remember(records_, records_undo_, k);
    records_[std::move(k)] = stored{encode_record(rec), record_digest(key, rec)};
    if (in_batch_)
      newest_undo_.push_back(newest_);
    newest_ = std::max(newest_, storage::newest_timestamp(rec));
    return caf::none;
  }

  caf::error erase(partition_id p, const bytes& key) override {
    auto k = key_of(p, key);
    remember(records_, records_undo_, k);
    records_.erase(k);
    return caf::none;
  }

  caf::error for_each(partition_id p, const std::optional<bytes>& after,
                      const scan_fn& f) override {
    auto i = after ? records_.upper_bound(key_of(p, *after)) : first_of(p);
    for (; i != records_.end() && std::get<0>(i->first) == p; ++i)
      if (!f(std::get<2>(i->first), decode_record(i->second.value.data(), i->second.value.size())))
        break;
    return caf::none;
  }

  caf::expected<uint64_t> count(partition_id p) override {
    uint64_t n = 0;
    for (auto i = first_of(p); i != records_.end() && std::get<0>(i->first) == p; ++i)
      ++n;
    return n;
  }

  caf::expected<std::vector<uint64_t>> leaves(partition_id p) override {
    std::vector<uint64_t> out(size_t{1} << tree_leaf_bits, 0);
    for (auto i = first_of(p); i != records_.end() && std::get<0>(i->first) == p; ++i)
      out[std::get<1>(i->first)] ^= i->second.digest;
    return out;
  }

  caf::expected<std::vector<key_digest>> leaf_keys(partition_id p,
                                                   const std::vector<uint64_t>& leaves) override {
    std::set<uint64_t> wanted(leaves.begin(), leaves.end());
    std::vector<key_digest> out;
    for (auto i = first_of(p); i != records_.end() && std::get<0>(i->first) == p; ++i)
      if (wanted.count(std::get<1>(i->first)) > 0)
        out.push_back(key_digest{std::get<2>(i->first), i->second.digest});
    return out;
  }

  caf::error refresh_digest(partition_id p, const bytes& key) override {
    auto k = key_of(p, key);
    auto i = records_.find(k);
    if (i == records_.end())
      return caf::none;
    auto rec = decode_record(i->second.value.data(), i->second.value.size());
    auto digest = rec ? record_digest(key, *rec) : 0;
    if (digest == i->second.digest)
      return caf::none;
    remember(records_, records_undo_, k);
    records_[k].digest = digest;
    return caf::none;
  }

  int64_t newest_timestamp() const override { return newest_; }

  integrity_job integrity_check() override {
    // A copy taken now: the job runs on another thread while this engine goes on.
    return [records = records_](check_control& control) {
      integrity_report out;
      for (const auto& [k, held] : records) {
        if (control.cancel) {
          out.failure = caf::make_error(ec::storage_failure, "integrity check cancelled");
          break;
        }
        auto rec = decode_record(held.value.data(), held.value.size());
        if (!rec || record_digest(std::get<2>(k), *rec) != held.digest)
          out.suspects.emplace_back(std::get<0>(k), std::get<2>(k));
        ++out.records;
        ++control.records;
      }
      return out;
    };
  }

  bool check_owed() const override { return false; } // nothing outlives the process

  caf::error check_done(const integrity_report& report) override {
    for (auto& [p, key] : report.suspects)
      if (auto err = refresh_digest(p, key))
        return err;
    return caf::none;
  }

  caf::error begin() override {
    if (in_batch_)
      return caf::make_error(ec::storage_failure, "begin: a batch is already open");
    in_batch_ = true;
    return caf::none;
  }

  caf::error commit() override {
    if (!in_batch_)
      return caf::make_error(ec::storage_failure, "commit: no batch is open");
    end_batch();
    return caf::none;
  }

  void rollback() override {
    if (!in_batch_)
      return;
    if (!newest_undo_.empty())
      newest_ = newest_undo_.front();
    undo(records_, records_undo_);
    undo(meta_, meta_undo_);
    undo(hints_, hints_undo_);
    end_batch();
  }

  caf::expected<std::optional<std::string>> get_meta(const std::string& name) override {
    auto i = meta_.find(name);
    if (i == meta_.end())
      return std::optional<std::string>{};
    return std::optional<std::string>{i->second};
  }

  caf::error set_meta(const std::string& name, const std::string& value) override {
    if (name == schema_version_name || name == "newest_timestamp_us" || name == "open_state")
      return caf::make_error(ec::storage_failure,
                             "meta name '" + name + "' is reserved for the engine");
    remember(meta_, meta_undo_, name);
    meta_[name] = value;
    return caf::none;
  }

  caf::expected<uint64_t> add_hint(const std::string& target, partition_id p, const bytes& key,
                                   const record& rec) override {
    // Ids are never reused, not even after a rollback: the contract allows reuse, but an id that
    // always grows makes a stale id from an undone batch harmless.
    auto id = next_hint_id_++;
    remember(hints_, hints_undo_, id);
    hints_[id] = held_hint{target, p, key, encode_record(rec)};
    return id;
  }

  caf::expected<std::vector<hint>> hints_for(const std::string& target, size_t limit,
                                             size_t* corrupt_dropped) override {
    if (corrupt_dropped != nullptr)
      *corrupt_dropped = 0;
    std::vector<hint> out;
    std::vector<uint64_t> corrupt;
    for (auto i = hints_.begin(); i != hints_.end() && out.size() < limit; ++i) {
      const auto& held = i->second;
      if (held.target != target)
        continue;
      auto rec = decode_record(held.value.data(), held.value.size());
      if (!rec) {
        corrupt.push_back(i->first);
        continue;
      }
      out.push_back(hint{i->first, held.target, held.partition, held.key, std::move(*rec)});
    }
    for (auto id : corrupt)
      if (auto err = remove_hint(id))
        return err;
    if (corrupt_dropped != nullptr)
      *corrupt_dropped = corrupt.size();
    return out;
  }

  caf::error remove_hint(uint64_t id) override {
    remember(hints_, hints_undo_, id);
    hints_.erase(id);
    return caf::none;
  }

  caf::expected<uint64_t> drop_hints(const std::string& target, size_t limit) override {
    std::vector<uint64_t> ids;
    for (auto i = hints_.begin(); i != hints_.end() && ids.size() < limit; ++i)
      if (i->second.target == target)
        ids.push_back(i->first);
    for (auto id : ids)
      if (auto err = remove_hint(id))
        return err;
    return static_cast<uint64_t>(ids.size());
  }

  caf::expected<std::map<std::string, uint64_t>> hint_counts() override {
    std::map<std::string, uint64_t> out;
    for (const auto& entry : hints_)
      ++out[entry.second.target];
    return out;
  }

private:
  /// (partition, leaf, key): scan order, as the SQLite engine's primary key.
  using record_key = std::tuple<partition_id, uint64_t, bytes>;

  /// A record as encode_record() wrote it, and its digest as stored (refresh_digest).
  struct stored {
    bytes value;
    uint64_t digest = 0;
  };

  static record_key key_of(partition_id p, const bytes& key) {
    return record_key{p, merkle_tree::leaf_of(key, tree_leaf_bits), key};
  }

  std::map<record_key, stored>::const_iterator first_of(partition_id p) const {
    return records_.lower_bound(record_key{p, 0, bytes{}});
  }

  /// A stored hint: like records, kept encoded so reading it runs decode_record()'s checks.
  struct held_hint {
    std::string target;
    partition_id partition = 0;
    bytes key;
    bytes value;
  };

  /// One undo step: the key and what it held before the batch's write (nullopt: absent).
  template <class Key, class Value>
  using undo_log = std::vector<std::pair<Key, std::optional<Value>>>;

  /// Inside a batch, logs the key's current state before it is overwritten or erased. Logging on
  /// every write (not just the first per key) keeps this simple; undoing in reverse order makes the
  /// oldest entry win.
  template <class Key, class Value>
  void remember(const std::map<Key, Value>& map, undo_log<Key, Value>& log, const Key& k) {
    if (!in_batch_)
      return;
    auto i = map.find(k);
    log.emplace_back(k, i == map.end() ? std::nullopt : std::optional<Value>{i->second});
  }

  template <class Key, class Value>
  static void undo(std::map<Key, Value>& map, undo_log<Key, Value>& log) {
    for (auto i = log.rbegin(); i != log.rend(); ++i) {
      if (i->second)
        map[i->first] = std::move(*i->second);
      else
        map.erase(i->first);
    }
  }

  void end_batch() {
    in_batch_ = false;
    newest_undo_.clear();
    records_undo_.clear();
    meta_undo_.clear();
    hints_undo_.clear();
  }

  /// (partition, leaf, key) → the record; std::tuple's ordering is scan order, and bytes compare
  /// like SQLite's BLOB memcmp order.
  std::map<record_key, stored> records_;
  int64_t newest_ = 0;
  std::vector<int64_t> newest_undo_; ///< newest_ before each put of the open batch
  std::map<std::string, std::string> meta_;
  /// id → hint; ids in storage order, as SQLite's AUTOINCREMENT hands them out.
  std::map<uint64_t, held_hint> hints_;
  uint64_t next_hint_id_ = 1;
  bool in_batch_ = false;
  undo_log<record_key, stored> records_undo_;
  undo_log<std::string, std::string> meta_undo_;
  undo_log<uint64_t, held_hint> hints_undo_;
};

} // namespace

std::unique_ptr<engine> make_memory_engine() {
  return std::make_unique<memory_engine>();
}

} // namespace actorkv::storage
