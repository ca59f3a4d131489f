// UdpTransport against real loopback sockets: a plain POSIX UDP socket plays the MQTT-SN client.
// Every socket binds port 0; every wait has a deadline and ends as soon as its event arrives.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <latch>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <doctest/doctest.h>

#include "sn_protocol/peer.hpp"
#include "support/test_loop.hpp"
#include "transports/udp_transport.hpp"

namespace {

using namespace std::chrono_literals;
using Bytes = std::vector<std::uint8_t>;
using Clock = std::chrono::steady_clock;

using test_support::TestLoop;

// A plain blocking UDP socket bound to the loopback address of `family`, port 0.
class PosixSocket {
 public:
  explicit PosixSocket(int family) : family_(family) {
    fd_ = ::socket(family, SOCK_DGRAM, 0);
    if (fd_ < 0) {
      error_ = std::strerror(errno);
      return;
    }
    sockaddr_storage addr = loopback(0);
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&addr), address_size()) != 0) {
      error_ = std::strerror(errno);
      return;
    }
    socklen_t size = sizeof addr;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &size);
    port_ = port_of(addr);
  }
  PosixSocket(const PosixSocket&) = delete;
  PosixSocket& operator=(const PosixSocket&) = delete;
  ~PosixSocket() {
    if (fd_ >= 0) ::close(fd_);
  }

  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }
  std::uint16_t port() const { return port_; }
  int fd() const { return fd_; }

  void set_receive_buffer(int bytes) const {
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof bytes);
  }

  bool send_to(std::uint16_t port, std::span<const std::uint8_t> bytes) const {
    const sockaddr_storage addr = loopback(port);
    return ::sendto(fd_, bytes.data(), bytes.size(), 0, reinterpret_cast<const sockaddr*>(&addr),
                    address_size()) == static_cast<ssize_t>(bytes.size());
  }

  // Waits for one datagram, running `loop` meanwhile (the transport may need it to send).
  std::optional<Bytes> receive(TestLoop* loop, std::uint16_t* from_port = nullptr,
                               std::chrono::milliseconds limit = 5s) const {
    const auto deadline = Clock::now() + limit;
    while (Clock::now() < deadline) {
      if (loop != nullptr) uv_run(loop->get(), UV_RUN_NOWAIT);
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 10) == 1 && (p.revents & POLLIN) != 0) {
        Bytes bytes(70000);
        sockaddr_storage from{};
        socklen_t from_size = sizeof from;
        const ssize_t n = ::recvfrom(fd_, bytes.data(), bytes.size(), 0,
                                     reinterpret_cast<sockaddr*>(&from), &from_size);
        if (n < 0) return std::nullopt;
        bytes.resize(static_cast<std::size_t>(n));
        if (from_port != nullptr) *from_port = port_of(from);
        return bytes;
      }
    }
    return std::nullopt;
  }

  // The Peer a transport with `transport_id` should report for this socket.
  sn::Peer expected_peer(std::uint16_t transport_id) const {
    const auto hi = static_cast<std::uint8_t>(port_ >> 8);
    const auto lo = static_cast<std::uint8_t>(port_ & 0xFFU);
    if (family_ == AF_INET) {
      const std::uint8_t bytes[] = {127, 0, 0, 1, hi, lo};
      return sn::Peer::make(transport_id, sn::PeerKind::ipv4, bytes);
    }
    std::uint8_t bytes[22] = {};
    bytes[15] = 1;  // ::1
    bytes[16] = hi;
    bytes[17] = lo;  // scope id 0
    return sn::Peer::make(transport_id, sn::PeerKind::ipv6, bytes);
  }

 private:
  sockaddr_storage loopback(std::uint16_t port) const {
    sockaddr_storage addr{};
    if (family_ == AF_INET) {
      auto* in = reinterpret_cast<sockaddr_in*>(&addr);
      in->sin_family = AF_INET;
      in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      in->sin_port = htons(port);
    } else {
      auto* in6 = reinterpret_cast<sockaddr_in6*>(&addr);
      in6->sin6_family = AF_INET6;
      in6->sin6_addr = in6addr_loopback;
      in6->sin6_port = htons(port);
    }
    return addr;
  }
  socklen_t address_size() const {
    return family_ == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6);
  }
  static std::uint16_t port_of(const sockaddr_storage& addr) {
    if (addr.ss_family == AF_INET)
      return ntohs(reinterpret_cast<const sockaddr_in*>(&addr)->sin_port);
    return ntohs(reinterpret_cast<const sockaddr_in6*>(&addr)->sin6_port);
  }

  int family_;
  int fd_ = -1;
  std::uint16_t port_ = 0;
  std::string error_;
};

