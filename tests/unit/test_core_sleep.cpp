// The gateway core, sleeping clients (§6.14): DISCONNECT with a duration puts a client asleep,
// messages from the broker wait in its buffer, a PINGREQ wakes it and the buffered messages go out
// one acknowledged exchange at a time, PINGRESP last; the sleep timer with the §7.2 tolerance
// loses a silent sleeper. Time is a fake clock; each test asserts the exact list of actions.

#include <doctest/doctest.h>

#include "core_fixture.hpp"

using namespace core_test;  // NOLINT(google-build-using-namespace)

namespace {

UpstreamMessage from_broker(ConnId conn, std::string topic, std::string_view payload,
                            std::uint8_t qos = 0) {
  return UpstreamMessage{conn, std::move(topic), bytes(payload), qos, false};
}

sn::Publish down(sn::QoS qos, std::uint16_t topic_id, std::uint16_t msg_id, std::string_view data,
                 bool dup = false) {
  return publish_msg(qos, sn::TopicIdType::normal, topic_id, msg_id, data, false, dup);
}

sn::Disconnect sleep_for(std::uint16_t duration_s) { return sn::Disconnect{duration_s}; }

sn::PingReq wake_up(std::string client_id) { return sn::PingReq{std::move(client_id)}; }

// SUBSCRIBE + the broker's yes; returns the topic id of the SUBACK.
std::uint16_t subscribe(CoreFixture& f, const sn::Peer& c, ConnId conn, const std::string& filter) {
  f.feed(c, subscribe_name(100, filter, sn::QoS::qos2));
  f.event(UpstreamSubscribeDone{conn, f.req_of<UpstreamSubscribe>(), true, 2});
  const auto answer = f.sent_to(c);
  REQUIRE(answer.size() == 1);
  REQUIRE(std::holds_alternative<sn::SubAck>(answer.front()));
  return std::get<sn::SubAck>(answer.front()).topic_id;
}

// DISCONNECT with a duration: the gateway answers DISCONNECT and nothing else (no will, the
// upstream connection stays).
void fall_asleep(CoreFixture& f, const sn::Peer& c, std::uint16_t duration_s) {
  REQUIRE(show(f.feed(c, sleep_for(duration_s))) == show({to(c, sn::Disconnect{})}));
}

// CleanSession=false sleepers with their upstream connection kept open, so the gateway buffers
// (test_core_sleep_release.cpp has the default, where it is closed while they sleep).
CoreConfig keep_upstream() {
  CoreConfig config = default_config();
  config.release_sleeper_upstream = false;
  return config;
}

// Info log lines of the last call.
std::vector<std::string> infos(const CoreFixture& f) {
  std::vector<std::string> lines;
  for (const Action& action : f.last()) {
    if (const auto* line = std::get_if<Log>(&action); line && line->level == LogLevel::info) {
      lines.push_back(line->text);
    }
  }
  return lines;
}

}  // namespace

// ---- asleep, awake, PINGRESP last
// ----------------------------------------------------------------

TEST_CASE("core: §6.14 DISCONNECT with a duration -> DISCONNECT, asleep - upstream kept, no will") {
  CoreFixture f;
  const auto c = udp(5001);
  const ConnId conn = f.connect(c, "node-1", 60);
  CHECK(show(f.feed(c, sleep_for(30))) == show({to(c, sn::Disconnect{})}));
  CHECK(infos(f) ==
        std::vector<std::string>{"client node-1 asleep for 30 s (0 message(s) buffered)"});
  CHECK(f.sessions() == 1);
  // Messages for the sleeper wait; nothing goes to the client.
  CHECK(show(f.event(from_broker(conn, kPredefinedName, "20", 1))) == show({}));
  CHECK(f.counters().downlink_dropped == 0);
}

