// End to end, persistence.path set: the gateway is killed (SIGKILL, no goodbye) while QoS 1 and
// QoS 2 exchanges are open in both directions, and started again on the same store and port.
// The clients connect again with CleanSession=false and find their sessions: every acknowledged
// message arrives, no QoS 2 message twice, topic ids registered before still work, and a sleeper
// gets what was buffered for it when it wakes (§6.14). A store that cannot be used stops the
// start with exit status 2, its path and the reason.

#include <doctest/doctest.h>
#include <signal.h>
#include <stdlib.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "scratch_dir.hpp"
#include "sn_client.hpp"
#include "support/broker.hpp"
#include "support/gateway_process.hpp"

using namespace std::chrono_literals;
using test_support::GatewayOptions;
using test_support::GatewayProcess;
using test_support::Mosquitto;
using test_support::TestSubscriber;

namespace {

namespace fs = std::filesystem;

sn::Bytes bytes(const std::string& text) { return {text.begin(), text.end()}; }

// A scratch directory for the store, removed at the end.
// Where a gateway keeps its store across the restarts of one case.
struct StoreDir : test_common::ScratchDir {
  StoreDir() : ScratchDir("mqttsn-persist") {}
  std::string db() const { return file("sessions.db"); }
};

GatewayOptions persistent_options(const Mosquitto& broker, const StoreDir& store) {
  GatewayOptions options;
  options.upstream_uri = broker.uri();
  options.extra_sections = R"("persistence": {"path": ")" + store.db() + R"("})";
  return options;
}

// SIGKILL, and the same gateway (store, port) started again.
void kill_and_restart(std::unique_ptr<GatewayProcess>& gateway, GatewayOptions options) {
  gateway->signal(SIGKILL);
  REQUIRE(gateway->wait_exit(10s) == 128 + SIGKILL);
  options.port = gateway->port();
  gateway = std::make_unique<GatewayProcess>(options);
  CHECK(gateway->wait_for_log("session store", 5s));
}

std::string text(const sn::Bytes& data) { return {data.begin(), data.end()}; }

std::string joined(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : ",") + item;
  return out;
}

}  // namespace

TEST_CASE("gateway: persistence - SIGKILL during QoS 1 and QoS 2 traffic both ways - acknowledged messages "
          "arrive, QoS 2 once, topic ids survive without a new REGISTER") {
  Mosquitto broker;
  StoreDir store;
  const auto options = persistent_options(broker, store);
  auto gateway = std::make_unique<GatewayProcess>(options);
  const std::string id = test_support::unique_client_id("persist");
  TestSubscriber uplink(broker.uri(), "persist/up/" + id, 2);
  TestSubscriber publisher(broker.uri(), "persist/unused/" + id, 2);

  sn_tools::SnUdpClient node("127.0.0.1", gateway->port());
  REQUIRE(node.connect(id, 60, false) == sn::ReturnCode::accepted);
  const auto topic = node.register_topic("persist/up/" + id);
  REQUIRE(topic.has_value());
  const auto suback = node.subscribe("persist/down/" + id, sn::QoS::qos2);
  REQUIRE(suback.has_value());
  REQUIRE(suback->return_code == sn::ReturnCode::accepted);

  // Uplink, acknowledged before the kill.
  std::vector<std::string> acknowledged;
  for (int i = 0; i < 5; ++i) {
    for (const auto qos : {sn::QoS::qos1, sn::QoS::qos2}) {
      const std::string payload = "q" + std::to_string(static_cast<int>(qos)) + "-" + std::to_string(i);
      REQUIRE(node.publish(sn::TopicIdType::normal, *topic, bytes(payload), qos, false));
      acknowledged.push_back(payload);
    }
  }
  // A QoS 2 PUBLISH answered PUBREC, whose PUBREL the node has not sent yet (§6.6).
  sn::Publish open;
  open.qos = sn::QoS::qos2;
  open.topic_id_type = sn::TopicIdType::normal;
  open.topic_id = *topic;
  open.msg_id = 0x5000;
  open.data = bytes("q2-open");
  node.send(open);
  REQUIRE(node.expect<sn::PubRec>(5s).has_value());
  acknowledged.push_back("q2-open");

  // Downlink: a QoS 2 message the node takes up to PUBREL and does not complete, and three more
  // queued behind it at the gateway (one exchange at a time, §6.6).
  node.set_auto_answer(false);
  publisher.publish("persist/down/" + id, "d-open", 2);
  // (The SUBACK gave the topic id: no REGISTER, §6.9.)
  const auto first = node.expect<sn::Publish>(5s);
  REQUIRE(first.has_value());
  CHECK(text(first->data) == "d-open");
  node.send(sn::PubRec{first->msg_id});
  REQUIRE(node.expect<sn::PubRel>(5s).has_value());
  const std::vector<std::string> queued = {"d-1", "d-2", "d-3"};
  for (std::size_t i = 0; i < queued.size(); ++i) {
    publisher.publish("persist/down/" + id, queued[i], i == 1 ? 1 : 2);
  }
  // The log line comes after the store's transaction (persistence defers every action to it).
  REQUIRE(gateway->wait_for_log("(4 queued)", 10s));

  kill_and_restart(gateway, options);

  // The node's next frame finds no connection; it connects again, keeping its session.
  REQUIRE(node.connect(id, 60, false) == sn::ReturnCode::accepted);
  // The gateway completes what was open: PUBREL again (not the PUBLISH: no second copy).
  const auto pubrel = node.expect<sn::PubRel>(5s);
  REQUIRE(pubrel.has_value());
  CHECK(pubrel->msg_id == first->msg_id);
  node.send(sn::PubComp{pubrel->msg_id});
  node.set_auto_answer(true);
  std::vector<std::string> down;
  while (const auto m = node.next_publish(3s)) down.push_back(text(m->payload));
  // Each once, in any order: MQTT orders messages of one QoS only (Paho hands a QoS 2 message over
  // at its PUBREL, after a QoS 1 one published later).
  std::sort(down.begin(), down.end());
  CHECK(joined(down) == joined(queued));

  // Uplink: the open QoS 2 completes without being forwarded again (PUBREL -> PUBCOMP) ...
  node.send(sn::PubRel{0x5000});
  const auto pubcomp = node.expect<sn::PubComp>(5s);
  REQUIRE(pubcomp.has_value());
  CHECK(pubcomp->msg_id == 0x5000);
  // ... and the topic id registered before the kill still names the topic.
  REQUIRE(node.publish(sn::TopicIdType::normal, *topic, bytes("after"), sn::QoS::qos1, false));
  acknowledged.push_back("after");

  REQUIRE(uplink.wait_for(acknowledged.size(), 10s));
  CHECK_FALSE(uplink.wait_for(acknowledged.size() + 1, 500ms));  // nothing twice
  std::map<std::string, int> seen;
  for (const auto& m : uplink.messages()) ++seen[m.payload];
  for (const auto& payload : acknowledged) CHECK_MESSAGE(seen[payload] == 1, payload);
}

