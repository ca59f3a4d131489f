// End to end, the parts a fleet relies on (issue 4): sleeping clients (§6.14), client takeover,
// admission (max_clients, auth.allowed_clients, the QoS -1 address filter). Real mosquitto, the
// real gateway process, raw MQTT-SN over UDP.

#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include "sn_client.hpp"
#include "support/broker.hpp"
#include "support/gateway_process.hpp"
#include "support/udp_rig.hpp"

using namespace std::chrono_literals;
using sn_tools::SnUdpClient;
using test_support::GatewayOptions;
using test_support::GatewayProcess;
using test_support::Mosquitto;
using test_support::TestSubscriber;

namespace {

using Rig = test_support::UdpRig;
using test_support::bytes;

// What the gateway sends after a wake-up PINGREQ, answered as a client must (REGACK, PUBACK), up
// to and including PINGRESP: the message types in order, and the payloads delivered.
struct WakeUp {
  std::vector<std::string> types;
  std::vector<std::string> payloads;
};

WakeUp drain_wake_up(SnUdpClient& client, std::chrono::milliseconds timeout) {
  WakeUp seen;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    auto packet = client.receive(std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now()));
    if (!packet) break;
    seen.types.emplace_back(sn::to_string(sn::type_of(*packet)));
    if (const auto* reg = std::get_if<sn::Register>(&*packet)) {
      client.send(sn::RegAck{reg->topic_id, reg->msg_id, sn::ReturnCode::accepted});
    } else if (const auto* pub = std::get_if<sn::Publish>(&*packet)) {
      seen.payloads.emplace_back(pub->data.begin(), pub->data.end());
      if (pub->qos == sn::QoS::qos1) {
        client.send(sn::PubAck{pub->topic_id, pub->msg_id, sn::ReturnCode::accepted});
      }
    } else if (std::holds_alternative<sn::PingResp>(*packet)) {
      break;
    }
  }
  return seen;
}

// Puts `client` (connected as `client_id`, subscribed to `topic` at QoS 1) asleep for
// `duration_s`, then has the broker publish `count` QoS 1 messages to it.
void sleep_and_publish(Rig& rig, SnUdpClient& client, const std::string& topic, int count,
                       std::uint16_t duration_s) {
  client.send(sn::Disconnect{duration_s});
  REQUIRE(client.expect<sn::Disconnect>(5s).has_value());
  TestSubscriber publisher(rig.broker.uri(), "unused/none");
  for (int i = 1; i <= count; ++i) publisher.publish(topic, "m" + std::to_string(i), 1);
  // The broker has the messages (PUBACK). A sleeping client sees nothing and the gateway logs
  // nothing per buffered message, so there is no event to wait for: time for the broker to pass
  // them on to the gateway's connection.
  std::this_thread::sleep_for(500ms);
}

}  // namespace

TEST_CASE("fleet: §6.14 asleep client wakes - 3 buffered QoS 1 messages in order - PINGRESP last") {
  Rig rig;
  auto node = rig.client();
  REQUIRE(node.connect("sleeper", 30, true) == sn::ReturnCode::accepted);
  const auto suback = node.subscribe("sleep/t", sn::QoS::qos1);
  REQUIRE(suback.has_value());
  REQUIRE(suback->return_code == sn::ReturnCode::accepted);

  sleep_and_publish(rig, node, "sleep/t", 3, 30);
  // Asleep: nothing is sent to the client.
  CHECK_FALSE(node.receive(300ms).has_value());

  node.send(sn::PingReq{"sleeper"});
  const auto woke = drain_wake_up(node, 5s);
  CHECK(woke.types == std::vector<std::string>{"PUBLISH", "PUBLISH", "PUBLISH", "PINGRESP"});
  CHECK(woke.payloads == std::vector<std::string>{"m1", "m2", "m3"});

  // Back asleep after the PINGRESP: a new wake-up with nothing buffered gets PINGRESP at once.
  node.send(sn::PingReq{"sleeper"});
  CHECK(drain_wake_up(node, 5s).types == std::vector<std::string>{"PINGRESP"});
}

