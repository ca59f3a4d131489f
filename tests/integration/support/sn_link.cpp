#include "support/sn_link.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace test_support {
namespace {

using Clock = std::chrono::steady_clock;
namespace xbee = transports::xbee;

std::string find_on_path(const std::string& name) {
  const char* path = std::getenv("PATH");
  const std::string dirs = path != nullptr ? path : "/usr/bin:/bin";
  std::size_t begin = 0;
  while (begin <= dirs.size()) {
    const std::size_t end = std::min(dirs.find(':', begin), dirs.size());
    const std::string candidate = dirs.substr(begin, end - begin) + "/" + name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    begin = end + 1;
  }
  return {};
}

int open_pty(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) throw std::runtime_error("cannot open " + path + ": " + std::strerror(errno));
  termios tio{};
  ::tcgetattr(fd, &tio);
  ::cfmakeraw(&tio);
  ::tcsetattr(fd, TCSANOW, &tio);
  return fd;
}

void write_all(int fd, std::span<const std::uint8_t> bytes) {
  std::size_t done = 0;
  const auto deadline = Clock::now() + std::chrono::seconds(5);
  while (done < bytes.size() && Clock::now() < deadline) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n > 0) {
      done += static_cast<std::size_t>(n);
    } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
      throw std::runtime_error(std::string("write: ") + std::strerror(errno));
    } else {
      pollfd p{fd, POLLOUT, 0};
      ::poll(&p, 1, 10);
    }
  }
  if (done < bytes.size()) throw std::runtime_error("write: timed out");
}

// Waits up to `timeout` for `fd` to be readable, then reads what is there (empty: nothing).
std::vector<std::uint8_t> read_some(int fd, Millis timeout) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, static_cast<int>(std::max<std::int64_t>(0, timeout.count()))) <= 0) return {};
  std::vector<std::uint8_t> buffer(4096);
  const ssize_t n = ::read(fd, buffer.data(), buffer.size());
  if (n <= 0) {
    // EIO while socat is away: wait out the timeout instead of spinning.
    if ((p.revents & (POLLHUP | POLLERR)) != 0) std::this_thread::sleep_for(Millis(5));
    return {};
  }
  buffer.resize(static_cast<std::size_t>(n));
  return buffer;
}

Millis left_until(Clock::time_point deadline) {
  return std::chrono::duration_cast<Millis>(deadline - Clock::now());
}

sn::Packet as_packet(const sn::Message& message) {
  return std::visit([](const auto& m) { return sn::Packet{m}; }, message);
}

}  // namespace

const std::string& socat_path() {
  static const std::string path = [] {
    std::string found = find_on_path("socat");
    if (found.empty()) {
      std::fprintf(stderr,
                   "integration: socat not found on PATH: the gateway serial/xbee tests are "
                   "skipped (install it: apt-get install socat)\n");
    }
    return found;
  }();
  return path;
}

bool no_socat() { return socat_path().empty(); }

// ---- SocatPair ------------------------------------------------------------------------------

SocatPair::SocatPair() {
  static std::atomic<int> counter{0};
  const std::string base =
      "/tmp/mqttsn-gw-serial-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
  gateway_link_ = base + "-gw";
  device_link_ = base + "-dev";
  log_ = base + ".log";
}

SocatPair::~SocatPair() {
  stop();
  ::unlink(gateway_link_.c_str());
  ::unlink(device_link_.c_str());
  ::unlink(log_.c_str());
}

bool SocatPair::start() {
  if (no_socat()) return false;
  ::unlink(gateway_link_.c_str());
  ::unlink(device_link_.c_str());
  const std::string a = "pty,raw,echo=0,link=" + gateway_link_;
  const std::string b = "pty,raw,echo=0,link=" + device_link_;
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, log_.c_str(),
                                   O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  std::vector<char*> argv = {const_cast<char*>(socat_path().c_str()), const_cast<char*>("-d"),
                             const_cast<char*>("-d"), const_cast<char*>(a.c_str()),
                             const_cast<char*>(b.c_str()), nullptr};
  const int rc = ::posix_spawn(&pid_, socat_path().c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    pid_ = -1;
    return false;
  }
  const auto deadline = Clock::now() + std::chrono::seconds(5);
  struct stat st {};
  while (Clock::now() < deadline) {
    if (::stat(gateway_link_.c_str(), &st) == 0 && ::stat(device_link_.c_str(), &st) == 0) {
      return true;
    }
    std::this_thread::sleep_for(Millis(5));  // socat gives no other sign that the links exist
  }
  return false;
}

