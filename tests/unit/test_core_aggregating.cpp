// The gateway core in aggregating mode: one upstream connection (the gateway's own, conn 0) for
// every client, shared reference-counted subscriptions, routing to every matching client, wills
// published by the gateway, clients kept through a broker outage, restore on reconnect.

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "core_fixture.hpp"

using namespace core_test;  // NOLINT(google-build-using-namespace)

namespace {

constexpr ConnId kShared = kQosMinusOneConn;
const sn::ConnAck kAccepted{sn::ReturnCode::accepted};

CoreConfig aggregating() {
  CoreConfig config = default_config();
  config.mode = Mode::aggregating;
  return config;
}

// A fixture whose shared connection is up.
struct Agg {
  CoreFixture f{aggregating()};
  Agg() { f.event(UpstreamConnected{kShared}); }

  void connect(const sn::Peer& peer, const std::string& id, bool clean = true) {
    REQUIRE(show(f.feed(peer, connect_msg(id, 60, clean))) == show({to(peer, kAccepted)}));
  }
  // SUBSCRIBE by name; returns the UpstreamSubscribe it caused, if any.
  std::vector<UpstreamSubscribe> subscribe(const sn::Peer& peer, std::uint16_t msg_id,
                                           const std::string& filter, sn::QoS qos) {
    f.feed(peer, subscribe_name(msg_id, filter, qos));
    return f.upstream<UpstreamSubscribe>();
  }
};

std::vector<sn::MsgType> types(const std::vector<sn::Message>& messages) {
  std::vector<sn::MsgType> out;
  for (const auto& m : messages) out.push_back(sn::type_of(m));
  return out;
}

}  // namespace

TEST_CASE("core aggregating: start() opens the shared connection even with QoS -1 disabled") {
  CoreConfig config = aggregating();
  config.qos_minus_one = false;
  CoreFixture f(config);
  REQUIRE(f.started().size() == 1);
  const auto* connect = std::get_if<UpstreamConnect>(&f.started().front());
  REQUIRE(connect != nullptr);
  CHECK(connect->conn == kShared);
  CHECK(connect->clean_session);
  CHECK_FALSE(connect->will.has_value());
}

TEST_CASE("core aggregating: CONNECT is answered at once - nothing upstream") {
  Agg a;
  const auto c = udp(5001);
  CHECK(show(a.f.feed(c, connect_msg("node-1"))) == show({to(c, kAccepted)}));
  // With a will: the handshake, then CONNACK, and still nothing upstream.
  const auto d = udp(5002);
  a.f.feed(d, connect_msg("node-2", 60, true, /*will=*/true));
  a.f.feed(d, sn::WillTopic{sn::QoS::qos1, false, "w/node-2"});
  CHECK(show(a.f.feed(d, sn::WillMsg{bytes("bye")})) == show({to(d, kAccepted)}));
  CHECK(a.f.sessions() == 2);
}

TEST_CASE("core aggregating: CONNECT while the broker is unreachable -> CONNACK congestion") {
  CoreFixture f(aggregating());
  const auto c = udp(5001);
  CHECK(show(f.feed(c, connect_msg("node-1"))) ==
        show({to(c, sn::ConnAck{sn::ReturnCode::congestion})}));
  CHECK(f.sessions() == 0);
}

TEST_CASE("core aggregating: PUBLISH QoS 0/1/2 go on the shared connection - acks after the broker") {
  Agg a;
  const auto c = udp(5001);
  a.connect(c, "node-1");
  const auto ab = sn::short_topic_id('a', 'b');
  CHECK(show(a.f.feed(c, publish_msg(sn::QoS::qos0, sn::TopicIdType::short_name, ab, 0, "0"))) ==
        show({UpstreamPublish{kShared, 0, "ab", bytes("0"), 0, false}}));
  a.f.feed(c, publish_msg(sn::QoS::qos1, sn::TopicIdType::short_name, ab, 5, "1"));
  const ReqId req = a.f.req_of<UpstreamPublish>();
  CHECK(a.f.upstream<UpstreamPublish>().front().conn == kShared);
  CHECK(show(a.f.event(UpstreamPublishDone{kShared, req, true})) ==
        show({to(c, sn::PubAck{ab, 5, sn::ReturnCode::accepted})}));
  a.f.feed(c, publish_msg(sn::QoS::qos2, sn::TopicIdType::short_name, ab, 6, "2"));
  const ReqId req2 = a.f.req_of<UpstreamPublish>();
  CHECK(show(a.f.event(UpstreamPublishDone{kShared, req2, true})) ==
        show({to(c, sn::PubRec{6})}));
}

