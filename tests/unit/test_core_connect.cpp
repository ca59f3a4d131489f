// The gateway core, connection life: CONNECT and the will handshake (§6.2, §6.3), repeated
// CONNECT, admission (max_clients), DISCONNECT and messages without a connection (§6.12),
// SEARCHGW (§6.1), malformed frames, and the forwarder encapsulation (§5.5). Each test feeds
// events and asserts the exact list of actions the core returns.

#include <doctest/doctest.h>

#include <string>
#include <unordered_set>

#include "core_fixture.hpp"

using namespace core_test;  // NOLINT(google-build-using-namespace)

namespace {

const sn::ConnAck kAccepted{sn::ReturnCode::accepted};

Will will_of(std::string topic, std::string_view payload, std::uint8_t qos, bool retain) {
  return Will{std::move(topic), bytes(payload), qos, retain};
}

}  // namespace

// ---- §6.2 CONNECT without will ------------------------------------------------------------------

TEST_CASE(
    "core: §6.2 CONNECT without will goes upstream first - CONNACK only once the broker accepted") {
  CoreFixture f;
  const auto c = udp(5001);

  f.feed(c, connect_msg("node-1", 30, /*clean=*/true));
  const ConnId conn = f.connect_conn();
  CHECK(conn != kQosMinusOneConn);
  // Client id = prefix + MQTT-SN client id, the client's keep-alive and clean flag, no will; and
  // no CONNACK yet: the broker has not said yes.
  CHECK(show(f.last()) == show({UpstreamConnect{conn, "sn-node-1", 30, true, std::nullopt}}));
  CHECK(f.sessions() == 1);

  CHECK(show(f.event(UpstreamConnected{conn})) == show({to(c, kAccepted)}));

  // The session works: PINGREQ is answered (§6.11).
  CHECK(show(f.feed(c, sn::PingReq{})) == show({to(c, sn::PingResp{})}));
}

TEST_CASE("core: §6.3 CONNECT with CleanSession=false carries clean=false upstream") {
  CoreFixture f;
  const auto c = udp(5001);
  f.feed(c, connect_msg("node-1", 45, /*clean=*/false));
  const ConnId conn = f.connect_conn();
  CHECK(show(f.last()) == show({UpstreamConnect{conn, "sn-node-1", 45, false, std::nullopt}}));
  CHECK(show(f.event(UpstreamConnected{conn})) == show({to(c, kAccepted)}));
}

TEST_CASE("core: §6.2 broker refuses the connection -> CONNACK not supported - no session left") {
  CoreFixture f;
  const auto c = udp(5001);
  f.feed(c, connect_msg("node-1"));
  const ConnId conn = f.connect_conn();

  CHECK(show(f.event(UpstreamConnectFailed{conn, /*refused=*/true, "not authorized"})) ==
        show({to(c, sn::ConnAck{sn::ReturnCode::not_supported})}));
  CHECK(f.sessions() == 0);
  // A late "connected" for the failed attempt changes nothing.
  CHECK(show(f.event(UpstreamConnected{conn})) == show({}));
  // The client has no connection: §6.12.
  CHECK(show(f.feed(c, sn::PingReq{})) == show({to(c, sn::Disconnect{})}));
}

TEST_CASE("core: §6.2 broker unavailable -> CONNACK congestion - no session left") {
  CoreFixture f;
  const auto c = udp(5001);
  f.feed(c, connect_msg("node-1"));
  const ConnId conn = f.connect_conn();

  CHECK(show(f.event(UpstreamConnectFailed{conn, /*refused=*/false, "connection refused"})) ==
        show({to(c, sn::ConnAck{sn::ReturnCode::congestion})}));
  CHECK(f.sessions() == 0);
  CHECK(show(f.feed(c, sn::PingReq{})) == show({to(c, sn::Disconnect{})}));

  // The client may simply try again.
  f.feed(c, connect_msg("node-1"));
  const ConnId again = f.connect_conn();
  CHECK(again != conn);
  CHECK(show(f.event(UpstreamConnected{again})) == show({to(c, kAccepted)}));
}

