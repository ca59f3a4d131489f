// The gateway core's statistics: named counters, clients by state, published upstream every
// stats_interval while the gateway's connection is up.

#include <doctest/doctest.h>

#include <map>
#include <string>

#include "core_fixture.hpp"

using namespace core_test;  // NOLINT(google-build-using-namespace)

namespace {

std::map<std::string, std::uint64_t> stats_of(Core& core) {
  std::map<std::string, std::uint64_t> out;
  for (const auto& [name, value] : core.stats()) out[name] = value;
  return out;
}

}  // namespace

TEST_CASE("core stats: clients by state and messages by QoS") {
  CoreFixture f;
  f.qos_minus_one_up();
  const auto c1 = udp(5001);
  const auto c2 = udp(5002);
  f.connect(c1, "node-1");
  f.connect(c2, "node-2");
  f.feed(c2, sn::Disconnect{60});  // asleep
  f.feed(c1, publish_msg(sn::QoS::qos0, sn::TopicIdType::short_name, sn::short_topic_id('a', 'b'),
                         0, "x"));
  f.feed_bytes(udp(5003), {0x02});  // malformed
  f.feed(udp(5004), publish_msg(sn::QoS::minus_one, sn::TopicIdType::predefined, kPredefinedId, 0,
                                "m"));
  const auto s = stats_of(f.core());
  CHECK(s.at("clients/active") == 1);
  CHECK(s.at("clients/asleep") == 1);
  CHECK(s.at("messages/in/qos0") == 1);
  CHECK(s.at("messages/in/qos-1") == 1);
  CHECK(s.at("drops/malformed") == 1);
  CHECK(s.at("upstream/connected") == 1);
}

TEST_CASE("core stats: published retained under stats_prefix every stats_interval while up") {
  CoreConfig config = default_config();
  config.stats_interval = 30s;
  config.stats_prefix = "$SYS/mqttsn/gw7";
  config.qos_minus_one = false;
  CoreFixture f(config);
  // The gateway's own connection is opened for the statistics alone.
  REQUIRE(f.started().size() == 1);
  CHECK(show(f.advance(30s)) == show({}));  // not up yet: nothing, and no error
  f.qos_minus_one_up();
  f.advance(30s);
  const auto published = f.upstream<UpstreamPublish>();
  REQUIRE(published.size() == f.core().stats().size());
  bool found = false;
  for (const auto& p : published) {
    CHECK(p.conn == kQosMinusOneConn);
    CHECK(p.qos == 0);
    CHECK(p.retain);
    CHECK(p.topic.rfind("$SYS/mqttsn/gw7/", 0) == 0);
    if (p.topic == "$SYS/mqttsn/gw7/upstream/connected") {
      found = true;
      CHECK(p.payload == bytes("1"));
    }
  }
  CHECK(found);
  f.advance(29s);
  CHECK(f.upstream<UpstreamPublish>().empty());
  f.advance(1s);
  CHECK(f.upstream<UpstreamPublish>().size() == published.size());
}