TEST_CASE("core aggregating: one upstream subscription per filter, unsubscribed with the last client") {
  Agg a;
  const auto c1 = udp(5001);
  const auto c2 = udp(5002);
  a.connect(c1, "node-1");
  a.connect(c2, "node-2");

  const auto first = a.subscribe(c1, 1, "cmd/+", sn::QoS::qos1);
  REQUIRE(first.size() == 1);
  CHECK(first[0].conn == kShared);
  CHECK(first[0].filter == "cmd/+");
  CHECK(first[0].qos == 1);
  CHECK(show(a.f.event(UpstreamSubscribeDone{kShared, first[0].req, true, 1})) ==
        show({to(c1, sn::SubAck{sn::QoS::qos1, 0, 1, sn::ReturnCode::accepted})}));
  // Already subscribed at QoS 1: the second client is answered at once.
  CHECK(a.subscribe(c2, 7, "cmd/+", sn::QoS::qos0).empty());
  CHECK(show(a.f.last()) == show({to(c2, sn::SubAck{sn::QoS::qos0, 0, 7, sn::ReturnCode::accepted})}));

  CHECK(show(a.f.feed(c1, sn::Unsubscribe{sn::TopicIdType::normal, 2, "cmd/+", 0})) ==
        show({to(c1, sn::UnsubAck{2})}));
  CHECK(show(a.f.feed(c2, sn::Unsubscribe{sn::TopicIdType::normal, 8, "cmd/+", 0})) ==
        show({UpstreamUnsubscribe{kShared, 0, "cmd/+"}, to(c2, sn::UnsubAck{8})}));
}

TEST_CASE("core aggregating: a higher QoS than the broker granted so far subscribes again") {
  Agg a;
  const auto c1 = udp(5001);
  const auto c2 = udp(5002);
  a.connect(c1, "node-1");
  a.connect(c2, "node-2");
  const auto first = a.subscribe(c1, 1, "t/x", sn::QoS::qos0);
  a.f.event(UpstreamSubscribeDone{kShared, first[0].req, true, 0});
  const auto second = a.subscribe(c2, 2, "t/x", sn::QoS::qos2);
  REQUIRE(second.size() == 1);
  CHECK(second[0].qos == 2);
  // The broker grants 1 only: the client gets what the gateway can deliver.
  const auto& answer = a.f.event(UpstreamSubscribeDone{kShared, second[0].req, true, 1});
  const auto sent = a.f.sent_to(c2);
  REQUIRE(sent.size() == 1);
  const auto* suback = std::get_if<sn::SubAck>(&sent.front());
  REQUIRE(suback != nullptr);
  CHECK(suback->qos == sn::QoS::qos1);
  (void)answer;
}

TEST_CASE("core aggregating: downlink reaches every matching client with its own ids and QoS") {
  Agg a;
  const auto c1 = udp(5001);
  const auto c2 = udp(5002);
  const auto c3 = udp(5003);
  a.connect(c1, "node-1");
  a.connect(c2, "node-2");
  a.connect(c3, "node-3");
  auto s1 = a.subscribe(c1, 1, "cmd/led", sn::QoS::qos1);
  a.f.event(UpstreamSubscribeDone{kShared, s1[0].req, true, 1});
  const auto suback = a.f.sent_to(c1);
  const std::uint16_t led_id = std::get<sn::SubAck>(suback.front()).topic_id;
  auto s2 = a.subscribe(c2, 1, "cmd/#", sn::QoS::qos0);
  a.f.event(UpstreamSubscribeDone{kShared, s2[0].req, true, 0});
  auto s3 = a.subscribe(c3, 1, "other/#", sn::QoS::qos1);
  a.f.event(UpstreamSubscribeDone{kShared, s3[0].req, true, 1});

  a.f.event(UpstreamMessage{kShared, "cmd/led", bytes("on"), 1, false});
  const auto to1 = a.f.sent_to(c1);
  REQUIRE(to1.size() == 1);
  const auto& p1 = std::get<sn::Publish>(to1.front());
  CHECK(p1.qos == sn::QoS::qos1);
  CHECK(p1.topic_id == led_id);
  CHECK(p1.data == bytes("on"));
  // node-2 has no id for cmd/led yet: REGISTER first (§6.10), then QoS 0.
  CHECK(types(a.f.sent_to(c2)) == std::vector<sn::MsgType>{sn::MsgType::reg});
  CHECK(a.f.sent_to(c3).empty());
  const auto reg = std::get<sn::Register>(a.f.sent_to(c2).front());
  a.f.feed(c2, sn::RegAck{reg.topic_id, reg.msg_id, sn::ReturnCode::accepted});
  const auto to2 = a.f.sent_to(c2);
  REQUIRE(to2.size() == 1);
  CHECK(std::get<sn::Publish>(to2.front()).qos == sn::QoS::qos0);
  // Nobody subscribed: dropped and counted.
  const auto before = a.f.counters().downlink_dropped;
  CHECK(show(a.f.event(UpstreamMessage{kShared, "nobody/here", bytes("x"), 0, false})) == show({}));
  CHECK(a.f.counters().downlink_dropped == before + 1);
}