TEST_CASE(
    "core: §6.2 a refused CONNECT with CleanSession=false leaves no session and no slot taken") {
  CoreConfig config = default_config();
  config.max_clients = 1;
  CoreFixture f(config);
  const auto intruder = udp(5001);
  const auto legit = udp(5002);

  // A client id the broker refuses, asking for a persistent session: the connection never
  // existed, so there is nothing to keep.
  f.feed(intruder, connect_msg("not-allowed", 60, /*clean=*/false));
  const ConnId conn = f.connect_conn();
  CHECK(show(f.event(UpstreamConnectFailed{conn, true, "not authorized"})) ==
        show({to(intruder, sn::ConnAck{sn::ReturnCode::not_supported})}));
  CHECK(f.sessions() == 0);

  // Otherwise every refused id would eat one of max_clients for ever.
  f.feed(legit, connect_msg("node-1"));
  CHECK(f.upstream<UpstreamConnect>().size() == 1);
  CHECK(f.sent_to(legit).empty());
}

// ---- §6.2 the will handshake --------------------------------------------------------------------

TEST_CASE("core: §6.2 will handshake: WILLTOPICREQ - WILLMSGREQ - then the will goes upstream") {
  CoreFixture f;
  const auto c = udp(5001);

  CHECK(show(f.feed(c, connect_msg("node-1", 60, true, /*will=*/true))) ==
        show({to(c, sn::WillTopicReq{})}));
  CHECK(show(f.feed(c, sn::WillTopic{sn::QoS::qos1, true, "nodes/node-1/status"})) ==
        show({to(c, sn::WillMsgReq{})}));
  f.feed(c, sn::WillMsg{bytes("offline")});
  const ConnId conn = f.connect_conn();
  CHECK(show(f.last()) ==
        show({UpstreamConnect{conn, "sn-node-1", 60, true,
                              will_of("nodes/node-1/status", "offline", 1, true)}}));
  CHECK(show(f.event(UpstreamConnected{conn})) == show({to(c, kAccepted)}));
}

TEST_CASE("core: §6.2 will handshake: QoS 2 and retain=false reach the upstream will unchanged") {
  CoreFixture f;
  const auto c = udp(5001);
  f.feed(c, connect_msg("node-2", 20, false, true));
  f.feed(c, sn::WillTopic{sn::QoS::qos2, false, "w"});
  f.feed(c, sn::WillMsg{bytes("")});
  const ConnId conn = f.connect_conn();
  CHECK(show(f.last()) ==
        show({UpstreamConnect{conn, "sn-node-2", 20, false, will_of("w", "", 2, false)}}));
}

TEST_CASE("core: §6.3 an empty WILLTOPIC means no will: no WILLMSGREQ - upstream without will") {
  CoreFixture f;
  const auto c = udp(5001);
  f.feed(c, connect_msg("node-1", 60, true, true));
  f.feed(c, sn::WillTopic{});
  const ConnId conn = f.connect_conn();
  CHECK(show(f.last()) == show({UpstreamConnect{conn, "sn-node-1", 60, true, std::nullopt}}));
  CHECK(show(f.event(UpstreamConnected{conn})) == show({to(c, kAccepted)}));
}

TEST_CASE("core: §6.2 a will topic with a wildcard -> CONNACK not supported - nothing upstream") {
  CoreFixture f;
  const auto c = udp(5001);
  f.feed(c, connect_msg("node-1", 60, true, true));
  CHECK(show(f.feed(c, sn::WillTopic{sn::QoS::qos0, false, "nodes/+/status"})) ==
        show({to(c, sn::ConnAck{sn::ReturnCode::not_supported})}));
  CHECK(f.sessions() == 0);
  // The handshake is over: a WILLMSG now has no place.
  CHECK(show(f.feed(c, sn::WillMsg{bytes("x")})) == show({}));
}

TEST_CASE("core: §6.2 a client silent during the will handshake is dropped - nothing upstream") {
  CoreFixture f;
  const auto c = udp(5001);

  SUBCASE("silent after WILLTOPICREQ") { f.feed(c, connect_msg("node-1", 60, true, true)); }
  SUBCASE("silent after WILLMSGREQ") {
    f.feed(c, connect_msg("node-1", 60, true, true));
    f.feed(c, sn::WillTopic{sn::QoS::qos0, false, "nodes/node-1/status"});
  }
  REQUIRE(f.sessions() == 1);
  // Within one T_retry the client may still answer.
  CHECK(show(f.advance(5s)) == show({}));
  CHECK(f.sessions() == 1);
  // Long after every retransmission the client could have made, the half-open session is gone,
  // and the broker never heard of it.
  CHECK(show(f.advance(10min)) == show({}));
  CHECK(f.sessions() == 0);
  CHECK_FALSE(f.core().next_deadline().has_value());
  CHECK(show(f.feed(c, sn::WillMsg{bytes("late")})) == show({}));
}

