// The gateway core, sleeping clients in transparent mode with CleanSession=false (§6.14): while
// the client sleeps its upstream connection is closed cleanly, so the broker's persistent session
// keeps (unacknowledged) what arrives for it; the wake-up PINGREQ opens the connection again, the
// broker's backlog joins the flush, and PINGRESP goes out once nothing has arrived for
// wake_settle. Time is a fake clock; each test asserts the exact list of actions.

#include <doctest/doctest.h>

#include "core_fixture.hpp"

using namespace core_test;  // NOLINT(google-build-using-namespace)

namespace {

UpstreamMessage from_broker(ConnId conn, std::string topic, std::string_view payload,
                            std::uint8_t qos = 0) {
  return UpstreamMessage{conn, std::move(topic), bytes(payload), qos, false};
}

sn::Publish down(sn::QoS qos, std::uint16_t topic_id, std::uint16_t msg_id, std::string_view data) {
  return publish_msg(qos, sn::TopicIdType::normal, topic_id, msg_id, data, false, false);
}

sn::PingReq wake_up(std::string client_id) { return sn::PingReq{std::move(client_id)}; }

UpstreamConnect resumed(ConnId conn, std::optional<Will> will = std::nullopt) {
  return UpstreamConnect{conn, "sn-node-1", 60, /*clean_session=*/false, std::move(will)};
}

// node-1, CleanSession=false, subscribed to a/# (wildcard: topic id 0 in the SUBACK).
ConnId connect_persistent(CoreFixture& f, const sn::Peer& c) {
  const ConnId conn = f.connect(c, "node-1", 60, /*clean=*/false);
  f.feed(c, subscribe_name(100, "a/#", sn::QoS::qos1));
  f.event(UpstreamSubscribeDone{conn, f.req_of<UpstreamSubscribe>(), true, 1});
  REQUIRE(f.sent_to(c).size() == 1);
  return conn;
}

// connect_persistent(), then asleep for 30 s with its connection closed (Disconnected seen).
ConnId released_sleeper(CoreFixture& f, const sn::Peer& c) {
  const ConnId conn = connect_persistent(f, c);
  f.feed(c, sn::Disconnect{30});
  REQUIRE(f.upstream<UpstreamDisconnect>().size() == 1);
  f.event(UpstreamDisconnected{conn});
  return conn;
}

}  // namespace

TEST_CASE(
    "core: §6.14 CleanSession=false asleep -> upstream closed cleanly - wake-up reopens it and "
    "the broker's backlog joins the flush - PINGRESP last") {
  CoreFixture f;
  const auto c = udp(5001);
  const ConnId conn = connect_persistent(f, c);

  // Asleep: DISCONNECT to the client, and a clean DISCONNECT upstream (no will).
  CHECK(show(f.feed(c, sn::Disconnect{30})) ==
        show({to(c, sn::Disconnect{}), UpstreamDisconnect{conn, /*fire_will=*/false}}));
  CHECK(f.counters().sleeper_upstream_released == 1);
  // A message the broker sent before it took the DISCONNECT is the gateway's now: buffered.
  CHECK(show(f.event(from_broker(conn, "a/x", "0", 1))) == show({}));
  CHECK(show(f.event(UpstreamDisconnected{conn})) == show({}));
  f.advance(20s);

  // The wake-up: the connection comes back with the same id, CleanSession=false; what the gateway
  // holds goes out meanwhile, REGISTER first.
  CHECK(show(f.feed(c, wake_up("node-1"))) ==
        show({resumed(conn + 1), to(c, sn::Register{1, 1, "a/x"})}));
  const ConnId again = f.connect_conn();
  CHECK(f.counters().sleeper_upstream_resumed == 1);
  CHECK(show(f.feed(c, sn::RegAck{1, 1, sn::ReturnCode::accepted})) ==
        show({to(c, down(sn::QoS::qos1, 1, 2, "0"))}));
  // Its ack does not end the flush: the broker has not been heard yet.
  CHECK(show(f.feed(c, sn::PubAck{1, 2, sn::ReturnCode::accepted})) == show({}));
  CHECK(show(f.event(UpstreamConnected{again})) == show({}));
  // The backlog: delivered as it arrives; each arrival gives the broker wake_settle more.
  CHECK(show(f.event(from_broker(again, "a/x", "1", 1))) ==
        show({to(c, down(sn::QoS::qos1, 1, 3, "1"))}));
  f.advance(200ms);
  CHECK(show(f.event(from_broker(again, "a/x", "2", 0))) == show({}));  // waits behind msg 3
  CHECK(show(f.feed(c, sn::PubAck{1, 3, sn::ReturnCode::accepted})) ==
        show({to(c, down(sn::QoS::qos0, 1, 0, "2"))}));
  CHECK(show(f.advance(249ms)) == show({}));
  // Quiet for 250 ms: PINGRESP, asleep again, and the connection is released again.
  CHECK(show(f.advance(1ms)) ==
        show({to(c, sn::PingResp{}), UpstreamDisconnect{again, /*fire_will=*/false}}));
  CHECK(f.counters().sleeper_upstream_released == 2);
  CHECK(f.counters().downlink_dropped == 0);
}

