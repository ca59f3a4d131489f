// The gateway core, what the broker sends a client: the gateway's publish procedure (§6.10),
// one QoS 1/2 exchange in flight at a time (§6.6), retransmission with T_retry / N_retry (§6.13
// applied to the gateway), REGISTER before unknown topics, and frames too large for the link.
// Each test feeds events and asserts the exact list of actions the core returns.

#include <doctest/doctest.h>

#include "core_fixture.hpp"

using namespace core_test;  // NOLINT(google-build-using-namespace)

namespace {

UpstreamMessage message(ConnId conn, std::string topic, std::string_view payload,
                        std::uint8_t qos = 0, bool retain = false) {
  return UpstreamMessage{conn, std::move(topic), bytes(payload), qos, retain};
}

sn::Publish down(sn::QoS qos, sn::TopicIdType type, std::uint16_t topic_id, std::uint16_t msg_id,
                 std::string_view data, bool retain = false, bool dup = false) {
  return publish_msg(qos, type, topic_id, msg_id, data, retain, dup);
}

// SUBSCRIBE + the broker's yes; returns the topic id of the SUBACK.
std::uint16_t subscribe(CoreFixture& f, const sn::Peer& c, ConnId conn, const std::string& filter,
                        std::uint16_t msg_id = 100) {
  f.feed(c, subscribe_name(msg_id, filter, sn::QoS::qos2));
  f.event(UpstreamSubscribeDone{conn, f.req_of<UpstreamSubscribe>(), true, 2});
  const auto answer = f.sent_to(c);
  REQUIRE(answer.size() == 1);
  REQUIRE(std::holds_alternative<sn::SubAck>(answer.front()));
  REQUIRE(std::get<sn::SubAck>(answer.front()).return_code == sn::ReturnCode::accepted);
  return std::get<sn::SubAck>(answer.front()).topic_id;
}

// The only frame of the last call, which must be a T to `c`.
template <typename T>
T only(const CoreFixture& f, const sn::Peer& c) {
  const auto sent = f.sent_to(c);
  REQUIRE_MESSAGE(sent.size() == 1, show(f.last()));
  REQUIRE_MESSAGE(std::holds_alternative<T>(sent.front()), show(f.last()));
  REQUIRE(f.last().size() == 1);
  return std::get<T>(sent.front());
}

}  // namespace

// ---- REGISTER before the first PUBLISH ---------------------------------------------------------

TEST_CASE(
    "core: §6.10 a topic the client has no id for is registered first - PUBLISH after REGACK") {
  CoreFixture f;
  const auto c = udp(5001);
  const ConnId conn = f.connect(c, "node-1");
  CHECK(subscribe(f, c, conn, "room/+/temp") == 0x0000);

  f.event(message(conn, "room/1/temp", "20"));
  const auto reg = only<sn::Register>(f, c);
  CHECK(reg.topic_id != 0x0000);
  CHECK(reg.topic_id != 0xFFFF);
  CHECK(reg.msg_id != 0x0000);
  CHECK(reg.topic_name == "room/1/temp");

  // The gateway waits for the REGACK before it publishes (§6.10).
  CHECK(show(f.event(message(conn, "room/1/temp", "21"))) == show({}));
  CHECK(show(f.feed(c, sn::RegAck{reg.topic_id, reg.msg_id, sn::ReturnCode::accepted})) ==
        show({to(c, down(sn::QoS::qos0, sn::TopicIdType::normal, reg.topic_id, 0, "20")),
              to(c, down(sn::QoS::qos0, sn::TopicIdType::normal, reg.topic_id, 0, "21"))}));

  // The client knows the id now: no second REGISTER.
  CHECK(show(f.event(message(conn, "room/1/temp", "22", 0, true))) ==
        show({to(c, down(sn::QoS::qos0, sn::TopicIdType::normal, reg.topic_id, 0, "22", true))}));

  // Another topic matching the wildcard gets its own id.
  f.event(message(conn, "room/2/temp", "18"));
  const auto reg2 = only<sn::Register>(f, c);
  CHECK(reg2.topic_id != reg.topic_id);
  CHECK(reg2.topic_id != 0x0000);
  CHECK(reg2.topic_id != 0xFFFF);
  CHECK(reg2.msg_id != reg.msg_id);
  CHECK(reg2.topic_name == "room/2/temp");
}