void SocatPair::stop() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
}

// ---- RawSerialLink ----------------------------------------------------------------------------

RawSerialLink::RawSerialLink(const std::string& path) : fd_(open_pty(path)) {}
RawSerialLink::~RawSerialLink() { ::close(fd_); }

void RawSerialLink::send_packet(const sn::Packet& packet) { write_bytes(sn::encode(packet)); }

void RawSerialLink::write_bytes(std::span<const std::uint8_t> bytes, bool one_at_a_time) {
  if (!one_at_a_time) {
    write_all(fd_, bytes);
    return;
  }
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    write_all(fd_, bytes.subspan(i, 1));
    ::tcdrain(fd_);  // each octet its own read on the other side, as far as the PTY allows
  }
}

std::optional<sn::Packet> RawSerialLink::receive(Millis timeout) {
  const auto deadline = Clock::now() + timeout;
  while (ready_.empty()) {
    const auto left = left_until(deadline);
    if (left.count() <= 0) return std::nullopt;
    const auto bytes = read_some(fd_, left);
    const auto now = std::chrono::duration_cast<Millis>(Clock::now().time_since_epoch());
    deframer_.feed(bytes, now, [this](std::span<const std::uint8_t> frame) {
      if (auto decoded = sn::decode(frame)) ready_.push_back(std::move(decoded).value());
    });
  }
  sn::Packet first = std::move(ready_.front());
  ready_.pop_front();
  return first;
}

// ---- XBeeCoordinator --------------------------------------------------------------------------

class XBeeCoordinator::Node final : public SnLink {
 public:
  Node(XBeeCoordinator& radio, std::uint64_t a64, std::uint16_t a16)
      : radio_(radio), address64(a64), address16(a16) {}
  void send_packet(const sn::Packet& packet) override { radio_.send_from(*this, packet); }
  std::optional<sn::Packet> receive(Millis timeout) override {
    const auto deadline = Clock::now() + timeout;
    while (inbox.empty()) {
      const auto left = left_until(deadline);
      if (left.count() <= 0) return std::nullopt;
      radio_.pump(left);
    }
    sn::Packet first = std::move(inbox.front());
    inbox.pop_front();
    return first;
  }

  XBeeCoordinator& radio_;
  std::uint64_t address64;
  std::uint16_t address16;
  std::deque<sn::Packet> inbox;
};

XBeeCoordinator::XBeeCoordinator(const std::string& path, xbee::ApiMode mode)
    : fd_(open_pty(path)), mode_(mode), decoder_(mode) {}
XBeeCoordinator::~XBeeCoordinator() { ::close(fd_); }

SnLink& XBeeCoordinator::node(std::uint64_t address64, std::uint16_t address16) {
  auto& slot = nodes_[address64];
  if (!slot) slot = std::make_unique<Node>(*this, address64, address16);
  return *slot;
}

void XBeeCoordinator::send_from(const Node& node, const sn::Packet& packet) {
  // Receive Packet 0x90: type, 64-bit source, 16-bit source, options (0x01 acknowledged), data.
  std::vector<std::uint8_t> data = {xbee::kReceivePacket};
  const auto address = xbee::address_bytes(node.address64, node.address16);
  data.insert(data.end(), address.begin(), address.end());
  data.push_back(0x01);
  const auto frame = sn::encode(packet);
  data.insert(data.end(), frame.begin(), frame.end());
  write_all(fd_, xbee::encode_frame(data, mode_));
}

void XBeeCoordinator::pump(Millis timeout) {
  const auto bytes = read_some(fd_, timeout);
  std::vector<std::vector<std::uint8_t>> statuses;
  decoder_.feed(bytes, [&](std::span<const std::uint8_t> frame_data) {
    // Transmit Request 0x10: type, frame id, 64-bit, 16-bit, radius, options, RF data.
    if (frame_data.size() < xbee::kTransmitRequestOverhead ||
        frame_data[0] != xbee::kTransmitRequest) {
      return;
    }
    std::uint64_t destination = 0;
    for (std::size_t i = 0; i < 8; ++i) destination = (destination << 8) | frame_data[2 + i];
    const auto rf = frame_data.subspan(xbee::kTransmitRequestOverhead);
    if (frame_data[1] != 0) {
      statuses.push_back({xbee::kTransmitStatus, frame_data[1], frame_data[10], frame_data[11],
                          0x00, 0x00, 0x00});
    }
    if (destination == xbee::kBroadcast64) {
      ++broadcasts_;
      return;
    }
    const auto it = nodes_.find(destination);
    if (it == nodes_.end()) return;
    if (auto decoded = sn::decode(rf)) it->second->inbox.push_back(std::move(decoded).value());
  });
  for (const auto& status : statuses) write_all(fd_, xbee::encode_frame(status, mode_));
}

