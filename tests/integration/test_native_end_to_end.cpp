// The native client's end-to-end acknowledgement, end to end: a QoS 1/2 message from the broker is
// acknowledged upstream only once the MQTT-SN client has it, so a gateway that dies in between
// loses nothing. (Paho acknowledges every message as it arrives, before the gateway sees it: with
// it, the same scenario loses the message. These tests therefore choose the native client
// themselves, whatever MQTTSN_TEST_CLIENT says.)
#include <doctest/doctest.h>

#include <chrono>
#include <csignal>
#include <string>

#include "sn_client.hpp"
#include "support/broker.hpp"
#include "support/gateway_process.hpp"
#include "support/udp_rig.hpp"

using namespace std::chrono_literals;
using test_support::GatewayOptions;
using test_support::GatewayProcess;
using test_support::TestSubscriber;
using Rig = test_support::UdpRig;

namespace {

GatewayOptions native_transparent() {
  GatewayOptions options;
  options.client = "native";
  options.mode = "transparent";
  return options;
}

std::string text(const sn::Bytes& data) { return {data.begin(), data.end()}; }

}  // namespace

TEST_CASE("native: §6.10 a QoS 1 or 2 message survives a gateway SIGKILL before the client acknowledges it") {
  for (const sn::QoS qos : {sn::QoS::qos1, sn::QoS::qos2}) {
    const int level = qos == sn::QoS::qos1 ? 1 : 2;
    CAPTURE(level);
    GatewayOptions options = native_transparent();
    Rig rig(options);
    const std::string client_id = "e2e-" + std::to_string(level);
    const std::string topic = "e2e/" + std::to_string(level);
    auto node = rig.client();
    REQUIRE(node.connect(client_id, 30, false) == sn::ReturnCode::accepted);
    REQUIRE(node.subscribe(topic, qos).has_value());
    node.set_auto_answer(false);  // the node takes the PUBLISH but never acknowledges it

    TestSubscriber publisher(rig.broker.uri(), "unused/none");
    publisher.publish(topic, "precious", level);
    const auto first = node.expect<sn::Publish>(5s);
    REQUIRE(first.has_value());
    CHECK(text(first->data) == "precious");

    // The gateway dies holding the message; the broker never got our PUBACK/PUBREC for it.
    rig.gateway.signal(SIGKILL);
    REQUIRE(rig.gateway.wait_exit(5s) == 128 + SIGKILL);

    options.upstream_uri = rig.broker.uri();
    GatewayProcess second(options);
    sn_tools::SnUdpClient back("127.0.0.1", second.port());
    REQUIRE(back.connect(client_id, 30, false) == sn::ReturnCode::accepted);
    const auto again = back.next_publish(10s);
    REQUIRE_MESSAGE(again.has_value(), second.log());
    CHECK(again->topic == topic);
    CHECK(text(again->payload) == "precious");
    CHECK(again->qos == qos);
    // Acknowledged this time (next_publish answers as a client must): not sent a third time.
    CHECK_FALSE(back.next_publish(1500ms).has_value());
  }
}