TEST_CASE("core: §6.10 a topic subscribed by name uses the SUBACK topic id - no REGISTER") {
  CoreFixture f;
  const auto c = udp(5001);
  const ConnId conn = f.connect(c, "node-1");
  const std::uint16_t id = subscribe(f, c, conn, "a/b");
  CHECK(show(f.event(message(conn, "a/b", "x"))) ==
        show({to(c, down(sn::QoS::qos0, sn::TopicIdType::normal, id, 0, "x"))}));
}

TEST_CASE("core: §6.10 a topic the client registered itself needs no REGISTER") {
  CoreFixture f;
  const auto c = udp(5001);
  const ConnId conn = f.connect(c, "node-1");
  const std::uint16_t id = f.register_topic(c, "cmd/node-1", 1);
  CHECK(show(f.event(message(conn, "cmd/node-1", "reboot"))) ==
        show({to(c, down(sn::QoS::qos0, sn::TopicIdType::normal, id, 0, "reboot"))}));
}

TEST_CASE("core: §6.7 downlink on a predefined topic -> PUBLISH with the predefined id") {
  CoreFixture f;
  const auto c = udp(5001);
  const ConnId conn = f.connect(c, "node-1");
  CHECK(show(f.event(message(conn, kPredefinedName, "23", 0, true))) ==
        show({to(c,
                 down(sn::QoS::qos0, sn::TopicIdType::predefined, kPredefinedId, 0, "23", true))}));
}

TEST_CASE("core: §6.7 downlink on a two-character topic -> PUBLISH with the short topic name") {
  CoreFixture f;
  const auto c = udp(5001);
  const ConnId conn = f.connect(c, "node-1");
  CHECK(show(f.event(message(conn, "ab", "on"))) ==
        show({to(c, down(sn::QoS::qos0, sn::TopicIdType::short_name, sn::short_topic_id('a', 'b'),
                         0, "on"))}));
}

TEST_CASE("core: §6.10 messages that arrive before CONNACK go out right after it") {
  CoreFixture f;
  const auto c = udp(5001);
  f.feed(c, connect_msg("node-1"));
  const ConnId conn = f.connect_conn();
  CHECK(show(f.event(message(conn, kPredefinedName, "early"))) == show({}));
  CHECK(show(f.event(UpstreamConnected{conn})) ==
        show({to(c, sn::ConnAck{sn::ReturnCode::accepted}),
              to(c, down(sn::QoS::qos0, sn::TopicIdType::predefined, kPredefinedId, 0, "early"))}));
}

TEST_CASE("core: downlink for an unknown connection is dropped and counted") {
  CoreFixture f;
  const auto before = f.counters().downlink_dropped;
  CHECK(show(f.event(message(kQosMinusOneConn, kPredefinedName, "x"))) == show({}));
  CHECK(show(f.event(message(4242, kPredefinedName, "x"))) == show({}));
  CHECK(f.counters().downlink_dropped == before + 2);
}

// ---- §6.6 QoS 1: one in flight, retransmission -------------------------------------------------

TEST_CASE("core: §6.6 downlink QoS 1: one message in flight - the next waits for PUBACK") {
  CoreFixture f;
  const auto c = udp(5001);
  const ConnId conn = f.connect(c, "node-1");
  const std::uint16_t id = subscribe(f, c, conn, "a/b");

  f.event(message(conn, "a/b", "1", 1));
  const auto first = only<sn::Publish>(f, c);
  CHECK(first.msg_id != 0);
  CHECK(show(f.last()) ==
        show({to(c, down(sn::QoS::qos1, sn::TopicIdType::normal, id, first.msg_id, "1"))}));
  CHECK(show(f.event(message(conn, "a/b", "2", 1))) == show({}));
  CHECK(show(f.event(message(conn, "a/b", "3", 0))) == show({}));  // order is kept

  // A PUBACK for another msg id is not ours.
  CHECK(show(f.feed(c, sn::PubAck{id, static_cast<std::uint16_t>(first.msg_id + 100),
                                  sn::ReturnCode::accepted})) == show({}));

  f.feed(c, sn::PubAck{id, first.msg_id, sn::ReturnCode::accepted});
  const auto second = only<sn::Publish>(f, c);
  CHECK(second.msg_id != 0);
  CHECK(second.msg_id != first.msg_id);
  CHECK(show(f.last()) ==
        show({to(c, down(sn::QoS::qos1, sn::TopicIdType::normal, id, second.msg_id, "2"))}));

  CHECK(show(f.feed(c, sn::PubAck{id, second.msg_id, sn::ReturnCode::accepted})) ==
        show({to(c, down(sn::QoS::qos0, sn::TopicIdType::normal, id, 0, "3"))}));
  // Nothing left to retransmit.
  CHECK(show(f.advance(1min)) == show({}));
}

