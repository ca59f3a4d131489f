#include "support/gateway_process.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <vector>

#include <doctest/doctest.h>

#include "sn_client.hpp"

namespace test_support {
namespace {

// The last lines of the log of every gateway a test case ran, printed by FailedCaseLogs when the
// case fails (a REQUIRE unwinds through ~GatewayProcess before doctest reports the failure, so
// the log is kept rather than printed there). CI keeps the output of failed tests only.
constexpr std::size_t kLogLinesKept = 60;
std::mutex g_case_logs_mutex;
std::vector<std::string> g_case_logs;

std::string last_lines(const std::string& text, std::size_t count) {
  std::size_t start = text.size();
  for (std::size_t seen = 0; start > 0; --start) {
    if (text[start - 1] == '\n' && start != text.size() && ++seen == count) break;
  }
  return text.substr(start);
}

struct FailedCaseLogs : doctest::IReporter {
  explicit FailedCaseLogs(const doctest::ContextOptions&) {}
  void report_query(const doctest::QueryData&) override {}
  void test_run_start() override {}
  void test_run_end(const doctest::TestRunStats&) override {}
  void test_case_start(const doctest::TestCaseData&) override {
    const std::lock_guard lock(g_case_logs_mutex);
    g_case_logs.clear();
  }
  void test_case_reenter(const doctest::TestCaseData&) override {}
  void test_case_end(const doctest::CurrentTestCaseStats& stats) override {
    const std::lock_guard lock(g_case_logs_mutex);
    if (stats.failure_flags != 0 || stats.numAssertsFailedCurrentTest != 0) {
      for (const auto& text : g_case_logs) std::cerr << text;
    }
    g_case_logs.clear();
  }
  void test_case_exception(const doctest::TestCaseException&) override {}
  void subcase_start(const doctest::SubcaseSignature&) override {}
  void subcase_end() override {}
  void log_assert(const doctest::AssertData&) override {}
  void log_message(const doctest::MessageData&) override {}
  void test_case_skipped(const doctest::TestCaseData&) override {}
};
REGISTER_LISTENER("gateway_logs_of_failed_cases", 1, FailedCaseLogs);

std::filesystem::path make_temp_dir() {
  std::string pattern = (std::filesystem::temp_directory_path() / "mqttsn-gw-XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  return pattern;
}

// Waits for our child; the exit status as documented in stop().
int wait_child(pid_t pid, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  int status = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    const pid_t done = ::waitpid(pid, &status, WNOHANG);
    if (done == pid) {
      if (WIFEXITED(status)) return WEXITSTATUS(status);
      if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));  // waitpid has no timeout: poll
  }
  ::kill(pid, SIGKILL);
  ::waitpid(pid, &status, 0);
  return -1;
}

}  // namespace

std::string default_mode() {
  const char* mode = std::getenv("MQTTSN_TEST_MODE");
  return mode != nullptr && *mode != '\0' ? mode : "transparent";
}

std::string default_client() {
  const char* client = std::getenv("MQTTSN_TEST_CLIENT");
  return client != nullptr && *client != '\0' ? client : "paho";
}