TEST_CASE("core: §6.13 a WILLTOPIC retransmitted because WILLMSGREQ was lost is answered again") {
  CoreFixture f;
  const auto c = udp(5001);
  f.feed(c, connect_msg("node-1", 60, true, true));
  const sn::WillTopic will_topic{sn::QoS::qos0, false, "nodes/node-1/status"};
  CHECK(show(f.feed(c, will_topic)) == show({to(c, sn::WillMsgReq{})}));
  // The WILLMSGREQ never arrived; after T_retry the client sends its WILLTOPIC again (§6.13).
  f.advance(10s);
  CHECK(show(f.feed(c, will_topic)) == show({to(c, sn::WillMsgReq{})}));
  f.feed(c, sn::WillMsg{bytes("bye")});
  const ConnId conn = f.connect_conn();
  CHECK(show(f.last()) == show({UpstreamConnect{conn, "sn-node-1", 60, true,
                                                will_of("nodes/node-1/status", "bye", 0, false)}}));
}

TEST_CASE("core: §6.2 a CONNECT repeated during the will handshake restarts it") {
  CoreFixture f;
  const auto c = udp(5001);
  f.feed(c, connect_msg("node-1", 60, true, true));
  f.feed(c, sn::WillTopic{sn::QoS::qos0, false, "old/will"});
  CHECK(show(f.feed(c, connect_msg("node-1", 60, true, true))) ==
        show({to(c, sn::WillTopicReq{})}));
  CHECK(show(f.feed(c, sn::WillTopic{sn::QoS::qos1, false, "new/will"})) ==
        show({to(c, sn::WillMsgReq{})}));
  f.feed(c, sn::WillMsg{bytes("bye")});
  const ConnId conn = f.connect_conn();
  CHECK(show(f.last()) ==
        show({UpstreamConnect{conn, "sn-node-1", 60, true, will_of("new/will", "bye", 1, false)}}));
  CHECK(f.sessions() == 1);
}

// ---- §6.3 clean session -------------------------------------------------------------------------

namespace {

// node-1 connects with CleanSession=false and a will, registers "a/b", then disconnects.
struct PersistentClient {
  CoreFixture f;
  sn::Peer c = udp(5001);
  ConnId first_conn = 0;
  std::uint16_t topic_id = 0;
  Will will = will_of("nodes/node-1/status", "offline", 1, false);

  PersistentClient() {
    f.feed(c, connect_msg("node-1", 60, /*clean=*/false, /*will=*/true));
    f.feed(c, sn::WillTopic{sn::QoS::qos1, false, "nodes/node-1/status"});
    f.feed(c, sn::WillMsg{bytes("offline")});
    first_conn = f.connect_conn();
    f.event(UpstreamConnected{first_conn});
    topic_id = f.register_topic(c, "a/b", 1);
    REQUIRE(show(f.feed(c, sn::Disconnect{})) ==
            show({to(c, sn::Disconnect{}), UpstreamDisconnect{first_conn, false}}));
  }
};

}  // namespace

TEST_CASE("core: §6.3 CleanSession=false: after DISCONNECT the will and topic ids are kept") {
  PersistentClient p;
  auto& f = p.f;
  CHECK(f.sessions() == 1);  // kept, disconnected (§6.12)

  // CONNECT(CleanSession=false, Will=false): the stored will still goes upstream.
  f.feed(p.c, connect_msg("node-1", 60, false, false));
  const ConnId conn = f.connect_conn();
  CHECK(conn != p.first_conn);
  CHECK(show(f.last()) == show({UpstreamConnect{conn, "sn-node-1", 60, false, p.will}}));
  CHECK(show(f.event(UpstreamConnected{conn})) == show({to(p.c, kAccepted)}));

  // The topic id registered in the previous connection still resolves.
  CHECK(show(f.feed(p.c,
                    publish_msg(sn::QoS::qos0, sn::TopicIdType::normal, p.topic_id, 0, "21.5"))) ==
        show({UpstreamPublish{conn, 0, "a/b", bytes("21.5"), 0, false}}));
  // And REGISTER of the same name gives the same id.
  CHECK(f.register_topic(p.c, "a/b", 2) == p.topic_id);
}

