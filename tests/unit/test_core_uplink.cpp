// The gateway core, what a client asks of the broker: REGISTER (§6.5), PUBLISH at QoS 0/1/2
// (§6.6, §6.7) and -1 (§6.8), SUBSCRIBE and UNSUBSCRIBE (§6.9). Each test feeds events and
// asserts the exact list of actions the core returns.

#include <doctest/doctest.h>

#include <array>
#include <set>
#include <vector>

#include "core_fixture.hpp"

using namespace core_test;  // NOLINT(google-build-using-namespace)

namespace {

sn::Publish qos0(sn::TopicIdType type, std::uint16_t id, std::string_view data,
                 bool retain = false) {
  return publish_msg(sn::QoS::qos0, type, id, 0, data, retain);
}

sn::Publish minus_one(sn::TopicIdType type, std::uint16_t id, std::string_view data,
                      bool retain = false) {
  return publish_msg(sn::QoS::minus_one, type, id, 0, data, retain);
}

}  // namespace

// ---- §6.5 REGISTER ----------------------------------------------------------------------------

TEST_CASE("core: §6.5 REGISTER -> REGACK accepted with a usable topic id - same name - same id") {
  CoreFixture f;
  const auto c = udp(5001);
  f.connect(c, "node-1");

  f.feed(c, sn::Register{0, 1, "a/b"});
  const auto answer = f.sent_to(c);
  REQUIRE(answer.size() == 1);
  REQUIRE(std::holds_alternative<sn::RegAck>(answer.front()));
  const std::uint16_t id = std::get<sn::RegAck>(answer.front()).topic_id;
  CHECK(id != 0x0000);
  CHECK(id != 0xFFFF);
  CHECK(show(f.last()) == show({to(c, sn::RegAck{id, 1, sn::ReturnCode::accepted})}));

  CHECK(show(f.feed(c, sn::Register{0, 2, "a/b"})) ==
        show({to(c, sn::RegAck{id, 2, sn::ReturnCode::accepted})}));
  const std::uint16_t other = f.register_topic(c, "a/c", 3);
  CHECK(other != id);
  CHECK(other != 0x0000);
  CHECK(other != 0xFFFF);
}

TEST_CASE("core: §5.3.11 topic ids are never 0x0000 or 0xFFFF - even when all others are used") {
  CoreConfig config = default_config();
  config.max_topics_per_client = 100000;
  CoreFixture f(config);
  const auto c = udp(5001);
  const ConnId conn = f.connect(c, "node-1", 0);

  // All ids but one, registered by the client.
  std::set<std::uint16_t> ids;
  std::size_t bad = 0;
  for (std::uint32_t i = 0; i < 0xFFFD; ++i) {
    const auto msg_id = static_cast<std::uint16_t>(i + 1);
    f.feed(c, sn::Register{0, msg_id, "t/" + std::to_string(i)});
    const auto answer = f.sent_to(c);
    const auto* regack = answer.size() == 1 ? std::get_if<sn::RegAck>(&answer.front()) : nullptr;
    if (regack == nullptr || regack->return_code != sn::ReturnCode::accepted ||
        regack->topic_id == 0x0000 || regack->topic_id == 0xFFFF ||
        !ids.insert(regack->topic_id).second) {
      ++bad;
    }
  }
  CHECK(bad == 0);
  CHECK(ids.size() == 0xFFFD);

  // The last one goes to a gateway REGISTER the client rejects (§6.10), which frees it again.
  f.feed(c, subscribe_name(1, "down/#"));
  f.event(UpstreamSubscribeDone{conn, f.req_of<UpstreamSubscribe>(), true, 0});
  f.event(UpstreamMessage{conn, "down/1", bytes("x"), 0, false});
  const auto sent = f.sent_to(c);
  REQUIRE(sent.size() == 1);
  REQUIRE(std::holds_alternative<sn::Register>(sent.front()));
  const auto reg = std::get<sn::Register>(sent.front());
  CHECK(reg.topic_id != 0x0000);
  CHECK(reg.topic_id != 0xFFFF);
  CHECK(ids.count(reg.topic_id) == 0);
  f.feed(c, sn::RegAck{reg.topic_id, reg.msg_id, sn::ReturnCode::congestion});

  // Past the top of the range, the free id is found again; 0xFFFF and 0x0000 are skipped.
  const std::uint16_t last = f.register_topic(c, "last", 2);
  CHECK(last == reg.topic_id);
  // Every usable id is taken now: the next name cannot get one.
  CHECK(show(f.feed(c, sn::Register{0, 3, "one/too/many"})) ==
        show({to(c, sn::RegAck{0, 3, sn::ReturnCode::congestion})}));
}

