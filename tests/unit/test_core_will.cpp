// The gateway core, will updates while connected (§6.4): WILLTOPICUPD / WILLMSGUPD, and the
// replacement of the upstream connection that carries the will in transparent mode (closing the
// old one cleanly, opening one with the new will, restoring subscriptions, holding the frames
// that need the broker meanwhile).

#include <doctest/doctest.h>

#include <string>
#include <string_view>

#include "core_fixture.hpp"

using namespace core_test;  // NOLINT(google-build-using-namespace)

namespace {

Will will_of(std::string topic, std::string_view payload, std::uint8_t qos, bool retain) {
  return Will{std::move(topic), bytes(payload), qos, retain};
}

// CONNECT with the will handshake (topic "w/node-1", payload "bye", QoS 1, retain) + CONNACK.
ConnId connect_with_will(CoreFixture& f, const sn::Peer& c, bool clean = true) {
  f.feed(c, connect_msg("node-1", 60, clean, /*will=*/true));
  f.feed(c, sn::WillTopic{sn::QoS::qos1, true, "w/node-1"});
  f.feed(c, sn::WillMsg{bytes("bye")});
  const ConnId conn = f.connect_conn();
  REQUIRE(show(f.event(UpstreamConnected{conn})) ==
          show({to(c, sn::ConnAck{sn::ReturnCode::accepted})}));
  return conn;
}

// The old connection is let go: returns the new connection asked for, REQUIREd to carry `will`.
ConnId reconnected(CoreFixture& f, ConnId old_conn, const std::optional<Will>& will,
                   bool clean = true) {
  f.event(UpstreamDisconnected{old_conn});
  const ConnId conn = f.connect_conn();
  REQUIRE(show(f.last()) == show({UpstreamConnect{conn, "sn-node-1", 60, clean, will}}));
  return conn;
}

}  // namespace

TEST_CASE("core: §6.4 WILLTOPICUPD - clean disconnect - new connection with the new will - RESP") {
  CoreFixture f;
  const auto c = udp(5001);
  const ConnId old_conn = connect_with_will(f, c);

  // Nothing else happens until the broker has let go of the old connection: a new connection with
  // the same client id would take it over, and the broker could publish the old will.
  CHECK(show(f.feed(c, sn::WillTopicUpd{sn::QoS::qos2, false, "w/new"})) ==
        show({UpstreamDisconnect{old_conn, false}}));
  const ConnId new_conn = reconnected(f, old_conn, will_of("w/new", "bye", 2, false));
  CHECK(show(f.event(UpstreamConnected{new_conn})) ==
        show({to(c, sn::WillTopicResp{sn::ReturnCode::accepted})}));
  // The new connection serves the client.
  CHECK(show(f.feed(c, publish_msg(sn::QoS::qos0, sn::TopicIdType::short_name,
                                   sn::short_topic_id('a', 'b'), 0, "x"))) ==
        show({UpstreamPublish{new_conn, 0, "ab", bytes("x"), 0, false}}));
  // And a lost client now leaves the new will behind.
  const auto lost = f.advance(91s);
  CHECK(show(lost) == show({UpstreamDisconnect{new_conn, true}}));
}

TEST_CASE("core: §6.4 WILLMSGUPD keeps the topic and changes the message") {
  CoreFixture f;
  const auto c = udp(5001);
  const ConnId old_conn = connect_with_will(f, c);
  CHECK(show(f.feed(c, sn::WillMsgUpd{bytes("gone for good")})) ==
        show({UpstreamDisconnect{old_conn, false}}));
  const ConnId new_conn = reconnected(f, old_conn, will_of("w/node-1", "gone for good", 1, true));
  CHECK(show(f.event(UpstreamConnected{new_conn})) ==
        show({to(c, sn::WillMsgResp{sn::ReturnCode::accepted})}));
}

TEST_CASE("core: §6.4 an empty WILLTOPICUPD deletes the will") {
  CoreFixture f;
  const auto c = udp(5001);
  const ConnId old_conn = connect_with_will(f, c);
  CHECK(show(f.feed(c, sn::WillTopicUpd{})) == show({UpstreamDisconnect{old_conn, false}}));
  const ConnId new_conn = reconnected(f, old_conn, std::nullopt);
  CHECK(show(f.event(UpstreamConnected{new_conn})) ==
        show({to(c, sn::WillTopicResp{sn::ReturnCode::accepted})}));
  // Without a will there is nothing a WILLMSGUPD could change.
  CHECK(show(f.feed(c, sn::WillMsgUpd{bytes("x")})) ==
        show({to(c, sn::WillMsgResp{sn::ReturnCode::not_supported})}));
}

TEST_CASE("core: §6.4 WILLTOPICUPD creates a will for a client that connected without one") {
  CoreFixture f;
  const auto c = udp(5001);
  const ConnId old_conn = f.connect(c, "node-1");
  CHECK(show(f.feed(c, sn::WillTopicUpd{sn::QoS::qos0, true, "w/late"})) ==
        show({UpstreamDisconnect{old_conn, false}}));
  const ConnId new_conn = reconnected(f, old_conn, will_of("w/late", "", 0, true));
  f.event(UpstreamConnected{new_conn});
  CHECK(show(f.feed(c, sn::WillMsgUpd{bytes("late bye")})) ==
        show({UpstreamDisconnect{new_conn, false}}));
  reconnected(f, new_conn, will_of("w/late", "late bye", 0, true));
}

