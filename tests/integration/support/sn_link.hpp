#pragma once
// Test-side MQTT-SN nodes on any medium: an SnLink carries whole MQTT-SN packets (over UDP, a
// serial PTY with raw framing, an XBee coordinator's API frames, or a §5.5 forwarder), and
// SnClient plays a sensor node over any of them. Single-threaded, blocking, every wait bounded;
// socat runs as our own child process and is stopped by its PID only.

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "sn_protocol/codec.hpp"
#include "sn_protocol/packet.hpp"
#include "transports/stream_deframer.hpp"
#include "transports/xbee_api.hpp"

namespace test_support {

using Millis = std::chrono::milliseconds;

// socat on PATH, or empty (then `why_no_socat()` says so, once, on stderr).
const std::string& socat_path();
bool no_socat();

// Two PTYs linked by socat; the gateway opens gateway_link(), the test plays the device on
// device_link(). start() again after stop() reuses the same link names (a device coming back).
class SocatPair {
 public:
  SocatPair();
  SocatPair(const SocatPair&) = delete;
  SocatPair& operator=(const SocatPair&) = delete;
  ~SocatPair();

  bool start();  // waits (<= 5 s) until both links lead to a PTY
  void stop();   // SIGTERM to our own child, then reap it
  const std::string& gateway_link() const { return gateway_link_; }
  const std::string& device_link() const { return device_link_; }

 private:
  pid_t pid_ = -1;
  std::string gateway_link_;
  std::string device_link_;
  std::string log_;
};

class SnLink {
 public:
  virtual ~SnLink() = default;
  virtual void send_packet(const sn::Packet& packet) = 0;
  // The next packet for this node within `timeout`.
  virtual std::optional<sn::Packet> receive(Millis timeout) = 0;
};

// The far end of a serial PTY with raw MQTT-SN framing.
class RawSerialLink final : public SnLink {
 public:
  explicit RawSerialLink(const std::string& path);  // throws std::runtime_error
  ~RawSerialLink() override;
  RawSerialLink(const RawSerialLink&) = delete;
  RawSerialLink& operator=(const RawSerialLink&) = delete;

  void send_packet(const sn::Packet& packet) override;
  std::optional<sn::Packet> receive(Millis timeout) override;
  // Writes exactly these octets: in one write(), or one write() per octet.
  void write_bytes(std::span<const std::uint8_t> bytes, bool one_at_a_time = false);

 private:
  int fd_ = -1;
  transports::StreamDeframer deframer_;
  std::deque<sn::Packet> ready_;
};

// The device end of a PTY to which the gateway's XBee radio is "attached": the test plays the
// radio, turning nodes' frames into Receive Packets 0x90 and the gateway's Transmit Requests 0x10
// back into frames for the addressed node (answering each with Transmit Status 0x8B success).
class XBeeCoordinator {
 public:
  XBeeCoordinator(const std::string& path, transports::xbee::ApiMode mode);  // throws
  ~XBeeCoordinator();
  XBeeCoordinator(const XBeeCoordinator&) = delete;
  XBeeCoordinator& operator=(const XBeeCoordinator&) = delete;

  // A node with these addresses; owned by the coordinator.
  SnLink& node(std::uint64_t address64, std::uint16_t address16);
  // Frames the gateway sent to the broadcast address.
  std::size_t broadcasts() const { return broadcasts_; }

 private:
  class Node;
  friend class Node;
  void send_from(const Node& node, const sn::Packet& packet);
  // Reads what is there (waiting at most `timeout` for the first octets) and routes it.
  void pump(Millis timeout);

  int fd_ = -1;
  transports::xbee::ApiMode mode_;
  transports::xbee::FrameDecoder decoder_;
  std::map<std::uint64_t, std::unique_ptr<Node>> nodes_;
  std::size_t broadcasts_ = 0;
};

// A §5.5 forwarder on top of another link: nodes behind it send encapsulated packets, and
// encapsulated replies are routed to the node whose id they carry.
class ForwarderHub {
 public:
  explicit ForwarderHub(SnLink& forwarder);
  ~ForwarderHub();
  ForwarderHub(const ForwarderHub&) = delete;
  ForwarderHub& operator=(const ForwarderHub&) = delete;
  SnLink& node(const sn::Bytes& node_id);

 private:
  class Node;
  friend class Node;
  void pump(Millis timeout);

  SnLink& forwarder_;
  std::map<sn::Bytes, std::unique_ptr<Node>> nodes_;
};

// A UDP socket towards 127.0.0.1:port.
class UdpLink final : public SnLink {
 public:
  explicit UdpLink(std::uint16_t port);
  ~UdpLink() override;
  UdpLink(const UdpLink&) = delete;
  UdpLink& operator=(const UdpLink&) = delete;
  void send_packet(const sn::Packet& packet) override;
  std::optional<sn::Packet> receive(Millis timeout) override;

 private:
  int fd_ = -1;
};

struct Delivered {
  std::string topic;
  std::string payload;
  sn::QoS qos;
};

// A sensor node speaking MQTT-SN over an SnLink (the same habits as sn_tools::SnUdpClient).
class SnClient {
 public:
  explicit SnClient(SnLink& link) : link_(link) {}

  void send(const sn::Message& message);
  template <typename T>
  std::optional<T> expect(Millis timeout = Millis(5000)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      const auto left =
          std::chrono::duration_cast<Millis>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return std::nullopt;
      auto packet = link_.receive(left);
      if (!packet) return std::nullopt;
      if (auto* wanted = std::get_if<T>(&*packet)) return *wanted;
      handle_unsolicited(std::move(*packet));
    }
  }

  // CONNECT (+ will handshake when will_topic is set); the CONNACK code.
  std::optional<sn::ReturnCode> connect(const std::string& client_id, std::uint16_t keep_alive_s,
                                        const std::string& will_topic = {},
                                        const std::string& will_message = {});
  std::optional<std::uint16_t> register_topic(const std::string& name);
  bool publish(std::uint16_t topic_id, const std::string& payload, sn::QoS qos);
  bool subscribe(const std::string& filter, sn::QoS qos);
  bool ping();
  bool disconnect();
  // The next application message, answering REGISTER/PUBLISH/PUBREL as a client must.
  std::optional<Delivered> next_publish(Millis timeout = Millis(5000));

 private:
  void handle_unsolicited(sn::Packet&& packet);
  std::uint16_t next_msg_id();

  SnLink& link_;
  std::uint16_t msg_id_ = 0;
  std::map<std::uint16_t, std::string> topics_;
  std::deque<Delivered> ready_;
};

}  // namespace test_support
