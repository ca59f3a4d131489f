// The mqtt_bridge::Upstream contract against a real mosquitto (and a scripted server for the
// answers mosquitto will not give): connect outcomes, publish, subscribe, unsubscribe. Runs once
// per client (MQTTSN_TEST_CLIENT: paho, native; see support/upstream_factory.hpp).
// Connection lifecycle (wills, loss, scale) is in test_upstream_lifecycle.cpp.
#include <doctest/doctest.h>

#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "mqtt_bridge/upstream.hpp"
#include "support/broker.hpp"
#include "support/scripted_broker.hpp"
#include "support/upstream_events.hpp"
#include "support/upstream_factory.hpp"

using namespace std::chrono_literals;
using mqtt_bridge::Bytes;
using mqtt_bridge::Connected;
using mqtt_bridge::ConnectFailed;
using mqtt_bridge::ConnectFailure;
using mqtt_bridge::MessageArrived;
using mqtt_bridge::PublishDone;
using mqtt_bridge::RequestId;
using mqtt_bridge::SubscribeDone;
using mqtt_bridge::UnsubscribeDone;
using test_support::broker_options;
using test_support::bytes;
using test_support::connect_ok;
using test_support::connect_request;
using test_support::disconnect_ok;
using test_support::kEventTimeout;
using test_support::Mosquitto;
using test_support::ScriptedBroker;
using test_support::TestSubscriber;
using test_support::text;
using test_support::UpstreamEvents;

TEST_CASE("upstream: connect to a running broker ends with Connected") {
  Mosquitto broker;
  for (const int version : {4, 5}) {
    CAPTURE(version);
    UpstreamEvents events;
    auto upstream =
        test_support::make_upstream(broker_options(broker.uri(), version), events.sink());
    upstream->connect(connect_request(1));
    CHECK(upstream->connection_count() == 1);
    const auto connected = events.next<Connected>();
    REQUIRE(connected);
    CHECK(connected->id == 1);
    CHECK_FALSE(connected->session_present);
    disconnect_ok(*upstream, events, 1);
    CHECK(upstream->connection_count() == 0);
  }
}

TEST_CASE("upstream: connect to a port with nothing listening is ConnectFailed unavailable") {
  const std::string uri = "tcp://127.0.0.1:" + std::to_string(test_support::free_tcp_port());
  for (const int version : {4, 5}) {
    CAPTURE(version);
    UpstreamEvents events;
    auto upstream = test_support::make_upstream(broker_options(uri, version), events.sink());
    upstream->connect(connect_request(7));
    const auto failed = events.next<ConnectFailed>();
    REQUIRE(failed);
    CHECK(failed->id == 7);
    CHECK(failed->failure == ConnectFailure::unavailable);
    CHECK(upstream->connection_count() == 0);
  }
}

TEST_CASE("upstream: a broker that never sends CONNACK is ConnectFailed unavailable") {
  ScriptedBroker silent({.answer_connect = false});
  UpstreamEvents events;
  auto upstream = test_support::make_upstream(broker_options(silent.uri(), 4), events.sink());
  upstream->connect(connect_request(3));
  const auto failed = events.next<ConnectFailed>();  // after BrokerOptions::connect_timeout
  REQUIRE(failed);
  CHECK(failed->failure == ConnectFailure::unavailable);
  CHECK(events.count<Connected>() == 0);
}

TEST_CASE("upstream: CONNACK refusals map to refused and server unavailable/busy to unavailable") {
  struct Case {
    int version;
    std::uint8_t code;
    ConnectFailure expected;
  };
  // MQTT 3.1.1 §3.2.2.3 return codes; MQTT 5 §3.2.2.2 reason codes.
  for (const Case& c : {Case{4, 0x01, ConnectFailure::refused},  // unacceptable protocol version
                        Case{4, 0x02, ConnectFailure::refused},  // identifier rejected
                        Case{4, 0x03, ConnectFailure::unavailable},  // server unavailable
                        Case{4, 0x04, ConnectFailure::refused},      // bad user name or password
                        Case{4, 0x05, ConnectFailure::refused},      // not authorized
                        Case{5, 0x80, ConnectFailure::refused},      // unspecified error
                        Case{5, 0x85, ConnectFailure::refused},      // client identifier not valid
                        Case{5, 0x86, ConnectFailure::refused},      // bad user name or password
                        Case{5, 0x87, ConnectFailure::refused},      // not authorized
                        Case{5, 0x88, ConnectFailure::unavailable},  // server unavailable
                        Case{5, 0x89, ConnectFailure::unavailable},  // server busy
                        Case{5, 0x97, ConnectFailure::unavailable},  // quota exceeded
                        Case{5, 0x9F, ConnectFailure::unavailable}}) {  // connection rate exceeded
    CAPTURE(c.version);
    CAPTURE(int{c.code});
    ScriptedBroker broker({.connack_code = c.code});
    UpstreamEvents events;
    auto upstream =
        test_support::make_upstream(broker_options(broker.uri(), c.version), events.sink());
    upstream->connect(connect_request(1));
    const auto failed = events.next<ConnectFailed>();
    REQUIRE(failed);
    INFO("reason: " << failed->reason);
    CHECK(failed->failure == c.expected);
    CHECK_FALSE(failed->reason.empty());
  }
}

