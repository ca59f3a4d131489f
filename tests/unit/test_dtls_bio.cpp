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
#include "dtls/dtls_server.hpp"

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

namespace {

struct MemoryClient {
  SSL_CTX* ctx = SSL_CTX_new(DTLS_client_method());
  DatagramQueue queue;
  SSL* ssl = nullptr;
  explicit MemoryClient(SSL_psk_client_cb_func psk) {
    SSL_CTX_set_min_proto_version(ctx, DTLS1_2_VERSION);
    SSL_CTX_set_psk_client_callback(ctx, psk);
    SSL_CTX_set_cipher_list(ctx, "PSK");
    ssl = SSL_new(ctx);
    SSL_set_options(ssl, SSL_OP_NO_QUERY_MTU);
    SSL_set_mtu(ssl, 1200);
    BIO* bio = new_datagram_bio(&queue);
    SSL_set_bio(ssl, bio, bio);
    SSL_set_connect_state(ssl);
  }
  ~MemoryClient() {
    SSL_free(ssl);
    SSL_CTX_free(ctx);
  }
  MemoryClient(const MemoryClient&) = delete;
  MemoryClient& operator=(const MemoryClient&) = delete;
};

unsigned int stranger_psk(SSL*, const char*, char* identity, unsigned int max_identity,
                          unsigned char* psk, unsigned int max) {
  std::strncpy(identity, "stranger", max_identity);
  if (max < kKey.size()) return 0;
  std::memcpy(psk, kKey.data(), kKey.size());
  return kKey.size();
}

// Client and server exchange datagrams until neither has anything to say; the client's result.
bool handshake(MemoryClient& client, transports::dtls::Server& server,
               const transports::dtls::Address& from, transports::dtls::Output& out) {
  bool done = false;
  for (int round = 0; round < 20; ++round) {
    done = SSL_do_handshake(client.ssl) == 1 || done;
    for (auto& datagram : client.queue.out) server.receive(from, datagram, transports::dtls::Time(0), out);
    const bool quiet = client.queue.out.empty() && out.datagrams.empty();
    client.queue.out.clear();
    for (auto& [to, datagram] : out.datagrams) client.queue.in.push_back(std::move(datagram));
    out.datagrams.clear();
    if (quiet && round > 0) break;
  }
  return done;
}

}  // namespace

TEST_CASE("dtls: the server keeps no state before the cookie, binds the PSK identity to what it "
          "delivers, and drops plaintext and strangers") {
  transports::dtls::ServerOptions options;
  options.psk["node-1"] = transports::dtls::Bytes(kKey.begin(), kKey.end());
  transports::dtls::Server server(options);
  transports::dtls::Address from;
  from.family = AF_INET;
  from.ip = {127, 0, 0, 1};
  from.port = 5000;
  transports::dtls::Output out;

  // A plaintext MQTT-SN CONNECT: nothing back, counted.
  const transports::dtls::Bytes plain{0x0C, 0x04, 0x04, 0x01, 0x00, 0x3C, 'n', 'o', 'd', 'e', '-', '1'};
  server.receive(from, plain, transports::dtls::Time(0), out);
  CHECK(out.datagrams.empty());
  CHECK(server.counters().plaintext_dropped == 1);

  MemoryClient client(client_psk);
  CHECK(SSL_do_handshake(client.ssl) <= 0);
  REQUIRE(client.queue.out.size() == 1);
  server.receive(from, client.queue.out.front(), transports::dtls::Time(0), out);
  client.queue.out.clear();
  CHECK(server.counters().cookies_sent == 1);
  CHECK(server.sessions() == 0);  // a HelloVerifyRequest, and nothing kept
  for (auto& [to, datagram] : out.datagrams) client.queue.in.push_back(std::move(datagram));
  out.datagrams.clear();
  REQUIRE(handshake(client, server, from, out));
  CHECK(server.sessions() == 1);

  const std::string connect = "CONNECT node-1";
  REQUIRE(SSL_write(client.ssl, connect.data(), static_cast<int>(connect.size())) > 0);
  for (auto& datagram : client.queue.out) server.receive(from, datagram, transports::dtls::Time(0), out);
  client.queue.out.clear();
  REQUIRE(out.delivered.size() == 1);
  CHECK(out.delivered.front().identity == "node-1");
  CHECK(std::string(out.delivered.front().frame.begin(), out.delivered.front().frame.end()) == connect);

  const std::string connack = "CONNACK";
  REQUIRE(server.send(from, transports::dtls::Bytes(connack.begin(), connack.end()), out));
  for (auto& [to, datagram] : out.datagrams) client.queue.in.push_back(std::move(datagram));
  out.datagrams.clear();
  std::array<char, 64> buffer{};
  const int n = SSL_read(client.ssl, buffer.data(), static_cast<int>(buffer.size()));
  REQUIRE(n > 0);
  CHECK(std::string(buffer.data(), static_cast<std::size_t>(n)) == connack);

  // An identity the server does not know: the handshake fails and nothing is kept.
  transports::dtls::Address other = from;
  other.port = 5001;
  MemoryClient stranger(stranger_psk);
  CHECK_FALSE(handshake(stranger, server, other, out));
  CHECK(server.counters().handshakes_failed == 1);
  CHECK(server.sessions() == 1);
}
