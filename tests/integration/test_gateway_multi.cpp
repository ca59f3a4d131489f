// End to end with several transports in one gateway (UDP + serial raw + XBee, each its own socat
// PTY pair) and §5.5 forwarder encapsulation over UDP and over a serial line, against a real
// mosquitto. Without socat on PATH the serial parts are skipped (and say so on stderr).

#include <doctest/doctest.h>

#include <chrono>
#include <string>

#include "support/broker.hpp"
#include "support/gateway_process.hpp"
#include "support/sn_link.hpp"

using namespace std::chrono_literals;
using test_support::ForwarderHub;
using test_support::GatewayOptions;
using test_support::GatewayProcess;
using test_support::Mosquitto;
using test_support::RawSerialLink;
using test_support::SnClient;
using test_support::SocatPair;
using test_support::TestSubscriber;
using test_support::UdpLink;
using test_support::XBeeCoordinator;

namespace {

const bool kNoSocat = test_support::no_socat();

// A QoS 1 round through a node: up to the broker and back down.
void qos1_both_ways(SnClient& node, const std::string& id, TestSubscriber& up) {
  REQUIRE(node.connect(id, 60) == sn::ReturnCode::accepted);
  REQUIRE(node.subscribe("down/" + id, sn::QoS::qos1));
  const auto topic = node.register_topic("up/" + id);
  REQUIRE(topic.has_value());
  const auto before = up.count();
  CHECK(node.publish(*topic, "from " + id, sn::QoS::qos1));
  REQUIRE(up.wait_for(before + 1, 5s));
  CHECK(up.messages().back().topic == "up/" + id);
  CHECK(up.messages().back().qos == 1);
  up.publish("down/" + id, "to " + id, 1);
  const auto got = node.next_publish();
  REQUIRE(got.has_value());
  CHECK(got->payload == "to " + id);
  CHECK(got->qos == sn::QoS::qos1);
}

}  // namespace

TEST_CASE("gateway multi: UDP + serial + XBee in one gateway, one broker publish reaches all" *
          doctest::skip(kNoSocat)) {
  Mosquitto broker;
  SocatPair wired;
  SocatPair zigbee;
  REQUIRE(wired.start());
  REQUIRE(zigbee.start());
  GatewayOptions options;
  options.upstream_uri = broker.uri();
  options.extra_transports = {
      R"({"type": "serial", "name": "wired", "device": ")" + wired.gateway_link() + "\"}",
      R"({"type": "serial", "name": "zigbee", "device": ")" + zigbee.gateway_link() +
          R"(", "framing": "xbee", "api_mode": 2})"};
  GatewayProcess gateway(options);

  UdpLink udp_link(gateway.port());
  RawSerialLink serial_link(wired.device_link());
  XBeeCoordinator radio(zigbee.device_link(), transports::xbee::ApiMode::escaped);
  SnClient on_udp(udp_link);
  SnClient on_serial(serial_link);
  SnClient on_xbee(radio.node(0x0013A20040000001ULL, 0x0001));

  TestSubscriber up(broker.uri(), "up/#");
  qos1_both_ways(on_udp, "multi-udp", up);
  qos1_both_ways(on_serial, "multi-serial", up);
  qos1_both_ways(on_xbee, "multi-xbee", up);

  for (auto* node : {&on_udp, &on_serial, &on_xbee}) {
    REQUIRE(node->subscribe("all/news", sn::QoS::qos1));
  }
  up.publish("all/news", "hello everyone", 1);
  for (auto* node : {&on_udp, &on_serial, &on_xbee}) {
    const auto got = node->next_publish();
    REQUIRE(got.has_value());
    CHECK(got->topic == "all/news");
    CHECK(got->payload == "hello everyone");
  }

  // Client ids are unique across transports: the same id on the serial line takes over the UDP
  // client's session.
  SnClient again(serial_link);
  REQUIRE(again.connect("multi-udp", 60) == sn::ReturnCode::accepted);
  CHECK(again.ping());
}

TEST_CASE("gateway forwarders: §5.5 encapsulation over UDP, QoS 1 both ways, allow-list kept") {
  Mosquitto broker;
  GatewayOptions options;
  options.upstream_uri = broker.uri();
  options.extra_sections = R"("forwarders": {"allowed": ["127.0.0.1"]})";
  GatewayProcess gateway(options);

  TestSubscriber up(broker.uri(), "up/#");
  UdpLink forwarder(gateway.port());
  ForwarderHub hub(forwarder);
  SnClient node_a(hub.node({0x01}));
  SnClient node_b(hub.node({0x02, 0x03}));
  qos1_both_ways(node_a, "fwd-udp-a", up);
  qos1_both_ways(node_b, "fwd-udp-b", up);
  CHECK(node_a.ping());
}

TEST_CASE("gateway forwarders: a forwarder outside forwarders.allowed is ignored") {
  Mosquitto broker;
  GatewayOptions options;
  options.upstream_uri = broker.uri();
  options.extra_sections = R"("forwarders": {"allowed": ["192.0.2.1"]})";
  GatewayProcess gateway(options);
  UdpLink forwarder(gateway.port());
  ForwarderHub hub(forwarder);
  SnClient node(hub.node({0x01}));
  node.send(sn::Connect{false, true, 60, "fwd-denied"});
  CHECK_FALSE(node.expect<sn::ConnAck>(1s).has_value());
  CHECK(gateway.wait_for_log("not in forwarders.allowed"));
  // Unwrapped, the same peer is served as usual.
  SnClient direct(forwarder);
  CHECK(direct.connect("fwd-direct", 60) == sn::ReturnCode::accepted);
}

TEST_CASE("gateway forwarders: §5.5 encapsulation over a serial line, QoS 1 both ways" *
          doctest::skip(kNoSocat)) {
  Mosquitto broker;
  SocatPair line;
  REQUIRE(line.start());
  GatewayOptions options;
  options.upstream_uri = broker.uri();
  options.extra_transports = {R"({"type": "serial", "name": "line", "device": ")" +
                              line.gateway_link() + "\"}"};
  options.extra_sections = R"("forwarders": {"allowed": ["line"]})";
  GatewayProcess gateway(options);

  TestSubscriber up(broker.uri(), "up/#");
  RawSerialLink link(line.device_link());
  ForwarderHub hub(link);
  SnClient node_a(hub.node({0x0A}));
  SnClient node_b(hub.node({0x0B}));
  qos1_both_ways(node_a, "fwd-serial-a", up);
  qos1_both_ways(node_b, "fwd-serial-b", up);
}
