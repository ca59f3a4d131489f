// End to end, gateway advertisement and discovery (§6.1) over real UDP multicast. Multicast leaves
// loopback's unicast addresses, so each test runs in a network namespace of its own: the test case
// starts this executable again under `unshare -n` (needs root), brings that namespace's loopback
// up, and there runs mosquitto, the gateway and a multicast listener. The IPv6 case also links two
// interfaces of that namespace by a veth pair. Nothing reaches the host's networks.

#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <doctest/doctest.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <optional>
#include <regex>
#include <string>
#include <thread>

#include "sn_client.hpp"
#include "support/broker.hpp"
#include "support/gateway_process.hpp"

using namespace std::chrono_literals;
using sn_tools::SnUdpClient;
using test_support::GatewayOptions;
using test_support::GatewayProcess;
using test_support::Mosquitto;

namespace {

constexpr const char* kInNamespace = "MQTTSN_TEST_IN_NETNS";
constexpr const char* kGroup = "239.255.18.83";
// What a run inside the namespace prints when it cannot set the namespace up.
constexpr const char* kSkippedInside = "SKIPPED inside the network namespace: ";

// Runs the named test case of this executable in a new network namespace; true if it passed.
// nullopt (with the reason printed) when no namespace can be made here.
std::optional<bool> rerun_in_namespace(const char* test_name) {
  if (::geteuid() != 0) {
    MESSAGE("SKIPPED: a network namespace needs root (unshare -n); this test did not run");
    return std::nullopt;
  }
  if (std::system("command -v unshare >/dev/null 2>&1") != 0) {
    MESSAGE("SKIPPED: unshare (util-linux) is missing; this test did not run");
    return std::nullopt;
  }
  std::array<char, 4096> self{};
  const auto length = ::readlink("/proc/self/exe", self.data(), self.size() - 1);
  REQUIRE(length > 0);
  const std::string command = std::string(kInNamespace) + "=1 unshare -n -- '" +
                              std::string(self.data(), static_cast<std::size_t>(length)) +
                              "' --test-case='" + test_name + "' 2>&1";
  std::string output;
  FILE* child = ::popen(command.c_str(), "r");
  REQUIRE(child != nullptr);
  std::array<char, 4096> chunk{};
  while (std::fgets(chunk.data(), static_cast<int>(chunk.size()), child) != nullptr) {
    output += chunk.data();
  }
  const int status = ::pclose(child);
  // Exactly this one case must have run there: a filter that matched nothing also exits 0.
  const bool passed = WIFEXITED(status) && WEXITSTATUS(status) == 0 &&
                      std::regex_search(output, std::regex(R"(test cases:\s+1 \|\s+1 passed)"));
  if (!passed) MESSAGE("in the network namespace:\n" << output);
  // Shown with -s: the inner run's own summary.
  INFO("in the network namespace: " << output);
  // A namespace we could not create is an environment limit, not a failed test.
  if (output.find("unshare failed") != std::string::npos) {
    MESSAGE("SKIPPED: unshare -n failed here; this test did not run:\n" << output);
    return std::nullopt;
  }
  // So is a namespace the inner run could not equip (it said why, and asserted nothing).
  if (passed && output.find(kSkippedInside) != std::string::npos) {
    MESSAGE("SKIPPED: the network namespace could not be set up; this test did not run:\n"
            << output);
    return std::nullopt;
  }
  return passed;
}

// Loopback is down in a new network namespace.
void bring_loopback_up() {
  const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  REQUIRE(fd >= 0);
  ifreq request{};
  std::strncpy(request.ifr_name, "lo", IFNAMSIZ - 1);
  REQUIRE(::ioctl(fd, SIOCGIFFLAGS, &request) == 0);
  request.ifr_flags = static_cast<short>(request.ifr_flags | IFF_UP | IFF_MULTICAST);
  REQUIRE(::ioctl(fd, SIOCSIFFLAGS, &request) == 0);
  ::close(fd);
}

// A UDP socket that joined `group` on 127.0.0.1 and listens on `port`.
class GroupListener {
 public:
  GroupListener(const char* group, std::uint16_t port) : fd_(::socket(AF_INET, SOCK_DGRAM, 0)) {
    REQUIRE(fd_ >= 0);
    const int on = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    ::inet_pton(AF_INET, group, &addr.sin_addr);
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    ip_mreq join{};
    ::inet_pton(AF_INET, group, &join.imr_multiaddr);
    ::inet_pton(AF_INET, "127.0.0.1", &join.imr_interface);
    REQUIRE(::setsockopt(fd_, IPPROTO_IP, IP_ADD_MEMBERSHIP, &join, sizeof join) == 0);
  }
  ~GroupListener() { ::close(fd_); }
  GroupListener(const GroupListener&) = delete;
  GroupListener& operator=(const GroupListener&) = delete;

