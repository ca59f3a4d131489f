// Issue 13 §1, end to end: the real gateway reaches a real mosquitto over TLS (ssl:// and
// mqtts://) with certificates the test makes (test_pki). mosquitto listens on plaintext for the
// test's own clients and on four TLS listeners: the right server certificate with
// `require_certificate true`, an expired one, and one for another address (mosquitto cannot be
// held to TLS 1.2 at most: its tls_version is a minimum; a small server of the test's own plays
// that part, and records ALPN). "gateway: " cases run with both clients in both modes (CMakeLists.txt).

#include <doctest/doctest.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "sn_client.hpp"
#include "support/broker.hpp"
#include "support/gateway_process.hpp"
#include "support/tcp_listener.hpp"
#include "test_pki.hpp"

using namespace std::chrono_literals;
using test_support::GatewayOptions;
using test_support::GatewayProcess;
using test_support::Mosquitto;
using test_support::TestSubscriber;

namespace {

struct TlsBroker {
  test_pki::Authority ca{"gateway test CA"};
  test_pki::Authority stranger{"a CA nobody trusts"};
  std::uint16_t good = test_support::free_tcp_port();
  std::uint16_t expired = test_support::free_tcp_port();
  std::uint16_t wrong_host = test_support::free_tcp_port();
  test_pki::Pem client = ca.issue({"mqttsn-gateway", {}, {}});
  Mosquitto broker{config(), files()};

  std::vector<std::string> config() const {
    std::vector<std::string> lines;
    const auto listener = [&](std::uint16_t port, const std::string& name, bool require) {
      lines.push_back("listener " + std::to_string(port) + " 127.0.0.1");
      lines.push_back("cafile {dir}/ca.pem");
      lines.push_back("certfile {dir}/" + name + ".pem");
      lines.push_back("keyfile {dir}/" + name + ".key");
      if (require) lines.push_back("require_certificate true");
    };
    listener(good, "server", true);
    listener(expired, "expired", false);
    listener(wrong_host, "elsewhere", false);
    return lines;
  }

  std::map<std::string, std::string> files() const {
    const auto server = ca.issue({"broker", {"broker.example"}, {"127.0.0.1"}});
    const auto old = ca.issue({"broker", {"broker.example"}, {"127.0.0.1"}, -60, -1});
    const auto elsewhere = ca.issue({"broker", {"elsewhere.example"}, {"127.0.0.2"}});
    return {{"ca.pem", ca.pem().certificate},
            {"stranger.pem", stranger.pem().certificate},
            {"server.pem", server.certificate},
            {"server.key", server.key},
            {"expired.pem", old.certificate},
            {"expired.key", old.key},
            {"elsewhere.pem", elsewhere.certificate},
            {"elsewhere.key", elsewhere.key},
            {"client.pem", client.certificate},
            {"client.key", client.key}};
  }

  std::string path(const std::string& name) const { return (broker.dir() / name).string(); }

  // upstream.tls with this CA (or `ca`) and, unless `with_client_certificate` is false, the
  // gateway's client certificate.
  std::string tls(const std::string& ca_name = "ca.pem", bool with_client_certificate = true,
                  const std::string& more = {}) const {
    std::string text = R"("tls": {"ca_file": ")" + path(ca_name) + '"';
    if (with_client_certificate) {
      text += R"(, "cert_file": ")" + path("client.pem") + R"(", "key_file": ")" +
              path("client.key") + '"';
    }
    return text + more + "}";
  }

  GatewayOptions gateway(std::uint16_t port, const std::string& tls_section,
                         const std::string& scheme = "ssl") const {
    GatewayOptions options;
    options.upstream_uri = scheme + "://127.0.0.1:" + std::to_string(port);
    options.upstream_extra = tls_section + R"(, "reconnect_min_ms": 200, "reconnect_max_ms": 400)";
    return options;
  }
};

}  // namespace

