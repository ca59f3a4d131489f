#include "tls.hpp"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <array>
#include <stdexcept>
#include <string_view>
#include <utility>

namespace mqtt_bridge::tls {
namespace {

// The reason of the oldest error OpenSSL queued on this thread (empty: none), and the queue
// emptied: the oldest is where it went wrong, the rest is how it unwound.
std::string take_openssl_error() {
  std::string text;
  while (const unsigned long code = ERR_get_error()) {
    if (!text.empty()) continue;
    if (const char* reason = ERR_reason_error_string(code)) {
      text = reason;
    } else {
      std::array<char, 256> buffer{};
      ERR_error_string_n(code, buffer.data(), buffer.size());
      text = buffer.data();
    }
  }
  return text;
}

[[noreturn]] void load_failed(const std::string& what, const std::string& file) {
  std::string reason = take_openssl_error();
  throw std::invalid_argument("upstream TLS: cannot load " + what + " '" + file + "'" +
                              (reason.empty() ? std::string() : ": " + reason));
}

// RFC 7301 §3.1: each protocol name is one length byte and 1..255 bytes of name.
std::vector<unsigned char> alpn_wire(const std::vector<std::string>& protocols) {
  std::vector<unsigned char> wire;
  for (const auto& name : protocols) {
    if (name.empty() || name.size() > 255) {
      throw std::invalid_argument("upstream TLS: an ALPN protocol name has 1 to 255 bytes");
    }
    wire.push_back(static_cast<unsigned char>(name.size()));
    wire.insert(wire.end(), name.begin(), name.end());
  }
  return wire;
}

}  // namespace

TlsContext::TlsContext(const TlsOptions& options, std::string uri_host)
    : server_name_(options.server_name.empty() ? std::move(uri_host) : options.server_name),
      verify_(options.verify) {
  ERR_clear_error();
  ctx_ = SSL_CTX_new(TLS_client_method());
  if (ctx_ == nullptr) {
    throw std::invalid_argument("upstream TLS: cannot create a context: " + take_openssl_error());
  }
  try {
    const int min_version =
        options.min_version == TlsVersion::v1_3 ? TLS1_3_VERSION : TLS1_2_VERSION;
    SSL_CTX_set_min_proto_version(ctx_, min_version);
    // Thousands of mostly idle connections (transparent mode): their record buffers go back
    // between records.
    SSL_CTX_set_mode(ctx_, SSL_MODE_RELEASE_BUFFERS);
    if (!options.ca_file.empty() || !options.ca_path.empty()) {
      if (SSL_CTX_load_verify_locations(ctx_,
                                        options.ca_file.empty() ? nullptr : options.ca_file.c_str(),
                                        options.ca_path.empty() ? nullptr : options.ca_path.c_str()) != 1) {
        options.ca_file.empty() ? load_failed("ca_path", options.ca_path)
                                : load_failed("ca_file", options.ca_file);
      }
    } else if (SSL_CTX_set_default_verify_paths(ctx_) != 1) {
      load_failed("the system's trust store", X509_get_default_cert_dir());
    }
    if (!options.cert_file.empty()) {
      if (SSL_CTX_use_certificate_chain_file(ctx_, options.cert_file.c_str()) != 1) {
        load_failed("cert_file", options.cert_file);
      }
      const std::string& key = options.key_file.empty() ? options.cert_file : options.key_file;
      if (SSL_CTX_use_PrivateKey_file(ctx_, key.c_str(), SSL_FILETYPE_PEM) != 1) {
        load_failed("key_file", key);
      }
      if (SSL_CTX_check_private_key(ctx_) != 1) {
        load_failed("key_file (it does not match cert_file)", key);
      }
    } else if (!options.key_file.empty()) {
      throw std::invalid_argument("upstream TLS: key_file is set without cert_file");
    }
    SSL_CTX_set_verify(ctx_, verify_ ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, nullptr);
    if (!options.alpn.empty()) {
      const auto wire = alpn_wire(options.alpn);
      // Returns 0 on success, unlike the rest of OpenSSL.
      if (SSL_CTX_set_alpn_protos(ctx_, wire.data(), static_cast<unsigned>(wire.size())) != 0) {
        throw std::invalid_argument("upstream TLS: cannot set ALPN: " + take_openssl_error());
      }
    }
  } catch (...) {
    SSL_CTX_free(ctx_);
    throw;
  }
}

TlsContext::~TlsContext() { SSL_CTX_free(ctx_); }

TlsLink::TlsLink(const TlsContext& context) {
  ERR_clear_error();
  ssl_ = SSL_new(context.get());
  in_ = BIO_new(BIO_s_mem());
  out_ = BIO_new(BIO_s_mem());
  if (ssl_ == nullptr || in_ == nullptr || out_ == nullptr) {
    BIO_free(in_);
    BIO_free(out_);
    SSL_free(ssl_);
    throw std::bad_alloc();
  }
  // An empty memory BIO reads as "try again", not as the end of the stream.
  BIO_set_mem_eof_return(in_, -1);
  BIO_set_mem_eof_return(out_, -1);
  SSL_set_bio(ssl_, in_, out_);
  SSL_set_connect_state(ssl_);
  const std::string& name = context.server_name();
  // RFC 6066 §3: SNI carries host names only, never an address literal; an address is checked
  // against the certificate's IP SANs instead.
  std::array<unsigned char, 16> address{};
  const bool is_address = inet_pton(AF_INET, name.c_str(), address.data()) == 1 ||
                          inet_pton(AF_INET6, name.c_str(), address.data()) == 1;
  if (!is_address) SSL_set_tlsext_host_name(ssl_, name.c_str());
  if (context.verify()) {
    if (is_address) {
      X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_), name.c_str());
    } else {
      SSL_set1_host(ssl_, name.c_str());
    }
  }
  ERR_clear_error();
}

