// SIGHUP reload in the core (issue 14 §3): Core::reconfigure() applies what can change while
// clients are served, to every session at once, and disconnects no one.

#include <algorithm>

#include "core_fixture.hpp"

using namespace core_test;  // NOLINT(google-build-using-namespace)

namespace {

const sn::Peer kNode = udp(5000);

// The one PUBACK/SUBACK/CONNACK... the last call sent to `peer`.
template <typename T>
T only(const CoreFixture& f, const sn::Peer& peer) {
  const auto sent = f.sent_to(peer);
  REQUIRE(sent.size() == 1);
  const auto* m = std::get_if<T>(&sent.front());
  REQUIRE(m != nullptr);
  return *m;
}

bool logged(const Actions& actions, const std::string& start) {
  return std::any_of(actions.begin(), actions.end(), [&](const Action& action) {
    const auto* log = std::get_if<Log>(&action);
    return log != nullptr && log->text.rfind(start, 0) == 0;
  });
}

}  // namespace

TEST_CASE("core reload: §5.4.12 a new predefined id is usable at once, a removed one gets PUBACK "
          "0x02 and SUBACK 0x02 from then on, and the client stays connected") {
  CoreFixture f;
  const ConnId conn = f.connect(kNode, "reloaded");

  CoreConfig next = default_config();
  next.predefined = {PredefinedTopic{2, "sensors/humidity"}};  // 1 removed, 2 added
  CHECK(logged(f.reconfigure(next), "configuration reloaded: 1 predefined topic(s)"));
  CHECK(f.sent_to(kNode).empty());  // nobody is told anything, nobody is disconnected

  f.feed(kNode, publish_msg(sn::QoS::qos1, sn::TopicIdType::predefined, 2, 10, "55"));
  const auto published = f.upstream<UpstreamPublish>();
  REQUIRE(published.size() == 1);
  CHECK(published.front().conn == conn);
  CHECK(published.front().topic == "sensors/humidity");

  f.feed(kNode, publish_msg(sn::QoS::qos1, sn::TopicIdType::predefined, kPredefinedId, 11, "21"));
  CHECK(f.upstream<UpstreamPublish>().empty());
  const auto puback = only<sn::PubAck>(f, kNode);
  CHECK(puback.return_code == sn::ReturnCode::invalid_topic_id);
  CHECK(puback.msg_id == 11);

  f.feed(kNode, subscribe_id(12, sn::TopicIdType::predefined, kPredefinedId));
  CHECK(f.upstream<UpstreamSubscribe>().empty());
  CHECK(only<sn::SubAck>(f, kNode).return_code == sn::ReturnCode::invalid_topic_id);

  // Downlink on the new predefined name goes out under its predefined id, no REGISTER.
  f.feed(kNode, subscribe_id(13, sn::TopicIdType::predefined, 2));
  f.event(UpstreamSubscribeDone{conn, f.req_of<UpstreamSubscribe>(), true, 1});
  f.event(UpstreamMessage{conn, "sensors/humidity", bytes("60"), 0, false, 0});
  const auto delivered = only<sn::Publish>(f, kNode);
  CHECK(delivered.topic_id_type == sn::TopicIdType::predefined);
  CHECK(delivered.topic_id == 2);
  CHECK(f.sessions() == 1);
}

