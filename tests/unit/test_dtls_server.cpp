// DTLS to the nodes (issue 13 §2), in memory: transports::dtls::Server (OpenSSL DTLS 1.2 over the
// datagram BIO of transports/dtls/datagram_bio.hpp) against the tests' DTLS client
// (tests/common/dtls_client.hpp) with PSK and with certificates. No sockets: datagrams are carried
// by hand, so loss, reordering and a rebooting node are exact.

#include <doctest/doctest.h>

#include <array>
#include <string>
#include <vector>

#include "dtls/dtls_server.hpp"
#include "dtls_client.hpp"
#include "scratch_dir.hpp"
#include "test_pki.hpp"

namespace {

constexpr std::array<unsigned char, 16> kKey{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};

}  // namespace

namespace {

using transports::dtls::Output;
using transports::dtls::Server;
using transports::dtls::ServerOptions;
using transports::dtls::Time;
using test_common::DtlsClient;
using test_common::DtlsClientOptions;

sn::Peer peer(std::uint16_t port) {
  const std::array<std::uint8_t, 6> address{127, 0, 0, 1, static_cast<std::uint8_t>(port >> 8),
                                            static_cast<std::uint8_t>(port & 0xFFU)};
  return sn::Peer::make(0, sn::PeerKind::ipv4, address);
}

transports::dtls::Bytes key_bytes() { return {kKey.begin(), kKey.end()}; }

DtlsClientOptions psk_client(const std::string& identity,
                             transports::dtls::Bytes key = key_bytes()) {
  DtlsClientOptions options;
  options.psk_identity = identity;
  options.psk_key = std::move(key);
  return options;
}

ServerOptions psk_server() {
  ServerOptions options;
  options.psk["node-1"] = key_bytes();
  options.psk["node-2"] = key_bytes();
  return options;
}

// Carries datagrams both ways until neither side has anything to say.
struct Wire {
  Wire(Server& to, sn::Peer source, Time at = Time(0)) : server(to), from(source), now(at) {}
  Server& server;
  sn::Peer from;
  Output out;
  Time now;

  void to_server(DtlsClient& client) {
    for (auto& datagram : client.take_datagrams()) server.receive(from, datagram, now, out);
  }
  void to_client(DtlsClient& client) {
    for (auto& [to, datagram] : out.datagrams) {
      CHECK(to == from);
      client.receive(datagram);
    }
    out.datagrams.clear();
  }
  // The hello, the cookie, the hello with it: the server now holds a handshake (if it may).
  void past_cookie(DtlsClient& client) {
    client.handshake();
    to_server(client);
    to_client(client);
    to_server(client);
  }
  bool handshake(DtlsClient& client) {
    client.handshake();
    for (int round = 0; round < 20 && !client.established() && !client.failed(); ++round) {
      to_server(client);
      to_client(client);
    }
    to_server(client);  // the client's last flight, if any
    to_client(client);
    return client.established();
  }
  std::vector<std::string> deliver(DtlsClient& client, const std::string& frame) {
    REQUIRE(client.write(transports::dtls::Bytes(frame.begin(), frame.end())));
    to_server(client);
    std::vector<std::string> frames;
    for (auto& delivery : out.delivered) {
      CHECK(delivery.from == from);
      frames.push_back(delivery.identity + ":" +
                       std::string(delivery.frame.begin(), delivery.frame.end()));
    }
    out.delivered.clear();
    return frames;
  }
};

}  // namespace

TEST_CASE("dtls: the server keeps no state before the cookie, binds the PSK identity to what it "
          "delivers, and drops plaintext") {
  Server server(psk_server());
  Wire wire{server, peer(5000)};

  // A plaintext MQTT-SN CONNECT: nothing back, counted.
  const transports::dtls::Bytes plain{0x0C, 0x04, 0x04, 0x01, 0x00, 0x3C, 'n', 'o', 'd', 'e', '-', '1'};
  server.receive(wire.from, plain, Time(0), wire.out);
  CHECK(wire.out.datagrams.empty());
  CHECK(server.counters().plaintext_dropped == 1);

  DtlsClient client(psk_client("node-1"));
  client.handshake();
  wire.to_server(client);
  CHECK(server.counters().cookies_sent == 1);
  REQUIRE(wire.out.datagrams.size() == 1);
  CHECK(wire.out.datagrams.front().second[13] == 3);  // HelloVerifyRequest
  CHECK(server.sessions() + server.handshaking() == 0);  // nothing kept
  wire.to_client(client);
  REQUIRE(wire.handshake(client));
  CHECK(server.sessions() == 1);
  CHECK(server.handshaking() == 0);

  CHECK(wire.deliver(client, "CONNECT node-1") == std::vector<std::string>{"node-1:CONNECT node-1"});
  const std::string connack = "CONNACK";
  REQUIRE(server.send(wire.from, transports::dtls::Bytes(connack.begin(), connack.end()), wire.out));
  wire.to_client(client);
  const auto frames = client.take_frames();
  REQUIRE(frames.size() == 1);
  CHECK(std::string(frames.front().begin(), frames.front().end()) == connack);
  // Nothing goes to a peer without a session.
  CHECK_FALSE(server.send(peer(5999), transports::dtls::Bytes{1, 2}, wire.out));
}

