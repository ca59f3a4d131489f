// Dispatch: frames to handlers through the client state table, upstream events to sessions,
// timers, and the one place frames are encoded and sent.

#include <bit>
#include <type_traits>
#include <utility>
#include <variant>

#include "core_impl.hpp"
#include "peer_ip.hpp"
#include "forwarders.hpp"

namespace gateway::core {

Core::Core(CoreConfig config) : impl_(std::make_unique<Impl>(std::move(config))) {}
Core::~Core() = default;
void Core::start(Time now, Actions& out) { impl_->start(now, out); }
void Core::handle(Event event, Time now, Actions& out) { impl_->handle(std::move(event), now, out); }
void Core::shutdown(Time now, Actions& out) { impl_->shutdown(now, out); }
std::optional<Time> Core::next_deadline() const { return impl_->next_deadline(); }
const Counters& Core::counters() const { return impl_->counters_; }
std::size_t Core::session_count() const { return impl_->sessions_.size(); }
std::vector<std::pair<std::string, std::uint64_t>> Core::stats() const { return impl_->stats(); }
void Core::restore(std::vector<SessionRecord> records, Time now, Actions& out) {
  impl_->now_ = now;
  impl_->out_ = &out;
  impl_->restore(std::move(records));
}
void Core::take_changes(SessionChanges& out) { impl_->take_changes(out); }
void Core::reconfigure(CoreConfig next, Time now, Actions& out) {
  impl_->now_ = now;
  impl_->out_ = &out;
  impl_->reconfigure(std::move(next));
}

Core::Impl::Impl(CoreConfig config)
    : config_(std::move(config)),
      qos_minus_one_client_id_(config_.client_id_prefix + "mqttsn-gw-" +
                               std::to_string(config_.gateway_id) + "-qos-1"),
      random_(config_.random_seed) {
  index_config();
}

void Core::Impl::index_config() {
  predefined_by_id_.clear();
  predefined_by_name_.clear();
  for (const auto& topic : config_.predefined) {
    predefined_by_id_.emplace(topic.id, topic.name);
    predefined_by_name_.emplace(topic.name, topic.id);
  }
  acl_.reset();
  if (config_.acl) acl_.emplace(*config_.acl);
}

void Core::Impl::reconfigure(CoreConfig next) {
  const bool wanted_before = gateway_connection_wanted();
  config_.log_level = next.log_level;
  config_.allowed_clients = std::move(next.allowed_clients);
  config_.qos_minus_one_from = std::move(next.qos_minus_one_from);
  config_.acl = std::move(next.acl);
  config_.predefined = std::move(next.predefined);
  index_config();
  if (next.stats_interval != config_.stats_interval) {
    config_.stats_interval = next.stats_interval;
    ++stats_generation_;  // the round already scheduled is void
    if (config_.stats_interval.count() > 0) {
      timers_.push(TimerEntry{now_ + config_.stats_interval, 0, TimerKind::stats, stats_generation_});
    }
  }
  // Statistics may be what first needs the gateway's own connection.
  if (!wanted_before && gateway_connection_wanted()) {
    out_->push_back(UpstreamConnect{kQosMinusOneConn, qos_minus_one_client_id_, 60, true, std::nullopt});
  }
  log(LogLevel::info, [&] {
    return "configuration reloaded: " + std::to_string(config_.predefined.size()) +
           " predefined topic(s), " +
           (config_.acl ? std::to_string(config_.acl->size()) + " ACL rule(s)" : std::string("no ACL")) +
           ", " +
           (config_.allowed_clients ? std::to_string(config_.allowed_clients->size()) + " allowed client(s)"
                                    : std::string("every client allowed"));
  });
}

bool Core::Impl::acl_allows(const Session& s, AclAction action, const std::string& topic) {
  if (!acl_) return true;
  const bool allowed = action == AclAction::subscribe ? acl_->may_subscribe(s.client_id, topic)
                                                      : acl_->may_publish(s.client_id, topic);
  if (allowed) return true;
  ++counters_.acl_denied;
  log_limited(LogKey::acl, LogLevel::info, [&] {
    static constexpr const char* kVerb[] = {"register", "publish to", "subscribe to",
                                            "set a will on"};
    return "ACL: client " + s.client_id + " may not " + kVerb[static_cast<int>(action)] + " " +
           topic;
  });
  return false;
}

void Core::Impl::start(Time now, Actions& out) {
  now_ = now;
  out_ = &out;
  if (config_.stats_interval.count() > 0) {
    timers_.push(TimerEntry{now_ + config_.stats_interval, 0, TimerKind::stats, stats_generation_});
  }
  if (gateway_connection_wanted()) {
    // §6.8: QoS -1 publishers have no connection of their own; they share this one. §6.1: it also
    // tells whether the gateway is connected to a server.
    out.push_back(UpstreamConnect{kQosMinusOneConn, qos_minus_one_client_id_, 60, true, std::nullopt});
  }
}

void Core::Impl::shutdown(Time now, Actions& out) {
  now_ = now;
  out_ = &out;
  for (auto& [id, s] : sessions_) {
    if (const auto conn = s.conn()) out.push_back(UpstreamDisconnect{*conn, false});
    // An asleep client's radio is off: it learns at its next PINGREQ, which finds no session.
    if (s.kind() == StateKind::active || s.kind() == StateKind::awake) {
      send(s.peer, sn::Disconnect{});
    }
  }
  if (gateway_connection_wanted()) out.push_back(UpstreamDisconnect{kQosMinusOneConn, false});
  qos_minus_one_up_ = false;
  // An administrative stop delivers nothing more: what is still queued stays the broker's to
  // send again (to a CleanSession=false client's next session), so none of it is acknowledged.
  ack_ledger_.open = false;
  ack_ledger_.due.clear();
  // The store keeps the sessions as they were before the stop (the app wrote them first).
  dirty_.clear();
  removed_.clear();
  sessions_.clear();
  peers_.clear();
  client_ids_.clear();
  conns_.clear();
  pending_.clear();
  timers_ = {};
}

void Core::Impl::settle_acks() {
  for (const UpstreamAck& ack : ack_ledger_.due) {
    out_->emplace_back(std::in_place_type<UpstreamAck>, ack);
  }
  ack_ledger_.due.clear();
}

void Core::Impl::handle(Event event, Time now, Actions& out) {
  now_ = now;
  out_ = &out;
  std::visit(
      [this](auto& e) {
        using T = std::decay_t<decltype(e)>;
        if constexpr (std::is_same_v<T, FrameReceived>) {
          frame_identity_ = e.identity;  // for on_connect(), while this frame is handled
          on_frame(e);
          frame_identity_ = {};
        } else if constexpr (std::is_same_v<T, UpstreamConnected>) {
          on_upstream_connected(e);
        } else if constexpr (std::is_same_v<T, UpstreamConnectFailed>) {
          on_upstream_connect_failed(e);
        } else if constexpr (std::is_same_v<T, UpstreamConnectionLost>) {
          on_upstream_lost(e);
        } else if constexpr (std::is_same_v<T, UpstreamDisconnected>) {
          on_upstream_disconnected(e);
        } else if constexpr (std::is_same_v<T, UpstreamMessage>) {
          on_upstream_message(std::move(e));
        } else if constexpr (std::is_same_v<T, UpstreamPublishDone>) {
          on_publish_done(e);
        } else if constexpr (std::is_same_v<T, UpstreamSubscribeDone>) {
          on_subscribe_done(e);
        } else if constexpr (std::is_same_v<T, UpstreamUnsubscribeDone>) {
          on_unsubscribe_done(e);
        } else if constexpr (std::is_same_v<T, PeerGone>) {
          on_peer_gone(e);
        } else if constexpr (std::is_same_v<T, TransportDown>) {
          on_transport_down(e);
        } else {
          static_assert(std::is_same_v<T, TimerExpired>);
          on_timer();
        }
      },
      event);
  settle_acks();
}

void Core::Impl::on_frame(const FrameReceived& frame) {
  ++counters_.frames_in;
  auto decoded = sn::decode(frame.bytes);
  if (!decoded) {
    ++counters_.malformed;
    if (auto refusal = sn::refusal_of(frame.bytes)) {
      on_refused(frame.peer, std::move(*refusal));
      return;
    }
    log(LogLevel::debug, [&] {
      return "dropped malformed frame from " + sn::to_string(frame.peer) + ": " +
             sn::to_string(decoded.error());
    });
    return;
  }
  sn::Packet packet = std::move(decoded).value();
  if (auto* encapsulated = std::get_if<sn::Encapsulated>(&packet)) {
    // §5.5: each (forwarder, wireless node id) is a client of its own.
    if (!admit_forwarder(config_, frame.peer, *out_)) return;
    sn::Peer node = frame.peer;
    if (frame.peer.forwarded() || !node.set_node_id(encapsulated->node_id)) {
      ++counters_.malformed;
      log(LogLevel::debug, [&] {
        return "dropped encapsulated frame from " + sn::to_string(frame.peer) +
               ": node id unusable";
      });
      return;
    }
    on_message(node, std::move(encapsulated->message));
    return;
  }
  on_message(frame.peer, std::visit([](auto&& m) -> sn::Message {
                           using T = std::decay_t<decltype(m)>;
                           if constexpr (std::is_same_v<T, sn::Encapsulated>) {
                             return std::move(m.message);  // handled above; keeps visit total
                           } else {
                             return std::forward<decltype(m)>(m);
                           }
                         },
                         std::move(packet)));
}

void Core::Impl::on_message(const sn::Peer& peer, sn::Message&& message) {
  const sn::MsgType type = sn::type_of(message);
  const auto at = peers_.find(peer);
  Session* s = at != peers_.end() ? find(at->second) : nullptr;
  // A QoS 0/1 PUBLISH and a PINGREQ change nothing the store keeps (a wake-up changes the state,
  // which enter() notes): the busiest inputs cost the store nothing. Everything else is noted.
  const auto* publish_in = std::get_if<sn::Publish>(&message);
  const bool store_untouched =
      type == sn::MsgType::pingreq ||
      (publish_in != nullptr && (publish_in->qos == sn::QoS::qos0 || publish_in->qos == sn::QoS::qos1));
  // A transport that proves who speaks (DTLS) may have a new handshake at the address of an
  // established client: frames of another identity never act for that client's session.
  if (s != nullptr && !frame_identity_.empty() && type != sn::MsgType::connect &&
      s->client_id != frame_identity_) {
    ++counters_.identity_mismatch;
    log_limited(LogKey::not_allowed, LogLevel::info, [&] {
      return std::string("dropped ") + sn::to_string(type) + " from " + sn::to_string(peer) +
             ": the DTLS identity " + std::string(frame_identity_) + " is not client " +
             s->client_id;
    });
    return;
  }
  if (s != nullptr && !store_untouched) touch(*s);
  // Any frame shows the client is alive (§6.11), whatever it asks.
  if (s != nullptr) s->last_seen = now_;
  // A flood of CONNECT or SEARCHGW from one address (spoofed source ports) is cut before it
  // costs a session, an upstream connection or an answer.
  if ((type == sn::MsgType::searchgw || type == sn::MsgType::connect) && !within_rate(peer)) {
    return;
  }
  // Messages that need no session.
  if (type == sn::MsgType::searchgw) {
    on_searchgw(peer, std::get<sn::SearchGw>(message));
    return;
  }
  if (type == sn::MsgType::connect) {
    const InputScope scope(*this, Input::connect);
    on_connect(peer, std::get<sn::Connect>(message));
    return;
  }
  if (auto* publish = std::get_if<sn::Publish>(&message);
      publish != nullptr && publish->qos == sn::QoS::minus_one) {
    on_publish_minus_one(peer, std::move(*publish));
    return;
  }
  if (auto* ping = std::get_if<sn::PingReq>(&message); ping != nullptr && ping->client_id) {
    // §6.14: a PINGREQ naming its client wakes that client wherever it comes from; over DTLS only
    // from the identity that is that client.
    if (!frame_identity_.empty() && *ping->client_id != frame_identity_) {
      ++counters_.identity_mismatch;
      log_limited(LogKey::not_allowed, LogLevel::info, [&] {
        return "refused PINGREQ for client " + *ping->client_id + " from " +
               sn::to_string(peer) + ": the DTLS identity is " + std::string(frame_identity_);
      });
      send(peer, sn::Disconnect{});
      return;
    }
    const InputScope scope(*this, Input::pingreq);
    if (on_named_pingreq(peer, *ping->client_id)) return;
  }

  const auto input = input_of(type);
  if (!input) {
    // A message only a gateway sends (or GWINFO, ADVERTISE): no meaning coming from a client.
    ++counters_.unexpected;
    log(LogLevel::debug, [&] {
      return std::string("ignored ") + sn::to_string(type) + " from " + sn::to_string(peer);
    });
    return;
  }
  // Without a session, a frame is treated as in the disconnected state.
  const Disposition what =
      s != nullptr ? disposition(*s, *input) : rule(*input, StateKind::disconnected).what;
  if (what == Disposition::ignore) {
    ++counters_.unexpected;
    log(LogLevel::debug, [&] {
      return std::string("ignored ") + sn::to_string(type) + " from " + sn::to_string(peer) +
             (s != nullptr ? std::string(" in state ") + to_string(s->kind()) : " (no session)");
    });
    return;
  }
  if (what == Disposition::disconnect) {
    // §6.12: the gateway cannot tell which connection this belongs to; a sleeping client must
    // CONNECT before it asks anything of the broker (§6.14).
    ++counters_.no_session;
    if (s != nullptr && is_sleeping(s->kind())) {
      log(LogLevel::debug, [&] {
        return std::string("refused ") + sn::to_string(type) + " from client " + s->client_id +
               " while " + to_string(s->kind()) + ": it must CONNECT first";
      });
    }
    send(peer, sn::Disconnect{});
    return;
  }
  if (s == nullptr) {
    // Only DISCONNECT is handled without a session: acknowledge it (§6.12).
    send(peer, sn::Disconnect{});
    return;
  }
  if (what == Disposition::abort) {
    abort_handshake(*s, *input);
    return;
  }
  if (auto* active = s->in<state::Active>(); active != nullptr && active->change &&
                                             held_during_switch(type)) {
    // The upstream connection is being replaced for a will update (§6.4): wait for the new one.
    if (active->change->held.size() < config_.max_queued_per_client) {
      active->change->held.push_back(std::move(message));
      return;
    }
    ++counters_.unexpected;
    log(LogLevel::warn, [&] {
      return std::string("client ") + s->client_id + ": too many frames while the upstream " +
             "connection is replaced; refused " + sn::to_string(type);
    });
    if (const auto* publish = std::get_if<sn::Publish>(&message);
        publish != nullptr && publish->qos != sn::QoS::qos0) {
      send(peer, sn::PubAck{publish->topic_id, publish->msg_id, sn::ReturnCode::congestion});
    }
    return;
  }
  const InputScope scope(*this, *input);
  std::visit(
      [this, s](auto& m) {
        using T = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<T, sn::WillTopic>) {
          on_will_topic(*s, m);
        } else if constexpr (std::is_same_v<T, sn::WillMsg>) {
          on_will_msg(*s, m);
        } else if constexpr (std::is_same_v<T, sn::Register>) {
          on_register(*s, m);
        } else if constexpr (std::is_same_v<T, sn::RegAck>) {
          on_regack(*s, m);
        } else if constexpr (std::is_same_v<T, sn::Publish>) {
          on_publish(*s, std::move(m));
        } else if constexpr (std::is_same_v<T, sn::PubAck>) {
          on_puback(*s, m);
        } else if constexpr (std::is_same_v<T, sn::PubRec>) {
          on_pubrec(*s, m);
        } else if constexpr (std::is_same_v<T, sn::PubRel>) {
          on_pubrel(*s, m);
        } else if constexpr (std::is_same_v<T, sn::PubComp>) {
          on_pubcomp(*s, m);
        } else if constexpr (std::is_same_v<T, sn::Subscribe>) {
          on_subscribe(*s, m);
        } else if constexpr (std::is_same_v<T, sn::Unsubscribe>) {
          on_unsubscribe(*s, m);
        } else if constexpr (std::is_same_v<T, sn::PingReq>) {
          on_pingreq(*s);
        } else if constexpr (std::is_same_v<T, sn::Disconnect>) {
          on_disconnect(*s, m);
        } else if constexpr (std::is_same_v<T, sn::WillTopicUpd>) {
          on_will_topic_upd(*s, m);
        } else if constexpr (std::is_same_v<T, sn::WillMsgUpd>) {
          on_will_msg_upd(*s, m);
        }
      },
      message);
}

