// The native client's window of messages from the broker that wait for their receivers
// (BrokerOptions::receive_maximum with manual acknowledgement) against a real mosquitto that has
// no window of its own (max_inflight_messages 0): MQTT 5 announces it as Receive Maximum (which
// mosquitto 2.0.11 overruns: it refills the whole window on each PUBACK), MQTT 3.1.1 has none; a
// message beyond it stops the reading of the socket. Either way no more than the window arrives
// before the first acknowledgement, and everything arrives, once and in order, as the
// acknowledgements go out, on the one connection.
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>

#include "mqtt_bridge/upstream.hpp"
#include "support/broker.hpp"
#include "support/upstream_events.hpp"
#include "support/upstream_factory.hpp"

using namespace std::chrono_literals;
using mqtt_bridge::MessageArrived;
using test_support::broker_options;
using test_support::kEventTimeout;
using test_support::LoopThreadUpstream;
using test_support::Mosquitto;
using test_support::TestSubscriber;
using test_support::UpstreamEvents;

TEST_CASE("native: a window of receive_maximum messages waits for acknowledge() - the broker "
          "keeps the rest, MQTT 3.1.1 and 5") {
  constexpr int kWindow = 5;
  constexpr int kMessages = 300;
  for (const int version : {4, 5}) {
    CAPTURE(version);
    Mosquitto broker({"max_inflight_messages 0"});
    const std::string topic = "window/" + std::to_string(version);
    UpstreamEvents events;
    auto options = broker_options(broker.uri(), version);
    options.manual_acknowledgement = true;
    options.receive_maximum = kWindow;
    LoopThreadUpstream upstream(options, events.sink());
    test_support::connect_ok(upstream, events, test_support::connect_request(1));
    upstream.subscribe(1, 1, topic, 1);
    REQUIRE(events.next<mqtt_bridge::SubscribeDone>(kEventTimeout));

    TestSubscriber publisher(broker.uri(), "unused/none");
    for (int i = 0; i < kMessages; ++i) publisher.publish(topic, std::to_string(i), 1);
    REQUIRE(events.wait_count<MessageArrived>(kWindow));
    std::this_thread::sleep_for(300ms);  // more would have come by now
    CHECK(events.count<MessageArrived>() == kWindow);

    for (int i = 0; i < kMessages; ++i) {
      const auto got = events.next<MessageArrived>(kEventTimeout);
      if (!got) {
        for (const auto& event : events.take_all()) {
          if (const auto* lost = std::get_if<mqtt_bridge::ConnectionLost>(&event)) {
            MESSAGE("connection lost: " << lost->reason);
          }
        }
      }
      REQUIRE_MESSAGE(got.has_value(), "message " << i << " never came");
      REQUIRE(test_support::text(got->payload) == std::to_string(i));
      CHECK(got->ack != 0);
      CHECK(events.count<MessageArrived>() <= kWindow - 1);
      upstream.acknowledge(1, got->ack);
    }
    CHECK_FALSE(events.next<MessageArrived>(300ms).has_value());  // none twice
    CHECK(events.count<mqtt_bridge::ConnectionLost>() == 0);
  }
}

namespace {

// This process's resident set (/proc/self/status VmRSS), in bytes.
std::size_t resident_bytes() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoull(line.substr(6)) * 1024;
  }
  return 0;
}

}  // namespace

TEST_CASE("native: while the window is full the socket is not read - what the broker has for a "
          "receiver that does not answer stays at the broker, not in our memory") {
  constexpr std::size_t kPayload = 256 * 1024;
  constexpr int kMessages = 160;  // 40 MiB
  Mosquitto broker({"max_inflight_messages 0", "max_queued_messages 0"});
  const std::string topic = "window/held";
  UpstreamEvents events;
  auto options = broker_options(broker.uri(), 4);
  options.manual_acknowledgement = true;
  options.receive_maximum = 1;
  LoopThreadUpstream upstream(options, events.sink());
  test_support::connect_ok(upstream, events, test_support::connect_request(1));
  upstream.subscribe(1, 1, topic, 1);
  REQUIRE(events.next<mqtt_bridge::SubscribeDone>(kEventTimeout));

  // Published by another process (mosquitto_pub, one message per line), so that only our own
  // memory is measured.
  std::string lines;
  for (int i = 0; i < kMessages; ++i) {
    lines += std::string(kPayload, static_cast<char>('a' + i % 26));
    lines += '\n';
  }
  const auto file = broker.write_file("messages.txt", lines);
  lines = std::string();
  const std::size_t before = resident_bytes();
  REQUIRE(before > 0);
  const std::string command = "mosquitto_pub -h 127.0.0.1 -p " + std::to_string(broker.port()) +
                              " -q 1 -t " + topic + " -l < " + file.string();
  REQUIRE(std::system(command.c_str()) == 0);  // NOLINT(cert-env33-c): our own fixed command
  const auto first = events.next<MessageArrived>(kEventTimeout);
  REQUIRE(first.has_value());
  std::this_thread::sleep_for(500ms);  // what is read arrives meanwhile
  const std::size_t grown = resident_bytes() - std::min(before, resident_bytes());
  MESSAGE("resident set grew by " << grown / 1024 << " KiB while 40 MiB waited");
  // Socket buffers and the one message taken; reading on would have taken all 40 MiB.
  CHECK(grown < 16u * 1024 * 1024);
  CHECK(events.count<MessageArrived>() == 0);

  upstream.acknowledge(1, first->ack);
  for (int i = 1; i < kMessages; ++i) {
    const auto got = events.next<MessageArrived>(kEventTimeout);
    REQUIRE_MESSAGE(got.has_value(), "message " << i << " never came");
    REQUIRE(got->payload.size() == kPayload);
    CHECK(got->payload.front() == static_cast<std::uint8_t>('a' + i % 26));
    upstream.acknowledge(1, got->ack);
  }
}
