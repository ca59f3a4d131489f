#pragma once
// The gateway core under test, as a callback sink (STYLE.md §4): feed it frames and upstream
// events on a fake clock, and read back what it wants done. Frames it sends are decoded again so
// tests compare MQTT-SN messages, never raw bytes; show() renders an action list as text (one
// action a line, Log actions left out) so an exact comparison prints both lists when it fails.

#include <doctest/doctest.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "gateway/core/core.hpp"
#include "sn_protocol/codec.hpp"
#include "sn_protocol/packet.hpp"
#include "sn_protocol/peer.hpp"
#include "sn_protocol/topic.hpp"

namespace core_test {

using namespace gateway::core;         // NOLINT(google-build-using-namespace): test vocabulary
using namespace std::chrono_literals;  // NOLINT(google-build-using-namespace)

inline constexpr std::uint16_t kPredefinedId = 1;
inline constexpr const char* kPredefinedName = "sensors/temperature";

// ---- building values ------------------------------------------------------------------------

// A UDP client on 127.0.0.1:<port>, transport 0.
inline sn::Peer udp(std::uint16_t port, std::uint16_t transport = 0) {
  const std::array<std::uint8_t, 6> address{
      127, 0, 0, 1, static_cast<std::uint8_t>(port >> 8), static_cast<std::uint8_t>(port & 0xFFU)};
  return sn::Peer::make(transport, sn::PeerKind::ipv4, address);
}

// The wireless node `node_id` behind `forwarder` (§5.5), as the core names it.
inline sn::Peer behind(const sn::Peer& forwarder, const sn::Bytes& node_id) {
  sn::Peer node = forwarder;
  REQUIRE(node.set_node_id(node_id));
  return node;
}

inline sn::Bytes bytes(std::string_view text) { return {text.begin(), text.end()}; }

// The frame the core must send to reach `peer` with `message`.
inline SendFrame to(const sn::Peer& peer, const sn::Message& message) {
  return SendFrame{peer, sn::encode(message)};
}
// The frame the core must send to a node behind a forwarder: encapsulated, radius 0 (§5.5).
inline SendFrame to_node(const sn::Peer& forwarder, const sn::Bytes& node_id,
                         const sn::Message& message) {
  return SendFrame{forwarder, sn::encode(sn::Packet{sn::Encapsulated{0, node_id, message}})};
}

inline sn::Connect connect_msg(std::string client_id, std::uint16_t keep_alive_s = 60,
                               bool clean = true, bool will = false) {
  sn::Connect c;
  c.will = will;
  c.clean_session = clean;
  c.duration_s = keep_alive_s;
  c.client_id = std::move(client_id);
  return c;
}

inline sn::Publish publish_msg(sn::QoS qos, sn::TopicIdType type, std::uint16_t topic_id,
                               std::uint16_t msg_id, std::string_view data, bool retain = false,
                               bool dup = false) {
  sn::Publish p;
  p.dup = dup;
  p.qos = qos;
  p.retain = retain;
  p.topic_id_type = type;
  p.topic_id = topic_id;
  p.msg_id = msg_id;
  p.data = bytes(data);
  return p;
}

inline sn::Subscribe subscribe_name(std::uint16_t msg_id, std::string filter,
                                    sn::QoS qos = sn::QoS::qos1) {
  sn::Subscribe s;
  s.qos = qos;
  s.topic_id_type = sn::TopicIdType::normal;
  s.msg_id = msg_id;
  s.topic_name = std::move(filter);
  return s;
}

inline sn::Subscribe subscribe_id(std::uint16_t msg_id, sn::TopicIdType type,
                                  std::uint16_t topic_id, sn::QoS qos = sn::QoS::qos1) {
  sn::Subscribe s;
  s.qos = qos;
  s.topic_id_type = type;
  s.msg_id = msg_id;
  s.topic_id = topic_id;
  return s;
}

// ---- rendering ------------------------------------------------------------------------------

inline std::string hex(const sn::Bytes& data) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (const std::uint8_t b : data) {
    if (!out.empty()) out.push_back(' ');
    out.push_back(kDigits[b >> 4]);
    out.push_back(kDigits[b & 0x0FU]);
  }
  return out;
}

inline std::string quoted(const sn::Bytes& data) {
  return "\"" + std::string(data.begin(), data.end()) + "\"";
}

inline std::string describe(sn::QoS qos) {
  return qos == sn::QoS::minus_one ? "-1" : std::to_string(static_cast<unsigned>(qos));
}

