// The gateway core's end-to-end acknowledgement (native client): a QoS 1/2 message from the broker
// that carries an ack token is acknowledged upstream (UpstreamAck) only once every MQTT-SN client
// that takes it at QoS 1/2 has acknowledged it (§6.10 PUBACK, §6.11... PUBCOMP) or was given up.

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "core_fixture.hpp"

using namespace core_test;  // NOLINT(google-build-using-namespace)

namespace {

constexpr ConnId kShared = kQosMinusOneConn;

UpstreamMessage message(ConnId conn, std::string topic, std::string_view payload,
                        std::uint8_t qos, std::uint32_t ack) {
  return UpstreamMessage{conn, std::move(topic), bytes(payload), qos, false, ack};
}

// SUBSCRIBE to a two-letter short name (no REGISTER needed downstream) and the broker's yes.
void subscribe_short(CoreFixture& f, const sn::Peer& c, ConnId conn, sn::QoS qos,
                     std::uint16_t msg_id = 100) {
  sn::Subscribe subscribe;
  subscribe.qos = qos;
  subscribe.msg_id = msg_id;
  subscribe.topic_id_type = sn::TopicIdType::short_name;
  subscribe.topic_id = sn::short_topic_id('a', 'b');
  f.feed(c, subscribe);
  const auto upstream = f.upstream<UpstreamSubscribe>();
  if (!upstream.empty()) {
    f.event(UpstreamSubscribeDone{conn, upstream.front().req, true, static_cast<std::uint8_t>(qos)});
  }
}

std::vector<UpstreamAck> acks(const CoreFixture& f) { return f.upstream<UpstreamAck>(); }

// The QoS 1/2 PUBLISH the last call sent to `c`.
sn::Publish published(const CoreFixture& f, const sn::Peer& c) {
  const auto sent = f.sent_to(c);
  REQUIRE_MESSAGE(sent.size() == 1, show(f.last()));
  REQUIRE(std::holds_alternative<sn::Publish>(sent.front()));
  return std::get<sn::Publish>(sent.front());
}

// Lets T_retry run out N_retry + 1 times (default_config: 10 s, 3): true once the core has
// acknowledged `ack` upstream on the way, which it does when it gives the client's copy up.
bool acked_while_retries_run_out(CoreFixture& f, std::uint32_t ack) {
  for (int i = 0; i < 4; ++i) {
    f.advance(10s);
    for (const auto& a : acks(f)) {
      if (a.ack == ack) return true;
    }
  }
  return false;
}

CoreConfig aggregating() {
  CoreConfig config = default_config();
  config.mode = Mode::aggregating;
  return config;
}

}  // namespace

TEST_CASE("core ack: §6.10 a QoS 1 message is acknowledged upstream after the client's PUBACK") {
  CoreFixture f;
  const auto c = udp(5001);
  const ConnId conn = f.connect(c, "node-1");
  subscribe_short(f, c, conn, sn::QoS::qos1);

  f.event(message(conn, "ab", "x", 1, 41));
  const auto publish = published(f, c);
  CHECK(acks(f).empty());  // the client does not have it yet
  f.feed(c, sn::PubAck{publish.topic_id, publish.msg_id, sn::ReturnCode::accepted});
  REQUIRE(acks(f).size() == 1);
  CHECK(acks(f).front().conn == conn);
  CHECK(acks(f).front().ack == 41);
}

TEST_CASE("core ack: §6.10 a QoS 2 message is acknowledged upstream after the client's PUBCOMP") {
  CoreFixture f;
  const auto c = udp(5001);
  const ConnId conn = f.connect(c, "node-1");
  subscribe_short(f, c, conn, sn::QoS::qos2);

  f.event(message(conn, "ab", "x", 2, 42));
  const auto publish = published(f, c);
  f.feed(c, sn::PubRec{publish.msg_id});
  CHECK(acks(f).empty());
  f.feed(c, sn::PubComp{publish.msg_id});
  REQUIRE(acks(f).size() == 1);
  CHECK(acks(f).front().ack == 42);
}

TEST_CASE("core ack: a message nobody takes at QoS 1/2 is acknowledged at once") {
  SUBCASE("no client has the connection") {
    CoreFixture f;
    const auto c = udp(5001);
    const ConnId conn = f.connect(c, "node-1");
    f.event(message(conn + 1000, "ab", "y", 1, 44));
    REQUIRE(acks(f).size() == 1);
    CHECK(acks(f).front().conn == conn + 1000);
    CHECK(acks(f).front().ack == 44);
  }
  SUBCASE("aggregating: the only subscriber was granted QoS 0") {
    CoreFixture f(aggregating());
    f.event(UpstreamConnected{kShared});
    const auto c = udp(5001);
    REQUIRE(show(f.feed(c, connect_msg("a", 60, true))) ==
            show({to(c, sn::ConnAck{sn::ReturnCode::accepted})}));
    subscribe_short(f, c, kShared, sn::QoS::qos0);
    f.event(message(kShared, "ab", "x", 1, 43));
    CHECK(f.sent_to(c).size() == 1);  // sent at QoS 0, owed nothing
    REQUIRE(acks(f).size() == 1);
    CHECK(acks(f).front().ack == 43);
  }
  SUBCASE("aggregating: nobody subscribed") {
    CoreFixture f(aggregating());
    f.event(UpstreamConnected{kShared});
    f.event(message(kShared, "ab", "x", 2, 49));
    REQUIRE(acks(f).size() == 1);
    CHECK(acks(f).front().ack == 49);
  }
}