TEST_CASE("fleet: §6.14 the wake-up PINGREQ from a new port: the session follows the client id") {
  Rig rig;
  auto node = rig.client();
  REQUIRE(node.connect("roamer", 30, true) == sn::ReturnCode::accepted);
  REQUIRE(node.subscribe("roam/t", sn::QoS::qos1).has_value());
  sleep_and_publish(rig, node, "roam/t", 2, 30);

  // NAT rebinding: the same node, another source port.
  auto rebound = rig.client();
  REQUIRE(rebound.local_port() != node.local_port());
  rebound.send(sn::PingReq{"roamer"});
  const auto woke = drain_wake_up(rebound, 5s);
  CHECK(woke.types == std::vector<std::string>{"PUBLISH", "PUBLISH", "PINGRESP"});
  CHECK(woke.payloads == std::vector<std::string>{"m1", "m2"});
  CHECK_FALSE(node.receive(300ms).has_value());  // the old port gets nothing
}

TEST_CASE("fleet: §6.14 an asleep client silent past its duration is lost - its will is published") {
  Rig rig;
  TestSubscriber wills(rig.broker.uri(), "will/#");
  auto node = rig.client();
  REQUIRE(node.connect("dozer", 30, true, "will/dozer", "dozer gone", sn::QoS::qos1, false) ==
          sn::ReturnCode::accepted);
  node.send(sn::Disconnect{1});  // 1 s + 50% tolerance (§7.2)
  REQUIRE(node.expect<sn::Disconnect>(5s).has_value());
  CHECK_FALSE(wills.wait_for(1, 1s));  // not before the duration is over
  REQUIRE(wills.wait_for(1, 10s));
  CHECK(wills.messages()[0].topic == "will/dozer");
  CHECK(wills.messages()[0].payload == "dozer gone");
  // The session is gone: a wake-up is answered as from a stranger.
  node.send(sn::PingReq{"dozer"});
  CHECK(node.expect<sn::Disconnect>(5s).has_value());
}

TEST_CASE("fleet: §6.14 a sleeping client that DISCONNECTs without duration leaves - no will") {
  Rig rig;
  TestSubscriber wills(rig.broker.uri(), "will/#");
  auto node = rig.client();
  REQUIRE(node.connect("napper", 30, true, "will/napper", "x", sn::QoS::qos0, false) ==
          sn::ReturnCode::accepted);
  node.send(sn::Disconnect{1});
  REQUIRE(node.expect<sn::Disconnect>(5s).has_value());
  node.send(sn::Disconnect{});
  REQUIRE(node.expect<sn::Disconnect>(5s).has_value());
  CHECK_FALSE(wills.wait_for(1, 3s));
}

TEST_CASE("fleet: §6.14 CleanSession=false sleeper wakes - 3 QoS 1 messages in order - PINGRESP last") {
  // Transparent mode closes the upstream connection while the client sleeps: the broker holds
  // the messages and sends them when the wake-up reconnects. Aggregating mode buffers them.
  Rig rig;
  auto node = rig.client();
  REQUIRE(node.connect("keeper", 30, false) == sn::ReturnCode::accepted);
  REQUIRE(node.subscribe("keep/t", sn::QoS::qos1).has_value());
  sleep_and_publish(rig, node, "keep/t", 3, 30);
  if (rig.gateway_mode == "transparent") {
    CHECK(rig.gateway.log().find("client keeper: upstream connection closed while it sleeps") !=
          std::string::npos);
  }
  CHECK_FALSE(node.receive(300ms).has_value());

  node.send(sn::PingReq{"keeper"});
  const auto woke = drain_wake_up(node, 10s);
  CHECK(woke.types == std::vector<std::string>{"PUBLISH", "PUBLISH", "PUBLISH", "PINGRESP"});
  CHECK(woke.payloads == std::vector<std::string>{"m1", "m2", "m3"});

  // Asleep again; the next message waits for the next wake-up.
  TestSubscriber publisher(rig.broker.uri(), "unused/none");
  publisher.publish("keep/t", "m4", 1);
  // A sleeper's buffered message has no visible sign: give it time to reach the gateway, so the
  // silence checked next is the gateway holding it back, not the broker being slow.
  std::this_thread::sleep_for(500ms);
  CHECK_FALSE(node.receive(300ms).has_value());
  node.send(sn::PingReq{"keeper"});
  const auto again = drain_wake_up(node, 10s);
  CHECK(again.types == std::vector<std::string>{"PUBLISH", "PINGRESP"});
  CHECK(again.payloads == std::vector<std::string>{"m4"});
}

