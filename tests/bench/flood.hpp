#pragma once
// A CONNECT flood for the flood bench (issue 13 §3): `ports` UDP sockets bound to 127.0.0.10,
// as a spoofer's source ports look, sending CONNECTs (each its own ClientId, keep-alive 600 s)
// round-robin at `rate` a second to the gateway until stop(). Nothing is ever answered. Bounded
// in time by its owner (the run's deadline) and in count by the rate.

#include <atomic>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

namespace bench {

class Flood {
 public:
  // `gateway`: "127.0.0.1:PORT". Throws std::runtime_error when a socket cannot be made.
  Flood(const std::string& gateway, std::uint32_t ports, std::uint32_t rate);
  ~Flood();
  Flood(const Flood&) = delete;
  Flood& operator=(const Flood&) = delete;

  // Stops the flood; how many CONNECTs were sent.
  std::uint64_t stop();

 private:
  void run(std::uint32_t rate);

  std::vector<int> sockets_;
  std::vector<std::uint8_t> address_;  // sockaddr_in of the gateway
  std::atomic<bool> stop_{false};
  std::atomic<std::uint64_t> sent_{0};
  std::thread thread_;
};

}  // namespace bench
