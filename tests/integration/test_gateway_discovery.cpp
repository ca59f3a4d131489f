// End to end, gateway advertisement and discovery (§6.1) over real UDP multicast. Multicast leaves
// loopback's unicast addresses, so the test runs in a network namespace of its own: the test case
// starts this executable again under `unshare -n` (needs root), brings that namespace's loopback
// up, and there runs mosquitto, the gateway and a multicast listener. Nothing reaches the host's
// networks.

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
  std::this_thread::sleep_for(1500ms);  // the gateway notices the lost connection
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