TEST_CASE("gateway: TLS to the broker with its CA and a client certificate: messages go both ways") {
  TlsBroker tls;
  TestSubscriber sub(tls.broker.uri(), "tls/#", 1);
  for (const char* scheme : {"ssl", "mqtts"}) {
    CAPTURE(scheme);
    GatewayProcess gateway(tls.gateway(tls.good, tls.tls(), scheme));
    sn_tools::SnUdpClient node("127.0.0.1", gateway.port());
    const std::string id = std::string("tls-node-") + scheme;
    REQUIRE(node.connect(id, 30, true) == sn::ReturnCode::accepted);
    const auto topic = node.register_topic("tls/" + std::string(scheme));
    REQUIRE(topic.has_value());
    REQUIRE(node.publish(sn::TopicIdType::normal, *topic, {'h', 'i'}, sn::QoS::qos1, false));
    // By topic and payload, not by count: the subscriber also gets the previous round's
    // "tls/down/..." (it is subscribed to tls/#), which may arrive late on a loaded machine.
    CHECK(sub.wait_for_message("tls/" + std::string(scheme), "hi", 5s));

    const auto suback = node.subscribe("tls/down/" + std::string(scheme), sn::QoS::qos1);
    REQUIRE(suback.has_value());
    REQUIRE(suback->return_code == sn::ReturnCode::accepted);
    sub.publish("tls/down/" + std::string(scheme), "to the node", 1);
    const auto delivered = node.next_publish(5s);
    REQUIRE(delivered.has_value());
    CHECK(std::string(delivered->payload.begin(), delivered->payload.end()) == "to the node");
    CHECK(node.disconnect());
    CHECK(gateway.stop() == 0);
    CHECK(gateway.log().find("PRIVATE KEY") == std::string::npos);  // paths only, never a key
  }
}

TEST_CASE("gateway: TLS refusals are named in the log, and clients are answered (rejected in "
          "transparent mode, congestion in aggregating mode)") {
  TlsBroker tls;
  struct Case {
    const char* what;
    std::uint16_t port;
    std::string tls_section;
    const char* named;
  };
  const std::vector<Case> cases = {
      {"a CA that did not sign the broker's certificate", tls.good, tls.tls("stranger.pem"),
       "certificate did not verify"},
      {"an expired broker certificate", tls.expired, tls.tls(), "certificate has expired"},
      {"a certificate for another address", tls.wrong_host, tls.tls(), "IP address mismatch"},
      {"no client certificate where the broker requires one", tls.good,
       tls.tls("ca.pem", false), "certificate required"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.what);
    GatewayOptions options = tls.gateway(c.port, c.tls_section);
    options.wait_ready = false;  // ready means "connected to the broker", which it never is
    GatewayProcess gateway(options);
    // The gateway's own connection (aggregating mode, and QoS -1 in both) fails at start, and
    // keeps failing with the same reason.
    REQUIRE(gateway.wait_for_log(c.named));
    REQUIRE(gateway.wait_for_log("running"));
    sn_tools::SnUdpClient node("127.0.0.1", gateway.port());
    if (test_support::default_mode() == "aggregating") {
      CHECK(node.connect("tls-refused", 30, true) == sn::ReturnCode::congestion);
    } else {
      // The client's own connection is refused for the same reason.
      CHECK(node.connect("tls-refused", 30, true) == sn::ReturnCode::not_supported);
      CHECK(gateway.wait_for_log(std::string("refused client tls-refused: upstream connection "
                                             "failed: ") , 2s));
    }
    CHECK(gateway.log().find("TLS") != std::string::npos);
    CHECK(gateway.stop() == 0);
  }
}

TEST_CASE("gateway: upstream.tls.verify false reaches a broker no trusted CA vouches for, with a "
          "warning at start") {
  TlsBroker tls;
  TestSubscriber sub(tls.broker.uri(), "tls/#", 1);
  GatewayProcess gateway(tls.gateway(tls.good, tls.tls("stranger.pem", true, R"(, "verify": false)")));
  CHECK(gateway.wait_for_log("upstream.tls.verify is false", 2s));
  sn_tools::SnUdpClient node("127.0.0.1", gateway.port());
  REQUIRE(node.connect("tls-unverified", 30, true) == sn::ReturnCode::accepted);
  const auto topic = node.register_topic("tls/unverified");
  REQUIRE(topic.has_value());
  REQUIRE(node.publish(sn::TopicIdType::normal, *topic, {'x'}, sn::QoS::qos1, false));
  CHECK(sub.wait_for(1, 5s));
}

