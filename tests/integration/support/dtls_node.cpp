#include "support/dtls_node.hpp"

#include <stdexcept>

namespace test_support {

DtlsNode::DtlsNode(std::uint16_t gateway_port, const test_common::DtlsClientOptions& options)
    : client_("127.0.0.1", gateway_port), dtls_(options) {}

void DtlsNode::flush() {
  for (const auto& datagram : dtls_.take_datagrams()) client_.send_datagram(datagram);
}

bool DtlsNode::handshake(std::chrono::milliseconds timeout) {
  using Clock = std::chrono::steady_clock;
  const auto deadline = Clock::now() + timeout;
  dtls_.handshake();
  flush();
  while (!dtls_.established() && !dtls_.failed() && Clock::now() < deadline) {
    // OpenSSL's retransmission timer starts at 1 s; look at it every 100 ms.
    if (auto datagram = client_.receive_datagram(std::chrono::milliseconds(100))) {
      dtls_.receive(*datagram);
    } else {
      dtls_.on_timer();
    }
    flush();
  }
  if (!dtls_.established()) return false;
  client_.set_layer(this);
  return true;
}

void DtlsNode::close() {
  dtls_.close();
  flush();
}

std::vector<sn::Bytes> DtlsNode::wrap(std::span<const std::uint8_t> frame) {
  if (!dtls_.write(frame)) throw std::runtime_error("DTLS write failed: " + dtls_.error());
  return dtls_.take_datagrams();
}

std::vector<sn::Bytes> DtlsNode::unwrap(std::span<const std::uint8_t> datagram,
                                        std::vector<sn::Bytes>& replies) {
  dtls_.receive(datagram);
  replies = dtls_.take_datagrams();
  return dtls_.take_frames();
}

test_common::DtlsClientOptions psk_node(const std::string& identity, const std::string& hex_key) {
  test_common::DtlsClientOptions options;
  options.psk_identity = identity;
  for (std::size_t i = 0; i + 1 < hex_key.size(); i += 2) {
    options.psk_key.push_back(static_cast<std::uint8_t>(std::stoi(hex_key.substr(i, 2), nullptr, 16)));
  }
  return options;
}

}  // namespace test_support