// ---- ForwarderHub -----------------------------------------------------------------------------

class ForwarderHub::Node final : public SnLink {
 public:
  Node(ForwarderHub& hub, sn::Bytes id) : hub_(hub), node_id(std::move(id)) {}
  void send_packet(const sn::Packet& packet) override {
    auto message = std::visit(
        [](const auto& m) -> std::optional<sn::Message> {
          if constexpr (std::is_same_v<std::decay_t<decltype(m)>, sn::Encapsulated>) {
            return std::nullopt;
          } else {
            return sn::Message{m};
          }
        },
        packet);
    if (!message) throw std::logic_error("a node behind a forwarder cannot forward");
    hub_.forwarder_.send_packet(sn::Packet{sn::Encapsulated{0, node_id, std::move(*message)}});
  }
  std::optional<sn::Packet> receive(Millis timeout) override {
    const auto deadline = Clock::now() + timeout;
    while (inbox.empty()) {
      const auto left = left_until(deadline);
      if (left.count() <= 0) return std::nullopt;
      hub_.pump(left);
    }
    sn::Packet first = std::move(inbox.front());
    inbox.pop_front();
    return first;
  }

  ForwarderHub& hub_;
  sn::Bytes node_id;
  std::deque<sn::Packet> inbox;
};

ForwarderHub::ForwarderHub(SnLink& forwarder) : forwarder_(forwarder) {}
ForwarderHub::~ForwarderHub() = default;

SnLink& ForwarderHub::node(const sn::Bytes& node_id) {
  auto& slot = nodes_[node_id];
  if (!slot) slot = std::make_unique<Node>(*this, node_id);
  return *slot;
}

void ForwarderHub::pump(Millis timeout) {
  auto packet = forwarder_.receive(timeout);
  if (!packet) return;
  auto* wrapped = std::get_if<sn::Encapsulated>(&*packet);
  if (wrapped == nullptr) return;  // to the forwarder itself: not ours
  const auto it = nodes_.find(wrapped->node_id);
  if (it != nodes_.end()) it->second->inbox.push_back(as_packet(wrapped->message));
}

// ---- UdpLink ----------------------------------------------------------------------------------

UdpLink::UdpLink(std::uint16_t port) {
  fd_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(port);
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd_ < 0 || ::connect(fd_, reinterpret_cast<const sockaddr*>(&to), sizeof to) < 0) {
    throw std::runtime_error(std::string("udp: ") + std::strerror(errno));
  }
}
UdpLink::~UdpLink() { ::close(fd_); }

void UdpLink::send_packet(const sn::Packet& packet) {
  const auto bytes = sn::encode(packet);
  ::send(fd_, bytes.data(), bytes.size(), 0);
}

std::optional<sn::Packet> UdpLink::receive(Millis timeout) {
  const auto deadline = Clock::now() + timeout;
  std::vector<std::uint8_t> buffer(65536);
  for (;;) {
    const auto left = left_until(deadline);
    if (left.count() < 0) return std::nullopt;
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return std::nullopt;
    const ssize_t n = ::recv(fd_, buffer.data(), buffer.size(), 0);
    if (n <= 0) continue;
    if (auto decoded = sn::decode(std::span(buffer.data(), static_cast<std::size_t>(n)))) {
      return std::move(decoded).value();
    }
  }
}

// ---- SnClient ---------------------------------------------------------------------------------

void SnClient::send(const sn::Message& message) { link_.send_packet(as_packet(message)); }

std::uint16_t SnClient::next_msg_id() {
  if (++msg_id_ == 0) msg_id_ = 1;
  return msg_id_;
}

