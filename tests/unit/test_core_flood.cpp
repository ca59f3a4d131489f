// Flood limits (issue 13 §3): CONNECT and SEARCHGW per source address, clients between CONNECT
// and CONNACK, and log lines a flood repeats. Spoofed senders are simulated by many source
// ports of one address; nothing here answers for them.

#include <algorithm>
#include <string>

#include "core_fixture.hpp"

using namespace core_test;  // NOLINT(google-build-using-namespace)

namespace {

std::vector<std::string> log_lines(const Actions& actions) {
  std::vector<std::string> lines;
  for (const Action& action : actions) {
    if (const auto* log = std::get_if<Log>(&action)) lines.push_back(log->text);
  }
  return lines;
}

sn::Peer address(std::uint8_t last_octet, std::uint16_t port) {
  const std::array<std::uint8_t, 6> bytes{10, 0, 0, last_octet, static_cast<std::uint8_t>(port >> 8),
                                          static_cast<std::uint8_t>(port & 0xFFU)};
  return sn::Peer::make(0, sn::PeerKind::ipv4, bytes);
}

}  // namespace

TEST_CASE("core: flood - CONNECT and SEARCHGW beyond an address's burst are dropped unanswered, "
          "and its allowance refills at the configured rate") {
  CoreConfig config = default_config();
  config.connect_rate_per_address = 10;
  config.connect_burst_per_address = 5;
  CoreFixture f(config);
  // Five from five source ports of one address are taken (SEARCHGW counts too).
  for (std::uint16_t port = 1; port <= 4; ++port) {
    f.feed(address(1, port), connect_msg("spoof-" + std::to_string(port)));
    CHECK(f.upstream<UpstreamConnect>().size() == 1);
  }
  f.feed(address(1, 5), sn::SearchGw{1});
  CHECK(f.sent_to(address(1, 5)) == std::vector<sn::Message>{sn::GwInfo{7, {}}});
  // The sixth is dropped: no session, no upstream connection, no answer.
  const auto& dropped = f.feed(address(1, 6), connect_msg("spoof-6"));
  CHECK(show(dropped).find("UpstreamConnect") == std::string::npos);
  CHECK(f.sent_to(address(1, 6)).empty());
  CHECK(f.counters().rate_limited == 1);
  CHECK(f.sessions() == 4);
  f.feed(address(1, 7), sn::SearchGw{1});
  CHECK(f.sent_to(address(1, 7)).empty());
  CHECK(f.counters().rate_limited == 2);
  // Another address has its own allowance.
  f.feed(address(2, 1), connect_msg("real-node"));
  CHECK(f.upstream<UpstreamConnect>().size() == 1);
  // 100 ms at 10 a second: one more.
  f.advance(100ms);
  f.feed(address(1, 8), connect_msg("spoof-8"));
  CHECK(f.upstream<UpstreamConnect>().size() == 1);
  f.feed(address(1, 9), connect_msg("spoof-9"));
  CHECK(f.upstream<UpstreamConnect>().empty());
  CHECK(f.counters().rate_limited == 3);
}

TEST_CASE("core: flood - a serial line is not rate limited, and 0 turns the limit off") {
  CoreConfig config = default_config();
  config.connect_rate_per_address = 1;
  config.connect_burst_per_address = 1;
  CoreFixture f(config);
  const auto line = sn::Peer::make(1, sn::PeerKind::serial, {});
  for (int i = 0; i < 5; ++i) {
    f.feed(line, sn::SearchGw{1});
    CHECK(f.sent_to(line).size() == 1);
  }
  config.connect_rate_per_address = 0;
  CoreFixture unlimited(config);
  for (std::uint16_t port = 1; port <= 50; ++port) {
    unlimited.feed(address(1, port), sn::SearchGw{1});
    CHECK(unlimited.sent_to(address(1, port)).size() == 1);
  }
  CHECK(unlimited.counters().rate_limited == 0);
}

TEST_CASE("core: flood - at most max_connecting clients between CONNECT and CONNACK, the rest get "
          "CONNACK congestion") {
  CoreConfig config = default_config();
  config.max_connecting = 2;
  CoreFixture f(config);
  const auto a = udp(5001);
  const auto b = udp(5002);
  const auto c = udp(5003);
  f.feed(a, connect_msg("node-a"));
  const ConnId conn_a = f.connect_conn();
  f.feed(b, connect_msg("node-b", 60, true, true));  // in the will handshake: counts too
  CHECK(f.sent_to(b) == std::vector<sn::Message>{sn::WillTopicReq{}});
  f.feed(c, connect_msg("node-c"));
  CHECK(f.sent_to(c) == std::vector<sn::Message>{sn::ConnAck{sn::ReturnCode::congestion}});
  CHECK(f.upstream<UpstreamConnect>().empty());
  CHECK(f.counters().connecting_full == 1);
  // A CONNECT repeated by a client already connecting does not count twice.
  f.feed(b, connect_msg("node-b", 60, true, true));
  CHECK(f.sent_to(b) == std::vector<sn::Message>{sn::WillTopicReq{}});
  // Once node-a is connected, there is room again.
  f.event(UpstreamConnected{conn_a});
  f.feed(c, connect_msg("node-c"));
  CHECK(f.upstream<UpstreamConnect>().size() == 1);
  CHECK(f.counters().connecting_full == 1);
}