TEST_CASE("core: §7.3 topic ids are per client") {
  CoreFixture f;
  const auto c1 = udp(5001);
  const auto c2 = udp(5002);
  const ConnId conn1 = f.connect(c1, "node-1");
  const ConnId conn2 = f.connect(c2, "node-2");

  const std::uint16_t ab = f.register_topic(c1, "a/b", 1);
  const std::uint16_t ac = f.register_topic(c1, "a/c", 2);
  const std::uint16_t xy = f.register_topic(c2, "x/y", 1);

  CHECK(show(f.feed(c1, qos0(sn::TopicIdType::normal, ab, "1"))) ==
        show({UpstreamPublish{conn1, 0, "a/b", bytes("1"), 0, false}}));
  CHECK(show(f.feed(c1, qos0(sn::TopicIdType::normal, ac, "2"))) ==
        show({UpstreamPublish{conn1, 0, "a/c", bytes("2"), 0, false}}));
  CHECK(show(f.feed(c2, qos0(sn::TopicIdType::normal, xy, "3"))) ==
        show({UpstreamPublish{conn2, 0, "x/y", bytes("3"), 0, false}}));
  // An id node-1 holds and node-2 does not means nothing for node-2.
  const std::uint16_t only_c1 = ab != xy ? ab : ac;
  CHECK(show(f.feed(c2, publish_msg(sn::QoS::qos1, sn::TopicIdType::normal, only_c1, 4, "4"))) ==
        show({to(c2, sn::PubAck{only_c1, 4, sn::ReturnCode::invalid_topic_id})}));
}

TEST_CASE("core: §6.5 REGISTER of a name with wildcards -> REGACK not supported") {
  CoreFixture f;
  const auto c = udp(5001);
  f.connect(c, "node-1");
  CHECK(show(f.feed(c, sn::Register{0, 4, "a/+"})) ==
        show({to(c, sn::RegAck{0, 4, sn::ReturnCode::not_supported})}));
  CHECK(show(f.feed(c, sn::Register{0, 5, "a/#"})) ==
        show({to(c, sn::RegAck{0, 5, sn::ReturnCode::not_supported})}));
}

TEST_CASE("core: §6.5 REGISTER beyond the per-client limit -> REGACK congestion") {
  CoreConfig config = default_config();
  config.max_topics_per_client = 2;
  CoreFixture f(config);
  const auto c1 = udp(5001);
  const auto c2 = udp(5002);
  f.connect(c1, "node-1");
  f.connect(c2, "node-2");
  const std::uint16_t a = f.register_topic(c1, "a", 1);
  f.register_topic(c1, "b", 2);
  CHECK(show(f.feed(c1, sn::Register{0, 3, "c"})) ==
        show({to(c1, sn::RegAck{0, 3, sn::ReturnCode::congestion})}));
  // A name it already has still answers; another client has its own budget.
  CHECK(show(f.feed(c1, sn::Register{0, 4, "a"})) ==
        show({to(c1, sn::RegAck{a, 4, sn::ReturnCode::accepted})}));
  f.register_topic(c2, "c", 1);
}

// ---- §6.6 / §6.7 PUBLISH QoS 0 -----------------------------------------------------------------

TEST_CASE("core: §6.6 PUBLISH QoS 0 with a registered topic id -> the topic name upstream") {
  CoreFixture f;
  const auto c = udp(5001);
  const ConnId conn = f.connect(c, "node-1");
  const std::uint16_t id = f.register_topic(c, "room/1/temp", 1);
  CHECK(show(f.feed(c, qos0(sn::TopicIdType::normal, id, "21.5"))) ==
        show({UpstreamPublish{conn, 0, "room/1/temp", bytes("21.5"), 0, false}}));
  CHECK(show(f.feed(c, qos0(sn::TopicIdType::normal, id, "21.6", /*retain=*/true))) ==
        show({UpstreamPublish{conn, 0, "room/1/temp", bytes("21.6"), 0, true}}));
}

TEST_CASE("core: §6.7 PUBLISH QoS 0 with a predefined topic id or a short topic name") {
  CoreFixture f;
  const auto c = udp(5001);
  const ConnId conn = f.connect(c, "node-1");
  CHECK(show(f.feed(c, qos0(sn::TopicIdType::predefined, kPredefinedId, "19", true))) ==
        show({UpstreamPublish{conn, 0, kPredefinedName, bytes("19"), 0, true}}));
  CHECK(show(f.feed(c, qos0(sn::TopicIdType::short_name, sn::short_topic_id('t', '1'), "on"))) ==
        show({UpstreamPublish{conn, 0, "t1", bytes("on"), 0, false}}));
}

TEST_CASE("core: §6.6 PUBLISH with an unknown normal topic id -> PUBACK invalid topic id") {
  CoreFixture f;
  const auto c = udp(5001);
  f.connect(c, "node-1");
  CHECK(show(f.feed(c, qos0(sn::TopicIdType::normal, 42, "x"))) ==
        show({to(c, sn::PubAck{42, 0, sn::ReturnCode::invalid_topic_id})}));
  CHECK(show(f.feed(c, publish_msg(sn::QoS::qos1, sn::TopicIdType::normal, 42, 8, "x"))) ==
        show({to(c, sn::PubAck{42, 8, sn::ReturnCode::invalid_topic_id})}));
  CHECK(show(f.feed(c, publish_msg(sn::QoS::qos2, sn::TopicIdType::normal, 42, 9, "x"))) ==
        show({to(c, sn::PubAck{42, 9, sn::ReturnCode::invalid_topic_id})}));
}

