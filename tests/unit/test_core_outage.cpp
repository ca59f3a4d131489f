// The gateway core, transparent mode: a client's upstream connection drops under it (the broker
// restarts, the network cuts). The client keeps its session: no DISCONNECT; the gateway connects
// again with the same ClientId, will and CleanSession, with backoff and jitter and a bound on
// attempts under way; meanwhile what needs the broker is answered with congestion (0x01) as in
// aggregating mode; a CleanSession=true client gets its subscriptions back.

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "core_fixture.hpp"

using namespace core_test;  // NOLINT(google-build-using-namespace)

namespace {

// Backoff without surprises: 1 s, doubled per failure, at most 8 s, minus up to a half.
CoreConfig outage_config() {
  CoreConfig config = default_config();
  config.reconnect_min = 1000ms;
  config.reconnect_max = 8000ms;
  return config;
}

// Moves the clock until the core asks for a connection; returns it (REQUIREd within `limit`).
UpstreamConnect next_attempt(CoreFixture& f, Time limit) {
  for (Time waited{0}; waited <= limit; waited += 50ms) {
    const auto& actions = f.advance(50ms);
    for (const Action& a : actions) {
      if (const auto* c = std::get_if<UpstreamConnect>(&a)) return *c;
    }
  }
  FAIL("no reconnect attempt within " << limit.count() << " ms");
  return {};
}

}  // namespace

TEST_CASE("core: outage - the client stays connected and is answered with congestion meanwhile") {
  CoreFixture f{outage_config()};
  const auto c = udp(5001);
  const ConnId conn = f.connect(c, "node-1");
  // Subscribed before the outage.
  f.feed(c, sn::Subscribe{false, sn::QoS::qos1, sn::TopicIdType::normal, 3, "down/#", 0});
  const ReqId sub = f.req_of<UpstreamSubscribe>();
  f.event(UpstreamSubscribeDone{conn, sub, true, 1});

  CHECK(show(f.event(UpstreamConnectionLost{conn, "broker went away"})) == "(nothing)\n");
  CHECK(f.sessions() == 1);
  CHECK(f.counters().client_upstream_outages == 1);
  // The client hears nothing of it: PINGREQ is answered, REGISTER works (local).
  CHECK(show(f.feed(c, sn::PingReq{})) == show({to(c, sn::PingResp{})}));
  const auto topic = f.register_topic(c, "up/a", 4);
  // What needs the broker: congestion (§5.3.10), never silence, never a DISCONNECT.
  CHECK(show(f.feed(c, publish_msg(sn::QoS::qos1, sn::TopicIdType::normal, topic, 5, "x"))) ==
        show({to(c, sn::PubAck{topic, 5, sn::ReturnCode::congestion})}));
  CHECK(show(f.feed(c, sn::Subscribe{false, sn::QoS::qos0, sn::TopicIdType::normal, 6, "x/y", 0})) ==
        show({to(c, sn::SubAck{sn::QoS::qos0, 0, 6, sn::ReturnCode::congestion})}));
  CHECK(show(f.feed(c, sn::WillTopicUpd{sn::QoS::qos0, false, "w"})) ==
        show({to(c, sn::WillTopicResp{sn::ReturnCode::congestion})}));
  // QoS 0 is dropped and counted.
  f.feed(c, publish_msg(sn::QoS::qos0, sn::TopicIdType::normal, topic, 0, "y"));
  CHECK(f.upstream<UpstreamPublish>().empty());
  CHECK(f.counters().upstream_publish_failed == 1);

  // Within the first backoff (1 s at most): the same ClientId, keep-alive, CleanSession, will.
  const UpstreamConnect again = next_attempt(f, 1000ms);
  CHECK(again.client_id == "sn-node-1");
  CHECK(again.keep_alive_s == 60);
  CHECK(again.clean_session);
  CHECK_FALSE(again.will.has_value());
  // CleanSession=true: the broker kept nothing, the subscription is restored; no answer to the
  // client, who never lost it.
  const auto& up = f.event(UpstreamConnected{again.conn});
  CHECK(f.sent_to(c).empty());
  const auto resub = f.upstream<UpstreamSubscribe>();
  REQUIRE(resub.size() == 1);
  CHECK(resub[0].filter == "down/#");
  CHECK(resub[0].qos == 1);
  CHECK(up.size() >= 1);
  CHECK(f.counters().client_upstream_reconnects == 1);
  // Served again on the new connection; downlink resumes by itself.
  CHECK(show(f.feed(c, publish_msg(sn::QoS::qos0, sn::TopicIdType::normal, topic, 0, "z"))) ==
        show({UpstreamPublish{again.conn, 0, "up/a", bytes("z"), 0, false}}));
  f.event(UpstreamMessage{again.conn, "down/1", bytes("m"), 0, false, 0});
  const auto got = f.sent_to(c);
  REQUIRE(got.size() == 1);  // REGISTER for down/1 first (§6.10), the PUBLISH after REGACK
  CHECK(std::holds_alternative<sn::Register>(got[0]));
}

