// SWIM failure detection (Das, Gupta and Motivala, 2002) as pure logic, for clusters of thousands
// of nodes: each period a member probes ONE other member, chosen round-robin from a list shuffled
// anew every round; when the probe goes unanswered it asks k others to probe the member
// indirectly, and when those fail too it suspects the member. A suspect that does not refute
// within the suspicion timeout is declared dead. Suspicions and verdicts travel as rumors
// piggybacked on the protocol's own messages, each rumor a bounded number of times. A suspected
// member refutes by announcing itself alive with a higher incarnation. So every member does
// constant work per period whatever the cluster's size, and a failure is known everywhere after
// O(log n) periods.
//
// The actor that uses it (actors/node/swim_detector.hpp, [failure_detector] mode = "swim") sends
// the probes and the rumors; this class only decides (who to probe, whom to ask, what to
// believe, what to tell) and takes time as a parameter.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "cluster-config/name_table.hpp"
#include "messages/liveness.hpp"

namespace actorkv {

const char* to_string(swim_health h);

struct swim_options {
  /// One probe per period.
  std::chrono::milliseconds period{500};
  /// Members asked to probe a member that did not answer directly.
  size_t indirect_probes = 3;
  /// A suspect is declared dead after max(suspicion_min, suspicion_periods * log10(n) periods):
  /// long enough for the rumor to reach it and its refutation to come back (Lifeguard's bound).
  std::chrono::milliseconds suspicion_min{2000};
  double suspicion_periods = 4;
  /// Rumors piggybacked on one message, at most.
  size_t rumors_per_message = 8;
  /// A rumor is sent retransmit_mult * ceil(log10(n + 1)) times, then forgotten.
  size_t retransmit_mult = 4;
  /// Local health (Lifeguard's self-awareness): a member that has heard from nobody for
  /// `deaf_periods` periods cannot tell the others' silence from its own stall (a node whose
  /// I/O thread spends seconds on a 64 MiB message reads nothing meanwhile), so it declares
  /// nobody dead until it hears again, or until a suspicion has lasted `deaf_limit` suspicion
  /// timeouts (its peers may all be gone). When it hears again, its suspicions start anew.
  size_t deaf_periods = 2;
  double deaf_limit = 2;
};

class swim {
public:
  using clock = std::chrono::steady_clock;

  /// `self`: this member's name, never probed; `seed`: for the shuffles and the helper choice.
  swim(std::string self, swim_options options, uint64_t seed);

  /// A member to watch, alive at incarnation 0 unless known otherwise (no change if present).
  void add(const std::string& name);
  /// Makes room for `members` members in all, so that the per-member vectors are allocated once
  /// at their size rather than grown (by doubling, up to half of them spare): a node passes the
  /// size of its view. More may still be added.
  void reserve(size_t members);
  /// The member is reachable again by other means (its node reconnected and answered a
  /// handshake): a dead member becomes a suspect at its incarnation, so that it is probed again
  /// and either refutes (see about()) or is declared dead once more after the suspicion timeout.
  /// No change unless dead.
  void revive(const std::string& name, clock::time_point now);
  /// What this member believes of `name` when it is a suspicion or a verdict, to send to `name`
  /// itself with a probe so that it can refute at once; nullopt while it is believed alive.
  std::optional<swim_rumor> about(const std::string& name) const;
  /// No longer watched (removed from the cluster); its rumors are dropped.
  void remove(const std::string& name);

  /// The member to probe this period: the next of the round's shuffled order; nullopt when
  /// there is none. Each member is probed once per round, the dead included, so that one which
  /// is reachable again (a healed partition) hears its verdict and refutes.
  std::optional<std::string> next_target();

  /// Up to indirect_probes live members other than this one and `target`, chosen at random, to
  /// ask to probe `target` after a direct probe went unanswered.
  std::vector<std::string> indirect_helpers(const std::string& target);

  /// Neither the probe of `target` nor the indirect ones were answered in time: it becomes a
  /// suspect (at its current incarnation) and a rumor says so.
  void unreachable(const std::string& target, clock::time_point now);