// A request whose content is invalid (decode() refused it, but its type and ids are sound) gets
// the rejection the spec provides, never silence: its sender would retransmit and finally
// declare the gateway lost (§6.13). The session's state decides as for a valid frame: DISCONNECT
// without a connection (§6.12), an aborted will handshake, nothing where it means nothing.
void Core::Impl::on_refused(const sn::Peer& from, sn::Refusal&& refusal) {
  sn::Peer peer = from;
  if (!refusal.node_id.empty()) {
    // §5.5: the node behind the forwarder is the client.
    if (!admit_forwarder(config_, from, *out_)) return;
    if (from.forwarded() || !peer.set_node_id(refusal.node_id)) return;
  }
  log(LogLevel::info, [&] {
    return std::string("refused ") + sn::to_string(refusal.type) + " from " +
           sn::to_string(peer) + ": " + sn::to_string(refusal.error);
  });
  if (refusal.type == sn::MsgType::connect) {
    // An empty or ill-formed client id, or another protocol (§5.3.8): no session is touched and
    // no upstream connection opened.
    send(peer, sn::ConnAck{sn::ReturnCode::not_supported});
    return;
  }
  const auto input = input_of(refusal.type);
  if (!input) return;  // a message only gateways send
  const bool qos_minus_one = (refusal.flags & 0x60U) == 0x60U;  // §5.3.4 QoS bits 0b11
  if (refusal.type == sn::MsgType::publish && qos_minus_one) {
    ++counters_.qos_minus_one_dropped;  // no session to answer (§6.8)
    return;
  }
  Session* s = by_peer(peer);
  if (s != nullptr) s->last_seen = now_;
  const Disposition what =
      s != nullptr ? disposition(*s, *input) : rule(*input, StateKind::disconnected).what;
  if (what == Disposition::ignore) return;
  if (what == Disposition::disconnect || s == nullptr) {
    ++counters_.no_session;
    send(peer, sn::Disconnect{});
    return;
  }
  if (what == Disposition::abort) {
    abort_handshake(*s, *input);
    return;
  }
  const auto no = sn::ReturnCode::not_supported;
  switch (refusal.type) {
    case sn::MsgType::willtopic: {
      // An ill-formed will topic ends the attempt, as an invalid one does.
      const InputScope scope(*this, *input);
      send(peer, sn::ConnAck{no});
      end_session(*s, false);
      return;
    }
    case sn::MsgType::reg: send(peer, sn::RegAck{0, refusal.msg_id, no}); return;
    case sn::MsgType::publish:
      send(peer, sn::PubAck{refusal.topic_id, refusal.msg_id, no});
      return;
    case sn::MsgType::subscribe: send(peer, sn::SubAck{sn::QoS::qos0, 0, refusal.msg_id, no}); return;
    case sn::MsgType::unsubscribe: send(peer, sn::UnsubAck{refusal.msg_id}); return;  // no code
    case sn::MsgType::willtopicupd: send(peer, sn::WillTopicResp{no}); return;  // will unchanged
    default: return;  // acks and PINGREQ with an ill-formed field: nothing to answer
  }
}

