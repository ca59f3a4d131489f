#include "support/scripted_broker.hpp"

#include "support/tcp_listener.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <optional>
#include <stdexcept>
#include <system_error>
#include <vector>

namespace test_support {

namespace {

constexpr int kPollMs = 50;  // how often the server thread looks at `stopping_`

// MQTT control packet types (3.1.1 §2.2.1, same in 5).
constexpr std::uint8_t kConnect = 1;
constexpr std::uint8_t kConnack = 2;
constexpr std::uint8_t kSubscribe = 8;
constexpr std::uint8_t kSuback = 9;
constexpr std::uint8_t kUnsubscribe = 10;
constexpr std::uint8_t kUnsuback = 11;
constexpr std::uint8_t kPingreq = 12;
constexpr std::uint8_t kPingresp = 13;
constexpr std::uint8_t kDisconnect = 14;
constexpr std::uint8_t kMqtt5 = 5;

struct Packet {
  std::uint8_t type;
  std::vector<std::uint8_t> body;
};

// Reads exactly `size` bytes unless the peer closes or the server stops.
bool read_exactly(int fd, std::uint8_t* data, std::size_t size, const std::atomic<bool>& stop) {
  std::size_t done = 0;
  while (done < size) {
    pollfd p{fd, POLLIN, 0};
    const int ready = ::poll(&p, 1, kPollMs);
    if (stop.load()) return false;
    if (ready <= 0) continue;
    const ssize_t n = ::recv(fd, data + done, size - done, 0);
    if (n <= 0) return false;
    done += static_cast<std::size_t>(n);
  }
  return true;
}

std::optional<Packet> read_packet(int fd, const std::atomic<bool>& stop) {
  std::uint8_t header = 0;
  if (!read_exactly(fd, &header, 1, stop)) return std::nullopt;
  std::size_t length = 0;
  for (unsigned shift = 0;; shift += 7) {  // 3.1.1 §2.2.3: remaining length, 7 bits per byte
    std::uint8_t byte = 0;
    if (shift > 21 || !read_exactly(fd, &byte, 1, stop)) return std::nullopt;
    length |= static_cast<std::size_t>(byte & 0x7fU) << shift;
    if ((byte & 0x80U) == 0) break;
  }
  Packet packet{static_cast<std::uint8_t>(header >> 4U), std::vector<std::uint8_t>(length)};
  if (length > 0 && !read_exactly(fd, packet.body.data(), length, stop)) return std::nullopt;
  return packet;
}

void send_all(int fd, const std::vector<std::uint8_t>& bytes) {
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::send(fd, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
    if (n <= 0) return;
    done += static_cast<std::size_t>(n);
  }
}

std::uint8_t fixed_header(std::uint8_t type) { return static_cast<std::uint8_t>(type << 4U); }

}  // namespace

ScriptedBroker::ScriptedBroker(Script script) : script_(script) {
  const auto listener = listen_on_loopback("ScriptedBroker");
  listener_ = listener.fd;
  port_ = listener.port;
  thread_ = std::thread([this] { run(); });
}

ScriptedBroker::~ScriptedBroker() {
  stopping_ = true;
  thread_.join();
  ::close(listener_);
}

std::string ScriptedBroker::uri() const { return "tcp://127.0.0.1:" + std::to_string(port_); }

void ScriptedBroker::run() {
  while (!stopping_.load()) {
    pollfd p{listener_, POLLIN, 0};
    if (::poll(&p, 1, kPollMs) <= 0) continue;
    const int client = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) continue;
    serve(client);
    ::close(client);
  }
}

void ScriptedBroker::serve(int client) {
  bool v5 = false;
  while (auto packet = read_packet(client, stopping_)) {
    const auto& body = packet->body;
    switch (packet->type) {
      case kConnect:
        // 3.1.1 §3.1.2.2: the protocol level follows the 6-byte protocol name "\0\4MQTT".
        v5 = body.size() > 6 && body[6] == kMqtt5;
        if (!script_.answer_connect) break;
        if (v5) {
          send_all(client, {fixed_header(kConnack), 3, 0, script_.connack_code, 0});
        } else {
          send_all(client, {fixed_header(kConnack), 2, 0, script_.connack_code});
        }
        if (script_.connack_code != 0) return;  // a refused client is disconnected
        break;
      case kSubscribe:
        if (body.size() < 2) return;
        if (v5) {
          send_all(client, {fixed_header(kSuback), 4, body[0], body[1], 0, script_.suback_code});
        } else {
          send_all(client, {fixed_header(kSuback), 3, body[0], body[1], script_.suback_code});
        }
        break;
      case kUnsubscribe:
        if (body.size() < 2) return;
        if (v5) {
          send_all(client, {fixed_header(kUnsuback), 4, body[0], body[1], 0, 0});
        } else {
          send_all(client, {fixed_header(kUnsuback), 2, body[0], body[1]});
        }
        break;
      case kPingreq: send_all(client, {fixed_header(kPingresp), 0}); break;
      case kDisconnect: return;
      default: break;
    }
  }
}

}  // namespace test_support
