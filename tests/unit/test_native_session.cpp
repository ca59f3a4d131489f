// The native client's connection state machine (mqtt_bridge/native/session.hpp) with no socket and
// a fake clock: requests and broker packets in, packets written and Upstream events out.
#include <doctest/doctest.h>

#include <deque>

#include <chrono>
#include <string>
#include <variant>
#include <vector>

#include "mqtt_codec/codec.hpp"
#include "native/session.hpp"

namespace mc = mqtt_codec;
using mqtt_bridge::Bytes;
using mqtt_bridge::Connected;
using mqtt_bridge::ConnectFailed;
using mqtt_bridge::ConnectFailure;
using mqtt_bridge::ConnectionLost;
using mqtt_bridge::ConnectRequest;
using mqtt_bridge::Disconnected;
using mqtt_bridge::Event;
using mqtt_bridge::MessageArrived;
using mqtt_bridge::PublishDone;
using mqtt_bridge::SubscribeDone;
using mqtt_bridge::UnsubscribeDone;
using mqtt_bridge::native::Session;
using mqtt_bridge::native::SessionOptions;
using mqtt_bridge::native::SessionState;
using mqtt_bridge::native::Time;
using namespace std::chrono_literals;

namespace {

constexpr std::uint8_t kConnackServerUnavailableForTest = 3;  // MQTT 3.1.1 §3.2.2.3

Bytes bytes(const std::string& text) { return {text.begin(), text.end()}; }

// A session with its fake broker end: what the session wrote is decoded back into packets.
struct Rig {
  explicit Rig(mc::Version v = mc::Version::v311, ConnectRequest request = make_request(),
               SessionOptions options = {}, SessionState resumed = {})
      : version(v), session(request.id, request, with_version(options, v), std::move(resumed)) {}

  static ConnectRequest make_request() {
    ConnectRequest request;
    request.id = 9;
    request.client_id = "node-1";
    request.keep_alive = 30s;
    return request;
  }
  static SessionOptions with_version(SessionOptions options, mc::Version v) {
    options.version = v;
    return options;
  }

  // Every packet the session wrote since the last call, in order.
  std::vector<mc::Packet> written() {
    std::vector<mc::Packet> packets;
    Bytes& out = session.output();
    std::span<const std::uint8_t> rest(out);
    while (!rest.empty()) {
      const auto size = mc::frame_size(rest);
      REQUIRE(size);
      REQUIRE(*size > 0);
      REQUIRE(*size <= rest.size());
      auto packet = mc::decode(rest.first(*size), version);
      REQUIRE_MESSAGE(packet, mc::to_string(packet.error()));
      packets.push_back(std::move(*packet));
      rest = rest.subspan(*size);
    }
    out.clear();
    return packets;
  }
  template <typename T>
  T written_one() {
    auto packets = written();
    REQUIRE(packets.size() == 1);
    REQUIRE(std::holds_alternative<T>(packets.front()));
    return std::get<T>(packets.front());
  }
  std::vector<Event> events() {
    auto out = std::move(session.events());
    session.events().clear();
    return out;
  }
  template <typename T>
  T event_one() {
    auto all = events();
    REQUIRE(all.size() == 1);
    REQUIRE(std::holds_alternative<T>(all.front()));
    return std::get<T>(all.front());
  }
  void from_broker(const mc::Packet& packet) { session.receive(mc::encode(packet, version), now); }

  // CONNECT out, CONNACK in, Connected out.
  void connect(mc::Connack connack = {}) {
    session.start(now);
    (void)written_one<mc::Connect>();
    from_broker(connack);
    (void)event_one<Connected>();
  }

  mc::Version version;
  Session session;
  Time now{1000};
};

template <typename A>
A ack(std::uint16_t id, std::uint8_t code = 0) {
  A a;
  a.packet_id = id;
  a.reason_code = code;
  return a;
}

}  // namespace

TEST_CASE("native session: §3.1 CONNECT carries the request, CONNACK is Connected (3.1.1)") {
  ConnectRequest request = Rig::make_request();
  request.clean_session = false;
  request.will = mqtt_bridge::Will{"w/t", bytes("gone"), 1, true};
  SessionOptions options;
  options.username = "gw";
  options.password = "pw";
  Rig rig(mc::Version::v311, request, options);
  rig.session.start(rig.now);
  const auto connect = rig.written_one<mc::Connect>();
  CHECK(connect.version == mc::Version::v311);
  CHECK(connect.client_id == "node-1");
  CHECK_FALSE(connect.clean_start);
  CHECK(connect.keep_alive == 30);
  REQUIRE(connect.will);
  CHECK(connect.will->topic == "w/t");
  CHECK(connect.will->payload == bytes("gone"));
  CHECK(connect.will->qos == 1);
  CHECK(connect.will->retain);
  CHECK(connect.username == std::optional<std::string>("gw"));
  CHECK(connect.password == std::optional<Bytes>(bytes("pw")));
  CHECK(rig.events().empty());
  rig.from_broker(mc::Connack{true, 0, {}});
  const auto connected = rig.event_one<Connected>();
  CHECK(connected.id == 9);
  CHECK(connected.session_present);
  CHECK(rig.session.connected());
}

TEST_CASE("native session: §3.1.2.11 MQTT 5 CONNECT asks for a session that never expires") {
  ConnectRequest request = Rig::make_request();
  request.clean_session = false;
  Rig rig(mc::Version::v5, request);
  rig.session.start(rig.now);
  const auto connect = rig.written_one<mc::Connect>();
  CHECK(connect.version == mc::Version::v5);
  CHECK(connect.properties.session_expiry_interval == std::optional<std::uint32_t>(0xFFFFFFFF));
  CHECK(connect.properties.maximum_packet_size.has_value());

  Rig clean(mc::Version::v5);
  clean.session.start(clean.now);
  CHECK_FALSE(clean.written_one<mc::Connect>().properties.session_expiry_interval.has_value());
}

TEST_CASE("native session: §3.2.2.3 CONNACK refusals are refused, server unavailable is not") {
  struct Case {
    mc::Version version;
    std::uint8_t code;
    ConnectFailure failure;
  };
  for (const Case& c : {Case{mc::Version::v311, 5, ConnectFailure::refused},
                        Case{mc::Version::v311, 2, ConnectFailure::refused},
                        Case{mc::Version::v311, 3, ConnectFailure::unavailable},
                        Case{mc::Version::v5, 0x87, ConnectFailure::refused},
                        Case{mc::Version::v5, 0x85, ConnectFailure::refused},
                        Case{mc::Version::v5, 0x88, ConnectFailure::unavailable},
                        Case{mc::Version::v5, 0x89, ConnectFailure::unavailable},
                        Case{mc::Version::v5, 0x97, ConnectFailure::unavailable}}) {
    CAPTURE(static_cast<int>(c.code));
    Rig rig(c.version);
    rig.session.start(rig.now);
    (void)rig.written();
    rig.from_broker(mc::Connack{false, c.code, {}});
    const auto failed = rig.event_one<ConnectFailed>();
    CHECK(failed.id == 9);
    CHECK(failed.failure == c.failure);
    CHECK(rig.session.finished());
  }
}

