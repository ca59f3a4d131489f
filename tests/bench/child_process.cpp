#include "child_process.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <nlohmann/json.hpp>

#include "sn_protocol/codec.hpp"

namespace bench {
namespace {

int exit_status(int raw) {
  if (WIFEXITED(raw)) return WEXITSTATUS(raw);
  if (WIFSIGNALED(raw)) return 128 + WTERMSIG(raw);
  return -1;
}

int poll_timeout_ms(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return static_cast<int>(std::clamp<std::int64_t>(left.count(), 0, 1000));
}

}  // namespace

Child::Child(const std::string& exe, const std::vector<std::string>& args, bool pipes,
             const std::filesystem::path& log_file) {
  int to_child[2] = {-1, -1};
  int from_child[2] = {-1, -1};
  if (pipes && (::pipe2(to_child, O_CLOEXEC) != 0 || ::pipe2(from_child, O_CLOEXEC) != 0)) {
    throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
  }
  int log_fd = -1;
  if (!pipes) {
    log_fd = ::open(log_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (log_fd < 0) throw std::runtime_error("cannot open " + log_file.string());
  }
  std::vector<std::string> argv_strings{exe};
  argv_strings.insert(argv_strings.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& s : argv_strings) argv.push_back(s.data());
  argv.push_back(nullptr);

  pid_ = ::fork();
  if (pid_ < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
  if (pid_ == 0) {
    // Child: only async-signal-safe calls until exec.
    if (pipes) {
      ::dup2(to_child[0], STDIN_FILENO);
      ::dup2(from_child[1], STDOUT_FILENO);
    } else {
      const int null_fd = ::open("/dev/null", O_RDONLY);
      ::dup2(null_fd, STDIN_FILENO);
      ::dup2(log_fd, STDOUT_FILENO);
      ::dup2(log_fd, STDERR_FILENO);
    }
    ::execv(exe.c_str(), argv.data());
    ::_exit(127);
  }
  if (pipes) {
    ::close(to_child[0]);
    ::close(from_child[1]);
    in_fd_ = to_child[1];
    out_fd_ = from_child[0];
  } else {
    ::close(log_fd);
  }
}

Child::~Child() {
  if (pid_ > 0 && !status_) stop(std::chrono::milliseconds(2000));
  if (in_fd_ >= 0) ::close(in_fd_);
  if (out_fd_ >= 0) ::close(out_fd_);
}

bool Child::send_line(const std::string& line) {
  if (in_fd_ < 0) return false;
  const std::string data = line + "\n";
  std::size_t done = 0;
  while (done < data.size()) {
    const auto n = ::write(in_fd_, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<std::size_t>(n);
  }
  return true;
}

bool Child::has_buffered_line() const { return buffer_.find('\n') != std::string::npos; }

std::optional<std::string> Child::read_line(Clock::time_point deadline) {
  for (;;) {
    if (const auto nl = buffer_.find('\n'); nl != std::string::npos) {
      std::string line = buffer_.substr(0, nl);
      buffer_.erase(0, nl + 1);
      return line;
    }
    if (out_fd_ < 0 || Clock::now() >= deadline) return std::nullopt;
    pollfd p{out_fd_, POLLIN, 0};
    const int ready = ::poll(&p, 1, poll_timeout_ms(deadline));
    if (ready < 0 && errno != EINTR) return std::nullopt;
    if (ready <= 0) continue;
    std::array<char, 65536> chunk{};
    const auto n = ::read(out_fd_, chunk.data(), chunk.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {  // EOF: the worker is gone
      ::close(out_fd_);
      out_fd_ = -1;
      continue;
    }
    buffer_.append(chunk.data(), static_cast<std::size_t>(n));
  }
}

std::optional<int> Child::exited() {
  if (status_) return status_;
  int raw = 0;
  if (::waitpid(pid_, &raw, WNOHANG) == pid_) status_ = exit_status(raw);
  return status_;
}

int Child::stop(std::chrono::milliseconds grace, bool wait_first) {
  if (exited()) return *status_;
  auto wait_until = [this](Clock::time_point deadline) {
    while (Clock::now() < deadline) {
      if (exited()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return false;
  };
  if (wait_first && wait_until(Clock::now() + grace)) return *status_;
  ::kill(pid_, SIGTERM);
  if (wait_until(Clock::now() + grace)) return *status_;
  ::kill(pid_, SIGKILL);
  int raw = 0;
  ::waitpid(pid_, &raw, 0);
  status_ = -1;
  return -1;
}

bool wait_for_word(const std::vector<Child*>& children, const std::string& word,
                   Clock::time_point deadline, std::vector<std::optional<std::string>>& found) {
  found.resize(children.size());
  auto take = [&word](Child& child, const std::string& line) -> std::optional<std::string> {
    if (line.rfind("progress ", 0) == 0) {
      child.note_progress(std::strtoull(line.c_str() + 9, nullptr, 10));
      return std::nullopt;
    }
    if (line == word) return std::string();
    if (line.rfind(word + " ", 0) == 0) return line.substr(word.size() + 1);
    return std::nullopt;
  };
  for (;;) {
    bool all = true;
    std::vector<pollfd> fds;
    std::vector<std::size_t> owners;
    for (std::size_t i = 0; i < children.size(); ++i) {
      while (!found[i] && children[i]->has_buffered_line()) {
        found[i] = take(*children[i], *children[i]->read_line(Clock::now()));
      }
      if (found[i]) continue;
      all = false;
      if (children[i]->out_fd() >= 0) {
        fds.push_back({children[i]->out_fd(), POLLIN, 0});
        owners.push_back(i);
      }
    }
    if (all) return true;
    if (fds.empty() || Clock::now() >= deadline) return false;
    const int ready = ::poll(fds.data(), fds.size(), poll_timeout_ms(deadline));
    if (ready <= 0) continue;
    for (std::size_t k = 0; k < fds.size(); ++k) {
      if (fds[k].revents == 0) continue;
      // Reads what is there (one chunk) and looks at the first complete line, if any.
      auto& child = *children[owners[k]];
      if (auto line = child.read_line(Clock::now() + std::chrono::milliseconds(1))) {
        found[owners[k]] = take(child, *line);
      }
    }
  }
}

std::uint16_t free_udp_port() {
  const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

bool gateway_answers(const std::string& host, std::uint16_t port, std::chrono::milliseconds timeout) {
  const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  ::inet_pton(AF_INET, host.c_str(), &addr.sin_addr);
  const sn::Bytes probe = sn::encode(sn::Message{sn::SearchGw{0}});
  const auto deadline = Clock::now() + timeout;
  bool answered = false;
  while (!answered && Clock::now() < deadline) {
    ::sendto(fd, probe.data(), probe.size(), 0, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 200) > 0) {
      std::array<std::uint8_t, 512> reply{};
      const auto n = ::recv(fd, reply.data(), reply.size(), 0);
      if (n > 0) {
        const auto packet = sn::decode(std::span(reply.data(), static_cast<std::size_t>(n)));
        answered = packet && std::holds_alternative<sn::GwInfo>(*packet);
      }
    }
  }
  ::close(fd);
  return answered;
}

GatewayProcess::GatewayProcess(const GatewayLaunch& launch) {
  std::string templ = (std::filesystem::temp_directory_path() / "mqttsn-bench.XXXXXX").string();
  if (::mkdtemp(templ.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  dir_ = templ;
  port_ = free_udp_port();
  nlohmann::json upstream = {{"uri", launch.broker}};
  // A gateway that predates upstream.client rejects the key as unknown, so the default client is
  // selected by leaving the key out; any other client must be named, and a gateway that does not
  // know it fails at start-up instead of silently running Paho.
  if (launch.client != "paho") upstream["client"] = launch.client;
  // More upstream keys for an experiment, e.g. BENCH_UPSTREAM='{"max_broker_delay_ms": 0}'.
  if (const char* extra = std::getenv("BENCH_UPSTREAM"); extra != nullptr && *extra != '\0') {
    upstream.update(nlohmann::json::parse(extra));
  }
  nlohmann::json gateway = {{"id", 1}, {"mode", launch.mode}, {"max_clients", 1000000}};
  if (!launch.default_limits) {
    // Every bench client shares 127.0.0.1, which the per-address CONNECT limit would take for a
    // flood (one address, thousands of CONNECTs): the limits are lifted.
    gateway["max_connecting"] = 1000000;
    gateway["connect_rate_per_address"] = 0;
  }
  nlohmann::json config = {
      {"gateway", gateway},
      {"upstream", upstream},
      {"transports", {{{"type", "udp"}, {"bind", "127.0.0.1:" + std::to_string(port_)}}}},
      {"log", {{"level", launch.log_level}}}};
  if (launch.dtls) {
    dtls_port_ = free_udp_port();
    std::ofstream(dir_ / "bench.keys") << kDtlsIdentity << ":" << kDtlsKey << "\n";
    config["transports"].push_back({{"type", "dtls"},
                                    {"bind", "127.0.0.1:" + std::to_string(dtls_port_)},
                                    {"psk_file", (dir_ / "bench.keys").string()},
                                    {"psk_identity_is_client_id", false}});
  }
  if (launch.persistence != "none") {
    config["persistence"] = {{"path", (dir_ / "sessions.db").string()},
                             {"durability", launch.persistence}};
  }
  config_ = dir_ / "gateway.json";
  std::ofstream(config_) << config.dump(2) << "\n";
  child_ = std::make_unique<Child>(launch.binary, std::vector<std::string>{"--config", config_.string()},
                                   false, dir_ / "gateway.log");
  const auto deadline = Clock::now() + std::chrono::seconds(10);
  while (Clock::now() < deadline) {
    if (const auto status = child_->exited()) {
      throw std::runtime_error("gateway exited with status " + std::to_string(*status) +
                               " at start-up:\n" + log());
    }
    if (gateway_answers("127.0.0.1", port_, std::chrono::milliseconds(200))) return;
  }
  child_->stop(std::chrono::milliseconds(2000));
  throw std::runtime_error("gateway did not answer SEARCHGW within 10 s:\n" + log());
}

GatewayProcess::~GatewayProcess() {
  stop();
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
}

std::string GatewayProcess::log() const {
  std::ifstream in(dir_ / "gateway.log");
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

int GatewayProcess::stop() {
  if (!child_) return 0;
  return child_->stop(std::chrono::milliseconds(10000));
}

}  // namespace bench