TEST_CASE("upstream: mosquitto refusing anonymous clients is ConnectFailed refused") {
  Mosquitto broker({"allow_anonymous false"});
  for (const int version : {4, 5}) {
    CAPTURE(version);
    UpstreamEvents events;
    auto upstream =
        test_support::make_upstream(broker_options(broker.uri(), version), events.sink());
    upstream->connect(connect_request(2));
    const auto failed = events.next<ConnectFailed>();
    REQUIRE(failed);
    INFO("reason: " << failed->reason);
    CHECK(failed->failure == ConnectFailure::refused);
    CHECK(upstream->connection_count() == 0);
  }
}

TEST_CASE("upstream: mosquitto rejecting an empty client id is ConnectFailed refused") {
  Mosquitto broker;
  UpstreamEvents events;
  auto upstream = test_support::make_upstream(broker_options(broker.uri(), 4), events.sink());
  auto request = connect_request(4);
  request.client_id.clear();  // MQTT 3.1.1 §3.1.3.1: an empty id needs clean session = 1
  request.clean_session = false;
  upstream->connect(request);
  const auto failed = events.next<ConnectFailed>();
  REQUIRE(failed);
  CHECK(failed->failure == ConnectFailure::refused);
}

TEST_CASE("upstream: connecting an id that exists is refused and leaves the first alone") {
  Mosquitto broker;
  UpstreamEvents events;
  auto upstream = test_support::make_upstream(broker_options(broker.uri(), 4), events.sink());
  connect_ok(*upstream, events, connect_request(9));
  upstream->connect(connect_request(9));
  const auto failed = events.next<ConnectFailed>();
  REQUIRE(failed);
  CHECK(failed->failure == ConnectFailure::refused);
  CHECK(upstream->connection_count() == 1);
  disconnect_ok(*upstream, events, 9);
}

TEST_CASE("upstream: qos 0/1/2 publishes reach a subscriber intact and are acked") {
  Mosquitto broker;
  for (const int version : {4, 5}) {
    CAPTURE(version);
    const std::string prefix = "pub/" + std::to_string(version) + "/";
    TestSubscriber subscriber(broker.uri(), prefix + "#");
    UpstreamEvents events;
    auto upstream =
        test_support::make_upstream(broker_options(broker.uri(), version), events.sink());
    connect_ok(*upstream, events, connect_request(1));
    const Bytes binary{0x00, 0xff, 0x10, 0x00, 0x7f};
    for (int qos = 0; qos <= 2; ++qos) {
      upstream->publish(1, static_cast<RequestId>(100 + qos), prefix + "q" + std::to_string(qos),
                        binary, qos, false);
    }
    for (int qos = 0; qos <= 2; ++qos) {
      CAPTURE(qos);
      const auto done = events.next<PublishDone>(kEventTimeout, [&](const PublishDone& e) {
        return e.request == static_cast<RequestId>(100 + qos);
      });
      REQUIRE(done);
      CHECK(done->id == 1);
      CHECK(done->ok);
    }
    REQUIRE(subscriber.wait_for(3, kEventTimeout));
    const auto received = subscriber.messages();
    for (int qos = 0; qos <= 2; ++qos) {
      CAPTURE(qos);
      int seen = 0;
      for (const auto& m : received) {
        if (m.topic != prefix + "q" + std::to_string(qos)) continue;
        ++seen;
        CHECK(m.payload == text(binary));
        CHECK(m.qos == qos);
        CHECK_FALSE(m.retained);
      }
      CHECK(seen == 1);
    }
    disconnect_ok(*upstream, events, 1);
  }
}