TEST_CASE("fleet: §6.14 transparent - the gateway killed while a CleanSession=false client "
          "sleeps - its QoS 1 messages wait at the broker and reach it afterwards") {
  // The messages arrive while the client sleeps. Had the gateway taken them (Paho acknowledges
  // a QoS 1 message as it arrives), they would die with it.
  GatewayOptions options;
  options.mode = "transparent";
  Rig rig(options);
  auto node = rig.client();
  REQUIRE(node.connect("survivor", 30, false) == sn::ReturnCode::accepted);
  REQUIRE(node.subscribe("kept/t", sn::QoS::qos1).has_value());
  node.send(sn::Disconnect{300});
  REQUIRE(node.expect<sn::Disconnect>(5s).has_value());
  REQUIRE(rig.gateway.wait_for_log("client survivor: upstream connection closed while it sleeps",
                                   5s));
  // The gateway logs the close as requested; the broker gives no sign it has processed the
  // DISCONNECT, so wait for it to store the session before publishing into it.
  std::this_thread::sleep_for(300ms);
  TestSubscriber publisher(rig.broker.uri(), "unused/none");
  for (int i = 1; i <= 3; ++i) publisher.publish("kept/t", "k" + std::to_string(i), 1);
  // A window, not a wait: had the gateway (wrongly) taken the messages, it would have done so now.
  std::this_thread::sleep_for(500ms);

  rig.gateway.signal(SIGKILL);
  REQUIRE(rig.gateway.wait_exit(5s) == 128 + SIGKILL);

  options.upstream_uri = rig.broker.uri();
  GatewayProcess second(options);
  sn_tools::SnUdpClient back("127.0.0.1", second.port());
  REQUIRE(back.connect("survivor", 30, false) == sn::ReturnCode::accepted);
  std::vector<std::string> payloads;
  while (payloads.size() < 3) {
    const auto received = back.next_publish(10s);
    if (!received) break;
    CHECK(received->topic == "kept/t");
    CHECK(received->qos == sn::QoS::qos1);
    payloads.emplace_back(received->payload.begin(), received->payload.end());
  }
  CHECK(payloads == std::vector<std::string>{"k1", "k2", "k3"});
}

TEST_CASE("fleet: §6.14 a CleanSession=false sleeper silent past its duration is lost - its will "
          "is published") {
  // Transparent mode: the sleeper has no upstream connection to fire the will with; the gateway
  // publishes it, with its QoS and retain flag.
  Rig rig;
  TestSubscriber wills(rig.broker.uri(), "will/#");
  auto node = rig.client();
  REQUIRE(node.connect("deep", 30, false, "will/deep", "deep gone", sn::QoS::qos1, true) ==
          sn::ReturnCode::accepted);
  node.send(sn::Disconnect{1});
  REQUIRE(node.expect<sn::Disconnect>(5s).has_value());
  CHECK_FALSE(wills.wait_for(1, 1s));
  REQUIRE(wills.wait_for(1, 10s));
  CHECK(wills.messages()[0].topic == "will/deep");
  CHECK(wills.messages()[0].payload == "deep gone");
  // Retained: a late subscriber sees it too.
  TestSubscriber late(rig.broker.uri(), "will/deep");
  REQUIRE(late.wait_for(1, 5s));
  CHECK(late.messages()[0].payload == "deep gone");
}

TEST_CASE("fleet: a CONNECT with a client id in use elsewhere takes the session over") {
  Rig rig;
  auto first = rig.client();
  auto second = rig.client();
  REQUIRE(first.connect("twin", 30, true) == sn::ReturnCode::accepted);
  REQUIRE(first.subscribe("twin/cmd", sn::QoS::qos1).has_value());
  REQUIRE(second.connect("twin", 30, true) == sn::ReturnCode::accepted);
  REQUIRE(second.subscribe("twin/cmd", sn::QoS::qos1).has_value());

  TestSubscriber publisher(rig.broker.uri(), "unused/none");
  publisher.publish("twin/cmd", "to-the-new-one", 1);
  const auto got = second.next_publish(5s);
  REQUIRE(got.has_value());
  CHECK(std::string(got->payload.begin(), got->payload.end()) == "to-the-new-one");
  // The old address gets nothing more, and is a stranger now (§6.12).
  CHECK_FALSE(first.receive(300ms).has_value());
  first.send(sn::PingReq{});
  CHECK(first.expect<sn::Disconnect>(5s).has_value());
  CHECK(second.ping());
}

