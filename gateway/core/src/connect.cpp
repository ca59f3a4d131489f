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
    log(LogLevel::info, [&] {
      return "refused client " + connect.client_id + " from " + sn::to_string(peer) +
             ": not an allowed client";
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
  if (s != nullptr && s->state == ClientState::connecting && s->peer == peer && !connect.will &&
      connect.clean_session == s->clean_session && connect.duration_s == s->keep_alive_s) {
    // The client resent its CONNECT (§6.13) while the broker is still answering: the CONNACK of
    // the attempt under way will serve, so do not start over.
    return;
  }
  // One client per address: another client id seen here before has left.
  if (Session* other = by_peer(peer); other != nullptr && other != s) end_session(*other, false);

  if (s == nullptr) {
    if (sessions_.size() >= config_.max_clients) {
      log(LogLevel::warn, [&] {
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
    if (s->peer != peer && s->state != ClientState::disconnected && s->state != ClientState::lost) {
      log(LogLevel::info, [&] {
        return "client " + s->client_id + " moved from " + sn::to_string(s->peer) + " to " +
               sn::to_string(peer);
      });
    }
    if (const auto it = peers_.find(s->peer); it != peers_.end() && it->second == s->id) {
      peers_.erase(it);
    }
    // A repeated CONNECT starts the connection over: the old upstream connection ends cleanly
    // (no will) and a new one carries this CONNECT's flags and will.
    if (s->conn) {
      out_->push_back(UpstreamDisconnect{*s->conn, false});
      conns_.erase(*s->conn);
      s->conn.reset();
    }
    drop_switch(*s);  // a will update under way is abandoned with the connection
    s->released = false;
    stop_fetch(*s);
    cancel(*s, TimerKind::keep_alive);
    cancel(*s, TimerKind::retry);
    cancel(*s, TimerKind::handshake);
    cancel(*s, TimerKind::sleep);
    // Requests of the old connection will never be answered on the new one; QoS 2 messages that
    // did not reach the broker must be accepted again when the client resends them.
    const SessionId id = s->id;
    std::erase_if(pending_, [id](const auto& entry) { return entry.second.session == id; });
    std::erase_if(s->qos2_in, [](const auto& entry) { return !entry.second; });
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
    s->state = ClientState::will_topic;
    send(peer, sn::WillTopicReq{});
    arm(*s, TimerKind::handshake, now_ + config_.retry_interval * (config_.max_retries + 1));
    return;
  }
  connect_upstream(*s);
}

void Core::Impl::on_will_topic(Session& s, const sn::WillTopic& will_topic) {
  if (will_topic.topic.empty()) {
    s.will.reset();  // §6.3: the empty WILLTOPIC means no will
    cancel(s, TimerKind::handshake);
    connect_upstream(s);
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
  s.will = Will{will_topic.topic, {}, static_cast<std::uint8_t>(will_topic.qos), will_topic.retain};
  s.state = ClientState::will_msg;
  send(s.peer, sn::WillMsgReq{});
}

void Core::Impl::on_will_msg(Session& s, const sn::WillMsg& will_msg) {
  if (s.will) s.will->payload = will_msg.message;
  cancel(s, TimerKind::handshake);
  connect_upstream(s);
}

void Core::Impl::connect_upstream(Session& s) {
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
  s.conn = conn;
  conns_[conn] = s.id;
  s.state = ClientState::connecting;
  out_->push_back(UpstreamConnect{conn, config_.client_id_prefix + s.client_id, s.keep_alive_s,
                                  s.clean_session, s.will});
}

void Core::Impl::on_disconnect(Session& s, const sn::Disconnect& disconnect) {
  send(s.peer, sn::Disconnect{});
  // §6.14: a duration puts a connected client asleep, or changes the duration of a sleeping one.
  // A zero duration is no sleep at all: the client is disconnected.
  if (disconnect.duration_s.value_or(0) > 0 &&
      (s.state == ClientState::active || is_sleeping(s.state))) {
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
  if (s != nullptr && s->switching == Session::Switch::opening && s->conn == e.conn) {
    finish_switch(*s);  // the connection carrying an updated will (§6.4)
    return;
  }
  if (s != nullptr && s->fetch == Session::Fetch::connecting && s->conn == e.conn) {
    // A sleeper's wake-up: the broker now sends its backlog (§6.14 flush).
    s->fetch = Session::Fetch::draining;
    arm(*s, TimerKind::settle, now_ + config_.wake_settle);
    return;
  }
  if (s == nullptr || s->state != ClientState::connecting) return;
  accept_connection(*s);
}

void Core::Impl::accept_connection(Session& session) {
  Session* s = &session;
  s->state = ClientState::active;
  s->established = true;
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
  if (s->conn != e.conn) {
    conns_.erase(e.conn);  // one the session already let go of
    return;
  }
  if (resume_failed(*s, e.reason)) return;
  if (s->state != ClientState::connecting) {
    upstream_gone(*s, e.reason);
    return;
  }
  conns_.erase(e.conn);
  s->conn.reset();
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
  if (s->retiring == e.conn) {
    // Closing anyway for a will update: go on with the new connection.
    on_upstream_disconnected(UpstreamDisconnected{e.conn});
    return;
  }
  if (s->conn != e.conn) {
    conns_.erase(e.conn);  // released while the client sleeps, or replaced
    return;
  }
  if (resume_failed(*s, e.reason)) return;
  upstream_gone(*s, e.reason);
}

void Core::Impl::upstream_gone(Session& s, const std::string& reason) {
  if (s.conn) {
    conns_.erase(*s.conn);
    s.conn.reset();
  }
  log(LogLevel::warn, [&] {
    return "client " + s.client_id + ": upstream connection lost (" + reason +
           "); asking the client to reconnect";
  });
  // §6.12: an unsolicited DISCONNECT makes the client set up its connection again.
  if (s.state == ClientState::connecting) {
    send(s.peer, sn::ConnAck{sn::ReturnCode::congestion});
  } else {
    send(s.peer, sn::Disconnect{});
  }
  end_session(s, false);
}

void Core::Impl::on_keep_alive_timer(Session& s) {
  if (s.state != ClientState::active || s.keep_alive_s == 0) return;
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
    if (s.peer.transport_id == e.transport_id && s.state != ClientState::disconnected &&
        s.state != ClientState::lost) {
      reached.push_back(id);
    }
  }
  log(LogLevel::warn, [&] {
    return "transport " + std::to_string(e.transport_id) + " is down (" + e.reason + "); " +
           std::to_string(reached.size()) + " client(s) lost";
  });
  for (const SessionId id : reached) {
    if (Session* s = by_id(id)) lose(*s, "its transport is down");
  }
}

void Core::Impl::lose(Session& s, const char* why) {
  ++counters_.clients_lost;
  // Without an upstream connection of its own (aggregating mode, a released sleeper), the gateway
  // publishes the will itself.
  const bool by_gateway = aggregating() || s.released;
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
  drop_switch(s);
  s.released = false;
  stop_fetch(s);
  if (s.conn) {
    out_->push_back(UpstreamDisconnect{*s.conn, fire_will});
    conns_.erase(*s.conn);
    s.conn.reset();
  }
  cancel(s, TimerKind::keep_alive);
  cancel(s, TimerKind::retry);
  cancel(s, TimerKind::handshake);
  cancel(s, TimerKind::sleep);
  if (const auto it = peers_.find(s.peer); it != peers_.end() && it->second == s.id) {
    peers_.erase(it);
  }
  if (!s.clean_session && s.established) {
    // §6.3/§6.12: without CleanSession the will data, topic ids, queued messages and the exchange
    // in flight outlive the connection. A session never accepted has nothing to keep.
    s.state = fire_will ? ClientState::lost : ClientState::disconnected;
    return;
  }
  drop_subscriptions(s);
  const SessionId id = s.id;
  std::erase_if(pending_, [id](const auto& entry) { return entry.second.session == id; });
  client_ids_.erase(s.client_id);
  sessions_.erase(s.id);  // `s` dangles from here on
}

}  // namespace gateway::core
