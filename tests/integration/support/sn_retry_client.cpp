#include "support/sn_retry_client.hpp"

#include <algorithm>

#include "sn_protocol/topic.hpp"

namespace test_support {

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr std::size_t kReleasedWindow = 1024;  // QoS 2 ids remembered after PUBREL
// However the gateway keeps sending, wake() ends after this long.
constexpr milliseconds kMaxWake{30000};

milliseconds left_until(Clock::time_point deadline) {
  return std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
}

}  // namespace

RetryingSnClient::RetryingSnClient(std::uint16_t port, RetryPolicy policy)
    : link_("127.0.0.1", port), policy_(policy) {}

std::uint16_t RetryingSnClient::next_msg_id() {
  if (++msg_id_ == 0) msg_id_ = 1;  // 0x0000 is "no id" (§5.4.12)
  return msg_id_;
}

std::optional<sn::Packet> RetryingSnClient::exchange(
    const sn::Message& request, const std::function<bool(const sn::Packet&)>& is_reply,
    std::uint64_t RetryCounts::*retransmitted, std::optional<sn::Message> again,
    std::optional<milliseconds> t_retry) {
  ++counts_.requests;
  link_.send(request);
  for (int attempt = 0;;) {
    const auto deadline = Clock::now() + t_retry.value_or(policy_.t_retry);
    for (auto left = left_until(deadline); left.count() > 0; left = left_until(deadline)) {
      auto packet = link_.receive(left);
      if (!packet) break;
      if (is_reply(*packet)) return packet;
      handle(std::move(*packet));
    }
    // §6.13: T_retry ran out without the reply; after N_retry retransmissions, give up.
    if (++attempt > policy_.n_retry) return std::nullopt;
    ++counts_.retransmissions;
    if (retransmitted != nullptr) ++(counts_.*retransmitted);
    link_.send(again ? *again : request);
  }
}

void RetryingSnClient::handle(sn::Packet&& packet) {
  if (const auto* reg = std::get_if<sn::Register>(&packet)) {
    // §6.10: the gateway names a topic id before using it; a repeated REGISTER is answered again.
    topics_[reg->topic_id] = reg->topic_name;
    link_.send(sn::RegAck{reg->topic_id, reg->msg_id, sn::ReturnCode::accepted});
    return;
  }
  if (const auto* publish = std::get_if<sn::Publish>(&packet)) {
    if (publish->dup) ++counts_.dup_publishes_in;
    std::string topic;
    if (publish->topic_id_type == sn::TopicIdType::short_name) {
      topic = sn::short_topic_name(publish->topic_id);
    } else if (const auto it = topics_.find(publish->topic_id);
               publish->topic_id_type == sn::TopicIdType::normal && it != topics_.end()) {
      topic = it->second;
    } else {
      link_.send(sn::PubAck{publish->topic_id, publish->msg_id, sn::ReturnCode::invalid_topic_id});
      return;
    }
    const std::string payload(publish->data.begin(), publish->data.end());
    if (publish->qos == sn::QoS::qos2) {
      // Delivered once, at the first copy; every copy is answered, since our PUBREC may be lost.
      const bool seen = qos2_unreleased_.contains(publish->msg_id) ||
                        std::find(qos2_released_.begin(), qos2_released_.end(), publish->msg_id) !=
                            qos2_released_.end();
      if (seen) {
        ++counts_.qos2_duplicates_in;
      } else {
        qos2_unreleased_.insert(publish->msg_id);
        deliveries_.push_back(Delivery{topic, payload, publish->qos, publish->dup});
      }
      link_.send(sn::PubRec{publish->msg_id});
      return;
    }
    deliveries_.push_back(Delivery{topic, payload, publish->qos, publish->dup});
    if (publish->qos == sn::QoS::qos1) {
      link_.send(sn::PubAck{publish->topic_id, publish->msg_id, sn::ReturnCode::accepted});
    }
    return;
  }
  if (const auto* pubrel = std::get_if<sn::PubRel>(&packet)) {
    if (qos2_unreleased_.erase(pubrel->msg_id) != 0) {
      qos2_released_.push_back(pubrel->msg_id);
      if (qos2_released_.size() > kReleasedWindow) qos2_released_.pop_front();
    }
    link_.send(sn::PubComp{pubrel->msg_id});  // a repeated PUBREL still gets PUBCOMP
    return;
  }
  ++counts_.stray_replies;  // a late or duplicated reply to an earlier request
}

std::optional<sn::ReturnCode> RetryingSnClient::connect(const std::string& client_id,
                                                        std::uint16_t keep_alive_s,
                                                        bool clean_session) {
  if (clean_session) {
    // The gateway starts its message ids and topic ids over (§6.3).
    topics_.clear();
    qos2_unreleased_.clear();
    qos2_released_.clear();
  }
  const auto reply = exchange(sn::Connect{false, clean_session, keep_alive_s, client_id},
                              [](const sn::Packet& p) { return std::holds_alternative<sn::ConnAck>(p); },
                              nullptr, std::nullopt, policy_.connect_t_retry);
  if (!reply) return std::nullopt;
  return std::get<sn::ConnAck>(*reply).return_code;
}

