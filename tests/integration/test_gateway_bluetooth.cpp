// Bluetooth transports. The build machines have no AF_BLUETOOTH in the kernel, so:
//  - the real gateway binary with an rfcomm/l2cap transport must refuse to start with exactly
//    "transports[i]: Bluetooth is not available in this kernel (EAFNOSUPPORT)" and exit 2, or
//    with "optional": true warn and serve without it;
//  - the connection handling (RFCOMM stream framing, L2CAP one packet = one frame, lifecycle) is
//    driven through the very same code path, BluetoothTransport::adopt(), on socketpairs.

#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "sn_protocol/codec.hpp"
#include "sn_protocol/peer.hpp"
#include "support/gateway_process.hpp"
#include "support/test_loop.hpp"
#include "transports/bluetooth_transport.hpp"

using namespace std::chrono_literals;
using Bytes = std::vector<std::uint8_t>;

namespace {

// True when this kernel really has Bluetooth sockets (then the EAFNOSUPPORT tests do not apply).
const bool kKernelHasBluetooth = [] {
  const int fd = ::socket(AF_BLUETOOTH, SOCK_SEQPACKET, 0);
  if (fd >= 0) {
    ::close(fd);
    std::fprintf(stderr, "test_gateway_bluetooth: this kernel has AF_BLUETOOTH: the "
                         "EAFNOSUPPORT start-up tests are skipped\n");
    return true;
  }
  return errno != EAFNOSUPPORT;
}();

using Loop = test_support::TestLoop;

struct Harness {
  std::vector<std::pair<sn::Peer, Bytes>> frames;
  std::vector<sn::Peer> connected;
  std::vector<std::pair<sn::Peer, std::string>> disconnected;
  std::optional<transports::BluetoothTransport> transport;

  Harness(Loop& loop, transports::BluetoothKind kind) {
    transports::BluetoothOptions options;
    options.transport_id = 2;
    options.kind = kind;
    options.channel_or_psm = kind == transports::BluetoothKind::rfcomm ? 3 : 0x81;
    transports::BluetoothCallbacks callbacks;
    callbacks.on_frame = [this](const sn::Peer& from, std::span<const std::uint8_t> bytes) {
      frames.emplace_back(from, Bytes(bytes.begin(), bytes.end()));
    };
    callbacks.on_connected = [this](const sn::Peer& peer) { connected.push_back(peer); };
    callbacks.on_disconnected = [this](const sn::Peer& peer, const std::string& reason) {
      disconnected.emplace_back(peer, reason);
    };
    transport.emplace(loop.get(), options, std::move(callbacks));
  }

  void close(Loop& loop) {
    bool closed = false;
    transport->close([&closed] { closed = true; });
    CHECK(loop.run_until([&] { return closed; }));
  }
};

sn::Peer bt_peer(std::uint8_t last, std::uint16_t channel) {
  const std::array<std::uint8_t, 6> bdaddr{last, 0x22, 0x33, 0x44, 0x55, 0x66};
  return transports::BluetoothTransport::make_peer(2, bdaddr, channel);
}

// A connected pair: [0] for the transport, [1] for the test (the remote device).
std::array<int, 2> socket_pair(int type) {
  std::array<int, 2> fds{-1, -1};
  REQUIRE(::socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, fds.data()) == 0);
  return fds;
}

Bytes publish(std::size_t size, std::uint8_t fill) {
  Bytes frame = {static_cast<std::uint8_t>(7 + size), 0x0C, 0x00, 0x00, 0x01, 0x00, 0x00};
  frame.insert(frame.end(), size, fill);
  return frame;
}

Bytes read_some(Loop& loop, int fd, std::size_t want) {
  Bytes out;
  loop.run_until([&] {
    std::array<std::uint8_t, 2048> buffer{};
    const ssize_t n = ::recv(fd, buffer.data(), buffer.size(), MSG_DONTWAIT);
    if (n > 0) out.insert(out.end(), buffer.begin(), buffer.begin() + n);
    return out.size() >= want;
  });
  return out;
}

}  // namespace