TEST_CASE("native session: requests before CONNACK fail at once, nothing is written") {
  Rig rig;
  rig.session.start(rig.now);
  (void)rig.written();
  rig.session.publish(1, "t", bytes("x"), 1, false, rig.now);
  rig.session.subscribe(2, "t/#", 1, rig.now);
  rig.session.unsubscribe(3, "t/#", rig.now);
  const auto events = rig.events();
  REQUIRE(events.size() == 3);
  CHECK_FALSE(std::get<PublishDone>(events[0]).ok);
  CHECK_FALSE(std::get<SubscribeDone>(events[1]).ok);
  CHECK_FALSE(std::get<UnsubscribeDone>(events[2]).ok);
  CHECK(rig.written().empty());
}

TEST_CASE("native session: §4.3.1 QoS 0 publish is written, and request 0 reports nothing") {
  Rig rig;
  rig.connect();
  rig.session.publish(0, "a/b", bytes("v"), 0, true, rig.now);
  const auto publish = rig.written_one<mc::Publish>();
  CHECK(publish.topic == "a/b");
  CHECK(publish.payload == bytes("v"));
  CHECK(publish.qos == 0);
  CHECK(publish.retain);
  CHECK(rig.events().empty());
  rig.session.publish(5, "a/b", bytes("w"), 0, false, rig.now);
  (void)rig.written_one<mc::Publish>();
  const auto done = rig.event_one<PublishDone>();
  CHECK(done.request == 5);
  CHECK(done.ok);
}

TEST_CASE("native session: §4.3.2 QoS 1 publish completes on PUBACK, a failure code fails it") {
  for (const auto version : {mc::Version::v311, mc::Version::v5}) {
    Rig rig(version);
    rig.connect();
    rig.session.publish(7, "a", bytes("1"), 1, false, rig.now);
    const auto publish = rig.written_one<mc::Publish>();
    CHECK(publish.qos == 1);
    CHECK(publish.packet_id != 0);
    CHECK(rig.events().empty());
    rig.from_broker(ack<mc::Puback>(publish.packet_id));
    const auto done = rig.event_one<PublishDone>();
    CHECK(done.request == 7);
    CHECK(done.ok);
    CHECK(rig.session.in_flight() == 0);
  }
  Rig rig(mc::Version::v5);
  rig.connect();
  rig.session.publish(8, "a", bytes("1"), 1, false, rig.now);
  const auto publish = rig.written_one<mc::Publish>();
  rig.from_broker(ack<mc::Puback>(publish.packet_id, mc::reason::not_authorized));
  const auto done = rig.event_one<PublishDone>();
  CHECK_FALSE(done.ok);
  CHECK(done.reason.find("0x87") != std::string::npos);
}

TEST_CASE("native session: §4.3.3 QoS 2 publish: PUBREC, PUBREL, PUBCOMP, then done") {
  Rig rig;
  rig.connect();
  rig.session.publish(3, "a", bytes("2"), 2, false, rig.now);
  const auto publish = rig.written_one<mc::Publish>();
  CHECK(publish.qos == 2);
  rig.from_broker(ack<mc::Pubrec>(publish.packet_id));
  CHECK(rig.written_one<mc::Pubrel>().packet_id == publish.packet_id);
  CHECK(rig.events().empty());
  rig.from_broker(ack<mc::Pubcomp>(publish.packet_id));
  const auto done = rig.event_one<PublishDone>();
  CHECK(done.request == 3);
  CHECK(done.ok);
}

TEST_CASE("native session: §4.3.3 a QoS 2 message from the broker arrives once, DUPs are re-acked") {
  Rig rig;
  rig.connect();
  mc::Publish incoming;
  incoming.topic = "cmd/led";
  incoming.payload = bytes("on");
  incoming.qos = 2;
  incoming.packet_id = 44;
  rig.from_broker(incoming);
  const auto arrived = rig.event_one<MessageArrived>();
  CHECK(arrived.topic == "cmd/led");
  CHECK(arrived.payload == bytes("on"));
  CHECK(arrived.qos == 2);
  CHECK(rig.written_one<mc::Pubrec>().packet_id == 44);
  incoming.dup = true;
  rig.from_broker(incoming);
  CHECK(rig.events().empty());
  CHECK(rig.written_one<mc::Pubrec>().packet_id == 44);
  rig.from_broker(ack<mc::Pubrel>(44));
  CHECK(rig.written_one<mc::Pubcomp>().packet_id == 44);
  // After PUBCOMP the id is free: the same id is a new message.
  incoming.dup = false;
  rig.from_broker(incoming);
  CHECK(rig.event_one<MessageArrived>().payload == bytes("on"));
}

TEST_CASE("native session: §4.3.2 a QoS 1 message from the broker is PUBACKed") {
  Rig rig;
  rig.connect();
  mc::Publish incoming;
  incoming.topic = "t";
  incoming.qos = 1;
  incoming.packet_id = 3;
  incoming.retain = true;
  rig.from_broker(incoming);
  const auto arrived = rig.event_one<MessageArrived>();
  CHECK(arrived.qos == 1);
  CHECK(arrived.retain);
  CHECK(rig.written_one<mc::Puback>().packet_id == 3);
}

TEST_CASE("native session: §4.9 the broker's Receive Maximum limits what is in flight") {
  Rig rig(mc::Version::v5);
  mc::Connack connack;
  connack.properties.receive_maximum = 2;
  rig.connect(connack);
  for (mqtt_bridge::RequestId r = 1; r <= 4; ++r) {
    rig.session.publish(r, "t", bytes(std::to_string(r)), 1, false, rig.now);
  }
  auto sent = rig.written();
  REQUIRE(sent.size() == 2);
  CHECK(rig.session.queued() == 2);
  const auto first = std::get<mc::Publish>(sent[0]);
  CHECK(first.payload == bytes("1"));
  rig.from_broker(ack<mc::Puback>(first.packet_id));
  CHECK(rig.event_one<PublishDone>().request == 1);
  // One acknowledged, one more goes out, in order.
  const auto third = rig.written_one<mc::Publish>();
  CHECK(third.payload == bytes("3"));
  CHECK(rig.session.queued() == 1);
}