TEST_CASE("core aggregating: overlapping exact and wildcard filters route one copy at the "
          "highest QoS") {
  // Routing looks exact filters up by name and tests only the wildcard ones (MQTT 3.1.1 §4.7):
  // the same clients must receive the same copies as testing every filter would give.
  Agg a;
  const auto c1 = udp(5001);
  const auto c2 = udp(5002);
  a.connect(c1, "node-1");
  a.connect(c2, "node-2");
  const auto sub = [&](const sn::Peer& peer, std::uint16_t msg_id, const std::string& filter,
                       sn::QoS qos) {
    auto up = a.subscribe(peer, msg_id, filter, qos);
    if (!up.empty()) a.f.event(UpstreamSubscribeDone{kShared, up[0].req, true, up[0].qos});
  };
  sub(c1, 1, "a/b", sn::QoS::qos0);
  sub(c1, 2, "a/+", sn::QoS::qos1);
  sub(c1, 3, "#", sn::QoS::qos0);
  sub(c2, 1, "a/#", sn::QoS::qos0);
  sub(c2, 2, "$SYS/x", sn::QoS::qos1);

  // One message from the broker; returns the QoS of each PUBLISH each client got, answering as a
  // client would (REGACK to a REGISTER, PUBACK to QoS 1) until nothing more comes.
  const auto answer = [&](const sn::Peer& peer, std::vector<sn::Message> messages) {
    std::vector<sn::QoS> got;
    while (!messages.empty()) {
      std::vector<sn::Message> next;
      for (const auto& m : messages) {
        if (const auto* reg = std::get_if<sn::Register>(&m)) {
          a.f.feed(peer, sn::RegAck{reg->topic_id, reg->msg_id, sn::ReturnCode::accepted});
        } else if (const auto* p = std::get_if<sn::Publish>(&m)) {
          got.push_back(p->qos);
          if (p->qos != sn::QoS::qos1) continue;
          a.f.feed(peer, sn::PubAck{p->topic_id, p->msg_id, sn::ReturnCode::accepted});
        } else {
          continue;
        }
        auto more = a.f.sent_to(peer);
        next.insert(next.end(), more.begin(), more.end());
      }
      messages = std::move(next);
    }
    return got;
  };
  const auto deliver = [&](const std::string& topic) {
    a.f.event(UpstreamMessage{kShared, topic, bytes("v"), 1, false});
    auto to1 = a.f.sent_to(c1);
    auto to2 = a.f.sent_to(c2);
    return std::pair{answer(c1, std::move(to1)), answer(c2, std::move(to2))};
  };
  using Got = std::pair<std::vector<sn::QoS>, std::vector<sn::QoS>>;
  const std::vector<sn::QoS> none;
  const std::vector<sn::QoS> q0{sn::QoS::qos0};
  const std::vector<sn::QoS> q1{sn::QoS::qos1};
  // a/b: node-1 through a/b (0), a/+ (1) and # (0): one copy at QoS 1; node-2 through a/# (0).
  CHECK(deliver("a/b") == Got{q1, q0});
  CHECK(deliver("a/b") == Got{q1, q0});
  // "a/#" also matches its parent "a" (§4.7.1.2); "a/+" does not, "#" does.
  CHECK(deliver("a") == Got{q0, q0});
  // "#" does not match a '$' topic (§4.7.2); the exact "$SYS/x" does.
  CHECK(deliver("$SYS/x") == Got{none, q1});
  // Unsubscribed, wildcard filters route nothing more; the other filters still do.
  a.f.feed(c1, sn::Unsubscribe{sn::TopicIdType::normal, 9, "a/+", 0});
  a.f.feed(c1, sn::Unsubscribe{sn::TopicIdType::normal, 10, "#", 0});
  CHECK(deliver("a/b") == Got{q0, q0});
  CHECK(deliver("a/c") == Got{none, q0});
  a.f.feed(c2, sn::Unsubscribe{sn::TopicIdType::normal, 9, "a/#", 0});
  CHECK(deliver("a/c") == Got{none, none});
  CHECK(deliver("a/b") == Got{q0, none});
}