TEST_CASE("bluetooth: without kernel support the gateway exits 2 naming the transport" *
          doctest::skip(kKernelHasBluetooth)) {
  for (const char* transport : {R"({"type": "l2cap", "psm": 129})",
                                R"({"type": "rfcomm", "channel": 1})"}) {
    CAPTURE(transport);
    test_support::GatewayOptions options;
    options.upstream_uri = "tcp://127.0.0.1:1";
    options.wait_ready = false;
    options.extra_transports = {R"({"type": "udp", "bind": "127.0.0.1:0"})", transport};
    test_support::GatewayProcess gateway(options);
    CHECK(gateway.wait_exit(10s) == 2);
    CHECK(gateway.log().find(
              "transports[2]: Bluetooth is not available in this kernel (EAFNOSUPPORT)") !=
          std::string::npos);
  }
}

TEST_CASE("bluetooth: an optional transport without kernel support is skipped with a warning" *
          doctest::skip(kKernelHasBluetooth)) {
  test_support::GatewayOptions options;
  options.upstream_uri = "tcp://127.0.0.1:1";
  options.qos_minus_one = false;  // no broker here: do not wait for the gateway's own connection
  options.extra_transports = {R"({"type": "rfcomm", "channel": 1, "optional": true})",
                              R"({"type": "l2cap", "psm": 129, "optional": true})"};
  test_support::GatewayProcess gateway(options);  // answers SEARCHGW over UDP: it runs
  const auto log = gateway.log();
  CHECK(log.find("transports[1]: Bluetooth is not available in this kernel (EAFNOSUPPORT); the "
                 "transport is optional, running without it") != std::string::npos);
  CHECK(log.find("transports[2]: Bluetooth is not available in this kernel (EAFNOSUPPORT)") !=
        std::string::npos);
  CHECK(gateway.stop() == 0);
}

TEST_CASE("bluetooth: start() reports the missing address family as documented" *
          doctest::skip(kKernelHasBluetooth)) {
  Loop loop;
  Harness h(loop, transports::BluetoothKind::l2cap);
  CHECK_THROWS_WITH_AS(h.transport->start(),
                       "Bluetooth is not available in this kernel (EAFNOSUPPORT)",
                       std::runtime_error);
  h.close(loop);
}

TEST_CASE("bluetooth rfcomm: a stream cut into frames whatever the split, replies go back") {
  Loop loop;
  Harness h(loop, transports::BluetoothKind::rfcomm);
  const auto fds = socket_pair(SOCK_STREAM);
  const auto peer = bt_peer(0x11, 3);
  REQUIRE(h.transport->adopt(fds[0], peer));
  CHECK(h.connected == std::vector<sn::Peer>{peer});
  CHECK(sn::to_string(peer) == "bt#2 66:55:44:33:22:11/3");

  // One octet per write.
  const Bytes first = publish(30, 0x5A);
  for (const auto octet : first) {
    REQUIRE(::send(fds[1], &octet, 1, 0) == 1);
    uv_run(loop.get(), UV_RUN_NOWAIT);
  }
  REQUIRE(loop.run_until([&] { return h.frames.size() == 1; }));
  CHECK(h.frames[0].first == peer);
  CHECK(h.frames[0].second == first);

  // Garbage, then three frames (one in the 3-octet length form) in one write.
  Bytes burst = {0xEE, 0x03, 0x00};
  const Bytes a = publish(1, 'a');
  const Bytes b = {0x02, 0x16};  // PINGREQ
  Bytes c_frame = {0x01, 0x01, 0x2C, 0x0C, 0x00, 0x00, 0x01, 0x00, 0x00};  // PUBLISH of 300 octets
  c_frame.insert(c_frame.end(), 300 - c_frame.size(), 'c');
  const Bytes& c = c_frame;
  for (const auto* frame : {&a, &b, &c}) burst.insert(burst.end(), frame->begin(), frame->end());
  REQUIRE(::send(fds[1], burst.data(), burst.size(), 0) == static_cast<ssize_t>(burst.size()));
  REQUIRE(loop.run_until([&] { return h.frames.size() == 4; }));
  CHECK(h.frames[1].second == a);
  CHECK(h.frames[2].second == b);
  CHECK(h.frames[3].second == c);
  CHECK(h.transport->counters().bytes_skipped == 3);

  const Bytes reply = {0x02, 0x17};  // PINGRESP
  CHECK(h.transport->send(peer, reply));
  CHECK(read_some(loop, fds[1], 2) == reply);
  CHECK_FALSE(h.transport->send(bt_peer(0x99, 3), reply));  // nobody connected there

  // The remote side goes away: the connection is closed and reported, sends fail.
  ::close(fds[1]);
  REQUIRE(loop.run_until([&] { return h.disconnected.size() == 1; }));
  CHECK(h.disconnected[0].first == peer);
  CHECK(h.disconnected[0].second == "closed by the peer");
  CHECK(h.transport->connection_count() == 0);
  CHECK_FALSE(h.transport->send(peer, reply));
  h.close(loop);
}

