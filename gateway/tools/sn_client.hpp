#pragma once
// A small blocking MQTT-SN client over UDP, built on sn_protocol: what mqttsn-pub / mqttsn-sub and
// the integration tests use to act as a sensor node. Not part of the gateway. One thread per
// client; every wait has a timeout.

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "sn_protocol/codec.hpp"
#include "sn_protocol/packet.hpp"

namespace sn_tools {

using Millis = std::chrono::milliseconds;

struct Received {
  std::string topic;  // resolved through REGISTERs seen, predefined ids given, or short names
  sn::Bytes payload;
  sn::QoS qos;
  bool retain;
};

// What lies between MQTT-SN frames and the datagrams (the tests' DTLS client); without one, a
// datagram is a frame.
class FrameLayer {
 public:
  virtual ~FrameLayer() = default;
  // The datagrams that carry `frame`.
  virtual std::vector<sn::Bytes> wrap(std::span<const std::uint8_t> frame) = 0;
  // A datagram from the gateway: the frames it carried, and datagrams to answer with (a
  // retransmitted handshake flight, an alert) in `replies`.
  virtual std::vector<sn::Bytes> unwrap(std::span<const std::uint8_t> datagram,
                                        std::vector<sn::Bytes>& replies) = 0;
};

class SnUdpClient {
 public:
  // Opens a UDP socket towards host:port (IPv4 or IPv6 literal, or "localhost"). Throws
  // std::runtime_error when it cannot.
  SnUdpClient(const std::string& host, std::uint16_t port);
  ~SnUdpClient();
  SnUdpClient(const SnUdpClient&) = delete;
  SnUdpClient& operator=(const SnUdpClient&) = delete;

  std::uint16_t local_port() const;

  void send(const sn::Message& message);
  // One frame, through the layer if there is one.
  void send_raw(std::span<const std::uint8_t> bytes);
  // One datagram as it is, and the next one within `timeout` (no layer, no decoding).
  void send_datagram(std::span<const std::uint8_t> bytes);
  std::optional<sn::Bytes> receive_datagram(Millis timeout);
  // Frames go through `layer` from now on (null: none); it must outlive the client's use of it.
  void set_layer(FrameLayer* layer) { layer_ = layer; }
  // The next decodable frame within `timeout` (encapsulated frames are returned whole).
  std::optional<sn::Packet> receive(Millis timeout);
  // Frames until one of type T arrives (others are kept for next_publish()), or nothing.
  template <typename T>
  std::optional<T> expect(Millis timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      const auto left = std::chrono::duration_cast<Millis>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return std::nullopt;
      auto packet = receive(left);
      if (!packet) return std::nullopt;
      if (auto* wanted = std::get_if<T>(&*packet)) return *wanted;
      handle_unsolicited(std::move(*packet));
    }
  }

  // CONNECT (+ will handshake when `will_topic` is set); the CONNACK return code, or nothing.
  std::optional<sn::ReturnCode> connect(const std::string& client_id, std::uint16_t keep_alive_s,
                                        bool clean_session, const std::string& will_topic = {},
                                        const std::string& will_message = {},
                                        sn::QoS will_qos = sn::QoS::qos0, bool will_retain = false,
                                        Millis timeout = Millis(5000));
  // REGISTER; the topic id when accepted.
  std::optional<std::uint16_t> register_topic(const std::string& name, Millis timeout = Millis(5000));
  // PUBLISH and its QoS flow; accepted (QoS 0 and -1: true once sent).
  bool publish(sn::TopicIdType type, std::uint16_t topic_id, const sn::Bytes& payload, sn::QoS qos,
               bool retain, Millis timeout = Millis(5000));
  // SUBSCRIBE by name (normal), predefined id or short name; the SUBACK, if any.
  std::optional<sn::SubAck> subscribe(const std::string& filter, sn::QoS qos,
                                      Millis timeout = Millis(5000));
  std::optional<sn::SubAck> subscribe_id(sn::TopicIdType type, std::uint16_t id, sn::QoS qos,
                                         Millis timeout = Millis(5000));
  bool unsubscribe(const std::string& filter, Millis timeout = Millis(5000));
  bool ping(Millis timeout = Millis(5000));
  bool disconnect(Millis timeout = Millis(5000));

  // The next application message the gateway delivers, answering REGISTER, PUBLISH QoS 1/2 and
  // PUBREL on the way as a client must (§6.10).
  std::optional<Received> next_publish(Millis timeout);
  // Frames held back while expect() waited for something else.
  std::vector<sn::Packet>& unsolicited() { return unsolicited_; }

  void set_predefined(std::uint16_t id, std::string name);
  // When false, the client stops answering the gateway (to test retransmission and loss).
  void set_auto_answer(bool on) { auto_answer_ = on; }

 private:
  void handle_unsolicited(sn::Packet&& packet);
  std::optional<Received> deliver(const sn::Publish& publish);
  std::uint16_t next_msg_id();

  int fd_ = -1;
  FrameLayer* layer_ = nullptr;
  std::vector<sn::Bytes> unwrapped_;  // frames a layer gave that receive() has not returned yet
  std::uint16_t msg_id_ = 0;
  bool auto_answer_ = true;
  std::vector<std::pair<std::uint16_t, std::string>> topics_;      // registered by the gateway
  std::vector<std::pair<std::uint16_t, std::string>> predefined_;  // known in advance
  std::vector<sn::Packet> unsolicited_;
  std::vector<Received> ready_;
};

}  // namespace sn_tools