  // The next datagram within `timeout`, decoded.
  std::optional<sn::Packet> receive(std::chrono::milliseconds timeout) {
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
    tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    std::array<std::uint8_t, 2048> buffer{};
    const auto n = ::recv(fd_, buffer.data(), buffer.size(), 0);
    if (n <= 0) return std::nullopt;
    auto decoded = sn::decode(std::span<const std::uint8_t>(buffer.data(), static_cast<std::size_t>(n)));
    if (!decoded) return std::nullopt;
    return std::move(decoded).value();
  }

 private:
  int fd_;
};

// IPv6: an earlier attempt saw nothing delivered with the group routed to loopback inside the
// namespace, so the IPv6 case links two interfaces of the namespace by a veth pair: the gateway
// sends its group traffic out of one end, the "node" listens and searches on the other (bound to
// that end), so every datagram it sees crossed the link.
constexpr const char* kGroup6 = "ff12::1883";  // transient (T = 1), link-local scope (RFC 4291)
constexpr const char* kGatewayLink = "v6a";
constexpr const char* kNodeLink = "v6b";
constexpr const char* kGatewayLinkAddress = "fe80::a";
constexpr const char* kNodeLinkAddress = "fe80::b";

// Runs `command` through the shell; its output when it failed, nothing when it succeeded.
std::optional<std::string> shell_failure(const std::string& command) {
  FILE* child = ::popen((command + " 2>&1").c_str(), "r");
  if (child == nullptr) return "popen failed: " + command;
  std::string output;
  std::array<char, 1024> chunk{};
  while (std::fgets(chunk.data(), static_cast<int>(chunk.size()), child) != nullptr) {
    output += chunk.data();
  }
  const int status = ::pclose(child);
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return std::nullopt;
  return command + ": " + output;
}

// Up and with carrier (veth: both ends up).
bool interface_running(const char* name) {
  const int fd = ::socket(AF_INET6, SOCK_DGRAM, 0);
  if (fd < 0) return false;
  ifreq request{};
  std::strncpy(request.ifr_name, name, IFNAMSIZ - 1);
  const bool running = ::ioctl(fd, SIOCGIFFLAGS, &request) == 0 &&
                       (request.ifr_flags & IFF_UP) != 0 && (request.ifr_flags & IFF_RUNNING) != 0;
  ::close(fd);
  return running;
}

// Creates the veth pair in this (new) namespace, both ends up with a fixed link-local address
// and no duplicate address detection (nothing else is on the link). Empty when done, else why not.
std::string set_up_veth_pair() {
  // Per namespace; "default" is what the new interfaces start with.
  for (const char* knob :
       {"/proc/sys/net/ipv6/conf/all/accept_dad", "/proc/sys/net/ipv6/conf/default/accept_dad"}) {
    std::ofstream out(knob);
    out << "0\n" << std::flush;
    if (!out) return std::string("cannot write ") + knob + " (IPv6 disabled?)";
  }
  if (std::system("command -v ip >/dev/null 2>&1") != 0) return "ip (iproute2) is missing";
  const std::string a = kGatewayLink;
  const std::string b = kNodeLink;
  for (const std::string& command :
       {"ip link add " + a + " type veth peer name " + b, "ip link set " + a + " up",
        "ip link set " + b + " up",
        "ip -6 addr add " + std::string(kGatewayLinkAddress) + "/64 dev " + a + " nodad",
        "ip -6 addr add " + std::string(kNodeLinkAddress) + "/64 dev " + b + " nodad"}) {
    if (auto failed = shell_failure(command)) return *failed;
  }
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (!(interface_running(kGatewayLink) && interface_running(kNodeLink))) {
    if (std::chrono::steady_clock::now() >= deadline) {
      return "the veth pair has no carrier after 5 s";
    }
    std::this_thread::sleep_for(20ms);  // polled with a deadline: carrier changes send no event here
  }
  return {};
}

// An IPv6 socket address; `interface` gives the zone of a link-local (or -scoped) address.
sockaddr_in6 ipv6_address(const char* literal, const char* interface, std::uint16_t port) {
  sockaddr_in6 addr{};
  addr.sin6_family = AF_INET6;
  addr.sin6_port = htons(port);
  REQUIRE(::inet_pton(AF_INET6, literal, &addr.sin6_addr) == 1);
  if (interface != nullptr) {
    addr.sin6_scope_id = ::if_nametoindex(interface);
    REQUIRE(addr.sin6_scope_id != 0);
  }
  return addr;
}

// An IPv6 UDP port that nothing is bound to right now (in this namespace).
std::uint16_t free_udp6_port() {
  const int fd = ::socket(AF_INET6, SOCK_DGRAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in6 addr = ipv6_address("::", nullptr, 0);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  socklen_t len = sizeof addr;
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  ::close(fd);
  return ntohs(addr.sin6_port);
}

// A plain IPv6 UDP socket, as a node would have.
class Udp6Socket {
 public:
  explicit Udp6Socket(const sockaddr_in6& local) : fd_(::socket(AF_INET6, SOCK_DGRAM, 0)) {
    REQUIRE(fd_ >= 0);
    const int on = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    REQUIRE(::bind(fd_, reinterpret_cast<const sockaddr*>(&local), sizeof local) == 0);
  }
  ~Udp6Socket() { ::close(fd_); }
  Udp6Socket(const Udp6Socket&) = delete;
  Udp6Socket& operator=(const Udp6Socket&) = delete;

  void join(const char* group, const char* interface) {
    ipv6_mreq join{};
    REQUIRE(::inet_pton(AF_INET6, group, &join.ipv6mr_multiaddr) == 1);
    join.ipv6mr_interface = ::if_nametoindex(interface);
    REQUIRE(::setsockopt(fd_, IPPROTO_IPV6, IPV6_JOIN_GROUP, &join, sizeof join) == 0);
  }

  void send_to(const sockaddr_in6& to, const sn::Message& message) {
    const auto bytes = sn::encode(message);
    REQUIRE(::sendto(fd_, bytes.data(), bytes.size(), 0, reinterpret_cast<const sockaddr*>(&to),
                     sizeof to) == static_cast<ssize_t>(bytes.size()));
  }

  // The next datagram within `timeout`, as it came off the wire.
  std::optional<sn::Bytes> receive(std::chrono::milliseconds timeout) {
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
    tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    sn::Bytes buffer(2048);
    const auto n = ::recv(fd_, buffer.data(), buffer.size(), 0);
    if (n <= 0) return std::nullopt;
    buffer.resize(static_cast<std::size_t>(n));
    return buffer;
  }

 private:
  int fd_;
};

std::optional<sn::Packet> decode(const sn::Bytes& bytes) {
  auto decoded = sn::decode(std::span<const std::uint8_t>(bytes.data(), bytes.size()));
  if (!decoded) return std::nullopt;
  return std::move(decoded).value();
}

}  // namespace

TEST_CASE("discovery: §6.1 ADVERTISE every T_ADV and GWINFO on the multicast group") {
  if (std::getenv(kInNamespace) == nullptr) {
    const auto passed =
        rerun_in_namespace("discovery: §6.1 ADVERTISE every T_ADV and GWINFO on the multicast group");
    if (passed) CHECK(*passed);
    return;
  }
  bring_loopback_up();
  const std::uint16_t group_port = test_support::free_udp_port();
  GroupListener listener(kGroup, group_port);
  Mosquitto broker;
  GatewayOptions options;
  options.upstream_uri = broker.uri();
  options.extra_sections = std::string(R"("discovery": {"advertise_interval_s": 1, "multicast": ")") +
                           kGroup + ":" + std::to_string(group_port) +
                           R"(", "interface": "127.0.0.1"})";
  GatewayProcess gateway(options);

  // ADVERTISE (§5.4.1): GwId 7, Duration T_ADV = 1 s; again about a second later.
  int advertisements = 0;
  int gwinfos = 0;
  const auto start = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point first{};
  std::chrono::steady_clock::time_point second{};
  while (advertisements < 2 && std::chrono::steady_clock::now() - start < 10s) {
    const auto packet = listener.receive(500ms);
    if (!packet) continue;
    if (const auto* ad = std::get_if<sn::Advertise>(&*packet)) {
      CHECK(ad->gw_id == 7);
      CHECK(ad->duration_s == 1);
      (++advertisements == 1 ? first : second) = std::chrono::steady_clock::now();
    } else if (std::holds_alternative<sn::GwInfo>(*packet)) {
      ++gwinfos;  // the fixture's readiness probe searched for the gateway
    }
  }
  REQUIRE(advertisements == 2);
  const auto period = std::chrono::duration_cast<std::chrono::milliseconds>(second - first);
  CHECK(period > 700ms);
  CHECK(period < 2000ms);

  // SEARCHGW: GWINFO to the searcher, and on the group as §6.1 asks.
  SnUdpClient searcher("127.0.0.1", gateway.port());
  searcher.send(sn::SearchGw{1});
  const auto unicast = searcher.expect<sn::GwInfo>(5s);
  REQUIRE(unicast.has_value());
  CHECK(unicast->gw_id == 7);
  bool on_group = false;
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (!on_group && std::chrono::steady_clock::now() < deadline) {
    const auto packet = listener.receive(500ms);
    if (!packet) continue;
    if (const auto* info = std::get_if<sn::GwInfo>(&*packet)) on_group = info->gw_id == 7;
  }
  CHECK(on_group);

  // §6.1 "only if it is connected to a server": no ADVERTISE once the broker is gone.
  broker.stop();
  REQUIRE(gateway.wait_for_log("gateway upstream connection lost", 10s));
  while (listener.receive(100ms)) {
  }
  int after_stop = 0;
  const auto quiet_until = std::chrono::steady_clock::now() + 3s;
  while (std::chrono::steady_clock::now() < quiet_until) {
    if (const auto packet = listener.receive(200ms);
        packet && std::holds_alternative<sn::Advertise>(*packet)) {
      ++after_stop;
    }
  }
  CHECK(after_stop == 0);
}

