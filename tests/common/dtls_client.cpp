#include "dtls_client.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <array>
#include <cstring>
#include <stdexcept>

namespace test_common {
namespace {

std::string openssl_error() {
  std::string text;
  while (const unsigned long code = ERR_get_error()) {
    if (!text.empty()) continue;
    std::array<char, 256> buffer{};
    ERR_error_string_n(code, buffer.data(), buffer.size());
    text = buffer.data();
  }
  return text;
}

unsigned int client_psk(SSL* ssl, const char*, char* identity, unsigned int max_identity,
                        unsigned char* psk, unsigned int max_psk) {
  const auto* self = static_cast<const std::pair<std::string, Bytes>*>(SSL_get_app_data(ssl));
  if (self == nullptr || self->first.size() + 1 > max_identity || self->second.size() > max_psk) {
    return 0;
  }
  std::memcpy(identity, self->first.c_str(), self->first.size() + 1);
  std::memcpy(psk, self->second.data(), self->second.size());
  return static_cast<unsigned int>(self->second.size());
}

}  // namespace

DtlsClient::DtlsClient(const DtlsClientOptions& options) {
  ctx_ = SSL_CTX_new(DTLS_client_method());
  if (ctx_ == nullptr) throw std::runtime_error("DTLS client: " + openssl_error());
  SSL_CTX_set_min_proto_version(ctx_, DTLS1_2_VERSION);
  std::string ciphers = "DEFAULT";
  if (!options.psk_identity.empty()) {
    SSL_CTX_set_psk_client_callback(ctx_, client_psk);
    ciphers = "PSK";
  }
  if (!options.cert_file.empty() &&
      (SSL_CTX_use_certificate_chain_file(ctx_, options.cert_file.c_str()) != 1 ||
       SSL_CTX_use_PrivateKey_file(ctx_, options.key_file.c_str(), SSL_FILETYPE_PEM) != 1)) {
    throw std::runtime_error("DTLS client: certificate: " + openssl_error());
  }
  if (!options.ca_file.empty()) {
    if (SSL_CTX_load_verify_locations(ctx_, options.ca_file.c_str(), nullptr) != 1) {
      throw std::runtime_error("DTLS client: ca_file: " + openssl_error());
    }
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
  }
  SSL_CTX_set_cipher_list(ctx_, ciphers.c_str());
  ssl_ = SSL_new(ctx_);
  SSL_set_options(ssl_, SSL_OP_NO_QUERY_MTU);
  SSL_set_mtu(ssl_, 1400);
  BIO* bio = transports::dtls::new_datagram_bio(&queue_);
  SSL_set_bio(ssl_, bio, bio);
  SSL_set_connect_state(ssl_);
  psk_ = std::pair{options.psk_identity, options.psk_key};
  SSL_set_app_data(ssl_, &psk_);
}

DtlsClient::~DtlsClient() {
  SSL_free(ssl_);
  SSL_CTX_free(ctx_);
}

void DtlsClient::handshake() {
  if (established_ || failed()) return;
  ERR_clear_error();
  const int rc = SSL_do_handshake(ssl_);
  if (rc == 1) {
    established_ = true;
    read_frames();
    return;
  }
  const int error = SSL_get_error(ssl_, rc);
  if (error != SSL_ERROR_WANT_READ && error != SSL_ERROR_WANT_WRITE) {
    error_ = openssl_error();
    if (error_.empty()) error_ = "handshake failed (SSL error " + std::to_string(error) + ")";
  }
}

void DtlsClient::receive(std::span<const std::uint8_t> datagram) {
  queue_.in.emplace_back(datagram.begin(), datagram.end());
  if (!established_) {
    handshake();
    return;
  }
  read_frames();
}

void DtlsClient::read_frames() {
  std::array<std::uint8_t, 16384> buffer{};
  for (;;) {
    ERR_clear_error();
    const int n = SSL_read(ssl_, buffer.data(), static_cast<int>(buffer.size()));
    if (n <= 0) return;
    frames_.emplace_back(buffer.begin(), buffer.begin() + n);
  }
}

bool DtlsClient::write(std::span<const std::uint8_t> frame) {
  if (!established_) return false;
  ERR_clear_error();
  return SSL_write(ssl_, frame.data(), static_cast<int>(frame.size())) > 0;
}

void DtlsClient::on_timer() {
  if (!established_) DTLSv1_handle_timeout(ssl_);
}

void DtlsClient::close() {
  if (established_) SSL_shutdown(ssl_);
}

std::vector<Bytes> DtlsClient::take_datagrams() {
  std::vector<Bytes> out = std::move(queue_.out);
  queue_.out.clear();
  return out;
}

std::vector<Bytes> DtlsClient::take_frames() {
  std::vector<Bytes> out = std::move(frames_);
  frames_.clear();
  return out;
}

}  // namespace test_common
