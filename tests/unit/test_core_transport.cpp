// The gateway core when a transport loses its medium (a serial device unplugged): its clients
// are lost and their wills fire; clients on other transports are untouched.

#include <doctest/doctest.h>

#include "core_fixture.hpp"

using namespace core_test;  // NOLINT(google-build-using-namespace)

TEST_CASE("core: a transport going down loses its clients - wills fire - other transports unaffected") {
  CoreFixture f;
  const auto serial_a = udp(5001, 1);
  const auto serial_b = udp(5002, 1);
  const auto other = udp(5003, 0);
  const ConnId a = f.connect(serial_a, "node-a");
  const ConnId b = f.connect(serial_b, "node-b");
  const ConnId c = f.connect(other, "node-c");
  const auto& lost = f.event(TransportDown{1, "device unplugged"});
  const auto disconnects = f.upstream<UpstreamDisconnect>();
  REQUIRE(disconnects.size() == 2);
  const bool a_then_b =
      show(lost) == show({UpstreamDisconnect{a, true}, UpstreamDisconnect{b, true}});
  const bool b_then_a =
      show(lost) == show({UpstreamDisconnect{b, true}, UpstreamDisconnect{a, true}});
  CHECK((a_then_b || b_then_a));
  CHECK(f.counters().clients_lost == 2);
  CHECK(f.sessions() == 1);
  CHECK(show(f.feed(other, sn::PingReq{})) == show({to(other, sn::PingResp{})}));
  (void)c;
  // When the device is back its clients CONNECT again like new ones.
  f.connect(serial_a, "node-a");
  CHECK(f.sessions() == 2);
}