TEST_CASE("discovery: §5.4.1 ADVERTISE and §6.1 GWINFO on an IPv6 multicast group across a link") {
  if (std::getenv(kInNamespace) == nullptr) {
    const auto passed = rerun_in_namespace(
        "discovery: §5.4.1 ADVERTISE and §6.1 GWINFO on an IPv6 multicast group across a link");
    if (passed) CHECK(*passed);
    return;
  }
  bring_loopback_up();  // mosquitto, and the fixture's readiness probe on transports[0]
  if (const auto why = set_up_veth_pair(); !why.empty()) {
    MESSAGE(std::string(kSkippedInside) << why);
    return;
  }
  const std::uint16_t group_port = free_udp6_port();
  std::uint16_t gateway_port = free_udp6_port();
  for (int i = 0; i < 10 && gateway_port == group_port; ++i) gateway_port = free_udp6_port();
  REQUIRE(gateway_port != group_port);
  // The node's end joins the group; bound to the group itself, the listener sees group traffic
  // only (the answer to the searcher below goes elsewhere).
  Udp6Socket listener(ipv6_address(kGroup6, kNodeLink, group_port));
  listener.join(kGroup6, kNodeLink);
  Mosquitto broker;
  GatewayOptions options;
  options.upstream_uri = broker.uri();
  // transports[0] is the fixture's IPv4 one; this IPv6 transport is the only one of the group's
  // family, so the only one that advertises, out of the gateway's end of the link.
  options.extra_transports.push_back(R"({"type": "udp", "bind": "[::]:)" +
                                     std::to_string(gateway_port) + "\"}");
  options.extra_sections =
      std::string(R"("discovery": {"advertise_interval_s": 1, "multicast": "[)") + kGroup6 +
      "]:" + std::to_string(group_port) + R"(", "interface": ")" + kGatewayLink + "\"}";
  GatewayProcess gateway(options);

  // ADVERTISE (§5.4.1) on the wire: Length 5, MsgType 0x00, GwId 7, Duration T_ADV = 1 s
  // (2 octets, big endian); again about a second later.
  const sn::Bytes advertise_wire{0x05, 0x00, 0x07, 0x00, 0x01};
  int advertisements = 0;
  const auto start = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point first{};
  std::chrono::steady_clock::time_point second{};
  while (advertisements < 2 && std::chrono::steady_clock::now() - start < 10s) {
    const auto datagram = listener.receive(500ms);
    if (!datagram) continue;
    const auto packet = decode(*datagram);
    if (!packet || !std::holds_alternative<sn::Advertise>(*packet)) continue;
    CHECK(*datagram == advertise_wire);
    (++advertisements == 1 ? first : second) = std::chrono::steady_clock::now();
  }
  if (advertisements < 2) MESSAGE("gateway log:\n" << gateway.log());
  REQUIRE(advertisements == 2);
  const auto period = std::chrono::duration_cast<std::chrono::milliseconds>(second - first);
  CHECK(period > 700ms);
  CHECK(period < 2000ms);

  // SEARCHGW from the node's end to the gateway's link-local address: GWINFO (§5.4.3, Length 3,
  // MsgType 0x02, GwId 7; no GwAdd from a gateway) to the searcher, and on the group (§6.1).
  Udp6Socket searcher(ipv6_address(kNodeLinkAddress, kNodeLink, 0));
  searcher.send_to(ipv6_address(kGatewayLinkAddress, kNodeLink, gateway_port), sn::SearchGw{1});
  const sn::Bytes gwinfo_wire{0x03, 0x02, 0x07};
  const auto unicast = searcher.receive(5s);
  REQUIRE(unicast.has_value());
  CHECK(*unicast == gwinfo_wire);
  bool on_group = false;
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (!on_group && std::chrono::steady_clock::now() < deadline) {
    const auto datagram = listener.receive(500ms);
    if (!datagram) continue;
    const auto packet = decode(*datagram);
    if (packet && std::holds_alternative<sn::GwInfo>(*packet)) {
      CHECK(*datagram == gwinfo_wire);
      on_group = true;
    }
  }
  CHECK(on_group);

  // §6.1 "only if it is connected to a server": no ADVERTISE once the broker is gone.
  broker.stop();
  REQUIRE(gateway.wait_for_log("gateway upstream connection lost", 10s));
  for (const auto drained = std::chrono::steady_clock::now() + 2s;
       std::chrono::steady_clock::now() < drained && listener.receive(100ms);) {
  }
  int after_stop = 0;
  const auto quiet_until = std::chrono::steady_clock::now() + 3s;
  while (std::chrono::steady_clock::now() < quiet_until) {
    const auto datagram = listener.receive(200ms);
    if (!datagram) continue;
    const auto packet = decode(*datagram);
    if (packet && std::holds_alternative<sn::Advertise>(*packet)) ++after_stop;
  }
  CHECK(after_stop == 0);
}