TEST_CASE("core: §6.7 PUBLISH with an unknown predefined topic id -> PUBACK invalid topic id") {
  CoreFixture f;
  const auto c = udp(5001);
  f.connect(c, "node-1");
  CHECK(show(f.feed(c, qos0(sn::TopicIdType::predefined, 99, "x"))) ==
        show({to(c, sn::PubAck{99, 0, sn::ReturnCode::invalid_topic_id})}));
  CHECK(show(f.feed(c, publish_msg(sn::QoS::qos1, sn::TopicIdType::predefined, 99, 3, "x"))) ==
        show({to(c, sn::PubAck{99, 3, sn::ReturnCode::invalid_topic_id})}));
  // A normal id equal to a predefined one is still unknown until registered.
  CHECK(show(f.feed(c, qos0(sn::TopicIdType::normal, kPredefinedId, "x"))) ==
        show({to(c, sn::PubAck{kPredefinedId, 0, sn::ReturnCode::invalid_topic_id})}));
}

// ---- §6.6 PUBLISH QoS 1 ----------------------------------------------------------------------

TEST_CASE("core: §6.6 PUBLISH QoS 1: PUBACK only once the broker acknowledged") {
  CoreFixture f;
  const auto c = udp(5001);
  const ConnId conn = f.connect(c, "node-1");
  const std::uint16_t id = f.register_topic(c, "a/b", 1);

  f.feed(c, publish_msg(sn::QoS::qos1, sn::TopicIdType::normal, id, 11, "v1", true));
  const ReqId req = f.req_of<UpstreamPublish>();
  CHECK(req != 0);
  CHECK(show(f.last()) == show({UpstreamPublish{conn, req, "a/b", bytes("v1"), 1, true}}));

  // Nothing for the client while the broker has not answered, even after a while.
  CHECK(show(f.advance(5s)) == show({}));
  CHECK(show(f.event(UpstreamPublishDone{conn, req, true})) ==
        show({to(c, sn::PubAck{id, 11, sn::ReturnCode::accepted})}));
  // A repeated completion changes nothing.
  CHECK(show(f.event(UpstreamPublishDone{conn, req, true})) == show({}));
}

TEST_CASE("core: §6.6 PUBLISH QoS 1 the broker did not take -> PUBACK congestion") {
  CoreFixture f;
  const auto c = udp(5001);
  const ConnId conn = f.connect(c, "node-1");
  f.feed(c, publish_msg(sn::QoS::qos1, sn::TopicIdType::predefined, kPredefinedId, 12, "v"));
  const ReqId req = f.req_of<UpstreamPublish>();
  CHECK(show(f.last()) ==
        show({UpstreamPublish{conn, req, kPredefinedName, bytes("v"), 1, false}}));
  CHECK(show(f.event(UpstreamPublishDone{conn, req, false})) ==
        show({to(c, sn::PubAck{kPredefinedId, 12, sn::ReturnCode::congestion})}));
}

TEST_CASE("core: §6.6 two QoS 1 PUBLISH from two clients are acknowledged to the right one") {
  CoreFixture f;
  const auto c1 = udp(5001);
  const auto c2 = udp(5002);
  const ConnId conn1 = f.connect(c1, "node-1");
  const ConnId conn2 = f.connect(c2, "node-2");
  f.feed(c1, publish_msg(sn::QoS::qos1, sn::TopicIdType::predefined, kPredefinedId, 1, "a"));
  const ReqId r1 = f.req_of<UpstreamPublish>();
  f.feed(c2, publish_msg(sn::QoS::qos1, sn::TopicIdType::predefined, kPredefinedId, 1, "b"));
  const ReqId r2 = f.req_of<UpstreamPublish>();
  CHECK(r1 != r2);
  CHECK(show(f.event(UpstreamPublishDone{conn2, r2, true})) ==
        show({to(c2, sn::PubAck{kPredefinedId, 1, sn::ReturnCode::accepted})}));
  CHECK(show(f.event(UpstreamPublishDone{conn1, r1, true})) ==
        show({to(c1, sn::PubAck{kPredefinedId, 1, sn::ReturnCode::accepted})}));
}

// ---- §6.6 PUBLISH QoS 2 ----------------------------------------------------------------------

