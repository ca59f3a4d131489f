// Aggregating mode: every client shares the gateway's own upstream connection (kQosMinusOneConn).
// The gateway keeps each client's subscriptions, subscribes upstream once per filter (reference
// counted across clients, unsubscribed when the last one leaves), routes every message from the
// broker to each client whose filters match, with the QoS granted to that client, publishes the
// wills of lost clients itself, and restores every filter when the connection comes back. Clients
// stay connected while the broker is away: what needs the broker is refused with "congestion".

#include <algorithm>

#include "core_impl.hpp"
#include "sn_protocol/topic.hpp"

namespace gateway::core {

std::optional<Pending> Core::Impl::take_pending(ReqId req) {
  const auto it = pending_.find(req);
  if (it == pending_.end()) return std::nullopt;
  Pending pending = std::move(it->second);
  pending_.erase(it);
  return pending;
}

void Core::Impl::aggregate_subscribe(Session& s, std::string filter, std::uint16_t topic_id,
                                     const sn::Subscribe& subscribe) {
  const auto asked = static_cast<std::uint8_t>(subscribe.qos);
  FilterEntry& entry = filters_[filter];
  if (entry.upstream_qos && *entry.upstream_qos >= asked) {
    // Already subscribed upstream at this QoS or above: nothing to ask the broker.
    entry.subscribers[s.id] = asked;
    s.subscriptions[filter] = asked;
    send(s.peer, sn::SubAck{static_cast<sn::QoS>(asked), topic_id, subscribe.msg_id,
                            sn::ReturnCode::accepted});
    return;
  }
  // First subscriber, or one asking for more than the broker granted so far: subscribe (again)
  // at the highest QoS any subscriber of the filter wants; the SUBACK answers this client.
  std::uint8_t wanted = asked;
  for (const auto& [id, qos] : entry.subscribers) wanted = std::max(wanted, qos);
  const ReqId req = next_req_++;
  pending_.emplace(req, Pending{Pending::Kind::suback, s.id, kQosMinusOneConn, subscribe.msg_id,
                                topic_id, filter, asked});
  out_->push_back(UpstreamSubscribe{kQosMinusOneConn, req, std::move(filter), wanted});
}

void Core::Impl::aggregate_subscribe_done(const Pending& pending, const UpstreamSubscribeDone& e) {
  const auto granted = static_cast<std::uint8_t>(std::min<std::uint8_t>(e.granted_qos, 2));
  const auto it = filters_.find(pending.filter);
  if (e.ok && it != filters_.end()) it->second.upstream_qos = granted;
  if (pending.kind == Pending::Kind::restore_filter) {
    if (!e.ok) {
      log(LogLevel::warn, [&] {
        return "the broker refused to restore the subscription to " + pending.filter;
      });
    }
    return;
  }
  if (pending.kind != Pending::Kind::suback) return;
  Session* s = by_id(pending.session);
  if (s == nullptr || is_away(s->kind())) {
    // The client left meanwhile; a filter nobody wants any more goes upstream too.
    if (it != filters_.end() && it->second.subscribers.empty()) {
      out_->push_back(UpstreamUnsubscribe{kQosMinusOneConn, 0, pending.filter});
      filters_.erase(it);
    }
    return;
  }
  if (!e.ok) {
    if (it != filters_.end() && it->second.subscribers.empty()) filters_.erase(it);
    send(s->peer, sn::SubAck{sn::QoS::qos0, 0, pending.msg_id, sn::ReturnCode::not_supported});
    return;
  }
  const std::uint8_t qos = std::min(pending.qos, granted);
  filters_[pending.filter].subscribers[s->id] = qos;
  s->subscriptions[pending.filter] = qos;
  send(s->peer, sn::SubAck{static_cast<sn::QoS>(qos), pending.topic_id, pending.msg_id,
                           sn::ReturnCode::accepted});
}

// `id` no longer subscribes to `filter`; the last one to leave ends the upstream subscription.
void Core::Impl::leave_filter(SessionId id, const std::string& filter) {
  const auto it = filters_.find(filter);
  if (it == filters_.end()) return;
  it->second.subscribers.erase(id);
  if (!it->second.subscribers.empty()) return;
  // The broker stops sending it (no completion wanted); while it is away there is nothing to end.
  if (qos_minus_one_up_) out_->push_back(UpstreamUnsubscribe{kQosMinusOneConn, 0, filter});
  filters_.erase(it);
}

void Core::Impl::aggregate_unsubscribe(Session& s, const std::string& filter,
                                       std::uint16_t msg_id) {
  s.subscriptions.erase(filter);
  leave_filter(s.id, filter);
  // The routing stopped at once: nothing more for this filter reaches the client.
  send(s.peer, sn::UnsubAck{msg_id});
}

void Core::Impl::drop_subscriptions(Session& s) {
  if (aggregating()) {
    for (const auto& [filter, qos] : s.subscriptions) leave_filter(s.id, filter);
  }
  s.subscriptions.clear();
}

void Core::Impl::route(UpstreamMessage&& e, const AckShare& ack) {
  // Every client whose filters match, once, at the highest QoS among its matching filters
  // (MQTT 3.1.1 §3.3.5 allows one copy per subscription or one for all; one is kinder to radios).
  // Mostly one filter matches: its subscribers, already in SessionId order, are the targets.
  std::vector<std::pair<SessionId, std::uint8_t>> targets;
  std::size_t matched = 0;
  filters_.for_each_match(e.topic, [&](const FilterEntry& entry) {
    ++matched;
    targets.insert(targets.end(), entry.subscribers.begin(), entry.subscribers.end());
  });
  if (matched > 1) {
    // Several filters: one copy per client at the highest QoS; sorting by (id, qos) leaves each
    // client's highest QoS last among its own.
    std::sort(targets.begin(), targets.end());
    auto out = targets.begin();
    for (auto it = targets.begin(); it != targets.end(); ++it) {
      const auto next = std::next(it);
      if (next == targets.end() || next->first != it->first) *out++ = *it;
    }
    targets.erase(out, targets.end());
  }
  if (targets.empty()) {
    ++counters_.downlink_dropped;
    return;
  }
  const InputScope scope(*this, Input::upstream_message);
  for (const auto& [id, granted] : targets) {
    Session* s = by_id(id);
    if (s == nullptr || disposition(*s, Input::upstream_message) != Disposition::handle) continue;
    const std::uint8_t qos = std::min<std::uint8_t>(std::min<std::uint8_t>(e.qos, 2), granted);
    if (is_away(s->kind())) {
      // A CleanSession=false client that is away: QoS 1/2 wait for its return (as a broker keeps
      // them for a persistent session); QoS 0 is not kept. The gateway keeps them: the broker is
      // acknowledged at once (waiting would stall the shared connection, see deliver()).
      if (qos == 0) continue;
      if (s->queue.size() >= config_.max_queued_per_client) {
        s->queue.pop_front();
        ++counters_.downlink_dropped;
      }
      s->queue.push_back(
          Outgoing{{e.topic, e.payload, qos, e.retain, false, s->next_seq++}, nullptr});
      continue;
    }
    deliver(*s, e.topic, e.payload, qos, e.retain, ack);
  }
}

void Core::Impl::restore_filters() {
  // A new connection with CleanSession=true starts without subscriptions; re-subscribe every
  // filter a client holds, at the highest QoS wanted. Messages published while the connection
  // was down are not recovered (the broker kept no session for it).
  for (auto& [filter, entry] : filters_) {
    entry.upstream_qos.reset();
    std::uint8_t wanted = 0;
    for (const auto& [id, qos] : entry.subscribers) wanted = std::max(wanted, qos);
    const ReqId req = next_req_++;
    pending_.emplace(req, Pending{Pending::Kind::restore_filter, 0, kQosMinusOneConn, 0, 0,
                                  filter, wanted});
    out_->push_back(UpstreamSubscribe{kQosMinusOneConn, req, filter, wanted});
  }
}

void Core::Impl::publish_will(Session& s) {
  if (!s.will) return;
  if (!qos_minus_one_up_) {
    log(LogLevel::warn, [&] {
      return "client " + s.client_id + ": its will on " + s.will->topic +
             " is lost: the broker is not reachable";
    });
    return;
  }
  ++counters_.wills_published;
  // With the will's own QoS and retain flag, as a broker would publish it.
  out_->push_back(UpstreamPublish{kQosMinusOneConn, 0, s.will->topic, s.will->payload,
                                  s.will->qos, s.will->retain});
}

}  // namespace gateway::core