TEST_CASE("native session: publishes beyond max_queued fail at once") {
  SessionOptions options;
  options.send_window = 1;
  options.max_queued = 1;
  Rig rig(mc::Version::v311, Rig::make_request(), options);
  rig.connect();
  rig.session.publish(1, "t", bytes("a"), 1, false, rig.now);
  rig.session.publish(2, "t", bytes("b"), 1, false, rig.now);
  rig.session.publish(3, "t", bytes("c"), 1, false, rig.now);
  const auto done = rig.event_one<PublishDone>();
  CHECK(done.request == 3);
  CHECK_FALSE(done.ok);
  CHECK(rig.written().size() == 1);
}

TEST_CASE("native session: §3.8 SUBSCRIBE and §3.10 UNSUBSCRIBE complete with their acks") {
  Rig rig(mc::Version::v5);
  rig.connect();
  rig.session.subscribe(11, "cmd/#", 1, rig.now);
  const auto subscribe = rig.written_one<mc::Subscribe>();
  REQUIRE(subscribe.subscriptions.size() == 1);
  CHECK(subscribe.subscriptions[0].filter == "cmd/#");
  CHECK(subscribe.subscriptions[0].qos == 1);
  mc::Suback suback;
  suback.packet_id = subscribe.packet_id;
  suback.reason_codes = {1};
  rig.from_broker(suback);
  const auto subscribed = rig.event_one<SubscribeDone>();
  CHECK(subscribed.request == 11);
  CHECK(subscribed.ok);
  CHECK(subscribed.granted_qos == 1);

  rig.session.subscribe(12, "secret/#", 1, rig.now);
  suback.packet_id = rig.written_one<mc::Subscribe>().packet_id;
  suback.reason_codes = {0x87};
  rig.from_broker(suback);
  const auto refused = rig.event_one<SubscribeDone>();
  CHECK_FALSE(refused.ok);
  CHECK(refused.granted_qos == 0x87);

  rig.session.unsubscribe(13, "cmd/#", rig.now);
  mc::Unsuback unsuback;
  unsuback.packet_id = rig.written_one<mc::Unsubscribe>().packet_id;
  unsuback.reason_codes = {0x11};  // no subscription existed: still a success
  rig.from_broker(unsuback);
  CHECK(rig.event_one<UnsubscribeDone>().ok);
}

TEST_CASE("native session: §3.1.2.10 PINGREQ after a quiet keep-alive, no PINGRESP is a loss") {
  Rig rig;
  rig.connect();
  REQUIRE(rig.session.next_deadline());
  CHECK(*rig.session.next_deadline() == rig.now + 30s);
  rig.session.on_timer(rig.now + 29s);
  CHECK(rig.written().empty());
  rig.now += 30s;
  rig.session.on_timer(rig.now);
  (void)rig.written_one<mc::Pingreq>();
  rig.from_broker(mc::Pingresp{});
  CHECK(rig.events().empty());
  CHECK(*rig.session.next_deadline() == rig.now + 30s);
  rig.now += 30s;
  rig.session.on_timer(rig.now);
  (void)rig.written_one<mc::Pingreq>();
  rig.session.publish(4, "t", bytes("x"), 1, false, rig.now);  // in flight when the link dies
  (void)rig.written();
  rig.now += 30s;
  rig.session.on_timer(rig.now);
  const auto events = rig.events();
  REQUIRE(events.size() == 2);
  CHECK_FALSE(std::get<PublishDone>(events[0]).ok);
  CHECK(std::get<ConnectionLost>(events[1]).reason.find("PINGRESP") != std::string::npos);
  CHECK(rig.session.finished());
}

TEST_CASE("native session: §3.14 a broker DISCONNECT (MQTT 5) is ConnectionLost with its reason") {
  Rig rig(mc::Version::v5);
  rig.connect();
  rig.session.subscribe(1, "a", 0, rig.now);
  (void)rig.written();
  rig.from_broker(mc::Disconnect{mc::reason::session_taken_over, {}});
  const auto events = rig.events();
  REQUIRE(events.size() == 2);
  CHECK_FALSE(std::get<SubscribeDone>(events[0]).ok);
  CHECK(std::get<ConnectionLost>(events[1]).reason.find("0x8E") != std::string::npos);
}

TEST_CASE("native session: §3.14.2.1 disconnect with the will is DISCONNECT 0x04 (MQTT 5)") {
  ConnectRequest request = Rig::make_request();
  request.will = mqtt_bridge::Will{"w", bytes("bye"), 0, false};
  Rig rig(mc::Version::v5, request);
  rig.connect();
  rig.session.disconnect(true, rig.now);
  CHECK(rig.written_one<mc::Disconnect>().reason_code == mc::reason::disconnect_with_will);
  CHECK(rig.event_one<Disconnected>().id == 9);

  Rig plain(mc::Version::v5, request);
  plain.connect();
  plain.session.disconnect(false, plain.now);
  CHECK(plain.written_one<mc::Disconnect>().reason_code == mc::reason::success);
}

TEST_CASE("native session: MQTT 3.1.1 fire_will publishes the will, DISCONNECT after its PUBACK") {
  ConnectRequest request = Rig::make_request();
  request.will = mqtt_bridge::Will{"w", bytes("bye"), 1, true};
  Rig rig(mc::Version::v311, request);
  rig.connect();
  rig.session.disconnect(true, rig.now);
  const auto will = rig.written_one<mc::Publish>();
  CHECK(will.topic == "w");
  CHECK(will.payload == bytes("bye"));
  CHECK(will.qos == 1);
  CHECK(will.retain);
  CHECK(rig.events().empty());
  rig.from_broker(ack<mc::Puback>(will.packet_id));
  (void)rig.written_one<mc::Disconnect>();
  CHECK(rig.event_one<Disconnected>().id == 9);
}

TEST_CASE("native session: disconnect while awaiting CONNACK reports only Disconnected") {
  Rig rig;
  rig.session.start(rig.now);
  (void)rig.written();
  rig.session.disconnect(false, rig.now);
  CHECK(rig.events().empty());
  rig.from_broker(mc::Connack{});
  (void)rig.written_one<mc::Disconnect>();
  CHECK(rig.event_one<Disconnected>().id == 9);

  Rig refused;
  refused.session.start(refused.now);
  (void)refused.written();
  refused.session.disconnect(false, refused.now);
  refused.from_broker(mc::Connack{false, 5, {}});
  CHECK(refused.event_one<Disconnected>().id == 9);
}