TEST_CASE("core aggregating: a lost client's will is published by the gateway with its QoS and retain") {
  Agg a;
  const auto c = udp(5001);
  a.f.feed(c, connect_msg("node-1", 10, true, /*will=*/true));
  a.f.feed(c, sn::WillTopic{sn::QoS::qos1, true, "w/node-1"});
  a.f.feed(c, sn::WillMsg{bytes("gone")});
  const auto& lost = a.f.advance(15s);  // keep-alive 10 s + 50 % (§7.2)
  CHECK(show(lost) == show({UpstreamPublish{kShared, 0, "w/node-1", bytes("gone"), 1, true}}));
  CHECK(a.f.counters().wills_published == 1);
  CHECK(a.f.sessions() == 0);
}

TEST_CASE("core aggregating: DISCONNECT publishes no will - a will update is answered at once") {
  Agg a;
  const auto c = udp(5001);
  a.f.feed(c, connect_msg("node-1", 10, true, /*will=*/true));
  a.f.feed(c, sn::WillTopic{sn::QoS::qos0, false, "w/node-1"});
  a.f.feed(c, sn::WillMsg{bytes("gone")});
  CHECK(show(a.f.feed(c, sn::WillMsgUpd{bytes("really gone")})) ==
        show({to(c, sn::WillMsgResp{sn::ReturnCode::accepted})}));
  CHECK(show(a.f.feed(c, sn::WillTopicUpd{sn::QoS::qos1, false, "w/new"})) ==
        show({to(c, sn::WillTopicResp{sn::ReturnCode::accepted})}));
  // Lost now: the updated will.
  CHECK(show(a.f.advance(15s)) ==
        show({UpstreamPublish{kShared, 0, "w/new", bytes("really gone"), 1, false}}));

  const auto d = udp(5002);
  a.f.feed(d, connect_msg("node-2", 10, true, /*will=*/true));
  a.f.feed(d, sn::WillTopic{sn::QoS::qos0, false, "w/node-2"});
  a.f.feed(d, sn::WillMsg{bytes("x")});
  CHECK(show(a.f.feed(d, sn::Disconnect{})) == show({to(d, sn::Disconnect{})}));
}

