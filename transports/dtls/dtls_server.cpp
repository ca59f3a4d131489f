#include "dtls/dtls_server.hpp"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>

#include <array>
#include <cstring>
#include <stdexcept>
#include <utility>

namespace transports::dtls {
namespace {

// The reason of the oldest error OpenSSL queued on this thread, and the queue emptied.
std::string take_openssl_error() {
  std::string text;
  while (const unsigned long code = ERR_get_error()) {
    if (!text.empty()) continue;
    std::array<char, 256> buffer{};
    const char* reason = ERR_reason_error_string(code);
    if (reason == nullptr) ERR_error_string_n(code, buffer.data(), buffer.size());
    text = reason != nullptr ? reason : buffer.data();
  }
  return text;
}

[[noreturn]] void load_failed(const std::string& what, const std::string& file) {
  const std::string reason = take_openssl_error();
  throw std::invalid_argument("DTLS: cannot load " + what + " '" + file + "'" +
                              (reason.empty() ? std::string() : ": " + reason));
}

// One secret per process start: cookies a restart forgot are simply asked for again.
const std::array<unsigned char, 32>& cookie_secret() {
  static const std::array<unsigned char, 32> secret = [] {
    std::array<unsigned char, 32> bytes{};
    if (RAND_bytes(bytes.data(), bytes.size()) != 1) throw std::runtime_error("RAND_bytes failed");
    return bytes;
  }();
  return secret;
}

// HMAC-SHA256 of the datagram's source address and port (RFC 6347 §4.2.1).
bool cookie_for(SSL* ssl, unsigned char* out, unsigned int* size) {
  BIO_ADDR* peer = BIO_ADDR_new();
  const bool known = peer != nullptr && BIO_dgram_get_peer(SSL_get_rbio(ssl), peer) > 0;
  std::array<unsigned char, 18> raw{};
  std::size_t raw_size = 0;
  if (known) BIO_ADDR_rawaddress(peer, raw.data(), &raw_size);
  const unsigned short port = known ? BIO_ADDR_rawport(peer) : 0;
  BIO_ADDR_free(peer);
  if (!known || raw_size > 16) return false;
  std::memcpy(raw.data() + raw_size, &port, sizeof port);
  const auto& secret = cookie_secret();
  return HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()), raw.data(),
              raw_size + sizeof port, out, size) != nullptr;
}

int generate_cookie(SSL* ssl, unsigned char* cookie, unsigned int* size) {
  return cookie_for(ssl, cookie, size) ? 1 : 0;
}

int verify_cookie(SSL* ssl, const unsigned char* cookie, unsigned int size) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> expected{};
  unsigned int expected_size = 0;
  return cookie_for(ssl, expected.data(), &expected_size) && expected_size == size &&
                 CRYPTO_memcmp(expected.data(), cookie, size) == 0
             ? 1
             : 0;
}

unsigned int find_psk(SSL* ssl, const char* identity, unsigned char* psk, unsigned int max) {
  const auto* keys =
      static_cast<const std::map<std::string, Bytes>*>(SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl)));
  if (keys == nullptr || identity == nullptr) return 0;
  const auto it = keys->find(identity);
  if (it == keys->end() || it->second.size() > max) return 0;  // unknown identity: handshake fails
  std::memcpy(psk, it->second.data(), it->second.size());
  return static_cast<unsigned int>(it->second.size());
}

// The peer's address for the cookie (a UDP peer: 4 or 16 octets, then the port in network order).
void set_address(BIO_ADDR* into, const sn::Peer& peer) {
  const bool v6 = peer.kind == sn::PeerKind::ipv6;
  const std::size_t ip_size = v6 ? 16 : 4;
  if (peer.address_size < ip_size + 2) {
    BIO_ADDR_clear(into);
    return;
  }
  std::uint16_t port = 0;  // network order, as the peer holds it
  std::memcpy(&port, peer.address.data() + ip_size, sizeof port);
  BIO_ADDR_rawmake(into, v6 ? AF_INET6 : AF_INET, peer.address.data(), ip_size, port);
}