TEST_CASE("core: §6.3 CleanSession=false with Will=true: the new will overwrites the stored one") {
  PersistentClient p;
  auto& f = p.f;
  CHECK(show(f.feed(p.c, connect_msg("node-1", 60, false, true))) ==
        show({to(p.c, sn::WillTopicReq{})}));
  f.feed(p.c, sn::WillTopic{sn::QoS::qos0, true, "nodes/node-1/gone"});
  f.feed(p.c, sn::WillMsg{bytes("gone")});
  const ConnId conn = f.connect_conn();
  CHECK(show(f.last()) == show({UpstreamConnect{conn, "sn-node-1", 60, false,
                                                will_of("nodes/node-1/gone", "gone", 0, true)}}));
  f.event(UpstreamConnected{conn});
  // Topic ids are part of the stored data (§6.3: "keeps all stored client's data").
  CHECK(
      show(f.feed(p.c, publish_msg(sn::QoS::qos0, sn::TopicIdType::normal, p.topic_id, 0, "x"))) ==
      show({UpstreamPublish{conn, 0, "a/b", bytes("x"), 0, false}}));
}

TEST_CASE("core: §6.3 CleanSession=false with an empty WILLTOPIC deletes only the will") {
  PersistentClient p;
  auto& f = p.f;
  f.feed(p.c, connect_msg("node-1", 60, false, true));
  f.feed(p.c, sn::WillTopic{});
  const ConnId conn = f.connect_conn();
  CHECK(show(f.last()) == show({UpstreamConnect{conn, "sn-node-1", 60, false, std::nullopt}}));
  f.event(UpstreamConnected{conn});
  CHECK(
      show(f.feed(p.c, publish_msg(sn::QoS::qos0, sn::TopicIdType::normal, p.topic_id, 0, "x"))) ==
      show({UpstreamPublish{conn, 0, "a/b", bytes("x"), 0, false}}));
}

TEST_CASE("core: §6.3 CleanSession=true forgets the stored will and topic ids") {
  PersistentClient p;
  auto& f = p.f;
  f.feed(p.c, connect_msg("node-1", 60, /*clean=*/true, /*will=*/false));
  const ConnId conn = f.connect_conn();
  CHECK(show(f.last()) == show({UpstreamConnect{conn, "sn-node-1", 60, true, std::nullopt}}));
  f.event(UpstreamConnected{conn});
  CHECK(
      show(f.feed(p.c, publish_msg(sn::QoS::qos1, sn::TopicIdType::normal, p.topic_id, 3, "x"))) ==
      show({to(p.c, sn::PubAck{p.topic_id, 3, sn::ReturnCode::invalid_topic_id})}));
}

TEST_CASE("core: §6.3 an abandoned will handshake does not erase a stored persistent session") {
  PersistentClient p;
  auto& f = p.f;
  // CleanSession=false, Will=true: "the GW keeps all stored client's data" -- then the client
  // goes quiet before sending its WILLTOPIC.
  f.feed(p.c, connect_msg("node-1", 60, false, true));
  f.advance(10min);
  CHECK(f.sessions() == 1);

  // Coming back without a will: the stored data (old will, topic ids) is still there.
  f.feed(p.c, connect_msg("node-1", 60, false, false));
  const ConnId conn = f.connect_conn();
  CHECK(show(f.last()) == show({UpstreamConnect{conn, "sn-node-1", 60, false, p.will}}));
  f.event(UpstreamConnected{conn});
  CHECK(
      show(f.feed(p.c, publish_msg(sn::QoS::qos0, sn::TopicIdType::normal, p.topic_id, 0, "x"))) ==
      show({UpstreamPublish{conn, 0, "a/b", bytes("x"), 0, false}}));
}

// ---- repeated CONNECT ---------------------------------------------------------------------------

TEST_CASE(
    "core: §6.2 repeated CONNECT: old upstream connection ends without will - a new one starts") {
  CoreFixture f;
  const auto c = udp(5001);
  const ConnId old_conn = f.connect(c, "node-1");

  f.advance(10s);  // past T_retry: not a copy of the first CONNECT (§6.13)
  f.feed(c, connect_msg("node-1", 60, true));
  const ConnId new_conn = f.connect_conn();
  CHECK(new_conn != old_conn);
  CHECK(new_conn != kQosMinusOneConn);
  CHECK(show(f.last()) == show({UpstreamDisconnect{old_conn, false},
                                UpstreamConnect{new_conn, "sn-node-1", 60, true, std::nullopt}}));

  // Late events of the old connection are ignored.
  CHECK(show(f.event(UpstreamConnected{old_conn})) == show({}));
  CHECK(show(f.event(UpstreamMessage{old_conn, kPredefinedName, bytes("1"), 0, false})) ==
        show({}));
  CHECK(show(f.event(UpstreamConnectionLost{old_conn, "closed"})) == show({}));
  CHECK(show(f.event(UpstreamConnectFailed{old_conn, true, "late"})) == show({}));
  CHECK(show(f.event(UpstreamDisconnected{old_conn})) == show({}));
  CHECK(f.sessions() == 1);

  // The new connection carries on.
  CHECK(show(f.event(UpstreamConnected{new_conn})) == show({to(c, kAccepted)}));
  CHECK(show(f.feed(
            c, publish_msg(sn::QoS::qos0, sn::TopicIdType::predefined, kPredefinedId, 0, "20"))) ==
        show({UpstreamPublish{new_conn, 0, kPredefinedName, bytes("20"), 0, false}}));
}