TEST_CASE("core: §6.6 PUBLISH QoS 2 reaches the broker exactly once") {
  CoreFixture f;
  const auto c = udp(5001);
  const ConnId conn = f.connect(c, "node-1");
  const std::uint16_t id = f.register_topic(c, "a/b", 1);
  const auto first = publish_msg(sn::QoS::qos2, sn::TopicIdType::normal, id, 21, "once");
  auto dup = first;
  dup.dup = true;

  f.feed(c, first);
  const ReqId req = f.req_of<UpstreamPublish>();
  CHECK(req != 0);
  CHECK(show(f.last()) == show({UpstreamPublish{conn, req, "a/b", bytes("once"), 2, false}}));

  // The client's retransmission before the broker answered: nothing new.
  CHECK(show(f.feed(c, dup)) == show({}));
  // The broker has it: PUBREC.
  CHECK(show(f.event(UpstreamPublishDone{conn, req, true})) == show({to(c, sn::PubRec{21})}));
  // The client missed the PUBREC and sends again: PUBREC again, nothing upstream.
  CHECK(show(f.feed(c, dup)) == show({to(c, sn::PubRec{21})}));
  CHECK(show(f.feed(c, first)) == show({to(c, sn::PubRec{21})}));
  // PUBREL -> PUBCOMP; a repeated PUBREL (PUBCOMP lost) -> PUBCOMP again.
  CHECK(show(f.feed(c, sn::PubRel{21})) == show({to(c, sn::PubComp{21})}));
  CHECK(show(f.feed(c, sn::PubRel{21})) == show({to(c, sn::PubComp{21})}));

  // After PUBREL the msg id is free: the same id is a new message, forwarded again.
  f.feed(c, publish_msg(sn::QoS::qos2, sn::TopicIdType::normal, id, 21, "twice"));
  const ReqId req2 = f.req_of<UpstreamPublish>();
  CHECK(req2 != req);
  CHECK(show(f.last()) == show({UpstreamPublish{conn, req2, "a/b", bytes("twice"), 2, false}}));
  CHECK(show(f.event(UpstreamPublishDone{conn, req2, true})) == show({to(c, sn::PubRec{21})}));
}

TEST_CASE("core: §6.6 PUBLISH QoS 2 the broker did not take -> PUBACK congestion - retry allowed") {
  CoreFixture f;
  const auto c = udp(5001);
  const ConnId conn = f.connect(c, "node-1");
  const auto publish =
      publish_msg(sn::QoS::qos2, sn::TopicIdType::predefined, kPredefinedId, 30, "x");
  f.feed(c, publish);
  const ReqId req = f.req_of<UpstreamPublish>();
  CHECK(show(f.event(UpstreamPublishDone{conn, req, false})) ==
        show({to(c, sn::PubAck{kPredefinedId, 30, sn::ReturnCode::congestion})}));
  // Trying again later is a fresh attempt.
  f.feed(c, publish);
  const ReqId again = f.req_of<UpstreamPublish>();
  CHECK(show(f.last()) ==
        show({UpstreamPublish{conn, again, kPredefinedName, bytes("x"), 2, false}}));
}

// ---- §6.8 QoS -1 -------------------------------------------------------------------------------

TEST_CASE("core: §6.8 start() opens the shared QoS -1 connection") {
  CoreFixture f;
  REQUIRE(f.started().size() == 1);
  const auto* connect = std::get_if<UpstreamConnect>(&f.started().front());
  REQUIRE(connect != nullptr);
  CHECK(connect->conn == kQosMinusOneConn);
  CHECK(connect->clean_session);
  CHECK_FALSE(connect->will.has_value());
  CHECK_FALSE(connect->client_id.empty());
}

TEST_CASE(
    "core: §6.8 QoS -1 PUBLISH from an address without session - predefined and short topics") {
  CoreFixture f;
  f.qos_minus_one_up();
  const auto sensor = udp(6001);
  CHECK(show(f.feed(sensor, minus_one(sn::TopicIdType::predefined, kPredefinedId, "22.0"))) ==
        show({UpstreamPublish{kQosMinusOneConn, 0, kPredefinedName, bytes("22.0"), 0, false}}));
  CHECK(show(f.feed(sensor, minus_one(sn::TopicIdType::short_name, sn::short_topic_id('s', '9'),
                                      "on", true))) ==
        show({UpstreamPublish{kQosMinusOneConn, 0, "s9", bytes("on"), 0, true}}));
  CHECK(f.sessions() == 0);  // no connection is set up (§6.8)
  CHECK(f.counters().qos_minus_one_dropped == 0);
}

TEST_CASE(
    "core: §6.8 QoS -1 PUBLISH with a normal topic id or an unknown predefined id is dropped") {
  CoreFixture f;
  f.qos_minus_one_up();
  const auto sensor = udp(6001);
  CHECK(show(f.feed(sensor, minus_one(sn::TopicIdType::normal, 1, "x"))) == show({}));
  CHECK(show(f.feed(sensor, minus_one(sn::TopicIdType::predefined, 99, "x"))) == show({}));
  CHECK(f.counters().qos_minus_one_dropped == 2);
}

