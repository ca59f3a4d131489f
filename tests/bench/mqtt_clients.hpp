#pragma once
// Many plain-socket MQTT 3.1.1 connections to one broker, driven by the calling thread on one
// epoll instance: non-blocking TCP, one connection per simulated client, packets from
// mqtt_wire.hpp. No threads of its own, no locks: every call (and every callback, from poll())
// happens on the thread that owns the object. This keeps the bench's MQTT side (broker-only
// baseline, broker connect storm, counting subscriber, downlink publisher) cheap enough that the
// broker, not the client, is what a measurement measures.

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <sys/socket.h>

#include "mqtt_wire.hpp"

namespace bench {

class MqttClients {
 public:
  struct Events {
    std::function<void(std::size_t, std::uint8_t return_code)> connack;
    std::function<void(std::size_t, const mqtt::Publish&)> publish;
    std::function<void(std::size_t, std::uint16_t packet_id)> puback;
    std::function<void(std::size_t, std::uint16_t packet_id)> pubrec;
    std::function<void(std::size_t, std::uint16_t packet_id)> pubcomp;
    std::function<void(std::size_t, std::uint16_t packet_id)> suback;
    std::function<void(std::size_t)> closed;  // the broker closed it, or a socket error
  };

  // `broker` is tcp://HOST:PORT with HOST 127.0.0.1 (any 127/8), localhost, ::1 or [::1].
  // Throws std::runtime_error for another address or when epoll cannot be created.
  MqttClients(const std::string& broker, std::size_t count, Events events);
  ~MqttClients();  // closes every socket (no DISCONNECT: call disconnect_all() first for that)
  MqttClients(const MqttClients&) = delete;
  MqttClients& operator=(const MqttClients&) = delete;

  std::size_t size() const { return connections_.size(); }

  // Starts connection i: non-blocking TCP connect, CONNECT sent once the socket is connected.
  // False (and nothing open) when no socket could be made, e.g. out of descriptors.
  bool open(std::size_t i, std::string_view client_id, std::uint16_t keepalive_s);
  bool is_open(std::size_t i) const { return connections_[i].fd >= 0; }

  // Append packets to out(i), then flush(i). unsent(i): octets the kernel has not taken yet (the
  // TCP back-pressure a publisher should respect).
  mqtt::Bytes& out(std::size_t i) { return connections_[i].out; }
  void flush(std::size_t i);
  std::size_t unsent(std::size_t i) const {
    return connections_[i].out.size() - connections_[i].out_sent;
  }

  // Waits up to `timeout_ms` (0: no wait) for socket events and handles them; also sends
  // PINGREQ on connections that sent nothing for half their keep-alive (§3.1.2.10).
  void poll(int timeout_ms);

  // Calls `readable` from poll() whenever `fd` (e.g. a control pipe) is readable.
  void watch(int fd, std::function<void()> readable);

  // DISCONNECT on every open connection (flushed as far as the sockets take it), then close.
  void disconnect_all();

 private:
  struct Connection {
    int fd = -1;
    bool connecting = false;
    bool want_out = false;
    std::uint16_t keepalive_s = 0;
    std::uint64_t last_tx_ns = 0;
    mqtt::Bytes out;
    std::size_t out_sent = 0;
    mqtt::Bytes in;
  };

  void on_event(std::size_t i, std::uint32_t events);
  void on_readable(std::size_t i);
  void close(std::size_t i, bool notify);
  void set_want_out(std::size_t i, bool want);

  sockaddr_storage broker_{};
  socklen_t broker_len_ = 0;
  int epoll_ = -1;
  Events events_;
  std::vector<Connection> connections_;
  std::vector<std::pair<int, std::function<void()>>> watched_;
  std::uint64_t next_ping_check_ns_ = 0;
};

}  // namespace bench
