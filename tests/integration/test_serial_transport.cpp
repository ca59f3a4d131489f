// SerialTransport against real pseudo-terminals: socat links two PTYs, the transport opens one,
// the test plays the device (an MQTT-SN node, or an XBee coordinator radio) on the other. socat
// runs as a child process, stopped only by its own PID. Every wait has a deadline and ends as soon
// as its event arrives. Without socat on PATH the PTY tests are skipped, and say so.

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>
#include <uv.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <doctest/doctest.h>

#include "sn_protocol/peer.hpp"
#include "support/test_loop.hpp"
#include "transports/serial_transport.hpp"
#include "transports/xbee_api.hpp"

extern char** environ;

namespace {

using namespace std::chrono_literals;
using Bytes = std::vector<std::uint8_t>;
using Clock = std::chrono::steady_clock;
namespace xbee = transports::xbee;

std::string find_on_path(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::string dirs = path != nullptr ? path : "/usr/bin:/bin";
  std::size_t begin = 0;
  while (begin <= dirs.size()) {
    const std::size_t end = std::min(dirs.find(':', begin), dirs.size());
    const std::string candidate = dirs.substr(begin, end - begin) + "/" + name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    begin = end + 1;
  }
  return {};
}

const std::string kSocat = [] {
  std::string path = find_on_path("socat");
  if (path.empty()) {
    std::fprintf(stderr,
                 "test_serial_transport: socat not found on PATH: the serial PTY tests are "
                 "skipped (install it: apt-get install socat)\n");
  }
  return path;
}();
const bool kNoSocat = kSocat.empty();

using test_support::TestLoop;

// socat linking two PTYs; `gateway_link` and `device_link` are the symlinks to them.
class Socat {
 public:
  Socat() {
    static std::atomic<int> counter{0};
    const std::string base =
        "/tmp/mqttsn-serial-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
    gateway_link_ = base + "-gw";
    device_link_ = base + "-dev";
    log_ = base + ".log";
  }
  Socat(const Socat&) = delete;
  Socat& operator=(const Socat&) = delete;
  ~Socat() {
    stop();
    ::unlink(gateway_link_.c_str());
    ::unlink(device_link_.c_str());
    ::unlink(log_.c_str());
  }

  const std::string& gateway_link() const { return gateway_link_; }
  const std::string& device_link() const { return device_link_; }

  // Starts socat and waits until both links lead to a PTY.
  bool start() {
    ::unlink(gateway_link_.c_str());
    ::unlink(device_link_.c_str());
    const std::string a = "pty,raw,echo=0,link=" + gateway_link_;
    const std::string b = "pty,raw,echo=0,link=" + device_link_;
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, log_.c_str(),
                                     O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    std::vector<char*> argv = {const_cast<char*>(kSocat.c_str()), const_cast<char*>("-d"),
                               const_cast<char*>("-d"),           const_cast<char*>(a.c_str()),
                               const_cast<char*>(b.c_str()),      nullptr};
    const int rc = ::posix_spawn(&pid_, kSocat.c_str(), &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) {
      pid_ = -1;
      return false;
    }
    const auto deadline = Clock::now() + 5s;
    struct stat st {};
    while (Clock::now() < deadline) {
      if (::stat(gateway_link_.c_str(), &st) == 0 && ::stat(device_link_.c_str(), &st) == 0) {
        return true;
      }
      std::this_thread::sleep_for(5ms);  // socat gives no other sign that the links exist
    }
    return false;
  }

  // SIGTERM to our own child only, then reaps it.
  void stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
  }

 private:
  pid_t pid_ = -1;
  std::string gateway_link_;
  std::string device_link_;
  std::string log_;
};

// The far end of the line: a raw, non-blocking PTY.
class Device {
 public:
  explicit Device(const std::string& path) {
    fd_ = ::open(path.c_str(), O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
    if (fd_ < 0) return;
    termios tio{};
    ::tcgetattr(fd_, &tio);
    ::cfmakeraw(&tio);
    ::tcsetattr(fd_, TCSANOW, &tio);
  }
  Device(const Device&) = delete;
  Device& operator=(const Device&) = delete;
  ~Device() {
    if (fd_ >= 0) ::close(fd_);
  }

  bool ok() const { return fd_ >= 0; }

  bool write(std::span<const std::uint8_t> bytes) const {
    std::size_t done = 0;
    const auto deadline = Clock::now() + 5s;
    while (done < bytes.size() && Clock::now() < deadline) {
      const ssize_t n = ::write(fd_, bytes.data() + done, bytes.size() - done);
      if (n > 0) {
        done += static_cast<std::size_t>(n);
      } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
        return false;
      } else {
        pollfd p{fd_, POLLOUT, 0};
        ::poll(&p, 1, 10);
      }
    }
    return done == bytes.size();
  }