TEST_CASE("core: flood - a refusal repeated by a flood is logged once a second, the next line "
          "counting the ones left out") {
  CoreConfig config = default_config();
  config.max_clients = 1;
  config.connect_rate_per_address = 0;
  CoreFixture f(config);
  f.connect(udp(5000), "node-0");
  std::vector<std::string> lines;
  for (std::uint16_t port = 1; port <= 100; ++port) {
    const auto& actions = f.feed(udp(static_cast<std::uint16_t>(5000 + port)),
                                 connect_msg("flood-" + std::to_string(port)));
    for (auto& line : log_lines(actions)) lines.push_back(line);
  }
  REQUIRE(lines.size() == 1);
  CHECK(lines.front().find("refused client flood-1 from") != std::string::npos);
  CHECK(lines.front().find("max_clients reached") != std::string::npos);
  CHECK(f.counters().log_suppressed == 99);
  f.advance(1000ms);
  const auto next = log_lines(f.feed(udp(6000), connect_msg("flood-late")));
  REQUIRE(next.size() == 1);
  CHECK(next.front().find("refused client flood-late") != std::string::npos);
  CHECK(next.front().find("(and 99 more like it before)") != std::string::npos);
}

TEST_CASE("core: dtls identity - a CONNECT over a proven identity must carry it as its ClientId") {
  CoreFixture f;
  const auto c = udp(5001);
  const auto connect = sn::encode(sn::Message{connect_msg("node-2")});
  f.event(FrameReceived{c, connect, "node-1"});
  CHECK(f.sent_to(c) == std::vector<sn::Message>{sn::ConnAck{sn::ReturnCode::not_supported}});
  CHECK(f.upstream<UpstreamConnect>().empty());
  CHECK(f.counters().identity_mismatch == 1);
  const auto own = sn::encode(sn::Message{connect_msg("node-1")});
  f.event(FrameReceived{c, own, "node-1"});
  CHECK(f.upstream<UpstreamConnect>().size() == 1);
}

TEST_CASE("core: dtls identity - after a new handshake at a client's address, frames of another "
          "identity never act for that client's session") {
  CoreFixture f;
  const auto c = udp(5001);
  const auto as = [&](const std::string& identity, const sn::Message& message) -> const Actions& {
    const auto frame = sn::encode(message);
    return f.event(FrameReceived{c, frame, identity});
  };
  as("node-1", connect_msg("node-1"));
  f.event(UpstreamConnected{f.connect_conn()});
  REQUIRE(f.sent_to(c) == std::vector<sn::Message>{sn::ConnAck{sn::ReturnCode::accepted}});
  // Another identity at the same address and port (its own DTLS session now): nothing it sends
  // reaches node-1's session, the broker or an answer.
  CHECK(show(as("node-2", sn::Register{0, 1, "node-1/secret"})) == show({}));
  CHECK(show(as("node-2", publish_msg(sn::QoS::qos1, sn::TopicIdType::normal, 1, 2, "x"))) ==
        show({}));
  CHECK(show(as("node-2", sn::Disconnect{})) == show({}));
  CHECK(f.counters().identity_mismatch == 3);
  CHECK(f.sessions() == 1);
  // node-1 itself still works.
  as("node-1", sn::Register{0, 3, "node-1/data"});
  const auto answer = f.sent_to(c);
  REQUIRE(answer.size() == 1);
  CHECK(std::holds_alternative<sn::RegAck>(answer.front()));
}

TEST_CASE("core: dtls identity §6.14 - a PINGREQ naming a sleeping client wakes it only from that "
          "client's identity") {
  CoreFixture f;
  const auto c = udp(5001);
  const auto thief = udp(6001);
  const auto connect = sn::encode(sn::Message{connect_msg("node-1")});
  f.event(FrameReceived{c, connect, "node-1"});
  f.event(UpstreamConnected{f.connect_conn()});
  const auto sleep = sn::encode(sn::Message{sn::Disconnect{30}});
  f.event(FrameReceived{c, sleep, "node-1"});
  REQUIRE(f.sent_to(c) == std::vector<sn::Message>{sn::Disconnect{}});
  const auto wake = sn::encode(sn::Message{sn::PingReq{std::string("node-1")}});
  f.event(FrameReceived{thief, wake, "node-2"});
  CHECK(f.sent_to(thief) == std::vector<sn::Message>{sn::Disconnect{}});
  CHECK(f.counters().identity_mismatch == 1);
  // Still asleep at its own address: its own PINGREQ wakes it there (PINGRESP, nothing buffered).
  f.event(FrameReceived{c, wake, "node-1"});
  CHECK(f.sent_to(c) == std::vector<sn::Message>{sn::PingResp{}});
}

TEST_CASE("core: dtls - a client whose DTLS session ended is lost and its will fires, a client "
          "already gone is left alone") {
  CoreConfig config = default_config();
  CoreFixture f(config);
  const auto c = udp(5001);
  const ConnId conn = f.connect(c, "node-1", 60);
  CHECK(show(f.event(PeerGone{udp(5999)})) == show({}));  // nobody there
  f.event(PeerGone{c});
  CHECK(f.counters().clients_lost == 1);
  // Its upstream connection drops without DISCONNECT: the broker publishes its will.
  const auto closed = f.upstream<UpstreamDisconnect>();
  REQUIRE(closed.size() == 1);
  CHECK(closed.front().conn == conn);
  CHECK(closed.front().fire_will);
  CHECK(f.sessions() == 0);  // CleanSession=true: nothing is kept of it
  // Gone already: a second report changes nothing.
  CHECK(show(f.event(PeerGone{c})) == show({}));
  CHECK(f.counters().clients_lost == 1);
}