TEST_CASE("dtls: an unknown PSK identity and a wrong key never make a session") {
  Server server(psk_server());
  Wire stranger_wire{server, peer(5001)};
  DtlsClient stranger(psk_client("stranger"));
  CHECK_FALSE(stranger_wire.handshake(stranger));
  Wire wrong_wire{server, peer(5002)};
  transports::dtls::Bytes wrong = key_bytes();
  wrong.back() ^= 0xFFU;
  DtlsClient wrong_key(psk_client("node-1", wrong));
  CHECK_FALSE(wrong_wire.handshake(wrong_key));
  // Its Finished does not decrypt: DTLS drops such a record silently (RFC 6347 §4.1.2.7), so the
  // handshake ends at handshake_timeout, never as a session.
  CHECK(server.sessions() == 0);
  server.on_timer(ServerOptions{}.handshake_timeout, wrong_wire.out);
  CHECK(server.counters().handshakes_failed == 2);
  CHECK(server.sessions() + server.handshaking() == 0);
}

TEST_CASE("dtls: RFC 6347 §4.2.8 a node that rebooted handshakes again from the same address and "
          "its new session replaces the old one") {
  Server server(psk_server());
  Wire wire{server, peer(5000)};
  DtlsClient before(psk_client("node-1"));
  REQUIRE(wire.handshake(before));
  CHECK(wire.out.ended.empty());
  DtlsClient after(psk_client("node-2"));  // another identity, even
  REQUIRE(wire.handshake(after));
  CHECK(server.counters().sessions_replaced == 1);
  // Whoever spoke over the old session is gone (the gateway loses that client).
  CHECK(wire.out.ended == std::vector<sn::Peer>{wire.from});
  CHECK(server.sessions() == 1);
  CHECK(wire.deliver(after, "hello") == std::vector<std::string>{"node-2:hello"});
  // The old session's records are of no session now: dropped, not delivered.
  CHECK(wire.deliver(before, "stale").empty());
}

TEST_CASE("dtls: a node's close_notify ends its session, and the end is reported") {
  Server server(psk_server());
  Wire wire{server, peer(5000)};
  DtlsClient client(psk_client("node-1"));
  REQUIRE(wire.handshake(client));
  client.close();
  wire.to_server(client);
  CHECK(server.sessions() == 0);
  CHECK(server.counters().sessions_closed == 1);
  CHECK(wire.out.ended == std::vector<sn::Peer>{wire.from});
}

TEST_CASE("dtls: records of a session the gateway does not have are dropped and counted") {
  Server first(psk_server());
  Wire wire{first, peer(5000)};
  DtlsClient client(psk_client("node-1"));
  REQUIRE(wire.handshake(client));
  Server restarted(psk_server());
  Wire after{restarted, peer(5000)};
  CHECK(after.deliver(client, "after a gateway restart").empty());
  CHECK(after.out.datagrams.empty());
  CHECK(restarted.counters().records_dropped == 1);
}

TEST_CASE("dtls: a handshake that stops half-way is forgotten after handshake_timeout, and an "
          "idle session after idle_timeout") {
  ServerOptions options = psk_server();
  options.handshake_timeout = Time(10000);
  options.idle_timeout = Time(60000);
  Server server(options);
  Wire wire{server, peer(5000)};
  DtlsClient half(psk_client("node-1"));
  half.handshake();
  wire.to_server(half);  // ClientHello
  wire.to_client(half);  // HelloVerifyRequest -> ClientHello with the cookie
  wire.to_server(half);  // the server starts, and never hears the client's next flight
  CHECK(server.handshaking() == 1);
  server.on_timer(Time(9999), wire.out);
  CHECK(server.handshaking() == 1);
  server.on_timer(Time(10000), wire.out);
  CHECK(server.handshaking() == 0);
  CHECK(server.counters().handshakes_failed == 1);

  Wire idle{server, peer(5001), Time(20000)};
  DtlsClient node(psk_client("node-2"));
  REQUIRE(idle.handshake(node));
  server.on_timer(Time(20000 + 59999), idle.out);
  CHECK(server.sessions() == 1);
  CHECK(idle.out.ended.empty());
  server.on_timer(Time(20000 + 60000), idle.out);
  CHECK(server.sessions() == 0);
  CHECK(server.counters().sessions_expired == 1);
  CHECK(idle.out.ended == std::vector<sn::Peer>{idle.from});
  // A handshake that timed out was never a session: not reported.
  CHECK(wire.out.ended.empty());
}