  // Reads until `want` octets arrived or the deadline, running `loop` meanwhile.
  Bytes read(TestLoop& loop, std::size_t want, std::chrono::milliseconds limit = 5s) const {
    Bytes out;
    const auto deadline = Clock::now() + limit;
    while (out.size() < want && Clock::now() < deadline) {
      uv_run(loop.get(), UV_RUN_NOWAIT);
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 5) == 1 && (p.revents & POLLIN) != 0) {
        std::uint8_t buffer[4096];
        const ssize_t n = ::read(fd_, buffer, sizeof buffer);
        if (n > 0) out.insert(out.end(), buffer, buffer + n);
      }
    }
    return out;
  }

 private:
  int fd_ = -1;
};

struct Received {
  sn::Peer peer;
  Bytes bytes;
};

// A transport with every callback recorded.
struct Harness {
  std::vector<Received> frames;
  int lost = 0;
  int back = 0;
  std::vector<std::pair<sn::Peer, xbee::TransmitStatus>> failures;
  std::optional<transports::SerialTransport> transport;

  Harness(TestLoop& loop, transports::SerialOptions options) {
    transports::SerialCallbacks callbacks;
    callbacks.on_frame = [this](const sn::Peer& from, std::span<const std::uint8_t> bytes) {
      frames.push_back({from, Bytes(bytes.begin(), bytes.end())});
    };
    callbacks.on_device_lost = [this] { ++lost; };
    callbacks.on_device_back = [this] { ++back; };
    callbacks.on_transmit_failed = [this](const sn::Peer& to, const xbee::TransmitStatus& s) {
      failures.emplace_back(to, s);
    };
    transport.emplace(loop.get(), std::move(options), std::move(callbacks));
  }

  void close(TestLoop& loop) {
    bool closed = false;
    transport->close([&closed] { closed = true; });
    CHECK(loop.run_until([&] { return closed; }));
  }
};

Bytes publish(std::size_t data_size, std::uint8_t fill) {
  Bytes frame = {static_cast<std::uint8_t>(7 + data_size), 0x0C, 0x00, 0x00, 0x01, 0x00, 0x00};
  frame.insert(frame.end(), data_size, fill);
  return frame;
}

const Bytes kPingreq = {0x02, 0x16};

transports::SerialOptions raw_options(const Socat& socat) {
  transports::SerialOptions options;
  options.transport_id = 3;
  options.device = socat.gateway_link();
  options.baud = 115200;
  return options;
}

}  // namespace

TEST_CASE("serial: unsupported baud rate fails at start-up naming it" *
          doctest::description("no socat needed")) {
  TestLoop loop;
  transports::SerialOptions options;
  options.device = "/dev/null";
  options.baud = 12345;
  Harness h(loop, options);
  try {
    h.transport->start();
    FAIL("start() did not throw");
  } catch (const std::runtime_error& e) {
    CHECK(std::string(e.what()).find("serial /dev/null: unsupported baud rate 12345") == 0);
  }
  h.close(loop);
}

TEST_CASE("serial: a missing device and a non-tty fail at start-up with a clear message") {
  TestLoop loop;
  {
    transports::SerialOptions options;
    options.device = "/nonexistent/ttyUSB9";
    Harness h(loop, options);
    CHECK_THROWS_WITH_AS(h.transport->start(),
                         "serial /nonexistent/ttyUSB9: open failed: No such file or directory",
                         std::runtime_error);
    h.close(loop);
  }
  {
    transports::SerialOptions options;
    options.device = "/dev/null";
    Harness h(loop, options);
    CHECK_THROWS_WITH_AS(h.transport->start(), "serial /dev/null: is not a terminal",
                         std::runtime_error);
    h.close(loop);
  }
}

