#include "support/udp_impair.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <sstream>
#include <stdexcept>
#include <vector>

namespace test_support {

namespace {

using Clock = std::chrono::steady_clock;
using Datagram = std::vector<std::uint8_t>;

constexpr auto kIdlePoll = std::chrono::milliseconds(20);  // how often the thread looks at stopping_
constexpr std::size_t kMaxClients = 256;                   // a bound, far above what a test uses

sockaddr_in loopback(std::uint16_t port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  return addr;
}

int udp_socket() {
  const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error(std::string("UdpImpairRelay: socket: ") + std::strerror(errno));
  return fd;
}

}  // namespace

// The relay thread's state: only that thread touches it.
class UdpImpairRelay::Engine {
 public:
  explicit Engine(UdpImpairRelay& relay, std::uint16_t gateway_port)
      : relay_(relay), gateway_(loopback(gateway_port)), rng_(relay.impairment_.seed) {}
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;
  ~Engine() {
    for (const auto& flow : flows_) ::close(flow->upstream);
  }

  void run() {
    std::array<std::uint8_t, 65536> buffer{};
    while (!relay_.stopping_.load()) {
      std::vector<pollfd> fds{{relay_.listener_, POLLIN, 0}};
      for (const auto& flow : flows_) fds.push_back({flow->upstream, POLLIN, 0});
      const auto wait = std::chrono::duration_cast<std::chrono::nanoseconds>(
          std::clamp<Clock::duration>(next_due() - Clock::now(), Clock::duration::zero(), kIdlePoll));
      const timespec timeout{0, static_cast<long>(wait.count())};
      if (::ppoll(fds.data(), fds.size(), &timeout, nullptr) > 0) {
        if ((fds[0].revents & POLLIN) != 0) read_clients(buffer);
        // Only the flows that were polled: read_clients() may just have added one.
        for (std::size_t i = 1; i < fds.size(); ++i) {
          if ((fds[i].revents & (POLLIN | POLLERR)) != 0) read_gateway(i - 1, buffer);
        }
      }
      release_due();
    }
  }

 private:
  struct Held {
    Datagram bytes;
    Clock::time_point deadline;
  };
  // One direction between one client and the gateway.
  struct Lane {
    Clock::time_point last_release{};
    std::optional<Held> held;
  };
  struct Flow {
    sockaddr_in client{};
    int upstream = -1;
    std::array<Lane, 2> lanes;  // [0] towards the gateway, [1] towards the client
  };
  struct Scheduled {
    std::size_t flow;
    int direction;
    Datagram bytes;
  };

  bool chance(double p) { return static_cast<double>(rng_()) < p * 4294967296.0; }

  Clock::duration jitter() {
    const auto max_us = std::chrono::duration_cast<std::chrono::microseconds>(relay_.impairment_.jitter);
    if (max_us.count() <= 0) return Clock::duration::zero();
    return std::chrono::microseconds(rng_() % static_cast<std::uint32_t>(max_us.count() + 1));
  }

  Clock::time_point next_due() const {
    auto due = Clock::now() + kIdlePoll;
    if (!scheduled_.empty()) due = std::min(due, scheduled_.begin()->first);
    for (const auto& flow : flows_) {
      for (const Lane& lane : flow->lanes) {
        if (lane.held) due = std::min(due, lane.held->deadline);
      }
    }
    return due;
  }

  void count(int direction, std::uint64_t ImpairCounts::*field) {
    const std::lock_guard lock(relay_.mutex_);
    ++(relay_.counts_[direction].*field);
  }

  void read_clients(std::array<std::uint8_t, 65536>& buffer) {
    for (;;) {
      sockaddr_in from{};
      socklen_t len = sizeof from;
      const ssize_t n = ::recvfrom(relay_.listener_, buffer.data(), buffer.size(), 0,
                                   reinterpret_cast<sockaddr*>(&from), &len);
      if (n < 0) return;  // EAGAIN: all read
      const auto flow = flow_of(from);
      if (!flow) continue;
      impair(*flow, 0, Datagram(buffer.begin(), buffer.begin() + n));
    }
  }

