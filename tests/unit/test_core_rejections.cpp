// The gateway core answers every request whose content is invalid with the rejection the spec
// provides (§5.3.10 "rejected: not supported"), never with silence: a client left without an
// answer retransmits (§6.13) and finally takes the gateway for lost. Frames whose layout is
// broken (Length, truncation) are still dropped and counted.

#include <doctest/doctest.h>

#include <cstdint>
#include <string>

#include "core_fixture.hpp"

using namespace core_test;  // NOLINT(google-build-using-namespace)

namespace {

constexpr auto kNo = sn::ReturnCode::not_supported;

// A frame from its MsgType and variable part, with a 1-octet Length (§5.2.1).
sn::Bytes frame(sn::MsgType type, const sn::Bytes& body) {
  sn::Bytes out{static_cast<std::uint8_t>(body.size() + 2), static_cast<std::uint8_t>(type)};
  out.insert(out.end(), body.begin(), body.end());
  return out;
}

sn::Bytes connect_frame(const sn::Bytes& client_id) {
  sn::Bytes body{0x04, 0x01, 0x00, 0x3C};  // CleanSession, ProtocolId 1, 60 s
  body.insert(body.end(), client_id.begin(), client_id.end());
  return frame(sn::MsgType::connect, body);
}

// REGISTER, TopicId 0, MsgId 0x0102.
sn::Bytes register_frame(const sn::Bytes& name) {
  sn::Bytes body{0x00, 0x00, 0x01, 0x02};
  body.insert(body.end(), name.begin(), name.end());
  return frame(sn::MsgType::reg, body);
}

// SUBSCRIBE / UNSUBSCRIBE with `flags`, MsgId 0x0304 and `topic`.
sn::Bytes subscription_frame(sn::MsgType type, std::uint8_t flags, const sn::Bytes& topic) {
  sn::Bytes body{flags, 0x03, 0x04};
  body.insert(body.end(), topic.begin(), topic.end());
  return frame(type, body);
}

const sn::Bytes kInvalidUtf8{'a', '/', 0xC3, 0x28};  // 0xC3 needs a continuation octet
const sn::Bytes kWithNul{'a', 0x00, 'b'};

}  // namespace

TEST_CASE("core: a CONNECT whose ClientId is empty or not UTF-8 gets CONNACK 0x03 and opens "
          "nothing upstream") {
  CoreFixture f;
  const auto c = udp(5001);
  for (const sn::Bytes& id : {sn::Bytes{}, kInvalidUtf8, kWithNul}) {
    CHECK(show(f.feed_bytes(c, connect_frame(id))) == show({to(c, sn::ConnAck{kNo})}));
    CHECK(f.sessions() == 0);
  }
  CHECK(f.counters().malformed == 3);
  // §5.3.8: another protocol id is refused the same way.
  sn::Bytes other = connect_frame(bytes("node"));
  other[3] = 0x02;
  CHECK(show(f.feed_bytes(c, other)) == show({to(c, sn::ConnAck{kNo})}));
  CHECK(f.sessions() == 0);
}

TEST_CASE("core: a bad CONNECT from a connected client's address leaves its session alone") {
  CoreFixture f;
  const auto c = udp(5001);
  const ConnId conn = f.connect(c, "node-1");
  CHECK(show(f.feed_bytes(c, connect_frame({}))) == show({to(c, sn::ConnAck{kNo})}));
  CHECK(f.sessions() == 1);
  CHECK(show(f.feed(c, publish_msg(sn::QoS::qos0, sn::TopicIdType::short_name,
                                   sn::short_topic_id('a', 'b'), 0, "x"))) ==
        show({UpstreamPublish{conn, 0, "ab", bytes("x"), 0, false}}));
}

TEST_CASE("core: §5.4.10 a REGISTER whose topic name is empty, holds NUL or a wildcard, or is not "
          "UTF-8 gets REGACK 0x03 with its MsgId") {
  CoreFixture f;
  const auto c = udp(5001);
  f.connect(c, "node-1");
  for (const sn::Bytes& name : {sn::Bytes{}, kWithNul, kInvalidUtf8, bytes("a/+"), bytes("a/#")}) {
    CHECK(show(f.feed_bytes(c, register_frame(name))) ==
          show({to(c, sn::RegAck{0, 0x0102, kNo})}));
  }
  // A good one still works afterwards.
  CHECK(f.register_topic(c, "a/b", 9) == 1);
}