// RFC 6347 §4.1: a DTLS record starts with a content type 20..25 and version 254.x.
bool looks_like_dtls(std::span<const std::uint8_t> datagram) {
  return datagram.size() >= 13 && datagram[0] >= 20 && datagram[0] <= 25 && datagram[1] == 254;
}

// A handshake record of epoch 0 carrying a ClientHello (RFC 6347 §4.1, §4.2.2): the start of a
// new session.
bool is_client_hello(std::span<const std::uint8_t> datagram) {
  return datagram.size() >= 14 && datagram[0] == 22 && datagram[3] == 0 && datagram[4] == 0 &&
         datagram[13] == 1;
}

// A certificate's name for the ClientId binding: the subject CN, else the first DNS SAN.
std::string certificate_name(X509* certificate) {
  if (certificate == nullptr) return {};
  std::array<char, 256> cn{};
  const int n = X509_NAME_get_text_by_NID(X509_get_subject_name(certificate), NID_commonName,
                                          cn.data(), static_cast<int>(cn.size()));
  if (n > 0) return std::string(cn.data(), static_cast<std::size_t>(n));
  std::string name;
  auto* names = static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(certificate, NID_subject_alt_name, nullptr, nullptr));
  for (int i = 0; names != nullptr && i < sk_GENERAL_NAME_num(names) && name.empty(); ++i) {
    const GENERAL_NAME* entry = sk_GENERAL_NAME_value(names, i);
    if (entry->type != GEN_DNS) continue;
    const ASN1_IA5STRING* dns = entry->d.dNSName;
    name.assign(reinterpret_cast<const char*>(ASN1_STRING_get0_data(dns)),
                static_cast<std::size_t>(ASN1_STRING_length(dns)));
  }
  GENERAL_NAMES_free(names);
  return name;
}

}  // namespace

struct Server::Link {
  SSL* ssl = nullptr;
  DatagramQueue queue;
  BIO_ADDR* peer = BIO_ADDR_new();
  bool established = false;
  std::string identity;
  Time started{0};
  Time last_heard{0};
  Link() = default;
  Link(const Link&) = delete;
  Link& operator=(const Link&) = delete;
  ~Link() {
    SSL_free(ssl);
    BIO_ADDR_free(peer);
  }
};

