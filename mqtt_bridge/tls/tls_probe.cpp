#include "tls_probe.hpp"

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <utility>

namespace mqtt_bridge::tls {
namespace {

using Clock = std::chrono::steady_clock;

// Closes the descriptor on every path out.
class Socket {
 public:
  explicit Socket(int fd) : fd_(fd) {}
  ~Socket() {
    if (fd_ >= 0) ::close(fd_);
  }
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

int remaining_ms(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return left.count() > 0 ? static_cast<int>(left.count()) : 0;
}

// Waits until `fd` is ready for `events`; false at the deadline.
bool wait_for(int fd, short events, Clock::time_point deadline) {
  pollfd p{fd, events, 0};
  for (;;) {
    const int rc = ::poll(&p, 1, remaining_ms(deadline));
    if (rc > 0) return true;
    if (rc == 0 || errno != EINTR) return false;
  }
}

std::string errno_text(const char* what) { return std::string(what) + ": " + std::strerror(errno); }

}  // namespace

Probe::Probe(const TlsOptions& options, std::string host, std::string port,
             std::chrono::milliseconds timeout)
    : context_(options, host), host_(std::move(host)), port_(std::move(port)), timeout_(timeout) {}

std::optional<Verdict> Probe::explain() {
  const std::lock_guard lock(mutex_);
  const auto now = Clock::now();
  if (last_run_ && now - *last_run_ < kReuse) return last_verdict_;
  last_verdict_ = run();
  last_run_ = Clock::now();
  return last_verdict_;
}

std::optional<Verdict> Probe::run() const {
  const auto deadline = Clock::now() + timeout_;
  const std::string where = host_ + ":" + port_;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (const int rc = ::getaddrinfo(host_.c_str(), port_.c_str(), &hints, &found); rc != 0) {
    return Verdict{false, "cannot resolve " + host_ + ": " + gai_strerror(rc)};
  }
  const int fd = ::socket(found->ai_family, found->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                          found->ai_protocol);
  if (fd < 0) {
    ::freeaddrinfo(found);
    return Verdict{false, errno_text("socket")};
  }
  const Socket socket(fd);
  const int connected = ::connect(fd, found->ai_addr, found->ai_addrlen);
  ::freeaddrinfo(found);
  if (connected != 0 && errno != EINPROGRESS) {
    return Verdict{false, "cannot connect to " + where + ": " + std::strerror(errno)};
  }
  if (connected != 0) {
    if (!wait_for(fd, POLLOUT, deadline)) return Verdict{false, "no TCP connection to " + where};
    int error = 0;
    socklen_t size = sizeof error;
    ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &size);
    if (error != 0) {
      return Verdict{false, "cannot connect to " + where + ": " + std::strerror(error)};
    }
  }

  TlsLink link(context_);
  link.start();
  Bytes out;
  Bytes plain;
  std::array<std::uint8_t, 16 * 1024> buffer{};
  // After the handshake, a little longer for the broker's verdict on our certificate: TLS 1.3
  // finishes the client's side before the server has checked it (RFC 8446 §4.4.2.4).
  std::optional<Clock::time_point> settle;
  for (;;) {
    link.take_output(out);
    std::size_t sent = 0;
    while (sent < out.size()) {
      const ssize_t n = ::send(fd, out.data() + sent, out.size() - sent, MSG_NOSIGNAL);
      if (n > 0) {
        sent += static_cast<std::size_t>(n);
      } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
        if (!wait_for(fd, POLLOUT, deadline)) return Verdict{false, "TLS handshake timed out"};
      } else {
        return Verdict{false, errno_text("send")};
      }
    }
    out.clear();
    if (link.failed()) return Verdict{link.refused(), link.error()};
    if (link.established() && !settle) {
      settle = std::min(deadline, Clock::now() + std::chrono::milliseconds(300));
    }
    const auto until = settle ? *settle : deadline;
    if (!wait_for(fd, POLLIN, until)) {
      if (settle) return std::nullopt;  // handshake done and no complaint: TLS is fine
      return Verdict{false, "TLS handshake timed out"};
    }
    const ssize_t n = ::recv(fd, buffer.data(), buffer.size(), 0);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
    if (n < 0) return Verdict{false, errno_text("recv")};
    if (n == 0) {
      return Verdict{false, link.established() ? "the broker closed the connection after the TLS handshake"
                                               : "the broker closed the connection during the TLS handshake"};
    }
    link.receive(std::span(buffer.data(), static_cast<std::size_t>(n)), plain);
  }
}

}  // namespace mqtt_bridge::tls
