// The native client resumes a CleanSession=false session the way MQTT 3.1.1 §4.4 / MQTT 5 §4.4
// say: after a broken link it resends every unacknowledged PUBLISH (DUP) and PUBREL with their
// packet ids, so that a real broker (mosquitto) completes each QoS 2 message exactly once and
// never takes a new message for an old one. A relay between the client and mosquitto loses the
// broker's acknowledgements and then cuts the link. (Paho's upstream makes a new client per
// connection and keeps nothing across it, so these cases choose the native client themselves.)
#include <doctest/doctest.h>

#include <chrono>
#include <map>
#include <string>
#include <thread>

#include "mqtt_bridge/upstream.hpp"
#include "support/broker.hpp"
#include "support/tcp_proxy.hpp"
#include "support/upstream_events.hpp"
#include "support/upstream_factory.hpp"

using namespace std::chrono_literals;
using mqtt_bridge::Connected;
using mqtt_bridge::ConnectionLost;
using mqtt_bridge::PublishDone;
using test_support::broker_options;
using test_support::bytes;
using test_support::kEventTimeout;
using test_support::LoopThreadUpstream;
using test_support::Mosquitto;
using test_support::TcpProxy;
using test_support::TestSubscriber;
using test_support::UpstreamEvents;

namespace {

// How long a second copy of a QoS 2 message is waited for: nothing sooner could show it never comes.
constexpr auto kQuietWindow = 1s;

std::map<std::string, int> tally(const std::vector<test_support::ReceivedMessage>& messages) {
  std::map<std::string, int> count;
  for (const auto& message : messages) ++count[message.payload];
  return count;
}

}  // namespace

TEST_CASE("native: §4.4 a resumed session resends unacknowledged PUBLISH (DUP) and PUBREL, and "
          "mosquitto delivers each QoS 2 message once") {
  for (const int version : {4, 5}) {
    CAPTURE(version);
    Mosquitto broker;
    const std::string topic = "resume/" + std::to_string(version);
    TestSubscriber subscriber(broker.uri(), topic, 2);
    TcpProxy link(broker.port());
    UpstreamEvents events;
    LoopThreadUpstream upstream(broker_options(link.uri(), version), events.sink());
    mqtt_bridge::ConnectRequest request = test_support::connect_request(1);
    request.clean_session = false;
    upstream.connect(request);
    REQUIRE(events.next<Connected>(kEventTimeout));

    // From here on the broker's answers are lost, but for the PUBREC of "q2-b" (so its PUBREL
    // goes out): its PUBCOMP, the PUBACK of "q1" and the PUBREC of "q2-a" never arrive.
    link.hold_from_server_after(1);
    upstream.publish(1, 1, topic, bytes("q2-b"), 2, false);
    // mosquitto publishes a QoS 2 message on PUBREL, so its arrival shows the PUBREL got there.
    REQUIRE(subscriber.wait_for(1, kEventTimeout));
    upstream.publish(1, 2, topic, bytes("q1"), 1, false);
    upstream.publish(1, 3, topic, bytes("q2-a"), 2, false);
    // A QoS 1 message is published on arrival: once "q1" is there, "q2-a" (sent after it on the
    // same connection) has reached the broker too.
    REQUIRE(subscriber.wait_for(2, kEventTimeout));
    const auto deadline = std::chrono::steady_clock::now() + kEventTimeout;
    while (link.held_packets() < 3 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(5ms);
    }
    REQUIRE(link.held_packets() == 3);
    link.cut();
    link.relay_all();
    REQUIRE(events.next<ConnectionLost>(kEventTimeout));
    // QoS 1 is failed to its sender, who sends it again; QoS 2 stays with the session, so its
    // sender is told the gateway has it and must not send it again.
    const auto q2b = events.next<PublishDone>(kEventTimeout, [](const PublishDone& e) { return e.request == 1; });
    const auto q1 = events.next<PublishDone>(kEventTimeout, [](const PublishDone& e) { return e.request == 2; });
    const auto q2a = events.next<PublishDone>(kEventTimeout, [](const PublishDone& e) { return e.request == 3; });
    REQUIRE(q2b);
    REQUIRE(q1);
    REQUIRE(q2a);
    CHECK(q2b->ok);
    CHECK_FALSE(q1->ok);
    CHECK(q2a->ok);

    // The session resumes on a new connection: the broker kept its half.
    request.id = 2;
    upstream.connect(request);
    const auto resumed = events.next<Connected>(kEventTimeout);
    REQUIRE(resumed);
    CHECK(resumed->session_present);
    // A new QoS 2 message after the resumption: it must not be taken for the one the broker
    // holds under an old packet id.
    upstream.publish(2, 4, topic, bytes("q2-new"), 2, false);
    const auto fresh = events.next<PublishDone>(kEventTimeout, [](const PublishDone& e) { return e.request == 4; });
    REQUIRE(fresh);
    CHECK(fresh->ok);
    // q2-b, q1, q1 again (the DUP), q2-a, q2-new.
    CHECK(subscriber.wait_for(5, kEventTimeout));
    std::this_thread::sleep_for(kQuietWindow);
    const auto count = tally(subscriber.messages());
    CHECK(count.at("q2-b") == 1);
    CHECK(count.at("q2-a") == 1);
    CHECK(count.at("q2-new") == 1);
    CHECK(count.at("q1") >= 1);
    CHECK(subscriber.count() == 5);
    test_support::disconnect_ok(upstream, events, 2);
  }
}