TEST_CASE(
    "core: §6.13 downlink QoS 1 unanswered: DUP retransmissions every T_retry - N_retry times - "
    "then the client is lost") {
  CoreFixture f;
  const auto c = udp(5001);
  const ConnId conn = f.connect(c, "node-1", /*keep_alive_s=*/600);
  const std::uint16_t id = subscribe(f, c, conn, "a/b");

  f.event(message(conn, "a/b", "v", 1));
  const auto sent = only<sn::Publish>(f, c);
  const auto again = down(sn::QoS::qos1, sn::TopicIdType::normal, id, sent.msg_id, "v", false,
                          /*dup=*/true);

  CHECK(show(f.advance(9999ms)) == show({}));
  CHECK(show(f.advance(1ms)) == show({to(c, again)}));
  CHECK(show(f.advance(10s)) == show({to(c, again)}));
  CHECK(show(f.advance(10s)) == show({to(c, again)}));
  // N_retry = 3 retransmissions without answer: the client is lost, the broker publishes its will.
  CHECK(show(f.advance(10s)) == show({UpstreamDisconnect{conn, true}}));
  CHECK(f.counters().clients_lost == 1);
  CHECK(f.sessions() == 0);
  CHECK(show(f.advance(1h)) == show({}));
}

TEST_CASE("core: §6.13 a PUBACK after a retransmission ends the exchange") {
  CoreFixture f;
  const auto c = udp(5001);
  const ConnId conn = f.connect(c, "node-1", 600);
  const std::uint16_t id = subscribe(f, c, conn, "a/b");
  f.event(message(conn, "a/b", "v", 1));
  const auto sent = only<sn::Publish>(f, c);
  f.advance(10s);
  f.advance(10s);
  CHECK(show(f.feed(c, sn::PubAck{id, sent.msg_id, sn::ReturnCode::accepted})) == show({}));
  CHECK(show(f.advance(10min)) == show({}));
  CHECK(f.sessions() == 1);
}

TEST_CASE("core: §6.13 an unanswered REGISTER is retransmitted - then the client is lost") {
  CoreFixture f;
  const auto c = udp(5001);
  const ConnId conn = f.connect(c, "node-1", 600);
  subscribe(f, c, conn, "room/#");
  f.event(message(conn, "room/1", "v", 1));
  const auto reg = only<sn::Register>(f, c);
  CHECK(show(f.advance(10s)) == show({to(c, reg)}));
  CHECK(show(f.advance(10s)) == show({to(c, reg)}));
  CHECK(show(f.advance(10s)) == show({to(c, reg)}));
  CHECK(show(f.advance(10s)) == show({UpstreamDisconnect{conn, true}}));
}

TEST_CASE("core: §6.6 PUBACK congestion from the client: the message goes again after T_retry") {
  CoreFixture f;
  const auto c = udp(5001);
  const ConnId conn = f.connect(c, "node-1", 600);
  const std::uint16_t id = subscribe(f, c, conn, "a/b");
  f.event(message(conn, "a/b", "v", 1));
  const auto sent = only<sn::Publish>(f, c);
  CHECK(show(f.feed(c, sn::PubAck{id, sent.msg_id, sn::ReturnCode::congestion})) == show({}));
  CHECK(show(f.advance(10s)) == show({to(c, down(sn::QoS::qos1, sn::TopicIdType::normal, id,
                                                 sent.msg_id, "v", false, true))}));
}

TEST_CASE(
    "core: downlink queue full: the oldest waiting message makes room - not the one in flight") {
  CoreConfig config = default_config();
  config.max_queued_per_client = 2;
  CoreFixture f(config);
  const auto c = udp(5001);
  const ConnId conn = f.connect(c, "node-1");
  const std::uint16_t id = subscribe(f, c, conn, "a/b");
  f.event(message(conn, "a/b", "1", 1));
  const auto first = only<sn::Publish>(f, c);
  f.event(message(conn, "a/b", "2", 1));
  const auto before = f.counters().downlink_dropped;
  f.event(message(conn, "a/b", "3", 1));
  CHECK(f.counters().downlink_dropped == before + 1);
  f.feed(c, sn::PubAck{id, first.msg_id, sn::ReturnCode::accepted});
  const auto next = only<sn::Publish>(f, c);
  CHECK(next.data == bytes("3"));
}