TEST_CASE("core: §6.14 a released sleeper with nothing waiting -> PINGRESP once the broker was "
          "quiet for wake_settle") {
  CoreFixture f;
  const auto c = udp(5001);
  const ConnId conn = released_sleeper(f, c);
  CHECK(show(f.feed(c, wake_up("node-1"))) == show({resumed(conn + 1)}));
  f.advance(5s);  // a slow broker: no PINGRESP before it answered
  CHECK(show(f.last()) == show({}));
  CHECK(show(f.event(UpstreamConnected{conn + 1})) == show({}));
  CHECK(show(f.advance(249ms)) == show({}));
  CHECK(show(f.advance(1ms)) == show({to(c, sn::PingResp{}), UpstreamDisconnect{conn + 1, false}}));
  // Asleep again with the sleep timer restarted: lost 45 s after the PINGRESP, not before.
  CHECK(show(f.advance(44900ms)) == show({}));
  f.qos_minus_one_up();
  f.advance(100ms);
  CHECK(f.counters().clients_lost == 1);
}

TEST_CASE("core: §6.14 a released sleeper lost -> the gateway publishes its will with its QoS and "
          "retain flag") {
  CoreFixture f;
  f.qos_minus_one_up();
  const auto c = udp(5001);
  f.feed(c, connect_msg("node-1", 60, /*clean=*/false, /*will=*/true));
  f.feed(c, sn::WillTopic{sn::QoS::qos1, true, "nodes/node-1/status"});
  f.feed(c, sn::WillMsg{bytes("offline")});
  const ConnId conn = f.connect_conn();
  f.event(UpstreamConnected{conn});
  CHECK(show(f.feed(c, sn::Disconnect{20})) ==
        show({to(c, sn::Disconnect{}), UpstreamDisconnect{conn, false}}));
  f.event(UpstreamDisconnected{conn});
  CHECK(show(f.advance(29900ms)) == show({}));
  // No connection of its own to fire the will: the gateway's connection publishes it.
  CHECK(show(f.advance(100ms)) ==
        show({UpstreamPublish{kQosMinusOneConn, 0, "nodes/node-1/status", bytes("offline"), 1,
                              true}}));
  CHECK(f.counters().wills_published == 1);
  CHECK(f.counters().clients_lost == 1);
  // The session is kept (CleanSession=false), lost; its next CONNECT starts a new connection.
  CHECK(f.sessions() == 1);
  CHECK(show(f.feed(c, connect_msg("node-1", 60, false))) ==
        show({UpstreamConnect{conn + 1, "sn-node-1", 60, false,
                              Will{"nodes/node-1/status", bytes("offline"), 1, true}}}));
}

TEST_CASE("core: §6.14 a wake-up whose upstream connect fails -> PINGRESP with what the gateway "
          "has - the broker keeps the rest for the next wake-up") {
  CoreFixture f;
  const auto c = udp(5001);
  const ConnId conn = connect_persistent(f, c);
  f.feed(c, sn::Disconnect{30});
  f.event(from_broker(conn, "a/x", "0", 0));
  f.event(UpstreamDisconnected{conn});
  CHECK(show(f.feed(c, wake_up("node-1"))) ==
        show({resumed(conn + 1), to(c, sn::Register{1, 1, "a/x"})}));
  CHECK(show(f.feed(c, sn::RegAck{1, 1, sn::ReturnCode::accepted})) ==
        show({to(c, down(sn::QoS::qos0, 1, 0, "0"))}));
  CHECK(show(f.event(UpstreamConnectFailed{conn + 1, false, "connection refused"})) ==
        show({to(c, sn::PingResp{})}));
  CHECK(f.counters().clients_lost == 0);
  CHECK(f.sessions() == 1);
  // Still asleep and released: the next wake-up tries again.
  f.advance(10s);
  CHECK(show(f.feed(c, wake_up("node-1"))) == show({resumed(conn + 2)}));
}