TEST_CASE("core ack: §6.13 a client lost after N_retry gives its messages up: acknowledged") {
  CoreFixture f;  // T_retry 10 s, N_retry 3
  const auto c = udp(5001);
  const ConnId conn = f.connect(c, "node-1");
  subscribe_short(f, c, conn, sn::QoS::qos1);
  f.event(message(conn, "ab", "x", 1, 45));
  (void)published(f, c);
  CHECK(acked_while_retries_run_out(f, 45));
}

TEST_CASE("core ack: §6.14 a sleeper's message is acknowledged once it has it after waking") {
  CoreFixture f;
  const auto c = udp(5001);
  const ConnId conn = f.connect(c, "node-1");
  subscribe_short(f, c, conn, sn::QoS::qos1);
  f.feed(c, sn::Disconnect{std::uint16_t{600}});  // asleep for 10 min
  f.event(message(conn, "ab", "x", 1, 46));
  CHECK(f.sent_to(c).empty());
  CHECK(acks(f).empty());
  f.feed(c, sn::PingReq{"node-1"});  // awake: the buffered message goes out
  const auto publish = published(f, c);
  CHECK(acks(f).empty());
  f.feed(c, sn::PubAck{publish.topic_id, publish.msg_id, sn::ReturnCode::accepted});
  REQUIRE(acks(f).size() == 1);
  CHECK(acks(f).front().ack == 46);
}

TEST_CASE("core ack: aggregating - acknowledged once every QoS 1 recipient has it or is lost") {
  CoreFixture f(aggregating());
  f.event(UpstreamConnected{kShared});
  const auto a = udp(5001);
  const auto b = udp(5002);
  REQUIRE(show(f.feed(a, connect_msg("a", 60, true))) ==
          show({to(a, sn::ConnAck{sn::ReturnCode::accepted})}));
  REQUIRE(show(f.feed(b, connect_msg("b", 60, true))) ==
          show({to(b, sn::ConnAck{sn::ReturnCode::accepted})}));
  subscribe_short(f, a, kShared, sn::QoS::qos1, 100);
  subscribe_short(f, b, kShared, sn::QoS::qos1, 101);

  f.event(message(kShared, "ab", "x", 1, 47));
  const auto to_a = f.sent_to(a);
  const auto to_b = f.sent_to(b);
  REQUIRE(to_a.size() == 1);
  REQUIRE(to_b.size() == 1);
  const auto pa = std::get<sn::Publish>(to_a.front());
  f.feed(a, sn::PubAck{pa.topic_id, pa.msg_id, sn::ReturnCode::accepted});
  CHECK(acks(f).empty());  // b has not answered
  // b never answers: lost after N_retry, which gives its copy up.
  CHECK(acked_while_retries_run_out(f, 47));
}

// Answers `first` (a QoS 1 PUBLISH on short name "ab" the client got) and every PUBLISH that
// follows with PUBACK; the payloads in the order they came. `acked`: the ack tokens that went
// upstream meanwhile, in order.
std::vector<std::string> drain_qos1(CoreFixture& f, const sn::Peer& c, const sn::Publish& first,
                                    std::size_t at_most, std::vector<std::uint32_t>& acked) {
  std::vector<std::string> got;
  std::vector<sn::Message> sent{first};
  while (!sent.empty() && got.size() < at_most) {
    REQUIRE(sent.size() == 1);
    if (!std::holds_alternative<sn::Publish>(sent.front())) break;  // PINGRESP: flush done
    const auto p = std::get<sn::Publish>(sent.front());
    got.emplace_back(p.data.begin(), p.data.end());
    f.feed(c, sn::PubAck{p.topic_id, p.msg_id, sn::ReturnCode::accepted});
    for (const auto& a : acks(f)) acked.push_back(a.ack);
    sent = f.sent_to(c);
  }
  return got;
}