TEST_CASE("core: outage - failed attempts back off (doubling, capped, jittered) and the client "
          "stays") {
  CoreFixture f{outage_config()};
  const auto c = udp(5001);
  const ConnId conn = f.connect(c, "node-1", 600);
  f.event(UpstreamConnectionLost{conn, "reset"});
  Time previous = f.now();
  std::vector<Time> gaps;
  for (int i = 0; i < 6; ++i) {
    const UpstreamConnect attempt = next_attempt(f, 8000ms);
    gaps.push_back(f.now() - previous);
    f.event(UpstreamConnectFailed{attempt.conn, false, "connection refused"});
    previous = f.now();
  }
  // Attempt n waits in (ceiling/2, ceiling] with ceiling = min(1 s * 2^n, 8 s), give or take the
  // 50 ms steps of next_attempt.
  const std::vector<Time> ceilings{1000ms, 2000ms, 4000ms, 8000ms, 8000ms, 8000ms};
  for (std::size_t i = 0; i < gaps.size(); ++i) {
    CAPTURE(i);
    CHECK(gaps[i] >= ceilings[i] / 2);
    CHECK(gaps[i] <= ceilings[i] + 50ms);
  }
  CHECK(f.sessions() == 1);
  CHECK(show(f.feed(c, sn::PingReq{})) == show({to(c, sn::PingResp{})}));
}

TEST_CASE("core: outage - at most 64 reconnects under way, the rest follow") {
  CoreFixture f{outage_config()};
  std::vector<ConnId> conns;
  for (std::uint16_t i = 0; i < 70; ++i) {
    conns.push_back(f.connect(udp(static_cast<std::uint16_t>(6000 + i)), "n" + std::to_string(i)));
  }
  for (const ConnId conn : conns) f.event(UpstreamConnectionLost{conn, "broker restart"});
  std::vector<UpstreamConnect> attempts;
  for (int step = 0; step < 40; ++step) {
    for (const auto& a : f.advance(50ms)) {
      if (const auto* connect = std::get_if<UpstreamConnect>(&a)) attempts.push_back(*connect);
    }
  }
  CHECK(attempts.size() == 64);
  // As attempts complete, the others go.
  for (const auto& a : attempts) f.event(UpstreamConnected{a.conn});
  std::size_t more = 0;
  for (int step = 0; step < 40; ++step) {
    for (const auto& a : f.advance(50ms)) more += std::holds_alternative<UpstreamConnect>(a) ? 1 : 0;
  }
  CHECK(more == 6);
  CHECK(f.sessions() == 70);
}

TEST_CASE("core: outage - CleanSession=false keeps the broker's session, an UNSUBSCRIBE meanwhile "
          "is done once it is back") {
  CoreFixture f{outage_config()};
  const auto c = udp(5001);
  const ConnId conn = f.connect(c, "node-1", 60, /*clean=*/false);
  f.feed(c, sn::Subscribe{false, sn::QoS::qos1, sn::TopicIdType::normal, 3, "down/#", 0});
  f.event(UpstreamSubscribeDone{conn, f.req_of<UpstreamSubscribe>(), true, 1});
  f.event(UpstreamConnectionLost{conn, "reset"});
  CHECK(show(f.feed(c, sn::Unsubscribe{sn::TopicIdType::normal, 7, "down/#", 0})) ==
        show({to(c, sn::UnsubAck{7})}));
  const UpstreamConnect again = next_attempt(f, 1000ms);
  CHECK_FALSE(again.clean_session);
  CHECK(show(f.event(UpstreamConnected{again.conn, /*session_present=*/true})) ==
        show({UpstreamUnsubscribe{again.conn, 0, "down/#"}}));
}