TEST_CASE("fleet: gateway.max_clients reached -> CONNACK congestion - existing clients keep working") {
  GatewayOptions options;
  options.max_clients = 2;
  Rig rig(options);
  TestSubscriber sub(rig.broker.uri(), "full/#");
  auto a = rig.client();
  auto b = rig.client();
  auto c = rig.client();
  REQUIRE(a.connect("full-a", 30, true) == sn::ReturnCode::accepted);
  REQUIRE(b.connect("full-b", 30, true) == sn::ReturnCode::accepted);
  CHECK(c.connect("full-c", 30, true) == sn::ReturnCode::congestion);
  const auto id = a.register_topic("full/a");
  REQUIRE(id.has_value());
  CHECK(a.publish(sn::TopicIdType::normal, *id, bytes("still here"), sn::QoS::qos1, false));
  REQUIRE(sub.wait_for(1, 5s));
  CHECK(b.ping());
  // A place frees up when a client leaves.
  CHECK(b.disconnect());
  CHECK(c.connect("full-c", 30, true) == sn::ReturnCode::accepted);
}

TEST_CASE("fleet: auth.allowed_clients - others get CONNACK not supported and never reach the broker") {
  GatewayOptions options;
  options.extra_sections = R"("auth": {"allowed_clients": ["badge-ok"]})";
  Rig rig(options);
  auto good = rig.client();
  auto bad = rig.client();
  REQUIRE(good.connect("badge-ok", 30, true) == sn::ReturnCode::accepted);
  CHECK(bad.connect("badge-bad", 30, true) == sn::ReturnCode::not_supported);
  // With the Will flag the handshake does not even start: CONNACK, no WILLTOPICREQ.
  sn::Connect with_will;
  with_will.will = true;
  with_will.duration_s = 30;
  with_will.client_id = "badge-bad";
  bad.send(with_will);
  const auto refused = bad.expect<sn::ConnAck>(5s);
  REQUIRE(refused.has_value());
  CHECK(refused->return_code == sn::ReturnCode::not_supported);
  CHECK(bad.unsolicited().empty());
  CHECK(good.ping());
  // mosquitto logs every client it accepts ("New client connected from ... as <id>"); in
  // transparent mode each SN client has its own upstream connection, so the good one shows.
  const auto log = rig.broker.log();
  CAPTURE(log);
  // In aggregating mode only the gateway's own connection exists.
  const bool own_connection = log.find(" as badge-ok") != std::string::npos;
  CHECK(own_connection == (rig.gateway_mode == "transparent"));
  CHECK(log.find("badge-bad") == std::string::npos);
}

TEST_CASE("fleet: auth.allow_qos_minus_one_from - QoS -1 from an unlisted address is dropped") {
  GatewayOptions options;
  // The gateway listens on 127.0.0.1; the clients send from 127.0.0.1. Only 127.0.0.2 may use
  // QoS -1, so this sender is refused.
  options.extra_sections = R"("auth": {"allow_qos_minus_one_from": ["127.0.0.2"]})";
  Rig rig(options);
  TestSubscriber sub(rig.broker.uri(), "#");
  auto node = rig.client();
  for (int i = 0; i < 10; ++i) {
    node.publish(sn::TopicIdType::predefined, 1, bytes("nope"), sn::QoS::minus_one, false);
  }
  const bool refused = rig.gateway.wait_for_log("may not publish at QoS -1", 5s);
  CAPTURE(rig.gateway.log());
  CHECK(refused);
  CHECK_FALSE(sub.wait_for(1, 500ms));
}