// ---- §6.6 QoS 2 ------------------------------------------------------------------------------

TEST_CASE(
    "core: §6.6 downlink QoS 2: PUBLISH - PUBREC - PUBREL - PUBCOMP - then the next message") {
  CoreFixture f;
  const auto c = udp(5001);
  const ConnId conn = f.connect(c, "node-1", 600);
  const std::uint16_t id = subscribe(f, c, conn, "a/b");

  f.event(message(conn, "a/b", "1", 2));
  const auto sent = only<sn::Publish>(f, c);
  CHECK(show(f.last()) ==
        show({to(c, down(sn::QoS::qos2, sn::TopicIdType::normal, id, sent.msg_id, "1"))}));
  CHECK(show(f.event(message(conn, "a/b", "2", 0))) == show({}));

  f.advance(5s);
  CHECK(show(f.feed(c, sn::PubRec{sent.msg_id})) == show({to(c, sn::PubRel{sent.msg_id})}));
  // PUBREL is supervised like the PUBLISH, T_retry from when it was sent.
  CHECK(show(f.advance(9999ms)) == show({}));
  CHECK(show(f.advance(1ms)) == show({to(c, sn::PubRel{sent.msg_id})}));
  // The client missed PUBREL and repeats PUBREC: PUBREL again.
  CHECK(show(f.feed(c, sn::PubRec{sent.msg_id})) == show({to(c, sn::PubRel{sent.msg_id})}));
  CHECK(show(f.feed(c, sn::PubComp{sent.msg_id})) ==
        show({to(c, down(sn::QoS::qos0, sn::TopicIdType::normal, id, 0, "2"))}));
  // A late PUBCOMP means nothing.
  CHECK(show(f.feed(c, sn::PubComp{sent.msg_id})) == show({}));
  CHECK(show(f.advance(10min)) == show({}));
}

TEST_CASE(
    "core: §6.6 downlink QoS 2 PUBLISH unanswered is retransmitted with DUP and the same msg id") {
  CoreFixture f;
  const auto c = udp(5001);
  const ConnId conn = f.connect(c, "node-1", 600);
  const std::uint16_t id = subscribe(f, c, conn, "a/b");
  f.event(message(conn, "a/b", "1", 2));
  const auto sent = only<sn::Publish>(f, c);
  CHECK(show(f.advance(10s)) == show({to(c, down(sn::QoS::qos2, sn::TopicIdType::normal, id,
                                                 sent.msg_id, "1", false, true))}));
}

TEST_CASE(
    "core: §6.6 a client reconnecting without clean session in the middle of a downlink QoS 2 "
    "exchange gets PUBREL - not the message again") {
  CoreFixture f;
  const auto c = udp(5001);
  const ConnId conn = f.connect(c, "node-1", 600, /*clean=*/false);
  const std::uint16_t id = subscribe(f, c, conn, "a/b");
  f.event(message(conn, "a/b", "once", 2));
  const auto sent = only<sn::Publish>(f, c);
  CHECK(id == sent.topic_id);
  // The client has the message (PUBREC); our PUBREL gets lost and the client reconnects.
  CHECK(show(f.feed(c, sn::PubRec{sent.msg_id})) == show({to(c, sn::PubRel{sent.msg_id})}));
  f.advance(10s);  // T_retry resends it; the CONNECT that follows is no copy of the first
  f.feed(c, connect_msg("node-1", 600, /*clean=*/false));
  const ConnId again = f.connect_conn();
  // MQTT (which §6.6 defers to) resends the PUBREL with the original id; sending the PUBLISH
  // again, under a new msg id, makes the client deliver it twice.
  CHECK(show(f.event(UpstreamConnected{again})) ==
        show({to(c, sn::ConnAck{sn::ReturnCode::accepted}), to(c, sn::PubRel{sent.msg_id})}));
}

// ---- REGACK rejected, PUBACK invalid topic id --------------------------------------------------