TEST_CASE("core aggregating: broker outage - clients stay, requests get congestion, filters restored") {
  CoreConfig config = aggregating();
  config.reconnect_min = 1s;
  config.reconnect_max = 8s;
  CoreFixture f(config);
  f.event(UpstreamConnected{kShared});
  const auto c = udp(5001);
  REQUIRE(show(f.feed(c, connect_msg("node-1", 600))) == show({to(c, kAccepted)}));
  f.feed(c, subscribe_name(1, "cmd/#", sn::QoS::qos1));
  f.event(UpstreamSubscribeDone{kShared, f.req_of<UpstreamSubscribe>(), true, 1});
  const auto ab = sn::short_topic_id('a', 'b');
  f.feed(c, publish_msg(sn::QoS::qos1, sn::TopicIdType::short_name, ab, 9, "in flight"));
  const ReqId in_flight = f.req_of<UpstreamPublish>();

  // The bridge fails what was under way, then reports the loss.
  CHECK(show(f.event(UpstreamPublishDone{kShared, in_flight, false})) ==
        show({to(c, sn::PubAck{ab, 9, sn::ReturnCode::congestion})}));
  CHECK(show(f.event(UpstreamConnectionLost{kShared, "broker gone"})) == show({}));

  // The client stays connected; what needs the broker is refused with congestion.
  CHECK(show(f.feed(c, sn::PingReq{})) == show({to(c, sn::PingResp{})}));
  CHECK(show(f.feed(c, publish_msg(sn::QoS::qos1, sn::TopicIdType::short_name, ab, 10, "x"))) ==
        show({to(c, sn::PubAck{ab, 10, sn::ReturnCode::congestion})}));
  CHECK(show(f.feed(c, publish_msg(sn::QoS::qos0, sn::TopicIdType::short_name, ab, 0, "x"))) ==
        show({}));
  CHECK(show(f.feed(c, subscribe_name(2, "more/#", sn::QoS::qos0))) ==
        show({to(c, sn::SubAck{sn::QoS::qos0, 0, 2, sn::ReturnCode::congestion})}));
  const auto late = udp(5002);
  CHECK(show(f.feed(late, connect_msg("node-2"))) ==
        show({to(late, sn::ConnAck{sn::ReturnCode::congestion})}));

  // Reconnect after at most reconnect_min; on success every filter is subscribed again.
  f.advance(1s);
  REQUIRE(f.upstream<UpstreamConnect>().size() == 1);
  const auto& restored = f.event(UpstreamConnected{kShared});
  const auto subs = f.upstream<UpstreamSubscribe>();
  REQUIRE(subs.size() == 1);
  CHECK(subs[0].filter == "cmd/#");
  CHECK(subs[0].qos == 1);
  CHECK(f.sent_to(c).empty());  // the client is not bothered
  (void)restored;
  f.event(UpstreamSubscribeDone{kShared, subs[0].req, true, 1});
  CHECK(f.counters().upstream_reconnects == 1);
  // Downlink resumes without any client action.
  f.event(UpstreamMessage{kShared, "cmd/x", bytes("back"), 0, false});
  CHECK(types(f.sent_to(c)) == std::vector<sn::MsgType>{sn::MsgType::reg});
}

TEST_CASE("core aggregating: reconnect delays double up to reconnect_max, with jitter") {
  CoreConfig config = aggregating();
  config.reconnect_min = 1s;
  config.reconnect_max = 8s;
  CoreFixture f(config);
  Time last = f.now();
  const std::vector<std::int64_t> ceilings{1000, 2000, 4000, 8000, 8000, 8000};
  for (const auto ceiling : ceilings) {
    CAPTURE(ceiling);
    f.event(UpstreamConnectFailed{kShared, false, "refused"});
    last = f.now();
    // Step in 10 ms until the next attempt.
    Time waited{0};
    while (f.upstream<UpstreamConnect>().empty() && waited < Time(ceiling + 100)) {
      f.advance(10ms);
      waited += 10ms;
    }
    REQUIRE(f.upstream<UpstreamConnect>().size() == 1);
    const auto delay = (f.now() - last).count();
    CHECK(delay >= ceiling / 2);
    CHECK(delay <= ceiling + 10);
  }
}

TEST_CASE("core aggregating: CleanSession=false keeps subscriptions and QoS 1 messages while away") {
  Agg a;
  const auto c = udp(5001);
  a.connect(c, "node-1", /*clean=*/false);
  auto sub = a.subscribe(c, 1, "cmd/led", sn::QoS::qos1);
  a.f.event(UpstreamSubscribeDone{kShared, sub[0].req, true, 1});
  CHECK(show(a.f.feed(c, sn::Disconnect{})) == show({to(c, sn::Disconnect{})}));  // no unsubscribe

  a.f.event(UpstreamMessage{kShared, "cmd/led", bytes("q1"), 1, false});
  a.f.event(UpstreamMessage{kShared, "cmd/led", bytes("q0"), 0, false});  // not kept
  CHECK(a.f.sent_to(c).empty());

  // Back: CONNACK, then the kept message with the topic id of the SUBACK.
  a.f.feed(c, connect_msg("node-1", 60, false));
  const auto back = a.f.sent_to(c);
  REQUIRE(back.size() == 2);
  CHECK(sn::type_of(back[0]) == sn::MsgType::connack);
  CHECK(std::get<sn::Publish>(back[1]).data == bytes("q1"));

  // CleanSession=true forgets it all: the last subscriber leaves the filter.
  a.f.feed(c, connect_msg("node-1", 60, true));
  CHECK(a.f.upstream<UpstreamUnsubscribe>().size() == 1);
}