TEST_CASE("core: §5.4.15 a SUBSCRIBE with TopicIdType 0b11 or an invalid filter gets SUBACK 0x03 "
          "with its MsgId") {
  CoreFixture f;
  const auto c = udp(5001);
  f.connect(c, "node-1");
  const auto suback = to(c, sn::SubAck{sn::QoS::qos0, 0, 0x0304, kNo});
  // TopicIdType 0b11 (reserved, §5.3.4), with a 2-octet topic id or a name.
  CHECK(show(f.feed_bytes(c, subscription_frame(sn::MsgType::subscribe, 0x23, {0x00, 0x01}))) ==
        show({suback}));
  CHECK(show(f.feed_bytes(c, subscription_frame(sn::MsgType::subscribe, 0x03, bytes("a/b")))) ==
        show({suback}));
  // QoS -1 has no meaning in a SUBSCRIBE.
  CHECK(show(f.feed_bytes(c, subscription_frame(sn::MsgType::subscribe, 0x60, bytes("a/b")))) ==
        show({suback}));
  // Invalid filters: empty, not UTF-8, NUL, '#' not last, '+' inside a level.
  for (const sn::Bytes& filter : {sn::Bytes{}, kInvalidUtf8, kWithNul, bytes("a/#/b"),
                                  bytes("a/b+")}) {
    CHECK(show(f.feed_bytes(c, subscription_frame(sn::MsgType::subscribe, 0x20, filter))) ==
          show({suback}));
  }
  CHECK(f.upstream<UpstreamSubscribe>().empty());
}

TEST_CASE("core: §5.4.17 an UNSUBSCRIBE with TopicIdType 0b11 or an invalid filter gets UNSUBACK") {
  CoreFixture f;
  const auto c = udp(5001);
  f.connect(c, "node-1");
  const auto unsuback = to(c, sn::UnsubAck{0x0304});
  CHECK(show(f.feed_bytes(c, subscription_frame(sn::MsgType::unsubscribe, 0x03, {0x00, 0x01}))) ==
        show({unsuback}));
  for (const sn::Bytes& filter : {sn::Bytes{}, kInvalidUtf8, bytes("a/#/b")}) {
    CHECK(show(f.feed_bytes(c, subscription_frame(sn::MsgType::unsubscribe, 0x00, filter))) ==
          show({unsuback}));
  }
  CHECK(f.upstream<UpstreamUnsubscribe>().empty());
}

TEST_CASE("core: §5.4.12 a PUBLISH with TopicIdType 0b11 gets PUBACK 0x03, at QoS -1 it is "
          "dropped") {
  CoreFixture f;
  const auto c = udp(5001);
  f.connect(c, "node-1");
  const sn::Bytes qos1 = frame(sn::MsgType::publish, {0x23, 0x00, 0x07, 0x00, 0x09, 'x'});
  CHECK(show(f.feed_bytes(c, qos1)) == show({to(c, sn::PubAck{7, 9, kNo})}));
  const sn::Bytes minus_one = frame(sn::MsgType::publish, {0x63, 0x00, 0x07, 0x00, 0x00, 'x'});
  CHECK(show(f.feed_bytes(c, minus_one)) == "(nothing)\n");
  CHECK(f.upstream<UpstreamPublish>().empty());
}

TEST_CASE("core: §6.2 anything but the WILLTOPIC asked for aborts the will handshake with "
          "DISCONNECT") {
  CoreFixture f;
  const auto c = udp(5001);
  f.feed(c, connect_msg("node-1", 60, true, /*will=*/true));
  REQUIRE(f.sessions() == 1);
  CHECK(show(f.feed(c, sn::Register{0, 1, "a/b"})) == show({to(c, sn::Disconnect{})}));
  CHECK(f.sessions() == 0);
  CHECK(f.upstream<UpstreamConnect>().empty());
  // A later WILLTOPIC finds no handshake: the client must CONNECT again (§6.12).
  CHECK(show(f.feed(c, sn::WillTopic{sn::QoS::qos0, false, "w"})) == "(nothing)\n");
}