TEST_CASE("serial: raw frames written one octet at a time arrive whole and replies go back" *
          doctest::skip(kNoSocat)) {
  TestLoop loop;
  Socat socat;
  REQUIRE(socat.start());
  Harness h(loop, raw_options(socat));
  h.transport->start();
  CHECK(h.transport->device_open());
  Device device(socat.device_link());
  REQUIRE(device.ok());

  const Bytes frame = publish(40, 0x5A);
  for (std::size_t i = 0; i < frame.size(); ++i) {
    REQUIRE(device.write(std::span(frame).subspan(i, 1)));
    // Each octet is its own read on the gateway side.
    REQUIRE(loop.run_until([&] { return h.transport->counters().bytes_received == i + 1; }));
  }
  REQUIRE(h.frames.size() == 1);
  CHECK(h.frames[0].bytes == frame);
  CHECK(h.frames[0].peer == h.transport->line_peer());
  CHECK(h.frames[0].peer.kind == sn::PeerKind::serial);
  CHECK(h.frames[0].peer.transport_id == 3);

  // A reply to the line, then a broadcast.
  CHECK(h.transport->send(h.frames[0].peer, kPingreq));
  CHECK(device.read(loop, kPingreq.size()) == kPingreq);
  const Bytes advertise = {0x05, 0x00, 0x01, 0x03, 0x84};
  CHECK(h.transport->broadcast(advertise));
  CHECK(device.read(loop, advertise.size()) == advertise);
  // A peer of another kind is refused.
  CHECK_FALSE(h.transport->send(sn::Peer::make(3, sn::PeerKind::xbee, Bytes(10, 1)), kPingreq));
  h.close(loop);
}

TEST_CASE("serial: three raw frames in one write, and garbage before a frame" *
          doctest::skip(kNoSocat)) {
  TestLoop loop;
  Socat socat;
  REQUIRE(socat.start());
  Harness h(loop, raw_options(socat));
  h.transport->start();
  Device device(socat.device_link());
  REQUIRE(device.ok());

  const Bytes a = publish(3, 0x01);
  const Bytes b = kPingreq;
  const Bytes c = publish(200, 0x02);
  Bytes stream = a;
  stream.insert(stream.end(), b.begin(), b.end());
  stream.insert(stream.end(), c.begin(), c.end());
  REQUIRE(device.write(stream));
  REQUIRE(loop.run_until([&] { return h.frames.size() == 3; }));
  CHECK(h.frames[0].bytes == a);
  CHECK(h.frames[1].bytes == b);
  CHECK(h.frames[2].bytes == c);

  // 0x00 (Length 0), 0xFF 0x99 (reserved MsgType), 0x11 0x1E (reserved), then a PUBLISH whose
  // Length 0x11 is itself no valid MsgType.
  const Bytes garbage = {0x00, 0xFF, 0x99, 0x11, 0x1E};
  const Bytes d = publish(10, 0x03);
  Bytes noisy = garbage;
  noisy.insert(noisy.end(), d.begin(), d.end());
  REQUIRE(device.write(noisy));
  REQUIRE(loop.run_until([&] { return h.frames.size() == 4; }));
  CHECK(h.frames[3].bytes == d);
  CHECK(h.transport->counters().bytes_skipped == garbage.size());
  h.close(loop);
}

TEST_CASE("serial: a partial raw frame is dropped after the inter-byte timeout" *
          doctest::skip(kNoSocat)) {
  TestLoop loop;
  Socat socat;
  REQUIRE(socat.start());
  auto options = raw_options(socat);
  options.inter_byte_timeout = 50ms;
  Harness h(loop, options);
  h.transport->start();
  Device device(socat.device_link());
  REQUIRE(device.ok());
  // A 3-octet Length of 1000 that never completes: the idle timer clears it without new bytes.
  REQUIRE(device.write(Bytes{0x01, 0x03, 0xE8, 0x0C, 0x00}));
  REQUIRE(loop.run_until([&] { return h.transport->counters().timeouts == 1; }, 2s));
  REQUIRE(device.write(kPingreq));
  REQUIRE(loop.run_until([&] { return h.frames.size() == 1; }));
  CHECK(h.frames[0].bytes == kPingreq);
  h.close(loop);
}