TEST_CASE("upstream: qos1 publish acked by broker keeps retain for later subscribers") {
  Mosquitto broker;
  UpstreamEvents events;
  auto upstream = test_support::make_upstream(broker_options(broker.uri(), 4), events.sink());
  connect_ok(*upstream, events, connect_request(1));
  upstream->publish(1, 42, "retained/r", bytes("kept"), 1, true);
  const auto done = events.next<PublishDone>();
  REQUIRE(done);
  CHECK(done->request == 42);
  CHECK(done->ok);
  TestSubscriber late(broker.uri(), "retained/#", 1);  // subscribes after the publish was acked
  REQUIRE(late.wait_for(1, kEventTimeout));
  const auto m = late.messages().front();
  CHECK(m.topic == "retained/r");
  CHECK(m.payload == "kept");
  CHECK(m.qos == 1);
  CHECK(m.retained);
  disconnect_ok(*upstream, events, 1);
}

TEST_CASE("upstream: subscribe delivers messages as MessageArrived with their qos and retain") {
  Mosquitto broker;
  for (const int version : {4, 5}) {
    CAPTURE(version);
    TestSubscriber other(broker.uri(), "unused/#");  // publishes, as any other client would
    other.publish("sub/r", "old", 1, true);
    UpstreamEvents events;
    auto upstream =
        test_support::make_upstream(broker_options(broker.uri(), version), events.sink());
    connect_ok(*upstream, events, connect_request(1));
    upstream->subscribe(1, 7, "sub/#", 1);
    const auto subscribed = events.next<SubscribeDone>();
    REQUIRE(subscribed);
    CHECK(subscribed->request == 7);
    CHECK(subscribed->ok);
    CHECK(subscribed->granted_qos == 1);

    const auto retained = events.next<MessageArrived>();
    REQUIRE(retained);
    CHECK(retained->topic == "sub/r");
    CHECK(text(retained->payload) == "old");
    CHECK(retained->retain);

    other.publish("sub/a", "two", 2);  // granted 1: delivered at qos 1
    const auto a = events.next<MessageArrived>(
        kEventTimeout, [](const MessageArrived& e) { return e.topic == "sub/a"; });
    REQUIRE(a);
    CHECK(a->id == 1);
    CHECK(text(a->payload) == "two");
    CHECK(a->qos == 1);
    CHECK_FALSE(a->retain);

    other.publish("sub/b", "zero", 0);
    const auto b = events.next<MessageArrived>(
        kEventTimeout, [](const MessageArrived& e) { return e.topic == "sub/b"; });
    REQUIRE(b);
    CHECK(b->qos == 0);
    other.publish("sub/r", "", 1, true);  // clears the retained message for the next version
    disconnect_ok(*upstream, events, 1);
  }
}

TEST_CASE("upstream: unsubscribe stops delivery") {
  Mosquitto broker;
  for (const int version : {4, 5}) {
    CAPTURE(version);
    TestSubscriber other(broker.uri(), "unused/#");
    UpstreamEvents events;
    auto upstream =
        test_support::make_upstream(broker_options(broker.uri(), version), events.sink());
    connect_ok(*upstream, events, connect_request(1));
    upstream->subscribe(1, 1, "u/a", 1);
    upstream->subscribe(1, 2, "u/b", 1);
    REQUIRE(events.next<SubscribeDone>());
    REQUIRE(events.next<SubscribeDone>());
    upstream->unsubscribe(1, 3, "u/a");
    const auto unsubscribed = events.next<UnsubscribeDone>();
    REQUIRE(unsubscribed);
    CHECK(unsubscribed->request == 3);
    CHECK(unsubscribed->ok);

    // One publisher, one subscriber: the broker keeps their order, so once u/b arrived, a u/a
    // published before it would have arrived too.
    other.publish("u/a", "gone", 1);
    other.publish("u/b", "marker", 1);
    REQUIRE(events.next<MessageArrived>(kEventTimeout,
                                        [](const MessageArrived& e) { return e.topic == "u/b"; }));
    CHECK(events.count<MessageArrived>() == 0);
    disconnect_ok(*upstream, events, 1);
  }
}