TEST_CASE(
    "core: §6.3 repeated clean CONNECT: a late PUBLISH completion of the old connection is "
    "ignored") {
  CoreFixture f;
  const auto c = udp(5001);
  const ConnId old_conn = f.connect(c, "node-1");

  // QoS 1 PUBLISH msg id 5 goes out on the old connection; the broker has not confirmed it.
  f.feed(c, publish_msg(sn::QoS::qos1, sn::TopicIdType::predefined, kPredefinedId, 5, "old"));
  const ReqId old_req = f.req_of<UpstreamPublish>();

  // The client restarts (clean session) and, numbering from scratch, sends a new msg id 5.
  f.advance(10s);
  const ConnId new_conn = f.connect(c, "node-1");
  f.feed(c, publish_msg(sn::QoS::qos1, sn::TopicIdType::predefined, kPredefinedId, 5, "new"));
  const ReqId new_req = f.req_of<UpstreamPublish>();
  CHECK(show(f.last()) ==
        show({UpstreamPublish{new_conn, new_req, kPredefinedName, bytes("new"), 1, false}}));

  // The old connection's completion must not acknowledge the new message: the broker does not
  // have it yet (DESIGN: PUBACK only after the broker acknowledged the message).
  CHECK(show(f.event(UpstreamPublishDone{old_conn, old_req, true})) == show({}));
  CHECK(show(f.event(UpstreamPublishDone{new_conn, new_req, true})) ==
        show({to(c, sn::PubAck{kPredefinedId, 5, sn::ReturnCode::accepted})}));
}

TEST_CASE(
    "core: §6.3 repeated clean CONNECT: a late SUBSCRIBE completion of the old connection is "
    "ignored") {
  CoreFixture f;
  const auto c = udp(5001);
  const ConnId old_conn = f.connect(c, "node-1");
  f.feed(c, subscribe_name(7, "a/+"));
  const ReqId old_req = f.req_of<UpstreamSubscribe>();

  // Clean restart: the old subscription died with the old connection; no SUBACK may claim it.
  f.advance(10s);
  f.connect(c, "node-1");
  CHECK(show(f.event(UpstreamSubscribeDone{old_conn, old_req, true, 1})) == show({}));
}

TEST_CASE("core: §7.1 no MQTT-SN client gets the upstream client id of the QoS -1 connection") {
  CoreFixture f;
  REQUIRE(f.started().size() == 1);
  const auto* shared = std::get_if<UpstreamConnect>(&f.started().front());
  REQUIRE(shared != nullptr);
  const std::string& prefix = f.config().client_id_prefix;
  REQUIRE(shared->client_id.rfind(prefix, 0) == 0);
  // An MQTT-SN client id (1..23 characters, §5.3.1) that spells the shared connection's id:
  // the broker would take the session over and kick the QoS -1 connection, back and forth.
  const std::string sn_id = shared->client_id.substr(prefix.size());
  REQUIRE(sn_id.size() <= 23);
  const auto c = udp(5001);
  f.feed(c, connect_msg(sn_id));
  for (const auto& connect : f.upstream<UpstreamConnect>()) {
    CHECK(connect.client_id != shared->client_id);
  }
}

TEST_CASE("core: CONNECT from a new address moves the client there") {
  CoreFixture f;
  const auto old_addr = udp(5001);
  const auto new_addr = udp(5002);
  const ConnId old_conn = f.connect(old_addr, "node-1");
  f.feed(new_addr, connect_msg("node-1"));
  const ConnId new_conn = f.connect_conn();
  CHECK(show(f.last()) == show({UpstreamDisconnect{old_conn, false},
                                UpstreamConnect{new_conn, "sn-node-1", 60, true, std::nullopt}}));
  CHECK(show(f.event(UpstreamConnected{new_conn})) == show({to(new_addr, kAccepted)}));
  CHECK(f.sessions() == 1);
  CHECK(show(f.feed(old_addr, sn::PingReq{})) == show({to(old_addr, sn::Disconnect{})}));
  CHECK(show(f.feed(new_addr, sn::PingReq{})) == show({to(new_addr, sn::PingResp{})}));
}

// ---- admission --------------------------------------------------------------------------------

