// The topic ACL (auth.acl, issue 13 §3): the matching rules on their own, then the core's answers
// to REGISTER, PUBLISH (every topic id type), SUBSCRIBE and wills outside a client's rules.

#include <algorithm>

#include "core_fixture.hpp"

using namespace core_test;  // NOLINT(google-build-using-namespace)

namespace {

// node-* may publish under sensors/<its id>/ and subscribe within commands/<its id>/#; "admin"
// may do anything; the predefined topic (sensors/temperature) belongs to nobody but admin.
std::vector<AclRule> rules() {
  return {AclRule{"node-*", {"sensors/%c/#"}, {"commands/%c/#", "broadcast/+"}},
          AclRule{"admin", {"#"}, {"#"}},
          AclRule{"short-?", {"ab"}, {"ab"}}};
}

CoreConfig acl_config() {
  CoreConfig config = default_config();
  config.acl = rules();
  return config;
}

bool logged(const Actions& actions, const std::string& text) {
  return std::any_of(actions.begin(), actions.end(), [&](const Action& action) {
    const auto* log = std::get_if<Log>(&action);
    return log != nullptr && log->level == LogLevel::info && log->text == text;
  });
}

}  // namespace

TEST_CASE("acl: client patterns are ClientIds with * and ?") {
  CHECK(client_pattern_matches("node-1", "node-1"));
  CHECK_FALSE(client_pattern_matches("node-1", "node-10"));
  CHECK(client_pattern_matches("node-*", "node-"));
  CHECK(client_pattern_matches("node-*", "node-17"));
  CHECK(client_pattern_matches("*-17", "node-17"));
  CHECK(client_pattern_matches("n*e-*7", "node-17"));
  CHECK(client_pattern_matches("node-??", "node-17"));
  CHECK_FALSE(client_pattern_matches("node-??", "node-1"));
  CHECK(client_pattern_matches("*", ""));
  CHECK_FALSE(client_pattern_matches("node-*", "gateway"));
  // No exponential backtracking on a hostile id.
  CHECK_FALSE(client_pattern_matches("*a*a*a*a*a*a*a*a*b", std::string(200, 'a')));
}

TEST_CASE("acl: MQTT 3.1.1 §4.7 a subscription is allowed only within an allowed filter") {
  CHECK(filter_covers("a/b", "a/b"));
  CHECK_FALSE(filter_covers("a/b", "a/+"));
  CHECK(filter_covers("a/+", "a/b"));
  CHECK(filter_covers("a/+", "a/+"));
  CHECK_FALSE(filter_covers("a/+", "a/#"));
  CHECK_FALSE(filter_covers("a/+", "a/b/c"));
  CHECK(filter_covers("a/#", "a"));
  CHECK(filter_covers("a/#", "a/b/c"));
  CHECK(filter_covers("a/#", "a/+/#"));
  CHECK_FALSE(filter_covers("a/#", "#"));
  CHECK_FALSE(filter_covers("a/#", "b"));
  CHECK(filter_covers("#", "#"));
  CHECK(filter_covers("+/b", "x/b"));
  CHECK_FALSE(filter_covers("+/b", "x/c"));
  CHECK_FALSE(filter_covers("a", "a/b"));
  CHECK_FALSE(filter_covers("a/b", "a"));
}

TEST_CASE("acl: %c is the ClientId, and an id with + # or / takes nothing from a %c filter") {
  const Acl acl(rules());
  CHECK(acl.may_publish("node-1", "sensors/node-1/t"));
  CHECK(acl.may_publish("node-1", "sensors/node-1"));
  CHECK_FALSE(acl.may_publish("node-1", "sensors/node-2/t"));
  CHECK(acl.may_subscribe("node-1", "commands/node-1/#"));
  CHECK_FALSE(acl.may_subscribe("node-1", "commands/#"));
  CHECK(acl.may_subscribe("node-1", "broadcast/all"));
  CHECK(acl.may_subscribe("node-1", "broadcast/+"));
  CHECK_FALSE(acl.may_subscribe("node-1", "broadcast/#"));
  // "sensors/%c/#" for the id "node-#" would be "sensors/node-#/#": refused, not widened.
  CHECK_FALSE(acl.may_publish("node-#", "sensors/node-#/t"));
  CHECK_FALSE(acl.may_publish("node-a/b", "sensors/node-a/b/t"));
  CHECK_FALSE(acl.may_subscribe("node-+", "commands/x/y"));
  // The id-independent rule still applies to such an id.
  CHECK(acl.may_subscribe("node-+", "broadcast/x"));
  // No rule for a client: nothing.
  CHECK_FALSE(acl.may_publish("stranger", "sensors/stranger/t"));
  CHECK(acl.may_publish("admin", "anything/at/all"));
}

TEST_CASE("core: acl §6.5 a REGISTER outside the client's rules gets REGACK 0x03") {
  CoreFixture f(acl_config());
  const auto c = udp(5001);
  f.connect(c, "node-1");
  CHECK(f.register_topic(c, "sensors/node-1/t", 1) != 0);
  const auto& denied = f.feed(c, sn::Register{0, 2, "sensors/node-2/t"});
  CHECK(f.sent_to(c) == std::vector<sn::Message>{sn::RegAck{0, 2, sn::ReturnCode::not_supported}});
  CHECK(logged(denied, "ACL: client node-1 may not register sensors/node-2/t"));
  CHECK(f.counters().acl_denied == 1);
}