TEST_CASE("native session: the socket closing is ConnectFailed before CONNACK, ConnectionLost after") {
  Rig early;
  early.session.start(early.now);
  early.session.transport_closed("refused");
  CHECK(early.event_one<ConnectFailed>().failure == ConnectFailure::unavailable);
  Rig late;
  late.connect();
  late.session.transport_closed("reset");
  CHECK(late.event_one<ConnectionLost>().reason == "reset");
  late.session.transport_closed("again");  // nothing follows the final event
  CHECK(late.events().empty());
}

TEST_CASE("native session: packets cut anywhere by the stream are reassembled") {
  Rig reference;
  reference.connect();
  Bytes stream;
  for (std::uint16_t id = 1; id <= 3; ++id) {
    mc::Publish p;
    p.topic = "t/" + std::to_string(id);
    p.payload = Bytes(200 * id, static_cast<std::uint8_t>(id));
    p.qos = 1;
    p.packet_id = id;
    mc::encode_to(p, mc::Version::v311, stream);
  }
  for (std::size_t cut = 1; cut < stream.size(); cut += 37) {
    CAPTURE(cut);
    Rig rig;
    rig.connect();
    const std::span<const std::uint8_t> all(stream);
    rig.session.receive(all.first(cut), rig.now);
    rig.session.receive(all.subspan(cut), rig.now);
    const auto events = rig.events();
    REQUIRE(events.size() == 3);
    for (std::size_t i = 0; i < 3; ++i) {
      CHECK(std::get<MessageArrived>(events[i]).topic == "t/" + std::to_string(i + 1));
      CHECK(std::get<MessageArrived>(events[i]).payload.size() == 200 * (i + 1));
    }
    CHECK(rig.written().size() == 3);
  }
}

TEST_CASE("native session: malformed bytes from the broker end the connection (MQTT 5 says 0x81)") {
  Rig rig(mc::Version::v5);
  rig.connect();
  const Bytes garbage = {0x30, 0x02, 0xFF, 0xFF};  // PUBLISH whose topic length runs past the end
  rig.session.receive(garbage, rig.now);
  CHECK(rig.written_one<mc::Disconnect>().reason_code == mc::reason::malformed_packet);
  CHECK(rig.event_one<ConnectionLost>().reason.find("protocol error") != std::string::npos);
}

TEST_CASE("native session: a packet other than CONNACK first is a failed connect") {
  Rig rig;
  rig.session.start(rig.now);
  (void)rig.written();
  rig.from_broker(mc::Pingresp{});
  CHECK(rig.event_one<ConnectFailed>().failure == ConnectFailure::unavailable);
}

TEST_CASE("native session: acks for packet ids that await nothing are a protocol error") {
  Rig rig;
  rig.connect();
  rig.from_broker(ack<mc::Puback>(77));
  CHECK(rig.event_one<ConnectionLost>().reason.find("77") != std::string::npos);
}

TEST_CASE("native session: manual acknowledgement: PUBACK and PUBREC wait for acknowledge()") {
  SessionOptions options;
  options.manual_acknowledgement = true;
  Rig rig(mc::Version::v311, Rig::make_request(), options);
  rig.connect();
  mc::Publish q1;
  q1.topic = "a";
  q1.qos = 1;
  q1.packet_id = 5;
  rig.from_broker(q1);
  const auto first = rig.event_one<MessageArrived>();
  CHECK(first.ack == 5);
  CHECK(rig.written().empty());  // the broker keeps it until the receiver has it
  q1.dup = true;
  rig.from_broker(q1);  // sent again before our PUBACK: the same message, not a second one
  CHECK(rig.events().empty());
  rig.session.acknowledge(first.ack, rig.now);
  CHECK(rig.written_one<mc::Puback>().packet_id == 5);
  rig.session.acknowledge(first.ack, rig.now);  // twice: nothing more
  CHECK(rig.written().empty());

  mc::Publish q2 = q1;
  q2.qos = 2;
  q2.packet_id = 6;
  q2.dup = false;
  rig.from_broker(q2);
  const auto second = rig.event_one<MessageArrived>();
  CHECK(second.ack == 6);
  CHECK(rig.written().empty());
  rig.session.acknowledge(second.ack, rig.now);
  CHECK(rig.written_one<mc::Pubrec>().packet_id == 6);
  rig.from_broker(ack<mc::Pubrel>(6));
  CHECK(rig.written_one<mc::Pubcomp>().packet_id == 6);

  mc::Publish q0 = q1;
  q0.qos = 0;
  q0.packet_id = 0;
  q0.dup = false;  // MQTT 5 §3.3.1.1: never set on QoS 0
  rig.from_broker(q0);
  CHECK(rig.event_one<MessageArrived>().ack == 0);  // nothing to acknowledge
  rig.session.acknowledge(999, rig.now);  // unknown: ignored
  CHECK(rig.written().empty());
}

TEST_CASE("native session: MQTT 5 announces receive_maximum - a broker that sends beyond it is "
          "held unread, not disconnected, and nothing is lost") {
  SessionOptions options;
  options.manual_acknowledgement = true;
  options.receive_maximum = 2;
  Rig rig(mc::Version::v5, Rig::make_request(), options);
  rig.session.start(rig.now);
  CHECK(rig.written_one<mc::Connect>().properties.receive_maximum ==
        std::optional<std::uint16_t>(2));
  rig.from_broker(mc::Connack{});
  (void)rig.events();
  mc::Publish p;
  p.topic = "a";
  p.qos = 1;
  for (std::uint16_t id = 1; id <= 2; ++id) {
    p.packet_id = id;
    rig.from_broker(p);
  }
  CHECK(rig.events().size() == 2);
  CHECK(rig.session.reading());  // the broker keeps to the window: PUBACKs and PINGRESPs flow
  p.packet_id = 3;
  rig.from_broker(p);  // a third while two wait: mosquitto 2.0.11 does that (§3.3.4 says not to)
  CHECK(rig.written().empty());
  CHECK(rig.events().empty());
  CHECK_FALSE(rig.session.reading());
  rig.session.acknowledge(1, rig.now);
  CHECK(rig.written_one<mc::Puback>().packet_id == 1);
  CHECK(rig.event_one<MessageArrived>().ack == 3);
}

