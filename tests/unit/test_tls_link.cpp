// The TLS link of both upstream clients (mqtt_bridge/tls/tls.hpp) against an OpenSSL server in
// memory: no socket, the bytes are carried by the test. Certificates come from test_pki.

#include <doctest/doctest.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

#include <string>
#include <vector>

#include "scratch_dir.hpp"
#include "test_pki.hpp"
#include "tls/tls.hpp"

namespace {

using mqtt_bridge::TlsOptions;
using mqtt_bridge::TlsVersion;
using mqtt_bridge::tls::Bytes;
using mqtt_bridge::tls::TlsContext;
using mqtt_bridge::tls::TlsLink;

struct ServerOptions {
  test_pki::Pem identity;
  std::string client_ca;  // PEM; non-empty: a client certificate is required
  int max_version = 0;    // 0: OpenSSL's highest
  std::string alpn_choice;
};

// One TLS server connection over memory BIOs; what the client offered is recorded.
class Server {
 public:
  explicit Server(const ServerOptions& options) : alpn_choice_(options.alpn_choice) {
    ctx_ = SSL_CTX_new(TLS_server_method());
    BIO* cert_bio = BIO_new_mem_buf(options.identity.certificate.data(),
                                    static_cast<int>(options.identity.certificate.size()));
    X509* cert = PEM_read_bio_X509(cert_bio, nullptr, nullptr, nullptr);
    BIO_free(cert_bio);
    BIO* key_bio = BIO_new_mem_buf(options.identity.key.data(),
                                   static_cast<int>(options.identity.key.size()));
    EVP_PKEY* key = PEM_read_bio_PrivateKey(key_bio, nullptr, nullptr, nullptr);
    BIO_free(key_bio);
    REQUIRE(SSL_CTX_use_certificate(ctx_, cert) == 1);
    REQUIRE(SSL_CTX_use_PrivateKey(ctx_, key) == 1);
    X509_free(cert);
    EVP_PKEY_free(key);
    if (options.max_version != 0) SSL_CTX_set_max_proto_version(ctx_, options.max_version);
    if (!options.client_ca.empty()) {
      BIO* ca_bio = BIO_new_mem_buf(options.client_ca.data(), static_cast<int>(options.client_ca.size()));
      X509* ca = PEM_read_bio_X509(ca_bio, nullptr, nullptr, nullptr);
      BIO_free(ca_bio);
      X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx_), ca);
      X509_free(ca);
      SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
    }
    SSL_CTX_set_alpn_select_cb(ctx_, &Server::select_alpn, this);
    ssl_ = SSL_new(ctx_);
    in_ = BIO_new(BIO_s_mem());
    out_ = BIO_new(BIO_s_mem());
    BIO_set_mem_eof_return(in_, -1);
    BIO_set_mem_eof_return(out_, -1);
    SSL_set_bio(ssl_, in_, out_);
    SSL_set_accept_state(ssl_);
  }
  ~Server() {
    SSL_free(ssl_);
    SSL_CTX_free(ctx_);
  }
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Ciphertext from the client; application data read is kept in received().
  void feed(const Bytes& cipher) {
    if (!cipher.empty()) BIO_write(in_, cipher.data(), static_cast<int>(cipher.size()));
    ERR_clear_error();
    if (!SSL_is_init_finished(ssl_)) {
      const int rc = SSL_do_handshake(ssl_);
      if (rc != 1) {
        const int error = SSL_get_error(ssl_, rc);
        if (error != SSL_ERROR_WANT_READ) failed_ = true;
        return;
      }
    }
    char buffer[4096];
    for (;;) {
      const int n = SSL_read(ssl_, buffer, sizeof buffer);
      if (n <= 0) {
        const int error = SSL_get_error(ssl_, n);
        if (error != SSL_ERROR_WANT_READ && error != SSL_ERROR_ZERO_RETURN) failed_ = true;
        return;
      }
      received_.append(buffer, static_cast<std::size_t>(n));
    }
  }
  void send(const std::string& text) {
    SSL_write(ssl_, text.data(), static_cast<int>(text.size()));
  }
  Bytes take() {
    Bytes bytes;
    char* data = nullptr;
    const long size = BIO_get_mem_data(out_, &data);
    if (size > 0) bytes.assign(data, data + size);
    (void)BIO_reset(out_);
    return bytes;
  }
  bool failed() const { return failed_; }
  const std::string& received() const { return received_; }
  const std::vector<std::string>& offered_alpn() const { return offered_alpn_; }
  bool established() const { return SSL_is_init_finished(ssl_) == 1; }

 private:
  static int select_alpn(SSL*, const unsigned char** out, unsigned char* out_size,
                         const unsigned char* in, unsigned int in_size, void* arg) {
    auto* self = static_cast<Server*>(arg);
    for (unsigned i = 0; i < in_size;) {
      const unsigned size = in[i];
      self->offered_alpn_.emplace_back(reinterpret_cast<const char*>(in + i + 1), size);
      if (self->offered_alpn_.back() == self->alpn_choice_) {
        *out = in + i + 1;
        *out_size = static_cast<unsigned char>(size);
      }
      i += 1 + size;
    }
    return self->alpn_choice_.empty() ? SSL_TLSEXT_ERR_NOACK : SSL_TLSEXT_ERR_OK;
  }

  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  BIO* in_ = nullptr;
  BIO* out_ = nullptr;
  bool failed_ = false;
  std::string received_;
  std::string alpn_choice_;
  std::vector<std::string> offered_alpn_;
};

