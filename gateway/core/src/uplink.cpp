// What a client asks of the broker: REGISTER (§6.5), PUBLISH at QoS 0/1/2 (§6.6) and -1 (§6.8),
// SUBSCRIBE and UNSUBSCRIBE (§6.9). Acknowledgements that promise delivery (PUBACK, PUBREC) go
// out only once the broker has the message.

#include <algorithm>
#include <span>

#include "core_impl.hpp"
#include "peer_ip.hpp"
#include "sn_protocol/topic.hpp"

namespace gateway::core {
namespace {

// FNV-1a over what makes a PUBLISH the same message: topic id type, topic id, retain, data.
std::uint32_t qos2_digest(const sn::Publish& publish) {
  std::uint32_t h = 2166136261U;
  const auto mix = [&h](std::uint8_t octet) {
    h ^= octet;
    h *= 16777619U;
  };
  mix(static_cast<std::uint8_t>(publish.topic_id_type));
  mix(static_cast<std::uint8_t>(publish.topic_id >> 8));
  mix(static_cast<std::uint8_t>(publish.topic_id & 0xFFU));
  mix(publish.retain ? 1 : 0);
  for (const std::uint8_t octet : publish.data) mix(octet);
  return h;
}

}  // namespace

// Secure default: a gateway that admits only listed clients (auth.allowed_clients) takes QoS -1,
// which needs no CONNECT, only from listed addresses (absent list: none); without the client
// allow-list, from everyone unless the address list says otherwise.
bool Core::Impl::qos_minus_one_allowed_from(const sn::Peer& peer) const {
  const bool locked = config_.allowed_clients.has_value();
  if (!config_.qos_minus_one_from) return !locked;
  const std::size_t ip_octets = ip_size(peer.kind);
  // Serial and radio links have no IP address to list: filtered out only behind a client
  // allow-list.
  if (ip_octets == 0) return !locked;
  if (peer.address_size < ip_octets) return false;
  const auto ip = unmapped(peer.address_bytes().first(ip_octets));
  return std::any_of(config_.qos_minus_one_from->begin(), config_.qos_minus_one_from->end(),
                     [ip](const sn::Bytes& allowed) {
                       const auto octets = unmapped(allowed);
                       return std::equal(octets.begin(), octets.end(), ip.begin(), ip.end());
                     });
}

std::optional<std::string> Core::Impl::topic_for_publish(const Session* s, sn::TopicIdType type,
                                                         std::uint16_t id) const {
  switch (type) {
    case sn::TopicIdType::normal:
      if (s != nullptr) {
        if (const std::string* name = s->topics.name_of(id)) return *name;
      }
      return std::nullopt;
    case sn::TopicIdType::predefined:
      if (const auto it = predefined_by_id_.find(id); it != predefined_by_id_.end()) {
        return it->second;
      }
      return std::nullopt;
    case sn::TopicIdType::short_name: {
      std::string name = sn::short_topic_name(id);
      if (!sn::is_valid_topic_name(name)) return std::nullopt;
      return name;
    }
  }
  return std::nullopt;
}

void Core::Impl::on_register(Session& s, const sn::Register& reg) {
  if (!sn::is_valid_topic_name(reg.topic_name)) {
    // A REGISTER names one topic: wildcards have no place in it.
    send(s.peer, sn::RegAck{0, reg.msg_id, sn::ReturnCode::not_supported});
    return;
  }
  // A client registers a name to publish to it (§6.5): the publish rules decide.
  if (!acl_allows(s, AclAction::reg, reg.topic_name)) {
    send(s.peer, sn::RegAck{0, reg.msg_id, sn::ReturnCode::not_supported});
    return;
  }
  const auto id = s.topics.assign(reg.topic_name, config_.max_topics_per_client);
  if (!id) {
    send(s.peer, sn::RegAck{0, reg.msg_id, sn::ReturnCode::congestion});
    return;
  }
  send(s.peer, sn::RegAck{*id, reg.msg_id, sn::ReturnCode::accepted});
}

void Core::Impl::on_publish(Session& s, sn::Publish&& publish) {
  ++counters_.publish_in[static_cast<std::size_t>(publish.qos)];
  auto topic = topic_for_publish(&s, publish.topic_id_type, publish.topic_id);
  if (!topic) {
    // §6.6/§6.7: whatever the QoS, an unknown topic id is answered.
    send(s.peer, sn::PubAck{publish.topic_id, publish.msg_id, sn::ReturnCode::invalid_topic_id});
    return;
  }
  // Predefined ids and short names too: the topic, not how it was named, is what is allowed.
  // Answered at every QoS, like an unknown topic id.
  if (!acl_allows(s, AclAction::publish, *topic)) {
    send(s.peer, sn::PubAck{publish.topic_id, publish.msg_id, sn::ReturnCode::not_supported});
    return;
  }
  if (!upstream_ready(s)) {
    // The broker is away (aggregating mode keeps clients through an outage): never a silent
    // loss of what the client thinks accepted (§6.6); QoS 0 promised nothing.
    if (publish.qos == sn::QoS::qos0) {
      ++counters_.upstream_publish_failed;
    } else {
      send(s.peer, sn::PubAck{publish.topic_id, publish.msg_id, sn::ReturnCode::congestion});
    }
    return;
  }
  const ConnId conn = upstream_of(s);
  const auto qos = static_cast<std::uint8_t>(publish.qos);
  if (publish.qos != sn::QoS::qos0 && !s.qos2_in.contains(publish.msg_id) &&
      publishes_under_way_[conn] >= config_.max_queued_upstream) {
    // Bounded towards the broker: the client hears "not now" (§5.3.10 congestion) and retries,
    // instead of the gateway queueing without end.
    ++counters_.upstream_congested;
    send(s.peer, sn::PubAck{publish.topic_id, publish.msg_id, sn::ReturnCode::congestion});
    return;
  }
  ReqId req = 0;
  if (publish.qos == sn::QoS::qos2) {
    // Exactly once: the first copy goes upstream; a DUP resend before PUBREL only repeats
    // PUBREC, once the broker has the message.
    if (const auto it = s.qos2_in.find(publish.msg_id); it != s.qos2_in.end()) {
      ++counters_.duplicates_in;
      if (it->second.at_broker) send(s.peer, sn::PubRec{publish.msg_id});
      return;
    }
    // A copy of a PUBLISH already released, delivered late by the radio (after its PUBREL): the
    // client completed that exchange and waits for nothing. A retransmission says so (DUP); a
    // copy of the first transmission has the same content (a client reusing the id at once for
    // the same content could not be told apart from it anyway).
    const std::uint32_t digest = qos2_digest(publish);
    bool late_copy = false;
    for (std::size_t i = 0; i < s.released_qos2.size(); ++i) {
      late_copy = late_copy || (s.released_qos2[i] == publish.msg_id &&
                                (publish.dup || s.released_digest[i] == digest));
    }
    if (late_copy) {
      ++counters_.duplicates_in;
      log(LogLevel::debug, [&] {
        return "client " + s.client_id + ": late copy of QoS 2 PUBLISH " +
               std::to_string(publish.msg_id) + " after its PUBREL, dropped";
      });
      return;
    }
    s.qos2_in.emplace(publish.msg_id, Session::Qos2In{false, digest});
    req = next_req_++;
    pending_.emplace(req, Pending{Pending::Kind::pubrec, s.id, conn, publish.msg_id,
                                  publish.topic_id, {}, 0});
  } else if (publish.qos == sn::QoS::qos1) {
    req = next_req_++;
    pending_.emplace(req, Pending{Pending::Kind::puback, s.id, conn, publish.msg_id,
                                  publish.topic_id, {}, 0});
  }
  if (req != 0) ++publishes_under_way_[conn];
  out_->push_back(
      UpstreamPublish{conn, req, std::move(*topic), std::move(publish.data), qos, publish.retain});
}

void Core::Impl::on_publish_minus_one(const sn::Peer& peer, sn::Publish&& publish) {
  ++counters_.publish_in[3];
  const char* refusal = nullptr;
  std::optional<std::string> topic;
  if (!config_.qos_minus_one) {
    refusal = "QoS -1 is disabled";
  } else if (!qos_minus_one_allowed_from(peer)) {
    refusal = "the address may not publish at QoS -1";
  } else if (publish.topic_id_type == sn::TopicIdType::normal) {
    refusal = "QoS -1 needs a predefined topic id or a short topic name (§6.8)";
  } else if (topic = topic_for_publish(nullptr, publish.topic_id_type, publish.topic_id); !topic) {
    refusal = "unknown topic id";
  } else if (!qos_minus_one_up_) {
    refusal = "the QoS -1 upstream connection is down";
  }
  if (refusal != nullptr) {
    ++counters_.qos_minus_one_dropped;
    log(LogLevel::debug, [&] {
      return "dropped QoS -1 PUBLISH from " + sn::to_string(peer) + ": " + refusal;
    });
    return;
  }
  out_->push_back(UpstreamPublish{kQosMinusOneConn, 0, std::move(*topic), std::move(publish.data), 0,
                                  publish.retain});
}

void Core::Impl::on_pubrel(Session& s, const sn::PubRel& pubrel) {
  // A repeated PUBREL (our PUBCOMP was lost) still gets PUBCOMP.
  if (const auto it = s.qos2_in.find(pubrel.msg_id); it != s.qos2_in.end()) {
    s.released_at = static_cast<std::uint8_t>((s.released_at + 1) % s.released_qos2.size());
    s.released_qos2[s.released_at] = pubrel.msg_id;
    s.released_digest[s.released_at] = it->second.digest;
    s.qos2_in.erase(it);
  }
  send(s.peer, sn::PubComp{pubrel.msg_id});
}

// The session a completed request belongs to, if it is still there on the same connection; the
// request is forgotten either way.
Session* Core::Impl::pending_session(ReqId req, Pending& pending) {
  const auto it = pending_.find(req);
  if (it == pending_.end()) return nullptr;
  pending = it->second;
  pending_.erase(it);
  // A QoS 1 PUBLISH completed changes nothing the store keeps (PUBACK only); the others do (a
  // QoS 2 one is at the broker, a subscription granted or gone).
  Session* s = pending.kind == Pending::Kind::puback ? find(pending.session) : by_id(pending.session);
  if (s == nullptr || disposition(*s, Input::upstream_done) != Disposition::handle) return nullptr;
  // The connection a will update is closing still completes what it was asked (§6.4).
  if (aggregating()) return pending.conn == kQosMinusOneConn ? s : nullptr;
  if (s->conn() != pending.conn && s->retiring() != pending.conn) return nullptr;
  return s;
}

void Core::Impl::on_publish_done(const UpstreamPublishDone& e) {
  if (e.req != 0) {
    if (const auto it = publishes_under_way_.find(e.conn);
        it != publishes_under_way_.end() && it->second > 0 && --it->second == 0) {
      publishes_under_way_.erase(it);
    }
  }
  if (!e.ok) {
    // QoS 0 and -1 have no client to answer: this count is all that shows their loss.
    ++counters_.upstream_publish_failed;
    if (e.req == 0) {
      log(LogLevel::debug, [&] {
        return "the broker connection " + std::to_string(e.conn) + " did not take a QoS 0 PUBLISH";
      });
    }
  }
  Pending pending{};
  Session* s = pending_session(e.req, pending);
  if (s == nullptr) return;
  if (!e.ok) {
    // Never a silent loss: the client learns the broker did not take the message (§6.6).
    if (pending.kind == Pending::Kind::pubrec) s->qos2_in.erase(pending.msg_id);
    send(s->peer, sn::PubAck{pending.topic_id, pending.msg_id, sn::ReturnCode::congestion});
    return;
  }
  if (pending.kind == Pending::Kind::pubrec) {
    if (const auto q = s->qos2_in.find(pending.msg_id); q != s->qos2_in.end()) {
      q->second.at_broker = true;
    }
    send(s->peer, sn::PubRec{pending.msg_id});
  } else {
    send(s->peer, sn::PubAck{pending.topic_id, pending.msg_id, sn::ReturnCode::accepted});
  }
}

void Core::Impl::on_subscribe(Session& s, const sn::Subscribe& subscribe) {
  std::string filter;
  std::uint16_t topic_id = 0;
  switch (subscribe.topic_id_type) {
    case sn::TopicIdType::normal:
      if (!sn::is_valid_topic_filter(subscribe.topic_name)) {
        send(s.peer, sn::SubAck{sn::QoS::qos0, 0, subscribe.msg_id, sn::ReturnCode::not_supported});
        return;
      }
      filter = subscribe.topic_name;
      if (!acl_allows(s, AclAction::subscribe, filter)) {
        send(s.peer, sn::SubAck{sn::QoS::qos0, 0, subscribe.msg_id, sn::ReturnCode::not_supported});
        return;
      }
      if (!sn::has_wildcards(filter)) {
        // §6.9: the SUBACK carries the id the gateway will publish with; 0x0000 for wildcards.
        const auto id = s.topics.assign(filter, config_.max_topics_per_client);
        if (!id) {
          send(s.peer, sn::SubAck{sn::QoS::qos0, 0, subscribe.msg_id, sn::ReturnCode::congestion});
          return;
        }
        topic_id = *id;
      }
      break;
    case sn::TopicIdType::predefined: {
      const auto it = predefined_by_id_.find(subscribe.topic_id);
      if (it == predefined_by_id_.end()) {
        send(s.peer, sn::SubAck{sn::QoS::qos0, subscribe.topic_id, subscribe.msg_id,
                                sn::ReturnCode::invalid_topic_id});
        return;
      }
      filter = it->second;
      topic_id = subscribe.topic_id;
      break;
    }
    case sn::TopicIdType::short_name:
      filter = sn::short_topic_name(subscribe.topic_id);
      if (!sn::is_valid_topic_filter(filter)) {
        send(s.peer, sn::SubAck{sn::QoS::qos0, 0, subscribe.msg_id, sn::ReturnCode::not_supported});
        return;
      }
      break;
  }
  if (subscribe.topic_id_type != sn::TopicIdType::normal &&
      !acl_allows(s, AclAction::subscribe, filter)) {
    send(s.peer, sn::SubAck{sn::QoS::qos0, 0, subscribe.msg_id, sn::ReturnCode::not_supported});
    return;
  }
  s.rejected_topics.clear();  // a new subscription undoes earlier REGISTER rejections (§6.10)
  if (!upstream_ready(s)) {
    send(s.peer, sn::SubAck{sn::QoS::qos0, 0, subscribe.msg_id, sn::ReturnCode::congestion});
    return;
  }
  if (aggregating()) {
    aggregate_subscribe(s, std::move(filter), topic_id, subscribe);
    return;
  }
  const ReqId req = next_req_++;
  const auto qos = static_cast<std::uint8_t>(subscribe.qos);
  pending_.emplace(
      req, Pending{Pending::Kind::suback, s.id, *s.conn(), subscribe.msg_id, topic_id, filter, qos});
  out_->push_back(UpstreamSubscribe{*s.conn(), req, std::move(filter), qos});
}

void Core::Impl::on_subscribe_done(const UpstreamSubscribeDone& e) {
  if (aggregating()) {
    if (auto pending = take_pending(e.req)) aggregate_subscribe_done(*pending, e);
    return;
  }
  Pending pending{};
  Session* s = pending_session(e.req, pending);
  if (s == nullptr) return;
  if (pending.kind == Pending::Kind::resubscribe) {
    if (e.ok) {
      s->subscriptions[pending.filter] = std::min<std::uint8_t>(e.granted_qos, 2);
    } else {
      s->subscriptions.erase(pending.filter);
      log(LogLevel::warn, [&] {
        return "client " + s->client_id + ": the broker refused to restore the subscription to " +
               pending.filter;
      });
    }
    return;
  }
  if (!e.ok) {
    send(s->peer, sn::SubAck{sn::QoS::qos0, 0, pending.msg_id, sn::ReturnCode::not_supported});
    return;
  }
  const auto granted_qos = std::min<std::uint8_t>(e.granted_qos, 2);
  s->subscriptions[pending.filter] = granted_qos;
  const auto granted = static_cast<sn::QoS>(granted_qos);
  send(s->peer, sn::SubAck{granted, pending.topic_id, pending.msg_id, sn::ReturnCode::accepted});
}

void Core::Impl::on_unsubscribe(Session& s, const sn::Unsubscribe& unsubscribe) {
  std::string filter;
  switch (unsubscribe.topic_id_type) {
    case sn::TopicIdType::normal: filter = unsubscribe.topic_name; break;
    case sn::TopicIdType::predefined:
      if (const auto it = predefined_by_id_.find(unsubscribe.topic_id);
          it != predefined_by_id_.end()) {
        filter = it->second;
      }
      break;
    case sn::TopicIdType::short_name: filter = sn::short_topic_name(unsubscribe.topic_id); break;
  }
  if (!sn::is_valid_topic_filter(filter)) {
    // Nothing can be subscribed under this name, so there is nothing to undo.
    send(s.peer, sn::UnsubAck{unsubscribe.msg_id});
    return;
  }
  if (aggregating()) {
    aggregate_unsubscribe(s, filter, unsubscribe.msg_id);
    return;
  }
  if (auto* active = s.in<state::Active>(); active != nullptr && active->outage) {
    // The broker is away: the subscription ends here at once (a CleanSession=true connection
    // restores only what is left; a CleanSession=false session is told once it is back).
    if (s.subscriptions.erase(filter) != 0 && !s.clean_session) {
      active->outage->unsubscribe_later.push_back(filter);
    }
    send(s.peer, sn::UnsubAck{unsubscribe.msg_id});
    return;
  }
  const ReqId req = next_req_++;
  pending_.emplace(
      req, Pending{Pending::Kind::unsuback, s.id, *s.conn(), unsubscribe.msg_id, 0, filter, 0});
  out_->push_back(UpstreamUnsubscribe{*s.conn(), req, std::move(filter)});
}

void Core::Impl::on_unsubscribe_done(const UpstreamUnsubscribeDone& e) {
  Pending pending{};
  Session* s = pending_session(e.req, pending);
  if (s == nullptr) return;
  s->subscriptions.erase(pending.filter);
  send(s->peer, sn::UnsubAck{pending.msg_id});  // UNSUBACK has no return code (§5.4.18)
}

}  // namespace gateway::core