TEST_CASE("native session: MQTT 3.1.1 has no Receive Maximum - a message that finds "
          "receive_maximum waiting for acknowledge() stops the reading, the rest waits in order") {
  SessionOptions options;
  options.manual_acknowledgement = true;
  options.receive_maximum = 2;
  Rig rig(mc::Version::v311, Rig::make_request(), options);
  rig.connect();
  CHECK(rig.session.reading());
  // One read brings five messages: only two are taken.
  Bytes read;
  for (std::uint16_t id = 1; id <= 5; ++id) {
    mc::Publish p;
    p.topic = "a";
    p.qos = 1;
    p.packet_id = id;
    p.payload = bytes(std::to_string(id));
    mc::encode_to(p, mc::Version::v311, read);
  }
  rig.session.receive(read, rig.now);
  auto arrived = rig.events();
  REQUIRE(arrived.size() == 2);
  CHECK(std::get<MessageArrived>(arrived[0]).ack == 1);
  CHECK(std::get<MessageArrived>(arrived[1]).ack == 2);
  CHECK_FALSE(rig.session.reading());
  CHECK(rig.written().empty());
  // Each acknowledgement lets one more in, in the broker's order.
  rig.session.acknowledge(1, rig.now);
  CHECK(rig.written_one<mc::Puback>().packet_id == 1);
  CHECK(rig.event_one<MessageArrived>().ack == 3);
  CHECK_FALSE(rig.session.reading());
  rig.session.acknowledge(2, rig.now);
  (void)rig.written();
  CHECK(rig.event_one<MessageArrived>().ack == 4);
  rig.session.acknowledge(3, rig.now);
  (void)rig.written();
  CHECK(rig.event_one<MessageArrived>().ack == 5);
  CHECK(rig.session.reading());  // nothing waits: the next read may bring anything
  mc::Publish sixth;
  sixth.topic = "a";
  sixth.qos = 2;
  sixth.packet_id = 6;
  rig.from_broker(sixth);  // QoS 2 takes the same window
  CHECK(rig.events().empty());
  CHECK_FALSE(rig.session.reading());
  rig.session.acknowledge(4, rig.now);
  (void)rig.written();
  CHECK(rig.event_one<MessageArrived>().ack == 6);
}

TEST_CASE("native session: keep-alive goes on while the session does not read - a PINGRESP it "
          "has not read is not a dead broker") {
  SessionOptions options;
  options.manual_acknowledgement = true;
  options.receive_maximum = 1;
  options.max_broker_delay = 0ms;
  Rig rig(mc::Version::v311, Rig::make_request(), options);  // keep-alive 30 s
  rig.connect();
  mc::Publish p;
  p.topic = "a";
  p.qos = 1;
  p.packet_id = 1;
  rig.from_broker(p);
  CHECK(rig.event_one<MessageArrived>().ack == 1);
  CHECK(rig.session.reading());
  p.packet_id = 2;
  rig.from_broker(p);  // no room: the reading stops
  CHECK(rig.events().empty());
  CHECK_FALSE(rig.session.reading());
  // Held for two minutes: a PINGREQ every keep-alive, their answers unread, no ConnectionLost.
  int pings = 0;
  for (int s = 0; s < 120; ++s) {
    rig.now += 1s;
    if (const auto deadline = rig.session.next_deadline(); deadline && rig.now >= *deadline) {
      rig.session.on_timer(rig.now);
    }
    for (const auto& packet : rig.written()) pings += std::holds_alternative<mc::Pingreq>(packet);
    CHECK(rig.events().empty());
  }
  CHECK(pings == 4);
  // The PINGRESPs waited unread in the socket: the first read after the acknowledgement has them.
  rig.session.acknowledge(1, rig.now);
  CHECK(rig.written_one<mc::Puback>().packet_id == 1);
  CHECK(rig.event_one<MessageArrived>().ack == 2);
  CHECK(rig.session.reading());
  for (int i = 0; i < pings; ++i) rig.from_broker(mc::Pingresp{});
  rig.now += 29s;
  if (const auto deadline = rig.session.next_deadline(); deadline && rig.now >= *deadline) {
    rig.session.on_timer(rig.now);
  }
  CHECK(rig.events().empty());
  // Reading again, a PINGREQ without an answer within a keep-alive ends the connection as before.
  rig.now += 2s;
  rig.session.on_timer(rig.now);
  CHECK(rig.written_one<mc::Pingreq>() == mc::Pingreq{});
  rig.now += 30s;
  rig.session.on_timer(rig.now);
  CHECK(std::holds_alternative<ConnectionLost>(rig.events().back()));
}

TEST_CASE("native session: QoS 0 beyond max_queued unsent fails instead of queueing") {
  SessionOptions options;
  options.max_queued = 2;
  Rig rig(mc::Version::v311, Rig::make_request(), options);
  rig.connect();
  rig.session.publish(0, "t", bytes("1"), 0, false, rig.now);
  rig.session.publish(0, "t", bytes("2"), 0, false, rig.now);
  CHECK(rig.events().empty());
  rig.session.publish(0, "t", bytes("3"), 0, false, rig.now);  // the socket took nothing yet
  const auto dropped = rig.event_one<PublishDone>();
  CHECK(dropped.request == 0);  // request 0 hears of its failure
  CHECK_FALSE(dropped.ok);
  CHECK(rig.written().size() == 2);
  rig.session.output_taken();  // the driver handed the output to the socket
  rig.session.publish(0, "t", bytes("4"), 0, false, rig.now);
  CHECK(rig.events().empty());
  CHECK(rig.written().size() == 1);
}

// --- Session resumption (MQTT 3.1.1 §4.4, MQTT 5 §4.4) ---

namespace {

ConnectRequest persistent_request(mqtt_bridge::ConnectionId id = 9) {
  ConnectRequest request = Rig::make_request();
  request.id = id;
  request.clean_session = false;
  return request;
}

// Publishes `qos` with `request` on a connected rig; returns the PUBLISH written.
mc::Publish publish_one(Rig& rig, mqtt_bridge::RequestId request, int qos,
                        const std::string& payload) {
  rig.session.publish(request, "t/" + payload, bytes(payload), qos, false, rig.now);
  return rig.written_one<mc::Publish>();
}

}  // namespace