TEST_CASE("core: max_clients reached -> CONNACK congestion - existing clients unaffected") {
  CoreConfig config = default_config();
  config.max_clients = 2;
  CoreFixture f(config);
  const auto c1 = udp(5001);
  const auto c2 = udp(5002);
  const auto c3 = udp(5003);
  const ConnId conn1 = f.connect(c1, "node-1");
  const ConnId conn2 = f.connect(c2, "node-2");

  CHECK(show(f.feed(c3, connect_msg("node-3"))) ==
        show({to(c3, sn::ConnAck{sn::ReturnCode::congestion})}));
  CHECK(f.sessions() == 2);

  CHECK(show(f.feed(c1, sn::PingReq{})) == show({to(c1, sn::PingResp{})}));
  CHECK(show(f.feed(c2, publish_msg(sn::QoS::qos0, sn::TopicIdType::short_name,
                                    sn::short_topic_id('a', 'b'), 0, "hi"))) ==
        show({UpstreamPublish{conn2, 0, "ab", bytes("hi"), 0, false}}));

  // A place frees up when a client leaves.
  CHECK(show(f.feed(c1, sn::Disconnect{})) ==
        show({to(c1, sn::Disconnect{}), UpstreamDisconnect{conn1, false}}));
  f.connect(c3, "node-3");
  CHECK(f.sessions() == 2);
}

// ---- §6.12 DISCONNECT and frames without a connection
// ---------------------------------------------

TEST_CASE("core: §6.12 DISCONNECT -> DISCONNECT back and a clean upstream disconnect (no will)") {
  CoreFixture f;
  const auto c = udp(5001);
  const ConnId conn = f.connect(c, "node-1", 10);
  CHECK(show(f.feed(c, sn::Disconnect{})) ==
        show({to(c, sn::Disconnect{}), UpstreamDisconnect{conn, false}}));
  CHECK(f.sessions() == 0);
  // The client must CONNECT again before anything else (§6.12).
  CHECK(show(f.feed(c, sn::PingReq{})) == show({to(c, sn::Disconnect{})}));
  // Its keep-alive is no longer supervised.
  CHECK(show(f.advance(1h)) == show({}));
}

TEST_CASE(
    "core: §6.12 PUBLISH - REGISTER - PINGREQ - SUBSCRIBE from an unknown address -> DISCONNECT") {
  CoreFixture f;
  f.qos_minus_one_up();
  const auto stranger = udp(6001);
  CHECK(show(f.feed(stranger, publish_msg(sn::QoS::qos1, sn::TopicIdType::predefined, kPredefinedId,
                                          1, "x"))) == show({to(stranger, sn::Disconnect{})}));
  CHECK(show(f.feed(stranger, publish_msg(sn::QoS::qos0, sn::TopicIdType::predefined, kPredefinedId,
                                          0, "x"))) == show({to(stranger, sn::Disconnect{})}));
  CHECK(show(f.feed(stranger, sn::Register{0, 2, "a/b"})) ==
        show({to(stranger, sn::Disconnect{})}));
  CHECK(show(f.feed(stranger, sn::PingReq{})) == show({to(stranger, sn::Disconnect{})}));
  CHECK(show(f.feed(stranger, subscribe_name(3, "a/#"))) == show({to(stranger, sn::Disconnect{})}));
  CHECK(show(f.feed(stranger, sn::Unsubscribe{sn::TopicIdType::normal, 4, "a/#", 0})) ==
        show({to(stranger, sn::Disconnect{})}));
  CHECK(f.counters().no_session == 6);
  CHECK(f.sessions() == 0);
}

TEST_CASE(
    "core: §6.12 messages from a client that sent DISCONNECT (persistent session) -> DISCONNECT") {
  CoreFixture f;
  const auto c = udp(5001);
  const ConnId conn = f.connect(c, "node-1", 60, /*clean=*/false);
  CHECK(show(f.feed(c, sn::Disconnect{})) ==
        show({to(c, sn::Disconnect{}), UpstreamDisconnect{conn, false}}));
  CHECK(f.sessions() == 1);
  CHECK(show(f.feed(c, publish_msg(sn::QoS::qos1, sn::TopicIdType::predefined, kPredefinedId, 1,
                                   "x"))) == show({to(c, sn::Disconnect{})}));
  CHECK(show(f.feed(c, sn::PingReq{})) == show({to(c, sn::Disconnect{})}));
}

