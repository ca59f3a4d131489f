// Sleeping clients (§6.14). DISCONNECT with a duration puts a connected client asleep: its
// upstream connection, subscriptions and topic ids stay, no will fires, and what the broker sends
// waits in the session's queue (the sleep buffer, bounded by max_buffered_messages). A PINGREQ
// wakes it: the queue goes out through the usual downlink machinery (REGISTER first where needed,
// one QoS 1/2 exchange in flight, T_retry / N_retry), and PINGRESP closes the flush and puts it
// back asleep. Silence past the sleep duration (with the §7.2 tolerance) loses the client.

#include <algorithm>
#include <iterator>

#include "core_impl.hpp"

namespace gateway::core {

void Core::Impl::on_pingreq(Session& s) {
  if (is_sleeping(s.state)) {
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
  if (named != nullptr && is_sleeping(named->state)) {
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
  const bool again = is_sleeping(s.state);
  // From awake the flush stops where it is: the rest (and the exchange in flight, resent with
  // DUP) waits for the next wake-up.
  s.state = ClientState::asleep;
  s.sleep_s = duration_s;
  s.last_seen = now_;
  cancel(s, TimerKind::keep_alive);
  cancel(s, TimerKind::retry);
  cancel(s, TimerKind::sleep);
  arm(s, TimerKind::sleep, now_ + with_tolerance(duration_s));
  log(LogLevel::info, [&] {
    return "client " + s.client_id + (again ? " sleeps on, now for " : " asleep for ") +
           std::to_string(duration_s) + " s (" + std::to_string(s.queue.size()) +
           " message(s) buffered)";
  });
}

void Core::Impl::wake(Session& s, const sn::Peer& peer) {
  if (s.peer != peer) {
    // NAT rebinding or a new radio route: the session follows the client id, and the address it
    // takes over has no other client any more (as with CONNECT).
    if (Session* other = by_peer(peer); other != nullptr && other != &s) end_session(*other, false);
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
  if (s.state == ClientState::awake) return;
  s.state = ClientState::awake;
  cancel(s, TimerKind::sleep);  // §6.14: the sleep timer stops with the PINGREQ
  log(LogLevel::info, [&] {
    return "client " + s.client_id + " awake at " + sn::to_string(s.peer) + " (" +
           std::to_string(s.queue.size()) + " message(s) buffered)";
  });
  resume_delivery(s);  // ends with end_flush() once the queue is empty
}

// MQTT-SN v1.2 §6.14: PINGRESP closes the flush; the client is asleep again and the sleep timer
// restarts.
void Core::Impl::end_flush(Session& s) {
  send(s.peer, sn::PingResp{});
  s.state = ClientState::asleep;
  s.last_seen = now_;
  cancel(s, TimerKind::sleep);
  arm(s, TimerKind::sleep, now_ + with_tolerance(s.sleep_s));
  log(LogLevel::debug, [&] { return "client " + s.client_id + " asleep again"; });
}

void Core::Impl::on_sleep_timer(Session& s) {
  if (s.state != ClientState::asleep) return;
  const Time deadline = s.last_seen + with_tolerance(s.sleep_s);
  if (now_ >= deadline) {
    lose(s, "silent past its sleep duration");
    return;
  }
  arm(s, TimerKind::sleep, deadline);
}

// Makes room in a sleeping client's queue for one message of QoS `incoming_qos`; false when the
// incoming message itself is the one to drop. The oldest QoS 0 message goes first (it promised
// nothing), else the oldest message; a QoS 0 message never pushes out a QoS 1/2 one. The message
// in flight already belongs to the client and stays.
bool Core::Impl::make_room_while_asleep(Session& s, std::uint8_t incoming_qos) {
  while (s.queue.size() >= config_.max_buffered_messages) {
    const auto first =
        s.inflight && !s.queue.empty() ? std::next(s.queue.begin()) : s.queue.begin();
    auto victim = std::find_if(first, s.queue.end(), [](const Outgoing& m) { return m.qos == 0; });
    ++counters_.downlink_dropped;
    ++counters_.sleep_buffer_dropped;
    if (victim == s.queue.end()) {
      if (incoming_qos == 0 || first == s.queue.end()) {
        log(LogLevel::debug,
            [&] { return "client " + s.client_id + ": sleep buffer full, new message dropped"; });
        return false;
      }
      victim = first;
    }
    log(LogLevel::debug, [&] {
      return "client " + s.client_id + ": sleep buffer full, dropped a QoS " +
             std::to_string(victim->qos) + " message on " + victim->topic;
    });
    s.queue.erase(victim);
  }
  return true;
}

}  // namespace gateway::core
