// End to end over a serial line: the real mqttsn-gateway opens one end of a socat PTY pair, the
// test plays the MQTT-SN node (raw framing) or the XBee coordinator radio with its nodes (API
// mode 1 and 2) on the other, and a real mosquitto sits upstream. Every transport list keeps the
// UDP transport first, so the gateway's readiness is still checked with SEARCHGW over UDP.
// Without socat on PATH these tests are skipped (and say so on stderr).

#include <doctest/doctest.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "support/broker.hpp"
#include "support/gateway_process.hpp"
#include "support/sn_link.hpp"

using namespace std::chrono_literals;
using test_support::GatewayOptions;
using test_support::GatewayProcess;
using test_support::Mosquitto;
using test_support::RawSerialLink;
using test_support::SnClient;
using test_support::SocatPair;
using test_support::TestSubscriber;
using test_support::XBeeCoordinator;
namespace xbee = transports::xbee;

namespace {

const bool kNoSocat = test_support::no_socat();

std::string serial_transport(const SocatPair& line, const std::string& extra = {}) {
  return R"({"type": "serial", "name": "line", "device": ")" + line.gateway_link() + "\"" + extra +
         "}";
}

std::string xbee_transport(const SocatPair& line, int api_mode) {
  return R"({"type": "serial", "name": "zigbee", "device": ")" + line.gateway_link() +
         R"(", "framing": "xbee", "api_mode": )" + std::to_string(api_mode) + "}";
}

using TransportList = std::function<std::vector<std::string>(const SocatPair&)>;

// A broker, a socat pair, and the gateway with `transports` after its UDP one.
struct Rig {
  Mosquitto broker;
  SocatPair line;
  std::unique_ptr<GatewayProcess> gateway;

  explicit Rig(const TransportList& transports, GatewayOptions options = {}) {
    REQUIRE(line.start());
    options.upstream_uri = broker.uri();
    options.extra_transports = transports(line);
    gateway = std::make_unique<GatewayProcess>(options);
  }
};

std::vector<std::string> raw_line(const SocatPair& line) { return {serial_transport(line)}; }
std::vector<std::string> xbee_api1(const SocatPair& line) { return {xbee_transport(line, 1)}; }
std::vector<std::string> xbee_api2(const SocatPair& line) { return {xbee_transport(line, 2)}; }

// One node's full round: CONNECT, SUBSCRIBE to its downlink topic, REGISTER, PUBLISH at `qos`.
void connect_and_publish(SnClient& node, const std::string& id, sn::QoS qos,
                         const std::string& payload) {
  REQUIRE(node.connect(id, 60) == sn::ReturnCode::accepted);
  REQUIRE(node.subscribe("down/" + id, sn::QoS::qos2));
  const auto topic = node.register_topic("up/" + id);
  REQUIRE(topic.has_value());
  CHECK(node.publish(*topic, payload, qos));
}

}  // namespace

TEST_CASE("gateway serial raw: CONNECT, REGISTER, QoS 1 PUBLISH reach mosquitto - QoS 1 downlink" *
          doctest::skip(kNoSocat)) {
  Rig rig(raw_line);
  TestSubscriber up(rig.broker.uri(), "up/#");
  RawSerialLink link(rig.line.device_link());
  SnClient node(link);
  connect_and_publish(node, "serial-1", sn::QoS::qos1, "21.5");
  REQUIRE(up.wait_for(1, 5s));
  CHECK(up.messages()[0].topic == "up/serial-1");
  CHECK(up.messages()[0].payload == "21.5");
  CHECK(up.messages()[0].qos == 1);

  up.publish("down/serial-1", "on", 1);
  const auto got = node.next_publish();
  REQUIRE(got.has_value());
  CHECK(got->topic == "down/serial-1");
  CHECK(got->payload == "on");
  CHECK(got->qos == sn::QoS::qos1);
  CHECK(node.disconnect());
}

TEST_CASE("gateway serial raw: QoS 0, 1 and 2 both ways" * doctest::skip(kNoSocat)) {
  Rig rig(raw_line);
  TestSubscriber up(rig.broker.uri(), "up/#");
  RawSerialLink link(rig.line.device_link());
  SnClient node(link);
  REQUIRE(node.connect("serial-q", 60) == sn::ReturnCode::accepted);
  REQUIRE(node.subscribe("down/serial-q", sn::QoS::qos2));
  const auto topic = node.register_topic("up/serial-q");
  REQUIRE(topic.has_value());
  for (const auto qos : {sn::QoS::qos0, sn::QoS::qos1, sn::QoS::qos2}) {
    CHECK(node.publish(*topic, "q" + std::to_string(static_cast<int>(qos)), qos));
  }
  REQUIRE(up.wait_for(3, 5s));
  for (int q = 0; q < 3; ++q) {
    CHECK(up.messages()[static_cast<std::size_t>(q)].payload == "q" + std::to_string(q));
    CHECK(up.messages()[static_cast<std::size_t>(q)].qos == q);
  }
  for (int q = 0; q < 3; ++q) {
    up.publish("down/serial-q", "d" + std::to_string(q), q);
    const auto got = node.next_publish();
    REQUIRE(got.has_value());
    CHECK(got->payload == "d" + std::to_string(q));
    CHECK(static_cast<int>(got->qos) == q);
  }
}