struct Frame {
  sn::Peer from;
  Bytes bytes;
};

transports::UdpOptions options_for(const std::string& host, std::uint16_t transport_id = 7) {
  transports::UdpOptions options;
  options.transport_id = transport_id;
  options.host = host;
  options.port = 0;
  return options;
}

// Closes `transport` and runs the loop until its close callback ran.
bool close_and_wait(TestLoop& loop, transports::UdpTransport& transport) {
  bool closed = false;
  transport.close([&closed] { closed = true; });
  return loop.run_until([&closed] { return closed; });
}

Bytes numbered(std::uint32_t i, std::size_t size = 16) {
  Bytes bytes(size, static_cast<std::uint8_t>(i));
  bytes[0] = static_cast<std::uint8_t>(i >> 24);
  bytes[1] = static_cast<std::uint8_t>(i >> 16);
  bytes[2] = static_cast<std::uint8_t>(i >> 8);
  bytes[3] = static_cast<std::uint8_t>(i);
  return bytes;
}

std::uint32_t number_of(const Bytes& bytes) {
  if (bytes.size() < 4) return UINT32_MAX;
  return (static_cast<std::uint32_t>(bytes[0]) << 24) |
         (static_cast<std::uint32_t>(bytes[1]) << 16) |
         (static_cast<std::uint32_t>(bytes[2]) << 8) | bytes[3];
}

void round_trip(int family, const std::string& host) {
  TestLoop loop;
  PosixSocket client(family);
  REQUIRE_MESSAGE(client.ok(), client.error());
  std::vector<Frame> frames;
  transports::UdpTransport transport(
      loop.get(), options_for(host),
      [&frames](const sn::Peer& from, std::span<const std::uint8_t> b) {
        frames.push_back({from, Bytes(b.begin(), b.end())});
      });
  transport.start();
  REQUIRE(transport.local_port() != 0);
  CHECK(transport.receive_buffer_size() > 0);
  CHECK(transport.send_buffer_size() > 0);
  WARN_MESSAGE(transport.using_recvmmsg(), "recvmmsg unavailable: one datagram per read");

  const Bytes hello = {0x02, 0x16};  // PINGREQ without client id
  REQUIRE(client.send_to(transport.local_port(), hello));
  REQUIRE(loop.run_until([&] { return frames.size() == 1; }));
  CHECK(frames[0].bytes == hello);
  CHECK(frames[0].from == client.expected_peer(7));
  CHECK(frames[0].from.transport_id == 7);

  const Bytes reply = {0x02, 0x17};  // PINGRESP
  CHECK(transport.send(frames[0].from, reply));
  std::uint16_t from_port = 0;
  const auto received = client.receive(&loop, &from_port);
  REQUIRE(received.has_value());
  CHECK(*received == reply);
  CHECK(from_port == transport.local_port());

  CHECK(transport.counters().datagrams_received == 1);
  CHECK(transport.counters().datagrams_sent == 1);
  CHECK(transport.counters().send_errors == 0);
  CHECK(transport.counters().truncated_dropped == 0);
  CHECK(close_and_wait(loop, transport));
}

bool ipv6_loopback_available(std::string& why) {
  PosixSocket probe(AF_INET6);
  why = probe.error();
  return probe.ok();
}

}  // namespace