TEST_CASE(
    "core: §6.14 wake-up flushes 3 QoS 1 messages one ack at a time - PINGRESP strictly last") {
  CoreFixture f;
  const auto c = udp(5001);
  const ConnId conn = f.connect(c, "node-1", 60);
  CHECK(subscribe(f, c, conn, "a/#") == 0x0000);
  fall_asleep(f, c, 30);
  CHECK(show(f.event(from_broker(conn, "a/x", "1", 1))) == show({}));
  CHECK(show(f.event(from_broker(conn, "a/x", "2", 1))) == show({}));
  CHECK(show(f.event(from_broker(conn, "a/y", "3", 1))) == show({}));
  f.advance(20s);

  CHECK(show(f.feed(c, wake_up("node-1"))) == show({to(c, sn::Register{1, 1, "a/x"})}));
  CHECK(infos(f) == std::vector<std::string>{"client node-1 awake at " + sn::to_string(c) +
                                             " (3 message(s) buffered)"});
  CHECK(show(f.feed(c, sn::RegAck{1, 1, sn::ReturnCode::accepted})) ==
        show({to(c, down(sn::QoS::qos1, 1, 2, "1"))}));
  CHECK(show(f.feed(c, sn::PubAck{1, 2, sn::ReturnCode::accepted})) ==
        show({to(c, down(sn::QoS::qos1, 1, 3, "2"))}));
  CHECK(show(f.feed(c, sn::PubAck{1, 3, sn::ReturnCode::accepted})) ==
        show({to(c, sn::Register{2, 4, "a/y"})}));
  CHECK(show(f.feed(c, sn::RegAck{2, 4, sn::ReturnCode::accepted})) ==
        show({to(c, down(sn::QoS::qos1, 2, 5, "3"))}));
  CHECK(show(f.feed(c, sn::PubAck{2, 5, sn::ReturnCode::accepted})) ==
        show({to(c, sn::PingResp{})}));

  // Asleep again: the next message waits for the next wake-up, which needs no REGISTER.
  CHECK(show(f.event(from_broker(conn, "a/y", "4", 0))) == show({}));
  CHECK(show(f.feed(c, wake_up("node-1"))) ==
        show({to(c, down(sn::QoS::qos0, 2, 0, "4")), to(c, sn::PingResp{})}));
}

TEST_CASE(
    "core: §6.14 wake-up with nothing buffered -> PINGRESP at once - the sleep timer restarts") {
  CoreFixture f;
  const auto c = udp(5001);
  const ConnId conn = f.connect(c, "node-1", 60);
  fall_asleep(f, c, 30);
  f.advance(40s);  // within 30 s + 50%
  CHECK(show(f.feed(c, wake_up("node-1"))) == show({to(c, sn::PingResp{})}));
  CHECK(show(f.advance(44900ms)) == show({}));
  CHECK(show(f.advance(100ms)) == show({UpstreamDisconnect{conn, true}}));
}

TEST_CASE("core: §6.14 a PINGREQ without client id from the sleeper's address wakes it too") {
  CoreFixture f;
  const auto c = udp(5001);
  const ConnId conn = f.connect(c, "node-1", 60);
  fall_asleep(f, c, 30);
  f.event(from_broker(conn, kPredefinedName, "20", 0));
  CHECK(
      show(f.feed(c, sn::PingReq{})) ==
      show({to(c, publish_msg(sn::QoS::qos0, sn::TopicIdType::predefined, kPredefinedId, 0, "20")),
            to(c, sn::PingResp{})}));
}

TEST_CASE("core: §6.14 messages that arrive during the flush go out in it - before PINGRESP") {
  CoreFixture f;
  const auto c = udp(5001);
  const ConnId conn = f.connect(c, "node-1", 60);
  const std::uint16_t id = subscribe(f, c, conn, "a/b");
  fall_asleep(f, c, 30);
  f.event(from_broker(conn, "a/b", "1", 1));
  CHECK(show(f.feed(c, wake_up("node-1"))) == show({to(c, down(sn::QoS::qos1, id, 1, "1"))}));
  CHECK(show(f.event(from_broker(conn, "a/b", "2", 1))) == show({}));
  CHECK(show(f.event(from_broker(conn, "a/b", "3", 0))) == show({}));
  CHECK(show(f.feed(c, sn::PubAck{id, 1, sn::ReturnCode::accepted})) ==
        show({to(c, down(sn::QoS::qos1, id, 2, "2"))}));
  CHECK(show(f.feed(c, sn::PubAck{id, 2, sn::ReturnCode::accepted})) ==
        show({to(c, down(sn::QoS::qos0, id, 0, "3")), to(c, sn::PingResp{})}));
}