TEST_CASE("gateway serial raw: one octet per write, three frames in one write, garbage first" *
          doctest::skip(kNoSocat)) {
  Rig rig(raw_line);
  TestSubscriber up(rig.broker.uri(), "up/#");
  RawSerialLink link(rig.line.device_link());
  SnClient node(link);

  // CONNECT written one octet at a time.
  link.write_bytes(sn::encode(sn::Message{sn::Connect{false, true, 60, "serial-bytes"}}), true);
  const auto connack = node.expect<sn::ConnAck>();
  REQUIRE(connack.has_value());
  CHECK(connack->return_code == sn::ReturnCode::accepted);
  const auto topic = node.register_topic("up/bytes");
  REQUIRE(topic.has_value());

  // Garbage that the resynchronisation rule skips octet by octet (stream_deframer.hpp: an
  // unknown MsgType 0x03, a Length below the smallest ADVERTISE, Length 0), then three QoS 0
  // PUBLISHes, all in one write.
  sn::Bytes burst = {0xEE, 0x03, 0x00, 0x00};
  for (const char* payload : {"a", "b", "c"}) {
    sn::Publish p;
    p.topic_id = *topic;
    p.data = sn::Bytes{static_cast<std::uint8_t>(payload[0])};
    const auto frame = sn::encode(sn::Message{p});
    burst.insert(burst.end(), frame.begin(), frame.end());
  }
  link.write_bytes(burst);
  REQUIRE(up.wait_for(3, 5s));
  CHECK(up.messages()[0].payload == "a");
  CHECK(up.messages()[1].payload == "b");
  CHECK(up.messages()[2].payload == "c");

  // And a QoS 1 PUBLISH one octet at a time is acknowledged.
  sn::Publish p;
  p.qos = sn::QoS::qos1;
  p.topic_id = *topic;
  p.msg_id = 77;
  p.data = sn::Bytes{'d'};
  link.write_bytes(sn::encode(sn::Message{p}), true);
  const auto puback = node.expect<sn::PubAck>();
  REQUIRE(puback.has_value());
  CHECK(puback->msg_id == 77);
  CHECK(puback->return_code == sn::ReturnCode::accepted);
  REQUIRE(up.wait_for(4, 5s));
  CHECK(up.messages()[3].payload == "d");
}

TEST_CASE("gateway serial raw: the line vanishes -> will published - it returns -> serving again" *
          doctest::skip(kNoSocat)) {
  Rig rig(raw_line);
  TestSubscriber wills(rig.broker.uri(), "will/#");
  {
    RawSerialLink link(rig.line.device_link());
    SnClient node(link);
    REQUIRE(node.connect("serial-will", 60, "will/serial-will", "gone") ==
            sn::ReturnCode::accepted);
    CHECK(node.ping());
    rig.line.stop();  // the PTY disappears under the gateway, as an unplugged USB adapter
  }
  REQUIRE(wills.wait_for(1, 10s));
  CHECK(wills.messages()[0].topic == "will/serial-will");
  CHECK(wills.messages()[0].payload == "gone");
  CHECK(rig.gateway->wait_for_log("device lost"));

  REQUIRE(rig.line.start());  // same link names: the adapter's reopen finds it
  REQUIRE(rig.gateway->wait_for_log("is back", 15s));
  TestSubscriber up(rig.broker.uri(), "up/#");
  RawSerialLink link(rig.line.device_link());
  SnClient node(link);
  connect_and_publish(node, "serial-again", sn::QoS::qos1, "back");
  REQUIRE(up.wait_for(1, 5s));
  CHECK(up.messages()[0].payload == "back");
}

namespace {

// 20 nodes behind one coordinator: each its own session, each publishes, each gets a downlink.
void twenty_xbee_nodes(const TransportList& transports, xbee::ApiMode mode) {
  // What is tested is the radio's addressing, not the upstream client: the native one connects
  // the 20 sessions in milliseconds where Paho takes 1-2 s each (40 s a case, three presets).
  GatewayOptions options;
  options.client = "native";
  Rig rig(transports, options);
  TestSubscriber up(rig.broker.uri(), "up/#");
  XBeeCoordinator radio(rig.line.device_link(), mode);
  std::vector<std::unique_ptr<SnClient>> nodes;
  constexpr int kNodes = 20;
  for (int i = 0; i < kNodes; ++i) {
    // Addresses with octets that API mode 2 must escape (0x7E, 0x7D, 0x11, 0x13).
    const std::uint64_t a64 = 0x0013A2004100007EULL + (static_cast<std::uint64_t>(i) << 8);
    const auto a16 = static_cast<std::uint16_t>(0x1100 + i);
    nodes.push_back(std::make_unique<SnClient>(radio.node(a64, a16)));
    connect_and_publish(*nodes.back(), "xbee-" + std::to_string(i), sn::QoS::qos1,
                        "n" + std::to_string(i));
  }
  REQUIRE(up.wait_for(kNodes, 10s));
  for (int i = 0; i < kNodes; ++i) {
    up.publish("down/xbee-" + std::to_string(i), "to" + std::to_string(i), 1);
  }
  for (int i = 0; i < kNodes; ++i) {
    CAPTURE(i);
    const auto got = nodes[static_cast<std::size_t>(i)]->next_publish(10s);
    REQUIRE(got.has_value());
    CHECK(got->topic == "down/xbee-" + std::to_string(i));
    CHECK(got->payload == "to" + std::to_string(i));
  }
  // Still 20 separate sessions: each answers its own PINGREQ.
  for (auto& node : nodes) CHECK(node->ping());
}

}  // namespace

