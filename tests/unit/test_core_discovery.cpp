// The gateway core, advertisement and discovery (§6.1): ADVERTISE every T_ADV only while the
// gateway is connected to the broker, GWINFO for SEARCHGW to the searcher and by broadcast.

#include <doctest/doctest.h>

#include "core_fixture.hpp"

using namespace core_test;  // NOLINT(google-build-using-namespace)

namespace {

Broadcast advertise_of(std::uint8_t gw_id, std::uint16_t duration_s) {
  return Broadcast{std::nullopt, sn::encode(sn::Message{sn::Advertise{gw_id, duration_s}}), 0};
}

CoreConfig advertising(Time interval) {
  CoreConfig config = default_config();
  config.advertise_interval = interval;
  return config;
}

}  // namespace

TEST_CASE("core: §6.1 ADVERTISE once the broker is reachable, then every T_ADV") {
  CoreFixture f(advertising(900s));
  CHECK(show(f.advance(2000s)) == show({}));  // not connected to a server: silent
  CHECK(show(f.event(UpstreamConnected{kQosMinusOneConn})) == show({advertise_of(7, 900)}));
  CHECK(show(f.advance(899s)) == show({}));
  CHECK(show(f.advance(1s)) == show({advertise_of(7, 900)}));
  CHECK(show(f.advance(1800s)) == show({advertise_of(7, 900), advertise_of(7, 900)}));
  CHECK(f.counters().advertise_sent == 4);
}

TEST_CASE("core: §6.1 no ADVERTISE while the broker is unreachable - again once it is back") {
  CoreConfig config = advertising(60s);
  config.retry_interval = 5s;
  CoreFixture f(config);
  f.event(UpstreamConnected{kQosMinusOneConn});
  f.event(UpstreamConnectionLost{kQosMinusOneConn, "broker gone"});
  // Only reconnection attempts, every T_retry, and no ADVERTISE in between.
  f.advance(60s);
  CHECK(f.upstream<UpstreamConnect>().size() == 1);
  CHECK(f.upstream<Broadcast>().empty());
  CHECK(show(f.event(UpstreamConnectFailed{kQosMinusOneConn, false, "refused"})) == show({}));
  f.advance(5s);
  CHECK(show(f.event(UpstreamConnected{kQosMinusOneConn})) == show({advertise_of(7, 60)}));
  CHECK(show(f.advance(60s)) == show({advertise_of(7, 60)}));
}

TEST_CASE("core: §6.1 ADVERTISE needs the gateway connection even with QoS -1 disabled") {
  CoreConfig config = advertising(30s);
  config.qos_minus_one = false;
  CoreFixture f(config);
  REQUIRE(f.started().size() == 1);
  CHECK(std::holds_alternative<UpstreamConnect>(f.started().front()));
  CHECK(show(f.event(UpstreamConnected{kQosMinusOneConn})) == show({advertise_of(7, 30)}));
  // QoS -1 stays refused.
  CHECK(show(f.feed(udp(6001), publish_msg(sn::QoS::minus_one, sn::TopicIdType::predefined,
                                           kPredefinedId, 0, "x"))) == show({}));
}

TEST_CASE("core: §6.1 T_ADV above 65535 s is announced as 65535") {
  CoreFixture f(advertising(100000s));
  CHECK(show(f.event(UpstreamConnected{kQosMinusOneConn})) == show({advertise_of(7, 0xFFFF)}));
}

TEST_CASE("core: §6.1 SEARCHGW -> GWINFO to the searcher and broadcast with the same radius") {
  CoreConfig config = default_config();
  config.gwinfo_broadcast = true;
  CoreFixture f(config);
  const auto c = udp(5001, 2);
  CHECK(show(f.feed(c, sn::SearchGw{3})) ==
        show({to(c, sn::GwInfo{7, {}}), Broadcast{2, sn::encode(sn::Message{sn::GwInfo{7, {}}}), 3}}));
  CHECK(f.counters().gwinfo_sent == 1);
}

TEST_CASE("core: §6.1 without gwinfo_broadcast GWINFO goes to the searcher only") {
  CoreFixture f;
  const auto c = udp(5001);
  CHECK(show(f.feed(c, sn::SearchGw{1})) == show({to(c, sn::GwInfo{7, {}})}));
  CHECK(show(f.advance(3600s)) == show({}));  // advertise_interval 0: never ADVERTISE
}
