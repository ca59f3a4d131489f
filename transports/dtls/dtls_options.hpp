#pragma once
// What a DTLS transport is configured with (issue 13 §2): keys, certificates and limits. Plain
// values, no OpenSSL: the gateway's configuration holds this type as it is.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace transports::dtls {

using Bytes = std::vector<std::uint8_t>;
using Time = std::chrono::milliseconds;

struct ServerOptions {
  std::map<std::string, Bytes> psk;  // identity -> key; empty: no PSK cipher suites
  std::string cert_file;             // PEM chain; empty: no certificate cipher suites
  std::string key_file;              // empty: the key is in cert_file
  std::string ca_file;               // trust anchors for client certificates
  bool require_client_certificate = false;  // with certificates: no certificate, no session
  Time handshake_timeout{10000};
  // A session silent this long is forgotten (its node handshakes again). Longer than the longest
  // keep-alive or sleep a node may have (65535 s, §5.4.4 and §5.4.21) by default.
  Time idle_timeout{std::chrono::hours(24)};
  std::size_t max_handshakes = 1000;  // sessions between cookie and Finished
  std::size_t max_sessions = 100000;
  long mtu = 1400;  // handshake messages are fragmented to fit

  bool operator==(const ServerOptions&) const = default;
};

}  // namespace transports::dtls
