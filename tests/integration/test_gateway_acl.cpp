// Issue 13 §3, end to end: auth.acl in the real gateway, a real mosquitto behind it. What a
// client may not do is answered 0x03 and never reaches the broker; what it may, does.

#include <doctest/doctest.h>

#include <chrono>
#include <string>

#include "sn_client.hpp"
#include "support/broker.hpp"
#include "support/gateway_process.hpp"
#include "support/udp_rig.hpp"

using namespace std::chrono_literals;
using test_support::GatewayOptions;
using test_support::TestSubscriber;

TEST_CASE("gateway: auth.acl - REGISTER, PUBLISH (also predefined) and SUBSCRIBE outside a "
          "client's rules get 0x03, are logged, and never reach the broker") {
  GatewayOptions options;
  options.extra_sections =
      R"("auth": {"acl": [{"client": "acl-*", "publish": ["plant/%c/#"], "subscribe": ["cmd/%c/#"]}]})";
  test_support::UdpRig rig(options);
  TestSubscriber sub(rig.broker.uri(), "#", 1);
  auto node = rig.client();
  REQUIRE(node.connect("acl-7", 30, true) == sn::ReturnCode::accepted);

  // Allowed: registered, published, delivered.
  const auto own = node.register_topic("plant/acl-7/temp");
  REQUIRE(own.has_value());
  REQUIRE(node.publish(sn::TopicIdType::normal, *own, {'2', '1'}, sn::QoS::qos1, false));
  REQUIRE(sub.wait_for(1, 5s));
  CHECK(sub.messages().front().topic == "plant/acl-7/temp");

  // Another node's topic: REGACK 0x03.
  node.send(sn::Register{0, 0x51, "plant/acl-8/temp"});
  const auto regack = node.expect<sn::RegAck>(5s);
  REQUIRE(regack.has_value());
  CHECK(regack->msg_id == 0x51);
  CHECK(regack->return_code == sn::ReturnCode::not_supported);

  // The predefined topic (sensors/temperature, id 1) is not in its rules: PUBACK 0x03.
  sn::Publish predefined;
  predefined.qos = sn::QoS::qos1;
  predefined.topic_id_type = sn::TopicIdType::predefined;
  predefined.topic_id = 1;
  predefined.msg_id = 0x52;
  predefined.data = {'x'};
  node.send(predefined);
  const auto puback = node.expect<sn::PubAck>(5s);
  REQUIRE(puback.has_value());
  CHECK(puback->msg_id == 0x52);
  CHECK(puback->return_code == sn::ReturnCode::not_supported);

  // Outside its subscribe rules: SUBACK 0x03; inside: granted.
  const auto denied = node.subscribe("cmd/#", sn::QoS::qos1);
  REQUIRE(denied.has_value());
  CHECK(denied->return_code == sn::ReturnCode::not_supported);
  const auto granted = node.subscribe("cmd/acl-7/+", sn::QoS::qos1);
  REQUIRE(granted.has_value());
  CHECK(granted->return_code == sn::ReturnCode::accepted);

  CHECK_FALSE(sub.wait_for(2, 500ms));  // nothing denied reached the broker
  CHECK(rig.gateway.wait_for_log("ACL: client acl-7 may not register plant/acl-8/temp", 2s));
  CHECK(rig.gateway.wait_for_log("ACL: client acl-7 may not publish to sensors/temperature", 2s));
  CHECK(rig.gateway.wait_for_log("ACL: client acl-7 may not subscribe to cmd/#", 2s));
}
