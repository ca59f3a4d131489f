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
  std::optional<Will> will;
  if (!upd.topic.empty()) {
    if (!sn::is_valid_topic_name(upd.topic) || upd.qos == sn::QoS::minus_one) {
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
  s.will_resps.emplace_back(sn::WillTopicResp{sn::ReturnCode::accepted});
  begin_switch(s);
}

void Core::Impl::on_will_msg_upd(Session& s, const sn::WillMsgUpd& upd) {
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
  s.will_resps.emplace_back(sn::WillMsgResp{sn::ReturnCode::accepted});
  begin_switch(s);
}

void Core::Impl::begin_switch(Session& s) {
  switch (s.switching) {
    case Session::Switch::closing:
      return;  // the connection about to be opened will carry the will as it is now
    case Session::Switch::opening:
      s.will_dirty = true;  // asked for with the older will: switch again once it is up
      return;
    case Session::Switch::none: break;
  }
  s.switching = Session::Switch::closing;
  s.retiring = s.conn;
  s.conn.reset();
  // conns_ keeps the retiring connection: its completions, messages and Disconnected find `s`.
  out_->push_back(UpstreamDisconnect{*s.retiring, false});
}

void Core::Impl::on_upstream_disconnected(const UpstreamDisconnected& e) {
  Session* s = by_conn(e.conn);
  if (s == nullptr) return;
  if (s->retiring != e.conn) {
    // The session let go of this connection when it asked for the disconnect.
    if (s->conn != e.conn) conns_.erase(e.conn);
    return;
  }
  conns_.erase(e.conn);
  s->retiring.reset();
  s->switching = Session::Switch::opening;
  s->will_dirty = false;
  const ConnId conn = next_conn_++;
  s->conn = conn;
  conns_[conn] = s->id;
  log(LogLevel::debug, [&] {
    return "client " + s->client_id + ": reconnecting upstream to change the will";
  });
  out_->push_back(UpstreamConnect{conn, config_.client_id_prefix + s->client_id, s->keep_alive_s,
                                  s->clean_session, s->will});
}

void Core::Impl::finish_switch(Session& s) {
  if (s.will_dirty) {
    // The will changed again while this connection was being opened.
    s.switching = Session::Switch::none;
    begin_switch(s);
    return;
  }
  s.switching = Session::Switch::none;
  for (const auto& resp : s.will_resps) send(s.peer, resp);
  s.will_resps.clear();
  if (s.clean_session) {
    // The old connection's session ended with it; the broker keeps no subscription for us.
    for (const auto& [filter, qos] : s.subscriptions) {
      const ReqId req = next_req_++;
      pending_.emplace(req, Pending{Pending::Kind::resubscribe, s.id, *s.conn, 0, 0, filter, 0});
      out_->push_back(UpstreamSubscribe{*s.conn, req, filter, qos});
    }
  }
  // Handle what waited, in order; a will update among it may start another switch, and then the
  // rest waits again.
  const SessionId id = s.id;
  while (true) {
    Session* current = by_id(id);
    if (current == nullptr || current->switching != Session::Switch::none ||
        current->held.empty()) {
      return;
    }
    sn::Message message = std::move(current->held.front());
    current->held.pop_front();
    on_message(current->peer, std::move(message));
  }
}

void Core::Impl::drop_switch(Session& s) {
  if (s.retiring) conns_.erase(*s.retiring);
  s.retiring.reset();
  s.switching = Session::Switch::none;
  s.will_dirty = false;
  s.will_resps.clear();
  s.held.clear();
}

}  // namespace gateway::core