// Carries bytes both ways until neither side has anything more to say.
void pump(TlsLink& client, Server& server, Bytes& plain) {
  for (int round = 0; round < 20; ++round) {
    Bytes to_server;
    client.take_output(to_server);
    server.feed(to_server);
    const Bytes to_client = server.take();
    if (to_server.empty() && to_client.empty()) return;
    if (!to_client.empty()) client.receive(to_client, plain);
  }
  FAIL("the handshake did not settle in 20 rounds");
}

// start() and pump() for a case that reads no application data.
void handshake(TlsLink& client, Server& server) {
  Bytes plain;
  client.start();
  pump(client, server, plain);
  CHECK(plain.empty());
}

struct Pki {
  test_pki::Authority ca{"test CA"};
  test_pki::Authority stranger{"another CA"};
  test_common::ScratchDir dir{"mqttsn-tls"};
  std::string ca_file = dir.write("ca.pem", ca.pem().certificate);
  std::string stranger_file = dir.write("stranger.pem", stranger.pem().certificate);
  test_pki::Pem server = ca.issue({"broker", {"broker.example"}, {"127.0.0.1"}});
  test_pki::Pem client = ca.issue({"gateway", {}, {}});
  std::string client_cert = dir.write("client.pem", client.certificate);
  std::string client_key = dir.write("client.key", client.key);
};

TlsOptions trusting(const std::string& ca_file) {
  TlsOptions options;
  options.ca_file = ca_file;
  return options;
}

}  // namespace

TEST_CASE("tls: the right CA and a client certificate: handshake, data both ways, ALPN, close") {
  Pki pki;
  TlsOptions options = trusting(pki.ca_file);
  options.cert_file = pki.client_cert;
  options.key_file = pki.client_key;
  options.alpn = {"x-amzn-mqtt-ca", "mqtt"};
  const TlsContext context(options, "broker.example");
  TlsLink client(context);
  Server server({pki.server, pki.ca.pem().certificate, 0, "mqtt"});
  Bytes plain;
  client.start();
  pump(client, server, plain);
  REQUIRE(client.established());
  REQUIRE_FALSE(client.failed());
  CHECK(server.established());
  CHECK(server.offered_alpn() == std::vector<std::string>{"x-amzn-mqtt-ca", "mqtt"});
  CHECK(client.alpn_selected() == "mqtt");

  const std::string connect = "\x10\x0c MQTT-ish";
  REQUIRE(client.send(Bytes(connect.begin(), connect.end())));
  server.send("CONNACK");
  pump(client, server, plain);
  CHECK(server.received() == connect);
  CHECK(std::string(plain.begin(), plain.end()) == "CONNACK");

  client.close();
  CHECK(client.has_output());  // close_notify
}

TEST_CASE("tls: an address in the URI is checked against the certificate's IP SANs") {
  Pki pki;
  const TlsContext context(trusting(pki.ca_file), "127.0.0.1");
  TlsLink client(context);
  Server server({pki.server, "", 0, ""});
  handshake(client, server);
  CHECK(client.established());

  const test_pki::Pem other_address = pki.ca.issue({"broker", {}, {"127.0.0.2"}});
  TlsLink refused(context);
  Server wrong({other_address, "", 0, ""});
  handshake(refused, wrong);
  CHECK(refused.failed());
  CHECK(refused.refused());
  CHECK(refused.error().find("IP address mismatch") != std::string::npos);
}