inline std::string describe(sn::TopicIdType type) {
  switch (type) {
    case sn::TopicIdType::normal: return "normal";
    case sn::TopicIdType::predefined: return "predefined";
    case sn::TopicIdType::short_name: return "short";
  }
  return "?";
}

// The fields that matter, then the exact octets: equal text means equal messages.
inline std::string describe(const sn::Message& message) {
  std::string text = sn::to_string(sn::type_of(message));
  auto rc = [](sn::ReturnCode code) { return std::string(" rc=") + sn::to_string(code); };
  std::visit(
      [&](const auto& m) {
        using T = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<T, sn::ConnAck> || std::is_same_v<T, sn::WillTopicResp> ||
                      std::is_same_v<T, sn::WillMsgResp>) {
          text += rc(m.return_code);
        } else if constexpr (std::is_same_v<T, sn::Register>) {
          text += " topic_id=" + std::to_string(m.topic_id) +
                  " msg_id=" + std::to_string(m.msg_id) + " name=" + m.topic_name;
        } else if constexpr (std::is_same_v<T, sn::RegAck> || std::is_same_v<T, sn::PubAck>) {
          text += " topic_id=" + std::to_string(m.topic_id) +
                  " msg_id=" + std::to_string(m.msg_id) + rc(m.return_code);
        } else if constexpr (std::is_same_v<T, sn::Publish>) {
          text += " dup=" + std::to_string(m.dup) + " qos=" + describe(m.qos) +
                  " retain=" + std::to_string(m.retain) + " " + describe(m.topic_id_type) +
                  " topic_id=" + std::to_string(m.topic_id) +
                  " msg_id=" + std::to_string(m.msg_id) + " data=" + quoted(m.data);
        } else if constexpr (std::is_same_v<T, sn::PubRec> || std::is_same_v<T, sn::PubRel> ||
                             std::is_same_v<T, sn::PubComp> || std::is_same_v<T, sn::UnsubAck>) {
          text += " msg_id=" + std::to_string(m.msg_id);
        } else if constexpr (std::is_same_v<T, sn::SubAck>) {
          text += " qos=" + describe(m.qos) + " topic_id=" + std::to_string(m.topic_id) +
                  " msg_id=" + std::to_string(m.msg_id) + rc(m.return_code);
        } else if constexpr (std::is_same_v<T, sn::GwInfo>) {
          text += " gw_id=" + std::to_string(m.gw_id);
        } else if constexpr (std::is_same_v<T, sn::Disconnect>) {
          if (m.duration_s) text += " duration=" + std::to_string(*m.duration_s);
        }
      },
      message);
  return text + " [" + hex(sn::encode(message)) + "]";
}

inline std::string describe(const SendFrame& frame) {
  std::string text = "send to " + sn::to_string(frame.peer) + ": ";
  auto decoded = sn::decode(frame.bytes);
  if (!decoded)
    return text + "UNDECODABLE (" + sn::to_string(decoded.error()) + ") [" + hex(frame.bytes) + "]";
  if (const auto* wrapped = std::get_if<sn::Encapsulated>(&*decoded)) {
    return text + "encapsulated radius=" + std::to_string(wrapped->radius) +
           " node=" + hex(wrapped->node_id) + " " + describe(wrapped->message);
  }
  return text + describe(std::visit(
                    [](const auto& m) -> sn::Message {
                      if constexpr (std::is_same_v<std::decay_t<decltype(m)>, sn::Encapsulated>) {
                        return m.message;
                      } else {
                        return m;
                      }
                    },
                    *decoded));
}

inline std::string describe(const std::optional<Will>& will) {
  if (!will) return "none";
  return "{topic=" + will->topic + " payload=" + quoted(will->payload) +
         " qos=" + std::to_string(will->qos) + " retain=" + std::to_string(will->retain) + "}";
}