TEST_CASE("core: §6.14 a repeated PINGREQ while awake does not restart the flush") {
  CoreFixture f;
  const auto c = udp(5001);
  const ConnId conn = f.connect(c, "node-1", 60);
  const std::uint16_t id = subscribe(f, c, conn, "a/b");
  fall_asleep(f, c, 30);
  f.event(from_broker(conn, "a/b", "1", 1));
  f.feed(c, wake_up("node-1"));
  CHECK(show(f.feed(c, wake_up("node-1"))) == show({}));
  CHECK(show(f.feed(c, sn::PubAck{id, 1, sn::ReturnCode::accepted})) ==
        show({to(c, sn::PingResp{})}));
}

// ---- retransmission and loss during the flush ---------------------------------------------------

TEST_CASE(
    "core: §6.14 an unanswered PUBLISH of the flush is retransmitted - PINGRESP after its ack") {
  CoreFixture f;
  const auto c = udp(5001);
  const ConnId conn = f.connect(c, "node-1", 60);
  const std::uint16_t id = subscribe(f, c, conn, "a/b");
  fall_asleep(f, c, 30);
  f.event(from_broker(conn, "a/b", "1", 1));
  f.feed(c, wake_up("node-1"));
  CHECK(show(f.advance(10s)) == show({to(c, down(sn::QoS::qos1, id, 1, "1", true))}));
  CHECK(show(f.feed(c, sn::PubAck{id, 1, sn::ReturnCode::accepted})) ==
        show({to(c, sn::PingResp{})}));
  CHECK(show(f.advance(44900ms)) == show({}));
  CHECK(show(f.advance(100ms)) == show({UpstreamDisconnect{conn, true}}));
}

TEST_CASE("core: §6.14 a flush unanswered after N_retry retransmissions loses the client") {
  CoreFixture f;
  const auto c = udp(5001);
  const ConnId conn = f.connect(c, "node-1", 60);
  const std::uint16_t id = subscribe(f, c, conn, "a/b");
  fall_asleep(f, c, 300);
  f.event(from_broker(conn, "a/b", "1", 2));
  CHECK(show(f.feed(c, wake_up("node-1"))) == show({to(c, down(sn::QoS::qos2, id, 1, "1"))}));
  const auto resent = to(c, down(sn::QoS::qos2, id, 1, "1", true));
  CHECK(show(f.advance(10s)) == show({resent}));
  CHECK(show(f.advance(10s)) == show({resent}));
  CHECK(show(f.advance(10s)) == show({resent}));
  CHECK(show(f.advance(10s)) == show({UpstreamDisconnect{conn, /*fire_will=*/true}}));
  CHECK(f.counters().clients_lost == 1);
  CHECK(f.sessions() == 0);
}

TEST_CASE("core: §6.14 an exchange in flight when the client falls asleep waits - DUP at wake-up") {
  CoreFixture f;
  const auto c = udp(5001);
  const ConnId conn = f.connect(c, "node-1", 60);
  const std::uint16_t id = subscribe(f, c, conn, "a/b");
  CHECK(show(f.event(from_broker(conn, "a/b", "1", 1))) ==
        show({to(c, down(sn::QoS::qos1, id, 1, "1"))}));
  fall_asleep(f, c, 300);
  CHECK(show(f.advance(300s)) == show({}));  // no retransmission to a sleeping radio
  CHECK(show(f.feed(c, wake_up("node-1"))) == show({to(c, down(sn::QoS::qos1, id, 1, "1", true))}));
  CHECK(show(f.feed(c, sn::PubAck{id, 1, sn::ReturnCode::accepted})) ==
        show({to(c, sn::PingResp{})}));
}

// ---- a new address -----------------------------------------------------------------------------

TEST_CASE("core: §6.14 wake-up from a new port: the session follows the client id") {
  CoreFixture f;
  const auto c = udp(5001);
  const auto moved = udp(6001);
  const ConnId conn = f.connect(c, "node-1", 60);
  const std::uint16_t id = subscribe(f, c, conn, "a/b");
  fall_asleep(f, c, 30);
  f.event(from_broker(conn, "a/b", "1", 1));

  CHECK(show(f.feed(moved, wake_up("node-1"))) ==
        show({to(moved, down(sn::QoS::qos1, id, 1, "1"))}));
  // The old address has no session any more (§6.12).
  CHECK(show(f.feed(c, sn::PubAck{id, 1, sn::ReturnCode::accepted})) ==
        show({to(c, sn::Disconnect{})}));
  CHECK(show(f.feed(moved, sn::PubAck{id, 1, sn::ReturnCode::accepted})) ==
        show({to(moved, sn::PingResp{})}));

  // The next wake-up from the new address needs no client id; the old one gets DISCONNECT.
  f.event(from_broker(conn, "a/b", "2", 0));
  CHECK(show(f.feed(c, sn::PingReq{})) == show({to(c, sn::Disconnect{})}));
  CHECK(show(f.feed(moved, sn::PingReq{})) ==
        show({to(moved, down(sn::QoS::qos0, id, 0, "2")), to(moved, sn::PingResp{})}));
}