TEST_CASE("bluetooth l2cap: one packet is one frame, many connections are many peers") {
  Loop loop;
  Harness h(loop, transports::BluetoothKind::l2cap);
  std::vector<std::array<int, 2>> pairs;
  std::vector<sn::Peer> peers;
  for (std::uint8_t i = 0; i < 5; ++i) {
    pairs.push_back(socket_pair(SOCK_SEQPACKET));
    peers.push_back(bt_peer(i, 0x81));
    REQUIRE(h.transport->adopt(pairs.back()[0], peers.back()));
  }
  CHECK(h.transport->connection_count() == 5);
  for (std::size_t i = 0; i < pairs.size(); ++i) {
    const Bytes frame = publish(i + 1, static_cast<std::uint8_t>('0' + i));
    REQUIRE(::send(pairs[i][1], frame.data(), frame.size(), 0) ==
            static_cast<ssize_t>(frame.size()));
  }
  REQUIRE(loop.run_until([&] { return h.frames.size() == 5; }));
  for (std::size_t i = 0; i < pairs.size(); ++i) {
    bool found = false;
    for (const auto& [from, bytes] : h.frames) {
      if (from == peers[i]) found = bytes == publish(i + 1, static_cast<std::uint8_t>('0' + i));
    }
    CHECK(found);
  }
  // Each reply goes to its own connection only, as one packet.
  for (std::size_t i = 0; i < pairs.size(); ++i) {
    const Bytes reply = {0x03, 0x05, static_cast<std::uint8_t>(i)};
    CHECK(h.transport->send(peers[i], reply));
  }
  for (std::size_t i = 0; i < pairs.size(); ++i) {
    CHECK(read_some(loop, pairs[i][1], 3) == Bytes{0x03, 0x05, static_cast<std::uint8_t>(i)});
  }
  // A packet larger than max_frame_size is dropped, the connection lives on.
  const Bytes huge(2000, 0x42);
  REQUIRE(::send(pairs[0][1], huge.data(), huge.size(), 0) == static_cast<ssize_t>(huge.size()));
  const Bytes ping = {0x02, 0x16};
  REQUIRE(::send(pairs[0][1], ping.data(), ping.size(), 0) == 2);
  REQUIRE(loop.run_until([&] { return h.frames.size() == 6; }));
  CHECK(h.frames.back().second == ping);
  CHECK(h.transport->counters().oversize_dropped == 1);

  // One connection closing loses only that one.
  ::close(pairs[2][1]);
  REQUIRE(loop.run_until([&] { return h.disconnected.size() == 1; }));
  CHECK(h.disconnected[0].first == peers[2]);
  CHECK(h.transport->connection_count() == 4);
  CHECK(h.transport->send(peers[3], ping));

  // close() closes the rest without reporting them one by one.
  h.close(loop);
  CHECK(h.disconnected.size() == 1);
  for (std::size_t i = 0; i < pairs.size(); ++i) {
    if (i != 2) ::close(pairs[i][1]);
  }
}

TEST_CASE("bluetooth: a new connection from the same peer replaces the old one") {
  Loop loop;
  Harness h(loop, transports::BluetoothKind::rfcomm);
  const auto first = socket_pair(SOCK_STREAM);
  const auto second = socket_pair(SOCK_STREAM);
  const auto peer = bt_peer(0x42, 3);
  REQUIRE(h.transport->adopt(first[0], peer));
  REQUIRE(h.transport->adopt(second[0], peer));
  CHECK(h.transport->connection_count() == 1);
  REQUIRE(h.disconnected.size() == 1);
  CHECK(h.disconnected[0].second == "replaced by a new connection");
  const Bytes reply = {0x02, 0x17};
  CHECK(h.transport->send(peer, reply));
  CHECK(read_some(loop, second[1], 2) == reply);
  h.close(loop);
  ::close(first[1]);
  ::close(second[1]);
}
