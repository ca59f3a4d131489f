#include "session.hpp"

#include <algorithm>
#include <cstdio>
#include <utility>

namespace mqtt_bridge::native {

namespace mc = mqtt_codec;

namespace {

// MQTT 3.1.1 §3.2.2.3: CONNACK return codes 1..5 are refusals; 3 is "server unavailable".
constexpr std::uint8_t kConnackServerUnavailable = 3;
// MQTT 5 §3.1.2.11.2: the session never expires, which is what 3.1.1 gives CleanSession=0.
constexpr std::uint32_t kSessionNeverExpires = 0xFFFFFFFF;
constexpr std::uint8_t kFirstFailureCode = 0x80;
// MQTT 5 §2.4 reason codes the session sends.
constexpr std::uint8_t kPacketTooLarge = 0x95;
constexpr std::uint8_t kTopicAliasInvalid = 0x94;
// The broker-delay probe: a PINGREQ after this many QoS 0 publishes, no sooner than kProbeGap
// after the last one: about 3 % more packets at 1,000 connections of 40 msgs/s each, at most
// 200 probes per second on one busy connection.
constexpr std::size_t kProbeEvery = 32;
constexpr Time kProbeGap{5};
// The least the broker is trusted with while it is behind (about 100 small messages): a round
// trip that came late by chance (a WAN's jitter) does not starve a slow connection.
constexpr double kMinBehindBudgetBytes = 4096;
// Answers further apart than this start the broker's pace anew (Session::pace_).
constexpr Time kPaceGap{1000};
// PINGRESPs in a row less than a tenth of max_broker_delay late that end "behind".
constexpr int kQuickAnswersToCatchUp = 8;
// After a run of drops for delay as long as max_broker_delay (drops less than that apart), the
// broker's queue is held to half of max_broker_delay until this long after its last drop: a
// lasting overload keeps it; a stall that made the broker the bound late is long over by then.
constexpr Time kShedMemory{1000};

std::string hex(std::uint8_t code) {
  char text[8];
  std::snprintf(text, sizeof text, "0x%02X", code);
  return text;
}

// MQTT 5 §3.2.2.2: refusals that say "not now" rather than "not you". Quota and connection rate
// are the broker shedding load, which the gateway answers like an unreachable broker (congestion).
ConnectFailure classify_refusal(mc::Version version, std::uint8_t code) {
  if (version == mc::Version::v311) {
    return code == kConnackServerUnavailable ? ConnectFailure::unavailable
                                             : ConnectFailure::refused;
  }
  switch (code) {
    case mc::reason::server_unavailable:
    case mc::reason::server_busy:
    case mc::reason::quota_exceeded:
    case 0x9F:  // connection rate exceeded
      return ConnectFailure::unavailable;
    default: return ConnectFailure::refused;
  }
}

std::string describe_code(mc::Version version, const char* what, std::uint8_t code,
                          const mc::Properties& properties) {
  std::string text = std::string(what) +
                     (version == mc::Version::v311 ? " return code " + std::to_string(code)
                                                   : " reason code " + hex(code));
  if (properties.reason_string) text += " (" + *properties.reason_string + ")";
  return text;
}

template <typename AckPacket>
AckPacket make_ack(std::uint16_t packet_id, std::uint8_t reason_code = mc::reason::success) {
  AckPacket packet;
  packet.packet_id = packet_id;
  packet.reason_code = reason_code;
  return packet;
}

}  // namespace

Session::Session(ConnectionId id, ConnectRequest request, SessionOptions options,
                 SessionState resumed)
    : id_(id), request_(std::move(request)), options_(std::move(options)) {
  if (request_.clean_session) return;  // §3.1.2.4: a clean session starts from nothing
  next_packet_id_ = resumed.next_packet_id;
  qos2_received_ = std::move(resumed.qos2_received);
  resumed_ = std::move(resumed.outgoing);
}

std::size_t Session::window() const {
  return std::min<std::size_t>(options_.send_window, broker_receive_maximum_);
}

void Session::write(const mc::Packet& packet, Time now) {
  const std::size_t before = output_.size();
  mc::encode_to(packet, options_.version, output_);
  written_total_ += output_.size() - before;
  last_sent_ = now;
  active(now);
}

Time Session::pause_before(Time now) const {
  return std::max(Time{0}, now - last_active_ - options_.max_broker_delay / 2);
}

void Session::active(Time now) {
  idle_ += pause_before(now);
  last_active_ = now;
}

void Session::start(Time now) {
  if (state_ != State::idle) return;
  state_ = State::awaiting_connack;
  mc::Connect connect;
  connect.version = options_.version;
  connect.clean_start = request_.clean_session;
  keep_alive_ = std::min(request_.keep_alive, std::chrono::seconds(0xFFFF));
  connect.keep_alive = static_cast<std::uint16_t>(keep_alive_.count());
  connect.client_id = request_.client_id;
  if (request_.will) {
    mc::Will will;
    will.topic = request_.will->topic;
    will.payload = request_.will->payload;
    will.qos = static_cast<std::uint8_t>(std::clamp(request_.will->qos, 0, 2));
    will.retain = request_.will->retain;
    connect.will = std::move(will);
  }
  if (!options_.username.empty()) connect.username = options_.username;
  if (!options_.password.empty()) {
    connect.password = Bytes(options_.password.begin(), options_.password.end());
  }
  if (options_.version == mc::Version::v5) {
    if (!request_.clean_session) connect.properties.session_expiry_interval = kSessionNeverExpires;
    if (options_.receive_maximum != 0xFFFF) {
      connect.properties.receive_maximum = options_.receive_maximum;
    }
    connect.properties.maximum_packet_size = static_cast<std::uint32_t>(
        std::min<std::size_t>(options_.max_packet_size, mc::kMaxRemainingLength + 5));
  }
  write(connect, now);
  connect_sent_ = now;
}

void Session::send_pingreq(Time now) {
  write(mc::Pingreq{}, now);
  ping_sent_ = now;
  ping_mark_ = written_total_;
  ++pings_out_;
  if (held()) ping_blind_ = true;
}

void Session::on_pingresp(Time now) {
  if (pings_out_ == 0) return;
  if (--pings_out_ > 0) return;  // an earlier PINGREQ's answer: the latest one's is on its way
  if (ping_blind_) {
    // Sent or answered while we were not reading: its round trip measured us, not the broker.
    ping_blind_ = false;
    ping_sent_.reset();
    return;
  }
  const Time round_trip = now - *ping_sent_;
  if (!best_round_trip_ || round_trip < *best_round_trip_) best_round_trip_ = round_trip;
  const Time excess = round_trip - *best_round_trip_;
  const Time bound = options_.max_broker_delay;
  if (excess * 4 >= bound) {
    behind_ = true;
    quick_answers_ = 0;
  } else if (excess * 10 >= bound) {
    quick_answers_ = 0;
  } else if (++quick_answers_ >= kQuickAnswersToCatchUp) {
    // One quick answer only says the queue ran dry for a moment; letting everything through then
    // refills it by the overload factor until a PINGREQ is overdue again.
    behind_ = false;
  }
  if (pace_) {
    auto& [answers, seen] = *pace_;
    const Answer latest{ping_mark_, now, now - idle_ - pause_before(now)};
    if (seen > 0 && now - answers[(seen - 1) % kPaceAnswers].at > kPaceGap) {
      // A quiet connection: the pace starts anew from this answer; until the next one, the last
      // pace measured stands.
      seen = 0;
    }
    if (seen > 0) {
      const Answer& oldest = answers[seen < kPaceAnswers ? 0 : seen % kPaceAnswers];
      drain_bytes_per_ms_ = static_cast<double>(latest.mark - oldest.mark) /
                            static_cast<double>((latest.busy - oldest.busy + Time{1}).count());
    }
    answers[seen++ % kPaceAnswers] = latest;
  }
  confirmed_ = ping_mark_;
  confirmed_at_ = now;
  ping_sent_.reset();
}

bool Session::broker_behind(Time now) const {
  const Time bound = options_.max_broker_delay;
  if (bound.count() <= 0) return false;
  if (ping_sent_ && !ping_blind_ &&
      now - *ping_sent_ > best_round_trip_.value_or(Time{0}) + bound) {
    return true;
  }
  if (!behind_ || drain_bytes_per_ms_ <= 0 || !confirmed_at_) return false;
  // What waits at the broker now: everything written after the last answered PINGREQ, less what
  // the broker got through since that answer at its pace.
  const double drained =
      drain_bytes_per_ms_ * static_cast<double>(std::max(Time{0}, now - *confirmed_at_).count());
  const double waiting = static_cast<double>(written_total_ - confirmed_) - drained;
  const bool shedding = long_run_drop_ && now - *long_run_drop_ < kShedMemory;
  const double budget_ms = static_cast<double>(bound.count()) / (shedding ? 2 : 1);
  return waiting > std::max(kMinBehindBudgetBytes, drain_bytes_per_ms_ * budget_ms);
}

void Session::probe(Time now) {
  if (options_.max_broker_delay.count() <= 0 || ping_sent_) return;
  if (++published_since_probe_ < kProbeEvery || now - last_probe_ < kProbeGap) return;
  send_probe(now);
}

void Session::send_probe(Time now) {
  if (!pace_) pace_ = std::make_unique<Pace>();
  send_pingreq(now);
  last_probe_ = now;
  published_since_probe_ = 0;
}

void Session::receive(std::span<const std::uint8_t> bytes, Time now) {
  if (state_ == State::finished || state_ == State::idle) return;
  if (input_.empty()) {
    // Cut from the caller's span while nothing is pending; copy only what is left: a packet the
    // read cut in two, or the packets that wait while the session is held().
    const std::size_t used = consume(bytes, now);
    if (state_ != State::finished) {
      input_.assign(bytes.begin() + static_cast<std::ptrdiff_t>(used), bytes.end());
    }
    return;
  }
  input_.insert(input_.end(), bytes.begin(), bytes.end());
  consume_input(now);
}

void Session::consume_input(Time now) {
  const std::size_t used = consume(input_, now);
  if (state_ == State::finished) {
    input_.clear();
  } else {
    input_.erase(input_.begin(), input_.begin() + static_cast<std::ptrdiff_t>(used));
  }
}

std::size_t Session::consume(std::span<const std::uint8_t> data, Time now) {
  std::size_t used = 0;
  held_ = false;
  while (state_ != State::finished && used < data.size()) {
    const auto rest = data.subspan(used);
    const auto size = mc::frame_size(rest, options_.max_packet_size);
    if (!size) {
      protocol_error(size.error() == mc::DecodeError::packet_too_large ? kPacketTooLarge
                                                                        : mc::reason::malformed_packet,
                     mc::to_string(size.error()), now);
      break;
    }
    if (*size == 0 || *size > rest.size()) break;  // the rest of the packet is still on its way
    auto packet = mc::decode(rest.first(*size), options_.version);
    if (!packet) {
      protocol_error(mc::reason::malformed_packet,
                     std::string("malformed packet from the broker: ") +
                         mc::to_string(packet.error()),
                     now);
      break;
    }
    if (beyond_window(*packet)) {
      held_ = true;  // it, and everything after it, waits for an acknowledge()
      break;
    }
    used += *size;
    handle(std::move(*packet), now);
  }
  if (held_ && ping_sent_) ping_blind_ = true;
  return used;
}

bool Session::beyond_window(const mc::Packet& packet) const {
  // A new QoS 1/2 message while receive_maximum of them wait for their receivers. MQTT 3.1.1 has
  // no way to ask the broker for fewer; MQTT 5 has (our Receive Maximum), but mosquitto 2.0.11
  // refills the whole window on each PUBACK. Holding the message unread instead of ending the
  // connection with 0x93 (MQTT 5 §3.3.4) loses nothing: TCP's flow control holds the rest.
  const auto* publish = std::get_if<mc::Publish>(&packet);
  return publish != nullptr && publish->qos > 0 && options_.manual_acknowledgement &&
         unacknowledged_.size() >= options_.receive_maximum &&
         !unacknowledged_.contains(publish->packet_id);
}

void Session::handle(mc::Packet&& packet, Time now) {
  if (state_ == State::awaiting_connack) {
    if (auto* connack = std::get_if<mc::Connack>(&packet)) {
      on_connack(*connack, now);
    } else {
      // MQTT 5 §3.2: the first packet from the server is CONNACK.
      protocol_error(mc::reason::protocol_error,
                     std::string("expected CONNACK, got ") + mc::to_string(mc::type_of(packet)),
                     now);
    }
    return;
  }
  std::visit(
      [&](auto&& p) {
        using T = std::decay_t<decltype(p)>;
        if constexpr (std::is_same_v<T, mc::Publish>) {
          on_publish(std::move(p), now);
        } else if constexpr (std::is_same_v<T, mc::Puback>) {
          on_publish_ack(p, Stage::puback, now);
        } else if constexpr (std::is_same_v<T, mc::Pubrec>) {
          on_publish_ack(p, Stage::pubrec, now);
        } else if constexpr (std::is_same_v<T, mc::Pubcomp>) {
          on_publish_ack(p, Stage::pubcomp, now);
        } else if constexpr (std::is_same_v<T, mc::Pubrel>) {
          on_pubrel(p, now);
        } else if constexpr (std::is_same_v<T, mc::Suback>) {
          on_suback(p, now);
        } else if constexpr (std::is_same_v<T, mc::Unsuback>) {
          on_unsuback(p, now);
        } else if constexpr (std::is_same_v<T, mc::Pingresp>) {
          on_pingresp(now);
        } else if constexpr (std::is_same_v<T, mc::Disconnect>) {
          on_disconnect(p, now);
        } else {
          // CONNECT, SUBSCRIBE, UNSUBSCRIBE, PINGREQ and a second CONNACK only go from client to
          // server; AUTH needs an authentication method, and we announce none.
          protocol_error(mc::reason::protocol_error,
                         std::string("unexpected ") + mc::to_string(mc::type_of(mc::Packet(p))) +
                             " from the broker",
                         now);
        }
      },
      std::move(packet));
}

void Session::on_connack(const mc::Connack& connack, Time now) {
  if (connack.reason_code != mc::reason::success) {
    if (disconnect_requested_) {
      finish(Disconnected{id_});
    } else {
      finish(ConnectFailed{id_, classify_refusal(options_.version, connack.reason_code),
                           describe_code(options_.version, "CONNACK", connack.reason_code,
                                         connack.properties)});
    }
    return;
  }
  const auto& props = connack.properties;
  if (props.receive_maximum) {
    if (*props.receive_maximum == 0) {  // MQTT 5 §3.2.2.3.3: 0 is a protocol error
      protocol_error(mc::reason::protocol_error, "CONNACK Receive Maximum 0", now);
      return;
    }
    broker_receive_maximum_ = *props.receive_maximum;
  }
  if (props.maximum_packet_size) broker_max_packet_size_ = *props.maximum_packet_size;
  if (props.maximum_qos) broker_maximum_qos_ = *props.maximum_qos;
  // MQTT 5 §3.2.2.3.14: the server's keep-alive replaces ours.
  if (props.server_keep_alive) keep_alive_ = std::chrono::seconds(*props.server_keep_alive);
  state_ = State::connected;
  best_round_trip_ = now - connect_sent_;  // the first estimate; PINGRESPs refine it
  if (disconnect_requested_) {
    // disconnect() came while connecting: the gateway never hears Connected (upstream.hpp).
    close_now(now);
    return;
  }
  events_.emplace_back(Connected{id_, connack.session_present});
  if (!request_.clean_session) resume(connack.session_present, now);
}

void Session::resume(bool session_present, Time now) {
  auto outgoing = std::exchange(resumed_, {});
  // The broker has no session of ours (it expired, or the broker lost it): none of our QoS 2
  // ids is pending there.
  if (!session_present) qos2_received_.clear();
  std::vector<mc::Publish> anew;
  for (auto& unfinished : outgoing) {
    mc::Publish& publish = unfinished.publish;
    const std::uint16_t packet_id = publish.packet_id;
    if (!session_present || packet_id == 0 || in_flight_.contains(packet_id)) {
      // Nothing of it is at the broker (or it never left us). A QoS 1 message was failed when
      // the connection dropped (the client got congestion and sends it again); a QoS 2 one was
      // kept for the client (finish()), so it goes out again as a new message.
      if (publish.qos == 2) anew.push_back(std::move(publish));
      continue;
    }
    // MQTT 3.1.1 §4.4 [MQTT-4.4.0-1], MQTT 5 §4.4: resend every unacknowledged PUBLISH with DUP
    // and every PUBREL, with their original packet ids, in their original order.
    Stage stage = Stage::pubcomp;
    if (unfinished.released) {
      write(make_ack<mc::Pubrel>(packet_id), now);
    } else {
      publish.dup = true;
      write(publish, now);
      ++publishes_unsent_;
      stage = publish.qos == 1 ? Stage::puback : Stage::pubrec;
    }
    in_flight_.emplace(packet_id, InFlight{0, next_seq_++, stage, std::move(publish), 0});
    ++publishes_in_flight_;
  }
  // After the resent ones, whose packet ids are taken by now.
  for (auto& publish : anew) {
    publish.dup = false;
    publish.packet_id = 0;
    if (queued_.empty() && publishes_in_flight_ < window()) {
      send_publish(0, std::move(publish), now);
    } else {
      queued_.push_back(Queued{0, std::move(publish)});
    }
  }
}

void Session::on_publish(mc::Publish&& publish, Time now) {
  if (publish.properties.topic_alias) {
    // We announce no Topic Alias Maximum, so the broker may send none (MQTT 5 §3.3.2.3.4).
    protocol_error(kTopicAliasInvalid, "topic alias the client did not allow", now);
    return;
  }
  if (publish.topic.empty()) {
    protocol_error(mc::reason::protocol_error, "PUBLISH without a topic", now);
    return;
  }
  const std::uint16_t packet_id = publish.packet_id;
  const std::uint8_t qos = publish.qos;
  if (qos > 0 && unacknowledged_.contains(packet_id)) {
    // MQTT 5 §4.3.2/§4.3.3: the broker sent it again (DUP) before our acknowledgement, which
    // waits for the receiver: it is the same message, already on its way.
    return;
  }
  if (qos == 2 && qos2_received_.contains(packet_id)) {
    // §4.3.3: the first PUBLISH with this id was the message; a DUP of it before PUBREL is the
    // same message and is only acknowledged again.
    write(make_ack<mc::Pubrec>(packet_id), now);
    return;
  }
  const bool manual = qos > 0 && options_.manual_acknowledgement;
  events_.emplace_back(MessageArrived{id_, std::move(publish.topic), std::move(publish.payload),
                                      qos, publish.retain, manual ? AckToken{packet_id} : 0});
  if (manual) {
    unacknowledged_.emplace(packet_id, qos);
  } else if (qos > 0) {
    send_acknowledgement(packet_id, qos, now);
  }
}

void Session::send_acknowledgement(std::uint16_t packet_id, std::uint8_t qos, Time now) {
  if (qos == 1) {
    write(make_ack<mc::Puback>(packet_id), now);
  } else {
    qos2_received_.insert(packet_id);
    write(make_ack<mc::Pubrec>(packet_id), now);
  }
}

void Session::acknowledge(AckToken ack, Time now) {
  if (state_ != State::connected && state_ != State::closing) return;
  if (ack == 0 || ack > 0xFFFF) return;
  const auto it = unacknowledged_.find(static_cast<std::uint16_t>(ack));
  if (it == unacknowledged_.end()) return;
  const auto [packet_id, qos] = *it;
  const bool was_held = held_;
  unacknowledged_.erase(it);
  send_acknowledgement(packet_id, qos, now);
  if (!was_held) return;
  // Reading again: the broker gets a whole keep-alive from now to answer a PINGREQ that waited
  // behind the packets we did not read, and those go first.
  if (ping_sent_) ping_sent_ = now;
  consume_input(now);
}

template <typename AckPacket>
void Session::on_publish_ack(const AckPacket& ack, Stage expected, Time now) {
  const auto it = in_flight_.find(ack.packet_id);
  if (it == in_flight_.end() || it->second.stage != expected) {
    protocol_error(mc::reason::protocol_error,
                   std::string(mc::to_string(AckPacket::type)) + " for packet id " +
                       std::to_string(ack.packet_id) + " that awaits none",
                   now);
    return;
  }
  const bool failed = ack.reason_code >= kFirstFailureCode;
  if (expected == Stage::pubrec && !failed) {
    // MQTT 5 §4.3.3: PUBREL, then wait for PUBCOMP; the id stays in use until then.
    it->second.stage = Stage::pubcomp;
    write(make_ack<mc::Pubrel>(ack.packet_id), now);
    return;
  }
  InFlight flight = std::move(it->second);
  in_flight_.erase(it);
  complete(std::move(flight), !failed,
           failed ? describe_code(options_.version, mc::to_string(AckPacket::type),
                                  ack.reason_code, ack.properties)
                  : std::string(),
           now);
}

void Session::on_pubrel(const mc::Pubrel& pubrel, Time now) {
  auto pubcomp = make_ack<mc::Pubcomp>(pubrel.packet_id);
  if (qos2_received_.erase(pubrel.packet_id) == 0 && options_.version == mc::Version::v5) {
    pubcomp.reason_code = mc::reason::packet_id_not_found;  // MQTT 5 §3.7.2.1; 3.1.1 has none
  }
  write(pubcomp, now);
}

void Session::on_suback(const mc::Suback& suback, Time now) {
  const auto it = in_flight_.find(suback.packet_id);
  if (it == in_flight_.end() || it->second.stage != Stage::suback) {
    protocol_error(mc::reason::protocol_error, "SUBACK for a packet id that awaits none", now);
    return;
  }
  const InFlight flight = std::move(it->second);
  in_flight_.erase(it);
  const std::uint8_t code =
      suback.reason_codes.empty() ? kFirstFailureCode : suback.reason_codes.front();
  events_.emplace_back(SubscribeDone{id_, flight.request, code < kFirstFailureCode, code});
}

void Session::on_unsuback(const mc::Unsuback& unsuback, Time now) {
  const auto it = in_flight_.find(unsuback.packet_id);
  if (it == in_flight_.end() || it->second.stage != Stage::unsuback) {
    protocol_error(mc::reason::protocol_error, "UNSUBACK for a packet id that awaits none", now);
    return;
  }
  const InFlight flight = std::move(it->second);
  in_flight_.erase(it);
  // MQTT 5 §3.11.3: 0x11 "no subscription existed" is a success; 3.1.1 has no codes.
  const bool ok =
      unsuback.reason_codes.empty() || unsuback.reason_codes.front() < kFirstFailureCode;
  events_.emplace_back(UnsubscribeDone{id_, flight.request, ok});
}

void Session::on_disconnect(const mc::Disconnect& disconnect, Time now) {
  if (options_.version == mc::Version::v311) {
    // MQTT 3.1.1 §3.14: only the client sends DISCONNECT.
    protocol_error(mc::reason::protocol_error, "DISCONNECT from the broker", now);
    return;
  }
  if (disconnect_requested_) {
    finish(Disconnected{id_});
    return;
  }
  finish(ConnectionLost{id_, describe_code(options_.version, "broker DISCONNECT",
                                           disconnect.reason_code, disconnect.properties)});
}

void Session::protocol_error(std::uint8_t reason_code, const std::string& what, Time now) {
  if (state_ == State::finished) return;
  if (options_.version == mc::Version::v5 && state_ != State::idle) {
    write(mc::Disconnect{reason_code, {}}, now);  // MQTT 5 §4.13.1: say why, then close
  }
  if (disconnect_requested_) {
    finish(Disconnected{id_});
  } else if (state_ == State::awaiting_connack) {
    finish(ConnectFailed{id_, ConnectFailure::unavailable, "protocol error: " + what});
  } else {
    finish(ConnectionLost{id_, "protocol error: " + what});
  }
}

void Session::transport_closed(const std::string& reason, ConnectFailure failure) {
  if (state_ == State::finished) return;
  if (disconnect_requested_) {
    finish(Disconnected{id_});
  } else if (state_ == State::idle || state_ == State::awaiting_connack) {
    finish(ConnectFailed{id_, failure, reason});
  } else {
    finish(ConnectionLost{id_, reason});
  }
}

std::optional<Time> Session::next_deadline() const {
  if ((state_ != State::connected && state_ != State::closing) || keep_alive_.count() == 0) {
    return std::nullopt;
  }
  // MQTT 5 §3.1.2.10: a PINGREQ when nothing else was sent for a keep-alive; no PINGRESP within
  // another keep-alive and the connection is considered broken (§4.13).
  // While held(), the PINGRESP waits unread behind what we do not take: PINGREQs keep going out
  // (the broker wants a packet each keep-alive) and none counts as unanswered.
  if (ping_sent_ && !held()) return *ping_sent_ + keep_alive_;
  return last_sent_ + keep_alive_;
}

void Session::on_timer(Time now) {
  const auto deadline = next_deadline();
  if (!deadline || now < *deadline) return;
  if (ping_sent_ && !held()) {
    transport_closed("no PINGRESP within the keep-alive of " +
                     std::to_string(keep_alive_.count()) + " s");
    return;
  }
  send_pingreq(now);
}

void Session::disconnect(bool fire_will, Time now) {
  if (state_ == State::finished || disconnect_requested_) return;
  disconnect_requested_ = true;
  fire_will_ = fire_will;
  switch (state_) {
    case State::idle:              // the TCP connect's outcome, then CONNACK's, decide
    case State::awaiting_connack:  // on_connack() closes once the outcome is known
      break;
    case State::connected: close_now(now); break;
    case State::closing:
    case State::finished: break;
  }
}

void Session::close_now(Time now) {
  if (options_.version == mc::Version::v5) {
    // MQTT 5 §3.14.2.1: 0x04 asks the broker to publish the will; 0x00 discards it.
    write(mc::Disconnect{fire_will_ && request_.will ? mc::reason::disconnect_with_will
                                                     : mc::reason::success,
                         {}},
          now);
    finish(Disconnected{id_});
    return;
  }
  if (!fire_will_ || !request_.will) {
    write(mc::Disconnect{}, now);
    finish(Disconnected{id_});
    return;
  }
  // MQTT 3.1.1 has no DISCONNECT that fires the will: publish it on this connection, then close
  // cleanly once the broker has it (for QoS 0, once it is written).
  mc::Publish will;
  will.topic = request_.will->topic;
  will.payload = request_.will->payload;
  will.qos = static_cast<std::uint8_t>(std::clamp(request_.will->qos, 0, 2));
  will.retain = request_.will->retain;
  if (will.qos == 0) {
    write(will, now);
    write(mc::Disconnect{}, now);
    finish(Disconnected{id_});
    return;
  }
  const auto packet_id = allocate_packet_id();
  if (!packet_id) {
    write(mc::Disconnect{}, now);
    finish(Disconnected{id_});
    return;
  }
  will.packet_id = *packet_id;
  write(will, now);
  state_ = State::closing;
  const Stage stage = will.qos == 1 ? Stage::puback : Stage::pubrec;
  in_flight_.emplace(*packet_id, InFlight{0, next_seq_++, stage, std::move(will), 0, true});
}

std::optional<std::uint16_t> Session::allocate_packet_id() {
  if (in_flight_.size() >= 0xFFFF) return std::nullopt;
  while (next_packet_id_ == 0 || in_flight_.contains(next_packet_id_)) ++next_packet_id_;
  return next_packet_id_++;
}

void Session::publish(RequestId request, std::string topic, Bytes payload, int qos, bool retain,
                      Time now) {
  auto fail = [&](std::string reason) {
    events_.emplace_back(PublishDone{id_, request, false, std::move(reason)});
  };
  if (state_ != State::connected || disconnect_requested_) {
    fail(state_ == State::finished ? "connection closed" : "not connected");
    return;
  }
  if (qos < 0 || qos > 2) {
    fail("QoS " + std::to_string(qos) + " does not exist");
    return;
  }
  mc::Publish packet;
  packet.topic = std::move(topic);
  packet.payload = std::move(payload);
  packet.qos = static_cast<std::uint8_t>(std::clamp(qos, 0, 2));
  packet.retain = retain;
  if (packet.qos > broker_maximum_qos_) {
    fail("the broker's Maximum QoS is " + std::to_string(broker_maximum_qos_));
    return;
  }
  if (broker_max_packet_size_ &&
      mc::encoded_size(packet, options_.version) > *broker_max_packet_size_) {
    fail("larger than the broker's Maximum Packet Size");
    return;
  }
  if (packet.qos == 0) {
    active(now);  // offered: even dropped, it is no pause (pace_)
    // A QoS 0 message that cannot leave now is dropped rather than queued without end, and so is
    // one that would only join a queue the broker is already too far behind on.
    if (publishes_unsent_ >= options_.max_queued) {
      fail("congestion: " + std::to_string(publishes_unsent_) + " messages wait for the socket");
      return;
    }
    if (broker_behind(now)) {
      // Dropping needs an answer to end: a PINGREQ is out, or goes out now.
      if (!ping_sent_ && now - last_probe_ >= kProbeGap) send_probe(now);
      if (!last_delay_drop_ || now - *last_delay_drop_ > options_.max_broker_delay) {
        run_since_ = now;  // a new run of drops
      }
      last_delay_drop_ = now;
      if (now - run_since_ >= options_.max_broker_delay) long_run_drop_ = now;
      fail("congestion: the broker is too far behind (max_broker_delay " +
           std::to_string(options_.max_broker_delay.count()) + " ms)");
      return;
    }
    ++publishes_unsent_;
    write(packet, now);
    probe(now);
    if (request != 0) events_.emplace_back(PublishDone{id_, request, true, {}});
    return;
  }
  if (queued_.empty() && publishes_in_flight_ < window()) {
    send_publish(request, std::move(packet), now);
    return;
  }
  if (queued_.size() >= options_.max_queued) {
    fail("too many publishes waiting for the broker");
    return;
  }
  queued_.push_back(Queued{request, std::move(packet)});
}

void Session::send_publish(RequestId request, mc::Publish&& publish, Time now) {
  const auto packet_id = allocate_packet_id();
  if (!packet_id) {
    events_.emplace_back(PublishDone{id_, request, false, "no packet id free"});
    return;
  }
  publish.packet_id = *packet_id;
  ++publishes_unsent_;
  write(publish, now);
  const Stage stage = publish.qos == 1 ? Stage::puback : Stage::pubrec;
  in_flight_.emplace(*packet_id, InFlight{request, next_seq_++, stage, std::move(publish), 0});
  ++publishes_in_flight_;
}

void Session::pump_queue(Time now) {
  while (!queued_.empty() && publishes_in_flight_ < window() && state_ == State::connected) {
    Queued next = std::move(queued_.front());
    queued_.pop_front();
    send_publish(next.request, std::move(next.publish), now);
  }
}

void Session::complete(InFlight&& flight, bool ok, const std::string& reason, Time now) {
  if (flight.is_will) {
    write(mc::Disconnect{}, now);
    finish(Disconnected{id_});
    return;
  }
  --publishes_in_flight_;
  // Request 0 wants to hear only of a failure (upstream.hpp).
  if (!ok || flight.request != 0) {
    events_.emplace_back(PublishDone{id_, flight.request, ok, reason});
  }
  pump_queue(now);
}

void Session::subscribe(RequestId request, std::string filter, int qos, Time now) {
  if (state_ != State::connected || disconnect_requested_ || qos < 0 || qos > 2) {
    events_.emplace_back(SubscribeDone{id_, request, false, kFirstFailureCode});
    return;
  }
  const auto packet_id = allocate_packet_id();
  if (!packet_id) {
    events_.emplace_back(SubscribeDone{id_, request, false, kFirstFailureCode});
    return;
  }
  mc::Subscribe packet;
  packet.packet_id = *packet_id;
  packet.subscriptions.push_back(
      mc::Subscription{std::move(filter), static_cast<std::uint8_t>(std::clamp(qos, 0, 2))});
  write(packet, now);
  in_flight_.emplace(*packet_id, InFlight{request, next_seq_++, Stage::suback, {}, qos});
}

void Session::unsubscribe(RequestId request, std::string filter, Time now) {
  if (state_ != State::connected || disconnect_requested_) {
    events_.emplace_back(UnsubscribeDone{id_, request, false});
    return;
  }
  const auto packet_id = allocate_packet_id();
  if (!packet_id) {
    events_.emplace_back(UnsubscribeDone{id_, request, false});
    return;
  }
  mc::Unsubscribe packet;
  packet.packet_id = *packet_id;
  packet.filters.push_back(std::move(filter));
  write(packet, now);
  in_flight_.emplace(*packet_id, InFlight{request, next_seq_++, Stage::unsuback, {}, 0});
}

void Session::finish(Event final_event) {
  if (state_ == State::finished) return;
  state_ = State::finished;
  // Every open request completes before the final event, in the order it was made.
  std::vector<InFlight> open;
  open.reserve(in_flight_.size());
  for (auto& [packet_id, flight] : in_flight_) open.push_back(std::move(flight));
  in_flight_.clear();
  std::sort(open.begin(), open.end(),
            [](const InFlight& a, const InFlight& b) { return a.seq < b.seq; });
  const std::string reason = "connection closed";
  // CleanSession=false: the broker keeps its half of the session, and the next connection of
  // this ClientId completes ours (resume()). What the last connection had not finished comes
  // first.
  const bool keep = !request_.clean_session;
  if (keep) {
    kept_.outgoing = std::move(resumed_);
    kept_.qos2_received = std::move(qos2_received_);
    kept_.next_packet_id = next_packet_id_;
  }
  resumed_.clear();
  for (InFlight& flight : open) {
    if (flight.is_will) continue;  // internal: nobody waits for it
    switch (flight.stage) {
      case Stage::puback:
      case Stage::pubrec:
      case Stage::pubcomp:
        if (!keep) {
          events_.emplace_back(PublishDone{id_, flight.request, false, reason});
          break;
        }
        if (flight.publish.qos == 2) {
          // Kept, and reported as taken: the resumed session delivers it exactly once (resend
          // with DUP, or PUBREL). Failing it would make the client send it again, and the broker
          // might then have it twice.
          if (flight.request != 0) events_.emplace_back(PublishDone{id_, flight.request, true, {}});
        } else {
          // QoS 1 may arrive twice: the client is told, sends it again, and the resumed session
          // resends it too (§4.4 requires it; the broker may already have it).
          events_.emplace_back(PublishDone{id_, flight.request, false, reason});
        }
        kept_.outgoing.push_back(
            SessionState::Unfinished{flight.stage == Stage::pubcomp, std::move(flight.publish)});
        break;
      case Stage::suback:
        events_.emplace_back(SubscribeDone{id_, flight.request, false, kFirstFailureCode});
        break;
      case Stage::unsuback: events_.emplace_back(UnsubscribeDone{id_, flight.request, false}); break;
    }
  }
  for (Queued& queued : queued_) {
    if (keep && queued.request == 0 && queued.publish.qos == 2) {
      // A QoS 2 message kept from an earlier connection, still waiting for the window: never
      // sent, so it has no packet id yet, and it stays kept.
      kept_.outgoing.push_back(SessionState::Unfinished{false, std::move(queued.publish)});
      continue;
    }
    events_.emplace_back(PublishDone{id_, queued.request, false, reason});
  }
  queued_.clear();
  publishes_in_flight_ = 0;
  events_.push_back(std::move(final_event));
}

}  // namespace mqtt_bridge::native