TEST_CASE("core: §6.10 REGACK rejected -> that message is dropped - the next one proceeds") {
  CoreFixture f;
  const auto c = udp(5001);
  const ConnId conn = f.connect(c, "node-1");
  subscribe(f, c, conn, "room/#");
  f.event(message(conn, "room/1", "1", 1));
  const auto reg1 = only<sn::Register>(f, c);
  CHECK(reg1.topic_name == "room/1");
  f.event(message(conn, "room/2", "2", 1));
  CHECK(f.last().empty());
  const auto before = f.counters().downlink_dropped;

  f.feed(c, sn::RegAck{reg1.topic_id, reg1.msg_id, sn::ReturnCode::not_supported});
  const auto reg2 = only<sn::Register>(f, c);
  CHECK(reg2.topic_name == "room/2");
  CHECK(f.counters().downlink_dropped == before + 1);

  f.feed(c, sn::RegAck{reg2.topic_id, reg2.msg_id, sn::ReturnCode::accepted});
  const auto publish = only<sn::Publish>(f, c);
  CHECK(show(f.last()) == show({to(c, down(sn::QoS::qos1, sn::TopicIdType::normal, reg2.topic_id,
                                           publish.msg_id, "2"))}));
}

TEST_CASE("core: §6.10 a rejected REGISTER is an unsubscribe from that topic name") {
  CoreFixture f;
  const auto c = udp(5001);
  const ConnId conn = f.connect(c, "node-1");
  subscribe(f, c, conn, "room/#");
  f.event(message(conn, "room/1", "1", 0));
  const auto reg = only<sn::Register>(f, c);
  CHECK(show(f.feed(c, sn::RegAck{reg.topic_id, reg.msg_id, sn::ReturnCode::not_supported})) ==
        show({}));
  // Other names under the wildcard are still offered.
  f.event(message(conn, "room/2", "2", 0));
  const auto reg2 = only<sn::Register>(f, c);
  CHECK(reg2.topic_name == "room/2");
  CHECK(show(f.feed(c, sn::RegAck{reg2.topic_id, reg2.msg_id, sn::ReturnCode::accepted})) ==
        show({to(c, down(sn::QoS::qos0, sn::TopicIdType::normal, reg2.topic_id, 0, "2"))}));
  // "this corresponds to an unsubscribe to the topic name indicated in the REGISTER message":
  // later messages on room/1 are not offered again.
  CHECK(show(f.event(message(conn, "room/1", "3", 0))) == show({}));
}

TEST_CASE(
    "core: §6.10 PUBACK invalid topic id -> the gateway registers the topic again and resends") {
  CoreFixture f;
  const auto c = udp(5001);
  const ConnId conn = f.connect(c, "node-1");
  const std::uint16_t id = subscribe(f, c, conn, "a/b");
  f.event(message(conn, "a/b", "v", 1));
  const auto sent = only<sn::Publish>(f, c);

  f.feed(c, sn::PubAck{id, sent.msg_id, sn::ReturnCode::invalid_topic_id});
  const auto reg = only<sn::Register>(f, c);
  CHECK(reg.topic_name == "a/b");
  CHECK(reg.topic_id != 0x0000);
  CHECK(reg.topic_id != 0xFFFF);

  f.feed(c, sn::RegAck{reg.topic_id, reg.msg_id, sn::ReturnCode::accepted});
  const auto resent = only<sn::Publish>(f, c);
  CHECK(show(f.last()) == show({to(c, down(sn::QoS::qos1, sn::TopicIdType::normal, reg.topic_id,
                                           resent.msg_id, "v"))}));
  CHECK(show(f.feed(c, sn::PubAck{reg.topic_id, resent.msg_id, sn::ReturnCode::accepted})) ==
        show({}));
}

TEST_CASE(
    "core: §6.10 PUBACK invalid topic id for a QoS 0 PUBLISH -> next message registers first") {
  CoreFixture f;
  const auto c = udp(5001);
  const ConnId conn = f.connect(c, "node-1");
  const std::uint16_t id = subscribe(f, c, conn, "a/b");
  f.event(message(conn, "a/b", "1"));
  CHECK(show(f.feed(c, sn::PubAck{id, 0, sn::ReturnCode::invalid_topic_id})) == show({}));
  f.event(message(conn, "a/b", "2"));
  const auto reg = only<sn::Register>(f, c);
  CHECK(reg.topic_name == "a/b");
}