TEST_CASE("gateway xbee API 1: 20 node addresses, each its own session, up and down" *
          doctest::skip(kNoSocat)) {
  twenty_xbee_nodes(xbee_api1, xbee::ApiMode::plain);
}

TEST_CASE("gateway xbee API 2 (escaped): 20 node addresses, each its own session, up and down" *
          doctest::skip(kNoSocat)) {
  twenty_xbee_nodes(xbee_api2, xbee::ApiMode::escaped);
}

TEST_CASE("gateway xbee: QoS 0, 1 and 2 both ways" * doctest::skip(kNoSocat)) {
  Rig rig(xbee_api2);
  TestSubscriber up(rig.broker.uri(), "up/#");
  XBeeCoordinator radio(rig.line.device_link(), xbee::ApiMode::escaped);
  SnClient node(radio.node(0x0013A20041A1B2C3ULL, 0x1234));
  REQUIRE(node.connect("xbee-q", 60) == sn::ReturnCode::accepted);
  REQUIRE(node.subscribe("down/xbee-q", sn::QoS::qos2));
  const auto topic = node.register_topic("up/xbee-q");
  REQUIRE(topic.has_value());
  for (const auto qos : {sn::QoS::qos0, sn::QoS::qos1, sn::QoS::qos2}) {
    CHECK(node.publish(*topic, "q" + std::to_string(static_cast<int>(qos)), qos));
  }
  REQUIRE(up.wait_for(3, 5s));
  for (int q = 0; q < 3; ++q) {
    CHECK(up.messages()[static_cast<std::size_t>(q)].payload == "q" + std::to_string(q));
    CHECK(up.messages()[static_cast<std::size_t>(q)].qos == q);
  }
  for (int q = 0; q < 3; ++q) {
    up.publish("down/xbee-q", "d" + std::to_string(q), q);
    const auto got = node.next_publish();
    REQUIRE(got.has_value());
    CHECK(got->payload == "d" + std::to_string(q));
    CHECK(static_cast<int>(got->qos) == q);
  }
}

TEST_CASE("gateway xbee: a downlink larger than max_payload is dropped, smaller ones pass" *
          doctest::skip(kNoSocat)) {
  Rig rig(xbee_api1);
  TestSubscriber up(rig.broker.uri(), "up/#");
  XBeeCoordinator radio(rig.line.device_link(), xbee::ApiMode::plain);
  SnClient node(radio.node(0x0013A20041A1B2C4ULL, 0x4321));
  REQUIRE(node.connect("xbee-big", 60) == sn::ReturnCode::accepted);
  REQUIRE(node.subscribe("down/xbee-big", sn::QoS::qos0));
  up.publish("down/xbee-big", std::string(100, 'x'), 0);  // 7 + 100 > 72: cannot fit (§6.10)
  up.publish("down/xbee-big", "small", 0);
  const auto got = node.next_publish();
  REQUIRE(got.has_value());
  CHECK(got->payload == "small");
}

TEST_CASE("gateway serial: §6.1 ADVERTISE on a raw serial line and to the XBee broadcast address" *
          doctest::skip(kNoSocat)) {
  GatewayOptions options;
  options.extra_sections = R"("discovery": {"advertise_interval_s": 1})";
  SUBCASE("raw serial line") {
    Rig rig(raw_line, options);
    RawSerialLink link(rig.line.device_link());
    int advertisements = 0;
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (advertisements < 2 && std::chrono::steady_clock::now() < deadline) {
      const auto packet = link.receive(500ms);
      if (!packet) continue;
      if (const auto* ad = std::get_if<sn::Advertise>(&*packet)) {
        CHECK(ad->gw_id == 7);
        CHECK(ad->duration_s == 1);
        ++advertisements;
      }
    }
    CHECK(advertisements == 2);
  }
  SUBCASE("XBee API 1") {
    Rig rig(xbee_api1, options);
    XBeeCoordinator radio(rig.line.device_link(), xbee::ApiMode::plain);
    auto& listener = radio.node(0x0013A20040A1B2C3, 0x1234);  // reading through it routes frames
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (radio.broadcasts() < 2 && std::chrono::steady_clock::now() < deadline) {
      listener.receive(500ms);
    }
    CHECK(radio.broadcasts() >= 2);
  }
}
