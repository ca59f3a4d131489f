#include "support/tcp_proxy.hpp"

#include "support/tcp_listener.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <stdexcept>
#include <system_error>

namespace test_support {

namespace {

constexpr int kPollMs = 20;  // how often the relay thread looks at its flags

bool send_all(int fd, const char* data, std::size_t size) {
  std::size_t done = 0;
  while (done < size) {
    const ssize_t n = ::send(fd, data + done, size - done, MSG_NOSIGNAL);
    if (n <= 0) return false;
    done += static_cast<std::size_t>(n);
  }
  return true;
}

}  // namespace

TcpProxy::TcpProxy(std::uint16_t target_port) : target_port_(target_port) {
  const auto listener = listen_on_loopback("TcpProxy");
  listener_ = listener.fd;
  port_ = listener.port;
  thread_ = std::thread([this] { run(); });
}

TcpProxy::~TcpProxy() {
  stopping_ = true;
  thread_.join();
  ::close(listener_);
}

std::string TcpProxy::uri() const { return "tcp://127.0.0.1:" + std::to_string(port_); }

bool TcpProxy::Framer::step(unsigned char byte) {
  switch (stage) {
    case 0:
      stage = 1;
      remaining = 0;
      shift = 0;
      return false;
    case 1:
      remaining |= static_cast<std::size_t>(byte & 0x7fU) << shift;
      shift += 7;
      if ((byte & 0x80U) != 0) return false;
      if (remaining == 0) {
        stage = 0;
        return true;
      }
      stage = 2;
      return false;
    default:
      if (--remaining > 0) return false;
      stage = 0;
      return true;
  }
}

void TcpProxy::hold_from_server_after(int packets) { pass_ = packets; }

void TcpProxy::relay_all() { pass_ = -1; }

std::size_t TcpProxy::held_packets() const { return held_.load(); }

void TcpProxy::cut() {
  cut_done_ = false;
  cut_requested_ = true;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!cut_done_.load()) {
    if (std::chrono::steady_clock::now() > deadline) throw std::runtime_error("TcpProxy: cut timed out");
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

void TcpProxy::run() {
  std::array<char, 64 * 1024> buffer{};
  auto close_pair = [](Pair& pair) {
    if (pair.client >= 0) ::close(pair.client);
    if (pair.server >= 0) ::close(pair.server);
    pair = Pair{};
  };
  while (!stopping_.load()) {
    if (cut_requested_.exchange(false)) {
      for (Pair& pair : pairs_) close_pair(pair);
      pairs_.clear();
      held_ = 0;
      cut_done_ = true;
    }
    std::vector<pollfd> fds{{listener_, POLLIN, 0}};
    for (const Pair& pair : pairs_) {
      fds.push_back({pair.client, POLLIN, 0});
      fds.push_back({pair.server, POLLIN, 0});
    }
    if (::poll(fds.data(), fds.size(), kPollMs) <= 0) continue;
    if ((fds[0].revents & POLLIN) != 0) {
      const int client = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
      if (client >= 0) {
        const int server = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in target{};
        target.sin_family = AF_INET;
        target.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        target.sin_port = htons(target_port_);
        if (server >= 0 &&
            ::connect(server, reinterpret_cast<const sockaddr*>(&target), sizeof(target)) == 0) {
          pairs_.push_back(Pair{client, server, Framer{}});
        } else {
          ::close(client);
          if (server >= 0) ::close(server);
        }
      }
    }
    // Only the pairs that were polled: one accepted just now has no entry in `fds`.
    const std::size_t polled = (fds.size() - 1) / 2;
    for (std::size_t i = 0; i < polled; ++i) {
      Pair& pair = pairs_[i];
      const pollfd& from_client = fds[1 + 2 * i];
      const pollfd& from_server = fds[2 + 2 * i];
      bool open = true;
      if ((from_client.revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
        const ssize_t n = ::recv(pair.client, buffer.data(), buffer.size(), 0);
        open = n > 0 && send_all(pair.server, buffer.data(), static_cast<std::size_t>(n));
      }
      if (open && (from_server.revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
        const ssize_t n = ::recv(pair.server, buffer.data(), buffer.size(), 0);
        if (n <= 0) {
          open = false;
        } else {
          int pass = pass_.load();
          std::size_t relay = 0;
          for (std::size_t k = 0; k < static_cast<std::size_t>(n); ++k) {
            const bool ended = pair.framer.step(static_cast<unsigned char>(buffer[k]));
            if (pass != 0) {
              relay = k + 1;
              if (ended && pass > 0) --pass;
            } else if (ended) {
              ++held_;
            }
          }
          if (pass_.load() >= 0) pass_ = pass;
          open = relay == 0 || send_all(pair.client, buffer.data(), relay);
        }
      }
      if (!open) close_pair(pair);
    }
    std::erase_if(pairs_, [](const Pair& pair) { return pair.client < 0; });
  }
  for (Pair& pair : pairs_) close_pair(pair);
}

}  // namespace test_support
