// The core: who may forward (§5.5), CoreConfig::forwarders_allowed. An encapsulated frame from a
// peer outside the list is dropped without an answer; the same peer's own (unwrapped) frames are
// unaffected, and everyone may forward when the list is absent.

#include <doctest/doctest.h>

#include <array>
#include <string>

#include "core_fixture.hpp"

using namespace core_test;  // NOLINT(google-build-using-namespace)

namespace {

const sn::Bytes kNode{0x0A};

sn::Peer udp6(std::uint16_t port, std::array<std::uint8_t, 16> ip, std::uint16_t transport = 0) {
  std::array<std::uint8_t, 22> address{};
  for (std::size_t i = 0; i < 16; ++i) address[i] = ip[i];
  address[16] = static_cast<std::uint8_t>(port >> 8);
  address[17] = static_cast<std::uint8_t>(port & 0xFFU);
  return sn::Peer::make(transport, sn::PeerKind::ipv6, address);
}

sn::Peer serial_line(std::uint16_t transport) {
  return sn::Peer::make(transport, sn::PeerKind::serial, {});
}

CoreConfig allowing(std::vector<AllowedForwarder> rules) {
  CoreConfig config = default_config();
  config.log_level = LogLevel::debug;
  config.forwarders_allowed = std::move(rules);
  return config;
}

AllowedForwarder ip(sn::Bytes octets, std::optional<std::uint16_t> port = std::nullopt) {
  return AllowedForwarder{std::nullopt, std::move(octets), port};
}

AllowedForwarder transport(std::uint16_t id) { return AllowedForwarder{id, {}, std::nullopt}; }

// Whether the core answers an encapsulated SEARCHGW from `forwarder` (GWINFO wrapped back).
bool answers(CoreFixture& f, const sn::Peer& forwarder) {
  const auto& actions = f.feed_forwarded(forwarder, kNode, sn::SearchGw{0});
  return show(actions) == show({to_node(forwarder, kNode, sn::GwInfo{7, {}})});
}

bool logged(const Actions& actions, const std::string& text) {
  for (const auto& action : actions) {
    if (const auto* log = std::get_if<Log>(&action); log && log->text.find(text) != std::string::npos) {
      return true;
    }
  }
  return false;
}

}  // namespace

TEST_CASE("core: §5.5 without forwarders.allowed every peer may forward") {
  CoreFixture f;
  CHECK(answers(f, udp(7000)));
  CHECK(answers(f, serial_line(1)));
}

TEST_CASE("core: §5.5 an encapsulated frame from a peer not allowed is dropped - logged at debug") {
  CoreFixture f(allowing({ip({127, 0, 0, 1}, 7000)}));
  CHECK(answers(f, udp(7000)));

  const auto& actions = f.feed_forwarded(udp(7001), kNode, connect_msg("node-a"));
  CHECK(show(actions) == "(nothing)\n");
  CHECK(logged(actions, "dropped encapsulated frame from udp#0 127.0.0.1:7001"));
  CHECK(logged(actions, "not in forwarders.allowed"));
  CHECK(f.sessions() == 0);

  // The same peer's own frames are not forwarding: they are served as usual.
  CHECK(show(f.feed(udp(7001), sn::SearchGw{0})) == show({to(udp(7001), sn::GwInfo{7, {}})}));
}

TEST_CASE("core: §5.5 an address without a port allows every port of that address") {
  CoreFixture f(allowing({ip({127, 0, 0, 1})}));
  CHECK(answers(f, udp(7000)));
  CHECK(answers(f, udp(9)));
  const auto other = sn::Peer::make(0, sn::PeerKind::ipv4,
                                    std::array<std::uint8_t, 6>{127, 0, 0, 2, 0x1B, 0x58});
  CHECK_FALSE(answers(f, other));
}

TEST_CASE("core: §5.5 an IPv4 rule matches the v4-mapped IPv6 peer of a dual-stack socket") {
  const std::array<std::uint8_t, 16> mapped{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 127, 0, 0, 1};
  const std::array<std::uint8_t, 16> loopback6{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  CoreFixture f(allowing({ip({127, 0, 0, 1}, 7000)}));
  CHECK(answers(f, udp6(7000, mapped)));
  CHECK_FALSE(answers(f, udp6(7001, mapped)));
  CHECK_FALSE(answers(f, udp6(7000, loopback6)));
}

TEST_CASE("core: §5.5 a transport rule allows every peer of that transport, and only it") {
  CoreFixture f(allowing({transport(1)}));
  CHECK(answers(f, serial_line(1)));
  CHECK(answers(f, udp(7000, 1)));
  CHECK_FALSE(answers(f, serial_line(2)));
  CHECK_FALSE(answers(f, udp(7000, 0)));
}

TEST_CASE("core: §5.5 an address rule never matches a serial or radio forwarder") {
  CoreFixture f(allowing({ip({127, 0, 0, 1})}));
  CHECK_FALSE(answers(f, serial_line(0)));
}

TEST_CASE("core: §5.5 an empty forwarders.allowed lets no one forward") {
  CoreFixture f(allowing({}));
  CHECK_FALSE(answers(f, udp(7000)));
  CHECK_FALSE(answers(f, serial_line(0)));
  CHECK(show(f.feed(udp(7000), sn::SearchGw{0})) == show({to(udp(7000), sn::GwInfo{7, {}})}));
}

TEST_CASE("core: §5.5 a dropped forwarded CONNECT leaves no session and sends nothing upstream") {
  CoreFixture f(allowing({transport(3)}));
  CHECK(show(f.feed_forwarded(udp(7000), kNode, connect_msg("node-a"))) == "(nothing)\n");
  CHECK(f.sessions() == 0);
  f.feed_forwarded(serial_line(3), kNode, connect_msg("node-a"));
  CHECK(show(f.last()) ==
        show({UpstreamConnect{f.connect_conn(), "sn-node-a", 60, true, std::nullopt}}));
}
