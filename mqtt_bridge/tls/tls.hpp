#pragma once
// TLS towards the broker, sans-I/O: OpenSSL over two memory BIOs. The native client's driver
// (native/native_upstream.cpp) feeds what the socket read into receive() and writes what
// take_output() gives; the MQTT session above sees plaintext only. No socket, no clock, no thread,
// so the unit tests run it against an in-memory OpenSSL server; tls_probe.hpp drives it over a
// blocking socket to explain Paho's failed connects.
//
// A handshake or record failure says why in terms a user can act on: a certificate that does not
// verify names OpenSSL's verify result ("certificate has expired", "unable to get local issuer
// certificate", "hostname mismatch"), an alert from the broker names the alert ("tlsv13 alert
// certificate required").

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "mqtt_bridge/tls_options.hpp"

using SSL_CTX = struct ssl_ctx_st;
using SSL = struct ssl_st;
using BIO = struct bio_st;

namespace mqtt_bridge::tls {

using Bytes = std::vector<std::uint8_t>;

// What every connection of one upstream shares: certificates, keys, trust store, versions, ALPN.
class TlsContext {
 public:
  // `uri_host`: the broker's host from the URI, the default for TlsOptions::server_name. Throws
  // std::invalid_argument naming the file and OpenSSL's reason when a file does not load or the
  // key does not match the certificate.
  TlsContext(const TlsOptions& options, std::string uri_host);
  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  SSL_CTX* get() const { return ctx_; }
  const std::string& server_name() const { return server_name_; }
  bool verify() const { return verify_; }

 private:
  SSL_CTX* ctx_ = nullptr;
  std::string server_name_;
  bool verify_ = true;
};

class TlsLink {
 public:
  explicit TlsLink(const TlsContext& context);
  ~TlsLink();
  TlsLink(const TlsLink&) = delete;
  TlsLink& operator=(const TlsLink&) = delete;

  // Begins the handshake: the ClientHello goes to output().
  void start();
  // Bytes the socket read. Decrypted application data is appended to `plain`. false: the link
  // failed (error() says why, refused() how); nothing more goes in or out but output(), which
  // may hold the alert that tells the broker.
  bool receive(std::span<const std::uint8_t> cipher, Bytes& plain);
  // Application data to encrypt into output(); only once established(). false: failed.
  bool send(std::span<const std::uint8_t> plain);
  // A clean end: close_notify goes to output(). Once; nothing may be sent after it.
  void close();

  // Ciphertext to write, appended to `out` in order; the link keeps none of it.
  void take_output(Bytes& out);
  bool has_output() const;

  bool established() const { return established_; }
  bool failed() const { return failed_; }
  // true: the broker and we disagree (certificate, alert, version, ALPN): retrying will not
  // help. false: the link broke (the broker closed the connection or sent garbage).
  bool refused() const { return refused_; }
  const std::string& error() const { return error_; }
  // The ALPN protocol the broker chose (empty: none), once established.
  std::string alpn_selected() const;

 private:
  bool advance(Bytes& plain);
  void fail(int ssl_error, const char* during);

  SSL* ssl_ = nullptr;
  BIO* in_ = nullptr;   // owned by ssl_
  BIO* out_ = nullptr;  // owned by ssl_
  bool established_ = false;
  bool failed_ = false;
  bool refused_ = false;
  bool closed_ = false;
  std::string error_;
};

}  // namespace mqtt_bridge::tls