void Core::Impl::abort_handshake(Session& s, Input input) {
  const InputScope scope(*this, input);
  ++counters_.unexpected;
  log(LogLevel::info, [&] {
    return std::string("client ") + s.client_id + " sent " + to_string(input) + " while " +
           to_string(s.kind()) + "; will handshake aborted";
  });
  send(s.peer, sn::Disconnect{});
  end_session(s, false);
}

void Core::Impl::send(const sn::Peer& peer, const sn::Message& message) {
  ++counters_.frames_out;
  if (peer.forwarded()) {
    const auto node = peer.node_id_bytes();
    sn::Encapsulated wrapped{0, sn::Bytes(node.begin(), node.end()), message};
    out_->push_back(SendFrame{peer.forwarder(), sn::encode(sn::Packet{std::move(wrapped)})});
    return;
  }
  out_->push_back(SendFrame{peer, sn::encode(message)});
}

std::size_t Core::Impl::max_frame(const sn::Peer& peer) const {
  std::size_t limit = sn::kMaxMessageSize;
  if (peer.transport_id < config_.max_frame_size.size()) {
    limit = config_.max_frame_size[peer.transport_id];
  }
  // The encapsulation header travels in the same frame (§5.5).
  return peer.forwarded() ? limit - std::min<std::size_t>(limit, 3 + peer.node_id_size) : limit;
}

