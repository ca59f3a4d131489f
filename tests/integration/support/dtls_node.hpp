#pragma once
// A sensor node speaking MQTT-SN over DTLS 1.2 to the gateway on loopback: a real UDP socket
// (sn_tools::SnUdpClient), the tests' DTLS client (tests/common/dtls_client.hpp, OpenSSL) as its
// frame layer. After handshake(), sn() is an MQTT-SN client like any other.

#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "dtls_client.hpp"
#include "sn_client.hpp"

namespace test_support {

class DtlsNode final : public sn_tools::FrameLayer {
 public:
  DtlsNode(std::uint16_t gateway_port, const test_common::DtlsClientOptions& options);

  // Runs the handshake (with OpenSSL's retransmissions); true once established. False at the
  // deadline or when it failed (error() says why, if OpenSSL said).
  bool handshake(std::chrono::milliseconds timeout = std::chrono::milliseconds(5000));
  sn_tools::SnUdpClient& sn() { return client_; }
  const std::string& error() const { return dtls_.error(); }
  test_common::DtlsClient& dtls() { return dtls_; }
  // Ends the DTLS session (close_notify), as a node that shuts its link down.
  void close();

  std::vector<sn::Bytes> wrap(std::span<const std::uint8_t> frame) override;
  std::vector<sn::Bytes> unwrap(std::span<const std::uint8_t> datagram,
                                std::vector<sn::Bytes>& replies) override;

 private:
  void flush();
  sn_tools::SnUdpClient client_;
  test_common::DtlsClient dtls_;
};

// test_common::DtlsClientOptions for a PSK node.
test_common::DtlsClientOptions psk_node(const std::string& identity, const std::string& hex_key);

}  // namespace test_support
