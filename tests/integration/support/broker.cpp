#include "support/broker.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <mqtt/async_client.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <system_error>
#include <thread>

extern char** environ;

namespace test_support {

namespace {

constexpr std::chrono::seconds kStartTimeout{10};
constexpr std::chrono::seconds kStopTimeout{5};
constexpr std::chrono::milliseconds kPollInterval{20};
constexpr std::chrono::seconds kClientTimeout{10};
constexpr int kStartAttempts = 5;  // a free port can be taken before mosquitto binds it

std::system_error errno_error(const std::string& what) {
  return {errno, std::generic_category(), what};
}

sockaddr_in loopback(std::uint16_t port) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return address;
}

bool accepts_tcp(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw errno_error("socket");
  const sockaddr_in address = loopback(port);
  const bool ok = ::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) == 0;
  ::close(fd);
  return ok;
}

std::string mosquitto_binary() {
  if (const char* env = std::getenv("MQTTSN_MOSQUITTO"); env != nullptr && *env != '\0') {
    return env;
  }
  return "/usr/sbin/mosquitto";
}

std::filesystem::path make_temp_dir() {
  std::string pattern = (std::filesystem::temp_directory_path() / "mqttsn-mosquitto-XXXXXX");
  if (::mkdtemp(pattern.data()) == nullptr) throw errno_error("mkdtemp " + pattern);
  // Started as root, mosquitto drops to its own user before it reads some files (acl_file).
  std::filesystem::permissions(
      pattern, std::filesystem::perms::owner_all | std::filesystem::perms::group_read |
                   std::filesystem::perms::group_exec | std::filesystem::perms::others_read |
                   std::filesystem::perms::others_exec);
  return pattern;
}

}  // namespace

std::uint16_t free_tcp_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw errno_error("socket");
  sockaddr_in address = loopback(0);
  socklen_t length = sizeof(address);
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    const auto error = errno_error("bind/getsockname on 127.0.0.1:0");
    ::close(fd);
    throw error;
  }
  ::close(fd);
  return ntohs(address.sin_port);
}

bool wait_port_open(std::uint16_t port, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (accepts_tcp(port)) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(kPollInterval);  // nothing announces a listening port: poll
  }
}

Mosquitto::Mosquitto(std::vector<std::string> extra_config,
                     const std::map<std::string, std::string>& files)
    : extra_config_(std::move(extra_config)) {
  const std::string binary = mosquitto_binary();
  if (::access(binary.c_str(), X_OK) != 0) {
    throw std::runtime_error("mosquitto not found at " + binary +
                             ": install the Debian package 'mosquitto' (or set MQTTSN_MOSQUITTO)."
                             " The integration tests need a real broker.");
  }
  dir_ = make_temp_dir();
  for (const auto& [name, content] : files) write_file(name, content);
  for (auto& line : extra_config_) {
    for (auto at = line.find("{dir}"); at != std::string::npos; at = line.find("{dir}")) {
      line.replace(at, 5, dir_.string());
    }
  }
  for (int attempt = 0; attempt < kStartAttempts; ++attempt) {
    port_ = free_tcp_port();
    write_config();
    if (try_start()) return;
  }
  const std::string output = log();
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
  throw std::runtime_error("mosquitto did not start after " + std::to_string(kStartAttempts) +
                           " attempts; its output:\n" + output);
}

Mosquitto::~Mosquitto() {
  // A destructor must not throw; a failed stop is said on stderr so a stray mosquitto is explained.
  try {
    stop();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "test broker on port %u: stop failed in the destructor: %s\n",
                 static_cast<unsigned>(port_), e.what());
  } catch (...) {
    std::fprintf(stderr, "test broker on port %u: stop failed in the destructor\n",
                 static_cast<unsigned>(port_));
  }
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
}

std::string Mosquitto::uri() const { return "tcp://127.0.0.1:" + std::to_string(port_); }

std::filesystem::path Mosquitto::write_file(const std::string& name,
                                            const std::string& content) const {
  const auto path = dir_ / name;
  std::ofstream(path, std::ios::trunc) << content;
  std::filesystem::permissions(
      path, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write |
                std::filesystem::perms::group_read | std::filesystem::perms::others_read);
  return path;
}

