#include "flood.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <stdexcept>

#include "sn_protocol/codec.hpp"

namespace bench {

Flood::Flood(const std::string& gateway, std::uint32_t ports, std::uint32_t rate) {
  sockaddr_in to{};
  to.sin_family = AF_INET;
  const auto colon = gateway.rfind(':');
  if (colon == std::string::npos || inet_pton(AF_INET, gateway.substr(0, colon).c_str(), &to.sin_addr) != 1) {
    throw std::runtime_error("flood: the gateway must be an IPv4 host:port, got " + gateway);
  }
  to.sin_port = htons(static_cast<std::uint16_t>(std::stoul(gateway.substr(colon + 1))));
  address_.resize(sizeof to);
  std::memcpy(address_.data(), &to, sizeof to);
  for (std::uint32_t i = 0; i < ports; ++i) {
    const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      for (const int open : sockets_) ::close(open);
      throw std::runtime_error(std::string("flood: socket: ") + std::strerror(errno));
    }
    sockaddr_in local{};
    local.sin_family = AF_INET;
    local.sin_addr.s_addr = htonl(0x7F00000A);  // 127.0.0.10
    if (::bind(fd, reinterpret_cast<const sockaddr*>(&local), sizeof local) != 0) {
      ::close(fd);
      for (const int open : sockets_) ::close(open);
      throw std::runtime_error(std::string("flood: bind 127.0.0.10: ") + std::strerror(errno));
    }
    sockets_.push_back(fd);
  }
  thread_ = std::thread([this, rate] { run(rate); });
}

Flood::~Flood() {
  stop();
  for (const int fd : sockets_) ::close(fd);
}

std::uint64_t Flood::stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  return sent_.load();
}

void Flood::run(std::uint32_t rate) {
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  const auto* to = reinterpret_cast<const sockaddr*>(address_.data());
  std::uint64_t n = 0;
  while (!stop_) {
    // Paced: the n-th CONNECT leaves n/rate seconds after the start.
    const auto due = start + std::chrono::nanoseconds(n * 1'000'000'000ULL / rate);
    if (Clock::now() < due) {
      std::this_thread::sleep_for(std::min<Clock::duration>(due - Clock::now(), std::chrono::milliseconds(5)));
      continue;
    }
    sn::Connect connect;
    connect.clean_session = true;
    connect.duration_s = 600;
    connect.client_id = "flood-" + std::to_string(n);
    const auto frame = sn::encode(sn::Message{connect});
    ::sendto(sockets_[n % sockets_.size()], frame.data(), frame.size(), MSG_DONTWAIT, to,
             sizeof(sockaddr_in));
    ++n;
    sent_ = n;
  }
}

}  // namespace bench