namespace {

// 20 radios behind one coordinator: each sends one frame in a Receive Packet 0x90; each becomes
// its own peer; the gateway answers each with a Transmit Request 0x10 to its address.
void twenty_nodes(xbee::ApiMode mode) {
  TestLoop loop;
  Socat socat;
  REQUIRE(socat.start());
  transports::SerialOptions options;
  options.transport_id = 7;
  options.device = socat.gateway_link();
  options.framing = transports::SerialFraming::xbee;
  options.api_mode = mode;
  Harness h(loop, options);
  h.transport->start();
  Device device(socat.device_link());
  REQUIRE(device.ok());

  constexpr int kNodes = 20;
  // Addresses chosen so that API mode 2 has to escape some of them (0x11, 0x13, 0x7D, 0x7E).
  const auto address64 = [](int i) {
    return 0x0013A20040000000ULL | (static_cast<std::uint64_t>(0x7E - 3 + i) << 8) |
           static_cast<std::uint64_t>(i);
  };
  const auto address16 = [](int i) { return static_cast<std::uint16_t>(0x1100 + 0x0D + i); };
  Bytes stream;
  for (int i = 0; i < kNodes; ++i) {
    Bytes data = {0x90};
    const auto a = xbee::address_bytes(address64(i), address16(i));
    data.insert(data.end(), a.begin(), a.end());
    data.push_back(0x01);  // acknowledged
    const Bytes frame = publish(static_cast<std::size_t>(i), static_cast<std::uint8_t>(i));
    data.insert(data.end(), frame.begin(), frame.end());
    xbee::encode_frame_to(data, mode, stream);
  }
  REQUIRE(device.write(stream));
  REQUIRE(loop.run_until([&] { return h.frames.size() == kNodes; }));

  std::map<std::string, int> peers;
  for (int i = 0; i < kNodes; ++i) {
    const auto& got = h.frames[static_cast<std::size_t>(i)];
    CHECK(got.peer.kind == sn::PeerKind::xbee);
    CHECK(got.peer.transport_id == 7);
    const auto a = xbee::address_bytes(address64(i), address16(i));
    CHECK(Bytes(got.peer.address_bytes().begin(), got.peer.address_bytes().end()) ==
          Bytes(a.begin(), a.end()));
    CHECK(got.bytes == publish(static_cast<std::size_t>(i), static_cast<std::uint8_t>(i)));
    ++peers[sn::to_string(got.peer)];
  }
  CHECK(peers.size() == kNodes);

  // Replies: each a 0x10 to that node's 64 + 16-bit address, carrying exactly the frame.
  for (int i = 0; i < kNodes; ++i) {
    CHECK(h.transport->send(h.frames[static_cast<std::size_t>(i)].peer, kPingreq));
  }
  xbee::FrameDecoder radio(mode);
  std::vector<Bytes> requests;
  const auto deadline = Clock::now() + 5s;
  while (requests.size() < kNodes && Clock::now() < deadline) {
    radio.feed(device.read(loop, 1, 50ms),
               [&](std::span<const std::uint8_t> f) { requests.emplace_back(f.begin(), f.end()); });
  }
  REQUIRE(requests.size() == kNodes);
  for (int i = 0; i < kNodes; ++i) {
    const Bytes& r = requests[static_cast<std::size_t>(i)];
    REQUIRE(r.size() == xbee::kTransmitRequestOverhead + kPingreq.size());
    CHECK(r[0] == xbee::kTransmitRequest);
    CHECK(r[1] != 0);  // a frame id: the radio reports delivery
    const auto a = xbee::address_bytes(address64(i), address16(i));
    CHECK(Bytes(r.begin() + 2, r.begin() + 12) == Bytes(a.begin(), a.end()));
    CHECK(r[12] == 0x00);  // broadcast radius
    CHECK(r[13] == 0x00);  // options
    CHECK(Bytes(r.begin() + 14, r.end()) == kPingreq);
  }

  // The radio reports the 5th delivery failed (Route Not Found): counted, reported with its peer.
  const std::uint8_t failed_id = requests[4][1];
  REQUIRE(
      device.write(xbee::encode_frame(Bytes{0x8B, failed_id, 0xFF, 0xFD, 0x02, 0x25, 0x00}, mode)));
  REQUIRE(loop.run_until([&] { return h.failures.size() == 1; }));
  CHECK(h.failures[0].first == h.frames[4].peer);
  CHECK(h.failures[0].second.delivery_status == 0x25);
  CHECK(h.transport->counters().transmit_failures == 1);

  // Broadcast: 0x10 to 000000000000FFFF / FFFE, frame id 0.
  const Bytes advertise = {0x05, 0x00, 0x01, 0x03, 0x84};
  CHECK(h.transport->broadcast(advertise));
  std::vector<Bytes> broadcast;
  const auto deadline2 = Clock::now() + 5s;
  while (broadcast.empty() && Clock::now() < deadline2) {
    radio.feed(device.read(loop, 1, 50ms), [&](std::span<const std::uint8_t> f) {
      broadcast.emplace_back(f.begin(), f.end());
    });
  }
  REQUIRE(broadcast.size() == 1);
  const Bytes expected_head = {0x10, 0x00, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFE, 0x00, 0x00};
  CHECK(Bytes(broadcast[0].begin(), broadcast[0].begin() + 14) == expected_head);

  // The radio's payload limit: 72 octets go, 73 are refused and counted.
  CHECK(h.transport->send(h.frames[0].peer, publish(65, 0x01)));
  CHECK_FALSE(h.transport->send(h.frames[0].peer, publish(66, 0x01)));
  CHECK(h.transport->counters().oversize_dropped == 1);
  CHECK(h.transport->counters().bad_api_frames == 0);
  h.close(loop);
}

}  // namespace

