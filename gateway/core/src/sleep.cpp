// Sleeping clients (§6.14). DISCONNECT with a duration puts a connected client asleep: its
// upstream connection, subscriptions and topic ids stay, no will fires, and what the broker sends
// waits in the session's queue (the sleep buffer, bounded by max_buffered_messages). A PINGREQ
// wakes it: the queue goes out through the usual downlink machinery (REGISTER first where needed,
// one QoS 1/2 exchange in flight, T_retry / N_retry), and PINGRESP closes the flush and puts it
// back asleep. Silence past the sleep duration (with the §7.2 tolerance) loses the client.
//
// Transparent mode, CleanSession=false: while the client sleeps its upstream connection is closed
// (released), so the broker keeps, unacknowledged, what arrives for it. Paho C acknowledges a
// QoS 1/2 message the moment it arrives, so only a closed connection leaves them with the broker:
// if the gateway dies while the client sleeps, they are still there for its next CONNECT. The
// wake-up opens the connection again and the broker's backlog joins the flush.

#include <algorithm>
#include <iterator>

#include "core_impl.hpp"

namespace gateway::core {

void Core::Impl::on_pingreq(Session& s) {
  if (is_sleeping(s.kind())) {
    // §6.14: a PINGREQ without client id from the sleeping client's own address wakes it too.
    wake(s, s.peer);
    return;
  }
  send(s.peer, sn::PingResp{});  // §6.11; last_seen was refreshed by on_message
}

// A PINGREQ carrying a client id. Returns false when it is an ordinary PINGREQ of the active
// client at that address (which named itself) and the state table should take it.
bool Core::Impl::on_named_pingreq(const sn::Peer& peer, const std::string& client_id) {
  Session* named = nullptr;
  if (const auto it = client_ids_.find(client_id); it != client_ids_.end()) {
    named = by_id(it->second);
  }
  if (named != nullptr && is_sleeping(named->kind())) {
    wake(*named, peer);
    return true;
  }
  if (named != nullptr && named == by_peer(peer)) return false;
  // §6.12: the gateway cannot identify a sleeping client by that name here.
  ++counters_.no_session;
  log(LogLevel::debug, [&] {
    return "PINGREQ from " + sn::to_string(peer) + " names client " + client_id +
           ", which is not asleep here";
  });
  send(peer, sn::Disconnect{});
  return true;
}

void Core::Impl::fall_asleep(Session& s, std::uint16_t duration_s) {
  const bool again = is_sleeping(s.kind());
  // From awake the flush stops where it is: the rest (and the exchange in flight, resent with
  // DUP) waits for the next wake-up. Back to sleep before the backlog was in: the connection
  // opened for it closes again (release_upstream below).
  std::optional<ConnId> conn = s.conn();
  if (in_outage(s) && conn) {
    // Asleep during an outage: the attempt under way is dropped; the wake-up connects again.
    out_->push_back(UpstreamDisconnect{*conn, false});
    conns_.erase(*conn);
    conn.reset();
  }
  enter(s, state::Asleep{duration_s, conn});
  s.last_seen = now_;
  cancel_session_timers(s);
  arm(s, TimerKind::sleep, now_ + with_tolerance(duration_s));
  log(LogLevel::info, [&] {
    return "client " + s.client_id + (again ? " sleeps on, now for " : " asleep for ") +
           std::to_string(duration_s) + " s (" + std::to_string(s.queue.size()) +
           " message(s) buffered)";
  });
  release_upstream(s);
}

void Core::Impl::wake(Session& s, const sn::Peer& peer) {
  if (s.peer != peer) {
    // NAT rebinding or a new radio route: the session follows the client id, and the address it
    // takes over has no other client any more (as with CONNECT).
    if (Session* other = by_peer(peer); other != nullptr && other != &s) {
      const InputScope displaced(*this, Input::displaced);
      end_session(*other, false);
    }
    log(LogLevel::info, [&] {
      return "client " + s.client_id + " moved from " + sn::to_string(s.peer) + " to " +
             sn::to_string(peer);
    });
    if (const auto it = peers_.find(s.peer); it != peers_.end() && it->second == s.id) {
      peers_.erase(it);
    }
    s.peer = peer;
    peers_[peer] = s.id;
  }
  s.last_seen = now_;
  // A repeated PINGREQ while awake: the flush under way goes on; T_retry resends what was lost.
  if (s.kind() == StateKind::awake) return;
  const bool was_released = released(s);
  const auto& asleep = std::get<state::Asleep>(s.state);
  enter(s, state::Awake{asleep.duration_s, asleep.conn, state::Fetch::none});
  cancel(s, TimerKind::sleep);  // §6.14: the sleep timer stops with the PINGREQ
  log(LogLevel::info, [&] {
    return "client " + s.client_id + " awake at " + sn::to_string(s.peer) + " (" +
           std::to_string(s.queue.size()) + " message(s) buffered" +
           (was_released ? ", fetching the rest from the broker)" : ")");
  });
  if (was_released) resume_upstream(s);
  resume_delivery(s);  // ends with end_flush() once the queue is empty (and the backlog is in)
}

// MQTT-SN v1.2 §6.14: PINGRESP closes the flush; the client is asleep again and the sleep timer
// restarts.
void Core::Impl::end_flush(Session& s) {
  send(s.peer, sn::PingResp{});
  const auto& awake = std::get<state::Awake>(s.state);
  const std::uint16_t duration_s = awake.duration_s;
  enter(s, state::Asleep{duration_s, awake.conn});
  s.last_seen = now_;
  cancel(s, TimerKind::sleep);
  arm(s, TimerKind::sleep, now_ + with_tolerance(duration_s));
  log(LogLevel::debug, [&] { return "client " + s.client_id + " asleep again"; });
  release_upstream(s);
}

// The flush is over once nothing is queued or in flight and no broker backlog is still expected.
void Core::Impl::end_flush_if_done(Session& s) {
  const auto* awake = s.in<state::Awake>();
  if (awake != nullptr && awake->fetch == state::Fetch::none && !s.inflight && s.queue.empty()) {
    end_flush(s);
  }
}

bool Core::Impl::releasable(const Session& s) const {
  // The broker keeps the session only without CleanSession; the gateway's own connection must be
  // there to publish the will of a sleeper lost while released.
  return !aggregating() && config_.release_sleeper_upstream && gateway_connection_wanted() &&
         !s.clean_session;
}

bool Core::Impl::may_release(const Session& s) const {
  return releasable(s) && s.kind() == StateKind::asleep && s.conn();
}

void Core::Impl::release_upstream(Session& s) {
  if (!may_release(s)) return;
  // A clean DISCONNECT: no will, the broker's session stays. conns_ keeps the connection until
  // Disconnected, so what the broker sent before it took the DISCONNECT (acknowledged already)
  // still reaches the sleep buffer.
  auto& asleep = std::get<state::Asleep>(s.state);
  // Messages the broker still waits on (the native client's end-to-end acknowledgement) are the
  // broker's to send again after the wake-up, so they leave the buffer unacknowledged; kept, they
  // would arrive twice. Only the exchange in flight stays, with its message id (the client may
  // have the message already, §6.13), and the broker is told it has arrived before the
  // connection closes.
  if (s.inflight && !s.queue.empty()) s.queue.front().ack.reset();
  std::size_t handed_back = 0;
  for (auto it = s.inflight ? std::next(s.queue.begin()) : s.queue.begin(); it != s.queue.end();) {
    if (it->ack) {
      it->ack->hand_back();
      it = s.queue.erase(it);
      ++handed_back;
    } else {
      ++it;
    }
  }
  if (handed_back > 0) {
    log(LogLevel::debug, [&] {
      return "client " + s.client_id + ": " + std::to_string(handed_back) +
             " message(s) left to the broker until the wake-up";
    });
  }
  settle_acks();  // before the DISCONNECT: on a closed connection they would be lost
  out_->push_back(UpstreamDisconnect{*asleep.conn, false});
  asleep.conn.reset();
  ++counters_.sleeper_upstream_released;
  log(LogLevel::debug, [&] {
    return "client " + s.client_id + ": upstream connection closed while it sleeps";
  });
}

// The wake-up of a sleeper without its upstream connection (released, or fallen asleep during an
// outage): the same client id, CleanSession and will as before.
void Core::Impl::resume_upstream(Session& s) {
  const ConnId conn = next_conn_++;
  auto& awake = std::get<state::Awake>(s.state);
  awake.conn = conn;
  awake.fetch = state::Fetch::connecting;
  conns_[conn] = s.id;
  ++counters_.sleeper_upstream_resumed;
  out_->push_back(connect_action(s, conn));
}

// A message of the backlog: the flush goes on at least wake_settle longer.
void Core::Impl::on_backlog_message(Session& s) {
  const auto* awake = s.in<state::Awake>();
  if (awake == nullptr || awake->fetch != state::Fetch::draining) return;
  cancel(s, TimerKind::settle);
  arm(s, TimerKind::settle, now_ + config_.wake_settle);
}

void Core::Impl::on_settle_timer(Session& s) {
  auto& awake = std::get<state::Awake>(s.state);  // the table: only awake
  if (awake.fetch != state::Fetch::draining) return;
  awake.fetch = state::Fetch::none;
  end_flush_if_done(s);
}

// The connection of a sleeper (or one being resumed) failed or was lost (transparent mode): the
// sleeper stays, without a connection, and its next wake-up connects again (CleanSession=false:
// the broker keeps the backlog for it; CleanSession=true: its subscriptions are made again); a
// flush under way ends with what the gateway has. false: not such a session; the caller handles
// it.
bool Core::Impl::resume_failed(Session& s, const std::string& reason) {
  if (aggregating() || !is_sleeping(s.kind())) return false;
  forget_conn(s);
  if (auto* awake = s.in<state::Awake>()) awake->fetch = state::Fetch::none;
  cancel(s, TimerKind::settle);
  log(LogLevel::warn, [&] {
    return "client " + s.client_id + ": upstream connection failed while it sleeps (" + reason +
           "); its next wake-up connects again" +
           (s.clean_session ? std::string() : "; the broker keeps its messages meanwhile");
  });
  end_flush_if_done(s);
  return true;
}

void Core::Impl::on_sleep_timer(Session& s) {
  const Time deadline =
      s.last_seen + with_tolerance(std::get<state::Asleep>(s.state).duration_s);  // the table
  if (now_ >= deadline) {
    lose(s, "silent past its sleep duration");
    return;
  }
  arm(s, TimerKind::sleep, deadline);
}

// Makes room in a sleeping client's queue for one message of QoS `incoming_qos`; false when the
// incoming message itself is the one to drop. The oldest QoS 0 message goes first (it promised
// nothing), else the oldest QoS 1/2 message the broker is not waiting on; a QoS 0 message never
// pushes out a QoS 1/2 one. The message in flight already belongs to the client and stays, and a
// copy the broker waits on is never given up (see make_room): an incoming one is kept beyond the
// bound, which the upstream's receive window limits.
bool Core::Impl::make_room_while_asleep(Session& s, std::uint8_t incoming_qos,
                                         bool incoming_owed) {
  while (s.queue.size() >= config_.max_buffered_messages) {
    const auto first =
        s.inflight && !s.queue.empty() ? std::next(s.queue.begin()) : s.queue.begin();
    auto victim = std::find_if(first, s.queue.end(), [](const Outgoing& m) { return m.qos == 0; });
    if (victim == s.queue.end() && incoming_qos > 0) {
      victim = std::find_if(first, s.queue.end(), [](const Outgoing& m) { return !m.ack; });
    }
    if (victim == s.queue.end()) {
      if (incoming_owed) return true;
      ++counters_.downlink_dropped;
      ++counters_.sleep_buffer_dropped;
      log(LogLevel::debug,
          [&] { return "client " + s.client_id + ": sleep buffer full, new message dropped"; });
      return false;
    }
    ++counters_.downlink_dropped;
    ++counters_.sleep_buffer_dropped;
    log(LogLevel::debug, [&] {
      return "client " + s.client_id + ": sleep buffer full, dropped a QoS " +
             std::to_string(victim->qos) + " message on " + victim->topic;
    });
    s.queue.erase(victim);
  }
  return true;
}

}  // namespace gateway::core
