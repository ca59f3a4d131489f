// Will updates while connected (§6.4): WILLTOPICUPD / WILLMSGUPD answered by WILLTOPICRESP /
// WILLMSGRESP. In aggregating mode the gateway keeps the will and publishes it itself, so an
// update is answered at once. In transparent mode the will is the upstream MQTT connection's own will, which
// MQTT only sets at CONNECT, so an update replaces the connection:
//
//   closing  the old connection gets a clean DISCONNECT (no will). Requests already made on it
//            are completed and answered (Paho finishes in-flight messages before it disconnects;
//            one it cannot finish is answered PUBACK "congestion", never dropped in silence).
//   opening  once the broker has let go of the old connection (so it cannot take the session
//            over and publish the old will), a new one connects with the same client id,
//            CleanSession and keep-alive and the new will.
//   done     the RESPs go out; a CleanSession=true client gets its subscriptions back (a
//            CleanSession=false one keeps them in the broker's session, with the QoS 1/2 messages
//            queued meanwhile); the frames that needed the broker and were held are handled in
//            order.
//
// The client stays active throughout: its keep-alive, PINGREQs, REGISTERs and the acks of
// downlink exchanges are served as usual.

#include "core_impl.hpp"
#include "sn_protocol/topic.hpp"

namespace gateway::core {

bool Core::Impl::held_during_switch(sn::MsgType type) {
  switch (type) {
    case sn::MsgType::publish:
    case sn::MsgType::subscribe:
    case sn::MsgType::unsubscribe:
    case sn::MsgType::disconnect: return true;
    default: return false;
  }
}

void Core::Impl::on_will_topic_upd(Session& s, const sn::WillTopicUpd& upd) {
  if (in_outage(s)) {
    // The broker is away: the will cannot change with it; the client tries again later.
    send(s.peer, sn::WillTopicResp{sn::ReturnCode::congestion});
    return;
  }
  std::optional<Will> will;
  if (!upd.topic.empty()) {
    if (!sn::is_valid_topic_name(upd.topic) || upd.qos == sn::QoS::minus_one ||
        !acl_allows(s, AclAction::will, upd.topic)) {
      send(s.peer, sn::WillTopicResp{sn::ReturnCode::not_supported});
      return;
    }
    // A new topic keeps the message already stored (WILLMSGUPD changes it separately).
    will = Will{upd.topic, s.will ? s.will->payload : sn::Bytes{},
                static_cast<std::uint8_t>(upd.qos), upd.retain};
  }
  if (will == s.will) {
    send(s.peer, sn::WillTopicResp{sn::ReturnCode::accepted});
    return;
  }
  s.will = std::move(will);
  log(LogLevel::info, [&] {
    return "client " + s.client_id +
           (s.will ? " updated its will topic to " + s.will->topic : " deleted its will");
  });
  if (aggregating()) {
    // The gateway publishes wills itself: nothing upstream to change.
    send(s.peer, sn::WillTopicResp{sn::ReturnCode::accepted});
    return;
  }
  begin_switch(s);
  std::get<state::Active>(s.state).change->resps.emplace_back(
      sn::WillTopicResp{sn::ReturnCode::accepted});
}

void Core::Impl::on_will_msg_upd(Session& s, const sn::WillMsgUpd& upd) {
  if (in_outage(s)) {
    send(s.peer, sn::WillMsgResp{sn::ReturnCode::congestion});
    return;
  }
  if (!s.will) {
    // Nothing to attach the message to: the client deleted its will or never had one.
    send(s.peer, sn::WillMsgResp{sn::ReturnCode::not_supported});
    return;
  }
  if (s.will->payload == upd.message) {
    send(s.peer, sn::WillMsgResp{sn::ReturnCode::accepted});
    return;
  }
  s.will->payload = upd.message;
  log(LogLevel::info, [&] { return "client " + s.client_id + " updated its will message"; });
  if (aggregating()) {
    send(s.peer, sn::WillMsgResp{sn::ReturnCode::accepted});
    return;
  }
  begin_switch(s);
  std::get<state::Active>(s.state).change->resps.emplace_back(
      sn::WillMsgResp{sn::ReturnCode::accepted});
}

// Only an active client updates its will (the state table).
void Core::Impl::begin_switch(Session& s) {
  auto& active = std::get<state::Active>(s.state);
  if (active.change) {
    // Closing: the connection about to be opened will carry the will as it is now. Opening: it
    // was asked for with the older will: switch again once it is up.
    if (active.change->stage == state::WillChange::Stage::opening) active.change->dirty = true;
    return;
  }
  active.change = std::make_unique<state::WillChange>();
  close_for_switch(active);
}

void Core::Impl::close_for_switch(state::Active& active) {
  active.change->stage = state::WillChange::Stage::closing;
  active.change->retiring = active.conn;
  active.conn.reset();
  // conns_ keeps the retiring connection: its completions, messages and Disconnected find the
  // session.
  out_->push_back(UpstreamDisconnect{*active.change->retiring, false});
}

void Core::Impl::on_upstream_disconnected(const UpstreamDisconnected& e) {
  Session* s = by_conn(e.conn);
  if (s == nullptr) return;
  if (s->retiring() != e.conn) {
    // The session let go of this connection when it asked for the disconnect.
    if (s->conn() != e.conn) conns_.erase(e.conn);
    return;
  }
  const InputScope scope(*this, Input::upstream_disconnected);
  conns_.erase(e.conn);
  auto& active = std::get<state::Active>(s->state);
  active.change->retiring.reset();
  active.change->stage = state::WillChange::Stage::opening;
  active.change->dirty = false;
  const ConnId conn = next_conn_++;
  active.conn = conn;
  conns_[conn] = s->id;
  log(LogLevel::debug, [&] {
    return "client " + s->client_id + ": reconnecting upstream to change the will";
  });
  out_->push_back(connect_action(*s, conn));
}

void Core::Impl::finish_switch(Session& s) {
  auto& active = std::get<state::Active>(s.state);
  if (active.change->dirty) {
    // The will changed again while this connection was being opened.
    active.change->dirty = false;
    close_for_switch(active);
    return;
  }
  std::list<sn::Message> held = std::move(active.change->held);
  for (const auto& resp : active.change->resps) send(s.peer, resp);
  active.change.reset();
  // The old connection's session ended with it; the broker keeps no subscription for us.
  if (s.clean_session) restore_subscriptions(s, *active.conn);
  // Handle what waited, in order. Should another will update start meanwhile, the rest waits
  // again, ahead of anything held later.
  const SessionId id = s.id;
  while (!held.empty()) {
    Session* current = by_id(id);
    if (current == nullptr) return;
    if (auto* now_active = current->in<state::Active>(); now_active != nullptr && now_active->change) {
      now_active->change->held.splice(now_active->change->held.begin(), held);
      return;
    }
    sn::Message message = std::move(held.front());
    held.pop_front();
    on_message(current->peer, std::move(message));
  }
}

}  // namespace gateway::core
