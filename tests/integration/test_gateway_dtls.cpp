// Issue 13 §2, end to end: sensor nodes reach the real gateway over DTLS 1.2 on loopback (a real
// UDP socket, OpenSSL's DTLS client of tests/common) and the gateway relays to a real mosquitto.
// transports[0] stays plain UDP (the rig's readiness check); transports[1] is the DTLS port.
// "gateway: " cases run with both upstream clients in both modes (CMakeLists.txt); "dtls: " cases
// are about the transport and run once.

#include <doctest/doctest.h>
#include <signal.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "scratch_dir.hpp"
#include "sn_client.hpp"
#include "sn_protocol/codec.hpp"
#include "support/broker.hpp"
#include "support/dtls_node.hpp"
#include "support/gateway_process.hpp"
#include "support/udp_rig.hpp"
#include "test_pki.hpp"

using namespace std::chrono_literals;
using test_support::DtlsNode;
using test_support::GatewayOptions;
using test_support::psk_node;
using test_support::TestSubscriber;

namespace {

constexpr auto kKey1 = "00112233445566778899aabbccddeeff";
constexpr auto kKey2 = "ffeeddccbbaa99887766554433221100";

// A gateway with a DTLS transport as transports[1], its keys and certificates in a scratch
// directory.
struct DtlsRig {
  test_common::ScratchDir dir{"dtls-rig"};
  std::uint16_t port = test_support::free_udp_port();
  test_support::UdpRig rig;

  // `settings`: the members of the DTLS transport after type and bind, e.g. "psk_file": "...".
  explicit DtlsRig(const std::string& settings, const std::string& extra_sections = {})
      : rig([&] {
          GatewayOptions options;
          options.extra_transports.push_back(R"({"type": "dtls", "bind": "127.0.0.1:)" +
                                             std::to_string(port) + "\", " + settings + "}");
          options.extra_sections = extra_sections;
          return options;
        }()) {}

  std::uint64_t counter(const std::string& name) {
    rig.gateway.signal(SIGUSR1);
    const std::string key = name + "=";
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    std::string log;
    while (std::chrono::steady_clock::now() < deadline) {
      log = rig.gateway.log();
      if (log.rfind(key) != std::string::npos) break;
      std::this_thread::sleep_for(50ms);
    }
    const auto at = log.rfind(key);
    REQUIRE_MESSAGE(at != std::string::npos, "no " << name << " in the SIGUSR1 dump");
    return std::stoull(log.substr(at + key.size()));
  }
};

std::string psk_file(const test_common::ScratchDir& dir) {
  const auto path = dir.path() / "nodes.keys";
  test_pki::write_file(path, std::string("# identity:hexkey\nnode-1:") + kKey1 + "\nnode-2:" +
                                 kKey2 + "\n");
  return path.string();
}

// CONNECT, REGISTER, PUBLISH QoS 1 up; SUBSCRIBE and a QoS 1 message down: all through DTLS.
void round_trip(DtlsNode& node, const std::string& client_id, test_support::UdpRig& rig) {
  auto& sn = node.sn();
  REQUIRE(sn.connect(client_id, 60, true) == sn::ReturnCode::accepted);
  TestSubscriber sub(rig.broker.uri(), "dtls/" + client_id + "/up", 1);
  const auto topic = sn.register_topic("dtls/" + client_id + "/up");
  REQUIRE(topic.has_value());
  REQUIRE(sn.publish(sn::TopicIdType::normal, *topic, test_support::bytes("sealed"), sn::QoS::qos1,
                     false));
  REQUIRE(sub.wait_for(1, 5s));
  CHECK(sub.messages().front().payload == "sealed");
  CHECK(sub.messages().front().qos == 1);

  const auto suback = sn.subscribe("dtls/" + client_id + "/down", sn::QoS::qos1);
  REQUIRE(suback.has_value());
  REQUIRE(suback->return_code == sn::ReturnCode::accepted);
  sub.publish("dtls/" + client_id + "/down", "to the node", 1);
  const auto received = sn.next_publish(5s);
  REQUIRE(received.has_value());
  CHECK(received->topic == "dtls/" + client_id + "/down");
  CHECK(std::string(received->payload.begin(), received->payload.end()) == "to the node");
  CHECK(received->qos == sn::QoS::qos1);
  CHECK(sn.disconnect());
}

}  // namespace

TEST_CASE("gateway: DTLS with PSK - CONNECT, REGISTER, PUBLISH QoS 1, SUBSCRIBE and a downlink "
          "message through the gateway to mosquitto and back") {
  test_common::ScratchDir keys("dtls-keys");
  DtlsRig dtls("\"psk_file\": \"" + psk_file(keys) + "\"");
  DtlsNode node(dtls.port, psk_node("node-1", kKey1));
  REQUIRE_MESSAGE(node.handshake(), node.error());
  round_trip(node, "node-1", dtls.rig);
  CHECK(dtls.counter("transports/1/dtls/handshakes_done") == 1);
  // The keys never reach the log.
  const std::string log = dtls.rig.gateway.log();
  CHECK(log.find(kKey1) == std::string::npos);
  CHECK(log.find(kKey2) == std::string::npos);
}