std::optional<sn::ReturnCode> SnClient::connect(const std::string& client_id,
                                                std::uint16_t keep_alive_s,
                                                const std::string& will_topic,
                                                const std::string& will_message) {
  const bool will = !will_topic.empty();
  send(sn::Connect{will, true, keep_alive_s, client_id});
  if (will) {
    if (!expect<sn::WillTopicReq>()) return std::nullopt;
    send(sn::WillTopic{sn::QoS::qos1, false, will_topic});
    if (!expect<sn::WillMsgReq>()) return std::nullopt;
    send(sn::WillMsg{sn::Bytes(will_message.begin(), will_message.end())});
  }
  const auto connack = expect<sn::ConnAck>();
  if (!connack) return std::nullopt;
  return connack->return_code;
}

std::optional<std::uint16_t> SnClient::register_topic(const std::string& name) {
  const std::uint16_t id = next_msg_id();
  send(sn::Register{0, id, name});
  const auto regack = expect<sn::RegAck>();
  if (!regack || regack->msg_id != id || regack->return_code != sn::ReturnCode::accepted) {
    return std::nullopt;
  }
  topics_[regack->topic_id] = name;
  return regack->topic_id;
}

bool SnClient::publish(std::uint16_t topic_id, const std::string& payload, sn::QoS qos) {
  sn::Publish p;
  p.qos = qos;
  p.topic_id_type = sn::TopicIdType::normal;
  p.topic_id = topic_id;
  p.data = sn::Bytes(payload.begin(), payload.end());
  if (qos == sn::QoS::qos1 || qos == sn::QoS::qos2) p.msg_id = next_msg_id();
  send(p);
  if (qos == sn::QoS::qos1) {
    const auto puback = expect<sn::PubAck>();
    return puback && puback->msg_id == p.msg_id && puback->return_code == sn::ReturnCode::accepted;
  }
  if (qos == sn::QoS::qos2) {
    const auto pubrec = expect<sn::PubRec>();
    if (!pubrec || pubrec->msg_id != p.msg_id) return false;
    send(sn::PubRel{p.msg_id});
    const auto pubcomp = expect<sn::PubComp>();
    return pubcomp && pubcomp->msg_id == p.msg_id;
  }
  return true;
}

bool SnClient::subscribe(const std::string& filter, sn::QoS qos) {
  sn::Subscribe s;
  s.qos = qos;
  s.msg_id = next_msg_id();
  s.topic_name = filter;
  send(s);
  const auto suback = expect<sn::SubAck>();
  if (!suback || suback->return_code != sn::ReturnCode::accepted) return false;
  if (suback->topic_id != 0) topics_[suback->topic_id] = filter;
  return true;
}

bool SnClient::ping() {
  send(sn::PingReq{});
  return expect<sn::PingResp>().has_value();
}

bool SnClient::disconnect() {
  send(sn::Disconnect{});
  return expect<sn::Disconnect>().has_value();
}

void SnClient::handle_unsolicited(sn::Packet&& packet) {
  if (auto* reg = std::get_if<sn::Register>(&packet)) {
    topics_[reg->topic_id] = reg->topic_name;
    send(sn::RegAck{reg->topic_id, reg->msg_id, sn::ReturnCode::accepted});
  } else if (auto* publish = std::get_if<sn::Publish>(&packet)) {
    if (publish->qos == sn::QoS::qos1) {
      send(sn::PubAck{publish->topic_id, publish->msg_id, sn::ReturnCode::accepted});
    } else if (publish->qos == sn::QoS::qos2) {
      send(sn::PubRec{publish->msg_id});
    }
    const auto it = topics_.find(publish->topic_id);
    ready_.push_back(Delivered{it == topics_.end() ? "?" : it->second,
                               std::string(publish->data.begin(), publish->data.end()),
                               publish->qos});
  } else if (auto* pubrel = std::get_if<sn::PubRel>(&packet)) {
    send(sn::PubComp{pubrel->msg_id});
  }
}

std::optional<Delivered> SnClient::next_publish(Millis timeout) {
  const auto deadline = Clock::now() + timeout;
  while (ready_.empty()) {
    const auto left = left_until(deadline);
    if (left.count() <= 0) return std::nullopt;
    auto packet = link_.receive(left);
    if (!packet) return std::nullopt;
    handle_unsolicited(std::move(*packet));
  }
  Delivered first = std::move(ready_.front());
  ready_.pop_front();
  return first;
}

}  // namespace test_support
