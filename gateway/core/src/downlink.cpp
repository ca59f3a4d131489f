// What the broker sends a client: the gateway's publish procedure (§6.10). Messages queue per
// client in arrival order; one REGISTER or QoS 1/2 PUBLISH is in flight at a time (§6.6) and is
// retransmitted after T_retry, at most N_retry times, before the client is lost (§6.13).

#include "core_impl.hpp"
#include "sn_protocol/topic.hpp"

namespace gateway::core {

void Core::Impl::on_upstream_message(UpstreamMessage&& e) {
  // Released at the end of this call unless a queued copy took a share: nobody took it at QoS
  // 1/2, so the broker may forget it now.
  AckShare ack = e.ack != 0 ? std::make_shared<AckDebt>(ack_ledger_, e.conn, e.ack) : nullptr;
  if (aggregating() && e.conn == kQosMinusOneConn) {
    route(std::move(e), ack);
    return;
  }
  Session* s = by_conn(e.conn);
  // A session away has no connection of its own in transparent mode; the check is cheap.
  if (s == nullptr || disposition(*s, Input::upstream_message) != Disposition::handle ||
      is_away(s->kind())) {
    ++counters_.downlink_dropped;
    return;
  }
  const InputScope scope(*this, Input::upstream_message);
  if (s->conn() == e.conn) on_backlog_message(*s);
  deliver(*s, std::move(e.topic), std::move(e.payload), e.qos, e.retain, std::move(ack));
}

// One message for one client: queued in arrival order (or in the sleep buffer), then sent as far
// as the one-in-flight rule allows.
void Core::Impl::deliver(Session& session, std::string topic, sn::Bytes payload,
                         std::uint8_t qos_in, bool retain, AckShare ack) {
  Session* s = &session;
  if (s->rejected_topics.count(topic) != 0) {
    ++counters_.downlink_dropped;  // §6.10: the client unsubscribed by rejecting our REGISTER
    return;
  }
  const std::uint8_t qos = std::min<std::uint8_t>(qos_in, 2);
  // Only a QoS 1/2 copy waits for its receiver's answer; a QoS 0 copy is owed nothing. In
  // aggregating mode a sleeper's copy is not waited for either: its acknowledgement may be hours
  // away, and the broker's window on the one shared connection would stall every other client.
  // With persistence, a CleanSession=false client's copy is the store's once written: the app
  // executes the acknowledgement after the write.
  if (qos == 0 || (aggregating() && is_sleeping(s->kind())) ||
      (config_.persistent && !s->clean_session)) {
    ack.reset();
  }
  if (is_sleeping(s->kind())) {
    // §6.14: buffered for the next wake-up; while awake, delivered in the flush under way.
    if (!make_room_while_asleep(*s, qos, ack != nullptr)) return;
  } else if (s->queue.size() >= config_.max_queued_per_client && !make_room(*s, ack != nullptr)) {
    return;
  }
  s->queue.push_back(
      Outgoing{{std::move(topic), std::move(payload), qos, retain, false, s->next_seq++},
               std::move(ack)});
  if (s->inflight || s->kind() == StateKind::asleep) {
    log(LogLevel::debug, [&] {
      return "client " + s->client_id + ": a QoS " + std::to_string(qos) + " message on " +
             s->queue.back().topic + " waits (" + std::to_string(s->queue.size()) + " queued)";
    });
  }
  pump(*s);
}

// The queue is full. The oldest message that is neither on its way to the client nor owed to the
// broker makes room. A copy the broker waits on (Outgoing::ack) is never given up here: that
// would acknowledge it upstream, telling the broker the client has a message it never got. Those
// copies are bounded by the upstream's receive window instead (BrokerOptions::receive_maximum,
// set from max_queued_per_client), so the queue can pass its bound by at most that many. With
// nothing to give up, a newcomer that is owed nothing is dropped; one that is owed stays.
bool Core::Impl::make_room(Session& s, bool incoming_owed) {
  const auto first = s.inflight ? std::next(s.queue.begin()) : s.queue.begin();
  const auto victim =
      std::find_if(first, s.queue.end(), [](const Outgoing& m) { return m.ack == nullptr; });
  if (victim == s.queue.end() && incoming_owed) return true;
  ++counters_.downlink_dropped;
  log(LogLevel::debug, [&] { return "client " + s.client_id + ": downlink queue full"; });
  if (victim == s.queue.end()) return false;
  s.queue.erase(victim);
  return true;
}

std::uint16_t Core::Impl::next_msg_id(Session& s) {
  if (s.next_msg_id == 0) s.next_msg_id = 1;  // 0x0000 means "no id" (§5.4.12)
  return s.next_msg_id++;
}

// Sends what the queue holds, up to the first message that needs the client's answer. Active and
// awake clients only; an awake client whose queue is done gets PINGRESP and sleeps again.
void Core::Impl::pump(Session& s) {
  const std::size_t limit = max_frame(s.peer);
  const bool listening = s.kind() == StateKind::active || s.kind() == StateKind::awake;
  while (listening && !s.inflight && !s.queue.empty()) {
    Outgoing& m = s.queue.front();
    sn::Publish publish;
    publish.qos = static_cast<sn::QoS>(m.qos);
    publish.retain = m.retain;
    publish.data = m.payload;
    if (const auto known = s.topics.id_of(m.topic)) {
      publish.topic_id_type = sn::TopicIdType::normal;
      publish.topic_id = *known;
    } else if (const auto pre = predefined_by_name_.find(m.topic); pre != predefined_by_name_.end()) {
      publish.topic_id_type = sn::TopicIdType::predefined;
      publish.topic_id = pre->second;
    } else if (m.topic.size() == 2) {
      publish.topic_id_type = sn::TopicIdType::short_name;
      publish.topic_id = sn::short_topic_id(m.topic[0], m.topic[1]);
    } else {
      // §6.10: tell the client the topic id before the first PUBLISH that uses it. A topic name
      // or message too long for the link is silently abandoned.
      const sn::Register reg{0xFFFE, 0xFFFF, m.topic};
      publish.topic_id_type = sn::TopicIdType::normal;
      const auto id = sn::encoded_size(sn::Message{reg}) <= limit &&
                              sn::encoded_size(sn::Message{publish}) <= limit
                          ? s.topics.assign(m.topic, config_.max_topics_per_client)
                          : std::nullopt;
      if (!id) {
        ++counters_.downlink_dropped;
        s.queue.pop_front();
        continue;
      }
      const std::uint16_t msg_id = next_msg_id(s);
      s.inflight = InFlight{InFlight::Kind::reg, msg_id, 0, sn::Register{*id, msg_id, m.topic}};
      send_inflight(s);
      return;
    }
    if (publish.qos != sn::QoS::qos0) publish.msg_id = next_msg_id(s);
    if (sn::encoded_size(sn::Message{publish}) > limit) {
      ++counters_.downlink_dropped;
      s.queue.pop_front();
      continue;
    }
    ++counters_.publish_out[m.qos];
    if (publish.qos == sn::QoS::qos0) {
      send(s.peer, publish);
      s.queue.pop_front();
      continue;
    }
    s.inflight = InFlight{InFlight::Kind::publish, publish.msg_id, 0, std::move(publish)};
    send_inflight(s);
  }
  end_flush_if_done(s);
}

// After CONNACK or a wake-up: the exchange left in flight goes again with the same message id
// (MQTT 3.1.1 §4.4: PUBLISH with DUP, or PUBREL), else the queue starts moving.
void Core::Impl::resume_delivery(Session& s) {
  if (s.inflight) {
    ++counters_.retransmissions_out;
    s.inflight->retransmissions = 0;
    if (auto* publish = std::get_if<sn::Publish>(&s.inflight->frame)) publish->dup = true;
    send_inflight(s);
    return;
  }
  pump(s);
}

void Core::Impl::send_inflight(Session& s) {
  send(s.peer, s.inflight->frame);
  cancel(s, TimerKind::retry);
  arm(s, TimerKind::retry, now_ + config_.retry_interval);
}

void Core::Impl::on_retry_timer(Session& s) {
  if (!s.inflight) return;  // the table: active or awake
  if (s.inflight->retransmissions >= config_.max_retries) {
    lose(s, "no answer to a retransmitted message");
    return;
  }
  ++s.inflight->retransmissions;
  ++counters_.retransmissions_out;
  if (auto* publish = std::get_if<sn::Publish>(&s.inflight->frame)) publish->dup = true;
  send_inflight(s);
}

void Core::Impl::on_regack(Session& s, const sn::RegAck& regack) {
  if (!s.inflight || s.inflight->kind != InFlight::Kind::reg ||
      s.inflight->msg_id != regack.msg_id) {
    ++counters_.unexpected;
    return;
  }
  cancel(s, TimerKind::retry);
  const auto registered = std::get<sn::Register>(s.inflight->frame);
  s.inflight.reset();
  if (regack.return_code != sn::ReturnCode::accepted) {
    // §6.10: a rejected REGISTER is an unsubscribe from that topic name: this message and the
    // queued ones on it go, later ones are not offered.
    s.topics.erase(registered.topic_id);
    s.rejected_topics.insert(registered.topic_name);
    const auto before = s.queue.size();
    std::erase_if(s.queue, [&](const Outgoing& m) { return m.topic == registered.topic_name; });
    counters_.downlink_dropped += before - s.queue.size();
  }
  pump(s);
}

void Core::Impl::on_puback(Session& s, const sn::PubAck& puback) {
  const bool ours = s.inflight && s.inflight->kind == InFlight::Kind::publish &&
                    s.inflight->msg_id == puback.msg_id;
  if (puback.return_code == sn::ReturnCode::invalid_topic_id) {
    // §6.10: the client does not know our topic id. A normal id is forgotten so the next PUBLISH
    // registers again, and the message in flight gets one more chance; a predefined id or short
    // name cannot be fixed by registering (§6.7), so that message is dropped.
    if (!ours) {
      // About a QoS 0 PUBLISH, whose id type we no longer know: forgetting a normal id costs at
      // most one REGISTER, keeping a wrong one loses every later message.
      s.topics.erase(puback.topic_id);
      return;
    }
    const auto& in_flight = std::get<sn::Publish>(s.inflight->frame);
    const bool normal = in_flight.topic_id_type == sn::TopicIdType::normal;
    if (normal) s.topics.erase(in_flight.topic_id);
    cancel(s, TimerKind::retry);
    s.inflight.reset();
    if (!normal || s.queue.front().reregistered) {
      ++counters_.downlink_dropped;
      s.queue.pop_front();
    } else {
      s.queue.front().reregistered = true;
    }
    pump(s);
    return;
  }
  if (!ours) {
    ++counters_.unexpected;
    return;
  }
  if (puback.return_code == sn::ReturnCode::congestion) return;  // T_retry sends it again
  cancel(s, TimerKind::retry);
  s.inflight.reset();
  s.queue.pop_front();
  pump(s);
}

void Core::Impl::on_pubrec(Session& s, const sn::PubRec& pubrec) {
  if (!s.inflight || s.inflight->msg_id != pubrec.msg_id ||
      s.inflight->kind == InFlight::Kind::reg) {
    ++counters_.unexpected;
    return;
  }
  // PUBREC for the PUBLISH, or again for a PUBREL that was lost: (re)send PUBREL.
  s.inflight = InFlight{InFlight::Kind::pubrel, pubrec.msg_id, 0, sn::PubRel{pubrec.msg_id}};
  send_inflight(s);
}

void Core::Impl::on_pubcomp(Session& s, const sn::PubComp& pubcomp) {
  if (!s.inflight || s.inflight->kind != InFlight::Kind::pubrel ||
      s.inflight->msg_id != pubcomp.msg_id) {
    ++counters_.unexpected;
    return;
  }
  cancel(s, TimerKind::retry);
  s.inflight.reset();
  s.queue.pop_front();
  pump(s);
}

}  // namespace gateway::core