TEST_CASE("core ack: a full downlink queue never gives up a message the broker waits on - "
          "acknowledged only after the client's PUBACK") {
  CoreConfig config = default_config();
  config.max_queued_per_client = 2;
  CoreFixture f(config);
  const auto c = udp(5001);
  const ConnId conn = f.connect(c, "node-1");
  subscribe_short(f, c, conn, sn::QoS::qos1);
  f.event(message(conn, "ab", "1", 1, 1));
  const auto first = published(f, c);
  for (std::uint32_t i = 2; i <= 5; ++i) {
    f.event(message(conn, "ab", std::to_string(i), 1, i));
    CHECK_MESSAGE(acks(f).empty(), "no PUBACK for a message the client does not have");
  }
  CHECK(f.counters().downlink_dropped == 0);
  std::vector<std::uint32_t> acked;
  CHECK(drain_qos1(f, c, first, 10, acked) == std::vector<std::string>{"1", "2", "3", "4", "5"});
  CHECK(acked == std::vector<std::uint32_t>{1, 2, 3, 4, 5});
}

TEST_CASE("core ack: a full downlink queue makes room with a message the broker does not wait on") {
  CoreConfig config = default_config();
  config.max_queued_per_client = 3;
  CoreFixture f(config);
  const auto c = udp(5001);
  const ConnId conn = f.connect(c, "node-1");
  subscribe_short(f, c, conn, sn::QoS::qos1);
  f.event(message(conn, "ab", "1", 1, 1));          // in flight
  const auto first = published(f, c);
  f.event(message(conn, "ab", "q0", 0, 0));         // owed nothing
  f.event(message(conn, "ab", "2", 1, 2));          // queue full now
  f.event(message(conn, "ab", "3", 1, 3));          // "q0" makes room
  CHECK(f.counters().downlink_dropped == 1);
  f.event(message(conn, "ab", "late-q0", 0, 0));    // nothing to give up but itself
  CHECK(f.counters().downlink_dropped == 2);
  CHECK(acks(f).empty());
  std::vector<std::uint32_t> acked;
  CHECK(drain_qos1(f, c, first, 10, acked) == std::vector<std::string>{"1", "2", "3"});
  CHECK(acked == std::vector<std::uint32_t>{1, 2, 3});
}

TEST_CASE("core ack: §6.14 a full sleep buffer keeps every message the broker waits on") {
  CoreConfig config = default_config();
  config.max_buffered_messages = 2;
  CoreFixture f(config);
  const auto c = udp(5001);
  const ConnId conn = f.connect(c, "node-1");
  subscribe_short(f, c, conn, sn::QoS::qos1);
  f.feed(c, sn::Disconnect{std::uint16_t{600}});  // asleep for 10 min
  f.event(message(conn, "ab", "q0", 0, 0));
  for (std::uint32_t i = 1; i <= 4; ++i) f.event(message(conn, "ab", std::to_string(i), 1, i));
  CHECK(f.counters().sleep_buffer_dropped == 1);  // the QoS 0 one
  CHECK(acks(f).empty());
  f.feed(c, sn::PingReq{"node-1"});  // awake: the buffer goes out
  const auto first = published(f, c);
  std::vector<std::uint32_t> acked;
  CHECK(drain_qos1(f, c, first, 10, acked) == std::vector<std::string>{"1", "2", "3", "4"});
  CHECK(acked == std::vector<std::uint32_t>{1, 2, 3, 4});
}

TEST_CASE("core ack: an administrative stop acknowledges nothing still queued") {
  CoreFixture f;
  const auto c = udp(5001);
  const ConnId conn = f.connect(c, "node-1");
  subscribe_short(f, c, conn, sn::QoS::qos1);
  f.event(message(conn, "ab", "x", 1, 48));
  (void)published(f, c);
  Actions out;
  f.core().shutdown(f.now(), out);
  for (const auto& action : out) CHECK_FALSE(std::holds_alternative<UpstreamAck>(action));
}

TEST_CASE("core: §5.3.10 QoS 1/2 beyond upstream.max_queued_messages under way get PUBACK congestion") {
  CoreConfig config = default_config();
  config.max_queued_upstream = 2;
  CoreFixture f(config);
  const auto c = udp(5001);
  const ConnId conn = f.connect(c, "node-1");
  const std::uint16_t topic = f.register_topic(c, "up/t", 1);
  std::vector<ReqId> reqs;
  for (std::uint16_t id = 10; id < 12; ++id) {
    f.feed(c, publish_msg(sn::QoS::qos1, sn::TopicIdType::normal, topic, id, "x"));
    reqs.push_back(f.req_of<UpstreamPublish>());
    CHECK(f.sent_to(c).empty());
  }
  // Two under way: the third is refused at once, and nothing goes upstream.
  f.feed(c, publish_msg(sn::QoS::qos2, sn::TopicIdType::normal, topic, 12, "x"));
  CHECK(show(f.last()) ==
        show({to(c, sn::PubAck{topic, 12, sn::ReturnCode::congestion})}));
  CHECK(f.counters().upstream_congested == 1);
  // One completes: room again.
  f.event(UpstreamPublishDone{conn, reqs[0], true});
  f.feed(c, publish_msg(sn::QoS::qos1, sn::TopicIdType::normal, topic, 13, "x"));
  CHECK(f.upstream<UpstreamPublish>().size() == 1);
}