TEST_CASE("dtls: no more than max_handshakes at once, and the refused hello leaves nothing") {
  ServerOptions options = psk_server();
  options.max_handshakes = 1;
  Server server(options);
  Wire first{server, peer(5000)};
  DtlsClient a(psk_client("node-1"));
  first.past_cookie(a);
  REQUIRE(server.handshaking() == 1);
  Wire second{server, peer(5001)};
  DtlsClient b(psk_client("node-2"));
  second.past_cookie(b);
  CHECK(server.handshaking() == 1);
  CHECK(server.counters().handshakes_refused == 1);
}

TEST_CASE("dtls: certificates - the client certificate's CN is the identity, a client without "
          "one is refused when require_client_certificate, and an untrusted one always") {
  test_common::ScratchDir dir("dtls-certs");
  const test_pki::Authority ca("test nodes CA");
  const test_pki::Authority other_ca("someone else's CA");
  const auto server_pem = ca.issue({"gateway", {"localhost"}, {"127.0.0.1"}});
  const auto node_pem = ca.issue({"node-7", {}, {}});
  const auto san_only = ca.issue({"", {"node-8"}, {}});
  const auto foreign = other_ca.issue({"node-9", {}, {}});
  const auto write = [&](const std::string& name, const std::string& text) {
    const auto path = dir.path() / name;
    test_pki::write_file(path, text);
    return path.string();
  };
  ServerOptions options;
  options.cert_file = write("server.crt", server_pem.certificate);
  options.key_file = write("server.key", server_pem.key);
  options.ca_file = write("ca.crt", ca.pem().certificate);
  options.require_client_certificate = true;
  Server server(options);

  const auto client_with = [&](const test_pki::Pem& pem, const std::string& name) {
    DtlsClientOptions client;
    client.cert_file = write(name + ".crt", pem.certificate);
    client.key_file = write(name + ".key", pem.key);
    client.ca_file = options.ca_file;
    return client;
  };
  Wire cn_wire{server, peer(5000)};
  DtlsClient cn_client(client_with(node_pem, "node-7"));
  REQUIRE(cn_wire.handshake(cn_client));
  CHECK(cn_wire.deliver(cn_client, "x") == std::vector<std::string>{"node-7:x"});

  Wire san_wire{server, peer(5001)};
  DtlsClient san_client(client_with(san_only, "node-8"));
  REQUIRE(san_wire.handshake(san_client));
  CHECK(san_wire.deliver(san_client, "y") == std::vector<std::string>{"node-8:y"});

  Wire anonymous_wire{server, peer(5002)};
  DtlsClientOptions anonymous;
  anonymous.ca_file = options.ca_file;
  DtlsClient no_certificate(anonymous);
  CHECK_FALSE(anonymous_wire.handshake(no_certificate));

  Wire foreign_wire{server, peer(5003)};
  DtlsClient untrusted(client_with(foreign, "node-9"));
  CHECK_FALSE(foreign_wire.handshake(untrusted));
  CHECK(server.counters().handshakes_failed == 2);
  CHECK(server.sessions() == 2);
}

TEST_CASE("dtls: a key that does not match its certificate, or no PSK and no certificate, is "
          "refused at start with the file named") {
  test_common::ScratchDir dir("dtls-bad");
  const test_pki::Authority ca("test CA");
  const auto one = ca.issue({"gateway", {}, {}});
  const auto two = ca.issue({"gateway", {}, {}});
  test_pki::write_file(dir.path() / "one.crt", one.certificate);
  test_pki::write_file(dir.path() / "two.key", two.key);
  ServerOptions options;
  options.cert_file = (dir.path() / "one.crt").string();
  options.key_file = (dir.path() / "two.key").string();
  CHECK_THROWS_WITH_AS(Server{options},
                       doctest::Contains(doctest::String(("cannot load key_file '" + options.key_file + "'").c_str())),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(Server{ServerOptions{}}, doctest::Contains("neither a PSK nor a certificate"),
                       std::invalid_argument);
}