TEST_CASE("udp: ipv4 round trip") { round_trip(AF_INET, "127.0.0.1"); }

TEST_CASE("udp: localhost means 127.0.0.1") { round_trip(AF_INET, "localhost"); }

TEST_CASE("udp: ipv6 round trip on ::1") {
  std::string why;
  if (!ipv6_loopback_available(why)) {
    MESSAGE("SKIPPED: cannot bind ::1 (" << why << "); this test did not run");
    return;
  }
  round_trip(AF_INET6, "::1");
}

TEST_CASE("udp: socket buffers beyond net.core.rmem_max are forced where permitted") {
  // The kernel caps SO_RCVBUF at rmem_max (212992 by default, 4 MiB on some hosts); a gateway
  // running as root (or with CAP_NET_ADMIN) gets what its config asks for all the same.
  if (::geteuid() != 0) {
    MESSAGE("SKIPPED: forcing socket buffers needs root or CAP_NET_ADMIN; this test did not run");
    return;
  }
  long rmem_max = 0;
  if (FILE* f = std::fopen("/proc/sys/net/core/rmem_max", "r")) {
    if (std::fscanf(f, "%ld", &rmem_max) != 1) rmem_max = 0;
    std::fclose(f);
  }
  REQUIRE(rmem_max > 0);
  const int asked = static_cast<int>(std::min<long>(rmem_max * 2 + 1024 * 1024, 256L << 20));
  TestLoop loop;
  transports::UdpOptions options = options_for("127.0.0.1");
  options.receive_buffer_bytes = asked;
  options.send_buffer_bytes = asked;
  transports::UdpTransport transport(loop.get(), options,
                                     [](const sn::Peer&, std::span<const std::uint8_t>) {});
  transport.start();
  CAPTURE(rmem_max);
  CAPTURE(asked);
  // Linux reports twice what was set.
  CHECK(transport.receive_buffer_size() / 2 >= asked);
  CHECK(transport.send_buffer_size() / 2 >= asked);
  CHECK(close_and_wait(loop, transport));
}

TEST_CASE("udp: 1000 datagrams in a burst arrive in order, both ways") {
  constexpr std::uint32_t kCount = 1000;
  TestLoop loop;
  PosixSocket client(AF_INET);
  REQUIRE_MESSAGE(client.ok(), client.error());
  client.set_receive_buffer(4 * 1024 * 1024);
  std::vector<std::uint32_t> numbers;
  sn::Peer last_from;
  transports::UdpTransport transport(loop.get(), options_for("127.0.0.1"),
                                     [&](const sn::Peer& from, std::span<const std::uint8_t> b) {
                                       numbers.push_back(number_of(Bytes(b.begin(), b.end())));
                                       last_from = from;
                                     });
  transport.start();

  // Uplink: the client fires from its own thread while this one drains the loop.
  const std::uint16_t port = transport.local_port();
  std::atomic<std::uint32_t> failed_sends{0};
  std::thread sender([&] {
    for (std::uint32_t i = 0; i < kCount; ++i) {
      if (!client.send_to(port, numbered(i))) ++failed_sends;
    }
  });
  const bool all_arrived = loop.run_until([&] { return numbers.size() == kCount; }, 10s);
  sender.join();
  REQUIRE(failed_sends == 0);
  REQUIRE(all_arrived);
  std::vector<std::uint32_t> expected(kCount);
  for (std::uint32_t i = 0; i < kCount; ++i) expected[i] = i;
  CHECK(numbers == expected);
  CHECK(transport.counters().datagrams_received == kCount);
  CHECK(transport.counters().truncated_dropped == 0);
  CHECK(transport.counters().receive_errors == 0);

  // Downlink: the transport fires while a reader thread drains the client socket.
  std::vector<std::uint32_t> downlink;
  std::latch reader_ready(1);
  std::thread reader([&] {
    reader_ready.count_down();
    while (downlink.size() < kCount) {
      const auto bytes = client.receive(nullptr, nullptr, 10s);
      if (!bytes) break;
      downlink.push_back(number_of(*bytes));
    }
  });
  reader_ready.wait();
  for (std::uint32_t i = 0; i < kCount; ++i) CHECK(transport.send(last_from, numbered(i)));
  // Sent in sendmmsg batches of 64 as they fill, the rest when the loop iteration ends (nothing
  // wakes the poll after that, hence one iteration that does not wait); datagrams the kernel
  // could not take at once complete through the loop.
  uv_run(loop.get(), UV_RUN_NOWAIT);
  CHECK(loop.run_until([&] {
    return transport.counters().datagrams_sent + transport.counters().send_errors >= kCount;
  }));
  reader.join();
  CHECK(transport.counters().datagrams_sent == kCount);
  CHECK(transport.counters().send_errors == 0);
  CHECK(downlink == expected);
  CHECK(close_and_wait(loop, transport));
}

