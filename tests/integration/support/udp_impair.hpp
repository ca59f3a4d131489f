#pragma once
// A lossy radio on loopback: a UDP relay between MQTT-SN test clients and the gateway's UDP port
// that drops, duplicates, reorders and delays datagrams, both ways, driven by one seeded
// std::mt19937 so a failing run can be replayed with its seed. Every client source address gets
// its own upstream socket, so the gateway sees as many peers as there are clients. One thread of
// its own polls every socket; the destructor stops it. Any thread may read the counts.
//
// What the PRNG decides depends only on the order datagrams reach the relay; when that order
// itself depends on timing (retransmissions after T_retry), a seed replays the same impairment
// pattern, not necessarily the same exchange.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

namespace test_support {

struct Impairment {
  std::uint32_t seed = 1;
  double drop = 0.10;       // probability a datagram is lost
  double duplicate = 0.02;  // probability a datagram that got through arrives twice
  // Probability a copy is held back and sent right after the next datagram going the same way
  // between the same two ends (or once `hold_max` has passed, if none comes).
  double reorder = 0.02;
  std::chrono::milliseconds hold_max{25};
  // Every copy is delayed by 0..jitter (uniform). Jitter alone keeps the order within one
  // direction of one client: reordering is the job of `reorder`, so it can be counted.
  std::chrono::milliseconds jitter{2};
};

// What happened to the datagrams going one way.
struct ImpairCounts {
  std::uint64_t received = 0;    // datagrams that reached the relay
  std::uint64_t dropped = 0;
  std::uint64_t duplicated = 0;  // extra copies made
  std::uint64_t reordered = 0;   // copies held back past a later datagram (or hold_max)
  std::uint64_t sent = 0;        // copies handed on
};

class UdpImpairRelay {
 public:
  // Relays to 127.0.0.1:`gateway_port`; clients send to 127.0.0.1:port().
  UdpImpairRelay(std::uint16_t gateway_port, Impairment impairment);
  UdpImpairRelay(const UdpImpairRelay&) = delete;
  UdpImpairRelay& operator=(const UdpImpairRelay&) = delete;
  ~UdpImpairRelay();  // stops the thread; datagrams still delayed or held are dropped

  std::uint16_t port() const { return port_; }
  const Impairment& impairment() const { return impairment_; }
  ImpairCounts to_gateway() const;
  ImpairCounts to_clients() const;
  std::size_t clients() const;
  // One line: the seed, the settings and both directions' counts.
  std::string summary() const;

 private:
  class Engine;

  Impairment impairment_;
  int listener_ = -1;  // the clients' side
  std::uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  mutable std::mutex mutex_;  // guards counts_ and clients_, written by the relay thread
  ImpairCounts counts_[2];    // [0] towards the gateway, [1] towards the clients
  std::size_t clients_ = 0;
  std::thread thread_;
};

}  // namespace test_support