TEST_CASE("core: upstream connection lost before CONNACK -> CONNACK congestion") {
  CoreFixture f;
  const auto c = udp(5001);
  f.feed(c, connect_msg("node-1"));
  const ConnId conn = f.connect_conn();
  CHECK(show(f.event(UpstreamConnectionLost{conn, "reset"})) ==
        show({to(c, sn::ConnAck{sn::ReturnCode::congestion})}));
  CHECK(f.sessions() == 0);
}

// ---- §6.1 SEARCHGW ----------------------------------------------------------------------------

TEST_CASE("core: §6.1 SEARCHGW -> GWINFO with the gateway id") {
  CoreFixture f;
  const auto c = udp(5001);
  CHECK(show(f.feed(c, sn::SearchGw{1})) == show({to(c, sn::GwInfo{7, {}})}));
  CHECK(f.sessions() == 0);
  f.connect(c, "node-1");
  CHECK(show(f.feed(c, sn::SearchGw{0})) == show({to(c, sn::GwInfo{7, {}})}));
}

// ---- malformed frames -------------------------------------------------------------------------

TEST_CASE("core: malformed frames are dropped and counted - other clients keep working") {
  CoreFixture f;
  const auto c1 = udp(5001);
  const auto c2 = udp(5002);
  const ConnId conn1 = f.connect(c1, "node-1");
  const ConnId conn2 = f.connect(c2, "node-2");
  const auto malformed_before = f.counters().malformed;

  // Length 0x00.
  CHECK(show(f.feed_bytes(c1, {0x00})) == show({}));
  // A PUBLISH whose Length promises more than arrived.
  sn::Bytes truncated = sn::encode(sn::Message{
      publish_msg(sn::QoS::qos1, sn::TopicIdType::predefined, kPredefinedId, 1, "hello")});
  truncated.resize(truncated.size() - 3);
  CHECK(show(f.feed_bytes(c1, truncated)) == show({}));
  // A PUBLISH too short for its header (Length and size agree).
  CHECK(show(f.feed_bytes(c2, {0x05, 0x0C, 0x00, 0x00, 0x01})) == show({}));
  // Empty datagram, reserved message type, from a stranger.
  CHECK(show(f.feed_bytes(udp(6001), {})) == show({}));
  CHECK(show(f.feed_bytes(udp(6001), {0x02, 0x03})) == show({}));
  CHECK(f.counters().malformed == malformed_before + 5);
  CHECK(f.sessions() == 2);

  CHECK(show(f.feed(
            c1, publish_msg(sn::QoS::qos0, sn::TopicIdType::predefined, kPredefinedId, 0, "ok"))) ==
        show({UpstreamPublish{conn1, 0, kPredefinedName, bytes("ok"), 0, false}}));
  CHECK(show(f.feed(
            c2, publish_msg(sn::QoS::qos0, sn::TopicIdType::predefined, kPredefinedId, 0, "ok"))) ==
        show({UpstreamPublish{conn2, 0, kPredefinedName, bytes("ok"), 0, false}}));
}

// ---- §5.5 forwarder encapsulation -------------------------------------------------------------

TEST_CASE(
    "core: §5.5 a client behind a forwarder gets its replies encapsulated - to the forwarder") {
  CoreFixture f;
  const auto fwd = udp(7000);
  const sn::Bytes node{0x01, 0x02};

  f.feed_forwarded(fwd, node, connect_msg("node-a"));
  const ConnId conn = f.connect_conn();
  CHECK(show(f.last()) == show({UpstreamConnect{conn, "sn-node-a", 60, true, std::nullopt}}));
  CHECK(show(f.event(UpstreamConnected{conn})) == show({to_node(fwd, node, kAccepted)}));

  CHECK(show(f.feed_forwarded(fwd, node, sn::PingReq{})) ==
        show({to_node(fwd, node, sn::PingResp{})}));
  f.feed_forwarded(fwd, node, sn::Register{0, 9, "a/b"});
  const auto answer = f.sent_to(fwd);
  REQUIRE(answer.size() == 1);
  REQUIRE(std::holds_alternative<sn::RegAck>(answer.front()));
  const std::uint16_t topic_id = std::get<sn::RegAck>(answer.front()).topic_id;
  CHECK(show(f.last()) ==
        show({to_node(fwd, node, sn::RegAck{topic_id, 9, sn::ReturnCode::accepted})}));
  CHECK(show(f.feed_forwarded(fwd, node, sn::SearchGw{0})) ==
        show({to_node(fwd, node, sn::GwInfo{7, {}})}));

  // The forwarder itself, unwrapped, is nobody's session (§6.12).
  CHECK(show(f.feed(fwd, sn::PingReq{})) == show({to(fwd, sn::Disconnect{})}));
  // Downlink reaches the node through the forwarder too.
  CHECK(show(f.event(UpstreamMessage{conn, kPredefinedName, bytes("5"), 0, false})) ==
        show({to_node(
            fwd, node,
            publish_msg(sn::QoS::qos0, sn::TopicIdType::predefined, kPredefinedId, 0, "5"))}));
}