TEST_CASE("native session: §4.4 a resumed session resends unacknowledged PUBLISH with DUP and "
          "PUBREL, with their packet ids") {
  for (const auto version : {mc::Version::v311, mc::Version::v5}) {
    CAPTURE(static_cast<int>(version));
    Rig first(version, persistent_request());
    first.connect();
    const auto q1 = publish_one(first, 1, 1, "one");
    const auto q2_unacked = publish_one(first, 2, 2, "two");
    const auto q2_received = publish_one(first, 3, 2, "three");
    first.from_broker(ack<mc::Pubrec>(q2_received.packet_id));
    CHECK(first.written_one<mc::Pubrel>().packet_id == q2_received.packet_id);
    first.session.transport_closed("reset");
    // QoS 1 fails (the client sends it again); QoS 2 is kept and reported taken, so that the
    // client does not send it again and the broker never has it twice.
    auto events = first.events();
    REQUIRE(events.size() == 4);
    CHECK(std::get<PublishDone>(events[0]).request == 1);
    CHECK_FALSE(std::get<PublishDone>(events[0]).ok);
    CHECK(std::get<PublishDone>(events[1]).request == 2);
    CHECK(std::get<PublishDone>(events[1]).ok);
    CHECK(std::get<PublishDone>(events[2]).request == 3);
    CHECK(std::get<PublishDone>(events[2]).ok);
    CHECK(std::holds_alternative<ConnectionLost>(events[3]));
    auto state = first.session.take_state();
    CHECK(state.outgoing.size() == 3);

    Rig second(version, persistent_request(10), {}, std::move(state));
    second.connect(mc::Connack{true, 0, {}});
    const auto resent = second.written();
    REQUIRE(resent.size() == 3);
    const auto& p1 = std::get<mc::Publish>(resent[0]);
    CHECK(p1.dup);
    CHECK(p1.packet_id == q1.packet_id);
    CHECK(p1.qos == 1);
    CHECK(p1.payload == bytes("one"));
    const auto& p2 = std::get<mc::Publish>(resent[1]);
    CHECK(p2.dup);
    CHECK(p2.packet_id == q2_unacked.packet_id);
    CHECK(p2.topic == "t/two");
    CHECK(std::get<mc::Pubrel>(resent[2]).packet_id == q2_received.packet_id);
    // The broker completes them; nobody waits for them any more, so no event comes.
    second.from_broker(ack<mc::Puback>(q1.packet_id));
    second.from_broker(ack<mc::Pubrec>(q2_unacked.packet_id));
    CHECK(second.written_one<mc::Pubrel>().packet_id == q2_unacked.packet_id);
    second.from_broker(ack<mc::Pubcomp>(q2_unacked.packet_id));
    second.from_broker(ack<mc::Pubcomp>(q2_received.packet_id));
    CHECK(second.events().empty());
    CHECK(second.session.in_flight() == 0);
    // New messages take new packet ids, never one the broker may still hold.
    const auto next = publish_one(second, 4, 2, "four");
    CHECK(next.packet_id != q1.packet_id);
    CHECK(next.packet_id != q2_unacked.packet_id);
    CHECK(next.packet_id != q2_received.packet_id);
    CHECK_FALSE(next.dup);
  }
}

TEST_CASE("native session: §4.4 without the broker's session, kept QoS 2 messages go out anew") {
  Rig first(mc::Version::v311, persistent_request());
  first.connect();
  (void)publish_one(first, 1, 1, "one");
  (void)publish_one(first, 2, 2, "two");
  const auto released = publish_one(first, 3, 2, "three");
  first.from_broker(ack<mc::Pubrec>(released.packet_id));
  (void)first.written();
  first.session.transport_closed("reset");
  (void)first.events();

  // The broker lost the session (restarted without persistence): the QoS 1 message was failed
  // to its client, the two QoS 2 ones were promised to theirs and are published as new messages.
  Rig second(mc::Version::v311, persistent_request(10), {}, first.session.take_state());
  second.connect(mc::Connack{false, 0, {}});
  const auto sent = second.written();
  REQUIRE(sent.size() == 2);
  const auto& a = std::get<mc::Publish>(sent[0]);
  const auto& b = std::get<mc::Publish>(sent[1]);
  CHECK(a.payload == bytes("two"));
  CHECK(b.payload == bytes("three"));
  CHECK_FALSE(a.dup);
  CHECK_FALSE(b.dup);
  CHECK(a.qos == 2);
  CHECK(b.qos == 2);
}

TEST_CASE("native session: §4.4 kept state survives a connect that fails, and a clean session "
          "drops it") {
  Rig first(mc::Version::v311, persistent_request());
  first.connect();
  const auto p = publish_one(first, 1, 2, "two");
  first.session.transport_closed("reset");
  (void)first.events();

  Rig refused(mc::Version::v311, persistent_request(10), {}, first.session.take_state());
  refused.session.start(refused.now);
  (void)refused.written();
  refused.from_broker(mc::Connack{false, kConnackServerUnavailableForTest, {}});
  (void)refused.event_one<ConnectFailed>();
  auto state = refused.session.take_state();
  REQUIRE(state.outgoing.size() == 1);
  CHECK(state.outgoing.front().publish.packet_id == p.packet_id);

  ConnectRequest clean = persistent_request(11);
  clean.clean_session = true;
  Rig fresh(mc::Version::v311, clean, {}, std::move(state));
  fresh.connect(mc::Connack{false, 0, {}});
  CHECK(fresh.written().empty());
  fresh.session.transport_closed("reset");
  CHECK(fresh.session.take_state().empty());
}

TEST_CASE("native session: CleanSession=true fails every QoS 1/2 publish in flight and keeps "
          "nothing") {
  Rig rig;
  rig.connect();
  (void)publish_one(rig, 1, 2, "two");
  rig.session.transport_closed("reset");
  auto events = rig.events();
  REQUIRE(events.size() == 2);
  CHECK_FALSE(std::get<PublishDone>(events[0]).ok);
  CHECK(rig.session.take_state().empty());
}

TEST_CASE("native session: §4.3.3 a QoS 2 message received before the connection dropped is "
          "not delivered again on resumption") {
  for (const auto version : {mc::Version::v311, mc::Version::v5}) {
    CAPTURE(static_cast<int>(version));
    Rig first(version, persistent_request());
    first.connect();
    mc::Publish incoming;
    incoming.topic = "down";
    incoming.payload = bytes("once");
    incoming.qos = 2;
    incoming.packet_id = 77;
    first.from_broker(incoming);
    (void)first.event_one<MessageArrived>();
    CHECK(first.written_one<mc::Pubrec>().packet_id == 77);
    first.session.transport_closed("reset");  // before the broker's PUBREL
    (void)first.events();

    Rig second(version, persistent_request(10), {}, first.session.take_state());
    second.connect(mc::Connack{true, 0, {}});
    (void)second.written();
    // The broker may resend the PUBLISH (it missed our PUBREC) or go on with PUBREL.
    incoming.dup = true;
    second.from_broker(incoming);
    CHECK(second.events().empty());
    CHECK(second.written_one<mc::Pubrec>().packet_id == 77);
    second.from_broker(ack<mc::Pubrel>(77));
    const auto pubcomp = second.written_one<mc::Pubcomp>();
    CHECK(pubcomp.packet_id == 77);
    CHECK(pubcomp.reason_code == mc::reason::success);  // MQTT 5: not 0x92, the id was known
  }
}

// --- The broker-delay bound for QoS 0 (SessionOptions::max_broker_delay) ---

namespace {

// Publishes QoS 0 messages until the session writes its delay probe; returns how many it took.
int publish_until_probe(Rig& rig) {
  for (int i = 1; i <= 1000; ++i) {
    rig.session.publish(0, "t", bytes("x"), 0, false, rig.now);
    for (const auto& packet : rig.written()) {
      if (std::holds_alternative<mc::Pingreq>(packet)) return i;
    }
  }
  FAIL("no PINGREQ among 1000 QoS 0 publishes");
  return 0;
}

}  // namespace