std::string Mosquitto::log() const {
  std::ifstream in(dir_ / "mosquitto.log");
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

void Mosquitto::write_config() const {
  std::ostringstream config;
  config << "listener " << port_ << " 127.0.0.1\n"
         << "allow_anonymous true\n"
         << "persistence false\n"
         << "log_dest stderr\n";
  for (const auto& line : extra_config_) config << line << '\n';
  write_file("mosquitto.conf", config.str());
}

void Mosquitto::start() {
  if (running()) return;
  write_config();
  if (!try_start()) {
    throw std::runtime_error("mosquitto did not restart on port " + std::to_string(port_) +
                             "; its output:\n" + log());
  }
}

bool Mosquitto::try_start() {
  const std::string binary = mosquitto_binary();
  const std::string config = (dir_ / "mosquitto.conf").string();
  const std::string log_path = (dir_ / "mosquitto.log").string();

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log_path.c_str(),
                                   O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  // The broker must not inherit our sockets (Paho's client connections among them).
  posix_spawn_file_actions_addclosefrom_np(&actions, STDERR_FILENO + 1);
  std::vector<char*> argv{const_cast<char*>(binary.c_str()), const_cast<char*>("-c"),
                          const_cast<char*>(config.c_str()), nullptr};
  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, binary.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) throw std::system_error(rc, std::generic_category(), "posix_spawn " + binary);
  pid_ = pid;

  const auto deadline = std::chrono::steady_clock::now() + kStartTimeout;
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {  // exited: port taken, bad config, ...
      pid_ = -1;
      return false;
    }
    if (accepts_tcp(port_)) return true;
    std::this_thread::sleep_for(kPollInterval);  // nothing announces a listening port: poll
  }
  stop();
  return false;
}

void Mosquitto::stop() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  const auto deadline = std::chrono::steady_clock::now() + kStopTimeout;
  int status = 0;
  while (::waitpid(pid_, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() >= deadline) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &status, 0);
      break;
    }
    std::this_thread::sleep_for(kPollInterval);  // waitpid has no timeout: poll
  }
  pid_ = -1;
}

std::string unique_client_id(const std::string& prefix) {
  static std::atomic<unsigned> counter{0};
  return prefix + "-" + std::to_string(::getpid()) + "-" + std::to_string(++counter);
}

TestSubscriber::TestSubscriber(const std::string& uri, const std::string& filter, int qos,
                               int mqtt_version)
    : inbox_(std::make_shared<Inbox>()) {
  const int version = mqtt_version == 5 ? MQTTVERSION_5 : MQTTVERSION_3_1_1;
  client_ = std::make_unique<mqtt::async_client>(uri, unique_client_id("test-subscriber"),
                                                 mqtt::create_options(version), nullptr);
  client_->set_message_callback([inbox = inbox_](mqtt::const_message_ptr message) {
    {
      std::lock_guard lock(inbox->mutex);
      inbox->messages.push_back({message->get_topic(), message->get_payload_str(),
                                 message->get_qos(), message->is_retained()});
    }
    inbox->arrived.notify_all();
  });
  mqtt::connect_options options;
  options.set_mqtt_version(version);
  if (version == MQTTVERSION_5) {
    options.set_clean_start(true);
  } else {
    options.set_clean_session(true);
  }
  options.set_connect_timeout(kClientTimeout);
  const mqtt::token_ptr connected = tokens_.emplace_back(client_->connect(options));
  if (!connected->wait_for(kClientTimeout)) {
    throw std::runtime_error("TestSubscriber: no CONNACK from " + uri);
  }
  const mqtt::token_ptr subscribed = tokens_.emplace_back(client_->subscribe(filter, qos));
  if (!subscribed->wait_for(kClientTimeout)) {
    throw std::runtime_error("TestSubscriber: no SUBACK for " + filter);
  }
  const auto codes = subscribed->get_subscribe_response().get_reason_codes();
  if (codes.empty() || codes.front() >= mqtt::ReasonCode::UNSPECIFIED_ERROR) {
    throw std::runtime_error("TestSubscriber: subscription to " + filter + " refused");
  }
}

TestSubscriber::~TestSubscriber() {
  try {
    if (client_->is_connected()) {
      tokens_.emplace_back(client_->disconnect())->wait_for(kClientTimeout);
    }
  } catch (const mqtt::exception&) {  // NOLINT(bugprone-empty-catch): the broker may be gone
  }
  client_.reset();  // before tokens_, see there
}

bool TestSubscriber::wait_for(std::size_t count, std::chrono::milliseconds timeout) {
  std::unique_lock lock(inbox_->mutex);
  return inbox_->arrived.wait_for(lock, timeout, [&] { return inbox_->messages.size() >= count; });
}

bool TestSubscriber::wait_for_message(const std::string& topic, const std::string& payload,
                                      std::chrono::milliseconds timeout) {
  std::unique_lock lock(inbox_->mutex);
  return inbox_->arrived.wait_for(lock, timeout, [&] {
    return std::any_of(inbox_->messages.begin(), inbox_->messages.end(),
                       [&](const ReceivedMessage& m) { return m.topic == topic && m.payload == payload; });
  });
}

std::vector<ReceivedMessage> TestSubscriber::messages() const {
  std::lock_guard lock(inbox_->mutex);
  return inbox_->messages;
}

std::size_t TestSubscriber::count() const {
  std::lock_guard lock(inbox_->mutex);
  return inbox_->messages.size();
}

void TestSubscriber::publish(const std::string& topic, const std::string& payload, int qos,
                             bool retain) {
  const mqtt::token_ptr published =
      tokens_.emplace_back(client_->publish(topic, payload.data(), payload.size(), qos, retain));
  if (!published->wait_for(kClientTimeout)) {
    throw std::runtime_error("TestSubscriber: publish to " + topic + " not completed");
  }
}

}  // namespace test_support
