// Issue 13 §3, end to end: a CONNECT flood from 1,000 source ports of one loopback address
// (127.0.0.9, as spoofed senders would look) against the real gateway with its default limits,
// while a real client on 127.0.0.1 publishes QoS 1. The flood is cut at its address; the real
// client is served; the log says so in a few lines, not thousands.

#include <doctest/doctest.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <string>
#include <vector>

#include "sn_client.hpp"
#include "sn_protocol/codec.hpp"
#include "support/broker.hpp"
#include "support/gateway_process.hpp"
#include "support/udp_rig.hpp"

using namespace std::chrono_literals;

TEST_CASE("gateway: flood - 5,000 CONNECTs from 1,000 source ports of one address are cut at the "
          "address, and a real client keeps publishing QoS 1") {
  test_support::UdpRig rig;
  test_support::TestSubscriber sub(rig.broker.uri(), "real/#", 1);
  auto node = rig.client();
  REQUIRE(node.connect("real-node", 60, true) == sn::ReturnCode::accepted);
  const auto topic = node.register_topic("real/t");
  REQUIRE(topic.has_value());

  // 1,000 sockets on 127.0.0.9, five CONNECTs each with their own ClientIds; none ever answers.
  sockaddr_in gateway{};
  gateway.sin_family = AF_INET;
  gateway.sin_port = htons(rig.gateway.port());
  gateway.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::vector<int> sockets;
  for (int i = 0; i < 1000; ++i) {
    const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd >= 0);
    sockaddr_in local{};
    local.sin_family = AF_INET;
    local.sin_addr.s_addr = htonl(0x7F000009);  // 127.0.0.9
    REQUIRE(::bind(fd, reinterpret_cast<const sockaddr*>(&local), sizeof local) == 0);
    sockets.push_back(fd);
  }
  int published = 0;
  for (int round = 0; round < 5; ++round) {
    for (std::size_t i = 0; i < sockets.size(); ++i) {
      sn::Connect connect;
      connect.clean_session = true;
      connect.duration_s = 600;
      connect.client_id = "spoof-" + std::to_string(round) + "-" + std::to_string(i);
      const auto frame = sn::encode(sn::Message{connect});
      ::sendto(sockets[i], frame.data(), frame.size(), 0,
               reinterpret_cast<const sockaddr*>(&gateway), sizeof gateway);
    }
    // The real client, between the waves.
    REQUIRE(node.publish(sn::TopicIdType::normal, *topic, {'r'}, sn::QoS::qos1, false, 5000ms));
    ++published;
  }
  for (const int fd : sockets) ::close(fd);
  CHECK(sub.wait_for(static_cast<std::size_t>(published), 5s));

  rig.gateway.signal(SIGUSR1);
  REQUIRE(rig.gateway.wait_for_log("stats:", 5s));
  const std::string log = rig.gateway.log();
  const auto counter = [&](const std::string& name) {
    const auto at = log.rfind(name + "=");
    REQUIRE(at != std::string::npos);
    return std::stoull(log.substr(at + name.size() + 1));
  };
  // The burst (1,000) and the refill of a second or so got in; most of the 5,000 did not.
  const auto limited = counter("drops/rate_limited");
  CHECK(limited >= 3000);
  CHECK(limited <= 4000);
  CHECK(counter("clients/connecting") + counter("clients/active") <= 1000 + 1000);
  // A few lines about it (one a second), not one per frame.
  std::size_t lines = 0;
  for (auto at = log.find("dropped CONNECT/SEARCHGW from udp#0 127.0.0.9:"); at != std::string::npos;
       at = log.find("dropped CONNECT/SEARCHGW from udp#0 127.0.0.9:", at + 1)) {
    ++lines;
  }
  CHECK(lines >= 1);
  CHECK(lines <= 10);
}