TEST_CASE("gateway: persistence - §6.14 a sleeper asleep before SIGKILL gets its buffered messages when it "
          "wakes") {
  Mosquitto broker;
  StoreDir store;
  const auto options = persistent_options(broker, store);
  auto gateway = std::make_unique<GatewayProcess>(options);
  const std::string id = test_support::unique_client_id("sleeper");
  TestSubscriber publisher(broker.uri(), "persist/unused/" + id, 2);

  sn_tools::SnUdpClient node("127.0.0.1", gateway->port());
  REQUIRE(node.connect(id, 60, false) == sn::ReturnCode::accepted);
  const auto suback = node.subscribe("persist/sleep/" + id, sn::QoS::qos2);
  REQUIRE(suback.has_value());
  REQUIRE(suback->return_code == sn::ReturnCode::accepted);
  node.send(sn::Disconnect{600});
  REQUIRE(node.expect<sn::Disconnect>(5s).has_value());

  const std::vector<std::string> sent = {"s-1", "s-2", "s-3"};
  for (std::size_t i = 0; i < sent.size(); ++i) {
    publisher.publish("persist/sleep/" + id, sent[i], i == 1 ? 2 : 1);
  }
  // Aggregating mode buffers them (and writes them) at once; transparent mode has released the
  // sleeper's upstream connection, so the broker keeps them (§6.14, sleep.release_upstream).
  if (options.mode == "aggregating") REQUIRE(gateway->wait_for_log("(3 queued)", 10s));

  kill_and_restart(gateway, options);

  // The wake-up: the messages, then PINGRESP.
  node.send(sn::PingReq{id});
  std::vector<std::string> got;
  while (got.size() < sent.size()) {
    const auto m = node.next_publish(5s);
    if (!m) break;
    got.push_back(text(m->payload));
  }
  std::sort(got.begin(), got.end());  // in any order, as above
  CHECK(joined(got) == joined(sent));
  CHECK(node.expect<sn::PingResp>(5s).has_value());
}

TEST_CASE("gateway: persistence - a store that is not a database stops the start - exit 2 with the path "
          "and the reason") {
  Mosquitto broker;
  StoreDir store;
  std::ofstream(store.db()) << std::string(4096, 'x');
  auto options = persistent_options(broker, store);
  options.wait_ready = false;
  GatewayProcess gateway(options);
  CHECK(gateway.wait_exit(10s) == 2);
  const std::string log = gateway.log();
  CHECK_MESSAGE(log.find(store.db()) != std::string::npos, log);
  CHECK_MESSAGE(log.find("not a database") != std::string::npos, log);
}
