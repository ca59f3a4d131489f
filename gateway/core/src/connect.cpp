// Connection life of a client: CONNECT and the will handshake (§6.2, §6.3), DISCONNECT (§6.12),
// keep-alive supervision (§6.11 with the §7.2 tolerance), loss, and the upstream connection that
// mirrors each client in transparent mode.

#include "core_impl.hpp"
#include "sn_protocol/topic.hpp"

namespace gateway::core {

Time with_tolerance(std::uint16_t duration_s) {
  const auto ms = static_cast<std::int64_t>(duration_s) * 1000;
  return Time(duration_s < 60 ? ms * 3 / 2 : ms * 11 / 10);
}

void Core::Impl::on_connect(const sn::Peer& peer, const sn::Connect& connect) {
  if (config_.allowed_clients && !config_.allowed_clients->contains(connect.client_id)) {
    // Refused before anything else: an unknown id must not move, end or take over any session.
    log_limited(LogKey::not_allowed, LogLevel::info, [&] {
      return "refused client " + connect.client_id + " from " + sn::to_string(peer) +
             ": not an allowed client";
    });
    send(peer, sn::ConnAck{sn::ReturnCode::not_supported});
    return;
  }
  if (!frame_identity_.empty() && connect.client_id != frame_identity_) {
    // The transport proved who is speaking (DTLS): it may only be itself.
    ++counters_.identity_mismatch;
    log_limited(LogKey::not_allowed, LogLevel::info, [&] {
      return "refused client " + connect.client_id + " from " + sn::to_string(peer) +
             ": the DTLS identity is " + std::string(frame_identity_);
    });
    send(peer, sn::ConnAck{sn::ReturnCode::not_supported});
    return;
  }
  if (config_.client_id_prefix + connect.client_id == qos_minus_one_client_id_) {
    // The broker would throw the shared QoS -1 connection and this client off in turn.
    send(peer, sn::ConnAck{sn::ReturnCode::not_supported});
    return;
  }
  Session* s = nullptr;
  if (const auto it = client_ids_.find(connect.client_id); it != client_ids_.end()) {
    s = by_id(it->second);
  }
  if (s != nullptr && s->kind() == StateKind::connecting && s->peer == peer && !connect.will &&
      connect.clean_session == s->clean_session && connect.duration_s == s->keep_alive_s) {
    // The client resent its CONNECT (§6.13) while the broker is still answering: the CONNACK of
    // the attempt under way will serve, so do not start over.
    ++counters_.duplicates_in;
    return;
  }
  if (const auto* active = s != nullptr ? s->in<state::Active>() : nullptr;
      active != nullptr && !active->change && !active->outage && s->peer == peer && !connect.will &&
      connect.clean_session == s->clean_session && connect.duration_s == s->keep_alive_s &&
      now_ - active->since < config_.retry_interval) {
    // The CONNACK was lost or overtaken (§6.13): a copy of the CONNECT within T_retry of it is
    // answered again, not taken for a new connection (which, with CleanSession=true, would wipe
    // the registrations and subscriptions the client made meanwhile).
    ++counters_.duplicates_in;
    send(peer, sn::ConnAck{sn::ReturnCode::accepted});
    resume_delivery(*s);  // the exchange in flight, should the client have lost it too
    return;
  }
  // Bounded: CONNECTs whose sender never answers (spoofed) wait here until their handshake or
  // upstream connect times out; no more than max_connecting of them at once.
  if ((s == nullptr || !is_connecting(s->kind())) &&
      connecting_ids_.size() >= config_.max_connecting) {
    ++counters_.connecting_full;
    log_limited(LogKey::connecting_full, LogLevel::warn, [&] {
      return "refused client " + connect.client_id + " from " + sn::to_string(peer) + ": " +
             std::to_string(config_.max_connecting) + " clients are connecting (max_connecting)";
    });
    send(peer, sn::ConnAck{sn::ReturnCode::congestion});
    return;
  }
  // One client per address: another client id seen here before has left.
  if (Session* other = by_peer(peer); other != nullptr && other != s) {
    const InputScope displaced(*this, Input::displaced);
    end_session(*other, false);
  }
  bool resumed = false;

  if (s == nullptr) {
    if (sessions_.size() >= config_.max_clients) {
      log_limited(LogKey::max_clients, LogLevel::warn, [&] {
        return "refused client " + connect.client_id + " from " + sn::to_string(peer) +
               ": max_clients reached";
      });
      send(peer, sn::ConnAck{sn::ReturnCode::congestion});
      return;
    }
    const SessionId id = next_session_++;
    s = &sessions_[id];
    s->id = id;
    s->client_id = connect.client_id;
    client_ids_.emplace(connect.client_id, id);
  } else {
    if (s->peer != peer && !is_away(s->kind())) {
      log(LogLevel::info, [&] {
        return "client " + s->client_id + " moved from " + sn::to_string(s->peer) + " to " +
               sn::to_string(peer);
      });
    }
    if (const auto it = peers_.find(s->peer); it != peers_.end() && it->second == s->id) {
      peers_.erase(it);
    }
    resumed = s->established();
    // A repeated CONNECT starts the connection over: the old upstream connection ends cleanly
    // (no will) and a new one carries this CONNECT's flags and will. A will update or a
    // sleeper's wake-up under way is abandoned with it (the state is replaced below).
    let_go(*s, false);
    cancel_session_timers(*s);
    // Requests of the old connection will never be answered on the new one; QoS 2 messages that
    // did not reach the broker must be accepted again when the client resends them.
    const SessionId id = s->id;
    std::erase_if(pending_, [id](const auto& entry) { return entry.second.session == id; });
    std::erase_if(s->qos2_in, [](const auto& entry) { return !entry.second.at_broker; });
  }

  s->peer = peer;
  peers_[peer] = s->id;
  s->clean_session = connect.clean_session;
  s->keep_alive_s = connect.duration_s;
  s->last_seen = now_;
  if (connect.clean_session) {
    // §6.3: a clean session forgets subscriptions, will data, topic ids and queued messages.
    s->will.reset();
    s->topics.clear();
    s->qos2_in.clear();
    s->queue.clear();
    s->inflight.reset();
    s->rejected_topics.clear();
    drop_subscriptions(*s);
    s->next_msg_id = 1;
  }
  if (connect.will) {
    enter(*s, state::WillTopic{resumed});
    send(peer, sn::WillTopicReq{});
    arm(*s, TimerKind::handshake, now_ + config_.retry_interval * (config_.max_retries + 1));
    return;
  }
  connect_upstream(*s, resumed);
}

void Core::Impl::on_will_topic(Session& s, const sn::WillTopic& will_topic) {
  if (will_topic.topic.empty()) {
    s.will.reset();  // §6.3: the empty WILLTOPIC means no will
    cancel(s, TimerKind::handshake);
    connect_upstream(s, s.established());
    return;
  }
  if (!sn::is_valid_topic_name(will_topic.topic)) {
    log(LogLevel::info, [&] {
      return "refused client " + s.client_id + ": invalid will topic";
    });
    send(s.peer, sn::ConnAck{sn::ReturnCode::not_supported});
    end_session(s, false);
    return;
  }
  // A will is a publish the broker makes for the client: the same rules apply.
  if (!acl_allows(s, AclAction::will, will_topic.topic)) {
    send(s.peer, sn::ConnAck{sn::ReturnCode::not_supported});
    end_session(s, false);
    return;
  }
  s.will = Will{will_topic.topic, {}, static_cast<std::uint8_t>(will_topic.qos), will_topic.retain};
  enter(s, state::WillMsg{s.established()});
  send(s.peer, sn::WillMsgReq{});
}

void Core::Impl::on_will_msg(Session& s, const sn::WillMsg& will_msg) {
  if (s.will) s.will->payload = will_msg.message;
  cancel(s, TimerKind::handshake);
  connect_upstream(s, s.established());
}

// The client's upstream connection is asked for (the connecting state), or in aggregating mode
// the client is answered at once. `resumed`: a session from an earlier connection exists.
void Core::Impl::connect_upstream(Session& s, bool resumed) {
  if (aggregating()) {
    // The shared connection serves everyone: nothing to set up, unless the broker is away.
    if (!qos_minus_one_up_) {
      log(LogLevel::warn, [&] {
        return "refused client " + s.client_id + ": the broker is not reachable";
      });
      send(s.peer, sn::ConnAck{sn::ReturnCode::congestion});
      end_session(s, false);
      return;
    }
    accept_connection(s);
    return;
  }
  const ConnId conn = next_conn_++;
  enter(s, state::Connecting{resumed, conn});
  conns_[conn] = s.id;
  out_->push_back(connect_action(s, conn));
}

void Core::Impl::on_disconnect(Session& s, const sn::Disconnect& disconnect) {
  send(s.peer, sn::Disconnect{});
  // §6.14: a duration puts a connected client asleep, or changes the duration of a sleeping one.
  // A zero duration is no sleep at all: the client is disconnected.
  if (disconnect.duration_s.value_or(0) > 0 &&
      (s.kind() == StateKind::active || is_sleeping(s.kind()))) {
    fall_asleep(s, *disconnect.duration_s);
    return;
  }
  log(LogLevel::info, [&] {
    return "client " + s.client_id + " disconnected" +
           (disconnect.duration_s ? " (asked to sleep before it was connected)" : "");
  });
  end_session(s, false);
}

void Core::Impl::on_upstream_connected(const UpstreamConnected& e) {
  if (e.conn == kQosMinusOneConn) {
    gateway_connection_up();
    return;
  }
  Session* s = by_conn(e.conn);
  if (s == nullptr || s->conn() != e.conn) return;
  const InputScope scope(*this, Input::upstream_connected);
  if (disposition(*s, Input::upstream_connected) != Disposition::handle) return;
  if (const auto* active = s->in<state::Active>()) {
    if (active->outage) {
      outage_over(*s, e.session_present);
    } else if (active->change && active->change->stage == state::WillChange::Stage::opening) {
      finish_switch(*s);  // the connection carrying an updated will (§6.4)
    }
    return;
  }
  if (auto* awake = s->in<state::Awake>()) {
    // A sleeper's wake-up: the broker now sends its backlog (§6.14 flush).
    if (awake->fetch == state::Fetch::connecting) {
      awake->fetch = state::Fetch::draining;
      arm(*s, TimerKind::settle, now_ + config_.wake_settle);
      // Fallen asleep during an outage with CleanSession=true: the broker kept nothing.
      if (s->clean_session) restore_subscriptions(*s, e.conn);
    }
    return;
  }
  accept_connection(*s);
}

void Core::Impl::accept_connection(Session& session) {
  Session* s = &session;
  enter(*s, state::Active{s->conn(), nullptr, nullptr, now_});
  // The client's keep-alive period starts with the CONNACK: a slow broker is not its silence.
  s->last_seen = now_;
  send(s->peer, sn::ConnAck{sn::ReturnCode::accepted});
  log(LogLevel::info, [&] {
    return "client " + s->client_id + " connected from " + sn::to_string(s->peer) +
           " (keep-alive " + std::to_string(s->keep_alive_s) + " s, clean session " +
           (s->clean_session ? "true" : "false") + (s->will ? ", will on " + s->will->topic : "") +
           ")";
  });
  if (s->keep_alive_s > 0) {
    arm(*s, TimerKind::keep_alive, s->last_seen + with_tolerance(s->keep_alive_s));
  }
  resume_delivery(*s);
}

void Core::Impl::on_upstream_connect_failed(const UpstreamConnectFailed& e) {
  if (e.conn == kQosMinusOneConn) {
    gateway_connection_down("failed", e.reason);
    return;
  }
  Session* s = by_conn(e.conn);
  if (s == nullptr) return;
  if (s->conn() != e.conn) {
    conns_.erase(e.conn);  // one the session already let go of
    return;
  }
  const InputScope scope(*this, Input::upstream_failed);
  if (disposition(*s, Input::upstream_failed) != Disposition::handle) return;
  if (resume_failed(*s, e.reason)) return;
  if (in_outage(*s)) {
    reconnect_later(*s, e.reason);
    return;
  }
  if (s->kind() != StateKind::connecting) {
    upstream_gone(*s, e.reason);
    return;
  }
  forget_conn(*s);
  // A broker refusal cannot be fixed by retrying; an unreachable broker can (§5.3.10).
  const auto code = e.refused ? sn::ReturnCode::not_supported : sn::ReturnCode::congestion;
  log(LogLevel::warn, [&] {
    return "refused client " + s->client_id + ": upstream connection failed: " + e.reason;
  });
  send(s->peer, sn::ConnAck{code});
  end_session(*s, false);
}

void Core::Impl::on_upstream_lost(const UpstreamConnectionLost& e) {
  if (e.conn == kQosMinusOneConn) {
    gateway_connection_down("lost", e.reason);
    return;
  }
  Session* s = by_conn(e.conn);
  if (s == nullptr) return;
  if (s->retiring() == e.conn) {
    // Closing anyway for a will update: go on with the new connection.
    on_upstream_disconnected(UpstreamDisconnected{e.conn});
    return;
  }
  if (s->conn() != e.conn) {
    conns_.erase(e.conn);  // released while the client sleeps, or replaced
    return;
  }
  const InputScope scope(*this, Input::upstream_failed);
  if (disposition(*s, Input::upstream_failed) != Disposition::handle) return;
  if (resume_failed(*s, e.reason)) return;
  if (const auto* active = s->in<state::Active>(); active != nullptr && !active->change) {
    // The broker restarted or the network dropped: the client keeps its session.
    reconnect_later(*s, e.reason);
    return;
  }
  upstream_gone(*s, e.reason);
}

void Core::Impl::upstream_gone(Session& s, const std::string& reason) {
  forget_conn(s);
  log(LogLevel::warn, [&] {
    return "client " + s.client_id + ": upstream connection lost (" + reason +
           "); asking the client to reconnect";
  });
  // §6.12: an unsolicited DISCONNECT makes the client set up its connection again.
  if (s.kind() == StateKind::connecting) {
    send(s.peer, sn::ConnAck{sn::ReturnCode::congestion});
  } else {
    send(s.peer, sn::Disconnect{});
  }
  end_session(s, false);
}

void Core::Impl::on_keep_alive_timer(Session& s) {
  if (s.keep_alive_s == 0) return;
  const Time deadline = s.last_seen + with_tolerance(s.keep_alive_s);
  if (now_ >= deadline) {
    lose(s, "keep-alive expired");
    return;
  }
  arm(s, TimerKind::keep_alive, deadline);
}

void Core::Impl::on_transport_down(const TransportDown& e) {
  std::vector<SessionId> reached;
  for (const auto& [id, s] : sessions_) {
    // Clients that are already gone (kept for CleanSession=false) have nothing left to lose.
    if (s.peer.transport_id == e.transport_id && !is_away(s.kind())) {
      reached.push_back(id);
    }
  }
  log(LogLevel::warn, [&] {
    return "transport " + std::to_string(e.transport_id) + " is down (" + e.reason + "); " +
           std::to_string(reached.size()) + " client(s) lost";
  });
  const InputScope scope(*this, Input::transport_down);
  for (const SessionId id : reached) {
    if (Session* s = by_id(id)) lose(*s, "its transport is down");
  }
}

void Core::Impl::on_peer_gone(const PeerGone& e) {
  Session* s = by_peer(e.peer);
  if (s == nullptr || is_away(s->kind())) return;
  // The same row as a transport going down, for the one client behind this link.
  const InputScope scope(*this, Input::transport_down);
  lose(*s, "its DTLS session ended");
}

void Core::Impl::lose(Session& s, const char* why) {
  ++counters_.clients_lost;
  // Without an upstream connection of its own (aggregating mode, a released sleeper), the gateway
  // publishes the will itself.
  const bool by_gateway = aggregating() || released(s) || in_outage(s);
  log(LogLevel::info, [&] {
    return "client " + s.client_id + " lost: " + why +
           (s.will ? (by_gateway ? "; publishing its will on "
                                 : "; the broker publishes its will on ") +
                         s.will->topic
                   : "");
  });
  if (by_gateway) publish_will(s);
  end_session(s, true);
}

void Core::Impl::end_session(Session& s, bool fire_will) {
  let_go(s, fire_will);
  cancel_session_timers(s);
  if (const auto it = peers_.find(s.peer); it != peers_.end() && it->second == s.id) {
    peers_.erase(it);
  }
  if (!s.clean_session && s.established()) {
    // §6.3/§6.12: without CleanSession the will data, topic ids, queued messages and the exchange
    // in flight outlive the connection. A session never accepted has nothing to keep.
    if (fire_will) {
      enter(s, state::Lost{});
    } else {
      enter(s, state::Disconnected{});
    }
    return;
  }
  allowed(s, kGone);
  leave_outage(s);
  drop_subscriptions(s);
  const SessionId id = s.id;
  std::erase_if(pending_, [id](const auto& entry) { return entry.second.session == id; });
  client_ids_.erase(s.client_id);
  connecting_ids_.erase(id);
  if (config_.persistent) {
    dirty_.erase(id);
    removed_.push_back(s.client_id);
  }
  sessions_.erase(s.id);  // `s` dangles from here on
}

void Core::Impl::reconnect_later(Session& s, const std::string& reason) {
  forget_conn(s);
  auto& active = std::get<state::Active>(s.state);
  if (!active.outage) {
    active.outage = std::make_unique<state::Outage>();
    ++counters_.client_upstream_outages;
    log(LogLevel::warn, [&] {
      return "client " + s.client_id + ": upstream connection lost (" + reason +
             "); reconnecting, the client stays connected";
    });
  } else {
    if (active.outage->connecting) --reconnects_in_flight_;
    active.outage->connecting = false;
    ++active.outage->attempts;
    log(LogLevel::debug, [&] {
      return "client " + s.client_id + ": upstream reconnect failed (" + reason + ")";
    });
  }
  cancel(s, TimerKind::reconnect);
  arm(s, TimerKind::reconnect, now_ + backoff(active.outage->attempts));
}

void Core::Impl::on_reconnect_timer(Session& s) {
  auto& active = std::get<state::Active>(s.state);  // the table: only active
  if (!active.outage || active.outage->connecting) return;
  if (reconnects_in_flight_ >= kMaxReconnectsInFlight) {
    arm(s, TimerKind::reconnect, now_ + backoff(0));  // others first; try again soon
    return;
  }
  const ConnId conn = next_conn_++;
  active.conn = conn;
  active.outage->connecting = true;
  ++reconnects_in_flight_;
  conns_[conn] = s.id;
  out_->push_back(connect_action(s, conn));
}

void Core::Impl::outage_over(Session& s, bool session_present) {
  auto& active = std::get<state::Active>(s.state);
  std::vector<std::string> unsubscribe = std::move(active.outage->unsubscribe_later);
  leave_outage(s);
  ++counters_.client_upstream_reconnects;
  log(LogLevel::info, [&] { return "client " + s.client_id + ": upstream connection is back"; });
  if (!session_present) {
    // CleanSession=true, or a broker that lost the session (restarted without persistence): it
    // has no subscription for this client any more.
    restore_subscriptions(s, *active.conn);
  } else {
    // The broker kept the session and its subscriptions; undo what the client gave up meanwhile.
    for (auto& filter : unsubscribe) {
      out_->push_back(UpstreamUnsubscribe{*active.conn, 0, std::move(filter)});
    }
  }
}

void Core::Impl::restore_subscriptions(Session& s, ConnId conn) {
  for (const auto& [filter, qos] : s.subscriptions) {
    const ReqId req = next_req_++;
    pending_.emplace(req, Pending{Pending::Kind::resubscribe, s.id, conn, 0, 0, filter, 0});
    out_->push_back(UpstreamSubscribe{conn, req, filter, qos});
  }
}

void Core::Impl::forget_conn(Session& s) {
  std::visit(
      [this](auto& st) {
        if constexpr (requires { st.conn; }) {
          if (st.conn) conns_.erase(*st.conn);
          st.conn.reset();
        }
      },
      s.state);
}

}  // namespace gateway::core