TEST_CASE("core: §6.8 QoS -1 disabled in the config -> no connection - PUBLISH dropped") {
  CoreConfig config = default_config();
  config.qos_minus_one = false;
  CoreFixture f(config);
  CHECK(show(f.started()) == show({}));
  f.qos_minus_one_up();  // even if the app said so
  CHECK(show(f.feed(udp(6001), minus_one(sn::TopicIdType::predefined, kPredefinedId, "x"))) ==
        show({}));
  CHECK(f.counters().qos_minus_one_dropped == 1);
}

TEST_CASE("core: §6.8 QoS -1 PUBLISH before the QoS -1 connection is up is dropped and counted") {
  CoreFixture f;
  const auto sensor = udp(6001);
  CHECK(show(f.feed(sensor, minus_one(sn::TopicIdType::predefined, kPredefinedId, "x"))) ==
        show({}));
  CHECK(f.counters().qos_minus_one_dropped == 1);

  f.qos_minus_one_up();
  CHECK(show(f.feed(sensor, minus_one(sn::TopicIdType::predefined, kPredefinedId, "y"))) ==
        show({UpstreamPublish{kQosMinusOneConn, 0, kPredefinedName, bytes("y"), 0, false}}));

  // Lost again: dropped again, and the connection is retried after reconnect_min (1 s) less a
  // random part of up to a half.
  CHECK(show(f.event(UpstreamConnectionLost{kQosMinusOneConn, "gone"})) == show({}));
  CHECK(show(f.feed(sensor, minus_one(sn::TopicIdType::predefined, kPredefinedId, "z"))) ==
        show({}));
  CHECK(f.counters().qos_minus_one_dropped == 2);
  CHECK(show(f.advance(499ms)) == show({}));
  CHECK(show(f.advance(501ms)) == show(f.started()));  // the same UpstreamConnect as start()
  f.qos_minus_one_up();
  CHECK(show(f.feed(sensor, minus_one(sn::TopicIdType::predefined, kPredefinedId, "w"))) ==
        show({UpstreamPublish{kQosMinusOneConn, 0, kPredefinedName, bytes("w"), 0, false}}));
}

// ---- §6.9 SUBSCRIBE / UNSUBSCRIBE -----------------------------------------------------------

TEST_CASE("core: §6.9 SUBSCRIBE to a topic name -> upstream first - SUBACK with a topic id after") {
  CoreFixture f;
  const auto c = udp(5001);
  const ConnId conn = f.connect(c, "node-1");

  f.feed(c, subscribe_name(21, "room/1/temp", sn::QoS::qos2));
  const ReqId req = f.req_of<UpstreamSubscribe>();
  CHECK(show(f.last()) == show({UpstreamSubscribe{conn, req, "room/1/temp", 2}}));

  f.event(UpstreamSubscribeDone{conn, req, true, 1});
  const auto answer = f.sent_to(c);
  REQUIRE(answer.size() == 1);
  REQUIRE(std::holds_alternative<sn::SubAck>(answer.front()));
  const std::uint16_t id = std::get<sn::SubAck>(answer.front()).topic_id;
  CHECK(id != 0x0000);
  CHECK(id != 0xFFFF);
  // The granted QoS is the broker's.
  CHECK(show(f.last()) ==
        show({to(c, sn::SubAck{sn::QoS::qos1, id, 21, sn::ReturnCode::accepted})}));
  // That id is the client's id for the name: REGISTER of it gives the same one.
  CHECK(f.register_topic(c, "room/1/temp", 22) == id);
}

TEST_CASE("core: §6.9 SUBSCRIBE with wildcards -> SUBACK topic id 0x0000") {
  CoreFixture f;
  const auto c = udp(5001);
  const ConnId conn = f.connect(c, "node-1");
  f.feed(c, subscribe_name(5, "room/+/temp", sn::QoS::qos1));
  const ReqId req = f.req_of<UpstreamSubscribe>();
  CHECK(show(f.last()) == show({UpstreamSubscribe{conn, req, "room/+/temp", 1}}));
  CHECK(show(f.event(UpstreamSubscribeDone{conn, req, true, 1})) ==
        show({to(c, sn::SubAck{sn::QoS::qos1, 0x0000, 5, sn::ReturnCode::accepted})}));

  f.feed(c, subscribe_name(6, "room/#", sn::QoS::qos0));
  const ReqId req2 = f.req_of<UpstreamSubscribe>();
  CHECK(show(f.last()) == show({UpstreamSubscribe{conn, req2, "room/#", 0}}));
  CHECK(show(f.event(UpstreamSubscribeDone{conn, req2, true, 0})) ==
        show({to(c, sn::SubAck{sn::QoS::qos0, 0x0000, 6, sn::ReturnCode::accepted})}));
}