std::optional<std::uint16_t> RetryingSnClient::register_topic(const std::string& name) {
  const std::uint16_t id = next_msg_id();
  const auto reply = exchange(
      sn::Register{0, id, name},
      [id](const sn::Packet& p) {
        const auto* regack = std::get_if<sn::RegAck>(&p);
        return regack != nullptr && regack->msg_id == id;
      },
      &RetryCounts::register_retransmissions);
  if (!reply) return std::nullopt;
  const auto& regack = std::get<sn::RegAck>(*reply);
  if (regack.return_code != sn::ReturnCode::accepted) return std::nullopt;
  return regack.topic_id;
}

std::optional<sn::SubAck> RetryingSnClient::subscribe(const std::string& filter, sn::QoS qos) {
  sn::Subscribe s;
  s.qos = qos;
  s.msg_id = next_msg_id();
  s.topic_name = filter;
  sn::Subscribe again = s;
  again.dup = true;  // §5.3.4: a retransmitted SUBSCRIBE carries DUP
  const auto reply = exchange(
      s,
      [id = s.msg_id](const sn::Packet& p) {
        const auto* suback = std::get_if<sn::SubAck>(&p);
        return suback != nullptr && suback->msg_id == id;
      },
      &RetryCounts::subscribe_retransmissions, again);
  if (!reply) return std::nullopt;
  const auto suback = std::get<sn::SubAck>(*reply);
  if (suback.return_code == sn::ReturnCode::accepted && suback.topic_id != 0) {
    topics_[suback.topic_id] = filter;
  }
  return suback;
}

bool RetryingSnClient::publish(std::uint16_t topic_id, const std::string& payload, sn::QoS qos) {
  sn::Publish p;
  p.qos = qos;
  p.topic_id_type = sn::TopicIdType::normal;
  p.topic_id = topic_id;
  p.data = sn::Bytes(payload.begin(), payload.end());
  if (qos != sn::QoS::qos1 && qos != sn::QoS::qos2) {
    link_.send(p);
    return true;
  }
  p.msg_id = next_msg_id();
  sn::Publish again = p;
  again.dup = true;  // §5.3.4
  const std::uint16_t id = p.msg_id;
  // The gateway's answer to our PUBLISH: PUBACK (QoS 1, or a refusal at QoS 2), PUBREC (QoS 2).
  // PUBACK "congestion" is no answer: the retransmission after T_retry tries again.
  const auto answer = [id](const sn::Packet& packet) {
    if (const auto* puback = std::get_if<sn::PubAck>(&packet)) {
      return puback->msg_id == id && puback->return_code != sn::ReturnCode::congestion;
    }
    const auto* pubrec = std::get_if<sn::PubRec>(&packet);
    return pubrec != nullptr && pubrec->msg_id == id;
  };
  const auto reply = exchange(p, answer, &RetryCounts::publish_retransmissions, again);
  if (!reply) return false;
  if (const auto* puback = std::get_if<sn::PubAck>(&*reply)) {
    return qos == sn::QoS::qos1 && puback->return_code == sn::ReturnCode::accepted;
  }
  if (qos != sn::QoS::qos2) return false;
  return exchange(
             sn::PubRel{id},
             [id](const sn::Packet& packet) {
               const auto* pubcomp = std::get_if<sn::PubComp>(&packet);
               return pubcomp != nullptr && pubcomp->msg_id == id;
             },
             &RetryCounts::publish_retransmissions)
      .has_value();
}

bool RetryingSnClient::sleep(std::uint16_t duration_s) {
  return exchange(sn::Disconnect{duration_s},
                  [](const sn::Packet& p) { return std::holds_alternative<sn::Disconnect>(p); },
                  nullptr)
      .has_value();
}

bool RetryingSnClient::wake(const std::string& client_id) {
  const sn::PingReq pingreq{client_id};
  ++counts_.requests;
  link_.send(pingreq);
  const auto give_up = Clock::now() + kMaxWake;
  auto deadline = Clock::now() + policy_.t_retry;
  for (int attempt = 0; Clock::now() < give_up;) {
    const auto left = left_until(deadline);
    auto packet = left.count() > 0 ? link_.receive(left) : std::nullopt;
    if (packet) {
      if (std::holds_alternative<sn::PingResp>(*packet)) return true;
      handle(std::move(*packet));
      // §6.14: T_retry restarts with every other message; N_retry counts silent periods only.
      deadline = Clock::now() + policy_.t_retry;
      attempt = 0;
      continue;
    }
    if (left_until(deadline).count() > 0) continue;
    if (++attempt > policy_.n_retry) return false;
    ++counts_.retransmissions;
    ++counts_.pingreq_retransmissions;
    link_.send(pingreq);
    deadline = Clock::now() + policy_.t_retry;
  }
  return false;
}

void RetryingSnClient::serve(milliseconds time, const std::function<bool()>& until) {
  const auto end = Clock::now() + time;
  for (auto left = left_until(end); left.count() > 0; left = left_until(end)) {
    if (until && until()) return;
    // Short waits, so `until` is looked at while frames keep coming.
    if (auto packet = link_.receive(std::min(left, milliseconds(20)))) handle(std::move(*packet));
  }
}

}  // namespace test_support