  /// Suspects whose suspicion timed out become dead (and a rumor says so). Returns them.
  std::vector<std::string> expire(clock::time_point now);

  /// A message from some member arrived (a probe, an ack, an answer to an indirect probe,
  /// whatever it says): this member's own I/O works. After a silence of deaf_periods periods,
  /// its suspicions start anew from `when` (swim_options::deaf_periods). Until the first call,
  /// this member never counts itself deaf.
  void heard(clock::time_point when);

  /// The members suspected now, in name order (few: the suspicions under way).
  std::vector<std::string> suspects() const;

  /// Evidence that suspect `name` was alive at `when`: a message from it (its probe, its ack), a
  /// helper that reached it, or a large message of its own still arriving (its acks queue behind
  /// it on the same connection). Its suspicion then counts from `when`, so it is declared dead
  /// only once the suspicion timeout has passed since its last sign of life: a peer whose data
  /// keeps coming stays a suspect (and refutes once its acks get through), one that stopped (a
  /// crash, a pause) is declared dead as before. No change unless `name` is suspect and `when`
  /// is later than its suspicion.
  void heard_from(const std::string& name, clock::time_point when);

  /// Rumors to piggyback on the next outgoing message: at most rumors_per_message, those sent
  /// least often first. Each call counts as one transmission of what it returns.
  std::vector<swim_rumor> rumors_to_send();

  /// Applies a rumor heard from anyone by SWIM's precedence: alive(i) overrides suspect or alive
  /// of a lower incarnation; suspect(i) overrides alive(j <= i) and suspect(j < i); dead(i)
  /// overrides anything of incarnation j <= i. What is believed anew is gossiped on. A rumor
  /// that this member is suspect or dead is refuted: its incarnation rises above the rumor's and
  /// an alive rumor goes out. Returns whether anything changed.
  bool hear(const swim_rumor& rumor, clock::time_point now);

  std::optional<swim_health> health(const std::string& name) const;
  std::optional<uint64_t> incarnation_of(const std::string& name) const;
  uint64_t incarnation() const { return incarnation_; }
  /// Members watched, this one excluded.
  size_t size() const { return size_; }
  /// The suspicion timeout for the current size (see swim_options).
  clock::duration suspicion_timeout() const;

  /// The number of member `name`: small and dense (0, 1, ... in the order members were first
  /// added), kept by a removed member and given back if it is added again, so that whoever holds
  /// something per member (the actor, its peers' handles) can keep it in a vector indexed by it.
  /// nullopt if `name` was never added.
  std::optional<uint32_t> number_of(const std::string& name) const;

private:
  /// What this member believes of another, per member number. A member removed (or never added
  /// under a number) is `absent`.
  enum class presence : uint8_t { absent, present };
  struct pending_rumor {
    swim_rumor rumor;
    size_t sent = 0;
  };

  /// The number of `name` if it is a member now, else name_table::npos.
  uint32_t member(const std::string& name) const;
  void believe(uint32_t m, swim_health h, uint64_t incarnation, clock::time_point now);
  void spread(swim_rumor rumor);
  size_t transmit_limit() const;
  /// Whether nothing was heard for deaf_periods periods before `now` (see heard()).
  bool deaf(clock::time_point now) const;

  std::string self_;
  swim_options options_;
  std::mt19937_64 random_;
  uint64_t incarnation_ = 0;
  // Per member, a few bytes each in vectors indexed by its number (no node per member): with
  // thousands of members this is most of the state, and every node holds it.
  name_table names_;
  std::vector<presence> present_;
  std::vector<swim_health> health_;
  std::vector<uint64_t> incarnations_;
  size_t size_ = 0; ///< members present
  /// The suspects, since when: few, in name order (the order expire() reports them in).
  std::map<std::string, clock::time_point> suspects_;
  std::optional<clock::time_point> last_heard_; ///< see heard()
  std::vector<uint32_t> order_;                 ///< this round's probe order, as member numbers
  size_t next_ = 0;
  std::map<std::string, pending_rumor> rumors_; ///< the latest rumor per member, self included
};

} // namespace actorkv