TEST_CASE(
    "core: §6.9 SUBSCRIBE to a predefined topic id -> its name upstream - that id in SUBACK") {
  CoreFixture f;
  const auto c = udp(5001);
  const ConnId conn = f.connect(c, "node-1");
  f.feed(c, subscribe_id(8, sn::TopicIdType::predefined, kPredefinedId, sn::QoS::qos1));
  const ReqId req = f.req_of<UpstreamSubscribe>();
  CHECK(show(f.last()) == show({UpstreamSubscribe{conn, req, kPredefinedName, 1}}));
  CHECK(show(f.event(UpstreamSubscribeDone{conn, req, true, 1})) ==
        show({to(c, sn::SubAck{sn::QoS::qos1, kPredefinedId, 8, sn::ReturnCode::accepted})}));
}

TEST_CASE("core: §6.7 SUBSCRIBE to an unknown predefined topic id -> SUBACK invalid topic id") {
  CoreFixture f;
  const auto c = udp(5001);
  f.connect(c, "node-1");
  f.feed(c, subscribe_id(9, sn::TopicIdType::predefined, 77));
  CHECK(f.upstream<UpstreamSubscribe>().empty());
  const auto answer = f.sent_to(c);
  REQUIRE(answer.size() == 1);
  REQUIRE(std::holds_alternative<sn::SubAck>(answer.front()));
  const auto& suback = std::get<sn::SubAck>(answer.front());
  CHECK(suback.msg_id == 9);
  CHECK(suback.return_code == sn::ReturnCode::invalid_topic_id);
  CHECK(f.last().size() == 1);
}

TEST_CASE("core: §6.9 SUBSCRIBE to a short topic name -> the two characters upstream") {
  CoreFixture f;
  const auto c = udp(5001);
  const ConnId conn = f.connect(c, "node-1");
  f.feed(c, subscribe_id(10, sn::TopicIdType::short_name, sn::short_topic_id('a', 'b'),
                         sn::QoS::qos0));
  const ReqId req = f.req_of<UpstreamSubscribe>();
  CHECK(show(f.last()) == show({UpstreamSubscribe{conn, req, "ab", 0}}));
  f.event(UpstreamSubscribeDone{conn, req, true, 0});
  // The SUBACK topic id is "not relevant" for short names (§5.4.16); the rest is.
  const auto answer = f.sent_to(c);
  REQUIRE(answer.size() == 1);
  REQUIRE(std::holds_alternative<sn::SubAck>(answer.front()));
  const auto& suback = std::get<sn::SubAck>(answer.front());
  CHECK(suback.msg_id == 10);
  CHECK(suback.qos == sn::QoS::qos0);
  CHECK(suback.return_code == sn::ReturnCode::accepted);
  CHECK(f.last().size() == 1);
}

TEST_CASE("core: §6.9 SUBSCRIBE with an invalid filter is rejected - nothing upstream") {
  CoreFixture f;
  const auto c = udp(5001);
  f.connect(c, "node-1");
  for (const char* filter : {"a/#/b", "a+/b", "#/a", "a/b#"}) {
    CAPTURE(filter);
    CHECK(show(f.feed(c, subscribe_name(11, filter))) ==
          show({to(c, sn::SubAck{sn::QoS::qos0, 0, 11, sn::ReturnCode::not_supported})}));
  }
}

TEST_CASE("core: §6.9 SUBSCRIBE the broker refuses -> SUBACK rejected") {
  CoreFixture f;
  const auto c = udp(5001);
  const ConnId conn = f.connect(c, "node-1");
  f.feed(c, subscribe_name(12, "secret/#"));
  const ReqId req = f.req_of<UpstreamSubscribe>();
  f.event(UpstreamSubscribeDone{conn, req, false, 0x80});
  const auto answer = f.sent_to(c);
  REQUIRE(answer.size() == 1);
  REQUIRE(std::holds_alternative<sn::SubAck>(answer.front()));
  CHECK(std::get<sn::SubAck>(answer.front()).msg_id == 12);
  CHECK(std::get<sn::SubAck>(answer.front()).return_code != sn::ReturnCode::accepted);
}

TEST_CASE("core: §6.9 UNSUBSCRIBE -> upstream first - UNSUBACK after") {
  CoreFixture f;
  const auto c = udp(5001);
  const ConnId conn = f.connect(c, "node-1");

  f.feed(c, sn::Unsubscribe{sn::TopicIdType::normal, 31, "room/+/temp", 0});
  const ReqId req = f.req_of<UpstreamUnsubscribe>();
  CHECK(show(f.last()) == show({UpstreamUnsubscribe{conn, req, "room/+/temp"}}));
  CHECK(show(f.event(UpstreamUnsubscribeDone{conn, req, true})) == show({to(c, sn::UnsubAck{31})}));

  f.feed(c, sn::Unsubscribe{sn::TopicIdType::predefined, 32, "", kPredefinedId});
  const ReqId req2 = f.req_of<UpstreamUnsubscribe>();
  CHECK(show(f.last()) == show({UpstreamUnsubscribe{conn, req2, kPredefinedName}}));
  CHECK(show(f.event(UpstreamUnsubscribeDone{conn, req2, true})) ==
        show({to(c, sn::UnsubAck{32})}));

  f.feed(c, sn::Unsubscribe{sn::TopicIdType::short_name, 33, "", sn::short_topic_id('a', 'b')});
  const ReqId req3 = f.req_of<UpstreamUnsubscribe>();
  CHECK(show(f.last()) == show({UpstreamUnsubscribe{conn, req3, "ab"}}));
  CHECK(show(f.event(UpstreamUnsubscribeDone{conn, req3, true})) ==
        show({to(c, sn::UnsubAck{33})}));
}