// send() gathers a loop iteration's datagrams for one sendmmsg(2) at its end: nothing leaves
// before the iteration ends, then all of them in order; one the kernel refuses (port 0: EINVAL)
// is counted and does not take the others with it.
TEST_CASE("udp: the datagrams of one loop iteration leave together at its end, in order") {
  TestLoop loop;
  PosixSocket client(AF_INET);
  REQUIRE_MESSAGE(client.ok(), client.error());
  transports::UdpTransport transport(loop.get(), options_for("127.0.0.1"), {});
  transport.start();
  const sn::Peer to = client.expected_peer(7);
  const std::uint8_t port_zero[] = {127, 0, 0, 1, 0, 0};
  const sn::Peer nowhere = sn::Peer::make(7, sn::PeerKind::ipv4, port_zero);

  for (std::uint32_t i = 0; i < 10; ++i) {
    CHECK(transport.send(to, numbered(i)));
    if (i == 4) CHECK(transport.send(nowhere, numbered(99)));
  }
  pollfd p{client.fd(), POLLIN, 0};
  CHECK(::poll(&p, 1, 50) == 0);  // still in the batch
  CHECK(transport.counters().datagrams_sent == 0);

  uv_run(loop.get(), UV_RUN_NOWAIT);  // the iteration ends: the batch leaves
  CHECK(transport.counters().datagrams_sent == 10);
  CHECK(transport.counters().send_errors == 1);
  std::vector<std::uint32_t> got;
  while (got.size() < 10) {
    const auto bytes = client.receive(nullptr, nullptr, 1s);
    if (!bytes) break;
    got.push_back(number_of(*bytes));
  }
  CHECK(got == std::vector<std::uint32_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9});

  // A full batch (64) does not wait for the end of the iteration.
  for (std::uint32_t i = 0; i < 64; ++i) CHECK(transport.send(to, numbered(i)));
  CHECK(transport.counters().datagrams_sent == 74);
  // Queued datagrams leave before the socket closes.
  CHECK(transport.send(to, numbered(64)));
  CHECK(close_and_wait(loop, transport));
  got.clear();
  while (got.size() < 65) {
    const auto bytes = client.receive(nullptr, nullptr, 1s);
    if (!bytes) break;
    got.push_back(number_of(*bytes));
  }
  CHECK(got.size() == 65);
  CHECK(got.back() == 64);
}