inline std::string describe(const Action& action) {
  return std::visit(
      [](const auto& a) -> std::string {
        using T = std::decay_t<decltype(a)>;
        if constexpr (std::is_same_v<T, SendFrame>) {
          return describe(a);
        } else if constexpr (std::is_same_v<T, Broadcast>) {
          auto decoded = sn::decode(a.bytes);
          return std::string("broadcast on ") +
                 (a.transport ? "transport " + std::to_string(*a.transport) : "every transport") +
                 " radius=" + std::to_string(a.radius) + ": " +
                 (decoded ? describe(std::visit(
                                [](const auto& m) -> sn::Message {
                                  if constexpr (std::is_same_v<std::decay_t<decltype(m)>,
                                                               sn::Encapsulated>) {
                                    return m.message;
                                  } else {
                                    return m;
                                  }
                                },
                                *decoded))
                          : "undecodable " + hex(a.bytes));
        } else if constexpr (std::is_same_v<T, UpstreamConnect>) {
          return "upstream connect conn=" + std::to_string(a.conn) + " client_id=" + a.client_id +
                 " keep_alive=" + std::to_string(a.keep_alive_s) +
                 " clean=" + std::to_string(a.clean_session) + " will=" + describe(a.will);
        } else if constexpr (std::is_same_v<T, UpstreamDisconnect>) {
          return "upstream disconnect conn=" + std::to_string(a.conn) +
                 " fire_will=" + std::to_string(a.fire_will);
        } else if constexpr (std::is_same_v<T, UpstreamPublish>) {
          return "upstream publish conn=" + std::to_string(a.conn) +
                 " req=" + std::to_string(a.req) + " topic=" + a.topic +
                 " payload=" + quoted(a.payload) + " qos=" + std::to_string(a.qos) +
                 " retain=" + std::to_string(a.retain);
        } else if constexpr (std::is_same_v<T, UpstreamSubscribe>) {
          return "upstream subscribe conn=" + std::to_string(a.conn) +
                 " req=" + std::to_string(a.req) + " filter=" + a.filter +
                 " qos=" + std::to_string(a.qos);
        } else if constexpr (std::is_same_v<T, UpstreamUnsubscribe>) {
          return "upstream unsubscribe conn=" + std::to_string(a.conn) +
                 " req=" + std::to_string(a.req) + " filter=" + a.filter;
        } else if constexpr (std::is_same_v<T, UpstreamAck>) {
          return "upstream ack conn=" + std::to_string(a.conn) + " ack=" + std::to_string(a.ack);
        } else {
          static_assert(std::is_same_v<T, Log>);
          return "log " + a.text;
        }
      },
      action);
}

// The action list as text, one action a line, without Log actions (diagnostics, not protocol).
inline std::string show(const Actions& actions) {
  std::string text;
  for (const Action& action : actions) {
    if (std::holds_alternative<Log>(action)) continue;
    text += describe(action) + "\n";
  }
  return text.empty() ? "(nothing)\n" : text;
}

// ---- the fixture ----------------------------------------------------------------------------

// Predefined topic 1 = "sensors/temperature", T_retry 10 s, N_retry 3.
inline CoreConfig default_config() {
  CoreConfig config;
  config.gateway_id = 7;
  config.client_id_prefix = "sn-";
  config.predefined = {PredefinedTopic{kPredefinedId, kPredefinedName}};
  config.retry_interval = 10s;
  config.max_retries = 3;
  return config;
}

class CoreFixture {
 public:
  explicit CoreFixture(CoreConfig config = default_config())
      : config_(std::move(config)), core_(config_) {
    core_.start(now_, started_);
  }
  // A gateway started again on what its store had (CoreConfig::persistent).
  CoreFixture(CoreConfig config, std::vector<SessionRecord> stored, Time now)
      : config_(std::move(config)), core_(config_), now_(now) {
    core_.restore(std::move(stored), now_, started_);
    core_.start(now_, started_);
  }

  // Every change of state a case caused is one the transition table lists (session_state.cpp).
  ~CoreFixture() {
    CHECK_MESSAGE(core_.counters().unlisted_transitions == 0,
                  "a session changed state in a way the transition table does not list");
  }
  CoreFixture(const CoreFixture&) = delete;
  CoreFixture& operator=(const CoreFixture&) = delete;

  Core& core() { return core_; }
  const CoreConfig& config() const { return config_; }
  Time now() const { return now_; }
  const Actions& started() const { return started_; }
  const Actions& last() const { return last_; }
  const Counters& counters() const { return core_.counters(); }
  std::size_t sessions() const { return core_.session_count(); }