TEST_CASE("core: §6.2 anything but the WILLMSG asked for aborts the will handshake, WILLTOPIC "
          "again is taken (the WILLMSGREQ was lost)") {
  CoreFixture f;
  const auto c = udp(5001);
  f.feed(c, connect_msg("node-1", 60, true, /*will=*/true));
  f.feed(c, sn::WillTopic{sn::QoS::qos1, false, "w/node-1"});
  CHECK(show(f.feed(c, sn::WillTopic{sn::QoS::qos1, false, "w/node-1"})) ==
        show({to(c, sn::WillMsgReq{})}));
  CHECK(show(f.feed(c, sn::PingReq{})) == show({to(c, sn::Disconnect{})}));
  CHECK(f.sessions() == 0);
  CHECK(f.upstream<UpstreamConnect>().empty());
}

TEST_CASE("core: §6.2 an ill-formed WILLTOPIC (not UTF-8) ends the handshake with CONNACK 0x03") {
  CoreFixture f;
  const auto c = udp(5001);
  f.feed(c, connect_msg("node-1", 60, true, /*will=*/true));
  sn::Bytes body{0x20};
  body.insert(body.end(), kInvalidUtf8.begin(), kInvalidUtf8.end());
  CHECK(show(f.feed_bytes(c, frame(sn::MsgType::willtopic, body))) ==
        show({to(c, sn::ConnAck{kNo})}));
  CHECK(f.sessions() == 0);
}

TEST_CASE("core: §5.4.22 a WILLTOPICUPD with Flags but no topic is refused and keeps the will") {
  CoreConfig config = default_config();
  config.mode = Mode::aggregating;  // the gateway publishes wills itself: the will is visible
  CoreFixture f{config};
  f.qos_minus_one_up();
  const auto c = udp(5001);
  f.feed(c, connect_msg("node-1", 60, true, /*will=*/true));
  f.feed(c, sn::WillTopic{sn::QoS::qos1, false, "w/node-1"});
  REQUIRE(show(f.feed(c, sn::WillMsg{bytes("bye")})) ==
          show({to(c, sn::ConnAck{sn::ReturnCode::accepted})}));
  CHECK(show(f.feed_bytes(c, frame(sn::MsgType::willtopicupd, {0x20}))) ==
        show({to(c, sn::WillTopicResp{kNo})}));
  // Lost: the will is the one it had.
  const auto lost = f.advance(91s);
  CHECK(f.upstream<UpstreamPublish>().size() == 1);
  CHECK(show(lost).find("w/node-1") != std::string::npos);
}

TEST_CASE("core: refusals follow the state: no session gets DISCONNECT, a sleeper too (§6.12)") {
  CoreFixture f;
  const auto c = udp(5001);
  CHECK(show(f.feed_bytes(c, register_frame({}))) == show({to(c, sn::Disconnect{})}));
  f.connect(c, "node-1");
  f.feed(c, sn::Disconnect{60});
  CHECK(show(f.feed_bytes(c, register_frame({}))) == show({to(c, sn::Disconnect{})}));
}

TEST_CASE("core: frames whose layout is broken are still dropped and counted, unanswered") {
  CoreFixture f;
  const auto c = udp(5001);
  f.connect(c, "node-1");
  sn::Bytes truncated = register_frame(bytes("a/b"));
  truncated.pop_back();  // Length no longer matches
  CHECK(show(f.feed_bytes(c, truncated)) == "(nothing)\n");
  CHECK(show(f.feed_bytes(c, frame(sn::MsgType::reg, {0x00, 0x00, 0x01}))) == "(nothing)\n");
  CHECK(show(f.feed_bytes(c, sn::Bytes{0x00})) == "(nothing)\n");
  CHECK(f.counters().malformed == 3);
}

TEST_CASE("core: §5.5 a refused request from a node behind a forwarder is answered through it") {
  CoreFixture f;
  const auto fwd = udp(6001);
  const sn::Bytes node{0x42};
  const sn::Bytes inner = connect_frame({});
  sn::Bytes wrapped{0x04, 0xFE, 0x00, 0x42};
  wrapped.insert(wrapped.end(), inner.begin(), inner.end());
  CHECK(show(f.feed_bytes(fwd, wrapped)) == show({to_node(fwd, node, sn::ConnAck{kNo})}));
}
