#pragma once
// The server side of DTLS 1.2 to the nodes, sans-I/O (work in progress, issue 13 §2): datagrams
// from addresses in, datagrams to addresses and decrypted frames (with the peer's identity) out.
// A source gets state only after its ClientHello carried a valid cookie (DTLSv1_listen over one
// shared listener); a plaintext datagram gets nothing and is counted; handshakes are bounded in
// number and time. PSK only so far.

#include <openssl/types.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "dtls/datagram_bio.hpp"

namespace transports::dtls {

using Time = std::chrono::milliseconds;

// A UDP source: IPv4 or IPv6 address and port.
struct Address {
  int family = 0;  // AF_INET or AF_INET6
  std::array<std::uint8_t, 16> ip{};
  std::uint16_t port = 0;  // host order
  auto operator<=>(const Address&) const = default;
};

struct ServerOptions {
  std::map<std::string, Bytes> psk;  // identity -> key
  Time handshake_timeout{10000};
  std::size_t max_handshakes = 1000;
  long mtu = 1200;
};

struct Delivery {
  Address from;
  std::string identity;  // the PSK identity the handshake proved
  Bytes frame;
};

struct Output {
  std::vector<std::pair<Address, Bytes>> datagrams;
  std::vector<Delivery> delivered;
};

struct ServerCounters {
  std::uint64_t cookies_sent = 0;       // HelloVerifyRequests (no state kept)
  std::uint64_t plaintext_dropped = 0;  // datagrams that are no DTLS record
  std::uint64_t handshakes_failed = 0;  // wrong key, unknown identity, garbage, timeout
  std::uint64_t handshakes_refused = 0;  // max_handshakes under way
};

class Server {
 public:
  explicit Server(ServerOptions options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  void receive(const Address& from, std::span<const std::uint8_t> datagram, Time now, Output& out);
  // A frame to an established session; false when there is none for `to`.
  bool send(const Address& to, std::span<const std::uint8_t> frame, Output& out);
  // Handshake timeouts and DTLS retransmissions.
  std::optional<Time> next_deadline() const;
  void on_timer(Time now, Output& out);

  std::size_t sessions() const { return links_.size(); }
  const ServerCounters& counters() const { return counters_; }

 private:
  struct Link;
  std::unique_ptr<Link> new_listener();
  void drive(const Address& from, Link& link, Time now, Output& out);
  void drain(const Address& to, Link& link, Output& out);

  ServerOptions options_;
  SSL_CTX* ctx_ = nullptr;
  std::unique_ptr<Link> listener_;
  std::map<Address, std::unique_ptr<Link>> links_;
  ServerCounters counters_;
};

}  // namespace transports::dtls
