#pragma once
// A TCP relay on a free loopback port in front of a real server (the test's mosquitto), for the
// network faults a broker will not make on demand: it can hold back what the server sends (so
// acknowledgements are "lost in transit") and cut every relayed connection at once, as a broken
// link would. One thread; connections accepted after a cut are relayed normally.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace test_support {

class TcpProxy {
 public:
  // `target_port`: the server's port on 127.0.0.1.
  explicit TcpProxy(std::uint16_t target_port);
  TcpProxy(const TcpProxy&) = delete;
  TcpProxy& operator=(const TcpProxy&) = delete;
  ~TcpProxy();

  std::string uri() const;  // tcp://127.0.0.1:PORT
  // Relays the next `packets` MQTT control packets from the server, then reads and keeps back
  // (counts, never relays) everything else it sends, until relay_all().
  void hold_from_server_after(int packets);
  void relay_all();
  // Complete MQTT packets held back since the last cut().
  std::size_t held_packets() const;
  // Closes both ends of every relayed connection; held bytes are dropped. Returns once done.
  void cut();

 private:
  // Where the server's byte stream is in its MQTT packets (3.1.1 §2.2: a type byte, the
  // remaining length in 7-bit groups, the rest).
  struct Framer {
    int stage = 0;  // 0: type byte, 1: remaining length, 2: the rest
    std::size_t remaining = 0;
    unsigned shift = 0;
    bool step(unsigned char byte);  // true: `byte` ended a packet
  };
  struct Pair {
    int client = -1;
    int server = -1;
    Framer framer;
  };
  void run();

  std::uint16_t target_port_;
  int listener_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> pass_{-1};  // < 0: relay everything; else packets still to relay before holding
  std::atomic<std::size_t> held_{0};
  std::atomic<bool> cut_requested_{false};
  std::atomic<bool> cut_done_{false};
  std::vector<Pair> pairs_;  // the relay thread's only
  std::thread thread_;
};

}  // namespace test_support