Server::Server(ServerOptions options) : options_(std::move(options)) {
  if (options_.psk.empty() && options_.cert_file.empty()) {
    throw std::invalid_argument("DTLS: neither a PSK nor a certificate is configured");
  }
  ERR_clear_error();
  ctx_ = SSL_CTX_new(DTLS_server_method());
  if (ctx_ == nullptr) {
    throw std::invalid_argument("DTLS: cannot create a context: " + take_openssl_error());
  }
  try {
    // DTLS 1.0 is refused (RFC 8996).
    SSL_CTX_set_min_proto_version(ctx_, DTLS1_2_VERSION);
    // Thousands of mostly idle sessions: their record buffers go back between records.
    SSL_CTX_set_mode(ctx_, SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_cookie_generate_cb(ctx_, generate_cookie);
    SSL_CTX_set_cookie_verify_cb(ctx_, verify_cookie);
    std::string ciphers;
    if (!options_.psk.empty()) {
      SSL_CTX_set_app_data(ctx_, &options_.psk);
      SSL_CTX_set_psk_server_callback(ctx_, find_psk);
      ciphers = "PSK";
    }
    if (!options_.cert_file.empty()) {
      if (SSL_CTX_use_certificate_chain_file(ctx_, options_.cert_file.c_str()) != 1) {
        load_failed("cert_file", options_.cert_file);
      }
      const std::string& key = options_.key_file.empty() ? options_.cert_file : options_.key_file;
      if (SSL_CTX_use_PrivateKey_file(ctx_, key.c_str(), SSL_FILETYPE_PEM) != 1) {
        load_failed("key_file", key);
      }
      if (SSL_CTX_check_private_key(ctx_) != 1) {
        load_failed("key_file (it does not match cert_file)", key);
      }
      ciphers = ciphers.empty() ? "DEFAULT:!PSK" : "DEFAULT:PSK";
    }
    if (!options_.ca_file.empty() &&
        SSL_CTX_load_verify_locations(ctx_, options_.ca_file.c_str(), nullptr) != 1) {
      load_failed("ca_file", options_.ca_file);
    }
    // A client certificate is asked for when there is a CA to check it against; required only
    // when configured so (a PSK client never has one).
    int verify = SSL_VERIFY_NONE;
    if (!options_.ca_file.empty()) verify = SSL_VERIFY_PEER;
    if (options_.require_client_certificate) verify = SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
    SSL_CTX_set_verify(ctx_, verify, nullptr);
    if (SSL_CTX_set_cipher_list(ctx_, ciphers.c_str()) != 1) {
      throw std::invalid_argument("DTLS: no cipher suite for " + ciphers + ": " +
                                  take_openssl_error());
    }
    listener_ = new_listener();
  } catch (...) {
    SSL_CTX_free(ctx_);
    throw;
  }
}

Server::~Server() {
  links_.clear();
  listener_.reset();
  SSL_CTX_free(ctx_);
}

std::unique_ptr<Server::Link> Server::new_listener() {
  auto link = std::make_unique<Link>();
  link->ssl = SSL_new(ctx_);
  if (link->ssl == nullptr || link->peer == nullptr) {
    throw std::runtime_error("DTLS: out of memory for a session");
  }
  SSL_set_options(link->ssl, SSL_OP_COOKIE_EXCHANGE | SSL_OP_NO_QUERY_MTU);
  SSL_set_mtu(link->ssl, options_.mtu);
  link->queue.peer = link->peer;
  BIO* bio = new_datagram_bio(&link->queue);
  SSL_set_bio(link->ssl, bio, bio);
  return link;
}

std::unique_ptr<Server::Link> Server::listen(const sn::Peer& from,
                                             std::span<const std::uint8_t> datagram,
                                             Output& out) {
  Link& listener = *listener_;
  set_address(listener.peer, from);
  listener.queue.in.emplace_back(datagram.begin(), datagram.end());
  BIO_ADDR* client = BIO_ADDR_new();
  ERR_clear_error();
  const int rc = DTLSv1_listen(listener.ssl, client);
  BIO_ADDR_free(client);
  listener.queue.in.clear();
  if (rc <= 0) {
    // No cookie yet (a HelloVerifyRequest goes back), a wrong one, or no ClientHello at all.
    if (!listener.queue.out.empty()) ++counters_.cookies_sent;
    drain(from, listener, out);
    ERR_clear_error();
    return nullptr;
  }
  auto link = std::move(listener_);
  listener_ = new_listener();
  return link;
}

void Server::receive(const sn::Peer& from, std::span<const std::uint8_t> datagram, Time now,
                     Output& out) {
  if (!looks_like_dtls(datagram)) {
    ++counters_.plaintext_dropped;
    return;
  }
  const auto it = links_.find(from);
  if (it != links_.end() && !(it->second->established && is_client_hello(datagram))) {
    it->second->queue.in.emplace_back(datagram.begin(), datagram.end());
    drive(from, *it->second, now, out);
    return;
  }
  if (it == links_.end() && !is_client_hello(datagram)) {
    // A record of a session this gateway does not have (it restarted, or the session expired):
    // the node has to start over; nothing to answer without state (RFC 6347 §4.2.8).
    ++counters_.records_dropped;
    return;
  }
  // No state for this source until its ClientHello carries our cookie.
  auto link = listen(from, datagram, out);
  if (link == nullptr) return;
  const bool replaces = it != links_.end();
  if (handshaking_ >= options_.max_handshakes ||
      (!replaces && links_.size() - handshaking_ >= options_.max_sessions)) {
    ++counters_.handshakes_refused;  // the verified hello is dropped; the client will retry
    return;
  }
  if (replaces) {
    // RFC 6347 §4.2.8: the node lost its session (rebooted); the old one is of no use to it.
    ++counters_.sessions_replaced;
    forget(from, out);
  }
  link->started = now;
  link->last_heard = now;
  ++handshaking_;
  Link& added = *links_.emplace(from, std::move(link)).first->second;
  drive(from, added, now, out);
}

void Server::drive(const sn::Peer& from, Link& link, Time now, Output& out) {
  ERR_clear_error();
  link.last_heard = now;
  if (!link.established) {
    const int rc = SSL_do_handshake(link.ssl);
    if (rc != 1) {
      const int error = SSL_get_error(link.ssl, rc);
      drain(from, link, out);  // the next flight, or the alert that ends it
      if (error != SSL_ERROR_WANT_READ && error != SSL_ERROR_WANT_WRITE) {
        ++counters_.handshakes_failed;
        forget(from, out);  // `link` dangles from here on
      }
      ERR_clear_error();
      return;
    }
    link.established = true;
    --handshaking_;
    ++counters_.handshakes_done;
    const char* psk_identity = SSL_get_psk_identity(link.ssl);
    if (psk_identity != nullptr) {
      link.identity = psk_identity;
    } else {
      X509* certificate = SSL_get1_peer_certificate(link.ssl);
      link.identity = certificate_name(certificate);
      X509_free(certificate);
    }
  }
  for (;;) {
    const int n = SSL_read(link.ssl, read_buffer_.data(), static_cast<int>(read_buffer_.size()));
    if (n > 0) {
      out.delivered.push_back(
          Delivery{from, link.identity, Bytes(read_buffer_.begin(), read_buffer_.begin() + n)});
      continue;
    }
    const int error = SSL_get_error(link.ssl, n);
    drain(from, link, out);
    if (error != SSL_ERROR_WANT_READ && error != SSL_ERROR_WANT_WRITE) {
      ++counters_.sessions_closed;  // close_notify, or a fatal alert
      forget(from, out);
    }
    ERR_clear_error();
    return;
  }
}

bool Server::send(const sn::Peer& to, std::span<const std::uint8_t> frame, Output& out) {
  const auto it = links_.find(to);
  if (it == links_.end() || !it->second->established) return false;
  ERR_clear_error();
  const int n = SSL_write(it->second->ssl, frame.data(), static_cast<int>(frame.size()));
  drain(to, *it->second, out);
  ERR_clear_error();
  return n > 0;
}

void Server::drain(const sn::Peer& to, Link& link, Output& out) {
  for (auto& datagram : link.queue.out) out.datagrams.emplace_back(to, std::move(datagram));
  link.queue.out.clear();
}

void Server::forget(const sn::Peer& peer, Output& out) {
  const auto it = links_.find(peer);
  if (it == links_.end()) return;
  if (it->second->established) {
    out.ended.push_back(peer);
  } else {
    --handshaking_;
  }
  links_.erase(it);
}

void Server::on_timer(Time now, Output& out) {
  for (auto it = links_.begin(); it != links_.end();) {
    Link& link = *it->second;
    if (!link.established && now - link.started >= options_.handshake_timeout) {
      ++counters_.handshakes_failed;
      --handshaking_;
      it = links_.erase(it);
      continue;
    }
    if (link.established && now - link.last_heard >= options_.idle_timeout) {
      ++counters_.sessions_expired;
      out.ended.push_back(it->first);
      it = links_.erase(it);
      continue;
    }
    if (!link.established || SSL_in_init(link.ssl) != 0) {
      DTLSv1_handle_timeout(link.ssl);  // retransmits the last flight when OpenSSL's timer is due
      drain(it->first, link, out);
    }
    ++it;
  }
  ERR_clear_error();
}

}  // namespace transports::dtls
