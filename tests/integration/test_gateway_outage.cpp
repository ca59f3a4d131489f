// End to end: mosquitto stops and starts again under subscribed MQTT-SN clients. The clients
// notice nothing: no DISCONNECT, PINGREQ answered throughout, and downlink resumes by itself
// within the reconnect backoff. Transparent mode reconnects each client's own connection (same
// ClientId, will, CleanSession); aggregating mode its one shared connection.

#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <initializer_list>
#include <string>
#include <thread>
#include <vector>

#include "sn_client.hpp"
#include "support/broker.hpp"
#include "support/gateway_process.hpp"
#include "support/udp_rig.hpp"

using namespace std::chrono_literals;
using test_support::GatewayOptions;
using test_support::TestSubscriber;

namespace {

using Rig = test_support::UdpRig;

// Publishes on `topic` every 300 ms until every node in `nodes` has received a message on it (at
// most `limit`); messages on other topics (left from before) are passed over.
bool publish_until_received(Rig& rig, std::initializer_list<sn_tools::SnUdpClient*> nodes,
                            const std::string& topic, std::chrono::milliseconds limit) {
  TestSubscriber publisher(rig.broker.uri(), "outage-test/unused");
  std::vector<bool> got(nodes.size(), false);
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    publisher.publish(topic, "m", 1);
    std::size_t i = 0;
    for (auto* node : nodes) {
      while (!got[i]) {
        const auto message = node->next_publish(100ms);
        if (!message) break;
        got[i] = message->topic == topic;
      }
      ++i;
    }
    if (std::all_of(got.begin(), got.end(), [](bool b) { return b; })) return true;
  }
  return false;
}

}  // namespace

TEST_CASE("gateway: the broker restarts under subscribed clients - no DISCONNECT, downlink "
          "resumes by itself") {
  GatewayOptions options;
  options.upstream_extra = R"("reconnect_min_ms": 200, "reconnect_max_ms": 1000)";
  Rig rig(options);
  auto fresh = rig.client();   // CleanSession=true: the gateway subscribes it again
  auto keeper = rig.client();  // CleanSession=false: the broker (no persistence) lost its session
  REQUIRE(fresh.connect("outage-fresh", 30, true) == sn::ReturnCode::accepted);
  REQUIRE(keeper.connect("outage-keeper", 30, false) == sn::ReturnCode::accepted);
  for (auto* node : {&fresh, &keeper}) {
    const auto suback = node->subscribe("outage/+", sn::QoS::qos1);
    REQUIRE(suback.has_value());
    REQUIRE(suback->return_code == sn::ReturnCode::accepted);
  }
  REQUIRE(publish_until_received(rig, {&fresh, &keeper}, "outage/before", 5s));

  rig.broker.stop();
  // The clients are served throughout: PINGREQ answered, nobody told to reconnect.
  for (int i = 0; i < 3; ++i) {
    CHECK(fresh.ping(2s));
    CHECK(keeper.ping(2s));
    std::this_thread::sleep_for(300ms);
  }
  rig.broker.start();

  // Within the backoff (at most 1 s between attempts), without any client action.
  CHECK(publish_until_received(rig, {&fresh, &keeper}, "outage/after", 15s));
  // No DISCONNECT reached either client (it would be held back by the waits above).
  CHECK_FALSE(fresh.expect<sn::Disconnect>(200ms).has_value());
  CHECK_FALSE(keeper.expect<sn::Disconnect>(200ms).has_value());
  CHECK(fresh.ping(2s));
  if (rig.gateway_mode == "transparent") {
    CHECK(rig.gateway.wait_for_log("upstream connection is back", 5s));
  }
}
