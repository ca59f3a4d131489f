#pragma once
// The first 16 octets of every benchmark payload: which client sent it, its sequence number, and
// when (steady clock, ns; comparable across processes on one Linux machine). Receivers use it to
// count unique messages, spot duplicates and measure one-way latency. Shorter payloads carry no
// header and are only counted.

#include <chrono>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string>

namespace bench {

inline constexpr std::size_t kHeaderSize = 16;

struct PayloadHeader {
  std::uint32_t gid = 0;  // global client index 0..N-1
  std::uint32_t seq = 0;  // message number of that client 0..M-1
  std::uint64_t sent_ns = 0;
};

inline std::uint64_t now_ns() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                        std::chrono::steady_clock::now().time_since_epoch())
                                        .count());
}

// Writes the header into the first 16 octets of `out` (nothing if it is shorter).
inline void write_header(std::span<std::uint8_t> out, const PayloadHeader& h) {
  if (out.size() < kHeaderSize) return;
  std::memcpy(out.data(), &h.gid, 4);
  std::memcpy(out.data() + 4, &h.seq, 4);
  std::memcpy(out.data() + 8, &h.sent_ns, 8);
}

inline std::optional<PayloadHeader> read_header(std::span<const std::uint8_t> in) {
  if (in.size() < kHeaderSize) return std::nullopt;
  PayloadHeader h;
  std::memcpy(&h.gid, in.data(), 4);
  std::memcpy(&h.seq, in.data() + 4, 4);
  std::memcpy(&h.sent_ns, in.data() + 8, 8);
  return h;
}

// MQTT-SN client ids (1..23 characters, §5.3.1) and topics of one run, shared by all processes.
inline std::string client_id(const std::string& tag, std::uint32_t gid) {
  return "b" + tag + "-" + std::to_string(gid);
}
inline std::string topic_of(const std::string& tag, std::uint32_t gid) {
  return "bench/" + tag + "/" + std::to_string(gid);
}

}  // namespace bench