TEST_CASE("core: §6.8 QoS -1 from an address outside auth.allow_qos_minus_one_from is dropped") {
  CoreConfig config = default_config();
  // 127.0.0.1 is allowed; 127.0.0.2 is not.
  config.qos_minus_one_from = std::vector<sn::Bytes>{sn::Bytes{127, 0, 0, 1}};
  CoreFixture f(config);
  f.qos_minus_one_up();
  CHECK(show(f.feed(udp(6001), minus_one(sn::TopicIdType::predefined, kPredefinedId, "ok"))) ==
        show({UpstreamPublish{kQosMinusOneConn, 0, kPredefinedName, bytes("ok"), 0, false}}));
  const std::array<std::uint8_t, 6> other{127, 0, 0, 2, 0x17, 0x71};
  const auto stranger = sn::Peer::make(0, sn::PeerKind::ipv4, other);
  CHECK(show(f.feed(stranger, minus_one(sn::TopicIdType::predefined, kPredefinedId, "no"))) ==
        show({}));
  CHECK(f.counters().qos_minus_one_dropped == 1);
}

TEST_CASE("core: §6.8 QoS -1 filter: an IPv4-mapped IPv6 sender matches its IPv4 entry") {
  CoreConfig config = default_config();
  config.qos_minus_one_from = std::vector<sn::Bytes>{sn::Bytes{127, 0, 0, 1}};
  CoreFixture f(config);
  f.qos_minus_one_up();
  // ::ffff:127.0.0.1 port 6001 scope 0, as a dual-stack socket reports an IPv4 sender.
  std::array<std::uint8_t, 22> mapped{};
  mapped[10] = 0xFF;
  mapped[11] = 0xFF;
  mapped[12] = 127;
  mapped[15] = 1;
  mapped[16] = 0x17;
  mapped[17] = 0x71;
  const auto v6 = sn::Peer::make(0, sn::PeerKind::ipv6, mapped);
  CHECK(show(f.feed(v6, minus_one(sn::TopicIdType::predefined, kPredefinedId, "ok"))) ==
        show({UpstreamPublish{kQosMinusOneConn, 0, kPredefinedName, bytes("ok"), 0, false}}));
  mapped[15] = 9;  // ::ffff:127.0.0.9
  const auto other = sn::Peer::make(0, sn::PeerKind::ipv6, mapped);
  CHECK(show(f.feed(other, minus_one(sn::TopicIdType::predefined, kPredefinedId, "no"))) ==
        show({}));
  CHECK(f.counters().qos_minus_one_dropped == 1);
}

TEST_CASE("core: a QoS 0 PUBLISH the broker connection did not take is counted") {
  CoreFixture f;
  const auto c = udp(5001);
  const ConnId conn = f.connect(c, "node-1");
  f.feed(c, publish_msg(sn::QoS::qos0, sn::TopicIdType::short_name, sn::short_topic_id('a', 'b'),
                        0, "x"));
  CHECK(show(f.event(UpstreamPublishDone{conn, 0, false})) == show({}));
  CHECK(f.counters().upstream_publish_failed == 1);
}

TEST_CASE("core: §6.8 with auth.allowed_clients and no address list, QoS -1 is accepted from no "
          "one") {
  CoreConfig config = default_config();
  config.allowed_clients = std::unordered_set<std::string>{"node-1"};
  CoreFixture f(config);
  f.qos_minus_one_up();
  CHECK(show(f.feed(udp(6001), minus_one(sn::TopicIdType::predefined, kPredefinedId, "no"))) ==
        show({}));
  // Not even from a serial line, which has no address to list.
  const auto line = sn::Peer::make(1, sn::PeerKind::serial, {});
  CHECK(show(f.feed(line, minus_one(sn::TopicIdType::predefined, kPredefinedId, "no"))) ==
        show({}));
  CHECK(f.counters().qos_minus_one_dropped == 2);
}