// With recvmmsg libuv reads every datagram into a 64 KiB slot, so no UDP datagram can be larger
// than the transport's buffer: the largest IPv4 datagram must arrive whole, never cut.
TEST_CASE("udp: a 65507-byte datagram arrives whole - larger ones are refused on send") {
  constexpr std::size_t kLargest = 65507;  // 65535 - 20 (IPv4 header) - 8 (UDP header)
  TestLoop loop;
  PosixSocket client(AF_INET);
  REQUIRE_MESSAGE(client.ok(), client.error());
  std::vector<Frame> frames;
  transports::UdpTransport transport(
      loop.get(), options_for("127.0.0.1"),
      [&frames](const sn::Peer& from, std::span<const std::uint8_t> b) {
        frames.push_back({from, Bytes(b.begin(), b.end())});
      });
  transport.start();

  Bytes big(kLargest);
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<std::uint8_t>(i * 7 + 3);
  REQUIRE(client.send_to(transport.local_port(), big));
  REQUIRE(loop.run_until([&] { return frames.size() == 1; }));
  CHECK(frames[0].bytes.size() == kLargest);
  CHECK(frames[0].bytes == big);
  CHECK(transport.counters().truncated_dropped == 0);

  CHECK(transport.send(frames[0].from, big));
  const auto echoed = client.receive(&loop);
  REQUIRE(echoed.has_value());
  CHECK(*echoed == big);

  const Bytes too_big_for_ipv4(kLargest + 1, 0x55);
  CHECK_FALSE(transport.send(frames[0].from, too_big_for_ipv4));  // EMSGSIZE from the kernel
  const Bytes too_big_for_udp(70000, 0x55);
  CHECK_FALSE(transport.send(frames[0].from, too_big_for_udp));  // refused before the kernel
  CHECK(transport.counters().send_errors == 2);
  CHECK(transport.counters().datagrams_sent == 1);
  CHECK(close_and_wait(loop, transport));
}

TEST_CASE("udp: an empty datagram is an empty frame, both ways") {
  TestLoop loop;
  PosixSocket client(AF_INET);
  REQUIRE_MESSAGE(client.ok(), client.error());
  std::vector<Frame> frames;
  transports::UdpTransport transport(
      loop.get(), options_for("127.0.0.1"),
      [&frames](const sn::Peer& from, std::span<const std::uint8_t> b) {
        frames.push_back({from, Bytes(b.begin(), b.end())});
      });
  transport.start();
  REQUIRE(client.send_to(transport.local_port(), {}));
  REQUIRE(loop.run_until([&] { return frames.size() == 1; }));
  CHECK(frames[0].bytes.empty());
  CHECK(transport.send(frames[0].from, {}));
  const auto echoed = client.receive(&loop);
  REQUIRE(echoed.has_value());
  CHECK(echoed->empty());
  CHECK(close_and_wait(loop, transport));
}

TEST_CASE("udp: binding an address in use fails with a message naming it") {
  TestLoop loop;
  transports::UdpTransport first(loop.get(), options_for("127.0.0.1"), {});
  first.start();
  const std::uint16_t port = first.local_port();

  auto options = options_for("127.0.0.1");
  options.port = port;
  transports::UdpTransport second(loop.get(), options, {});
  const std::string expected =
      "udp 127.0.0.1:" + std::to_string(port) + ": bind failed: address already in use";
  CHECK_THROWS_WITH_AS(second.start(), expected.c_str(), std::runtime_error);

  options.host = "localhost";
  transports::UdpTransport third(loop.get(), options, {});
  const std::string expected_localhost =
      "udp localhost:" + std::to_string(port) + ": bind failed: address already in use";
  CHECK_THROWS_WITH_AS(third.start(), expected_localhost.c_str(), std::runtime_error);

  transports::UdpTransport bad_host(loop.get(), options_for("not-an-address"), {});
  CHECK_THROWS_WITH_AS(bad_host.start(),
                       "udp not-an-address:0: invalid host (expected an IPv4 or IPv6 literal, or "
                       "localhost)",
                       std::runtime_error);

  // A transport whose start() failed still closes cleanly.
  CHECK(close_and_wait(loop, bad_host));
  CHECK(close_and_wait(loop, third));
  CHECK(close_and_wait(loop, second));
  CHECK(close_and_wait(loop, first));
}