TEST_CASE("core ack: aggregating - a sleeper's or an absent client's copy does not hold the shared "
          "connection, the gateway takes it at once") {
  CoreFixture f{aggregating()};
  f.qos_minus_one_up();
  const auto sleeper = udp(5001);
  const auto away = udp(5002);
  const auto awake = udp(5003);
  f.feed(sleeper, connect_msg("sleeper", 60, /*clean=*/false));
  f.feed(away, connect_msg("away", 60, /*clean=*/false));
  f.feed(awake, connect_msg("awake", 60, true));
  for (const auto& c : {sleeper, away, awake}) subscribe_short(f, c, kShared, sn::QoS::qos1);
  f.feed(sleeper, sn::Disconnect{600});
  f.feed(away, sn::Disconnect{});

  // Only the awake client's copy is waited for.
  f.event(message(kShared, "ab", "x", 1, 51));
  CHECK(acks(f).empty());
  const auto publish = published(f, awake);
  f.feed(awake, sn::PubAck{publish.topic_id, publish.msg_id, sn::ReturnCode::accepted});
  REQUIRE(acks(f).size() == 1);
  CHECK(acks(f)[0].ack == 51);

  // With only the sleeper and the absent client subscribed: acknowledged at once, and kept.
  f.feed(awake, sn::Disconnect{});
  f.event(message(kShared, "ab", "y", 1, 52));
  REQUIRE(acks(f).size() == 1);
  CHECK(acks(f)[0].ack == 52);
  // The sleeper still gets both when it wakes.
  f.feed(sleeper, sn::PingReq{"sleeper"});
  const auto first = published(f, sleeper);
  CHECK(std::string(first.data.begin(), first.data.end()) == "x");
}

TEST_CASE("core ack: §6.14 a released sleeper hands unacknowledged messages back to the broker - "
          "the exchange in flight is acknowledged before the connection closes - none twice") {
  CoreFixture f;  // transparent, sleep.release_upstream, the gateway's own connection wanted
  f.qos_minus_one_up();
  const auto c = udp(5001);
  const ConnId conn = f.connect(c, "node-1", 60, /*clean=*/false);
  subscribe_short(f, c, conn, sn::QoS::qos2);
  f.feed(c, sn::Disconnect{std::uint16_t{600}});
  f.event(UpstreamDisconnected{conn});
  // The wake-up opens a connection; the broker's backlog: three messages it waits on.
  f.feed(c, sn::PingReq{"node-1"});
  const ConnId second = f.connect_conn();
  f.event(UpstreamConnected{second, true});
  f.event(message(second, "ab", "m1", 2, 51));
  const auto first = published(f, c);
  f.event(message(second, "ab", "m2", 1, 52));
  f.event(message(second, "ab", "m3", 2, 53));
  f.feed(c, sn::PubRec{first.msg_id});  // the client has m1; PUBREL goes out
  // Asleep again before PUBCOMP: m1's acknowledgement leaves before the DISCONNECT; m2 and m3 are
  // not acknowledged (the broker sends them again at the next wake-up).
  const auto& asleep = f.feed(c, sn::Disconnect{std::uint16_t{600}});
  std::vector<std::string> upstream;
  for (const Action& a : asleep) {
    if (const auto* ack = std::get_if<UpstreamAck>(&a)) upstream.push_back("ack " + std::to_string(ack->ack));
    if (std::holds_alternative<UpstreamDisconnect>(a)) upstream.push_back("disconnect");
  }
  CHECK(upstream == std::vector<std::string>{"ack 51", "disconnect"});
  f.event(UpstreamDisconnected{second});

  // Next wake-up: PUBREL for m1 again (not its PUBLISH), then m2 and m3 as the broker resends them.
  f.feed(c, sn::PingReq{"node-1"});
  const auto sent = f.sent_to(c);
  REQUIRE(sent.size() == 1);
  REQUIRE(std::holds_alternative<sn::PubRel>(sent.front()));
  const ConnId third = f.connect_conn();
  f.event(UpstreamConnected{third, true});
  f.event(message(third, "ab", "m2", 1, 62));
  f.event(message(third, "ab", "m3", 2, 63));
  f.feed(c, sn::PubComp{first.msg_id});
  const auto m2 = published(f, c);
  CHECK(m2.data == bytes("m2"));
  f.feed(c, sn::PubAck{m2.topic_id, m2.msg_id, sn::ReturnCode::accepted});
  const auto m3 = published(f, c);
  CHECK(m3.data == bytes("m3"));
  CHECK(acks(f).size() == 1);  // m2's
}