TEST_CASE("core: §6.14 the resumed connection lost during the flush -> PINGRESP - the client "
          "stays asleep, not disconnected") {
  CoreFixture f;
  const auto c = udp(5001);
  const ConnId conn = released_sleeper(f, c);
  f.feed(c, wake_up("node-1"));
  f.event(UpstreamConnected{conn + 1});
  CHECK(show(f.event(UpstreamConnectionLost{conn + 1, "broker went away"})) ==
        show({to(c, sn::PingResp{})}));
  CHECK(f.sessions() == 1);
  // The old connection's own Disconnected or loss, arriving late, changes nothing.
  CHECK(show(f.event(UpstreamConnectionLost{conn, "late"})) == show({}));
  f.advance(10s);
  CHECK(show(f.feed(c, wake_up("node-1"))) == show({resumed(conn + 2)}));
}

TEST_CASE("core: §6.14 DISCONNECT with a duration while the wake-up connection opens closes it "
          "again") {
  CoreFixture f;
  const auto c = udp(5001);
  const ConnId conn = released_sleeper(f, c);
  f.feed(c, wake_up("node-1"));
  CHECK(show(f.feed(c, sn::Disconnect{60})) ==
        show({to(c, sn::Disconnect{}), UpstreamDisconnect{conn + 1, false}}));
  // Its late CONNACK does nothing: no PINGRESP, no second DISCONNECT.
  CHECK(show(f.event(UpstreamConnected{conn + 1})) == show({}));
  CHECK(show(f.advance(1s)) == show({}));
}

TEST_CASE("core: §6.14 CONNECT from a released sleeper -> a new connection with the CONNECT's "
          "flags - nothing to close") {
  CoreFixture f;
  const auto c = udp(5001);
  const ConnId conn = released_sleeper(f, c);
  CHECK(show(f.feed(c, connect_msg("node-1", 90, false))) ==
        show({UpstreamConnect{conn + 1, "sn-node-1", 90, false, std::nullopt}}));
  CHECK(show(f.event(UpstreamConnected{conn + 1})) ==
        show({to(c, sn::ConnAck{sn::ReturnCode::accepted})}));
}

TEST_CASE("core: §6.14 sleepers keep their upstream connection with CleanSession=true, in "
          "aggregating mode, or with sleep.release_upstream false") {
  SUBCASE("CleanSession=true: the broker would forget the session") {
    CoreFixture f;
    const auto c = udp(5001);
    f.connect(c, "node-1", 60, /*clean=*/true);
    CHECK(show(f.feed(c, sn::Disconnect{30})) == show({to(c, sn::Disconnect{})}));
  }
  SUBCASE("release_sleeper_upstream = false") {
    CoreConfig config = default_config();
    config.release_sleeper_upstream = false;
    CoreFixture f(config);
    const auto c = udp(5001);
    f.connect(c, "node-1", 60, /*clean=*/false);
    CHECK(show(f.feed(c, sn::Disconnect{30})) == show({to(c, sn::Disconnect{})}));
    CHECK(show(f.feed(c, wake_up("node-1"))) == show({to(c, sn::PingResp{})}));
  }
  SUBCASE("no gateway connection to publish a will with") {
    CoreConfig config = default_config();
    config.qos_minus_one = false;
    CoreFixture f(config);
    const auto c = udp(5001);
    f.connect(c, "node-1", 60, /*clean=*/false);
    CHECK(show(f.feed(c, sn::Disconnect{30})) == show({to(c, sn::Disconnect{})}));
  }
  SUBCASE("aggregating: one shared connection") {
    CoreConfig config = default_config();
    config.mode = Mode::aggregating;
    CoreFixture f(config);
    f.qos_minus_one_up();
    const auto c = udp(5001);
    f.feed(c, connect_msg("node-1", 60, false));
    REQUIRE(show(f.last()) == show({to(c, sn::ConnAck{sn::ReturnCode::accepted})}));
    CHECK(show(f.feed(c, sn::Disconnect{30})) == show({to(c, sn::Disconnect{})}));
  }
}

TEST_CASE("core: §6.14 plain DISCONNECT from a released sleeper -> disconnected - nothing "
          "upstream, no will") {
  CoreFixture f;
  f.qos_minus_one_up();
  const auto c = udp(5001);
  released_sleeper(f, c);
  CHECK(show(f.feed(c, sn::Disconnect{})) == show({to(c, sn::Disconnect{})}));
  CHECK(show(f.advance(1h)) == show({}));
  CHECK(f.counters().clients_lost == 0);
  CHECK(f.counters().wills_published == 0);
  CHECK(f.sessions() == 1);  // CleanSession=false: kept, disconnected
}