TEST_CASE("fleet: auth.allow_qos_minus_one_from - a listed address publishes at QoS -1") {
  GatewayOptions options;
  options.extra_sections = R"("auth": {"allow_qos_minus_one_from": ["127.0.0.1"]})";
  Rig rig(options);
  TestSubscriber sub(rig.broker.uri(), "#");
  auto node = rig.client();
  bool arrived = false;
  for (int i = 0; i < 50 && !arrived; ++i) {
    node.publish(sn::TopicIdType::predefined, 1, bytes("yes"), sn::QoS::minus_one, false);
    arrived = sub.wait_for(1, 100ms);
  }
  CHECK(arrived);
}

TEST_CASE("fleet: auth.allowed_clients without an address list - QoS -1 is accepted from no one") {
  GatewayOptions options;
  options.extra_sections = R"("auth": {"allowed_clients": ["badge-ok"]})";
  Rig rig(options);
  TestSubscriber sub(rig.broker.uri(), "#");
  auto node = rig.client();
  for (int i = 0; i < 10; ++i) {
    node.publish(sn::TopicIdType::predefined, 1, bytes("nope"), sn::QoS::minus_one, false);
  }
  const bool refused = rig.gateway.wait_for_log("may not publish at QoS -1", 5s);
  CAPTURE(rig.gateway.log());
  CHECK(refused);
  CHECK_FALSE(sub.wait_for(1, 500ms));
  // The listed client is served as usual.
  CHECK(node.connect("badge-ok", 30, true) == sn::ReturnCode::accepted);
}

TEST_CASE("fleet: auth.allowed_clients with an address list - QoS -1 from a listed address") {
  GatewayOptions options;
  options.extra_sections =
      R"("auth": {"allowed_clients": ["badge-ok"], "allow_qos_minus_one_from": ["127.0.0.1"]})";
  Rig rig(options);
  TestSubscriber sub(rig.broker.uri(), "#");
  auto node = rig.client();
  bool arrived = false;
  for (int i = 0; i < 50 && !arrived; ++i) {
    node.publish(sn::TopicIdType::predefined, 1, bytes("yes"), sn::QoS::minus_one, false);
    arrived = sub.wait_for(1, 100ms);
  }
  CHECK(arrived);
}

TEST_CASE("fleet: §6.4 will updated while connected, then the client is lost -> the updated will") {
  Rig rig;
  TestSubscriber wills(rig.broker.uri(), "will/#");
  auto node = rig.client();
  REQUIRE(node.connect("changer", 2, true, "will/old", "old will", sn::QoS::qos0, false) ==
          sn::ReturnCode::accepted);
  node.send(sn::WillTopicUpd{sn::QoS::qos1, true, "will/new"});
  const auto topic_resp = node.expect<sn::WillTopicResp>(10s);
  REQUIRE(topic_resp.has_value());
  CHECK(topic_resp->return_code == sn::ReturnCode::accepted);
  node.send(sn::WillMsgUpd{bytes("new will")});
  const auto msg_resp = node.expect<sn::WillMsgResp>(10s);
  REQUIRE(msg_resp.has_value());
  CHECK(msg_resp->return_code == sn::ReturnCode::accepted);
  // The updated connection serves as before.
  const auto id = node.register_topic("changer/data");
  REQUIRE(id.has_value());
  CHECK(node.publish(sn::TopicIdType::normal, *id, bytes("x"), sn::QoS::qos1, false));
  // Silent now: keep-alive 2 s + 50 % (§7.2), then the will.
  REQUIRE(wills.wait_for(1, 10s));
  const auto got = wills.messages();
  CHECK(got[0].topic == "will/new");
  CHECK(got[0].payload == "new will");
  CHECK_FALSE(wills.wait_for(2, 1s));  // and never the old one
  // Retained as the update asked: a subscriber arriving now still gets it, flagged retained
  // (a live subscriber never sees the flag, MQTT 3.1.1 §3.3.1.3).
  TestSubscriber late(rig.broker.uri(), "will/new");
  REQUIRE(late.wait_for(1, 5s));
  CHECK(late.messages()[0].retained);
  CHECK(late.messages()[0].payload == "new will");
}