TEST_CASE("native session: QoS 0 is dropped while the broker is more than max_broker_delay behind "
          "a PINGREQ, and flows again on its PINGRESP") {
  SessionOptions options;
  options.max_broker_delay = 50ms;
  Rig rig(mc::Version::v311, Rig::make_request(), options);
  rig.connect();  // CONNACK in the same millisecond: the best round trip is 0
  rig.now += 10ms;
  CHECK(publish_until_probe(rig) == 32);
  CHECK(rig.events().empty());
  // 50 ms is still within the bound: the message goes out.
  rig.now += 50ms;
  rig.session.publish(0, "t", bytes("x"), 0, false, rig.now);
  CHECK(rig.written_one<mc::Publish>().qos == 0);
  rig.now += 1ms;
  rig.session.publish(7, "t", bytes("late"), 0, false, rig.now);
  CHECK(rig.written().empty());
  const auto dropped = rig.event_one<PublishDone>();
  CHECK(dropped.request == 7);
  CHECK_FALSE(dropped.ok);
  CHECK(dropped.reason.find("congestion") != std::string::npos);
  // QoS 1 is not dropped: its window and its PUBACKs pace it.
  rig.session.publish(8, "t", bytes("q1"), 1, false, rig.now);
  CHECK(rig.written_one<mc::Publish>().qos == 1);
  rig.from_broker(mc::Pingresp{});
  rig.session.publish(9, "t", bytes("again"), 0, false, rig.now);
  CHECK(rig.written_one<mc::Publish>().payload == bytes("again"));
  CHECK(rig.event_one<PublishDone>().ok);
}

TEST_CASE("native session: the broker-delay bound counts from the best round trip, so a distant "
          "broker is not taken for a slow one") {
  SessionOptions options;
  options.max_broker_delay = 50ms;
  Rig rig(mc::Version::v311, Rig::make_request(), options);
  rig.session.start(rig.now);
  (void)rig.written_one<mc::Connect>();
  rig.now += 80ms;  // a broker across a WAN
  rig.from_broker(mc::Connack{});
  (void)rig.event_one<Connected>();
  (void)publish_until_probe(rig);
  rig.now += 120ms;  // 80 ms away + 40 ms of queue: within the bound
  rig.session.publish(0, "t", bytes("x"), 0, false, rig.now);
  CHECK(rig.written_one<mc::Publish>().qos == 0);
  rig.now += 20ms;  // 140 ms: 60 ms more than the best round trip
  rig.session.publish(5, "t", bytes("x"), 0, false, rig.now);
  CHECK_FALSE(rig.event_one<PublishDone>().ok);
}

TEST_CASE("native session: max_broker_delay 0 never probes and never drops for delay") {
  SessionOptions options;
  options.max_broker_delay = 0ms;
  Rig rig(mc::Version::v311, Rig::make_request(), options);
  rig.connect();
  for (int i = 0; i < 200; ++i) {
    rig.now += 1ms;
    rig.session.publish(0, "t", bytes("x"), 0, false, rig.now);
    CHECK(rig.written_one<mc::Publish>().qos == 0);
  }
  CHECK(rig.events().empty());
}

TEST_CASE("native session: while the broker is behind, QoS 0 beyond what it gets through in "
          "max_broker_delay at its pace is dropped") {
  SessionOptions options;
  options.max_broker_delay = 50ms;
  Rig rig(mc::Version::v311, Rig::make_request(), options);
  rig.connect();
  const std::string payload(100, 'p');  // 106-byte PUBLISHes
  auto publish = [&](mqtt_bridge::RequestId request) {
    rig.session.publish(request, "t", bytes(payload), 0, false, rig.now);
    auto events = rig.events();
    return events.empty() || std::get<PublishDone>(events.front()).ok;
  };
  auto until_probe = [&] {
    for (int i = 0; i < 1000; ++i) {
      REQUIRE(publish(1));
      for (const auto& packet : rig.written()) {
        if (std::holds_alternative<mc::Pingreq>(packet)) return;
      }
    }
    FAIL("no PINGREQ");
  };
  // A probe answered 30 ms late (a quarter of the bound or more): the broker is behind. The next
  // is answered 5 ms after the first, so the broker got through 32 messages (3,394 bytes with
  // the PINGREQ) in 5 ms, taken as 6 (the clock may have cut off a millisecond): 566 bytes/ms.
  rig.now += 10ms;
  until_probe();
  rig.now += 30ms;
  rig.from_broker(mc::Pingresp{});
  until_probe();
  rig.now += 5ms;
  rig.from_broker(mc::Pingresp{});
  // Nothing was dropped yet: it may be given what it gets through in the whole bound, 50 ms:
  // 28,282 bytes, 266 messages; then drops begin.
  int accepted = 0;
  while (accepted < 1000 && publish(2)) ++accepted;
  CHECK(accepted >= 263);
  CHECK(accepted <= 269);
  // The drop sent a PINGREQ (or one is out): its answer will end the dropping.
  bool probe_out = false;
  for (const auto& packet : rig.written()) probe_out |= std::holds_alternative<mc::Pingreq>(packet);
  CHECK(probe_out);
  // 10 ms later, still without an answer, the broker got through 5,657 more bytes at its pace:
  // 53 more go. (Only drops that go on for the whole bound hold the queue to half of it: the
  // overload simulation below.)
  rig.now += 10ms;
  int later = 0;
  while (later < 1000 && publish(3)) ++later;
  CHECK(later >= 50);
  CHECK(later <= 56);
  // The probe's answer, 10 ms late, does not end "behind"; eight in a row less than a tenth of
  // the bound late do: then a burst far beyond what the broker gets through in the bound goes
  // out whole.
  rig.from_broker(mc::Pingresp{});
  int answers = 0;
  for (int round = 0; round < 100 && answers < 8; ++round) {
    rig.now += 5ms;
    for (int k = 0; k < 32; ++k) (void)publish(5);
    for (const auto& packet : rig.written()) {
      if (std::holds_alternative<mc::Pingreq>(packet)) {
        rig.from_broker(mc::Pingresp{});
        ++answers;
      }
    }
  }
  REQUIRE(answers == 8);
  int burst = 0;
  while (burst < 2000 && publish(6)) ++burst;
  CHECK(burst == 2000);
}

