// End to end, every request whose content is invalid gets the rejection the spec provides from
// the real gateway (one case per message type), never silence: a client without an answer
// retransmits (§6.13) and finally takes the gateway for lost. Raw frames from a UDP test client,
// a real mosquitto behind the gateway.

#include <doctest/doctest.h>

#include <chrono>
#include <cstdint>
#include <string>

#include "sn_client.hpp"
#include "support/broker.hpp"
#include "support/gateway_process.hpp"
#include "support/udp_rig.hpp"

using namespace std::chrono_literals;
using test_support::TestSubscriber;

namespace {

using Rig = test_support::UdpRig;
using test_support::bytes;
constexpr auto kNo = sn::ReturnCode::not_supported;

// A frame from its MsgType and variable part, with a 1-octet Length (§5.2.1).
sn::Bytes frame(sn::MsgType type, sn::Bytes body) {
  body.insert(body.begin(), {static_cast<std::uint8_t>(body.size() + 2), static_cast<std::uint8_t>(type)});
  return body;
}

sn::Bytes with(sn::Bytes head, const sn::Bytes& tail) {
  head.insert(head.end(), tail.begin(), tail.end());
  return head;
}

const sn::Bytes kInvalidUtf8{'a', '/', 0xC3, 0x28};

}  // namespace

TEST_CASE("gateway: §5.4.4 CONNECT with an empty or ill-formed ClientId gets CONNACK 0x03") {
  Rig rig;
  auto node = rig.client();
  for (const sn::Bytes& id : {sn::Bytes{}, kInvalidUtf8}) {
    node.send_raw(frame(sn::MsgType::connect, with({0x04, 0x01, 0x00, 0x1E}, id)));
    const auto connack = node.expect<sn::ConnAck>(5s);
    REQUIRE(connack.has_value());
    CHECK(connack->return_code == kNo);
  }
  // The address is not spoiled: a proper CONNECT is accepted.
  CHECK(node.connect("node-after-bad-id", 30, true) == sn::ReturnCode::accepted);
}

TEST_CASE("gateway: §5.4.10 REGISTER with an empty, wildcard or ill-formed topic name gets REGACK "
          "0x03") {
  Rig rig;
  auto node = rig.client();
  REQUIRE(node.connect("node-bad-register", 30, true) == sn::ReturnCode::accepted);
  for (const sn::Bytes& name : {sn::Bytes{}, bytes("a/+/b"), kInvalidUtf8}) {
    node.send_raw(frame(sn::MsgType::reg, with({0x00, 0x00, 0x00, 0x2A}, name)));
    const auto regack = node.expect<sn::RegAck>(5s);
    REQUIRE(regack.has_value());
    CHECK(regack->msg_id == 0x2A);
    CHECK(regack->return_code == kNo);
  }
  CHECK(node.register_topic("a/b").has_value());
}

TEST_CASE("gateway: §5.4.12 PUBLISH with the reserved TopicIdType 0b11 gets PUBACK 0x03") {
  Rig rig;
  TestSubscriber sub(rig.broker.uri(), "#");
  auto node = rig.client();
  REQUIRE(node.connect("node-bad-publish", 30, true) == sn::ReturnCode::accepted);
  node.send_raw(frame(sn::MsgType::publish, {0x23, 0x00, 0x01, 0x00, 0x2B, 'x'}));
  const auto puback = node.expect<sn::PubAck>(5s);
  REQUIRE(puback.has_value());
  CHECK(puback->msg_id == 0x2B);
  CHECK(puback->return_code == kNo);
  CHECK_FALSE(sub.wait_for(1, 500ms));
}

TEST_CASE("gateway: §5.4.15 SUBSCRIBE with TopicIdType 0b11 or an invalid filter gets SUBACK 0x03") {
  Rig rig;
  auto node = rig.client();
  REQUIRE(node.connect("node-bad-subscribe", 30, true) == sn::ReturnCode::accepted);
  for (const sn::Bytes& request :
       {frame(sn::MsgType::subscribe, {0x23, 0x00, 0x2C, 0x00, 0x01}),
        frame(sn::MsgType::subscribe, with({0x20, 0x00, 0x2C}, bytes("a/#/b"))),
        frame(sn::MsgType::subscribe, with({0x20, 0x00, 0x2C}, kInvalidUtf8))}) {
    node.send_raw(request);
    const auto suback = node.expect<sn::SubAck>(5s);
    REQUIRE(suback.has_value());
    CHECK(suback->msg_id == 0x2C);
    CHECK(suback->return_code == kNo);
  }
  const auto good = node.subscribe("a/+", sn::QoS::qos1);
  REQUIRE(good.has_value());
  CHECK(good->return_code == sn::ReturnCode::accepted);
}

TEST_CASE("gateway: §5.4.17 UNSUBSCRIBE with TopicIdType 0b11 or an invalid filter gets UNSUBACK") {
  Rig rig;
  auto node = rig.client();
  REQUIRE(node.connect("node-bad-unsubscribe", 30, true) == sn::ReturnCode::accepted);
  for (const sn::Bytes& request :
       {frame(sn::MsgType::unsubscribe, {0x03, 0x00, 0x2D, 0x00, 0x01}),
        frame(sn::MsgType::unsubscribe, with({0x00, 0x00, 0x2D}, kInvalidUtf8))}) {
    node.send_raw(request);
    const auto unsuback = node.expect<sn::UnsubAck>(5s);
    REQUIRE(unsuback.has_value());
    CHECK(unsuback->msg_id == 0x2D);
  }
}

TEST_CASE("gateway: §6.2 a frame out of turn aborts the will handshake with DISCONNECT") {
  Rig rig;
  TestSubscriber wills(rig.broker.uri(), "wills/#");
  auto node = rig.client();
  node.send(sn::Connect{true, true, 1, "node-out-of-turn"});
  REQUIRE(node.expect<sn::WillTopicReq>(5s).has_value());
  node.send(sn::Register{0, 1, "a/b"});  // not the WILLTOPIC asked for
  CHECK(node.expect<sn::Disconnect>(5s).has_value());
  // No session was made: the WILLTOPIC that follows finds none, and no will ever fires.
  node.send(sn::WillTopic{sn::QoS::qos0, false, "wills/node-out-of-turn"});
  CHECK_FALSE(node.expect<sn::WillMsgReq>(1s).has_value());
  CHECK_FALSE(wills.wait_for(1, 2s));
  CHECK(node.connect("node-out-of-turn", 30, true) == sn::ReturnCode::accepted);
}

TEST_CASE("gateway: §5.4.22 WILLTOPICUPD with Flags but no topic is refused and the will kept") {
  Rig rig;
  TestSubscriber wills(rig.broker.uri(), "wills/#");
  auto node = rig.client();
  REQUIRE(node.connect("node-bad-willupd", 1, true, "wills/node-bad-willupd", "gone",
                       sn::QoS::qos1, false) == sn::ReturnCode::accepted);
  node.send_raw(frame(sn::MsgType::willtopicupd, {0x20}));
  const auto resp = node.expect<sn::WillTopicResp>(5s);
  REQUIRE(resp.has_value());
  CHECK(resp->return_code == kNo);
  // Silent past its keep-alive (1 s + 50 %, §7.2): lost, and the will it had fires.
  REQUIRE(wills.wait_for(1, 10s));
  CHECK(wills.messages()[0].topic == "wills/node-bad-willupd");
  CHECK(wills.messages()[0].payload == "gone");
}
