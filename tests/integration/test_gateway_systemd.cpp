// Life under systemd (issue 14 §2), with the real gateway process and a fake service manager:
// a datagram socket of the test's own named by NOTIFY_SOCKET receives what sd_notify() sends.
// "systemd: " cases run once (not in the client/mode matrix): nothing here depends on either.

#include <doctest/doctest.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "sn_client.hpp"
#include "support/broker.hpp"
#include "support/gateway_process.hpp"

using namespace std::chrono_literals;
using test_support::GatewayOptions;
using test_support::GatewayProcess;
using test_support::Mosquitto;

namespace {

// The service manager's end of NOTIFY_SOCKET: one AF_UNIX datagram socket in a temporary
// directory; each sd_notify() call is one datagram of "KEY=value" lines.
class FakeNotifySocket {
 public:
  FakeNotifySocket() {
    std::string pattern = (std::filesystem::temp_directory_path() / "mqttsn-notify-XXXXXX").string();
    REQUIRE(::mkdtemp(pattern.data()) != nullptr);
    dir_ = pattern;
    path_ = (dir_ / "notify").string();
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd_ >= 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    REQUIRE(path_.size() < sizeof addr.sun_path);
    std::copy(path_.begin(), path_.end(), addr.sun_path);
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  }
  ~FakeNotifySocket() {
    ::close(fd_);
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
  FakeNotifySocket(const FakeNotifySocket&) = delete;
  FakeNotifySocket& operator=(const FakeNotifySocket&) = delete;

  const std::string& path() const { return path_; }

  // Every message that arrives within `window`, in order.
  std::vector<std::string> collect(std::chrono::milliseconds window) {
    std::vector<std::string> got;
    const auto deadline = std::chrono::steady_clock::now() + window;
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) break;
      if (auto message = next(left)) got.push_back(std::move(*message));
    }
    return got;
  }

  // The first message containing `text` within `timeout` (the ones before it are dropped).
  std::optional<std::string> wait_for(const std::string& text, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return std::nullopt;
      auto message = next(left);
      if (message && message->find(text) != std::string::npos) return message;
    }
  }

 private:
  std::optional<std::string> next(std::chrono::milliseconds timeout) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0) return std::nullopt;
    char buffer[4096];
    const ssize_t n = ::recv(fd_, buffer, sizeof buffer, 0);
    if (n <= 0) return std::nullopt;
    return std::string(buffer, static_cast<std::size_t>(n));
  }

  std::filesystem::path dir_;
  std::string path_;
  int fd_ = -1;
};

std::size_t count_containing(const std::vector<std::string>& messages, const std::string& text) {
  return static_cast<std::size_t>(std::count_if(messages.begin(), messages.end(), [&](const auto& m) {
    return m.find(text) != std::string::npos;
  }));
}

}  // namespace

