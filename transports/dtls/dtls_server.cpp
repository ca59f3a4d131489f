#include "dtls/dtls_server.hpp"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <utility>

namespace transports::dtls {
namespace {

// One secret per process start: cookies a restart forgot are simply asked for again.
const std::array<unsigned char, 32>& cookie_secret() {
  static const std::array<unsigned char, 32> secret = [] {
    std::array<unsigned char, 32> bytes{};
    if (RAND_bytes(bytes.data(), bytes.size()) != 1) throw std::runtime_error("RAND_bytes failed");
    return bytes;
  }();
  return secret;
}

// HMAC-SHA256 of the datagram's source address and port.
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

BIO_ADDR* to_bio_addr(const Address& a, BIO_ADDR* into) {
  BIO_ADDR_rawmake(into, a.family, a.ip.data(), a.family == AF_INET6 ? 16 : 4, htons(a.port));
  return into;
}

// RFC 6347 §4.1: a DTLS record starts with a content type 20..25 and version 254.x.
bool looks_like_dtls(std::span<const std::uint8_t> datagram) {
  return datagram.size() >= 13 && datagram[0] >= 20 && datagram[0] <= 25 && datagram[1] == 254;
}

}  // namespace

struct Server::Link {
  SSL* ssl = nullptr;
  DatagramQueue queue;
  BIO_ADDR* peer = BIO_ADDR_new();
  bool established = false;
  Time started{0};
  ~Link() {
    SSL_free(ssl);
    BIO_ADDR_free(peer);
  }
};

Server::Server(ServerOptions options) : options_(std::move(options)) {
  ctx_ = SSL_CTX_new(DTLS_server_method());
  if (ctx_ == nullptr) throw std::runtime_error("DTLS: cannot create a context");
  SSL_CTX_set_min_proto_version(ctx_, DTLS1_2_VERSION);
  SSL_CTX_set_app_data(ctx_, &options_.psk);
  SSL_CTX_set_psk_server_callback(ctx_, find_psk);
  SSL_CTX_set_cookie_generate_cb(ctx_, generate_cookie);
  SSL_CTX_set_cookie_verify_cb(ctx_, verify_cookie);
  if (SSL_CTX_set_cipher_list(ctx_, "PSK") != 1) {
    SSL_CTX_free(ctx_);
    throw std::runtime_error("DTLS: no PSK cipher suite");
  }
  listener_ = new_listener();
}

Server::~Server() {
  links_.clear();
  listener_.reset();
  SSL_CTX_free(ctx_);
}

std::unique_ptr<Server::Link> Server::new_listener() {
  auto link = std::make_unique<Link>();
  link->ssl = SSL_new(ctx_);
  SSL_set_options(link->ssl, SSL_OP_COOKIE_EXCHANGE | SSL_OP_NO_QUERY_MTU);
  SSL_set_mtu(link->ssl, options_.mtu);
  link->queue.peer = link->peer;
  BIO* bio = new_datagram_bio(&link->queue);
  SSL_set_bio(link->ssl, bio, bio);
  return link;
}

void Server::receive(const Address& from, std::span<const std::uint8_t> datagram, Time now,
                     Output& out) {
  if (!looks_like_dtls(datagram)) {
    ++counters_.plaintext_dropped;
    return;
  }
  if (const auto it = links_.find(from); it != links_.end()) {
    it->second->queue.in.emplace_back(datagram.begin(), datagram.end());
    drive(from, *it->second, now, out);
    return;
  }
  // No state for this source until its ClientHello carries our cookie.
  Link& listener = *listener_;
  to_bio_addr(from, listener.peer);
  listener.queue.in.emplace_back(datagram.begin(), datagram.end());
  BIO_ADDR* client = BIO_ADDR_new();
  ERR_clear_error();
  const int rc = DTLSv1_listen(listener.ssl, client);
  BIO_ADDR_free(client);
  listener.queue.in.clear();
  if (rc <= 0) {
    if (!listener.queue.out.empty()) ++counters_.cookies_sent;
    drain(from, listener, out);
    ERR_clear_error();
    return;
  }
  const std::size_t handshaking = static_cast<std::size_t>(std::count_if(
      links_.begin(), links_.end(), [](const auto& entry) { return !entry.second->established; }));
  if (handshaking >= options_.max_handshakes) {
    ++counters_.handshakes_refused;
    listener_ = new_listener();  // the verified hello is dropped; the client will retry
    return;
  }
  auto link = std::move(listener_);
  listener_ = new_listener();
  link->started = now;
  Link& added = *links_.emplace(from, std::move(link)).first->second;
  drive(from, added, now, out);
}

void Server::drive(const Address& from, Link& link, Time now, Output& out) {
  ERR_clear_error();
  if (!link.established) {
    const int rc = SSL_do_handshake(link.ssl);
    if (rc == 1) {
      link.established = true;
    } else {
      const int error = SSL_get_error(link.ssl, rc);
      drain(from, link, out);
      if (error != SSL_ERROR_WANT_READ && error != SSL_ERROR_WANT_WRITE) {
        ++counters_.handshakes_failed;
        links_.erase(from);  // `link` dangles from here on
      }
      return;
    }
  }
  std::array<std::uint8_t, 2048> buffer{};
  for (;;) {
    const int n = SSL_read(link.ssl, buffer.data(), static_cast<int>(buffer.size()));
    if (n > 0) {
      const char* identity = SSL_get_psk_identity(link.ssl);
      out.delivered.push_back(Delivery{from, identity != nullptr ? identity : "",
                                       Bytes(buffer.begin(), buffer.begin() + n)});
      continue;
    }
    const int error = SSL_get_error(link.ssl, n);
    drain(from, link, out);
    if (error != SSL_ERROR_WANT_READ && error != SSL_ERROR_WANT_WRITE) links_.erase(from);
    (void)now;
    return;
  }
}

bool Server::send(const Address& to, std::span<const std::uint8_t> frame, Output& out) {
  const auto it = links_.find(to);
  if (it == links_.end() || !it->second->established) return false;
  if (SSL_write(it->second->ssl, frame.data(), static_cast<int>(frame.size())) <= 0) return false;
  drain(to, *it->second, out);
  return true;
}

void Server::drain(const Address& to, Link& link, Output& out) {
  for (auto& datagram : link.queue.out) out.datagrams.emplace_back(to, std::move(datagram));
  link.queue.out.clear();
}

std::optional<Time> Server::next_deadline() const {
  std::optional<Time> next;
  for (const auto& [address, link] : links_) {
    if (link->established) continue;
    const Time due = link->started + options_.handshake_timeout;
    if (!next || due < *next) next = due;
  }
  return next;
}

void Server::on_timer(Time now, Output& out) {
  for (auto it = links_.begin(); it != links_.end();) {
    Link& link = *it->second;
    if (!link.established && now - link.started >= options_.handshake_timeout) {
      ++counters_.handshakes_failed;
      it = links_.erase(it);
      continue;
    }
    if (!link.established) {
      DTLSv1_handle_timeout(link.ssl);  // retransmits the last flight when it is due
      drain(it->first, link, out);
    }
    ++it;
  }
}

}  // namespace transports::dtls