TEST_CASE("upstream: a SUBACK failure code is SubscribeDone ok=false") {
  // MQTT 3.1.1 §3.9.3: 0x80 is "Failure"; MQTT 5 §3.9.3: 0x87 is "Not authorized".
  for (const auto& [version, code] :
       {std::pair{4, std::uint8_t{0x80}}, std::pair{5, std::uint8_t{0x87}}}) {
    CAPTURE(version);
    ScriptedBroker broker({.suback_code = code});
    UpstreamEvents events;
    auto upstream =
        test_support::make_upstream(broker_options(broker.uri(), version), events.sink());
    connect_ok(*upstream, events, connect_request(1));
    upstream->subscribe(1, 11, "closed/x", 1);
    const auto refused = events.next<SubscribeDone>();
    REQUIRE(refused);
    CHECK(refused->request == 11);
    CHECK_FALSE(refused->ok);
    disconnect_ok(*upstream, events, 1);
  }
}

TEST_CASE("upstream: a publish with request 0 reports only its failure, never its success") {
  Mosquitto broker;
  TestSubscriber subscriber(broker.uri(), "zero/#", 1);
  UpstreamEvents events;
  auto upstream = test_support::make_upstream(broker_options(broker.uri(), 4), events.sink());
  connect_ok(*upstream, events, connect_request(1));
  upstream->publish(1, 0, "zero/q0", bytes("a"), 0, false);
  upstream->publish(1, 0, "zero/q1", bytes("b"), 1, false);
  upstream->publish(1, 7, "zero/marker", bytes("m"), 1, false);
  // The broker acknowledges in order: had the request-0 publishes reported their success, their
  // PublishDone would come first.
  const auto first = events.next<PublishDone>();
  REQUIRE(first);
  CHECK(first->request == 7);
  CHECK(first->ok);
  REQUIRE(subscriber.wait_for(3, kEventTimeout));
  // A failure is reported, request 0 or not: the gateway counts it.
  upstream->publish(99, 0, "zero/nowhere", bytes("z"), 0, false);
  const auto failed = events.next<PublishDone>();
  REQUIRE(failed);
  CHECK(failed->request == 0);
  CHECK_FALSE(failed->ok);
  disconnect_ok(*upstream, events, 1);
}

TEST_CASE("upstream: requests on an unknown or unready connection complete with ok=false") {
  Mosquitto broker;
  UpstreamEvents events;
  auto upstream = test_support::make_upstream(broker_options(broker.uri(), 4), events.sink());
  upstream->publish(99, 1, "t", bytes("x"), 1, false);
  const auto published = events.next<PublishDone>();
  REQUIRE(published);
  CHECK(published->id == 99);
  CHECK(published->request == 1);
  CHECK_FALSE(published->ok);
  CHECK_FALSE(published->reason.empty());
  upstream->subscribe(99, 2, "t", 1);
  const auto subscribed = events.next<SubscribeDone>();
  REQUIRE(subscribed);
  CHECK(subscribed->request == 2);
  CHECK_FALSE(subscribed->ok);
  upstream->unsubscribe(99, 3, "t");
  const auto unsubscribed = events.next<UnsubscribeDone>();
  REQUIRE(unsubscribed);
  CHECK(unsubscribed->request == 3);
  CHECK_FALSE(unsubscribed->ok);
  upstream->disconnect(99, false);  // unknown: ignored

  test_support::one_batch(*upstream, [](mqtt_bridge::Upstream& u) {
    u.connect(connect_request(1));
    u.publish(1, 4, "t", bytes("x"), 1, false);  // still connecting
  });
  const auto early = events.next<PublishDone>();
  REQUIRE(early);
  CHECK(early->request == 4);
  CHECK_FALSE(early->ok);
  REQUIRE(events.next<Connected>());
  upstream->publish(1, 5, "t", bytes("x"), 3, false);  // QoS 3 does not exist
  const auto bad_qos = events.next<PublishDone>();
  REQUIRE(bad_qos);
  CHECK(bad_qos->request == 5);
  CHECK_FALSE(bad_qos->ok);
  disconnect_ok(*upstream, events, 1);
}

TEST_CASE("upstream: a broker URI the client cannot use is std::invalid_argument") {
  UpstreamEvents events;
  for (const char* uri : {"foo://127.0.0.1:1883", "127.0.0.1:1883", "tcp://", "tcp://:1883"}) {
    CAPTURE(uri);
    CHECK_THROWS_AS(test_support::make_upstream(broker_options(uri, 4), events.sink()),
                    std::invalid_argument);
  }
  CHECK_THROWS_AS(
      test_support::make_upstream(broker_options("tcp://127.0.0.1:1883", 3), events.sink()),
      std::invalid_argument);
}
