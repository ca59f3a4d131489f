// The native client's end-to-end acknowledgement, end to end: a QoS 1/2 message from the broker is
// acknowledged upstream only once the MQTT-SN client has it, so a gateway that dies in between
// loses nothing. (Paho acknowledges every message as it arrives, before the gateway sees it: with
// it, the same scenario loses the message. These tests therefore choose the native client
// themselves, whatever MQTTSN_TEST_CLIENT says.)
#include <doctest/doctest.h>

#include <chrono>
#include <csignal>
#include <string>
#include <thread>

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

// One of the gateway's counters, as a fresh "stats:" line (SIGUSR1) says it.
std::uint64_t counter(GatewayProcess& gateway, const std::string& name) {
  const auto lines = [&] {
    std::size_t n = 0;
    const std::string log = gateway.log();
    for (auto at = log.find("stats: "); at != std::string::npos; at = log.find("stats: ", at + 1)) ++n;
    return n;
  };
  const std::size_t before = lines();
  gateway.signal(SIGUSR1);
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (lines() == before && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(10ms);  // the log gives no other signal
  }
  const std::string log = gateway.log();
  const auto at = log.rfind(" " + name + "=");
  REQUIRE_MESSAGE(at != std::string::npos, "no " << name << " in the gateway's stats");
  return std::stoull(log.substr(at + name.size() + 2));
}

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

TEST_CASE("native: a downlink backlog beyond the client's queue loses no QoS 1 message - the broker "
          "keeps what the gateway cannot hold, both modes, MQTT 3.1.1 and 5") {
  // mosquitto without its window of unacknowledged messages sends everything at once; the
  // gateway's queue for one client holds 1000 (core.hpp). The messages beyond it used to push
  // the oldest waiting ones out, which were then acknowledged upstream and lost. Now the
  // connection holds at most 1000 unacknowledged (MQTT 5: its Receive Maximum; MQTT 3.1.1: it
  // stops reading) and the rest waits at the broker.
  constexpr int kMessages = 1300;
  for (const auto& [mode, version] : std::vector<std::pair<std::string, int>>{
           {"transparent", 4}, {"aggregating", 4}, {"transparent", 5}, {"aggregating", 5}}) {
    CAPTURE(mode);
    CAPTURE(version);
    GatewayOptions options = native_transparent();
    options.mode = mode;
    options.mqtt_version = version;
    options.retry_interval_ms = 5000;  // the first PUBLISH waits unanswered while we publish
    options.retry_max_attempts = 5;
    options.log_level = "info";
    Rig rig(options, {"max_inflight_messages 0"});
    const std::string topic = "backlog/" + mode + std::to_string(version);
    auto node = rig.client();
    REQUIRE(node.connect("backlog-" + mode + std::to_string(version), 60, true) == sn::ReturnCode::accepted);
    REQUIRE(node.subscribe(topic, sn::QoS::qos1).has_value());
    node.set_auto_answer(false);

    TestSubscriber publisher(rig.broker.uri(), "unused/none");
    for (int i = 0; i < kMessages; ++i) publisher.publish(topic, std::to_string(i), 1);
    const auto first = node.expect<sn::Publish>(5s);
    REQUIRE(first.has_value());
    CHECK(text(first->data) == "0");
    // The gateway takes what its queue holds, and stops there: the rest waits at the broker.
    std::uint64_t queued = 0;
    for (int i = 0; i < 50; ++i) {
      const auto now = counter(rig.gateway, "messages/out/queued");
      if (now == queued && now > 0) break;
      queued = now;
      std::this_thread::sleep_for(100ms);
    }
    CHECK(queued >= 1000);
    CHECK(queued <= 1001);
    // Now the node answers.
    node.send(sn::PubAck{first->topic_id, first->msg_id, sn::ReturnCode::accepted});
    node.set_auto_answer(true);
    int next = 1;
    while (next < kMessages) {
      const auto got = node.next_publish(5s);
      if (!got.has_value()) break;
      if (text(got->payload) == std::to_string(next - 1)) continue;  // a retransmission (DUP)
      REQUIRE(text(got->payload) == std::to_string(next));  // each once, in order
      ++next;
    }
    CHECK_MESSAGE(next == kMessages, rig.gateway.log().substr(0, 4000));
    CHECK(counter(rig.gateway, "drops/downlink") == 0);
    CHECK(counter(rig.gateway, "messages/out/queued") == 0);
  }
}