void Core::Impl::arm(Session& s, TimerKind kind, Time at) {
  timers_.push(TimerEntry{at, s.id, kind, s.timer_gen[static_cast<std::size_t>(kind)]});
}

void Core::Impl::cancel(Session& s, TimerKind kind) { ++s.timer_gen[static_cast<std::size_t>(kind)]; }

std::optional<Time> Core::Impl::next_deadline() const {
  if (timers_.empty()) return std::nullopt;
  return timers_.top().at;
}

void Core::Impl::on_timer() {
  while (!timers_.empty() && timers_.top().at <= now_) {
    const TimerEntry entry = timers_.top();
    timers_.pop();
    if (entry.kind == TimerKind::qos_minus_one_reconnect) {
      if (entry.generation == qos_minus_one_generation_ && !qos_minus_one_up_) {
        out_->push_back(
            UpstreamConnect{kQosMinusOneConn, qos_minus_one_client_id_, 60, true, std::nullopt});
      }
      continue;
    }
    if (entry.kind == TimerKind::stats) {
      if (entry.generation == stats_generation_) publish_stats();
      continue;
    }
    if (entry.kind == TimerKind::advertise) {
      if (entry.generation == advertise_generation_ && qos_minus_one_up_) advertise();
      continue;
    }
    Session* s = by_id(entry.session);
    if (s == nullptr || s->timer_gen[static_cast<std::size_t>(entry.kind)] != entry.generation) {
      continue;  // stale: the session or the timer is gone
    }
    Input input = Input::keep_alive_timer;
    switch (entry.kind) {
      case TimerKind::keep_alive: input = Input::keep_alive_timer; break;
      case TimerKind::retry: input = Input::retry_timer; break;
      case TimerKind::sleep: input = Input::sleep_timer; break;
      case TimerKind::settle: input = Input::settle_timer; break;
      case TimerKind::reconnect: input = Input::reconnect_timer; break;
      case TimerKind::handshake: input = Input::handshake_timer; break;
      case TimerKind::qos_minus_one_reconnect:
      case TimerKind::advertise:
      case TimerKind::stats: continue;
    }
    if (disposition(*s, input) != Disposition::handle) continue;
    const InputScope scope(*this, input);
    switch (input) {
      case Input::keep_alive_timer: on_keep_alive_timer(*s); break;
      case Input::retry_timer: on_retry_timer(*s); break;
      case Input::sleep_timer: on_sleep_timer(*s); break;
      case Input::settle_timer: on_settle_timer(*s); break;
      case Input::reconnect_timer: on_reconnect_timer(*s); break;
      default:
        log(LogLevel::info, [&] {
          return "client " + s->client_id + " abandoned the will handshake";
        });
        end_session(*s, false);
        break;
    }
  }
}