  // One frame from `peer`, exactly as encode() writes it.
  const Actions& feed(const sn::Peer& peer, const sn::Message& message) {
    return feed_bytes(peer, sn::encode(message));
  }
  const Actions& feed_bytes(const sn::Peer& peer, const sn::Bytes& frame) {
    return event(FrameReceived{peer, frame});
  }
  // One frame a forwarder relays for wireless node `node_id` (§5.5).
  const Actions& feed_forwarded(const sn::Peer& forwarder, const sn::Bytes& node_id,
                                const sn::Message& message) {
    return feed_bytes(forwarder, sn::encode(sn::Packet{sn::Encapsulated{0, node_id, message}}));
  }
  // Any event at the current fake time (upstream events, mostly).
  const Actions& event(const Event& e) {
    last_.clear();
    core_.handle(e, now_, last_);
    return last_;
  }

  // Moves the fake clock by `by`, firing TimerExpired at each deadline that falls inside, at
  // exactly that deadline (as the app's loop would). Returns everything the timers did.
  const Actions& advance(Time by) {
    const Time target = now_ + by;
    last_.clear();
    for (int guard = 0;; ++guard) {
      const auto next = core_.next_deadline();
      if (!next || *next > target) break;
      if (guard >= 10000) FAIL("next_deadline() does not move on");
      if (*next > now_) now_ = *next;
      core_.handle(TimerExpired{}, now_, last_);
    }
    now_ = target;
    return last_;
  }

  // Frames of the last call addressed to `peer`, decoded (encapsulated ones unwrapped).
  std::vector<sn::Message> sent_to(const sn::Peer& peer) const {
    std::vector<sn::Message> messages;
    for (const Action& action : last_) {
      const auto* frame = std::get_if<SendFrame>(&action);
      if (frame == nullptr || frame->peer != peer) continue;
      auto decoded = sn::decode(frame->bytes);
      if (!decoded) FAIL("the core sent an undecodable frame: " << describe(*frame));
      std::visit(
          [&](const auto& m) {
            if constexpr (std::is_same_v<std::decay_t<decltype(m)>, sn::Encapsulated>) {
              messages.push_back(m.message);
            } else {
              messages.push_back(m);
            }
          },
          *decoded);
    }
    return messages;
  }

  // Upstream actions of type T in the last call.
  template <typename T>
  std::vector<T> upstream() const {
    std::vector<T> found;
    for (const Action& action : last_) {
      if (const auto* a = std::get_if<T>(&action)) found.push_back(*a);
    }
    return found;
  }

  // The connection id of the only UpstreamConnect in the last call.
  ConnId connect_conn() const {
    const auto connects = upstream<UpstreamConnect>();
    REQUIRE(connects.size() == 1);
    return connects.front().conn;
  }
  // The request id of the only UpstreamPublish / UpstreamSubscribe / ... in the last call.
  template <typename T>
  ReqId req_of() const {
    const auto found = upstream<T>();
    REQUIRE(found.size() == 1);
    return found.front().req;
  }

  // CONNECT (no will) + the broker accepting: returns the upstream connection. REQUIREs the
  // CONNACK accepted.
  ConnId connect(const sn::Peer& peer, const std::string& client_id,
                 std::uint16_t keep_alive_s = 60, bool clean = true) {
    feed(peer, connect_msg(client_id, keep_alive_s, clean));
    const ConnId conn = connect_conn();
    event(UpstreamConnected{conn});
    REQUIRE(show(last_) == show({to(peer, sn::ConnAck{sn::ReturnCode::accepted})}));
    return conn;
  }

  // REGISTER from the client; returns the topic id of the REGACK accepted.
  std::uint16_t register_topic(const sn::Peer& peer, const std::string& name,
                               std::uint16_t msg_id) {
    feed(peer, sn::Register{0, msg_id, name});
    const auto answer = sent_to(peer);
    REQUIRE(answer.size() == 1);
    const auto* regack = std::get_if<sn::RegAck>(&answer.front());
    REQUIRE(regack != nullptr);
    REQUIRE(regack->return_code == sn::ReturnCode::accepted);
    REQUIRE(regack->msg_id == msg_id);
    return regack->topic_id;
  }

  // Persistence: what changed since the last call, as the app would write it.
  SessionChanges changes() {
    SessionChanges out;
    core_.take_changes(out);
    return out;
  }

  // A SIGHUP reload with `next` at the current fake time; its actions.
  const Actions& reconfigure(CoreConfig next) {
    last_.clear();
    core_.reconfigure(std::move(next), now_, last_);
    return last_;
  }

  // The QoS -1 connection start() asked for is up.
  void qos_minus_one_up() { event(UpstreamConnected{kQosMinusOneConn}); }

 private:
  CoreConfig config_;
  Core core_;
  Time now_{0};
  Actions started_;
  Actions last_;
};

}  // namespace core_test
