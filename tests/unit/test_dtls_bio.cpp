// Work in progress for issue 13 §2: OpenSSL DTLS 1.2 with PSK over the datagram BIO
// (transports/dtls/datagram_bio.hpp), server and client in memory. The first ClientHello is
// answered by DTLSv1_listen with a HelloVerifyRequest (no state kept); the second, with the
// cookie, starts the handshake; then data goes both ways.

#include <doctest/doctest.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/ssl.h>

#include <array>
#include <cstring>
#include <string>

#include "dtls/datagram_bio.hpp"

namespace {

using transports::dtls::DatagramQueue;
using transports::dtls::new_datagram_bio;

constexpr std::array<unsigned char, 16> kKey{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
constexpr std::array<unsigned char, 32> kSecret{42};

// HMAC-SHA256 of the peer's address and port: the same peer gets the same cookie.
bool cookie_for(SSL* ssl, unsigned char* out, unsigned int* size) {
  BIO_ADDR* peer = BIO_ADDR_new();
  const bool known = BIO_dgram_get_peer(SSL_get_rbio(ssl), peer) > 0;
  std::array<unsigned char, 32> raw{};
  std::size_t raw_size = 0;
  if (known) BIO_ADDR_rawaddress(peer, raw.data(), &raw_size);
  const unsigned short port = known ? BIO_ADDR_rawport(peer) : 0;
  BIO_ADDR_free(peer);
  if (!known) return false;
  std::memcpy(raw.data() + raw_size, &port, sizeof port);
  return HMAC(EVP_sha256(), kSecret.data(), kSecret.size(), raw.data(), raw_size + sizeof port, out,
              size) != nullptr;
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

unsigned int server_psk(SSL*, const char* identity, unsigned char* psk, unsigned int max) {
  if (std::string(identity) != "node-1" || max < kKey.size()) return 0;
  std::memcpy(psk, kKey.data(), kKey.size());
  return kKey.size();
}

unsigned int client_psk(SSL*, const char*, char* identity, unsigned int max_identity,
                        unsigned char* psk, unsigned int max) {
  std::strncpy(identity, "node-1", max_identity);
  if (max < kKey.size()) return 0;
  std::memcpy(psk, kKey.data(), kKey.size());
  return kKey.size();
}

// Moves every datagram one side wrote to the other's input.
std::size_t carry(DatagramQueue& from, DatagramQueue& to) {
  const std::size_t n = from.out.size();
  for (auto& datagram : from.out) to.in.push_back(std::move(datagram));
  from.out.clear();
  return n;
}

}  // namespace

TEST_CASE("dtls: PSK handshake over datagram BIOs, the first ClientHello answered statelessly "
          "with a HelloVerifyRequest") {
  SSL_CTX* server_ctx = SSL_CTX_new(DTLS_server_method());
  SSL_CTX_set_min_proto_version(server_ctx, DTLS1_2_VERSION);
  SSL_CTX_set_psk_server_callback(server_ctx, server_psk);
  SSL_CTX_set_cookie_generate_cb(server_ctx, generate_cookie);
  SSL_CTX_set_cookie_verify_cb(server_ctx, verify_cookie);
  SSL_CTX_set_cipher_list(server_ctx, "PSK");
  SSL_CTX* client_ctx = SSL_CTX_new(DTLS_client_method());
  SSL_CTX_set_min_proto_version(client_ctx, DTLS1_2_VERSION);
  SSL_CTX_set_psk_client_callback(client_ctx, client_psk);
  SSL_CTX_set_cipher_list(client_ctx, "PSK");

  BIO_ADDR* client_address = BIO_ADDR_new();
  const unsigned char loopback[4] = {127, 0, 0, 1};
  REQUIRE(BIO_ADDR_rawmake(client_address, AF_INET, loopback, 4, htons(5000)) == 1);
  DatagramQueue server_queue;
  server_queue.peer = client_address;
  DatagramQueue client_queue;

  SSL* listener = SSL_new(server_ctx);
  SSL_set_options(listener, SSL_OP_COOKIE_EXCHANGE | SSL_OP_NO_QUERY_MTU);
  SSL_set_mtu(listener, 1200);
  BIO* server_bio = new_datagram_bio(&server_queue);
  SSL_set_bio(listener, server_bio, server_bio);
  SSL* client = SSL_new(client_ctx);
  SSL_set_options(client, SSL_OP_NO_QUERY_MTU);
  SSL_set_mtu(client, 1200);
  BIO* client_bio = new_datagram_bio(&client_queue);
  SSL_set_bio(client, client_bio, client_bio);
  SSL_set_connect_state(client);

  // ClientHello without a cookie: HelloVerifyRequest, and DTLSv1_listen says "not yet".
  CHECK(SSL_do_handshake(client) <= 0);
  REQUIRE(carry(client_queue, server_queue) == 1);
  BIO_ADDR* from = BIO_ADDR_new();
  CHECK(DTLSv1_listen(listener, from) == 0);
  REQUIRE(server_queue.out.size() == 1);
  CHECK(server_queue.out.front()[13] == 3);  // handshake type 3: hello_verify_request (RFC 6347)
  carry(server_queue, client_queue);
  // ClientHello with the cookie: accepted.
  CHECK(SSL_do_handshake(client) <= 0);
  carry(client_queue, server_queue);
  CHECK(DTLSv1_listen(listener, from) == 1);
  BIO_ADDR_free(from);

  bool server_done = false;
  bool client_done = false;
  for (int round = 0; round < 20 && !(server_done && client_done); ++round) {
    server_done = SSL_do_handshake(listener) == 1 || server_done;
    carry(server_queue, client_queue);
    client_done = SSL_do_handshake(client) == 1 || client_done;
    carry(client_queue, server_queue);
  }
  REQUIRE(server_done);
  REQUIRE(client_done);
  CHECK(std::string(SSL_get_psk_identity(listener)) == "node-1");

  const std::string connect = "MQTT-SN CONNECT";
  REQUIRE(SSL_write(client, connect.data(), static_cast<int>(connect.size())) > 0);
  REQUIRE(carry(client_queue, server_queue) == 1);
  std::array<char, 256> buffer{};
  const int n = SSL_read(listener, buffer.data(), static_cast<int>(buffer.size()));
  REQUIRE(n > 0);
  CHECK(std::string(buffer.data(), static_cast<std::size_t>(n)) == connect);

  SSL_free(client);
  SSL_free(listener);
  BIO_ADDR_free(client_address);
  SSL_CTX_free(client_ctx);
  SSL_CTX_free(server_ctx);
}