TEST_CASE("core: §6.14 §6.12 a PINGREQ naming a client that is not asleep here -> DISCONNECT") {
  CoreFixture f;
  const auto c = udp(5001);
  CHECK(show(f.feed(c, wake_up("ghost"))) == show({to(c, sn::Disconnect{})}));
  CHECK(f.counters().no_session == 1);

  // An active client that names itself is answered as usual; naming another client is not.
  f.connect(c, "node-1", 60);
  CHECK(show(f.feed(c, wake_up("node-1"))) == show({to(c, sn::PingResp{})}));
  CHECK(show(f.feed(c, wake_up("ghost"))) == show({to(c, sn::Disconnect{})}));
  // An active client is not taken over from another address by naming it.
  CHECK(show(f.feed(udp(6001), wake_up("node-1"))) == show({to(udp(6001), sn::Disconnect{})}));
  CHECK(f.counters().no_session == 3);
}

// ---- the sleep timer (§7.2 tolerance) -----------------------------------------------------------

TEST_CASE("core: §6.14 a sleeper silent for 20 s x 1.5 is lost: not at 29.8 s - lost at 30 s") {
  CoreFixture f;
  const auto c = udp(5001);
  const ConnId conn = f.connect(c, "node-1", 10);
  fall_asleep(f, c, 20);
  CHECK(show(f.advance(29800ms)) == show({}));
  CHECK(f.sessions() == 1);
  CHECK(show(f.advance(200ms)) == show({UpstreamDisconnect{conn, /*fire_will=*/true}}));
  CHECK(infos(f) == std::vector<std::string>{"client node-1 lost: silent past its sleep duration"});
  CHECK(f.counters().clients_lost == 1);
  CHECK(f.sessions() == 0);
  CHECK(show(f.feed(c, wake_up("node-1"))) == show({to(c, sn::Disconnect{})}));
}

TEST_CASE("core: §6.14 §7.2 a sleep duration of 60 s or more gets +10%: not at 65.9 s - lost at 66 s") {
  CoreFixture f;
  const auto c = udp(5001);
  const ConnId conn = f.connect(c, "node-1", 10);
  fall_asleep(f, c, 60);
  CHECK(show(f.advance(65900ms)) == show({}));
  CHECK(show(f.advance(100ms)) == show({UpstreamDisconnect{conn, true}}));
}

TEST_CASE("core: §6.14 no keep-alive loss while asleep, even long past the keep-alive") {
  CoreFixture f;
  const auto c = udp(5001);
  const ConnId conn = f.connect(c, "node-1", 10);
  f.advance(5s);
  fall_asleep(f, c, 600);
  CHECK(show(f.advance(659900ms)) == show({}));
  CHECK(show(f.feed(c, wake_up("node-1"))) == show({to(c, sn::PingResp{})}));
  // Asleep again after PINGRESP: still the sleep timer (660 s), not the keep-alive (15 s).
  CHECK(show(f.advance(659900ms)) == show({}));
  CHECK(show(f.advance(100ms)) == show({UpstreamDisconnect{conn, true}}));
}

TEST_CASE("core: §6.14 DISCONNECT with a new duration while asleep changes the duration") {
  CoreFixture f;
  const auto c = udp(5001);
  const ConnId conn = f.connect(c, "node-1", 60);
  fall_asleep(f, c, 10);
  f.advance(5s);
  CHECK(show(f.feed(c, sleep_for(100))) == show({to(c, sn::Disconnect{})}));
  CHECK(infos(f) ==
        std::vector<std::string>{"client node-1 sleeps on, now for 100 s (0 message(s) buffered)"});
  CHECK(show(f.advance(109900ms)) == show({}));  // long past the old 15 s
  CHECK(show(f.advance(100ms)) == show({UpstreamDisconnect{conn, true}}));
}

