#pragma once
// A DTLS 1.2 client for the tests, sans-I/O (OpenSSL over transports/dtls's datagram BIO): what
// a node with PSK or a certificate does. Datagrams in and out as bytes; the unit tests carry them
// to transports::dtls::Server in memory, the integration tests over a real UDP socket.

#include <openssl/types.h>

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "dtls/datagram_bio.hpp"

namespace test_common {

using Bytes = std::vector<std::uint8_t>;

struct DtlsClientOptions {
  std::string psk_identity;  // with psk_key: a PSK client
  Bytes psk_key;
  std::string cert_file;  // PEM; with key_file: a certificate client
  std::string key_file;
  std::string ca_file;  // the gateway's certificate is checked against it (empty: not checked)
};

class DtlsClient {
 public:
  explicit DtlsClient(const DtlsClientOptions& options);
  ~DtlsClient();
  DtlsClient(const DtlsClient&) = delete;
  DtlsClient& operator=(const DtlsClient&) = delete;

  // Starts or continues the handshake: the ClientHello, or the next flight.
  void handshake();
  // A datagram from the gateway; frames it decrypted are kept for take_frames().
  void receive(std::span<const std::uint8_t> datagram);
  // One frame as one record; false before the handshake is done.
  bool write(std::span<const std::uint8_t> frame);
  // Retransmits the last flight when OpenSSL's timer is due (handshake over loss).
  void on_timer();
  // Sends close_notify.
  void close();

  std::vector<Bytes> take_datagrams();
  std::vector<Bytes> take_frames();
  bool established() const { return established_; }
  bool failed() const { return !error_.empty(); }
  const std::string& error() const { return error_; }

 private:
  void read_frames();
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  transports::dtls::DatagramQueue queue_;
  std::vector<Bytes> frames_;
  bool established_ = false;
  std::string error_;
  std::pair<std::string, Bytes> psk_;  // read by the PSK callback (SSL app data)
};

}  // namespace test_common
