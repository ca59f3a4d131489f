// Sessions that outlive the gateway process (CoreConfig::persistent): the CleanSession=false
// sessions as records for the app's store, and back. The core keeps no file: it notes which
// sessions its handlers reached (touch()) and hands their records out; the app writes them in one
// transaction per loop iteration, before it executes the actions of that iteration, so that a
// message is stored before anyone is told it arrived (§6.6 PUBREC, REGACK, SUBACK, the
// acknowledgement to the broker).

#include <algorithm>

#include "core_impl.hpp"

namespace gateway::core {

SessionRecord Core::Impl::record_of(const Session& s) const {
  SessionRecord r;
  r.client_id = s.client_id;
  r.peer = s.peer;
  if (const auto* asleep = s.in<state::Asleep>()) {
    r.status = SessionRecord::Status::asleep;
    r.sleep_s = asleep->duration_s;
  } else if (const auto* awake = s.in<state::Awake>()) {
    r.status = SessionRecord::Status::asleep;  // the wake-up's flush starts again at the next one
    r.sleep_s = awake->duration_s;
  } else if (s.kind() == StateKind::disconnected) {
    r.status = SessionRecord::Status::disconnected;
  } else {
    r.status = SessionRecord::Status::lost;  // connected (or connecting) when it was taken
  }
  r.keep_alive_s = s.keep_alive_s;
  r.will = s.will;
  r.topics.assign(s.topics.entries().begin(), s.topics.entries().end());
  std::sort(r.topics.begin(), r.topics.end());
  r.next_topic_id = s.topics.next();
  r.subscriptions.assign(s.subscriptions.begin(), s.subscriptions.end());
  for (const auto& [msg_id, in] : s.qos2_in) {
    // One the broker does not have yet was never answered PUBREC: the client sends it again.
    if (in.at_broker) r.qos2_received.emplace_back(msg_id, in.digest);
  }
  std::sort(r.qos2_received.begin(), r.qos2_received.end());
  for (std::size_t i = 1; i <= s.released_qos2.size(); ++i) {
    const std::size_t at = (s.released_at + i) % s.released_qos2.size();
    if (s.released_qos2[at] != 0) {
      r.qos2_released.emplace_back(s.released_qos2[at], s.released_digest[at]);
    }
  }
  // The store has every message up to handed_seq (a message changed in place since, its
  // `reregistered` flag, keeps its stored copy: one REGISTER more after a restart at worst).
  r.queue_seqs.reserve(s.queue.size());
  for (const Outgoing& m : s.queue) {
    r.queue_seqs.push_back(m.seq);
    if (m.seq > s.handed_seq) r.queue.push_back(m);
  }
  r.inflight = s.inflight;
  if (r.inflight) r.inflight->retransmissions = 0;
  r.next_msg_id = s.next_msg_id;
  r.rejected_topics.assign(s.rejected_topics.begin(), s.rejected_topics.end());
  std::sort(r.rejected_topics.begin(), r.rejected_topics.end());
  return r;
}

void Core::Impl::take_changes(SessionChanges& out) {
  // Removals first: a client id that ended and connected again in the same batch is saved anew.
  for (std::string& client_id : removed_) out.removed.push_back(std::move(client_id));
  removed_.clear();
  for (const SessionId id : dirty_) {
    const auto it = sessions_.find(id);
    if (it == sessions_.end()) continue;
    Session& s = it->second;
    if (s.clean_session) {
      out.removed.push_back(s.client_id);  // was CleanSession=false, connected again with true
    } else if (s.established()) {
      out.saved.push_back(record_of(s));
      s.handed_seq = s.next_seq - 1;
    }
    // Not yet accepted, and nothing from an earlier connection: nothing to keep yet.
  }
  dirty_.clear();
}

void Core::Impl::restore(std::vector<SessionRecord> records) {
  std::size_t restored = 0;
  for (SessionRecord& r : records) {
    if (r.client_id.empty() || client_ids_.contains(r.client_id)) continue;
    if (sessions_.size() >= config_.max_clients) {
      log(LogLevel::warn, [&] {
        return "stored sessions beyond max_clients (" + std::to_string(config_.max_clients) +
               ") were left out, the first: " + r.client_id;
      });
      break;
    }
    const SessionId id = next_session_++;
    Session& s = sessions_[id];
    s.id = id;
    s.client_id = r.client_id;
    s.peer = r.peer;
    s.clean_session = false;
    s.keep_alive_s = r.keep_alive_s;
    s.will = std::move(r.will);
    s.last_seen = now_;
    for (const auto& [topic_id, name] : r.topics) s.topics.restore(topic_id, name);
    s.topics.set_next(r.next_topic_id);
    for (auto& [filter, qos] : r.subscriptions) {
      const auto granted = std::min<std::uint8_t>(qos, 2);
      if (aggregating()) filters_[filter].subscribers[id] = granted;
      s.subscriptions.emplace(std::move(filter), granted);
    }
    for (const auto& [msg_id, digest] : r.qos2_received) {
      s.qos2_in.emplace(msg_id, Session::Qos2In{true, digest});
    }
    for (const auto& [msg_id, digest] : r.qos2_released) {
      s.released_at = static_cast<std::uint8_t>((s.released_at + 1) % s.released_qos2.size());
      s.released_qos2[s.released_at] = msg_id;
      s.released_digest[s.released_at] = digest;
    }
    for (QueuedMessage& m : r.queue) {
      s.next_seq = std::max(s.next_seq, m.seq + 1);
      s.queue.push_back(Outgoing{std::move(m), nullptr});
    }
    s.handed_seq = s.next_seq - 1;  // the store has them all
    // The exchange in flight (REGISTER, PUBLISH or PUBREL) is about the first queued message.
    if (!s.queue.empty()) s.inflight = std::move(r.inflight);
    s.next_msg_id = r.next_msg_id;
    s.rejected_topics.insert(r.rejected_topics.begin(), r.rejected_topics.end());
    client_ids_.emplace(s.client_id, id);
    // Not an input of the table: the session is made in the state it was stored in.
    switch (r.status) {
      case SessionRecord::Status::asleep:
        // §6.14: asleep on, supervised from now; in transparent mode without its upstream
        // connection (released: the wake-up opens it again with CleanSession=false).
        s.state = state::Asleep{r.sleep_s, std::nullopt};
        peers_[s.peer] = id;
        arm(s, TimerKind::sleep, now_ + with_tolerance(r.sleep_s));
        break;
      case SessionRecord::Status::disconnected: s.state = state::Disconnected{}; break;
      case SessionRecord::Status::lost: s.state = state::Lost{}; break;
    }
    ++restored;
  }
  log(LogLevel::info, [&] {
    return "restored " + std::to_string(restored) + " stored session(s)";
  });
}

}  // namespace gateway::core