TEST_CASE("core: §6.14 DISCONNECT with a duration during the flush: asleep - the rest waits") {
  CoreFixture f;
  const auto c = udp(5001);
  const ConnId conn = f.connect(c, "node-1", 60);
  const std::uint16_t id = subscribe(f, c, conn, "a/b");
  fall_asleep(f, c, 30);
  f.event(from_broker(conn, "a/b", "1", 1));
  f.event(from_broker(conn, "a/b", "2", 1));
  f.feed(c, wake_up("node-1"));
  CHECK(show(f.feed(c, sleep_for(30))) == show({to(c, sn::Disconnect{})}));
  CHECK(show(f.advance(44s)) == show({}));  // neither retransmission nor loss
  CHECK(show(f.feed(c, wake_up("node-1"))) == show({to(c, down(sn::QoS::qos1, id, 1, "1", true))}));
  CHECK(show(f.feed(c, sn::PubAck{id, 1, sn::ReturnCode::accepted})) ==
        show({to(c, down(sn::QoS::qos1, id, 2, "2"))}));
  CHECK(show(f.feed(c, sn::PubAck{id, 2, sn::ReturnCode::accepted})) ==
        show({to(c, sn::PingResp{})}));
}

TEST_CASE("core: §6.14 DISCONNECT with duration 0 is a plain DISCONNECT") {
  CoreFixture f;
  const auto c = udp(5001);
  const ConnId conn = f.connect(c, "node-1", 60);
  CHECK(show(f.feed(c, sleep_for(0))) ==
        show({to(c, sn::Disconnect{}), UpstreamDisconnect{conn, false}}));
  CHECK(f.sessions() == 0);
}

// ---- the sleep buffer --------------------------------------------------------------------------

TEST_CASE("core: §6.14 sleep buffer full: the oldest QoS 0 goes first, else the oldest message") {
  CoreConfig config = default_config();
  config.max_buffered_messages = 3;
  CoreFixture f(config);
  const auto c = udp(5001);
  const ConnId conn = f.connect(c, "node-1", 60);
  const std::uint16_t id = subscribe(f, c, conn, "a/b");
  fall_asleep(f, c, 300);
  f.event(from_broker(conn, "a/b", "1", 1));
  f.event(from_broker(conn, "a/b", "2", 0));
  f.event(from_broker(conn, "a/b", "3", 1));
  CHECK(f.counters().sleep_buffer_dropped == 0);
  f.event(from_broker(conn, "a/b", "4", 1));  // "2" (QoS 0) makes room
  CHECK(f.counters().sleep_buffer_dropped == 1);
  f.event(from_broker(conn, "a/b", "5", 0));  // a QoS 0 never pushes out QoS 1: "5" is dropped
  CHECK(f.counters().sleep_buffer_dropped == 2);
  f.event(from_broker(conn, "a/b", "6", 2));  // no QoS 0 left: the oldest ("1") makes room
  CHECK(f.counters().sleep_buffer_dropped == 3);
  CHECK(f.counters().downlink_dropped == 3);

  CHECK(show(f.feed(c, wake_up("node-1"))) == show({to(c, down(sn::QoS::qos1, id, 1, "3"))}));
  CHECK(show(f.feed(c, sn::PubAck{id, 1, sn::ReturnCode::accepted})) ==
        show({to(c, down(sn::QoS::qos1, id, 2, "4"))}));
  CHECK(show(f.feed(c, sn::PubAck{id, 2, sn::ReturnCode::accepted})) ==
        show({to(c, down(sn::QoS::qos2, id, 3, "6"))}));
  CHECK(show(f.feed(c, sn::PubRec{3})) == show({to(c, sn::PubRel{3})}));
  CHECK(show(f.feed(c, sn::PubComp{3})) == show({to(c, sn::PingResp{})}));
}

// ---- leaving sleep -----------------------------------------------------------------------------