TEST_CASE("core reload: the ACL and the allow-list apply to the next request, not to who is "
          "connected") {
  CoreFixture f;
  f.connect(kNode, "node-1");
  const std::uint16_t open_topic = f.register_topic(kNode, "open/a", 1);

  CoreConfig next = default_config();
  next.acl = std::vector<AclRule>{AclRule{"node-*", {"sensors/%c/#"}, {}}};
  next.allowed_clients = std::unordered_set<std::string>{"node-1"};
  CHECK(logged(f.reconfigure(next), "configuration reloaded: 1 predefined topic(s), 1 ACL rule(s), 1 allowed client(s)"));

  // PUBLISH on a topic registered before the reload: the ACL is checked at PUBLISH too.
  f.feed(kNode, publish_msg(sn::QoS::qos1, sn::TopicIdType::normal, open_topic, 2, "x"));
  CHECK(f.upstream<UpstreamPublish>().empty());
  CHECK(only<sn::PubAck>(f, kNode).return_code == sn::ReturnCode::not_supported);
  f.feed(kNode, sn::Register{0, 3, "sensors/node-1/t"});
  CHECK(only<sn::RegAck>(f, kNode).return_code == sn::ReturnCode::accepted);
  CHECK(f.sessions() == 1);

  // A client the new allow-list does not name is refused at its CONNECT.
  const sn::Peer other = udp(5001);
  f.feed(other, connect_msg("node-2"));
  CHECK(only<sn::ConnAck>(f, other).return_code == sn::ReturnCode::not_supported);
  CHECK(f.upstream<UpstreamConnect>().empty());

  // Back to no ACL and no allow-list.
  f.reconfigure(default_config());
  f.feed(kNode, publish_msg(sn::QoS::qos1, sn::TopicIdType::normal, open_topic, 4, "y"));
  CHECK(f.upstream<UpstreamPublish>().size() == 1);
  f.feed(other, connect_msg("node-2"));
  CHECK(f.upstream<UpstreamConnect>().size() == 1);
}

TEST_CASE("core reload: stats_interval: the next round one new interval from the reload, none "
          "after 0, and the gateway's own connection opened when statistics first need it") {
  CoreConfig config = default_config();
  config.qos_minus_one = false;
  CoreFixture f(config);
  CHECK(f.started().empty());  // nothing needs the gateway's own connection yet

  CoreConfig next = config;
  next.stats_interval = 10s;
  f.advance(3s);
  f.reconfigure(next);
  REQUIRE(f.upstream<UpstreamConnect>().size() == 1);
  CHECK(f.upstream<UpstreamConnect>().front().conn == kQosMinusOneConn);
  f.qos_minus_one_up();
  CHECK(f.advance(9s).empty());
  f.advance(1s);
  CHECK(!f.upstream<UpstreamPublish>().empty());

  next.stats_interval = 30s;
  f.reconfigure(next);
  f.advance(10s);
  CHECK(f.upstream<UpstreamPublish>().empty());  // the 10 s round was void
  f.advance(20s);
  CHECK(!f.upstream<UpstreamPublish>().empty());

  next.stats_interval = 0s;
  f.reconfigure(next);
  f.advance(120s);
  CHECK(f.upstream<UpstreamPublish>().empty());
  CHECK(!f.core().next_deadline().has_value());
}

TEST_CASE("core reload: the log level applies to the next message") {
  CoreFixture f;  // info
  const sn::Bytes garbage{0x02, 0xFF};
  const auto debug_logged = [&] {
    return std::any_of(f.last().begin(), f.last().end(), [](const Action& a) {
      const auto* log = std::get_if<Log>(&a);
      return log != nullptr && log->level == LogLevel::debug;
    });
  };
  f.feed_bytes(udp(5002), garbage);
  CHECK_FALSE(debug_logged());
  CoreConfig next = default_config();
  next.log_level = LogLevel::debug;
  f.reconfigure(next);
  f.feed_bytes(udp(5002), garbage);
  CHECK(debug_logged());

  next.log_level = LogLevel::warn;
  f.reconfigure(next);
  f.feed(kNode, connect_msg("quiet"));
  f.event(UpstreamConnected{f.connect_conn()});
  CHECK(only<sn::ConnAck>(f, kNode).return_code == sn::ReturnCode::accepted);
  CHECK_FALSE(logged(f.last(), "client quiet connected"));
  next.log_level = LogLevel::info;
  f.reconfigure(next);
  f.feed(kNode, sn::Disconnect{});
  CHECK(logged(f.last(), "client quiet disconnected"));
}