TEST_CASE("fleet: broker stopped and restarted during QoS 1 traffic - every PUBACKed message arrives") {
  // Each message is retained on a topic of its own, and the broker persists retained messages
  // when it stops: after the restart a new subscriber sees everything the broker ever accepted.
  // Started as root, mosquitto would drop to its own user and could not write into our temp dir.
  Rig rig({}, {"persistence true", "persistence_location {dir}/", "user root"});
  auto node = rig.client();
  std::vector<std::string> accepted;
  int refused = 0;
  bool stopped = false;
  bool restarted = false;
  auto stopped_at = std::chrono::steady_clock::now();
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  bool connected = false;
  for (int i = 1; accepted.size() < 40 && std::chrono::steady_clock::now() < deadline; ++i) {
    if (!stopped && accepted.size() == 15) {
      rig.broker.stop();
      stopped = true;
      stopped_at = std::chrono::steady_clock::now();
    }
    if (stopped && !restarted && std::chrono::steady_clock::now() - stopped_at > 2s) {
      rig.broker.start();
      restarted = true;
    }
    if (!connected) {
      connected = node.connect("survivor", 30, true, {}, {}, sn::QoS::qos0, false, 2s) ==
                  sn::ReturnCode::accepted;
      if (!connected) {
        ++refused;  // CONNACK congestion while the broker is away
        std::this_thread::sleep_for(200ms);  // a client's retry pace while the broker is away
        continue;
      }
    }
    const std::string topic = "outage/" + std::to_string(i);
    const auto id = node.register_topic(topic, 2s);
    if (!id) {
      ++refused;
      connected = false;  // the gateway told us to reconnect (§6.12), or did not answer
      continue;
    }
    if (node.publish(sn::TopicIdType::normal, *id, bytes(topic), sn::QoS::qos1, true, 2s)) {
      accepted.push_back(topic);
    } else {
      ++refused;
      // Transparent mode ends the session with the broker's loss: DISCONNECT (§6.12).
      if (!node.unsolicited().empty()) {
        node.unsolicited().clear();
        connected = false;
      }
      std::this_thread::sleep_for(100ms);  // a client's retry pace, as after CONNACK congestion
    }
  }
  CAPTURE(refused);
  REQUIRE(stopped);
  REQUIRE(restarted);
  REQUIRE(accepted.size() == 40);
  CHECK(refused > 0);  // the outage reached the client as refusals, never as false PUBACKs

  TestSubscriber after(rig.broker.uri(), "outage/#");
  after.wait_for(accepted.size(), 10s);
  std::vector<std::string> arrived;
  for (const auto& m : after.messages()) arrived.push_back(m.topic);
  for (const auto& topic : accepted) {
    CAPTURE(topic);
    CHECK(std::find(arrived.begin(), arrived.end(), topic) != arrived.end());
  }
}

TEST_CASE("fleet: statistics - published retained under stats.topic_prefix, and dumped on SIGUSR1") {
  GatewayOptions options;
  // mosquitto refuses client publishes under $SYS, hence a prefix of our own.
  options.extra_sections = R"("stats": {"interval_s": 1, "topic_prefix": "stats/gw"})";
  Rig rig(options);
  auto node = rig.client();
  REQUIRE(node.connect("counted", 30, true) == sn::ReturnCode::accepted);
  const auto id = node.register_topic("counted/x");
  REQUIRE(id.has_value());
  REQUIRE(node.publish(sn::TopicIdType::normal, *id, bytes("1"), sn::QoS::qos1, false));

  // Retained: a subscriber arriving later gets the latest values at once.
  bool seen = false;
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (!seen && std::chrono::steady_clock::now() < deadline) {
    TestSubscriber stats(rig.broker.uri(), "stats/gw/#");
    stats.wait_for(28, 2s);
    std::string active;
    std::string qos1;
    for (const auto& m : stats.messages()) {
      if (m.topic == "stats/gw/clients/active") active = m.payload;
      if (m.topic == "stats/gw/messages/in/qos1") qos1 = m.payload;
    }
    seen = active == "1" && qos1 == "1";
  }
  CHECK(seen);

  rig.gateway.signal(SIGUSR1);
  CHECK(rig.gateway.wait_for_log("clients/active=1", 5s));
  CHECK(rig.gateway.wait_for_log("messages/in/qos1=1", 5s));
}