TlsLink::~TlsLink() { SSL_free(ssl_); }

void TlsLink::start() {
  Bytes none;
  advance(none);
}

bool TlsLink::receive(std::span<const std::uint8_t> cipher, Bytes& plain) {
  if (failed_ || closed_) return !failed_;
  if (!cipher.empty() &&
      BIO_write(in_, cipher.data(), static_cast<int>(cipher.size())) != static_cast<int>(cipher.size())) {
    fail(SSL_ERROR_SSL, "buffering");
    return false;
  }
  return advance(plain);
}

bool TlsLink::advance(Bytes& plain) {
  ERR_clear_error();
  if (!established_) {
    const int rc = SSL_do_handshake(ssl_);
    if (rc != 1) {
      const int error = SSL_get_error(ssl_, rc);
      if (error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE) return true;
      fail(error, "handshake");
      return false;
    }
    established_ = true;
  }
  // Everything the read holds: application data, TLS 1.3 session tickets, alerts.
  std::array<std::uint8_t, 16 * 1024> buffer{};
  for (;;) {
    std::size_t got = 0;
    const int rc = SSL_read_ex(ssl_, buffer.data(), buffer.size(), &got);
    if (rc == 1) {
      plain.insert(plain.end(), buffer.begin(), buffer.begin() + static_cast<std::ptrdiff_t>(got));
      continue;
    }
    const int error = SSL_get_error(ssl_, rc);
    if (error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE) return true;
    fail(error, "read");
    return false;
  }
}

bool TlsLink::send(std::span<const std::uint8_t> plain) {
  if (failed_ || closed_ || !established_) {
    if (!failed_) fail(SSL_ERROR_SSL, closed_ ? "write after close" : "write before handshake");
    return false;
  }
  if (plain.empty()) return true;
  ERR_clear_error();
  std::size_t written = 0;
  // A memory BIO takes everything: one call writes it all (as records of up to 16 KiB).
  const int rc = SSL_write_ex(ssl_, plain.data(), plain.size(), &written);
  if (rc != 1 || written != plain.size()) {
    fail(SSL_get_error(ssl_, rc), "write");
    return false;
  }
  return true;
}

void TlsLink::close() {
  if (closed_ || failed_ || !established_) return;
  closed_ = true;
  ERR_clear_error();
  SSL_shutdown(ssl_);  // writes close_notify; the broker's answer is not awaited
  ERR_clear_error();
}

void TlsLink::take_output(Bytes& out) {
  const char* data = nullptr;
  const long size = BIO_get_mem_data(out_, &data);
  if (size <= 0) return;
  out.insert(out.end(), reinterpret_cast<const std::uint8_t*>(data),
             reinterpret_cast<const std::uint8_t*>(data) + size);
  (void)BIO_reset(out_);
}

bool TlsLink::has_output() const { return BIO_ctrl_pending(out_) > 0; }

std::string TlsLink::alpn_selected() const {
  const unsigned char* data = nullptr;
  unsigned int size = 0;
  SSL_get0_alpn_selected(ssl_, &data, &size);
  return data == nullptr ? std::string() : std::string(reinterpret_cast<const char*>(data), size);
}

void TlsLink::fail(int ssl_error, const char* during) {
  failed_ = true;
  if (ssl_error == SSL_ERROR_ZERO_RETURN) {
    error_ = "the broker closed the TLS session";
    ERR_clear_error();
    return;
  }
  const long verify = SSL_get_verify_result(ssl_);
  std::string reason = take_openssl_error();
  if (verify != X509_V_OK) {
    refused_ = true;
    error_ = std::string("TLS: the broker's certificate did not verify: ") +
             X509_verify_cert_error_string(verify);
    return;
  }
  refused_ = ssl_error == SSL_ERROR_SSL;
  if (reason.empty()) reason = ssl_error == SSL_ERROR_SYSCALL ? "unexpected end of stream" : "error";
  error_ = std::string("TLS ") + during + " failed: " + reason;
}

}  // namespace mqtt_bridge::tls
