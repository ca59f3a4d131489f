#include "mqtt_clients.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <stdexcept>

#include "payload.hpp"

namespace bench {
namespace {

// Watched descriptors are told apart from connection indexes by this bit of epoll's data.
constexpr std::uint64_t kWatchBit = 1ULL << 62;

void parse_broker(const std::string& uri, sockaddr_storage& addr, socklen_t& len) {
  std::string rest = uri;
  if (const auto scheme = rest.find("://"); scheme != std::string::npos)
    rest = rest.substr(scheme + 3);
  const auto colon = rest.rfind(':');
  if (colon == std::string::npos) throw std::runtime_error("broker URI without a port: " + uri);
  std::string host = rest.substr(0, colon);
  const int port = std::stoi(rest.substr(colon + 1));
  if (!host.empty() && host.front() == '[') host = host.substr(1, host.size() - 2);
  if (host == "localhost") host = "127.0.0.1";
  auto* v4 = reinterpret_cast<sockaddr_in*>(&addr);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&addr);
  if (::inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1 && host.rfind("127.", 0) == 0) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<std::uint16_t>(port));
    len = sizeof(sockaddr_in);
  } else if (::inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1 &&
             IN6_IS_ADDR_LOOPBACK(&v6->sin6_addr)) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<std::uint16_t>(port));
    len = sizeof(sockaddr_in6);
  } else {
    throw std::runtime_error("broker must be a loopback address: " + uri);
  }
}

}  // namespace

MqttClients::MqttClients(const std::string& broker, std::size_t count, Events events)
    : events_(std::move(events)), connections_(count) {
  parse_broker(broker, broker_, broker_len_);
  epoll_ = ::epoll_create1(EPOLL_CLOEXEC);
  if (epoll_ < 0) throw std::runtime_error("epoll_create1 failed");
}

MqttClients::~MqttClients() {
  for (std::size_t i = 0; i < connections_.size(); ++i) close(i, false);
  ::close(epoll_);
}

bool MqttClients::open(std::size_t i, std::string_view client_id, std::uint16_t keepalive_s) {
  Connection& c = connections_[i];
  if (c.fd >= 0) return true;
  const int fd = ::socket(broker_.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  const int rc = ::connect(fd, reinterpret_cast<const sockaddr*>(&broker_), broker_len_);
  if (rc != 0 && errno != EINPROGRESS) {
    ::close(fd);
    return false;
  }
  epoll_event ev{};
  ev.events = EPOLLIN | (rc != 0 ? std::uint32_t{EPOLLOUT} : 0U);
  ev.data.u64 = i;
  if (::epoll_ctl(epoll_, EPOLL_CTL_ADD, fd, &ev) != 0) {
    ::close(fd);
    return false;
  }
  c = Connection{};
  c.fd = fd;
  c.connecting = rc != 0;
  c.want_out = rc != 0;
  c.keepalive_s = keepalive_s;
  mqtt::encode_connect(c.out, client_id, keepalive_s);
  if (!c.connecting) flush(i);
  return true;
}

void MqttClients::set_want_out(std::size_t i, bool want) {
  Connection& c = connections_[i];
  if (c.want_out == want) return;
  c.want_out = want;
  epoll_event ev{};
  ev.events = EPOLLIN | (want ? std::uint32_t{EPOLLOUT} : 0U);
  ev.data.u64 = i;
  ::epoll_ctl(epoll_, EPOLL_CTL_MOD, c.fd, &ev);
}

void MqttClients::flush(std::size_t i) {
  Connection& c = connections_[i];
  if (c.fd < 0 || c.connecting) return;
  while (c.out_sent < c.out.size()) {
    const auto n = ::send(c.fd, c.out.data() + c.out_sent, c.out.size() - c.out_sent, MSG_NOSIGNAL);
    if (n > 0) {
      c.out_sent += static_cast<std::size_t>(n);
      c.last_tx_ns = now_ns();
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      set_want_out(i, true);
      return;
    }
    close(i, true);
    return;
  }
  c.out.clear();
  c.out_sent = 0;
  set_want_out(i, false);
}

void MqttClients::poll(int timeout_ms) {
  std::array<epoll_event, 512> ready{};
  const int n = ::epoll_wait(epoll_, ready.data(), static_cast<int>(ready.size()), timeout_ms);
  for (int k = 0; k < n; ++k) {
    const std::uint64_t data = ready[static_cast<std::size_t>(k)].data.u64;
    if ((data & kWatchBit) != 0) {
      watched_[data & ~kWatchBit].second();
      continue;
    }
    on_event(data, ready[static_cast<std::size_t>(k)].events);
  }
  const std::uint64_t now = now_ns();
  if (now < next_ping_check_ns_) return;
  next_ping_check_ns_ = now + 1'000'000'000ULL;
  for (std::size_t i = 0; i < connections_.size(); ++i) {
    Connection& c = connections_[i];
    if (c.fd < 0 || c.connecting || c.keepalive_s == 0) continue;
    if (now - c.last_tx_ns >= std::uint64_t{c.keepalive_s} * 500'000'000ULL) {
      mqtt::encode_pingreq(c.out);
      flush(i);
    }
  }
}

void MqttClients::watch(int fd, std::function<void()> readable) {
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = kWatchBit | watched_.size();
  watched_.emplace_back(fd, std::move(readable));
  ::epoll_ctl(epoll_, EPOLL_CTL_ADD, fd, &ev);
}

void MqttClients::on_event(std::size_t i, std::uint32_t events) {
  Connection& c = connections_[i];
  if (c.fd < 0) return;
  if (c.connecting && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) != 0) {
    int error = 0;
    socklen_t len = sizeof error;
    ::getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &error, &len);
    if (error != 0) {
      close(i, true);
      return;
    }
    c.connecting = false;
  }
  if ((events & EPOLLIN) != 0) on_readable(i);
  if (c.fd >= 0 && (events & EPOLLOUT) != 0) flush(i);
  if (c.fd >= 0 && (events & (EPOLLERR | EPOLLHUP)) != 0 && (events & EPOLLIN) == 0) close(i, true);
}

