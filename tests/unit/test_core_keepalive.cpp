// The gateway core, keep-alive supervision (§6.11) with the tolerance of §7.2 (+50% below one
// minute, +10% above), PINGREQ/PINGRESP, and what a lost client means upstream (its will fires,
// §6.14 "lost"). Time is a fake clock; each test asserts the exact list of actions.

#include <doctest/doctest.h>

#include "core_fixture.hpp"

using namespace core_test;  // NOLINT(google-build-using-namespace)

TEST_CASE("core: §7.2 keep-alive 10 s: not lost at 14.9 s - lost at 15 s (+50%)") {
  CoreFixture f;
  const auto c = udp(5001);
  const ConnId conn = f.connect(c, "node-1", 10);
  CHECK(show(f.advance(14900ms)) == show({}));
  CHECK(f.sessions() == 1);
  CHECK(show(f.advance(100ms)) == show({UpstreamDisconnect{conn, /*fire_will=*/true}}));
  CHECK(f.counters().clients_lost == 1);
  CHECK(f.sessions() == 0);
  // Lost means no connection: §6.12.
  CHECK(show(f.feed(c, sn::PingReq{})) == show({to(c, sn::Disconnect{})}));
}

TEST_CASE("core: §7.2 keep-alive 100 s: not lost at 109.9 s - lost at 110 s (+10%)") {
  CoreFixture f;
  const auto c = udp(5001);
  const ConnId conn = f.connect(c, "node-1", 100);
  CHECK(show(f.advance(109900ms)) == show({}));
  CHECK(show(f.advance(100ms)) == show({UpstreamDisconnect{conn, true}}));
}

TEST_CASE("core: §6.11 PINGREQ -> PINGRESP - and it restarts the keep-alive timer") {
  CoreFixture f;
  const auto c = udp(5001);
  const ConnId conn = f.connect(c, "node-1", 10);
  f.advance(10s);
  CHECK(show(f.feed(c, sn::PingReq{})) == show({to(c, sn::PingResp{})}));
  // 15 s from the PINGREQ, not from the CONNECT.
  CHECK(show(f.advance(14900ms)) == show({}));
  CHECK(show(f.advance(100ms)) == show({UpstreamDisconnect{conn, true}}));
}

TEST_CASE("core: §6.14 any message from the client restarts the keep-alive timer") {
  CoreFixture f;
  const auto c = udp(5001);
  const ConnId conn = f.connect(c, "node-1", 10);

  f.advance(12s);
  f.feed(c, publish_msg(sn::QoS::qos0, sn::TopicIdType::predefined, kPredefinedId, 0, "x"));
  f.advance(12s);
  f.feed(c, sn::Register{0, 1, "a/b"});
  f.advance(12s);
  f.feed(c, subscribe_name(2, "a/#"));
  f.event(UpstreamSubscribeDone{conn, f.req_of<UpstreamSubscribe>(), true, 1});
  CHECK(show(f.advance(14900ms)) == show({}));
  CHECK(f.sessions() == 1);
  CHECK(show(f.advance(100ms)) == show({UpstreamDisconnect{conn, true}}));
}

TEST_CASE("core: §6.11 a client silent for good loses its will to the broker") {
  CoreFixture f;
  const auto c = udp(5001);
  f.feed(c, connect_msg("node-1", 20, true, true));
  f.feed(c, sn::WillTopic{sn::QoS::qos1, false, "nodes/node-1/status"});
  f.feed(c, sn::WillMsg{bytes("lost")});
  const ConnId conn = f.connect_conn();
  f.event(UpstreamConnected{conn});
  // The will travelled with the upstream CONNECT; fire_will=true makes the broker publish it.
  CHECK(show(f.advance(30s)) == show({UpstreamDisconnect{conn, true}}));
}

TEST_CASE("core: §6.12 DISCONNECT ends supervision - no will") {
  CoreFixture f;
  const auto c = udp(5001);
  const ConnId conn = f.connect(c, "node-1", 10);
  f.advance(5s);
  CHECK(show(f.feed(c, sn::Disconnect{})) ==
        show({to(c, sn::Disconnect{}), UpstreamDisconnect{conn, /*fire_will=*/false}}));
  CHECK(show(f.advance(1h)) == show({}));
  CHECK(f.counters().clients_lost == 0);
}

TEST_CASE(
    "core: §6.3 a lost client with CleanSession=false keeps its session for the next CONNECT") {
  CoreFixture f;
  const auto c = udp(5001);
  const ConnId conn = f.connect(c, "node-1", 10, /*clean=*/false);
  const std::uint16_t id = f.register_topic(c, "a/b", 1);
  CHECK(show(f.advance(15s)) == show({UpstreamDisconnect{conn, true}}));
  CHECK(f.sessions() == 1);
  const ConnId again = f.connect(c, "node-1", 10, false);
  CHECK(show(f.feed(c, publish_msg(sn::QoS::qos0, sn::TopicIdType::normal, id, 0, "x"))) ==
        show({UpstreamPublish{again, 0, "a/b", bytes("x"), 0, false}}));
}

TEST_CASE("core: §6.11 keep-alive 0 is not supervised") {
  CoreFixture f;
  const auto c = udp(5001);
  f.connect(c, "node-1", 0);
  CHECK(show(f.advance(24h)) == show({}));
  CHECK(show(f.feed(c, sn::PingReq{})) == show({to(c, sn::PingResp{})}));
}

TEST_CASE("core: §6.11 each client is supervised on its own clock") {
  CoreFixture f;
  const auto c1 = udp(5001);
  const auto c2 = udp(5002);
  const ConnId conn1 = f.connect(c1, "node-1", 10);
  f.advance(5s);
  const ConnId conn2 = f.connect(c2, "node-2", 10);
  CHECK(show(f.advance(10s)) == show({UpstreamDisconnect{conn1, true}}));
  CHECK(show(f.feed(c2, sn::PingReq{})) == show({to(c2, sn::PingResp{})}));
  CHECK(show(f.advance(14900ms)) == show({}));
  CHECK(show(f.advance(100ms)) == show({UpstreamDisconnect{conn2, true}}));
}