TEST_CASE(
    "core: §6.14 CONNECT from asleep (CleanSession=false) -> active - buffered after CONNACK") {
  CoreFixture f(keep_upstream());
  const auto c = udp(5001);
  const ConnId conn = f.connect(c, "node-1", 60, /*clean=*/false);
  const std::uint16_t id = subscribe(f, c, conn, "a/b");
  fall_asleep(f, c, 300);
  f.event(from_broker(conn, "a/b", "1", 1));
  f.event(from_broker(conn, "a/b", "2", 0));
  f.advance(100s);

  CHECK(show(f.feed(c, connect_msg("node-1", 60, false))) ==
        show({UpstreamDisconnect{conn, false},
              UpstreamConnect{conn + 1, "sn-node-1", 60, false, std::nullopt}}));
  const ConnId again = f.connect_conn();
  CHECK(
      show(f.event(UpstreamConnected{again})) ==
      show({to(c, sn::ConnAck{sn::ReturnCode::accepted}), to(c, down(sn::QoS::qos1, id, 1, "1"))}));
  // Active: no PINGRESP closes this delivery.
  CHECK(show(f.feed(c, sn::PubAck{id, 1, sn::ReturnCode::accepted})) ==
        show({to(c, down(sn::QoS::qos0, id, 0, "2"))}));
  // Keep-alive supervision is back: 60 s + 10%.
  CHECK(show(f.advance(65900ms)) == show({}));
  CHECK(show(f.advance(100ms)) == show({UpstreamDisconnect{again, true}}));
}

TEST_CASE("core: §6.14 §6.3 CONNECT from asleep with CleanSession=true discards the buffer") {
  CoreFixture f(keep_upstream());
  const auto c = udp(5001);
  const ConnId conn = f.connect(c, "node-1", 60, false);
  subscribe(f, c, conn, "a/b");
  fall_asleep(f, c, 300);
  f.event(from_broker(conn, "a/b", "1", 1));
  f.feed(c, connect_msg("node-1", 60, true));
  CHECK(show(f.event(UpstreamConnected{f.connect_conn()})) ==
        show({to(c, sn::ConnAck{sn::ReturnCode::accepted})}));
}

TEST_CASE("core: §6.14 plain DISCONNECT from asleep -> disconnected - no will") {
  CoreFixture f(keep_upstream());
  const auto c = udp(5001);
  const ConnId conn = f.connect(c, "node-1", 60, false);
  fall_asleep(f, c, 30);
  CHECK(show(f.feed(c, sn::Disconnect{})) ==
        show({to(c, sn::Disconnect{}), UpstreamDisconnect{conn, /*fire_will=*/false}}));
  CHECK(show(f.advance(1h)) == show({}));
  CHECK(f.counters().clients_lost == 0);
  CHECK(f.sessions() == 1);  // CleanSession=false: kept, disconnected
  CHECK(show(f.feed(c, wake_up("node-1"))) == show({to(c, sn::Disconnect{})}));
}

// ---- what a sleeping client may send
// -------------------------------------------------------------

TEST_CASE(
    "core: §6.14 a sleeper must CONNECT before asking the broker - DISCONNECT, still asleep") {
  CoreFixture f;
  const auto c = udp(5001);
  const ConnId conn = f.connect(c, "node-1", 60);
  f.qos_minus_one_up();
  fall_asleep(f, c, 30);
  CHECK(show(f.feed(c, publish_msg(sn::QoS::qos1, sn::TopicIdType::predefined, kPredefinedId, 1,
                                   "x"))) == show({to(c, sn::Disconnect{})}));
  CHECK(show(f.feed(c, sn::Register{0, 2, "a/b"})) == show({to(c, sn::Disconnect{})}));
  CHECK(show(f.feed(c, subscribe_name(3, "a/#"))) == show({to(c, sn::Disconnect{})}));
  // QoS -1 needs no connection (§6.8).
  CHECK(show(f.feed(c, publish_msg(sn::QoS::minus_one, sn::TopicIdType::predefined, kPredefinedId,
                                   0, "y"))) ==
        show({UpstreamPublish{kQosMinusOneConn, 0, kPredefinedName, bytes("y"), 0, false}}));
  // The session sleeps on, with its upstream connection.
  f.event(from_broker(conn, kPredefinedName, "z", 0));
  CHECK(show(f.feed(c, wake_up("node-1"))) ==
        show({to(c, publish_msg(sn::QoS::qos0, sn::TopicIdType::predefined, kPredefinedId, 0, "z")),
              to(c, sn::PingResp{})}));
}