TEST_CASE("core: acl §6.6 a PUBLISH outside the client's rules gets PUBACK 0x03 at every QoS and "
          "topic id type, and nothing goes upstream") {
  CoreConfig config = acl_config();
  config.predefined.push_back(PredefinedTopic{2, "sensors/node-1/predef"});
  CoreFixture f(config);
  const auto c = udp(5001);
  f.connect(c, "node-1");
  // The predefined topic 1 (sensors/temperature) is not node-1's.
  for (const auto qos : {sn::QoS::qos0, sn::QoS::qos1, sn::QoS::qos2}) {
    CAPTURE(describe(qos));
    const auto& actions =
        f.feed(c, publish_msg(qos, sn::TopicIdType::predefined, kPredefinedId, 7, "x"));
    CHECK(show(actions).find("UpstreamPublish") == std::string::npos);
    CHECK(f.sent_to(c) ==
          std::vector<sn::Message>{sn::PubAck{kPredefinedId, 7, sn::ReturnCode::not_supported}});
    CHECK(logged(actions, "ACL: client node-1 may not publish to sensors/temperature"));
  }
  // A short topic name ("ab") belongs to short-? only.
  const std::uint16_t ab = ('a' << 8) | 'b';
  f.feed(c, publish_msg(sn::QoS::qos1, sn::TopicIdType::short_name, ab, 8, "x"));
  CHECK(f.sent_to(c) == std::vector<sn::Message>{sn::PubAck{ab, 8, sn::ReturnCode::not_supported}});
  CHECK(f.counters().acl_denied == 4);
  // Its own predefined topic goes through.
  const auto& allowed = f.feed(c, publish_msg(sn::QoS::qos1, sn::TopicIdType::predefined, 2, 9, "ok"));
  const auto published = f.upstream<UpstreamPublish>();
  REQUIRE(published.size() == 1);
  CHECK(published.front().topic == "sensors/node-1/predef");
  CHECK_FALSE(logged(allowed, "ACL: client node-1 may not publish to sensors/node-1/predef"));

  const auto s = udp(5002);
  f.connect(s, "short-1");
  f.feed(s, publish_msg(sn::QoS::qos1, sn::TopicIdType::short_name, ab, 10, "ok"));
  CHECK(f.upstream<UpstreamPublish>().size() == 1);
  CHECK(f.counters().acl_denied == 4);
}

TEST_CASE("core: acl §6.9 a SUBSCRIBE outside the client's rules gets SUBACK 0x03, by name, "
          "predefined id or short name") {
  CoreFixture f(acl_config());
  const auto c = udp(5001);
  f.connect(c, "node-1");
  const sn::Message rejected = sn::SubAck{sn::QoS::qos0, 0, 3, sn::ReturnCode::not_supported};
  f.feed(c, subscribe_name(3, "commands/#"));
  CHECK(f.sent_to(c) == std::vector<sn::Message>{rejected});
  f.feed(c, subscribe_id(3, sn::TopicIdType::predefined, kPredefinedId));
  CHECK(f.sent_to(c) == std::vector<sn::Message>{rejected});
  f.feed(c, subscribe_id(3, sn::TopicIdType::short_name, ('a' << 8) | 'b'));
  CHECK(f.sent_to(c) == std::vector<sn::Message>{rejected});
  CHECK(f.upstream<UpstreamSubscribe>().empty());
  CHECK(f.counters().acl_denied == 3);
  // Within its rules the subscription goes to the broker.
  f.feed(c, subscribe_name(4, "commands/node-1/+"));
  const auto subscribes = f.upstream<UpstreamSubscribe>();
  REQUIRE(subscribes.size() == 1);
  CHECK(subscribes.front().filter == "commands/node-1/+");
}

TEST_CASE("core: acl §6.3 a will topic outside the client's rules refuses the CONNECT with 0x03, "
          "and WILLTOPICUPD gets WILLTOPICRESP 0x03") {
  CoreFixture f(acl_config());
  const auto c = udp(5001);
  f.feed(c, connect_msg("node-1", 60, true, true));
  CHECK(f.sent_to(c) == std::vector<sn::Message>{sn::WillTopicReq{}});
  const auto& refused = f.feed(c, sn::WillTopic{sn::QoS::qos1, false, "alarms/all"});
  CHECK(f.sent_to(c) == std::vector<sn::Message>{sn::ConnAck{sn::ReturnCode::not_supported}});
  CHECK(logged(refused, "ACL: client node-1 may not set a will on alarms/all"));
  CHECK(f.upstream<UpstreamConnect>().empty());
  CHECK(f.sessions() == 0);

  f.connect(c, "node-1");
  f.feed(c, sn::WillTopicUpd{sn::QoS::qos1, false, "alarms/all"});
  CHECK(f.sent_to(c) == std::vector<sn::Message>{sn::WillTopicResp{sn::ReturnCode::not_supported}});
  CHECK(f.counters().acl_denied == 2);
}

TEST_CASE("core: acl absent: everything allowed, nothing counted") {
  CoreFixture f;
  const auto c = udp(5001);
  f.connect(c, "anyone");
  CHECK(f.register_topic(c, "any/topic", 1) != 0);
  f.feed(c, subscribe_name(2, "#"));
  CHECK(f.upstream<UpstreamSubscribe>().size() == 1);
  CHECK(f.counters().acl_denied == 0);
}