TEST_CASE("core: §6.8 with auth.allowed_clients, QoS -1 only from the listed addresses") {
  CoreConfig config = default_config();
  config.allowed_clients = std::unordered_set<std::string>{"node-1"};
  config.qos_minus_one_from = std::vector<sn::Bytes>{sn::Bytes{127, 0, 0, 1}};
  CoreFixture f(config);
  f.qos_minus_one_up();
  CHECK(show(f.feed(udp(6001), minus_one(sn::TopicIdType::predefined, kPredefinedId, "ok"))) ==
        show({UpstreamPublish{kQosMinusOneConn, 0, kPredefinedName, bytes("ok"), 0, false}}));
  const std::array<std::uint8_t, 6> other{127, 0, 0, 2, 0x17, 0x71};
  CHECK(show(f.feed(sn::Peer::make(0, sn::PeerKind::ipv4, other),
                    minus_one(sn::TopicIdType::predefined, kPredefinedId, "no"))) == show({}));
  const auto line = sn::Peer::make(1, sn::PeerKind::serial, {});
  CHECK(show(f.feed(line, minus_one(sn::TopicIdType::predefined, kPredefinedId, "no"))) ==
        show({}));
  CHECK(f.counters().qos_minus_one_dropped == 2);
}

TEST_CASE("core: §6.8 without auth.allowed_clients, a serial line publishes at QoS -1 despite an "
          "address list (as before)") {
  CoreConfig config = default_config();
  config.qos_minus_one_from = std::vector<sn::Bytes>{sn::Bytes{127, 0, 0, 1}};
  CoreFixture f(config);
  f.qos_minus_one_up();
  const auto line = sn::Peer::make(1, sn::PeerKind::serial, {});
  CHECK(show(f.feed(line, minus_one(sn::TopicIdType::predefined, kPredefinedId, "ok"))) ==
        show({UpstreamPublish{kQosMinusOneConn, 0, kPredefinedName, bytes("ok"), 0, false}}));
}

TEST_CASE("core: §6.6 a QoS 2 PUBLISH copy that arrives after its PUBREL is not forwarded again") {
  CoreFixture f;
  const auto c = udp(5001);
  const ConnId conn = f.connect(c, "node-1");
  const auto first = publish_msg(sn::QoS::qos2, sn::TopicIdType::predefined, kPredefinedId, 9, "once");
  f.feed(c, first);
  f.event(UpstreamPublishDone{conn, f.req_of<UpstreamPublish>(), true});
  CHECK(show(f.feed(c, sn::PubRel{9})) == show({to(c, sn::PubComp{9})}));
  // The radio delivers the retransmitted copy late: nothing goes upstream, nothing is answered.
  auto late = first;
  late.dup = true;
  CHECK(show(f.feed(c, late)) == "(nothing)\n");
  CHECK(f.counters().duplicates_in == 1);
  // A new message that reuses the id (not a DUP) is a new message.
  f.feed(c, publish_msg(sn::QoS::qos2, sn::TopicIdType::predefined, kPredefinedId, 9, "again"));
  CHECK(f.upstream<UpstreamPublish>().size() == 1);
}

TEST_CASE("core: §6.13 a copy of CONNECT within T_retry of its CONNACK is answered again, the "
          "session kept") {
  CoreFixture f;
  const auto c = udp(5001);
  const ConnId conn = f.connect(c, "node-1");
  const auto topic = f.register_topic(c, "a/b", 1);
  f.advance(2s);
  // The CONNACK was lost or the radio held a copy back: CONNACK again, the registration stays.
  CHECK(show(f.feed(c, connect_msg("node-1"))) ==
        show({to(c, sn::ConnAck{sn::ReturnCode::accepted})}));
  CHECK(f.counters().duplicates_in == 1);
  CHECK(show(f.feed(c, publish_msg(sn::QoS::qos0, sn::TopicIdType::normal, topic, 0, "x"))) ==
        show({UpstreamPublish{conn, 0, "a/b", bytes("x"), 0, false}}));
  // Past T_retry (10 s here) it is a new connection.
  f.advance(9s);
  f.feed(c, connect_msg("node-1"));
  CHECK(f.upstream<UpstreamConnect>().size() == 1);
}

TEST_CASE("core: §6.6 a duplicated first copy of a QoS 2 PUBLISH (no DUP) that arrives after its "
          "PUBREL is not forwarded again, a new message under the same id is") {
  CoreFixture f;
  const auto c = udp(5001);
  const ConnId conn = f.connect(c, "node-1");
  const auto first = publish_msg(sn::QoS::qos2, sn::TopicIdType::predefined, kPredefinedId, 9, "once");
  f.feed(c, first);
  f.event(UpstreamPublishDone{conn, f.req_of<UpstreamPublish>(), true});
  f.feed(c, sn::PubRel{9});
  // The radio duplicated the first transmission and delivered the copy last.
  CHECK(show(f.feed(c, first)) == "(nothing)\n");
  CHECK(f.counters().duplicates_in == 1);
  // Same id, other content: a new message.
  f.feed(c, publish_msg(sn::QoS::qos2, sn::TopicIdType::predefined, kPredefinedId, 9, "twice"));
  CHECK(f.upstream<UpstreamPublish>().size() == 1);
}