TEST_CASE("core: §5.5 two node ids behind one forwarder are two sessions") {
  CoreFixture f;
  const auto fwd = udp(7000);
  const sn::Bytes node_a{0x01, 0x02};
  const sn::Bytes node_b{0x03, 0x04};

  f.feed_forwarded(fwd, node_a, connect_msg("node-a"));
  const ConnId conn_a = f.connect_conn();
  f.feed_forwarded(fwd, node_b, connect_msg("node-b"));
  const ConnId conn_b = f.connect_conn();
  CHECK(show(f.last()) == show({UpstreamConnect{conn_b, "sn-node-b", 60, true, std::nullopt}}));
  CHECK(conn_a != conn_b);
  CHECK(f.sessions() == 2);
  CHECK(show(f.event(UpstreamConnected{conn_b})) == show({to_node(fwd, node_b, kAccepted)}));
  CHECK(show(f.event(UpstreamConnected{conn_a})) == show({to_node(fwd, node_a, kAccepted)}));

  CHECK(show(f.feed_forwarded(fwd, node_a,
                              publish_msg(sn::QoS::qos0, sn::TopicIdType::short_name,
                                          sn::short_topic_id('x', 'y'), 0, "a"))) ==
        show({UpstreamPublish{conn_a, 0, "xy", bytes("a"), 0, false}}));
  CHECK(show(f.feed_forwarded(fwd, node_b,
                              publish_msg(sn::QoS::qos0, sn::TopicIdType::short_name,
                                          sn::short_topic_id('x', 'y'), 0, "b"))) ==
        show({UpstreamPublish{conn_b, 0, "xy", bytes("b"), 0, false}}));

  // node-a leaves; node-b stays.
  CHECK(show(f.feed_forwarded(fwd, node_a, sn::Disconnect{})) ==
        show({to_node(fwd, node_a, sn::Disconnect{}), UpstreamDisconnect{conn_a, false}}));
  CHECK(show(f.feed_forwarded(fwd, node_b, sn::PingReq{})) ==
        show({to_node(fwd, node_b, sn::PingResp{})}));
  CHECK(f.sessions() == 1);
}

// ---- auth.allowed_clients -----------------------------------------------------------------------

TEST_CASE("core: allowed_clients: an unlisted client id -> CONNACK not supported - nothing upstream") {
  CoreConfig config = default_config();
  config.allowed_clients = std::unordered_set<std::string>{"node-1"};
  CoreFixture f(config);
  const auto stranger = udp(5002);
  CHECK(show(f.feed(stranger, connect_msg("intruder"))) ==
        show({to(stranger, sn::ConnAck{sn::ReturnCode::not_supported})}));
  CHECK(f.sessions() == 0);
  // With a will, the handshake does not even start.
  auto with_will = connect_msg("intruder");
  with_will.will = true;
  CHECK(show(f.feed(stranger, with_will)) ==
        show({to(stranger, sn::ConnAck{sn::ReturnCode::not_supported})}));
  // Listed ids connect as usual.
  f.connect(udp(5001), "node-1");
  CHECK(f.sessions() == 1);
}

TEST_CASE("core: allowed_clients: a refused CONNECT does not disturb the client at that address") {
  CoreConfig config = default_config();
  config.allowed_clients = std::unordered_set<std::string>{"node-1"};
  CoreFixture f(config);
  const auto c = udp(5001);
  f.connect(c, "node-1");
  // Someone spoofing the address with an unlisted id: refused, node-1's session untouched.
  CHECK(show(f.feed(c, connect_msg("intruder"))) ==
        show({to(c, sn::ConnAck{sn::ReturnCode::not_supported})}));
  CHECK(show(f.feed(c, sn::PingReq{})) == show({to(c, sn::PingResp{})}));
}

TEST_CASE("core: allowed_clients: an empty list admits no one") {
  CoreConfig config = default_config();
  config.allowed_clients = std::unordered_set<std::string>{};
  CoreFixture f(config);
  const auto c = udp(5001);
  CHECK(show(f.feed(c, connect_msg("node-1"))) ==
        show({to(c, sn::ConnAck{sn::ReturnCode::not_supported})}));
  CHECK(f.sessions() == 0);
}