TEST_CASE("tls: certificate problems are refused and named") {
  Pki pki;
  struct Case {
    const char* what;
    test_pki::Pem server;
    std::string ca_file;
    std::string server_name;
    const char* named;
  };
  const std::vector<Case> cases = {
      {"an unknown CA", pki.server, pki.stranger_file, "broker.example", "did not verify"},
      {"an expired certificate", pki.ca.issue({"broker", {"broker.example"}, {}, -30, -1}),
       pki.ca_file, "broker.example", "certificate has expired"},
      {"a certificate not valid yet", pki.ca.issue({"broker", {"broker.example"}, {}, 2, 30}),
       pki.ca_file, "broker.example", "certificate is not yet valid"},
      {"another host name", pki.server, pki.ca_file, "elsewhere.example", "hostname mismatch"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.what);
    const TlsContext context(trusting(c.ca_file), c.server_name);
    TlsLink client(context);
    Server server({c.server, "", 0, ""});
    handshake(client, server);
    CHECK_FALSE(client.established());
    CHECK(client.failed());
    CHECK(client.refused());
    CHECK(client.error().find(c.named) != std::string::npos);
    CHECK(server.failed());  // the client's alert told it
  }
}

TEST_CASE("tls: verify false accepts a certificate no trusted CA signed") {
  Pki pki;
  TlsOptions options = trusting(pki.stranger_file);
  options.verify = false;
  const TlsContext context(options, "elsewhere.example");
  TlsLink client(context);
  Server server({pki.server, "", 0, ""});
  handshake(client, server);
  CHECK(client.established());
  CHECK_FALSE(client.failed());
}

TEST_CASE("tls: a broker that requires a client certificate refuses a link without one") {
  Pki pki;
  const TlsContext context(trusting(pki.ca_file), "broker.example");
  TlsLink client(context);
  Server server({pki.server, pki.ca.pem().certificate, 0, ""});
  handshake(client, server);
  // TLS 1.3 (RFC 8446 §4.4.2.4): the client's side of the handshake ends before the server
  // looked at its (missing) certificate; the server's alert comes afterwards.
  CHECK(client.failed());
  CHECK(client.refused());
  CHECK(client.error().find("certificate required") != std::string::npos);
}

TEST_CASE("tls: min_version 1.3 refuses a broker that offers at most TLS 1.2") {
  Pki pki;
  TlsOptions options = trusting(pki.ca_file);
  options.min_version = TlsVersion::v1_3;
  const TlsContext context(options, "broker.example");
  TlsLink client(context);
  Server server({pki.server, "", TLS1_2_VERSION, ""});
  handshake(client, server);
  CHECK(client.failed());
  CHECK(client.refused());
  CHECK(client.error().find("protocol version") != std::string::npos);

  TlsContext relaxed(trusting(pki.ca_file), "broker.example");
  TlsLink accepted(relaxed);
  Server old({pki.server, "", TLS1_2_VERSION, ""});
  handshake(accepted, old);
  CHECK(accepted.established());
}

TEST_CASE("tls: garbage from a plaintext broker fails the link, nothing is read past it") {
  Pki pki;
  const TlsContext context(trusting(pki.ca_file), "broker.example");
  TlsLink client(context);
  client.start();
  Bytes hello;
  client.take_output(hello);
  CHECK_FALSE(hello.empty());
  // A plaintext CONNACK (MQTT 3.1.1 §3.2) and more, where a TLS record should be.
  const Bytes connack{0x20, 0x02, 0x00, 0x00, 0x30, 0x05, 0x00, 0x01, 'a', 'b', 'c'};
  Bytes plain;
  CHECK_FALSE(client.receive(connack, plain));
  CHECK(client.failed());
  CHECK(plain.empty());
  CHECK_FALSE(client.error().empty());
  CHECK_FALSE(client.send(Bytes{1, 2, 3}));
}

TEST_CASE("tls: files that do not load are named at construction") {
  Pki pki;
  const test_pki::Pem other = pki.ca.issue({"other", {}, {}});
  const std::string other_key = pki.dir.write("other.key", other.key);
  const std::string garbage = pki.dir.write("garbage.pem", "not a certificate\n");
  TlsOptions options = trusting(pki.ca_file);
  options.cert_file = pki.client_cert;
  options.key_file = other_key;
  const std::string mismatch = "key_file '" + other_key + "': key values mismatch";
  CHECK_THROWS_WITH_AS(TlsContext(options, "h"), doctest::Contains(mismatch.c_str()),
                       std::invalid_argument);
  options.key_file = pki.client_key;
  options.cert_file = garbage;
  CHECK_THROWS_WITH_AS(TlsContext(options, "h"), doctest::Contains("cert_file"),
                       std::invalid_argument);
  TlsOptions bad_ca = trusting(garbage);
  CHECK_THROWS_WITH_AS(TlsContext(bad_ca, "h"), doctest::Contains("ca_file"), std::invalid_argument);
  TlsOptions key_only = trusting(pki.ca_file);
  key_only.key_file = pki.client_key;
  CHECK_THROWS_AS(TlsContext(key_only, "h"), std::invalid_argument);
}