  void read_gateway(std::size_t flow, std::array<std::uint8_t, 65536>& buffer) {
    for (;;) {
      const ssize_t n = ::recv(flows_[flow]->upstream, buffer.data(), buffer.size(), 0);
      if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) return;
        continue;  // ECONNREFUSED from an earlier datagram (no gateway yet, or any more)
      }
      impair(flow, 1, Datagram(buffer.begin(), buffer.begin() + n));
    }
  }

  std::optional<std::size_t> flow_of(const sockaddr_in& from) {
    for (std::size_t i = 0; i < flows_.size(); ++i) {
      const sockaddr_in& c = flows_[i]->client;
      if (c.sin_port == from.sin_port && c.sin_addr.s_addr == from.sin_addr.s_addr) return i;
    }
    if (flows_.size() >= kMaxClients) return std::nullopt;
    // A new client: its own socket towards the gateway, so the gateway sees a peer of its own.
    auto flow = std::make_unique<Flow>();
    flow->client = from;
    flow->upstream = udp_socket();
    const sockaddr_in any = loopback(0);
    if (::bind(flow->upstream, reinterpret_cast<const sockaddr*>(&any), sizeof any) != 0 ||
        ::connect(flow->upstream, reinterpret_cast<const sockaddr*>(&gateway_), sizeof gateway_) != 0) {
      ::close(flow->upstream);
      return std::nullopt;
    }
    flows_.push_back(std::move(flow));
    const std::lock_guard lock(relay_.mutex_);
    relay_.clients_ = flows_.size();
    return flows_.size() - 1;
  }

  void impair(std::size_t flow, int direction, Datagram&& bytes) {
    const Impairment& im = relay_.impairment_;
    count(direction, &ImpairCounts::received);
    if (chance(im.drop)) {
      count(direction, &ImpairCounts::dropped);
      return;
    }
    if (chance(im.duplicate)) {
      count(direction, &ImpairCounts::duplicated);
      pass(flow, direction, Datagram(bytes));
    }
    pass(flow, direction, std::move(bytes));
  }

  // One copy: held back (reordered), or delayed by jitter behind what the lane already carries.
  // A held copy follows the next one out.
  void pass(std::size_t flow, int direction, Datagram&& bytes) {
    Lane& lane = flows_[flow]->lanes[static_cast<std::size_t>(direction)];
    const auto now = Clock::now();
    if (!lane.held && chance(relay_.impairment_.reorder)) {
      lane.held = Held{std::move(bytes), now + relay_.impairment_.hold_max};
      return;
    }
    const auto at = std::max(now + jitter(), lane.last_release);
    lane.last_release = at;
    scheduled_.emplace(at, Scheduled{flow, direction, std::move(bytes)});
    if (lane.held) {
      count(direction, &ImpairCounts::reordered);
      // multimap: an equal key goes after the ones already there
      scheduled_.emplace(at, Scheduled{flow, direction, std::move(lane.held->bytes)});
      lane.held.reset();
    }
  }

  void release_due() {
    const auto now = Clock::now();
    for (std::size_t i = 0; i < flows_.size(); ++i) {
      for (std::size_t d = 0; d < 2; ++d) {
        Lane& lane = flows_[i]->lanes[d];
        if (!lane.held || lane.held->deadline > now) continue;
        // Nothing came after it in time: it is only late, not out of order.
        lane.last_release = std::max(now, lane.last_release);
        scheduled_.emplace(lane.last_release,
                           Scheduled{i, static_cast<int>(d), std::move(lane.held->bytes)});
        lane.held.reset();
      }
    }
    while (!scheduled_.empty() && scheduled_.begin()->first <= now) {
      const Scheduled& item = scheduled_.begin()->second;
      const Flow& flow = *flows_[item.flow];
      if (item.direction == 0) {
        ::send(flow.upstream, item.bytes.data(), item.bytes.size(), 0);
      } else {
        ::sendto(relay_.listener_, item.bytes.data(), item.bytes.size(), 0,
                 reinterpret_cast<const sockaddr*>(&flow.client), sizeof flow.client);
      }
      count(item.direction, &ImpairCounts::sent);
      scheduled_.erase(scheduled_.begin());
    }
  }

  UdpImpairRelay& relay_;
  const sockaddr_in gateway_;
  std::mt19937 rng_;
  std::vector<std::unique_ptr<Flow>> flows_;
  std::multimap<Clock::time_point, Scheduled> scheduled_;
};

UdpImpairRelay::UdpImpairRelay(std::uint16_t gateway_port, Impairment impairment)
    : impairment_(impairment) {
  listener_ = udp_socket();
  sockaddr_in addr = loopback(0);
  socklen_t len = sizeof addr;
  if (::bind(listener_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    const int err = errno;
    ::close(listener_);
    throw std::runtime_error(std::string("UdpImpairRelay: bind: ") + std::strerror(err));
  }
  port_ = ntohs(addr.sin_port);
  thread_ = std::thread([this, gateway_port] {
    Engine engine(*this, gateway_port);
    engine.run();
  });
}

UdpImpairRelay::~UdpImpairRelay() {
  stopping_ = true;
  thread_.join();
  ::close(listener_);
}

ImpairCounts UdpImpairRelay::to_gateway() const {
  const std::lock_guard lock(mutex_);
  return counts_[0];
}

ImpairCounts UdpImpairRelay::to_clients() const {
  const std::lock_guard lock(mutex_);
  return counts_[1];
}

std::size_t UdpImpairRelay::clients() const {
  const std::lock_guard lock(mutex_);
  return clients_;
}

std::string UdpImpairRelay::summary() const {
  const auto line = [](const char* name, const ImpairCounts& c) {
    std::ostringstream out;
    out << name << ": " << c.received << " in, " << c.dropped << " dropped, " << c.duplicated
        << " duplicated, " << c.reordered << " reordered, " << c.sent << " out";
    return out.str();
  };
  const Impairment& im = impairment_;
  std::ostringstream out;
  out << "impairment seed " << im.seed << " (drop " << im.drop << ", duplicate " << im.duplicate
      << ", reorder " << im.reorder << ", jitter 0.." << im.jitter.count() << " ms, hold <= "
      << im.hold_max.count() << " ms), " << clients() << " client(s); "
      << line("to gateway", to_gateway()) << "; " << line("to clients", to_clients());
  return out.str();
}

}  // namespace test_support