TEST_CASE("tls: a certificate file that does not load stops the start with exit status 2") {
  TlsBroker tls;
  for (const char* client : {"paho", "native"}) {
    CAPTURE(client);
    GatewayOptions options = tls.gateway(tls.good, R"("tls": {"cert_file": ")" + tls.path("ca.pem") +
                                                       R"(", "key_file": ")" + tls.path("client.key") +
                                                       R"("})");
    options.client = client;
    options.wait_ready = false;
    GatewayProcess gateway(options);
    CHECK(gateway.wait_exit(10s) == 2);
    CHECK(gateway.log().find("cannot start: upstream TLS: cannot load key_file") != std::string::npos);
  }
}

TEST_CASE("tls: native server_name is the name checked against the certificate") {
  TlsBroker tls;
  for (const auto& [name, works] : std::vector<std::pair<std::string, bool>>{
           {"broker.example", true}, {"elsewhere.example", false}}) {
    CAPTURE(name);
    GatewayOptions options =
        tls.gateway(tls.good, tls.tls("ca.pem", true, R"(, "server_name": ")" + name + '"'));
    options.client = "native";
    options.mode = "aggregating";
    options.wait_ready = works;
    GatewayProcess gateway(options);
    if (!works) {
      INFO(gateway.log());
      CHECK(gateway.wait_for_log("hostname mismatch", 5s));
    }
  }
}

namespace {

// A TLS server that accepts connections, records the ALPN protocols a client offered, and closes
// each after the handshake. Enough to see what a client sends in its ClientHello, or to offer
// at most `max_version`.
class TlsRecorder {
 public:
  explicit TlsRecorder(const test_pki::Pem& identity, int max_version = 0)
      : listener_(test_support::listen_on_loopback("TlsRecorder")) {
    ctx_ = SSL_CTX_new(TLS_server_method());
    if (max_version != 0) SSL_CTX_set_max_proto_version(ctx_, max_version);
    BIO* cert = BIO_new_mem_buf(identity.certificate.data(), static_cast<int>(identity.certificate.size()));
    BIO* key = BIO_new_mem_buf(identity.key.data(), static_cast<int>(identity.key.size()));
    X509* x509 = PEM_read_bio_X509(cert, nullptr, nullptr, nullptr);
    EVP_PKEY* pkey = PEM_read_bio_PrivateKey(key, nullptr, nullptr, nullptr);
    SSL_CTX_use_certificate(ctx_, x509);
    SSL_CTX_use_PrivateKey(ctx_, pkey);
    X509_free(x509);
    EVP_PKEY_free(pkey);
    BIO_free(cert);
    BIO_free(key);
    SSL_CTX_set_alpn_select_cb(ctx_, &TlsRecorder::select, this);
    thread_ = std::thread([this] { serve(); });
  }
  TlsRecorder(const TlsRecorder&) = delete;
  TlsRecorder& operator=(const TlsRecorder&) = delete;
  ~TlsRecorder() {
    ::shutdown(listener_.fd, SHUT_RDWR);
    thread_.join();
    ::close(listener_.fd);
    SSL_CTX_free(ctx_);
  }
  std::uint16_t port() const { return listener_.port; }
  bool wait(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    return seen_.wait_for(lock, timeout, [&] { return !offered_.empty(); });
  }
  std::vector<std::string> offered() {
    const std::lock_guard lock(mutex_);
    return offered_;
  }

 private:
  static int select(SSL*, const unsigned char**, unsigned char*, const unsigned char* in,
                    unsigned int size, void* arg) {
    auto* self = static_cast<TlsRecorder*>(arg);
    std::vector<std::string> names;
    for (unsigned i = 0; i < size; i += 1 + in[i]) {
      names.emplace_back(reinterpret_cast<const char*>(in + i + 1), in[i]);
    }
    {
      const std::lock_guard lock(self->mutex_);
      self->offered_ = std::move(names);
    }
    self->seen_.notify_all();
    return SSL_TLSEXT_ERR_NOACK;
  }

  void serve() {
    for (int accepted = 0; accepted < 20; ++accepted) {
      const int fd = ::accept(listener_.fd, nullptr, nullptr);
      if (fd < 0) return;  // shut down
      timeval timeout{2, 0};
      ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
      SSL* ssl = SSL_new(ctx_);
      SSL_set_fd(ssl, fd);
      SSL_accept(ssl);
      SSL_free(ssl);
      ::close(fd);
    }
  }

  test_support::TcpListener listener_;
  SSL_CTX* ctx_ = nullptr;
  std::thread thread_;
  std::mutex mutex_;
  std::condition_variable seen_;
  std::vector<std::string> offered_;
};

}  // namespace

TEST_CASE("tls: upstream.tls.alpn is offered in the ClientHello by both clients") {
  test_pki::Authority ca("alpn test CA");
  const auto server = ca.issue({"broker", {}, {"127.0.0.1"}});
  for (const char* client : {"paho", "native"}) {
    CAPTURE(client);
    TlsRecorder recorder(server);
    GatewayOptions options;
    options.upstream_uri = "ssl://127.0.0.1:" + std::to_string(recorder.port());
    options.upstream_extra = R"("tls": {"verify": false, "alpn": ["x-amzn-mqtt-ca", "mqtt"]})";
    options.client = client;
    options.mode = "aggregating";  // the gateway's own connection goes out at start
    options.wait_ready = false;    // and never succeeds: the recorder only looks
    GatewayProcess gateway(options);
    REQUIRE(recorder.wait(15s));  // a sanitizer build under a full parallel run starts slowly
    CHECK(recorder.offered() == std::vector<std::string>{"x-amzn-mqtt-ca", "mqtt"});
  }
}

TEST_CASE("tls: native min_version 1.3 refuses a broker that offers at most TLS 1.2") {
  test_pki::Authority ca("version test CA");
  TlsRecorder old_broker(ca.issue({"broker", {}, {"127.0.0.1"}}), TLS1_2_VERSION);
  GatewayOptions options;
  options.upstream_uri = "ssl://127.0.0.1:" + std::to_string(old_broker.port());
  options.upstream_extra = R"("tls": {"verify": false, "min_version": "1.3"})";
  options.client = "native";
  options.mode = "aggregating";
  options.wait_ready = false;
  GatewayProcess gateway(options);
  INFO(gateway.log());
  CHECK(gateway.wait_for_log("protocol version", 5s));
}

TEST_CASE("tls: configs/tls-cloud.json's upstream.tls reaches a TLS broker with certificates at "
          "its paths") {
  TlsBroker tls;
  // The example's own tls object, its relative paths taken from a directory that holds this
  // test's CA, certificate and key under the example's file names.
  const auto example = nlohmann::json::parse(
      std::ifstream(std::string(MQTTSN_SOURCE_DIR) + "/configs/tls-cloud.json"));
  auto section = example.at("upstream").at("tls");
  const std::map<std::string, std::string> content = {{"ca_file", "ca.pem"},
                                                      {"cert_file", "client.pem"},
                                                      {"key_file", "client.key"}};
  for (const auto& [key, source] : content) {
    const std::filesystem::path target = tls.broker.dir() / section.at(key).get<std::string>();
    std::filesystem::create_directories(target.parent_path());
    std::filesystem::copy_file(tls.path(source), target,
                               std::filesystem::copy_options::overwrite_existing);
    section[key] = target.string();
  }
  TestSubscriber sub(tls.broker.uri(), "cloud/#", 1);
  for (const char* client : {"paho", "native"}) {
    CAPTURE(client);
    GatewayOptions options;
    options.upstream_uri = "mqtts://127.0.0.1:" + std::to_string(tls.good);
    options.upstream_extra = "\"tls\": " + section.dump();
    options.client = client;
    options.mode = example.at("gateway").at("mode").get<std::string>();
    GatewayProcess gateway(options);
    sn_tools::SnUdpClient node("127.0.0.1", gateway.port());
    REQUIRE(node.connect(std::string("cloud-") + client, 30, true) == sn::ReturnCode::accepted);
    const auto topic = node.register_topic("cloud/" + std::string(client));
    REQUIRE(topic.has_value());
    const std::size_t before = sub.messages().size();
    REQUIRE(node.publish(sn::TopicIdType::normal, *topic, {'o', 'k'}, sn::QoS::qos1, false));
    CHECK(sub.wait_for(before + 1, 5s));
  }
}