bool Core::Impl::allowed(const Session& s, Targets to_kind) {
  const StateKind from = s.kind();
  if (to_kind == to(from) || (rule(input_, from).next & to_kind) != 0) return true;
  ++counters_.unlisted_transitions;
  out_->push_back(Log{LogLevel::error,
                      "client " + s.client_id + ": " + to_string(input_) + " in state " +
                          to_string(from) + " led to " +
                          (to_kind == kGone ? std::string("the end of the session")
                                            : std::string("state ") +
                                                  to_string(static_cast<StateKind>(
                                                      std::countr_zero(to_kind)))) +
                          ", which the transition table does not list"});
  return false;
}

void Core::Impl::enter(Session& s, SessionState next) {
  allowed(s, to(kind_of(next)));
  touch(s);
  leave_outage(s);
  s.state = std::move(next);
  if (is_connecting(s.kind())) {
    connecting_ids_.insert(s.id);
  } else {
    connecting_ids_.erase(s.id);
  }
}

bool Core::Impl::within_rate(const sn::Peer& peer) {
  if (config_.connect_rate_per_address == 0) return true;
  const std::size_t size = ip_size(peer.kind);
  if (size == 0 || peer.address_size < size) return true;  // serial, radio: nobody forges them
  const auto octets = peer.address_bytes().first(size);
  std::string key(octets.begin(), octets.end());
  const double burst = config_.connect_burst_per_address;
  // A bucket's tokens now: what it had plus the rate since, up to the burst.
  const auto refilled = [&](const Bucket& bucket) {
    const double refill = static_cast<double>((now_ - bucket.at).count()) *
                          config_.connect_rate_per_address / 1000.0;
    return std::min(burst, bucket.tokens + refill);
  };
  if (buckets_.size() >= kMaxBuckets && !buckets_.contains(key)) {
    // Bounded: forget the addresses whose allowance is whole again (they lose nothing), and if
    // that is not enough, all of them (each starts over with a full burst).
    std::erase_if(buckets_, [&](const auto& entry) { return refilled(entry.second) >= burst; });
    if (buckets_.size() >= kMaxBuckets) buckets_.clear();
  }
  auto [it, fresh] = buckets_.try_emplace(std::move(key), Bucket{burst, now_});
  Bucket& bucket = it->second;
  if (!fresh) {
    bucket.tokens = refilled(bucket);
    bucket.at = now_;
  }
  if (bucket.tokens >= 1.0) {
    bucket.tokens -= 1.0;
    return true;
  }
  ++counters_.rate_limited;
  log_limited(LogKey::rate_limited, LogLevel::warn, [&] {
    return "dropped CONNECT/SEARCHGW from " + sn::to_string(peer) + ": more than " +
           std::to_string(config_.connect_rate_per_address) + " a second from its address";
  });
  return false;
}