TEST_CASE(
    "core: §6.7 PUBACK invalid topic id for a predefined topic id leaves the client's normal ids "
    "alone") {
  CoreFixture f;
  const auto c = udp(5001);
  const ConnId conn = f.connect(c, "node-1");
  // The client's own registration, numerically equal to the predefined id.
  const std::uint16_t normal = f.register_topic(c, "a/b", 1);
  REQUIRE_MESSAGE(normal == kPredefinedId,
                  "scenario needs the normal id to equal the predefined id");

  // A message on the predefined topic; the client does not know predefined id 1.
  f.event(message(conn, kPredefinedName, "t", 1));
  const auto sent = only<sn::Publish>(f, c);
  CHECK(sent.topic_id_type == sn::TopicIdType::predefined);
  f.feed(c, sn::PubAck{kPredefinedId, sent.msg_id, sn::ReturnCode::invalid_topic_id});

  // Re-registering cannot fix a predefined id (§6.7) -- and must not break the normal id 1
  // the client registered for "a/b".
  CHECK(show(f.feed(c, publish_msg(sn::QoS::qos0, sn::TopicIdType::normal, normal, 0, "x"))) ==
        show({UpstreamPublish{conn, 0, "a/b", bytes("x"), 0, false}}));
}

// ---- §6.10 too large for the link
// ----------------------------------------------------------------

TEST_CASE(
    "core: §6.10 a message too large for the transport is silently dropped - the next one goes") {
  CoreConfig config = default_config();
  config.max_frame_size = {40};  // transport 0: 40 octets a frame
  CoreFixture f(config);
  const auto c = udp(5001);
  const ConnId conn = f.connect(c, "node-1");
  const std::uint16_t id = subscribe(f, c, conn, "a/b");
  const auto before = f.counters().downlink_dropped;

  // PUBLISH header is 7 octets: 33 octets of data fit exactly, 34 do not.
  const std::string fits(33, 'x');
  const std::string too_big(34, 'y');
  CHECK(show(f.event(message(conn, "a/b", too_big, 1))) == show({}));
  CHECK(f.counters().downlink_dropped == before + 1);
  CHECK(show(f.event(message(conn, "a/b", fits, 0))) ==
        show({to(c, down(sn::QoS::qos0, sn::TopicIdType::normal, id, 0, fits))}));
  // Nothing was left in flight by the dropped QoS 1 message.
  CHECK(show(f.advance(1min)) == show({}));

  // A topic name too long for a REGISTER: dropped as well, and the next message goes.
  subscribe(f, c, conn, "long/#");
  CHECK(show(f.event(message(conn, "long/" + std::string(40, 'n'), "v", 1))) == show({}));
  CHECK(f.counters().downlink_dropped == before + 2);
  f.event(message(conn, "long/x", "v", 1));
  CHECK(only<sn::Register>(f, c).topic_name == "long/x");
}

TEST_CASE("core: §5.5 the encapsulation header counts against the transport's frame size") {
  CoreConfig config = default_config();
  config.max_frame_size = {40};
  CoreFixture f(config);
  const auto fwd = udp(7000);
  const sn::Bytes node{0x01, 0x02};
  f.feed_forwarded(fwd, node, connect_msg("node-a"));
  const ConnId conn = f.connect_conn();
  f.event(UpstreamConnected{conn});
  // 3 + 2 octets of encapsulation: 28 octets of data fit, 29 do not.
  CHECK(show(f.event(message(conn, kPredefinedName, std::string(29, 'y')))) == show({}));
  CHECK(show(f.event(message(conn, kPredefinedName, std::string(28, 'x')))) ==
        show({to_node(fwd, node,
                      down(sn::QoS::qos0, sn::TopicIdType::predefined, kPredefinedId, 0,
                           std::string(28, 'x')))}));
}

TEST_CASE("core: §6.13 retransmissions are counted (retransmissions/out)") {
  CoreFixture f;
  const auto c = udp(5001);
  const ConnId conn = f.connect(c, "node-1");
  subscribe(f, c, conn, "a/b");
  f.event(message(conn, "a/b", "m", 1));
  CHECK(f.counters().retransmissions_out == 0);
  f.advance(10s);
  f.advance(10s);
  CHECK(f.counters().retransmissions_out == 2);
  bool listed = false;
  for (const auto& [name, value] : f.core().stats()) {
    if (name == "retransmissions/out") listed = value == 2;
  }
  CHECK(listed);
}