namespace {

// A broker in time steps of 1 ms: it handles up to `capacity` packets per step in the order they
// were written, none during a stall (`stall` ms at the start of every `period` ms: a busy box
// that deschedules it), and answers each PINGREQ when it reaches it. The session publishes `rate`
// QoS 0 messages per step; with `burst`, only in the first `burst.on` ms of every `burst.period`
// ms (sensors that report together, then say nothing).
struct Burst {
  int on = 1;
  int period = 1;
};
// One stall more, of `length` ms from step `at`.
struct OneStall {
  int at = -1;
  int length = 0;
};
struct BrokerRun {
  int dropped = 0;
  int accepted = 0;
  int handled = 0;  // PUBLISHes the broker got through
  // The longest a PUBLISH waited in the broker's queue, over the whole run and over its second
  // half (the bound learns the broker's pace from its first answers).
  std::chrono::milliseconds worst_wait{0};
  std::chrono::milliseconds worst_wait_settled{0};
  int dropped_settled = 0;  // in the second half
};

BrokerRun run_broker(int rate, int capacity, int stall, int period, int steps, Burst burst = {},
                     OneStall one = {}) {
  SessionOptions options;
  options.max_broker_delay = 50ms;
  Rig rig(mc::Version::v311, Rig::make_request(), options);
  rig.connect();
  struct Waiting {
    bool ping;
    Time since;
  };
  std::deque<Waiting> queue;
  BrokerRun run;
  const std::string payload(32, 'p');
  for (int step = 0; step < steps; ++step) {
    rig.now += 1ms;
    const int sending = step % burst.period < burst.on ? rate : 0;
    for (int i = 0; i < sending; ++i) {
      rig.session.publish(1, "bench/t", bytes(payload), 0, false, rig.now);
      for (const auto& e : rig.events()) {
        if (std::get<PublishDone>(e).ok) {
          ++run.accepted;
        } else {
          ++run.dropped;
          if (step >= steps / 2) ++run.dropped_settled;
        }
      }
      for (const auto& packet : rig.written()) {
        queue.push_back({std::holds_alternative<mc::Pingreq>(packet), rig.now});
      }
      rig.session.output_taken();  // the socket took it: only the broker's pace holds it
    }
    if (step % period < stall || (step >= one.at && step < one.at + one.length)) continue;
    for (int k = 0; k < capacity && !queue.empty(); ++k) {
      const Waiting w = queue.front();
      queue.pop_front();
      if (w.ping) {
        rig.from_broker(mc::Pingresp{});
        for (const auto& packet : rig.written()) {
          queue.push_back({std::holds_alternative<mc::Pingreq>(packet), rig.now});
        }
      } else {
        ++run.handled;
        run.worst_wait = std::max(run.worst_wait, rig.now - w.since);
        if (step >= steps / 2) {
          run.worst_wait_settled = std::max(run.worst_wait_settled, rig.now - w.since);
        }
      }
    }
  }
  return run;
}

}  // namespace

TEST_CASE("native session: a broker that stalls for less than max_broker_delay and catches up "
          "loses no QoS 0 message") {
  // The broker keeps up on average but stops now and then (descheduled on a busy box): for up to
  // 20 ms every 100 ms, or 35 ms every 200 ms. It is never 50 ms behind, so the bound must drop
  // nothing, whatever the phase of its probes. The pace measured between the two answers around
  // a stall is far below what the broker does once it runs again; taken alone (as the bound did
  // before) it dropped 6 and 12 % of the first two. Holding the queue to half the bound before
  // anything was dropped (as the bound did before) dropped 5 % of the third.
  for (const auto [rate, capacity, stall, period] :
       {std::array{20, 60, 20, 100}, std::array{40, 50, 15, 100}, std::array{20, 60, 35, 200}}) {
    CAPTURE(rate);
    CAPTURE(capacity);
    CAPTURE(stall);
    const BrokerRun run = run_broker(rate, capacity, stall, period, 3000);
    CAPTURE(run.worst_wait.count());
    CHECK(run.worst_wait < std::chrono::milliseconds(stall + 5));
    CHECK(run.dropped == 0);
    CHECK(run.accepted == rate * 3000);
  }
}

TEST_CASE("native session: after a stall longer than max_broker_delay, shorter stalls lose no "
          "QoS 0 message again") {
  // A broker at a third of its capacity that stops for 35 ms every 200 ms, and once, early on,
  // for 150 ms. That one is the bound late for longer than the bound: QoS 0 is dropped while it
  // lasts, and for a second after it the queue is held to half the bound (a lasting overload
  // looks the same at first), so the 35 ms stalls of that second may drop some. From then on they
  // must drop nothing: the whole bound is theirs again (the bound kept half of it for good after
  // its first such run of drops, which dropped 1,540 of the second half here).
  const BrokerRun run = run_broker(20, 60, 35, 200, 3000, Burst{}, OneStall{210, 150});
  CAPTURE(run.worst_wait.count());
  CHECK(run.dropped > 0);
  CHECK(run.dropped_settled == 0);
}

TEST_CASE("native session: a pause in the publishing is not taken for a slow broker, so bursts "
          "it keeps up with lose no QoS 0 message") {
  // Bursts of 200 ms at 80 % of what the broker takes, 100 ms apart (the sensors report
  // together), and a broker that stops for 25 ms every 100 ms: the stalls make it a quarter of
  // the bound late now and then (it is "behind"), but it is never the bound behind. What it got
  // through over the pause is not its pace: the pace measured across the pause, about 2/3 of the
  // real one, made the bound take a stall in the next burst for the bound and drop 4,160
  // messages (5 %), as the gateway did at 98,000 msgs/s in the benchmark, whose runs on one
  // gateway are such bursts.
  const BrokerRun run = run_broker(40, 50, 25, 100, 3000, Burst{200, 300});
  CAPTURE(run.worst_wait.count());
  CHECK(run.worst_wait < 50ms);
  CHECK(run.dropped == 0);
  CHECK(run.accepted == 40 * 200 * 10);
}

TEST_CASE("native session: under overload the bound keeps the broker's queue near half of "
          "max_broker_delay and the broker busy") {
  // 3x and 10x what the broker takes: most must be dropped; once the bound knows the broker's
  // pace, what is accepted waits about half the bound, and the dropping never starves the
  // broker. (Before the first answers tell the pace, only the probe being the bound late stops
  // the queue: up to twice the bound at 3x, 460 ms at 10x, in the first half of the run.)
  for (const int rate : {60, 200}) {
    CAPTURE(rate);
    const BrokerRun run = run_broker(rate, 20, 0, 100, 3000);
    CAPTURE(run.worst_wait.count());
    CAPTURE(run.handled);
    CHECK(run.dropped > 0);
    CHECK(run.worst_wait_settled <= 30ms);
    CHECK(run.handled >= 20 * 3000 * 95 / 100);
  }
}