TEST_CASE("core: outage - CleanSession=false but the broker lost the session: the subscriptions "
          "are restored") {
  CoreFixture f{outage_config()};
  const auto c = udp(5001);
  const ConnId conn = f.connect(c, "node-1", 60, /*clean=*/false);
  f.feed(c, sn::Subscribe{false, sn::QoS::qos2, sn::TopicIdType::normal, 3, "down/#", 0});
  f.event(UpstreamSubscribeDone{conn, f.req_of<UpstreamSubscribe>(), true, 2});
  f.event(UpstreamConnectionLost{conn, "broker restarted without persistence"});
  const UpstreamConnect again = next_attempt(f, 1000ms);
  f.event(UpstreamConnected{again.conn, /*session_present=*/false});
  const auto resub = f.upstream<UpstreamSubscribe>();
  REQUIRE(resub.size() == 1);
  CHECK(resub[0].filter == "down/#");
  CHECK(resub[0].qos == 2);
}

TEST_CASE("core: outage - a client lost meanwhile has its will published by the gateway") {
  CoreConfig config = outage_config();
  CoreFixture f{config};
  f.qos_minus_one_up();
  const auto c = udp(5001);
  f.feed(c, connect_msg("node-1", 10, true, /*will=*/true));
  f.feed(c, sn::WillTopic{sn::QoS::qos1, false, "w/node-1"});
  f.feed(c, sn::WillMsg{bytes("bye")});
  const ConnId conn = f.connect_conn();
  f.event(UpstreamConnected{conn});
  f.event(UpstreamConnectionLost{conn, "reset"});
  // Every attempt fails; the client falls silent past its keep-alive (10 s + 50 %).
  Time waited{0};
  bool will = false;
  while (waited < 20s && !will) {
    for (const auto& a : f.advance(100ms)) {
      if (const auto* attempt = std::get_if<UpstreamConnect>(&a)) {
        f.event(UpstreamConnectFailed{attempt->conn, false, "refused"});
      }
      if (const auto* p = std::get_if<UpstreamPublish>(&a)) will = p->topic == "w/node-1";
    }
    waited += 100ms;
  }
  CHECK(will);
  CHECK(f.sessions() == 0);
}

TEST_CASE("core: outage - DISCONNECT meanwhile ends the attempt, nothing is left under way") {
  CoreFixture f{outage_config()};
  const auto c = udp(5001);
  const ConnId conn = f.connect(c, "node-1");
  f.event(UpstreamConnectionLost{conn, "reset"});
  const UpstreamConnect attempt = next_attempt(f, 1000ms);
  CHECK(show(f.feed(c, sn::Disconnect{})) ==
        show({to(c, sn::Disconnect{}), UpstreamDisconnect{attempt.conn, false}}));
  CHECK(f.sessions() == 0);
  // A later answer for the abandoned attempt changes nothing.
  CHECK(show(f.event(UpstreamConnected{attempt.conn})) == "(nothing)\n");
}

TEST_CASE("core: outage - a CleanSession=true sleeper whose connection drops stays asleep and "
          "connects again at its wake-up, subscriptions restored") {
  CoreFixture f{outage_config()};
  const auto c = udp(5001);
  const ConnId conn = f.connect(c, "node-1");
  f.feed(c, sn::Subscribe{false, sn::QoS::qos1, sn::TopicIdType::normal, 3, "down/#", 0});
  f.event(UpstreamSubscribeDone{conn, f.req_of<UpstreamSubscribe>(), true, 1});
  f.feed(c, sn::Disconnect{60});
  CHECK(show(f.event(UpstreamConnectionLost{conn, "broker restart"})) == "(nothing)\n");
  CHECK(f.sessions() == 1);
  // The wake-up connects again with the client's own flags...
  f.feed(c, sn::PingReq{});
  const auto connects = f.upstream<UpstreamConnect>();
  REQUIRE(connects.size() == 1);
  CHECK(connects[0].clean_session);
  CHECK(f.sent_to(c).empty());  // PINGRESP waits for the connection and the backlog
  // ... and subscribes it again; the flush ends once the broker has been quiet.
  f.event(UpstreamConnected{connects[0].conn, false});
  const auto resub = f.upstream<UpstreamSubscribe>();
  REQUIRE(resub.size() == 1);
  CHECK(resub[0].filter == "down/#");
  f.advance(1s);
  CHECK(show(f.last()) == show({to(c, sn::PingResp{})}));
}