void MqttClients::on_readable(std::size_t i) {
  std::array<std::uint8_t, 65536> chunk{};
  // A bounded number of reads per event, so one busy connection cannot starve the others.
  for (int reads = 0; reads < 16; ++reads) {
    Connection& c = connections_[i];
    if (c.fd < 0) return;
    const auto n = ::recv(c.fd, chunk.data(), chunk.size(), 0);
    if (n == 0) {
      close(i, true);
      return;
    }
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) close(i, true);
      return;
    }
    c.in.insert(c.in.end(), chunk.begin(), chunk.begin() + n);
    std::size_t at = 0;
    for (;;) {
      mqtt::Packet packet;
      std::size_t consumed = 0;
      const auto framing = mqtt::next_packet(std::span(c.in).subspan(at), packet, consumed);
      if (framing == mqtt::Framing::incomplete) break;
      if (framing == mqtt::Framing::malformed) {
        close(i, true);
        return;
      }
      at += consumed;
      switch (packet.type) {
        case mqtt::Type::connack:
          if (const auto rc = mqtt::parse_connack(packet); rc && events_.connack)
            events_.connack(i, *rc);
          break;
        case mqtt::Type::publish:
          if (const auto p = mqtt::parse_publish(packet); p && events_.publish)
            events_.publish(i, *p);
          break;
        case mqtt::Type::puback:
          if (const auto id = mqtt::parse_packet_id(packet); id && events_.puback)
            events_.puback(i, *id);
          break;
        case mqtt::Type::pubrec:
          if (const auto id = mqtt::parse_packet_id(packet); id && events_.pubrec)
            events_.pubrec(i, *id);
          break;
        case mqtt::Type::pubcomp:
          if (const auto id = mqtt::parse_packet_id(packet); id && events_.pubcomp)
            events_.pubcomp(i, *id);
          break;
        case mqtt::Type::suback:
          if (const auto id = mqtt::parse_packet_id(packet); id && events_.suback)
            events_.suback(i, *id);
          break;
        default: break;  // PINGRESP and anything else: nothing to do
      }
      if (connections_[i].fd < 0) return;  // a callback closed it
    }
    connections_[i].in.erase(connections_[i].in.begin(),
                             connections_[i].in.begin() + static_cast<std::ptrdiff_t>(at));
    if (static_cast<std::size_t>(n) < chunk.size()) return;
  }
}

void MqttClients::close(std::size_t i, bool notify) {
  Connection& c = connections_[i];
  if (c.fd < 0) return;
  ::epoll_ctl(epoll_, EPOLL_CTL_DEL, c.fd, nullptr);
  ::close(c.fd);
  c.fd = -1;
  c.out.clear();
  c.out_sent = 0;
  c.in.clear();
  if (notify && events_.closed) events_.closed(i);
}

void MqttClients::disconnect_all() {
  for (std::size_t i = 0; i < connections_.size(); ++i) {
    if (connections_[i].fd < 0 || connections_[i].connecting) continue;
    mqtt::encode_disconnect(connections_[i].out);
    flush(i);
  }
  for (std::size_t i = 0; i < connections_.size(); ++i) close(i, false);
}

}  // namespace bench