void Core::Impl::leave_outage(Session& s) {
  auto* active = s.in<state::Active>();
  if (active == nullptr || !active->outage) return;
  if (active->outage->connecting) --reconnects_in_flight_;
  active->outage.reset();
}

void Core::Impl::let_go(Session& s, bool fire_will) {
  if (const auto retiring = s.retiring()) conns_.erase(*retiring);
  if (const auto conn = s.conn()) {
    out_->push_back(UpstreamDisconnect{*conn, fire_will});
    conns_.erase(*conn);
  }
}

void Core::Impl::cancel_session_timers(Session& s) {
  cancel(s, TimerKind::keep_alive);
  cancel(s, TimerKind::retry);
  cancel(s, TimerKind::handshake);
  cancel(s, TimerKind::sleep);
  cancel(s, TimerKind::settle);
  cancel(s, TimerKind::reconnect);
}

void Core::Impl::log(LogLevel level, const std::function<std::string()>& text) {
  if (level < config_.log_level) return;
  out_->push_back(Log{level, text()});
}

Session* Core::Impl::by_peer(const sn::Peer& peer) {
  const auto it = peers_.find(peer);
  return it == peers_.end() ? nullptr : by_id(it->second);
}

Session* Core::Impl::by_conn(ConnId conn) {
  const auto it = conns_.find(conn);
  return it == conns_.end() ? nullptr : by_id(it->second);
}

Session* Core::Impl::by_id(SessionId id) {
  Session* s = find(id);
  // Every handler reaches its session through here (or enter()): what it may change is noted.
  if (s != nullptr) touch(*s);
  return s;
}

Session* Core::Impl::find(SessionId id) {
  const auto it = sessions_.find(id);
  return it == sessions_.end() ? nullptr : &it->second;
}

}  // namespace gateway::core