std::uint16_t free_udp_port() {
  const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

GatewayProcess::GatewayProcess(GatewayOptions options) : dir_(make_temp_dir()) {
  port_ = options.port != 0 ? options.port : free_udp_port();
  const auto config = dir_ / "gateway.json";
  {
    std::ofstream out(config);
    out << "{\n"
        << R"(  "gateway": {"id": 7, "mode": ")" << options.mode << R"(", "max_clients": )"
        << options.max_clients << "},\n"
        << R"(  "upstream": {"uri": ")" << options.upstream_uri << R"(", "client": ")"
        << options.client << R"(", "mqtt_version": ")" << (options.mqtt_version == 5 ? "5" : "3.1.1")
        << R"(", "client_id_prefix": ")" << options.client_id_prefix << "\""
        << (options.upstream_extra.empty() ? "" : ", " + options.upstream_extra) << "},\n"
        << R"(  "transports": [{"type": "udp", "bind": "127.0.0.1:)" << port_ << "\"}";
    for (const auto& transport : options.extra_transports) out << ",\n    " << transport;
    out << "],\n"
        << R"(  "topics": {"predefined": [{"id": 1, "name": "sensors/temperature"}]},)" << "\n"
        << R"(  "qos_minus_one": {"enabled": )" << (options.qos_minus_one ? "true" : "false")
        << "},\n"
        << R"(  "retry": {"interval_ms": )" << options.retry_interval_ms
        << R"(, "max_attempts": )" << options.retry_max_attempts << "},\n"
        << (options.extra_sections.empty() ? "" : "  " + options.extra_sections + ",\n")
        << R"(  "log": {"level": ")" << options.log_level << "\"}\n}\n";
  }
  const std::string binary = std::string(MQTTSN_BINARY_DIR) + "/bin/mqttsn-gateway";
  const std::string log_file = (dir_ / "gateway.log").string();
  std::fflush(nullptr);  // the child must not inherit (and flush again) our buffered output
  pid_ = ::fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    std::FILE* log = std::freopen(log_file.c_str(), "w", stdout);
    if (log != nullptr) ::dup2(::fileno(stdout), STDERR_FILENO);
    for (const auto& entry : options.environment) {
      const auto eq = entry.find('=');
      if (eq != std::string::npos) ::setenv(entry.substr(0, eq).c_str(), entry.c_str() + eq + 1, 1);
    }
    struct stat st {};
    if (options.journal_stream && ::fstat(STDERR_FILENO, &st) == 0) {
      const std::string stream = std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
      ::setenv("JOURNAL_STREAM", stream.c_str(), 1);
    }
    ::execl(binary.c_str(), binary.c_str(), "--config", config.c_str(), nullptr);
    ::_exit(127);
  }
  if (!options.wait_ready) return;
  // Ready when SEARCHGW is answered (§6.1) and, where the gateway has a broker connection of its
  // own (QoS -1, aggregating mode), once that is up: in aggregating mode a CONNECT before it
  // would rightly get CONNACK "congestion".
  const bool own_connection = options.qos_minus_one || options.mode == "aggregating";
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  sn_tools::SnUdpClient probe("127.0.0.1", port_);
  bool answered = false;
  while (std::chrono::steady_clock::now() < deadline) {
    if (!answered) {
      probe.send(sn::SearchGw{0});
      answered = probe.expect<sn::GwInfo>(std::chrono::milliseconds(100)).has_value();
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));  // polls the log for "is up"
    }
    if (answered && (!own_connection ||
                     log().find("gateway upstream connection is up") != std::string::npos)) {
      return;
    }
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      throw std::runtime_error("mqttsn-gateway exited at start-up:\n" + log());
    }
  }
  stop();
  throw std::runtime_error(std::string("mqttsn-gateway did not ") +
                           (answered ? "connect to the broker" : "answer SEARCHGW") +
                           " within 10 s:\n" + log());
}

GatewayProcess::~GatewayProcess() {
  // Every test also checks that the gateway stopped cleanly on SIGTERM and that no sanitizer
  // (asan/tsan presets) reported anything in it.
  if (pid_ > 0) {
    const int status = stop(std::chrono::milliseconds(10000));
    if (status != 0) FAIL_CHECK("mqttsn-gateway exited with status " << status << ":\n" << log());
  }
  const std::string text = log();
  {
    const std::lock_guard lock(g_case_logs_mutex);
    g_case_logs.push_back("---- last " + std::to_string(kLogLinesKept) + " lines of the log of mqttsn-gateway (" +
                          dir_.string() + ") ----\n" + last_lines(text, kLogLinesKept) + "----\n");
  }
  // The core logs an error for any change of state its transition table does not list.
  for (const char* marker :
       {"Sanitizer", "runtime error:", "which the transition table does not list"}) {
    if (text.find(marker) != std::string::npos) {
      FAIL_CHECK("mqttsn-gateway reported '" << marker << "':\n" << text);
      break;
    }
  }
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
}

int GatewayProcess::stop(std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return -1;
  ::kill(pid_, SIGTERM);
  const int status = wait_child(pid_, timeout);
  pid_ = -1;
  return status;
}

bool GatewayProcess::wait_for_log(const std::string& text,
                                  std::chrono::milliseconds timeout) const {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (log().find(text) != std::string::npos) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // the log gives no other signal
  }
  return log().find(text) != std::string::npos;
}

int GatewayProcess::wait_exit(std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return -1;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  int status = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      if (WIFEXITED(status)) return WEXITSTATUS(status);
      if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));  // waitpid has no timeout: poll
  }
  return -1;
}

void GatewayProcess::signal(int signal) const {
  if (pid_ > 0) ::kill(pid_, signal);
}

std::string GatewayProcess::log() const {
  std::ifstream in(dir_ / "gateway.log");
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace test_support