TEST_CASE("gateway: DTLS with certificates - the client certificate's CN is the ClientId, and "
          "messages go both ways") {
  test_common::ScratchDir files("dtls-certs");
  const test_pki::Authority ca("DTLS nodes CA");
  const auto server = ca.issue({"gateway", {"localhost"}, {"127.0.0.1"}});
  const auto node_pem = ca.issue({"node-7", {}, {}});
  const auto write = [&](const std::string& name, const std::string& text) {
    test_pki::write_file(files.path() / name, text);
    return (files.path() / name).string();
  };
  DtlsRig dtls("\"cert_file\": \"" + write("gw.crt", server.certificate) + "\", \"key_file\": \"" +
               write("gw.key", server.key) + "\", \"ca_file\": \"" +
               write("ca.crt", ca.pem().certificate) + "\", \"require_client_certificate\": true");
  test_common::DtlsClientOptions options;
  options.cert_file = write("node.crt", node_pem.certificate);
  options.key_file = write("node.key", node_pem.key);
  options.ca_file = (files.path() / "ca.crt").string();  // the node checks the gateway too
  DtlsNode node(dtls.port, options);
  REQUIRE_MESSAGE(node.handshake(), node.error());
  round_trip(node, "node-7", dtls.rig);

  // Another ClientId over node-7's certificate is refused.
  DtlsNode impostor(dtls.port, options);
  REQUIRE(impostor.handshake());
  CHECK(impostor.sn().connect("node-8", 60, true) == sn::ReturnCode::not_supported);

  // No client certificate, when one is required: no session.
  test_common::DtlsClientOptions anonymous;
  anonymous.ca_file = options.ca_file;
  DtlsNode without(dtls.port, anonymous);
  CHECK_FALSE(without.handshake(3s));
}

TEST_CASE("dtls: a wrong key, an unknown identity, an identity/ClientId mismatch and plaintext "
          "are refused and counted, and GWINFO over DTLS carries the gateway id only") {
  test_common::ScratchDir keys("dtls-keys");
  DtlsRig dtls("\"psk_file\": \"" + psk_file(keys) + "\", \"handshake_timeout_ms\": 1000");

  // An identity the gateway does not know: OpenSSL's alert ends the handshake at once.
  DtlsNode stranger(dtls.port, psk_node("stranger", kKey1));
  CHECK_FALSE(stranger.handshake(3s));
  // The right identity with a wrong key: its Finished does not decrypt, the record is dropped
  // (RFC 6347 §4.1.2.7), the handshake never completes and times out on the gateway.
  DtlsNode wrong_key(dtls.port, psk_node("node-1", kKey2));
  CHECK_FALSE(wrong_key.handshake(3s));

  // node-2's key, node-1's ClientId.
  DtlsNode mismatch(dtls.port, psk_node("node-2", kKey2));
  REQUIRE(mismatch.handshake());
  CHECK(mismatch.sn().connect("node-1", 60, true) == sn::ReturnCode::not_supported);
  CHECK(mismatch.sn().connect("node-2", 60, true) == sn::ReturnCode::accepted);

  // SEARCHGW inside the session: GWINFO with the gateway id and nothing else (§5.4.2: GwAdd is
  // only present when a client answers).
  mismatch.sn().send(sn::SearchGw{1});
  const auto gwinfo = mismatch.sn().expect<sn::GwInfo>(3s);
  REQUIRE(gwinfo.has_value());
  CHECK(gwinfo->gw_address.empty());
  CHECK(sn::encode(sn::Message{*gwinfo}).size() == 3);

  // Plaintext MQTT-SN to the DTLS port gets nothing back.
  sn_tools::SnUdpClient plain("127.0.0.1", dtls.port);
  plain.send(sn::SearchGw{1});
  sn::Connect connect;
  connect.clean_session = true;
  connect.duration_s = 60;
  connect.client_id = "node-1";
  plain.send(connect);
  CHECK_FALSE(plain.receive(700ms).has_value());

  CHECK(dtls.counter("transports/1/dtls/plaintext_dropped") == 2);
  CHECK(dtls.counter("transports/1/dtls/handshakes_failed") >= 2);  // the stranger, the wrong key
  CHECK(dtls.counter("transports/1/dtls/sessions") == 1);
  CHECK(dtls.counter("drops/identity_mismatch") == 1);
  CHECK(dtls.rig.gateway.log().find("refused client node-1") != std::string::npos);
}

TEST_CASE("dtls: psk_identity_is_client_id false lets a node CONNECT with any ClientId") {
  test_common::ScratchDir keys("dtls-keys");
  DtlsRig dtls("\"psk_file\": \"" + psk_file(keys) + "\", \"psk_identity_is_client_id\": false");
  DtlsNode node(dtls.port, psk_node("node-2", kKey2));
  REQUIRE(node.handshake());
  CHECK(node.sn().connect("kitchen-sensor", 60, true) == sn::ReturnCode::accepted);
}

TEST_CASE("gateway: DTLS - a node whose DTLS session ends is lost at once and its will is "
          "published") {
  test_common::ScratchDir keys("dtls-keys");
  DtlsRig dtls("\"psk_file\": \"" + psk_file(keys) + "\"");
  TestSubscriber wills(dtls.rig.broker.uri(), "dtls/will/#", 1);
  DtlsNode node(dtls.port, psk_node("node-1", kKey1));
  REQUIRE(node.handshake());
  REQUIRE(node.sn().connect("node-1", 600, true, "dtls/will/node-1", "gone", sn::QoS::qos1) ==
          sn::ReturnCode::accepted);
  node.close();  // long before its keep-alive (600 s) would tell
  REQUIRE(wills.wait_for(1, 10s));
  CHECK(wills.messages().front().payload == "gone");
  CHECK(dtls.rig.gateway.wait_for_log("client node-1 lost: its DTLS session ended"));
}