TEST_CASE("serial: xbee API mode 1, 20 node addresses are 20 peers" * doctest::skip(kNoSocat)) {
  twenty_nodes(xbee::ApiMode::plain);
}

TEST_CASE("serial: xbee API mode 2 (escaped), 20 node addresses are 20 peers" *
          doctest::skip(kNoSocat)) {
  twenty_nodes(xbee::ApiMode::escaped);
}

TEST_CASE("serial: socat killed -> device lost, socat back on the same link -> served again" *
          doctest::skip(kNoSocat)) {
  TestLoop loop;
  Socat socat;
  REQUIRE(socat.start());
  auto options = raw_options(socat);
  options.reopen_initial = 20ms;
  options.reopen_max = 200ms;
  Harness h(loop, options);
  h.transport->start();
  {
    Device device(socat.device_link());
    REQUIRE(device.ok());
    REQUIRE(device.write(kPingreq));
    REQUIRE(loop.run_until([&] { return h.frames.size() == 1; }));
  }

  socat.stop();
  REQUIRE(loop.run_until([&] { return h.lost == 1; }));
  CHECK_FALSE(h.transport->device_open());
  CHECK_FALSE(h.transport->send(h.transport->line_peer(), kPingreq));
  // Retries happen on the backoff timer, not in a busy loop: a few attempts in 300 ms at most.
  loop.run_until([] { return false; }, 300ms);
  const auto attempts = h.transport->counters().reopen_attempts;
  CHECK(attempts >= 2);
  CHECK(attempts <= 6);  // 20 + 40 + 80 + 160 ms ... capped at 200 ms
  CHECK(h.back == 0);

  REQUIRE(socat.start());
  REQUIRE(loop.run_until([&] { return h.back == 1; }));
  CHECK(h.transport->device_open());
  CHECK(h.transport->counters().reopened == 1);
  CHECK(h.lost == 1);

  Device device(socat.device_link());
  REQUIRE(device.ok());
  const Bytes frame = publish(20, 0x42);
  REQUIRE(device.write(frame));
  REQUIRE(loop.run_until([&] { return h.frames.size() == 2; }));
  CHECK(h.frames[1].bytes == frame);
  CHECK(h.transport->send(h.transport->line_peer(), kPingreq));
  CHECK(device.read(loop, kPingreq.size()) == kPingreq);
  h.close(loop);
}

TEST_CASE("serial: close while the device is away cancels the reopen timer" *
          doctest::skip(kNoSocat)) {
  TestLoop loop;
  Socat socat;
  REQUIRE(socat.start());
  Harness h(loop, raw_options(socat));
  h.transport->start();
  socat.stop();
  REQUIRE(loop.run_until([&] { return h.lost == 1; }));
  h.close(loop);  // TestLoop's destructor checks no handle is left
  CHECK(h.back == 0);
}