TEST_CASE("core: §6.4 an update that changes nothing, or an invalid will topic, needs no reconnect") {
  CoreFixture f;
  const auto c = udp(5001);
  connect_with_will(f, c);
  CHECK(show(f.feed(c, sn::WillTopicUpd{sn::QoS::qos1, true, "w/node-1"})) ==
        show({to(c, sn::WillTopicResp{sn::ReturnCode::accepted})}));
  CHECK(show(f.feed(c, sn::WillMsgUpd{bytes("bye")})) ==
        show({to(c, sn::WillMsgResp{sn::ReturnCode::accepted})}));
  CHECK(show(f.feed(c, sn::WillTopicUpd{sn::QoS::qos1, false, "w/+"})) ==
        show({to(c, sn::WillTopicResp{sn::ReturnCode::not_supported})}));
  // An empty WILLTOPICUPD from a client without a will: already so.
  CoreFixture g;
  g.connect(c, "node-2");
  CHECK(show(g.feed(c, sn::WillTopicUpd{})) ==
        show({to(c, sn::WillTopicResp{sn::ReturnCode::accepted})}));
}

TEST_CASE("core: §6.4 WILLTOPICUPD and WILLMSGUPD back to back: one reconnect, both answered") {
  CoreFixture f;
  const auto c = udp(5001);
  const ConnId old_conn = connect_with_will(f, c);
  f.feed(c, sn::WillTopicUpd{sn::QoS::qos1, false, "w/both"});
  CHECK(show(f.feed(c, sn::WillMsgUpd{bytes("both")})) == show({}));
  const ConnId new_conn = reconnected(f, old_conn, will_of("w/both", "both", 1, false));
  CHECK(show(f.event(UpstreamConnected{new_conn})) ==
        show({to(c, sn::WillTopicResp{sn::ReturnCode::accepted}),
              to(c, sn::WillMsgResp{sn::ReturnCode::accepted})}));
}

TEST_CASE("core: §6.4 a will update while the new connection opens switches once more") {
  CoreFixture f;
  const auto c = udp(5001);
  const ConnId first = connect_with_will(f, c);
  f.feed(c, sn::WillTopicUpd{sn::QoS::qos1, false, "w/one"});
  const ConnId second = reconnected(f, first, will_of("w/one", "bye", 1, false));
  // Asked for with "bye"; this message must not be lost.
  CHECK(show(f.feed(c, sn::WillMsgUpd{bytes("two")})) == show({}));
  CHECK(show(f.event(UpstreamConnected{second})) == show({UpstreamDisconnect{second, false}}));
  const ConnId third = reconnected(f, second, will_of("w/one", "two", 1, false));
  CHECK(show(f.event(UpstreamConnected{third})) ==
        show({to(c, sn::WillTopicResp{sn::ReturnCode::accepted}),
              to(c, sn::WillMsgResp{sn::ReturnCode::accepted})}));
}

TEST_CASE("core: §6.4 a CleanSession=true client gets its subscriptions back on the new connection") {
  CoreFixture f;
  const auto c = udp(5001);
  const ConnId old_conn = connect_with_will(f, c);
  f.feed(c, subscribe_name(1, "cmd/#", sn::QoS::qos1));
  f.event(UpstreamSubscribeDone{old_conn, f.req_of<UpstreamSubscribe>(), true, 1});
  f.feed(c, subscribe_name(2, "cfg/node-1", sn::QoS::qos2));
  f.event(UpstreamSubscribeDone{old_conn, f.req_of<UpstreamSubscribe>(), true, 2});
  f.feed(c, subscribe_name(3, "gone/x", sn::QoS::qos0));
  f.event(UpstreamSubscribeDone{old_conn, f.req_of<UpstreamSubscribe>(), true, 0});
  f.feed(c, sn::Unsubscribe{sn::TopicIdType::normal, 4, "gone/x", 0});
  f.event(UpstreamUnsubscribeDone{old_conn, f.req_of<UpstreamUnsubscribe>(), true});

  f.feed(c, sn::WillMsgUpd{bytes("new")});
  const ConnId new_conn = reconnected(f, old_conn, will_of("w/node-1", "new", 1, true));
  const auto& up = f.event(UpstreamConnected{new_conn});
  const auto subs = f.upstream<UpstreamSubscribe>();
  REQUIRE(subs.size() == 2);
  CHECK(subs[0].conn == new_conn);
  CHECK(subs[0].filter == "cfg/node-1");
  CHECK(subs[0].qos == 2);
  CHECK(subs[1].filter == "cmd/#");
  CHECK(subs[1].qos == 1);
  // The restored SUBACKs are not the client's business.
  CHECK(f.sent_to(c).size() == 1);  // the WILLMSGRESP
  (void)up;
  CHECK(show(f.event(UpstreamSubscribeDone{new_conn, subs[0].req, true, 2})) == show({}));
  // Downlink on the new connection reaches the client.
  const auto& down = f.event(UpstreamMessage{new_conn, "cfg/node-1", bytes("v"), 0, false});
  CHECK(f.sent_to(c).size() == 1);
  (void)down;
}