TEST_CASE("systemd: READY=1 with a STATUS once the transports are bound, WATCHDOG=1 at half of "
          "WATCHDOG_USEC from the loop, STATUS follows the clients, RELOADING=1 at SIGHUP, "
          "STOPPING=1 at SIGTERM") {
  Mosquitto broker;
  FakeNotifySocket manager;
  GatewayOptions options;
  options.upstream_uri = broker.uri();
  options.environment = {"NOTIFY_SOCKET=" + manager.path(), "WATCHDOG_USEC=200000"};
  GatewayProcess gateway(options);  // answers SEARCHGW: its transport is bound

  // READY=1 comes before the first SEARCHGW could be answered (sent before the loop runs).
  const auto ready = manager.wait_for("READY=1", 1s);
  REQUIRE(ready.has_value());
  CHECK(ready->find("STATUS=0 clients active, 0 asleep, 0 awake, 0 connecting") != std::string::npos);

  // 200 ms watchdog: a ping every 100 ms. Over a second, allow for a loaded machine.
  const auto second = manager.collect(1000ms);
  const auto pings = count_containing(second, "WATCHDOG=1");
  CHECK(pings >= 5);
  CHECK(pings <= 12);

  sn_tools::SnUdpClient node("127.0.0.1", gateway.port());
  REQUIRE(node.connect("systemd-node", 30, true) == sn::ReturnCode::accepted);
  CHECK(manager.wait_for("STATUS=1 clients active", 2s).has_value());

  // SIGHUP (ExecReload=): RELOADING=1, then READY=1 once the file is applied.
  gateway.signal(SIGHUP);
  CHECK(manager.wait_for("RELOADING=1", 2s).has_value());
  CHECK(manager.wait_for("READY=1", 2s).has_value());

  // SIGSTOP freezes the loop: no ping while it is stopped; SIGCONT: pings again.
  gateway.signal(SIGSTOP);
  manager.collect(150ms);  // what was under way
  CHECK(count_containing(manager.collect(500ms), "WATCHDOG=1") == 0);
  gateway.signal(SIGCONT);
  CHECK(manager.wait_for("WATCHDOG=1", 1s).has_value());

  std::thread stopper([&] { CHECK(gateway.stop() == 0); });
  const auto stopping = manager.wait_for("STOPPING=1", 5s);
  stopper.join();
  CHECK(stopping.has_value());
}

TEST_CASE("systemd: without NOTIFY_SOCKET nothing is sent, and WATCHDOG_PID of another process "
          "means no pings") {
  Mosquitto broker;
  FakeNotifySocket manager;
  GatewayOptions options;
  options.upstream_uri = broker.uri();
  // The watchdog is meant for PID 1 here, not for the gateway (sd_watchdog_enabled(3)).
  options.environment = {"NOTIFY_SOCKET=" + manager.path(), "WATCHDOG_USEC=100000",
                         "WATCHDOG_PID=1"};
  {
    GatewayProcess gateway(options);
    const auto messages = manager.collect(600ms);
    CHECK(count_containing(messages, "READY=1") == 1);
    CHECK(count_containing(messages, "WATCHDOG=1") == 0);
  }
  CHECK(manager.wait_for("STOPPING=1", 2s).has_value());  // the first gateway's last word
  options.environment = {};
  {
    GatewayProcess gateway(options);
    CHECK(manager.collect(300ms).empty());  // the variable is unset in the gateway's environment
    CHECK(gateway.log().find("systemd") == std::string::npos);
  }
}

TEST_CASE("systemd: under journald (JOURNAL_STREAM names stderr) a log line is <priority>message, "
          "with no time stamp of its own") {
  Mosquitto broker;
  GatewayOptions options;
  options.upstream_uri = broker.uri();
  options.journal_stream = true;
  // An optional transport that cannot start: a warning.
  options.extra_transports = {R"({"type": "serial", "device": "/nonexistent/tty", "optional": true})"};
  GatewayProcess gateway(options);
  CHECK(gateway.stop() == 0);
  const std::string log = gateway.log();
  CHECK(log.find("<6>configuration loaded from ") != std::string::npos);
  CHECK(log.find("<6>gateway 7 running") != std::string::npos);
  CHECK(log.find("<4>transports[1]: ") != std::string::npos);
  CHECK(log.find("[info]") == std::string::npos);
  CHECK(log.find("[20") == std::string::npos);  // "[2026-..." time stamps
  // Every line starts with a priority.
  std::size_t start = 0;
  while (start < log.size()) {
    const auto end = log.find('\n', start);
    const std::string line = log.substr(start, end == std::string::npos ? std::string::npos : end - start);
    if (!line.empty()) CHECK_MESSAGE((line.size() > 3 && line[0] == '<' && line[2] == '>'), line);
    if (end == std::string::npos) break;
    start = end + 1;
  }

  // The same stderr without JOURNAL_STREAM (a terminal, a file): time stamps and level names.
  options.journal_stream = false;
  GatewayProcess plain(options);
  CHECK(plain.stop() == 0);
  CHECK(plain.log().find("[info] gateway 7 running") != std::string::npos);
}