TEST_CASE("udp: send refuses peers of another transport, kind or a forwarded one") {
  TestLoop loop;
  transports::UdpTransport transport(loop.get(), options_for("127.0.0.1", 3), {});
  const std::uint8_t v4[] = {127, 0, 0, 1, 0x07, 0x5C};
  const sn::Peer good = sn::Peer::make(3, sn::PeerKind::ipv4, v4);
  const Bytes frame = {0x02, 0x17};

  CHECK_FALSE(transport.send(good, frame));  // not started yet
  transport.start();

  const sn::Peer other_transport = sn::Peer::make(4, sn::PeerKind::ipv4, v4);
  std::uint8_t v6[22] = {};
  v6[15] = 1;
  const sn::Peer other_kind = sn::Peer::make(3, sn::PeerKind::ipv6, v6);
  const std::uint8_t xbee_address[10] = {0, 0x13, 0xA2, 0, 0x41, 0xA1, 0xB2, 0xC3, 0xFF, 0xFE};
  const sn::Peer xbee = sn::Peer::make(3, sn::PeerKind::xbee, xbee_address);
  const std::uint8_t short_v4[] = {127, 0, 0, 1};
  const sn::Peer truncated = sn::Peer::make(3, sn::PeerKind::ipv4, short_v4);
  sn::Peer forwarded = good;
  const std::uint8_t node[] = {0x0A, 0x0B};
  REQUIRE(forwarded.set_node_id(node));

  CHECK_FALSE(transport.send(other_transport, frame));
  CHECK_FALSE(transport.send(other_kind, frame));
  CHECK_FALSE(transport.send(xbee, frame));
  CHECK_FALSE(transport.send(truncated, frame));
  CHECK_FALSE(transport.send(forwarded, frame));
  CHECK(transport.counters().send_errors == 6);
  CHECK(transport.counters().datagrams_sent == 0);

  CHECK(close_and_wait(loop, transport));
  CHECK_FALSE(transport.send(good, frame));  // closed
}

TEST_CASE("udp: close runs the callback and leaves no live handles") {
  auto loop = std::make_unique<TestLoop>();
  int calls = 0;
  {
    transports::UdpTransport transport(loop->get(), options_for("127.0.0.1"), {});
    transport.start();
    transport.close([&calls] { ++calls; });
    transport.close([&calls] { ++calls; });  // a second close chains onto the first
    CHECK(calls == 0);                       // only ever from the loop's close callback
    CHECK(loop->run_until([&calls] { return calls == 2; }));
    CHECK(transport.local_port() == 0);
    transport.close([&calls] { ++calls; });  // already closed: runs at once
    CHECK(calls == 3);
  }
  loop.reset();  // checks uv_loop_close() == 0

  // Never started: closing is just as clean.
  TestLoop second;
  transports::UdpTransport idle(second.get(), options_for("127.0.0.1"), {});
  CHECK(close_and_wait(second, idle));
}

TEST_CASE("udp: close from inside the frame handler stops delivery") {
  TestLoop loop;
  PosixSocket client(AF_INET);
  REQUIRE_MESSAGE(client.ok(), client.error());
  int frames = 0;
  bool closed = false;
  transports::UdpTransport* self = nullptr;
  transports::UdpTransport transport(loop.get(), options_for("127.0.0.1"),
                                     [&](const sn::Peer&, std::span<const std::uint8_t>) {
                                       ++frames;
                                       self->close([&closed] { closed = true; });
                                     });
  self = &transport;
  transport.start();
  // Queued in the kernel before the loop runs, so they come in one recvmmsg batch.
  for (std::uint32_t i = 0; i < 5; ++i)
    REQUIRE(client.send_to(transport.local_port(), numbered(i)));
  CHECK(loop.run_until([&closed] { return closed; }));
  CHECK(frames == 1);
}

TEST_CASE("udp: a transport destroyed before its close completed is freed by the loop") {
  TestLoop loop;  // its destructor runs the loop and checks nothing is left
  bool closed = false;
  {
    transports::UdpTransport closing(loop.get(), options_for("127.0.0.1"), {});
    closing.start();
    closing.close([&closed] { closed = true; });
  }
  {
    transports::UdpTransport never_closed(loop.get(), options_for("127.0.0.1"), {});
    never_closed.start();
  }
  CHECK(loop.run_until([&closed] { return closed; }));
}