TEST_CASE("core: §6.4 a CleanSession=false client keeps its subscriptions in the broker's session") {
  CoreFixture f;
  const auto c = udp(5001);
  const ConnId old_conn = connect_with_will(f, c, /*clean=*/false);
  f.feed(c, subscribe_name(1, "cmd/#", sn::QoS::qos1));
  f.event(UpstreamSubscribeDone{old_conn, f.req_of<UpstreamSubscribe>(), true, 1});
  f.feed(c, sn::WillMsgUpd{bytes("new")});
  const ConnId new_conn =
      reconnected(f, old_conn, will_of("w/node-1", "new", 1, true), /*clean=*/false);
  CHECK(show(f.event(UpstreamConnected{new_conn})) ==
        show({to(c, sn::WillMsgResp{sn::ReturnCode::accepted})}));
}

TEST_CASE("core: §6.4 during the reconnect: requests on the old connection are answered, new ones "
          "wait") {
  CoreFixture f;
  const auto c = udp(5001);
  const ConnId old_conn = connect_with_will(f, c);
  const auto ab = sn::short_topic_id('a', 'b');
  f.feed(c, publish_msg(sn::QoS::qos1, sn::TopicIdType::short_name, ab, 11, "before"));
  const ReqId before = f.req_of<UpstreamPublish>();
  f.feed(c, sn::WillMsgUpd{bytes("new")});

  // Paho completes the in-flight message before the disconnect: the client gets its PUBACK.
  CHECK(show(f.event(UpstreamPublishDone{old_conn, before, true})) ==
        show({to(c, sn::PubAck{ab, 11, sn::ReturnCode::accepted})}));
  // What needs the broker waits; what does not is served.
  CHECK(show(f.feed(c, publish_msg(sn::QoS::qos1, sn::TopicIdType::short_name, ab, 12, "during")))
        == show({}));
  CHECK(show(f.feed(c, sn::PingReq{})) == show({to(c, sn::PingResp{})}));
  CHECK(show(f.feed(c, sn::Register{0, 13, "x/y"})).find("REGACK") != std::string::npos);

  const ConnId new_conn = reconnected(f, old_conn, will_of("w/node-1", "new", 1, true));
  f.event(UpstreamConnected{new_conn});
  const auto pubs = f.upstream<UpstreamPublish>();
  REQUIRE(pubs.size() == 1);
  CHECK(pubs[0].conn == new_conn);
  CHECK(pubs[0].payload == bytes("during"));
  CHECK(show(f.event(UpstreamPublishDone{new_conn, pubs[0].req, true})) ==
        show({to(c, sn::PubAck{ab, 12, sn::ReturnCode::accepted})}));
}

TEST_CASE("core: §6.4 a DISCONNECT during the reconnect waits its turn and ends cleanly") {
  CoreFixture f;
  const auto c = udp(5001);
  const ConnId old_conn = connect_with_will(f, c);
  f.feed(c, sn::WillMsgUpd{bytes("new")});
  CHECK(show(f.feed(c, sn::Disconnect{})) == show({}));
  const ConnId new_conn = reconnected(f, old_conn, will_of("w/node-1", "new", 1, true));
  CHECK(show(f.event(UpstreamConnected{new_conn})) ==
        show({to(c, sn::WillMsgResp{sn::ReturnCode::accepted}), to(c, sn::Disconnect{}),
              UpstreamDisconnect{new_conn, false}}));
  CHECK(f.sessions() == 0);
}

TEST_CASE("core: §6.4 the new connection fails -> the client is told to reconnect") {
  CoreFixture f;
  const auto c = udp(5001);
  const ConnId old_conn = connect_with_will(f, c);
  f.feed(c, sn::WillMsgUpd{bytes("new")});
  const ConnId new_conn = reconnected(f, old_conn, will_of("w/node-1", "new", 1, true));
  CHECK(show(f.event(UpstreamConnectFailed{new_conn, false, "broker gone"})) ==
        show({to(c, sn::Disconnect{})}));
  CHECK(f.sessions() == 0);
}

TEST_CASE("core: §6.4 a CONNECT during the reconnect abandons it and starts over") {
  CoreFixture f;
  const auto c = udp(5001);
  const ConnId old_conn = connect_with_will(f, c);
  f.feed(c, sn::WillMsgUpd{bytes("new")});
  f.feed(c, connect_msg("node-1"));
  const ConnId fresh = f.connect_conn();
  CHECK(show(f.last()) == show({UpstreamConnect{fresh, "sn-node-1", 60, true, std::nullopt}}));
  // The old connection's goodbye no longer starts anything.
  CHECK(show(f.event(UpstreamDisconnected{old_conn})) == show({}));
  CHECK(show(f.event(UpstreamConnected{fresh})) ==
        show({to(c, sn::ConnAck{sn::ReturnCode::accepted})}));
}
