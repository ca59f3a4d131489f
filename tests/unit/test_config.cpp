// Config loading: defaults, every validation message with its JSON path, and the examples in
// configs/ (each one must load, so they cannot rot).

#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <utility>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "gateway/config/config.hpp"
#include "gateway/config/host_port.hpp"
#include "scratch_dir.hpp"

namespace cfg = gateway::config;

namespace {

using test_common::ScratchDir;

// "path: problem" of the first error, or "ok".
std::string error_of(std::string_view json_text) {
  try {
    cfg::parse_config(json_text);
  } catch (const cfg::ConfigError& error) {
    return error.what();
  }
  return "ok";
}

struct Case {
  const char* json;
  const char* error;
};

void check_errors(const std::vector<Case>& cases) {
  for (const auto& c : cases) {
    CAPTURE(c.json);
    CHECK(error_of(c.json) == c.error);
  }
}

// As error_of, with relative file paths taken from `dir`.
std::string error_of_in(const ScratchDir& dir, const std::string& json_text) {
  try {
    cfg::parse_config(json_text, dir.path());
  } catch (const cfg::ConfigError& error) {
    return error.what();
  }
  return "ok";
}

cfg::HostPort bind_of(const cfg::Config& config, std::size_t index) {
  return std::get<cfg::UdpTransport>(config.transports.at(index).settings).bind;
}

}  // namespace

TEST_CASE("config: an empty document gives the documented defaults") {
  const auto config = cfg::parse_config("{}");
  CHECK(config == cfg::Config{});
  CHECK(config.gateway.id == 1);
  CHECK(config.gateway.mode == cfg::GatewayMode::transparent);
  CHECK(config.gateway.max_clients == 10000);
  CHECK(config.upstream.uri == "tcp://127.0.0.1:1883");
  CHECK(config.upstream.scheme == cfg::UpstreamScheme::tcp);
  CHECK(config.upstream.broker == cfg::HostPort{"127.0.0.1", 1883, false});
  CHECK(config.upstream.client_id_prefix.empty());
  CHECK(config.upstream.username.empty());
  CHECK(config.upstream.password.empty());
  REQUIRE(config.transports.size() == 1);
  CHECK(config.transports[0].name.empty());
  CHECK(bind_of(config, 0) == cfg::HostPort{"0.0.0.0", 1884, false});
  CHECK(config.predefined_topics.empty());
  CHECK(config.qos_minus_one_enabled);
  CHECK(config.retry.interval == std::chrono::milliseconds(10000));
  CHECK(config.retry.max_attempts == 3);
  CHECK(config.log_level == cfg::LogLevel::info);
}

TEST_CASE("config: empty sections and an empty transport entry take the defaults too") {
  const auto config = cfg::parse_config(
      R"({"gateway": {}, "upstream": {}, "transports": [{}], "topics": {}, "qos_minus_one": {},
          "retry": {}, "log": {}})");
  CHECK(config == cfg::Config{});
}

TEST_CASE("config: every key is read") {
  const auto config = cfg::parse_config(R"({
    "gateway": {"id": 255, "mode": "aggregating", "max_clients": 1},
    "upstream": {"uri": "mqtts://broker.example.com:8883", "client_id_prefix": "site1-",
                 "username": "gw", "password": "secret"},
    "transports": [{"type": "udp", "name": "v4", "bind": "127.0.0.1:0"},
                   {"type": "udp", "name": "v6", "bind": "[::]:1884"}],
    "topics": {"predefined": [{"id": 1, "name": "a/b"}, {"id": 65534, "name": "$SYS/x"}]},
    "qos_minus_one": {"enabled": false},
    "retry": {"interval_ms": 1, "max_attempts": 7},
    "log": {"level": "trace"}
  })");
  CHECK(config.gateway.id == 255);
  CHECK(config.gateway.mode == cfg::GatewayMode::aggregating);
  CHECK(config.gateway.max_clients == 1);
  CHECK(config.upstream.scheme == cfg::UpstreamScheme::mqtts);
  CHECK(config.upstream.broker == cfg::HostPort{"broker.example.com", 8883, false});
  CHECK(config.upstream.client_id_prefix == "site1-");
  CHECK(config.upstream.username == "gw");
  CHECK(config.upstream.password == "secret");
  REQUIRE(config.transports.size() == 2);
  CHECK(config.transports[0].name == "v4");
  CHECK(bind_of(config, 0) == cfg::HostPort{"127.0.0.1", 0, false});
  CHECK(config.transports[1].name == "v6");
  CHECK(bind_of(config, 1) == cfg::HostPort{"::", 1884, true});
  CHECK(config.predefined_topics ==
        std::vector<cfg::PredefinedTopic>{{1, "a/b"}, {65534, "$SYS/x"}});
  CHECK_FALSE(config.qos_minus_one_enabled);
  CHECK(config.retry.interval == std::chrono::milliseconds(1));
  CHECK(config.retry.max_attempts == 7);
  CHECK(config.log_level == cfg::LogLevel::trace);
}

TEST_CASE("config: every example in configs/ loads") {
  const std::filesystem::path directory = std::filesystem::path(MQTTSN_SOURCE_DIR) / "configs";
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(directory)) {
    // schema.json describes the others (every load validates against it).
    if (entry.path().extension() == ".json" && entry.path().filename() != "schema.json") {
      files.push_back(entry.path());
    }
  }
  std::sort(files.begin(), files.end());
  REQUIRE_FALSE(files.empty());
  for (const auto& file : files) {
    CAPTURE(file.string());
    // Certificates and keys an example names (relative to itself) are the user's to provide:
    // the example loads from a copy with empty stand-ins at those paths.
    const auto document = nlohmann::json::parse(std::ifstream(file));
    std::vector<std::string> named;
    if (document.contains("upstream") && document["upstream"].contains("tls")) {
      for (const auto& [key, value] : document["upstream"]["tls"].items()) {
        if (key.ends_with("_file")) named.push_back(value.get<std::string>());
      }
    }
    if (named.empty()) {
      CHECK_NOTHROW(cfg::load_config_file(file));
      continue;
    }
    const ScratchDir copy;
    std::filesystem::copy_file(file, copy.path() / file.filename());
    for (const auto& relative : named) {
      REQUIRE(std::filesystem::path(relative).is_relative());
      std::filesystem::create_directories((copy.path() / relative).parent_path());
      std::ofstream(copy.path() / relative).put('\n');
    }
    CHECK_NOTHROW(cfg::load_config_file(copy.path() / file.filename()));
    // Without them it names the first one missing.
    CHECK_THROWS_WITH_AS(cfg::load_config_file(file), doctest::Contains("does not exist"),
                         cfg::ConfigError);
  }
}

TEST_CASE("config: relative TLS file paths are taken from the config file's directory") {
  const ScratchDir dir;
  std::filesystem::create_directories(dir.path() / "certs");
  std::ofstream(dir.path() / "certs" / "ca.pem").put('\n');
  std::ofstream(dir.path() / "gw.json")
      << R"({"upstream": {"uri": "ssl://b:8883", "tls": {"ca_file": "certs/ca.pem"}}})";
  const auto config = cfg::load_config_file(dir.path() / "gw.json");
  CHECK(config.upstream.tls.ca_file == (dir.path() / "certs" / "ca.pem").string());
  // parse_config() with no directory takes them as written.
  CHECK(error_of(R"({"upstream": {"uri": "ssl://b:8883", "tls": {"ca_file": "certs/ca.pem"}}})") ==
        R"(upstream.tls.ca_file: "certs/ca.pem" does not exist)");
  CHECK(cfg::parse_config(R"({"upstream": {"uri": "ssl://b:8883", "tls": {"ca_file": "certs/ca.pem"}}})",
                          dir.path())
            .upstream.tls.ca_file == (dir.path() / "certs" / "ca.pem").string());
}

TEST_CASE("config: configs/tls-cloud.json is TLS with a client certificate, verified") {
  const auto text = [] {
    std::ifstream in(std::filesystem::path(MQTTSN_SOURCE_DIR) / "configs" / "tls-cloud.json");
    return std::string(std::istreambuf_iterator<char>(in), {});
  }();
  const ScratchDir dir;
  std::filesystem::create_directories(dir.path() / "certs");
  for (const char* name : {"AmazonRootCA1.pem", "gateway.cert.pem", "gateway.private.key"}) {
    std::ofstream(dir.path() / "certs" / name).put('\n');
  }
  const auto config = cfg::parse_config(text, dir.path());
  CHECK(config.upstream.scheme == cfg::UpstreamScheme::mqtts);
  CHECK(config.upstream.broker.port == 8883);
  CHECK(config.upstream.tls.verify);
  CHECK(config.upstream.tls.ca_file == (dir.path() / "certs" / "AmazonRootCA1.pem").string());
  CHECK(config.upstream.tls.cert_file == (dir.path() / "certs" / "gateway.cert.pem").string());
  CHECK(config.upstream.tls.key_file == (dir.path() / "certs" / "gateway.private.key").string());
  CHECK(config.gateway.mode == cfg::GatewayMode::aggregating);
}

TEST_CASE("config: the udp example is the documented one") {
  const auto config =
      cfg::load_config_file(std::filesystem::path(MQTTSN_SOURCE_DIR) / "configs" / "gateway.json");
  CHECK(bind_of(config, 0) == cfg::HostPort{"0.0.0.0", 1884, false});
  CHECK(config.upstream.uri == "tcp://127.0.0.1:1883");
  CHECK(config.predefined_topics == std::vector<cfg::PredefinedTopic>{{1, "sensors/temperature"}});
}

TEST_CASE("config: an unknown key is an error at every level") {
  check_errors({
      {R"({"gatway": {}})", "gatway: unknown key"},
      {R"({"gateway": {"idd": 1}})", "gateway.idd: unknown key"},
      {R"({"upstream": {"passwrd": "x"}})", "upstream.passwrd: unknown key"},
      {R"({"transports": [{"type": "udp", "port": 1}]})", "transports[0].port: unknown key"},
      {R"({"transports": [{}, {"bnd": "x"}]})", "transports[1].bnd: unknown key"},
      {R"({"topics": {"predefind": []}})", "topics.predefind: unknown key"},
      {R"({"topics": {"predefined": [{"id": 1, "name": "a", "qos": 1}]}})",
       "topics.predefined[0].qos: unknown key"},
      {R"({"qos_minus_one": {"enable": true}})", "qos_minus_one.enable: unknown key"},
      {R"({"retry": {"interval_s": 10}})", "retry.interval_s: unknown key"},
      {R"({"log": {"lvl": "info"}})", "log.lvl: unknown key"},
  });
}

TEST_CASE("config: a wrong JSON type names the path and the expectation") {
  check_errors({
      {R"([])", "expected an object at the top level"},
      {R"({"gateway": []})", "gateway: expected an object"},
      {R"({"gateway": {"id": "1"}})", "gateway.id: expected an integer from 1 to 255"},
      {R"({"gateway": {"id": 1.0}})", "gateway.id: expected an integer from 1 to 255"},
      {R"({"gateway": {"mode": 1}})", "gateway.mode: expected a string (one of transparent, aggregating)"},
      {R"({"gateway": {"max_clients": true}})",
       "gateway.max_clients: expected an integer from 1 to 4294967295"},
      {R"({"upstream": {"uri": null}})", "upstream.uri: expected a string"},
      {R"({"upstream": {"username": 5}})", "upstream.username: expected a string"},
      {R"({"transports": {}})", "transports: expected an array"},
      {R"({"transports": [1]})", "transports[0]: expected an object"},
      {R"({"transports": [{"type": 1}]})",
       "transports[0].type: expected a string (one of udp, dtls, serial, rfcomm, l2cap)"},
      {R"({"transports": [{"bind": 1884}]})", "transports[0].bind: expected a string"},
      {R"({"transports": [{"name": 1}]})", "transports[0].name: expected a string"},
      {R"({"topics": {"predefined": {}}})", "topics.predefined: expected an array"},
      {R"({"topics": {"predefined": [{"id": 1, "name": 2}]}})",
       "topics.predefined[0].name: expected a string"},
      {R"({"qos_minus_one": {"enabled": "yes"}})", "qos_minus_one.enabled: expected true or false"},
      {R"({"retry": {"interval_ms": "10s"}})",
       "retry.interval_ms: expected an integer from 1 to 4294967295"},
      {R"({"log": {"level": 3}})",
       "log.level: expected a string (one of trace, debug, info, warn, error)"},
  });
}

TEST_CASE("config: integers outside their range") {
  check_errors({
      {R"({"gateway": {"id": 0}})", "gateway.id: expected an integer from 1 to 255"},
      {R"({"gateway": {"id": 256}})", "gateway.id: expected an integer from 1 to 255"},
      {R"({"gateway": {"id": -1}})", "gateway.id: expected an integer from 1 to 255"},
      {R"({"gateway": {"id": 18446744073709551615}})",
       "gateway.id: expected an integer from 1 to 255"},
      {R"({"gateway": {"max_clients": 0}})",
       "gateway.max_clients: expected an integer from 1 to 4294967295"},
      {R"({"gateway": {"max_clients": 4294967296}})",
       "gateway.max_clients: expected an integer from 1 to 4294967295"},
      {R"({"retry": {"interval_ms": 0}})",
       "retry.interval_ms: expected an integer from 1 to 4294967295"},
      {R"({"retry": {"max_attempts": 0}})",
       "retry.max_attempts: expected an integer from 1 to 4294967295"},
  });
  CHECK(cfg::parse_config(R"({"gateway": {"max_clients": 4294967295}})").gateway.max_clients ==
        4294967295U);
}

TEST_CASE("config: named values outside their set") {
  check_errors({
      {R"({"gateway": {"mode": "bridging"}})",
       R"(gateway.mode: unsupported mode "bridging" (supported: transparent, aggregating))"},
      {R"({"log": {"level": "verbose"}})",
       R"(log.level: unknown level "verbose" (supported: trace, debug, info, warn, error))"},
      {R"({"transports": [{"type": "zigbee"}]})",
       R"(transports[0].type: unsupported transport "zigbee" (supported: udp, dtls, serial, rfcomm, l2cap))"},
      // The type is judged before the keys, which depend on it.
      {R"({"transports": [{"type": "xbee", "device": "/dev/ttyUSB0"}]})",
       R"(transports[0].type: unsupported transport "xbee" (supported: udp, dtls, serial, rfcomm, l2cap))"},
  });
}

TEST_CASE("config: udp bind addresses") {
  const auto bind = [](const char* text) {
    return bind_of(cfg::parse_config(std::string(R"({"transports": [{"bind": ")") + text + "\"}]}"),
                   0);
  };
  CHECK(bind("0.0.0.0:1884") == cfg::HostPort{"0.0.0.0", 1884, false});
  CHECK(bind("127.0.0.1:0") == cfg::HostPort{"127.0.0.1", 0, false});
  CHECK(bind("localhost:65535") == cfg::HostPort{"localhost", 65535, false});
  CHECK(bind("[::]:1884") == cfg::HostPort{"::", 1884, true});
  CHECK(bind("[::1]:1884") == cfg::HostPort{"::1", 1884, true});
  CHECK(bind("[fe80::1:2]:7") == cfg::HostPort{"fe80::1:2", 7, true});

  check_errors({
      {R"({"transports": [{"bind": "0.0.0.0"}]})", R"(transports[0].bind: expected "host:port")"},
      {R"({"transports": [{"bind": ""}]})", R"(transports[0].bind: expected "host:port")"},
      {R"({"transports": [{"bind": ":1884"}]})", R"(transports[0].bind: expected "host:port")"},
      {R"({"transports": [{"bind": "0.0.0.0:"}]})", R"(transports[0].bind: expected "host:port")"},
      {R"({"transports": [{"bind": "0.0.0.0:port"}]})",
       R"(transports[0].bind: expected "host:port")"},
      {R"({"transports": [{"bind": "0.0.0.0:-1"}]})",
       R"(transports[0].bind: expected "host:port")"},
      {R"({"transports": [{"bind": "::1:1884"}]})", R"(transports[0].bind: expected "host:port")"},
      {R"({"transports": [{"bind": "[::1]"}]})", R"(transports[0].bind: expected "host:port")"},
      {R"({"transports": [{"bind": "[::1:1884"}]})", R"(transports[0].bind: expected "host:port")"},
      {R"({"transports": [{"bind": "0.0.0.0:70000"}]})",
       "transports[0].bind: port 70000 is out of range (0 to 65535)"},
      {R"({"transports": [{"bind": "0.0.0.0:99999999999999999999"}]})",
       "transports[0].bind: port 99999999999999999999 is out of range (0 to 65535)"},
      {R"({"transports": [{"bind": "300.1.1.1:1884"}]})",
       R"(transports[0].bind: "300.1.1.1" is not an IPv4 address or a hostname)"},
      {R"({"transports": [{"bind": "my_host:1884"}]})",
       R"(transports[0].bind: "my_host" is not an IPv4 address or a hostname)"},
      {R"({"transports": [{"bind": "[1.2.3.4]:1884"}]})",
       R"(transports[0].bind: "1.2.3.4" is not an IPv6 address)"},
  });
}

TEST_CASE("config: hostnames follow RFC 1123") {
  CHECK(cfg::is_valid_hostname("localhost"));
  CHECK(cfg::is_valid_hostname("gw-1.example.com"));
  CHECK(cfg::is_valid_hostname("3com.net"));
  CHECK_FALSE(cfg::is_valid_hostname(""));
  CHECK_FALSE(cfg::is_valid_hostname("-a.com"));
  CHECK_FALSE(cfg::is_valid_hostname("a-.com"));
  CHECK_FALSE(cfg::is_valid_hostname("a..com"));
  CHECK_FALSE(cfg::is_valid_hostname("a.com."));
  CHECK_FALSE(cfg::is_valid_hostname("1.2.3.999"));
  CHECK_FALSE(cfg::is_valid_hostname(std::string(64, 'a')));
  CHECK(cfg::is_valid_hostname(std::string(63, 'a')));
  CHECK(cfg::to_string(cfg::HostPort{"::1", 80, true}) == "[::1]:80");
  CHECK(cfg::to_string(cfg::HostPort{"localhost", 0, false}) == "localhost:0");
}

TEST_CASE("config: upstream uri") {
  const auto upstream = [](const char* uri) {
    return cfg::parse_config(std::string(R"({"upstream": {"uri": ")") + uri + "\"}}").upstream;
  };
  CHECK(upstream("tcp://10.0.0.1:1883").scheme == cfg::UpstreamScheme::tcp);
  CHECK(upstream("ssl://broker:8883").scheme == cfg::UpstreamScheme::ssl);
  CHECK(upstream("mqtt://broker:1883").scheme == cfg::UpstreamScheme::mqtt);
  CHECK(upstream("mqtts://broker:8883").broker == cfg::HostPort{"broker", 8883, false});
  CHECK(upstream("tcp://[::1]:1883").broker == cfg::HostPort{"::1", 1883, true});
  CHECK(upstream("tcp://[::1]:1883").uri == "tcp://[::1]:1883");

  check_errors({
      {R"({"upstream": {"uri": "127.0.0.1:1883"}})",
       R"(upstream.uri: expected "scheme://host:port" (schemes: tcp, ssl, mqtt, mqtts))"},
      {R"({"upstream": {"uri": "ws://broker:80"}})",
       R"(upstream.uri: unsupported scheme "ws" (supported: tcp, ssl, mqtt, mqtts))"},
      {R"({"upstream": {"uri": "tcp://broker"}})", R"(upstream.uri: expected "tcp://host:port")"},
      {R"({"upstream": {"uri": "tcp://broker:1883/path"}})",
       R"(upstream.uri: expected "tcp://host:port")"},
      {R"({"upstream": {"uri": "tcp://broker:0"}})",
       "upstream.uri: port 0 is not a broker port (1 to 65535)"},
      {R"({"upstream": {"uri": "tcp://bad_host:1883"}})",
       R"(upstream.uri: "bad_host" is not an IPv4 address or a hostname)"},
  });
}

TEST_CASE("config: upstream client is paho by default, native on request, TLS only with paho") {
  CHECK(cfg::parse_config("{}").upstream.client == cfg::UpstreamClient::paho);
  CHECK(cfg::parse_config(R"({"upstream": {"client": "paho"}})").upstream.client ==
        cfg::UpstreamClient::paho);
  CHECK(cfg::parse_config(R"({"upstream": {"client": "native"}})").upstream.client ==
        cfg::UpstreamClient::native);
  CHECK(cfg::parse_config(R"({"upstream": {"client": "native", "uri": "mqtt://broker:1883"}})")
            .upstream.client == cfg::UpstreamClient::native);
  CHECK(cfg::parse_config(R"({"upstream": {"client": "paho", "uri": "ssl://broker:8883"}})")
            .upstream.scheme == cfg::UpstreamScheme::ssl);
  // The effective config names the client, and reads back to the same one.
  const auto native = cfg::parse_config(R"({"upstream": {"client": "native"}})");
  CHECK(cfg::render_config(native).find(R"("client": "native")") != std::string::npos);
  CHECK(cfg::parse_config(cfg::render_config(native)) == native);
  check_errors({
      {R"({"upstream": {"client": "mosquitto"}})",
       R"(upstream.client: unsupported client "mosquitto" (supported: paho, native))"},
      {R"({"upstream": {"client": 1}})", "upstream.client: expected a string (one of paho, native)"},
  });
}

TEST_CASE("config: upstream.tls is read for ssl:// and mqtts://, and refused with plaintext") {
  const std::string file = MQTTSN_SOURCE_DIR "/configs/README.md";
  const std::string dir = MQTTSN_SOURCE_DIR "/configs";
  // No tls section: TLS with the system's trust store, verified, TLS 1.2 or later.
  const auto plain_tls = cfg::parse_config(R"({"upstream": {"uri": "mqtts://broker:8883"}})");
  CHECK(plain_tls.upstream.tls == mqtt_bridge::TlsOptions{});
  const auto all = cfg::parse_config(
      R"({"upstream": {"uri": "ssl://broker.example:8883", "client": "native", "tls": {"ca_file": ")" +
      file + R"(", "ca_path": ")" + dir + R"(", "cert_file": ")" + file + R"(", "key_file": ")" +
      file + R"(", "verify": false, "server_name": "iot.example", "min_version": "1.3",
      "alpn": ["x-amzn-mqtt-ca", "mqtt"]}}})");
  CHECK(all.upstream.tls.ca_file == file);
  CHECK(all.upstream.tls.ca_path == dir);
  CHECK(all.upstream.tls.cert_file == file);
  CHECK(all.upstream.tls.key_file == file);
  CHECK_FALSE(all.upstream.tls.verify);
  CHECK(all.upstream.tls.server_name == "iot.example");
  CHECK(all.upstream.tls.min_version == mqtt_bridge::TlsVersion::v1_3);
  CHECK(all.upstream.tls.alpn == std::vector<std::string>{"x-amzn-mqtt-ca", "mqtt"});
  // Rendered with paths only, and read back the same.
  CHECK(cfg::parse_config(cfg::render_config(all)) == all);
  CHECK(nlohmann::json::parse(cfg::render_config(all))["upstream"]["tls"]["min_version"] == "1.3");
  CHECK_FALSE(nlohmann::json::parse(cfg::render_config(cfg::Config{}))["upstream"].contains("tls"));
  // Paho sends and checks the URI's host itself: the same name is fine.
  CHECK(cfg::parse_config(R"({"upstream": {"uri": "ssl://b.example:1", "tls": {"server_name": "b.example"}}})")
            .upstream.tls.server_name == "b.example");
  check_errors({
      {R"({"upstream": {"uri": "tcp://broker:1883", "tls": {}}})",
       "upstream.tls: set, but upstream.uri is tcp:// (plaintext); use ssl:// or mqtts://"},
      {R"({"upstream": {"uri": "mqtt://broker:1883", "tls": {"verify": true}}})",
       "upstream.tls: set, but upstream.uri is mqtt:// (plaintext); use ssl:// or mqtts://"},
      {R"({"upstream": {"uri": "ssl://b:1", "tls": {"ca_file": "/nonexistent/ca.pem"}}})",
       R"(upstream.tls.ca_file: "/nonexistent/ca.pem" does not exist)"},
      {R"({"upstream": {"uri": "ssl://b:1", "tls": {"ca_path": "/nonexistent"}}})",
       R"(upstream.tls.ca_path: "/nonexistent" does not exist)"},
      {R"({"upstream": {"uri": "ssl://b:1", "tls": {"cafile": "x"}}})",
       "upstream.tls.cafile: unknown key"},
      {R"({"upstream": {"uri": "ssl://b:1", "tls": {"verify": "no"}}})",
       "upstream.tls.verify: expected true or false"},
      {R"({"upstream": {"uri": "ssl://b:1", "tls": {"min_version": "1.1"}}})",
       R"(upstream.tls.min_version: unsupported TLS version "1.1" (supported: "1.2", "1.3"))"},
      {R"({"upstream": {"uri": "ssl://b:1", "tls": {"alpn": "mqtt"}}})",
       "upstream.tls.alpn: expected an array"},
      {R"({"upstream": {"uri": "ssl://b:1", "tls": {"alpn": ["mqtt", ""]}}})",
       "upstream.tls.alpn[1]: an ALPN protocol name has 1 to 255 bytes (RFC 7301)"},
      {R"({"upstream": {"uri": "ssl://b:1", "tls": {"server_name": "a b"}}})",
       R"(upstream.tls.server_name: "a b" is not a host name)"},
      {R"({"upstream": {"uri": "ssl://b:1", "tls": {"server_name": "other"}}})",
       R"(upstream.tls.server_name: upstream.client "paho" sends and checks the URI's host ("b"); another server_name needs upstream.client "native")"},
      {R"({"upstream": {"uri": "ssl://b:1", "tls": {"min_version": "1.3"}}})",
       R"(upstream.tls.min_version: upstream.client "paho" cannot require TLS 1.3 (Paho 1.3 has no such option); use upstream.client "native")"},
  });
  CHECK(error_of(R"({"upstream": {"uri": "ssl://b:1", "tls": {"ca_file": ")" + dir + R"("}}})") ==
        "upstream.tls.ca_file: \"" + dir + "\" is a directory");
  CHECK(error_of(R"({"upstream": {"uri": "ssl://b:1", "tls": {"key_file": ")" + file + R"("}}})") ==
        "upstream.tls.key_file: set without upstream.tls.cert_file (the certificate it is the key of)");
}

TEST_CASE("config: upstream.max_queued_messages bounds what waits for the broker") {
  CHECK(cfg::parse_config("{}").upstream.max_queued_messages == 10000);
  CHECK(cfg::parse_config(R"({"upstream": {"max_queued_messages": 1}})")
            .upstream.max_queued_messages == 1);
  check_errors({
      {R"({"upstream": {"max_queued_messages": 0}})",
       "upstream.max_queued_messages: expected an integer from 1 to 1000000"},
      {R"({"upstream": {"max_queued_messages": "many"}})",
       "upstream.max_queued_messages: expected an integer from 1 to 1000000"},
  });
}

TEST_CASE("config: upstream.max_broker_delay_ms bounds how far behind the broker may be for QoS 0") {
  CHECK(cfg::parse_config("{}").upstream.max_broker_delay == std::chrono::milliseconds(50));
  CHECK(cfg::parse_config(R"({"upstream": {"max_broker_delay_ms": 0}})")
            .upstream.max_broker_delay == std::chrono::milliseconds(0));
  check_errors({
      {R"({"upstream": {"max_broker_delay_ms": -1}})",
       "upstream.max_broker_delay_ms: expected an integer from 0 to 60000"},
      {R"({"upstream": {"max_broker_delay_ms": 60001}})",
       "upstream.max_broker_delay_ms: expected an integer from 0 to 60000"},
  });
}

TEST_CASE("config: upstream.mqtt_version chooses MQTT 3.1.1 or 5 towards the broker") {
  CHECK(cfg::parse_config("{}").upstream.mqtt_version == 4);
  CHECK(cfg::parse_config(R"({"upstream": {"mqtt_version": "3.1.1"}})").upstream.mqtt_version == 4);
  CHECK(cfg::parse_config(R"({"upstream": {"mqtt_version": "5"}})").upstream.mqtt_version == 5);
  CHECK(cfg::parse_config(R"({"upstream": {"mqtt_version": "5.0"}})").upstream.mqtt_version == 5);
  check_errors({
      {R"({"upstream": {"mqtt_version": "3.1"}})",
       "upstream.mqtt_version: unsupported MQTT version \"3.1\" (supported: \"3.1.1\", \"5\", \"5.0\")"},
      {R"({"upstream": {"mqtt_version": 5}})",
       R"(upstream.mqtt_version: expected a string (one of "3.1.1", "5", "5.0"))"},
  });
}

TEST_CASE("config: upstream credentials") {
  check_errors({
      {R"({"upstream": {"password": "x"}})",
       "upstream.password: set without upstream.username (MQTT 3.1.1 §3.1.2.9)"},
      {R"({"upstream": {"username": "a\u0000b"}})",
       "upstream.username: must not contain U+0000 (MQTT 3.1.1 §1.5.3)"},
      {R"({"upstream": {"client_id_prefix": "\u0000"}})",
       "upstream.client_id_prefix: must not contain U+0000 (MQTT 3.1.1 §1.5.3)"},
  });
}

TEST_CASE("config: transports list") {
  check_errors({
      {R"({"transports": []})", "transports: expected at least one transport"},
      {R"({"transports": [{"name": "a", "bind": "0.0.0.0:1"}, {"name": "a", "bind": "0.0.0.0:2"}]})",
       R"(transports[1].name: duplicate name "a" (already used by transports[0]))"},
      {R"({"transports": [{}, {"bind": "0.0.0.0:1884"}]})",
       R"(transports[1].bind: duplicate address "0.0.0.0:1884" (already used by transports[0]))"},
  });
  // Port 0 means a fresh ephemeral port per bind, so it never collides.
  CHECK(cfg::parse_config(R"({"transports": [{"bind": "[::1]:0"}, {"bind": "[::1]:0"}]})")
            .transports.size() == 2);
  CHECK(cfg::parse_config(R"({"transports": [{"name": ""}, {"name": "", "bind": "0.0.0.0:2"}]})")
            .transports.size() == 2);
}

TEST_CASE("config: predefined topics") {
  check_errors({
      {R"({"topics": {"predefined": [{"id": 0, "name": "a"}]}})",
       "topics.predefined[0].id: expected an integer from 1 to 65534"},
      {R"({"topics": {"predefined": [{"id": 65535, "name": "a"}]}})",
       "topics.predefined[0].id: expected an integer from 1 to 65534"},
      {R"({"topics": {"predefined": [{"name": "a"}]}})",
       "topics.predefined[0].id: required key is missing"},
      {R"({"topics": {"predefined": [{"id": 1}]}})",
       "topics.predefined[0].name: required key is missing"},
      {R"({"topics": {"predefined": [1]}})", "topics.predefined[0]: expected an object"},
      {R"({"topics": {"predefined": [{"id": 1, "name": ""}]}})",
       R"(topics.predefined[0].name: "" is not a valid topic name (non-empty UTF-8 without '+', '#' or NUL))"},
      {R"({"topics": {"predefined": [{"id": 1, "name": "a/+"}]}})",
       R"(topics.predefined[0].name: "a/+" is not a valid topic name (non-empty UTF-8 without '+', '#' or NUL))"},
      {R"({"topics": {"predefined": [{"id": 1, "name": "a/#"}]}})",
       R"(topics.predefined[0].name: "a/#" is not a valid topic name (non-empty UTF-8 without '+', '#' or NUL))"},
      {R"({"topics": {"predefined": [{"id": 1, "name": "a\u0000"}]}})",
       R"(topics.predefined[0].name: "a\u0000" is not a valid topic name (non-empty UTF-8 without '+', '#' or NUL))"},
      {R"({"topics": {"predefined": [{"id": 7, "name": "a"}, {"id": 8, "name": "b"},
                                      {"id": 7, "name": "c"}]}})",
       "topics.predefined[2].id: duplicate id 7 (already used by topics.predefined[0])"},
      {R"({"topics": {"predefined": [{"id": 1, "name": "a"}, {"id": 2, "name": "a"}]}})",
       R"(topics.predefined[1].name: duplicate name "a" (already used by topics.predefined[0]))"},
  });
}

TEST_CASE("config: JSON syntax errors name line and column, and duplicate keys are errors") {
  const auto syntax = error_of("{\n  \"gateway\": {\"id\": 1,}\n}");
  CHECK(syntax.rfind("parse error at line 2, column ", 0) == 0);
  CHECK(error_of("").rfind("parse error at line 1, column 1", 0) == 0);
  check_errors({
      {R"({"gateway": {"id": 1, "id": 2}})", "gateway.id: duplicate key"},
      {R"({"retry": {}, "retry": {}})", "retry: duplicate key"},
      {R"({"transports": [{}, {"name": "a", "bind": "0.0.0.0:2", "name": "b"}]})",
       "transports[1].name: duplicate key"},
      {R"({"topics": {"predefined": [[], {"id": 1, "id": 2}]}})",
       "topics.predefined[1].id: duplicate key"},
  });
}

TEST_CASE("config: load_config_file names the file") {
  try {
    cfg::load_config_file("/nonexistent-dir/gateway.json");
    FAIL("expected a ConfigError");
  } catch (const cfg::ConfigError& error) {
    CHECK(error.file() == "/nonexistent-dir/gateway.json");
    CHECK(error.json_path().empty());
    CHECK(std::string(error.what()) ==
          "/nonexistent-dir/gateway.json: cannot open: No such file or directory");
  }
  CHECK_THROWS_AS(cfg::load_config_file(MQTTSN_SOURCE_DIR), cfg::ConfigError);
}

TEST_CASE("config: ConfigError carries path and problem apart") {
  try {
    cfg::parse_config(R"({"upstream": {"passwrd": ""}})");
    FAIL("expected a ConfigError");
  } catch (const cfg::ConfigError& error) {
    CHECK(error.json_path() == "upstream.passwrd");
    CHECK(error.problem() == "unknown key");
    CHECK(error.file().empty());
  }
}

TEST_CASE("config: the rendered effective config reads back the same, password masked") {
  const char* text = R"({
    "gateway": {"id": 9, "mode": "aggregating"},
    "upstream": {"uri": "ssl://[2001:db8::1]:8883", "username": "gw", "password": "secret",
                 "mqtt_version": "5", "max_broker_delay_ms": 20},
    "transports": [{"name": "lan", "bind": "[::]:0"}, {"bind": "localhost:1884"}],
    "topics": {"predefined": [{"id": 3, "name": "x/y"}]},
    "retry": {"interval_ms": 250},
    "log": {"level": "warn"}
  })";
  const auto config = cfg::parse_config(text);
  const auto rendered = cfg::render_config(config);
  CAPTURE(rendered);
  CHECK(rendered.find("secret") == std::string::npos);

  const auto json = nlohmann::json::parse(rendered);
  CHECK(json["upstream"]["password"] == "***");
  CHECK(json["transports"][0] ==
        nlohmann::json{{"type", "udp"},
                       {"name", "lan"},
                       {"optional", false},
                       {"bind", "[::]:0"},
                       {"receive_buffer_bytes", 4194304},
                       {"send_buffer_bytes", 1048576}});
  CHECK(json["retry"]["max_attempts"] == 3);
  CHECK(json["qos_minus_one"]["enabled"] == true);

  auto expected = config;
  expected.upstream.password = "***";
  CHECK(cfg::parse_config(rendered) == expected);
  CHECK(cfg::parse_config(cfg::render_config(cfg::Config{})) == cfg::Config{});
  CHECK(nlohmann::json::parse(cfg::render_config(cfg::Config{}))["upstream"]["password"] == "");
}

TEST_CASE("config: auth lists") {
  const auto none = cfg::parse_config("{}");
  CHECK_FALSE(none.auth.allowed_clients.has_value());
  CHECK_FALSE(none.auth.allow_qos_minus_one_from.has_value());

  const auto config = cfg::parse_config(
      R"({"auth": {"allowed_clients": ["node-1", "node-2"],
                   "allow_qos_minus_one_from": ["127.0.0.1", "::1", "fe80::1"]}})");
  CHECK(config.auth.allowed_clients == std::vector<std::string>{"node-1", "node-2"});
  CHECK(config.auth.allow_qos_minus_one_from ==
        std::vector<std::string>{"127.0.0.1", "::1", "fe80::1"});
  // An empty list is kept: it admits no one, which is not the same as no list.
  CHECK(cfg::parse_config(R"({"auth": {"allowed_clients": []}})").auth.allowed_clients ==
        std::vector<std::string>{});
  // And it survives --print-config.
  CHECK(cfg::parse_config(cfg::render_config(config)) == config);

  check_errors({
      {R"({"auth": {"allowed": []}})", R"(auth.allowed: unknown key)"},
      {R"({"auth": {"allowed_clients": "node-1"}})", "auth.allowed_clients: expected an array"},
      {R"({"auth": {"allowed_clients": ["a", ""]}})",
       "auth.allowed_clients[1]: expected a non-empty string (an MQTT-SN client id)"},
      {R"({"auth": {"allowed_clients": ["a", 7]}})",
       "auth.allowed_clients[1]: expected a non-empty string (an MQTT-SN client id)"},
      {R"({"auth": {"allowed_clients": ["a", "b", "a"]}})",
       R"(auth.allowed_clients[2]: duplicate client id "a" (already used by auth.allowed_clients[0]))"},
      {R"({"auth": {"allow_qos_minus_one_from": ["127.0.0.1:1884"]}})",
       "auth.allow_qos_minus_one_from[0]: expected an IPv4 or IPv6 address literal (no port, no "
       "brackets)"},
      {R"({"auth": {"allow_qos_minus_one_from": ["[::1]"]}})",
       "auth.allow_qos_minus_one_from[0]: expected an IPv4 or IPv6 address literal (no port, no "
       "brackets)"},
      {R"({"auth": {"allow_qos_minus_one_from": ["localhost"]}})",
       "auth.allow_qos_minus_one_from[0]: expected an IPv4 or IPv6 address literal (no port, no "
       "brackets)"},
      {R"({"auth": {"allow_qos_minus_one_from": ["::1", "0:0::1"]}})",
       R"(auth.allow_qos_minus_one_from[1]: duplicate address "0:0::1" (already used by auth.allow_qos_minus_one_from[0]))"},
  });
}

TEST_CASE("config: discovery") {
  const auto defaults = cfg::parse_config("{}");
  CHECK(defaults.discovery.advertise_interval == std::chrono::seconds(900));
  CHECK_FALSE(defaults.discovery.multicast.has_value());
  CHECK(defaults.discovery.ttl == 1);

  const auto v4 = cfg::parse_config(
      R"({"discovery": {"advertise_interval_s": 60, "multicast": "239.255.18.83:1884",
                        "interface": "127.0.0.1", "ttl": 2}})");
  CHECK(v4.discovery.advertise_interval == std::chrono::seconds(60));
  REQUIRE(v4.discovery.multicast.has_value());
  CHECK(v4.discovery.multicast->host == "239.255.18.83");
  CHECK(v4.discovery.multicast->port == 1884);
  CHECK(v4.discovery.interface == "127.0.0.1");
  CHECK(v4.discovery.ttl == 2);
  CHECK(cfg::parse_config(cfg::render_config(v4)) == v4);

  const auto v6 = cfg::parse_config(R"({"discovery": {"multicast": "[ff02::1]:1884", "interface": "lo"}})");
  REQUIRE(v6.discovery.multicast.has_value());
  CHECK(v6.discovery.multicast->is_v6);
  CHECK(cfg::parse_config(cfg::render_config(v6)) == v6);

  const char* not_group =
      R"(discovery.multicast: expected a multicast group literal and port (224.0.0.0/4 or ff00::/8), e.g. "239.255.18.83:1884" or "[ff02::1]:1884")";
  check_errors({
      {R"({"discovery": {"advertise_interval_s": 0}})",
       "discovery.advertise_interval_s: expected an integer from 1 to 65535"},
      {R"({"discovery": {"ttl": 0}})", "discovery.ttl: expected an integer from 1 to 255"},
      {R"({"discovery": {"multicast": "192.168.1.10:1884"}})", not_group},
      {R"({"discovery": {"multicast": "[2001:db8::1]:1884"}})", not_group},
      {R"({"discovery": {"multicast": "localhost:1884"}})", not_group},
      {R"({"discovery": {"multicast": "239.1.1.1"}})", R"(discovery.multicast: expected "host:port")"},
      {R"({"discovery": {"multicast": "239.1.1.1:0"}})", "discovery.multicast: port 0 cannot be sent to"},
      {R"({"discovery": {"interface": "127.0.0.1"}})",
       "discovery.interface: set without discovery.multicast"},
      {R"({"discovery": {"multicast": "239.1.1.1:1884", "interface": "eth0"}})",
       "discovery.interface: expected the IPv4 address of a local interface (the group is IPv4)"},
      {R"({"discovery": {"multicast": "[ff02::1]:1884", "interface": "a b"}})",
       R"(discovery.interface: expected an interface name such as "eth0" (the group is IPv6))"},
      {R"({"discovery": {"period": 1}})", "discovery.period: unknown key"},
  });
}

// ---- serial, rfcomm, l2cap, optional, forwarders (issue 5) ------------------------------------

namespace {

const cfg::SerialTransport& serial_of(const cfg::Config& config, std::size_t index) {
  return std::get<cfg::SerialTransport>(config.transports.at(index).settings);
}

}  // namespace

TEST_CASE("config: a serial transport with only a device takes the documented defaults") {
  const auto config = cfg::parse_config(R"({"transports": [{"type": "serial", "device": "/dev/ttyS0"}]})");
  const auto& serial = serial_of(config, 0);
  CHECK(serial.device == "/dev/ttyS0");
  CHECK(serial.baud == 115200);
  CHECK(serial.data_bits == 8);
  CHECK(serial.parity == cfg::SerialParity::none);
  CHECK(serial.stop_bits == 1);
  CHECK(serial.flow_control == cfg::SerialFlowControl::none);
  CHECK(serial.framing == cfg::SerialFraming::raw);
  CHECK(serial.inter_byte_timeout_ms == 500);
  CHECK(serial.api_mode == 1);
  CHECK(serial.max_payload == 72);
  CHECK_FALSE(config.transports[0].optional);
}

TEST_CASE("config: every serial key read back") {
  const auto config = cfg::parse_config(R"({"transports": [
      {"type": "serial", "name": "radio", "optional": true, "device": "/dev/ttyUSB1",
       "baud": 921600, "data_bits": 7, "parity": "even", "stop_bits": 2,
       "flow_control": "xonxoff", "framing": "xbee", "api_mode": 2, "max_payload": 84},
      {"type": "serial", "device": "/dev/ttyUSB2", "baud": 9600, "parity": "odd",
       "flow_control": "rtscts", "framing": "raw", "inter_byte_timeout_ms": 0}]})");
  const auto& xbee = serial_of(config, 0);
  CHECK(config.transports[0].name == "radio");
  CHECK(config.transports[0].optional);
  CHECK(xbee.baud == 921600);
  CHECK(xbee.data_bits == 7);
  CHECK(xbee.parity == cfg::SerialParity::even);
  CHECK(xbee.stop_bits == 2);
  CHECK(xbee.flow_control == cfg::SerialFlowControl::xonxoff);
  CHECK(xbee.framing == cfg::SerialFraming::xbee);
  CHECK(xbee.api_mode == 2);
  CHECK(xbee.max_payload == 84);
  const auto& raw = serial_of(config, 1);
  CHECK(raw.baud == 9600);
  CHECK(raw.parity == cfg::SerialParity::odd);
  CHECK(raw.flow_control == cfg::SerialFlowControl::rtscts);
  CHECK(raw.inter_byte_timeout_ms == 0);
}

TEST_CASE("config: serial errors name the key") {
  check_errors({
      {R"({"transports": [{"type": "serial"}]})", "transports[0].device: required key is missing"},
      {R"({"transports": [{"type": "serial", "device": ""}]})",
       R"(transports[0].device: expected a device path such as "/dev/ttyUSB0")"},
      {R"({"transports": [{"type": "serial", "device": 3}]})",
       R"(transports[0].device: expected a device path such as "/dev/ttyUSB0")"},
      {R"({"transports": [{"type": "serial", "device": "/dev/x", "baud": 12345}]})",
       "transports[0].baud: expected a standard baud rate (1200, 2400, 4800, 9600, 19200, 38400, "
       "57600, 115200, 230400, 460800, 500000, 576000, 921600)"},
      {R"({"transports": [{"type": "serial", "device": "/dev/x", "baud": "fast"}]})",
       "transports[0].baud: expected a standard baud rate (1200, 2400, 4800, 9600, 19200, 38400, "
       "57600, 115200, 230400, 460800, 500000, 576000, 921600)"},
      {R"({"transports": [{"type": "serial", "device": "/dev/x", "data_bits": 9}]})",
       "transports[0].data_bits: expected an integer from 5 to 8"},
      {R"({"transports": [{"type": "serial", "device": "/dev/x", "stop_bits": 0}]})",
       "transports[0].stop_bits: expected an integer from 1 to 2"},
      {R"({"transports": [{"type": "serial", "device": "/dev/x", "parity": "mark"}]})",
       R"(transports[0].parity: unsupported parity "mark" (supported: none, even, odd))"},
      {R"({"transports": [{"type": "serial", "device": "/dev/x", "flow_control": "dtr"}]})",
       R"(transports[0].flow_control: unsupported flow control "dtr" (supported: none, rtscts, xonxoff))"},
      {R"({"transports": [{"type": "serial", "device": "/dev/x", "framing": "slip"}]})",
       R"(transports[0].framing: unsupported framing "slip" (supported: raw, xbee))"},
      {R"({"transports": [{"type": "serial", "device": "/dev/x", "api_mode": 2}]})",
       R"(transports[0].api_mode: applies to framing "xbee" only)"},
      {R"({"transports": [{"type": "serial", "device": "/dev/x", "max_payload": 60}]})",
       R"(transports[0].max_payload: applies to framing "xbee" only)"},
      {R"({"transports": [{"type": "serial", "device": "/dev/x", "framing": "xbee",
                           "inter_byte_timeout_ms": 5}]})",
       R"(transports[0].inter_byte_timeout_ms: applies to framing "raw" only)"},
      {R"({"transports": [{"type": "serial", "device": "/dev/x", "framing": "xbee", "api_mode": 0}]})",
       "transports[0].api_mode: expected an integer from 1 to 2"},
      {R"({"transports": [{"type": "serial", "device": "/dev/x", "framing": "xbee", "max_payload": 8}]})",
       "transports[0].max_payload: expected an integer from 16 to 255"},
      {R"({"transports": [{"type": "serial", "device": "/dev/x", "inter_byte_timeout_ms": -1}]})",
       "transports[0].inter_byte_timeout_ms: expected an integer from 0 to 60000"},
      {R"({"transports": [{"type": "serial", "device": "/dev/x", "flow_control": "xonxoff"}]})",
       R"(transports[0].flow_control: "xonxoff" needs framing "xbee" with api_mode 2 (otherwise 0x11 and 0x13 in frames are taken for flow control))"},
      {R"({"transports": [{"type": "serial", "device": "/dev/x", "framing": "xbee",
                           "flow_control": "xonxoff"}]})",
       R"(transports[0].flow_control: "xonxoff" needs framing "xbee" with api_mode 2 (otherwise 0x11 and 0x13 in frames are taken for flow control))"},
      {R"({"transports": [{"type": "serial", "device": "/dev/x", "bind": "0.0.0.0:1"}]})",
       "transports[0].bind: unknown key"},
      {R"({"transports": [{"type": "serial", "device": "/dev/x"}, {"type": "serial", "device": "/dev/x"}]})",
       R"(transports[1].device: duplicate device "/dev/x" (already used by transports[0]))"},
  });
}

TEST_CASE("config: rfcomm and l2cap") {
  const auto config = cfg::parse_config(
      R"({"transports": [{"type": "rfcomm", "channel": 30}, {"type": "l2cap", "psm": 129, "optional": true}]})");
  CHECK(std::get<cfg::RfcommTransport>(config.transports[0].settings).channel == 30);
  CHECK(std::get<cfg::L2capTransport>(config.transports[1].settings).psm == 129);
  CHECK(config.transports[1].optional);
  check_errors({
      {R"({"transports": [{"type": "rfcomm"}]})", "transports[0].channel: required key is missing"},
      {R"({"transports": [{"type": "rfcomm", "channel": 0}]})",
       "transports[0].channel: expected an integer from 1 to 30"},
      {R"({"transports": [{"type": "rfcomm", "channel": 31}]})",
       "transports[0].channel: expected an integer from 1 to 30"},
      {R"({"transports": [{"type": "rfcomm", "channel": 1, "psm": 129}]})",
       "transports[0].psm: unknown key"},
      {R"({"transports": [{"type": "l2cap"}]})", "transports[0].psm: required key is missing"},
      {R"({"transports": [{"type": "l2cap", "psm": 256}]})",
       "transports[0].psm: expected an integer from 1 to 255"},
      {R"({"transports": [{"type": "l2cap", "psm": 0}]})",
       "transports[0].psm: expected an integer from 1 to 255"},
      {R"({"transports": [{"type": "rfcomm", "channel": 3}, {"type": "rfcomm", "channel": 3}]})",
       "transports[1].channel: duplicate channel 3 (already used by transports[0])"},
      {R"({"transports": [{"type": "l2cap", "psm": 129}, {"type": "l2cap", "psm": 129}]})",
       "transports[1].psm: duplicate psm 129 (already used by transports[0])"},
      {R"({"transports": [{"type": "l2cap", "psm": 129, "optional": "yes"}]})",
       "transports[0].optional: expected true or false"},
      {R"({"transports": [{"optional": 1}]})", "transports[0].optional: expected true or false"},
  });
  // Different media never clash: channel 3 and psm 3, a udp and a serial.
  CHECK(cfg::parse_config(R"({"transports": [{"type": "rfcomm", "channel": 3}, {"type": "l2cap", "psm": 3}]})")
            .transports.size() == 2);
}

TEST_CASE("config: forwarders.allowed") {
  const auto absent = cfg::parse_config("{}");
  CHECK_FALSE(absent.forwarders.allowed.has_value());
  const auto config = cfg::parse_config(R"({
      "transports": [{"bind": "0.0.0.0:1884"}, {"type": "serial", "name": "wired", "device": "/dev/x"}],
      "forwarders": {"allowed": ["10.0.0.5", "10.0.0.6:1884", "[::1]:7000", "fe80::1", "wired", 0]}})");
  REQUIRE(config.forwarders.allowed.has_value());
  const auto& rules = *config.forwarders.allowed;
  REQUIRE(rules.size() == 6);
  CHECK(rules[0].address == std::string("\x0a\x00\x00\x05", 4));
  CHECK_FALSE(rules[0].port.has_value());
  CHECK_FALSE(rules[0].transport.has_value());
  CHECK(rules[1].address == std::string("\x0a\x00\x00\x06", 4));
  CHECK(rules[1].port == 1884);
  CHECK(rules[2].address.size() == 16);
  CHECK(rules[2].port == 7000);
  CHECK(rules[3].address.size() == 16);
  CHECK_FALSE(rules[3].port.has_value());
  CHECK(rules[4].transport == 1);
  CHECK(rules[5].transport == 0);
  CHECK(cfg::parse_config(R"({"forwarders": {"allowed": []}})").forwarders.allowed ==
        std::vector<cfg::AllowedForwarder>{});

  check_errors({
      {R"({"forwarders": []})", "forwarders: expected an object"},
      {R"({"forwarders": {"allow": []}})", "forwarders.allow: unknown key"},
      {R"({"forwarders": {"allowed": "10.0.0.5"}})", "forwarders.allowed: expected an array"},
      {R"({"forwarders": {"allowed": [true]}})",
       R"(forwarders.allowed[0]: expected a transport index or name, an IP address literal, or "ip:port")"},
      {R"({"forwarders": {"allowed": ["nowhere"]}})",
       R"(forwarders.allowed[0]: expected a transport index or name, an IP address literal, or "ip:port")"},
      {R"({"forwarders": {"allowed": ["gw.example.com:1884"]}})",
       R"(forwarders.allowed[0]: "gw.example.com" is neither a transport name nor an IP address literal (forwarders are matched by address, never by DNS name))"},
      {R"({"forwarders": {"allowed": ["10.0.0.5:0"]}})",
       "forwarders.allowed[0]: port 0 cannot be a forwarder's port"},
      {R"({"forwarders": {"allowed": [1]}})", "forwarders.allowed[0]: expected an integer from 0 to 0"},
      {R"({"forwarders": {"allowed": ["10.0.0.5", "10.0.0.5"]}})",
       "forwarders.allowed[1]: duplicate entry (already given by forwarders.allowed[0])"},
      {R"({"transports": [{"name": "lan"}], "forwarders": {"allowed": [0, "lan"]}})",
       "forwarders.allowed[1]: duplicate entry (already given by forwarders.allowed[0])"},
  });
}

TEST_CASE("config: serial, bluetooth and forwarders render and read back the same") {
  const auto config = cfg::parse_config(R"({
      "transports": [{"type": "serial", "name": "wired", "device": "/dev/ttyUSB0", "optional": true},
                     {"type": "serial", "device": "/dev/ttyUSB1", "framing": "xbee", "api_mode": 2},
                     {"type": "rfcomm", "channel": 2}, {"type": "l2cap", "psm": 131}],
      "forwarders": {"allowed": ["127.0.0.1:5000", "wired", 3]}})");
  const auto rendered = cfg::render_config(config);
  CAPTURE(rendered);
  CHECK(cfg::parse_config(rendered) == config);
  const auto json = nlohmann::json::parse(rendered);
  CHECK(json["transports"][1]["max_payload"] == 72);
  CHECK_FALSE(json["transports"][1].contains("inter_byte_timeout_ms"));
  CHECK(json["transports"][3] ==
        nlohmann::json{{"type", "l2cap"}, {"name", ""}, {"optional", false}, {"psm", 131}});
  CHECK(json["forwarders"]["allowed"] == nlohmann::json::parse(R"(["127.0.0.1:5000", "wired", 3])"));
  CHECK(nlohmann::json::parse(cfg::render_config(cfg::Config{}))["forwarders"] ==
        nlohmann::json::object());
}

TEST_CASE("config: the serial, xbee, bluetooth and multi examples say what they claim") {
  const std::filesystem::path dir = std::filesystem::path(MQTTSN_SOURCE_DIR) / "configs";
  const auto raw = cfg::load_config_file(dir / "serial-raw.json");
  CHECK(serial_of(raw, 0).framing == cfg::SerialFraming::raw);
  const auto xbee = cfg::load_config_file(dir / "zigbee-xbee.json");
  CHECK(serial_of(xbee, 0).framing == cfg::SerialFraming::xbee);
  CHECK(serial_of(xbee, 0).api_mode == 2);
  const auto bluetooth = cfg::load_config_file(dir / "bluetooth.json");
  REQUIRE(bluetooth.transports.size() == 3);
  CHECK(std::holds_alternative<cfg::RfcommTransport>(bluetooth.transports[1].settings));
  CHECK(std::holds_alternative<cfg::L2capTransport>(bluetooth.transports[2].settings));
  CHECK(bluetooth.transports[1].optional);
  CHECK(bluetooth.transports[2].optional);
  const auto multi = cfg::load_config_file(dir / "multi.json");
  REQUIRE(multi.transports.size() == 3);
  CHECK(std::holds_alternative<cfg::UdpTransport>(multi.transports[0].settings));
  CHECK(serial_of(multi, 1).framing == cfg::SerialFraming::raw);
  CHECK(serial_of(multi, 2).framing == cfg::SerialFraming::xbee);
  CHECK(multi.forwarders.allowed.has_value());
}

TEST_CASE("config: reconnect backoff, sleep buffer and stats") {
  const auto defaults = cfg::parse_config("{}");
  CHECK(defaults.upstream.reconnect_min == std::chrono::milliseconds(1000));
  CHECK(defaults.upstream.reconnect_max == std::chrono::milliseconds(60000));
  CHECK(defaults.sleep.max_buffered_messages == 100);
  CHECK(defaults.sleep.release_upstream);
  REQUIRE(defaults.transports.size() == 1);
  const auto& udp_default = std::get<cfg::UdpTransport>(defaults.transports[0].settings);
  CHECK(udp_default.receive_buffer_bytes == 4U * 1024 * 1024);
  CHECK(udp_default.send_buffer_bytes == 1024U * 1024);
  const auto buffers = cfg::parse_config(
      R"({"transports": [{"type": "udp", "bind": "127.0.0.1:1884", "receive_buffer_bytes": 16777216,
                          "send_buffer_bytes": 0}]})");
  const auto& udp = std::get<cfg::UdpTransport>(buffers.transports[0].settings);
  CHECK(udp.receive_buffer_bytes == 16777216U);
  CHECK(udp.send_buffer_bytes == 0U);
  CHECK(cfg::parse_config(cfg::render_config(buffers)) == buffers);
  CHECK(defaults.sleep.wake_settle == std::chrono::milliseconds(250));
  CHECK(defaults.stats.interval == std::chrono::seconds(60));
  CHECK(cfg::stats_topic_prefix(defaults) == "$SYS/mqttsn/gateway-1");

  const auto config = cfg::parse_config(
      R"({"gateway": {"id": 9},
          "upstream": {"reconnect_min_ms": 200, "reconnect_max_ms": 5000},
          "sleep": {"max_buffered_messages": 7, "release_upstream": false, "wake_settle_ms": 40},
          "stats": {"interval_s": 0, "topic_prefix": "site/a/gateway"}})");
  CHECK(config.upstream.reconnect_min == std::chrono::milliseconds(200));
  CHECK(config.upstream.reconnect_max == std::chrono::milliseconds(5000));
  CHECK(config.sleep.max_buffered_messages == 7);
  CHECK_FALSE(config.sleep.release_upstream);
  CHECK(config.sleep.wake_settle == std::chrono::milliseconds(40));
  CHECK(config.stats.interval == std::chrono::seconds(0));
  CHECK(cfg::stats_topic_prefix(config) == "site/a/gateway");
  CHECK(cfg::parse_config(cfg::render_config(config)) == config);

  check_errors({
      {R"({"upstream": {"reconnect_min_ms": 0}})",
       "upstream.reconnect_min_ms: expected an integer from 1 to 3600000"},
      {R"({"upstream": {"reconnect_min_ms": 5000, "reconnect_max_ms": 1000}})",
       "upstream.reconnect_max_ms: must not be less than upstream.reconnect_min_ms (5000)"},
      {R"({"sleep": {"max_buffered_messages": 0}})",
       "sleep.max_buffered_messages: expected an integer from 1 to 1000000"},
      {R"({"sleep": {"max_buffered": 1}})", "sleep.max_buffered: unknown key"},
      {R"({"transports": [{"type": "udp", "receive_buffer_bytes": -1}]})",
       "transports[0].receive_buffer_bytes: expected an integer from 0 to 1073741824"},
      {R"({"sleep": {"wake_settle_ms": 60001}})",
       "sleep.wake_settle_ms: expected an integer from 0 to 60000"},
      {R"({"sleep": {"release_upstream": "yes"}})", "sleep.release_upstream: expected true or false"},
      {R"({"stats": {"interval_s": -1}})", "stats.interval_s: expected an integer from 0 to 86400"},
      {R"({"stats": {"topic_prefix": "a/#"}})",
       R"(stats.topic_prefix: "a/#" is not a valid topic prefix (a topic name without '+', '#', NUL or a trailing '/'))"},
      {R"({"stats": {"topic_prefix": "a/"}})",
       R"(stats.topic_prefix: "a/" is not a valid topic prefix (a topic name without '+', '#', NUL or a trailing '/'))"},
      {R"({"stats": {"topic_prefix": ""}})",
       R"(stats.topic_prefix: "" is not a valid topic prefix (a topic name without '+', '#', NUL or a trailing '/'))"},
  });
}

TEST_CASE("config: persistence.path and persistence.durability") {
  const auto defaults = cfg::parse_config("{}");
  CHECK_FALSE(defaults.persistence.path.has_value());  // absent: nothing is stored
  CHECK(defaults.persistence.durability == cfg::Durability::normal);
  const auto config = cfg::parse_config(
      R"({"persistence": {"path": "/var/lib/mqttsn-gateway/sessions.db", "durability": "full"}})");
  REQUIRE(config.persistence.path.has_value());
  CHECK(*config.persistence.path == "/var/lib/mqttsn-gateway/sessions.db");
  CHECK(config.persistence.durability == cfg::Durability::full);
  CHECK(cfg::parse_config(cfg::render_config(config)) == config);
  CHECK(cfg::parse_config(cfg::render_config(defaults)) == defaults);
  check_errors({
      {R"({"persistence": {"path": ""}})", "persistence.path: must not be empty"},
      {R"({"persistence": {"path": 1}})", "persistence.path: expected a string"},
      {R"({"persistence": {"durability": "fsync"}})",
       R"(persistence.durability: unsupported durability "fsync" (supported: normal, full))"},
      {R"({"persistence": {"file": "x"}})", "persistence.file: unknown key"},
  });
}

TEST_CASE("config: configs/gateway.json keeps sessions across restarts") {
  const auto config = cfg::load_config_file(std::string(MQTTSN_SOURCE_DIR) + "/configs/gateway.json");
  REQUIRE(config.persistence.path.has_value());
  CHECK(*config.persistence.path == "sessions.db");
}

TEST_CASE("config: auth.acl rules are read, rendered and read back, and bad ones name their path") {
  CHECK_FALSE(cfg::parse_config("{}").auth.acl.has_value());
  const auto config = cfg::parse_config(R"({"auth": {"acl": [
      {"client": "node-*", "publish": ["sensors/%c/#"], "subscribe": ["commands/%c/+"]},
      {"client": "admin", "publish": ["#"]}]}})");
  REQUIRE(config.auth.acl.has_value());
  CHECK(*config.auth.acl ==
        std::vector<gateway::core::AclRule>{{"node-*", {"sensors/%c/#"}, {"commands/%c/+"}},
                                             {"admin", {"#"}, {}}});
  CHECK(cfg::parse_config(cfg::render_config(config)) == config);
  // An empty list is a list: nobody may do anything.
  CHECK(cfg::parse_config(R"({"auth": {"acl": []}})").auth.acl ==
        std::vector<gateway::core::AclRule>{});
  check_errors({
      {R"({"auth": {"acl": {}}})", "auth.acl: expected an array"},
      {R"({"auth": {"acl": [{"publish": ["a"]}]}})", "auth.acl[0].client: required key is missing"},
      {R"({"auth": {"acl": [{"client": ""}]}})",
       "auth.acl[0].client: expected a ClientId or a pattern with * and ?, not empty"},
      {R"({"auth": {"acl": [{"client": "a", "publish": ["a/#/b"]}]}})",
       R"(auth.acl[0].publish[0]: "a/#/b" is not a valid topic filter (MQTT 3.1.1 §4.7))"},
      {R"({"auth": {"acl": [{"client": "a", "subscribe": "a"}]}})",
       "auth.acl[0].subscribe: expected an array"},
      {R"({"auth": {"acl": [{"client": "a", "read": ["a"]}]}})", "auth.acl[0].read: unknown key"},
  });
}

TEST_CASE("config: auth.clients give clients their own credentials, and passwords are never rendered") {
  const ScratchDir dir;
  dir.write("carol.pw", "from-a-file\n");
  const auto config = cfg::parse_config(R"({"auth": {"clients": [
      {"client_id": "node-a", "username": "alice", "password": "inline-secret"},
      {"client_id": "node-c", "username": "carol", "password_file": "carol.pw"},
      {"client_id": "node-n", "username": "nopass"}]}})",
                                        dir.path());
  REQUIRE(config.auth.clients.size() == 3);
  CHECK(config.auth.clients[0].credentials == mqtt_bridge::Credentials{"alice", "inline-secret"});
  CHECK(config.auth.clients[1].credentials == mqtt_bridge::Credentials{"carol", "from-a-file"});
  CHECK(config.auth.clients[1].password_file == dir.file("carol.pw"));
  CHECK(config.auth.clients[2].credentials == mqtt_bridge::Credentials{"nopass", ""});
  const auto rendered = cfg::render_config(config);
  CAPTURE(rendered);
  CHECK(rendered.find("inline-secret") == std::string::npos);
  CHECK(rendered.find("from-a-file") == std::string::npos);
  const auto json = nlohmann::json::parse(rendered);
  CHECK(json["auth"]["clients"][0]["password"] == "***");
  CHECK(json["auth"]["clients"][1]["password_file"] == dir.file("carol.pw"));
  CHECK_FALSE(json["auth"]["clients"][1].contains("password"));
  check_errors({
      {R"({"auth": {"clients": [{"username": "u"}]}})", "auth.clients[0].client_id: required key is missing"},
      {R"({"auth": {"clients": [{"client_id": "a", "password": "p"}]}})",
       "auth.clients[0].username: required key is missing"},
      {R"({"auth": {"clients": [{"client_id": "a", "username": "u"}, {"client_id": "a", "username": "v"}]}})",
       R"(auth.clients[1].client_id: "a" is already given at auth.clients[0])"},
      {R"({"auth": {"clients": [{"client_id": "a", "username": "u", "password": "p", "password_file": "/x"}]}})",
       "auth.clients[0].password_file: set together with password: give one of them"},
      {R"({"auth": {"clients": [{"client_id": "a", "username": "u", "password_file": "/nonexistent/pw"}]}})",
       R"(auth.clients[0].password_file: "/nonexistent/pw" does not exist)"},
      {R"({"gateway": {"mode": "aggregating"}, "auth": {"clients": [{"client_id": "a", "username": "u"}]}})",
       R"(auth.clients: per-client credentials need gateway.mode "transparent" (aggregating mode has one upstream connection for every client))"},
  });
}

TEST_CASE("config: %c in upstream.username and password is kept for the gateway to expand") {
  const auto config = cfg::parse_config(R"({"upstream": {"username": "%c", "password": "pw-%c"}})");
  CHECK(config.upstream.username == "%c");
  CHECK(mqtt_bridge::expand_client_id(config.upstream.username, "node-1") == "node-1");
  CHECK(mqtt_bridge::expand_client_id(config.upstream.password, "node-1") == "pw-node-1");
  CHECK(mqtt_bridge::expand_client_id("%%c%c", "x") == "%xx");
}

// ---- transports of type "dtls" (issue 13 §2)

TEST_CASE("config: configs/dtls-psk.json is a UDP port for discovery and a DTLS port with PSK, "
          "the identity bound to the ClientId") {
  const auto config =
      cfg::load_config_file(std::filesystem::path(MQTTSN_SOURCE_DIR) / "configs" / "dtls-psk.json");
  REQUIRE(config.transports.size() == 2);
  const auto& dtls = std::get<cfg::DtlsTransport>(config.transports[1].settings);
  CHECK(dtls.bind == cfg::HostPort{"0.0.0.0", 1885, false});
  CHECK(dtls.psk_file ==
        (std::filesystem::path(MQTTSN_SOURCE_DIR) / "configs" / "dtls-psk.keys").string());
  CHECK(dtls.psk_identity_is_client_id);
  REQUIRE(dtls.server.psk.size() == 2);
  CHECK(dtls.server.psk.contains("sensor-kitchen"));
  CHECK(dtls.server.psk.at("sensor-garage").size() == 16);
}

TEST_CASE("config: a dtls transport's psk_file is read at load, and a bad line is named by "
          "number without its key") {
  const ScratchDir dir;
  const auto with_keys = [&](const std::string& text) {
    dir.write("nodes.keys", text);
    return error_of_in(dir, R"({"transports": [{"type": "dtls", "bind": "127.0.0.1:1885", )"
                            R"("psk_file": "nodes.keys"}]})");
  };
  const std::string file = "\"" + dir.file("nodes.keys") + "\"";
  const std::string at = "transports[0].psk_file: " + file;
  CHECK(with_keys("# comment\n\nnode-1:00112233445566778899aabbccddeeff\r\n") == "ok");
  CHECK(with_keys("node-1 00112233445566778899aabbccddeeff\n") ==
        at + R"( line 1: expected "identity:hexkey")");
  CHECK(with_keys("ok:00112233445566778899aabbccddeeff\nnode-2:0011223\n") ==
        at + " line 2: the key is 16 to 512 octets written as an even number of hex digits");
  CHECK(with_keys("node-1:0011223344556677\n") ==
        at + " line 1: the key is 16 to 512 octets written as an even number of hex digits");
  CHECK(with_keys("node-1:zz112233445566778899aabbccddeeff\n") ==
        at + " line 1: the key is not hexadecimal");
  CHECK(with_keys(":00112233445566778899aabbccddeeff\n") ==
        at + " line 1: the identity has 1 to 128 characters");
  CHECK(with_keys("a:00112233445566778899aabbccddeeff\na:ffeeddccbbaa99887766554433221100\n") ==
        at + R"( line 2: identity "a" given twice)");
  CHECK(with_keys("# nothing here\n") == "transports[0].psk_file: " + file +
                                             R"( holds no "identity:hexkey" line)");
}

TEST_CASE("config: a dtls transport needs a bind with a port, and psk_file or a certificate") {
  const ScratchDir dir;
  dir.write("k", "n:00112233445566778899aabbccddeeff\n");
  dir.write("c.pem", "x");
  const auto error = [&](const std::string& transport) {
    return error_of_in(dir, R"({"transports": [)" + transport + "]}");
  };
  CHECK(error(R"({"type": "dtls", "psk_file": "k"})") ==
        "transports[0].bind: required key is missing");
  CHECK(error(R"({"type": "dtls", "bind": "127.0.0.1:0", "psk_file": "k"})") ==
        "transports[0].bind: a dtls transport needs a fixed port");
  CHECK(error(R"({"type": "dtls", "bind": "127.0.0.1:1885"})") ==
        "transports[0].psk_file: a dtls transport needs psk_file, cert_file, or both");
  CHECK(error(R"({"type": "dtls", "bind": "127.0.0.1:1885", "psk_file": "k", "key_file": "c.pem"})") ==
        "transports[0].key_file: set without cert_file (the certificate it is the key of)");
  CHECK(error(R"({"type": "dtls", "bind": "127.0.0.1:1885", "cert_file": "c.pem", )"
              R"("require_client_certificate": true})") ==
        "transports[0].require_client_certificate: needs ca_file (the authority client "
        "certificates are checked against)");
  CHECK(error(R"({"type": "dtls", "bind": "127.0.0.1:1885", "psk_file": "k", "cipher": "x"})") ==
        "transports[0].cipher: unknown key");
  CHECK(error(R"({"type": "udp", "bind": "127.0.0.1:1885"}, )"
              R"({"type": "dtls", "bind": "127.0.0.1:1885", "psk_file": "k"})") ==
        R"(transports[1].bind: duplicate address "127.0.0.1:1885" (already used by transports[0]))");
  CHECK(error(R"({"type": "dtls", "bind": "127.0.0.1:1885", "psk_file": "k", )"
              R"("handshake_timeout_ms": 10})") ==
        "transports[0].handshake_timeout_ms: expected an integer from 1000 to 600000");
}

TEST_CASE("config: a dtls transport is rendered with its file paths and settings, never its keys") {
  const ScratchDir dir;
  dir.write("k", "node-1:00112233445566778899aabbccddeeff\n");
  const auto config = cfg::parse_config(
      R"({"transports": [{"type": "dtls", "bind": "127.0.0.1:1885", "psk_file": "k", )"
      R"("psk_identity_is_client_id": false, "idle_timeout_s": 3600}]})",
      dir.path());
  const auto rendered = cfg::render_config(config);
  CAPTURE(rendered);
  CHECK(rendered.find("00112233445566778899aabbccddeeff") == std::string::npos);
  const auto json = nlohmann::json::parse(rendered)["transports"][0];
  CHECK(json["type"] == "dtls");
  CHECK(json["psk_file"] == dir.file("k"));
  CHECK(json["psk_identity_is_client_id"] == false);
  CHECK(json["idle_timeout_s"] == 3600);
  CHECK(json["handshake_timeout_ms"] == 10000);
  // What is rendered loads back to the same configuration.
  CHECK(cfg::parse_config(rendered, dir.path()) == config);
}

TEST_CASE("config: a reload names each changed key, and only log.level, the allow-lists, the ACL, "
          "the predefined topics and stats.interval_s are applied without a restart") {
  const auto before = cfg::parse_config(R"({"topics": {"predefined": [{"id": 1, "name": "a"}]}})");
  CHECK(cfg::changed_keys(before, before).empty());
  const auto after = cfg::parse_config(R"({
    "gateway": {"mode": "aggregating"},
    "upstream": {"uri": "tcp://127.0.0.2:1883"},
    "transports": [{"type": "udp", "bind": "127.0.0.1:2000"}],
    "topics": {"predefined": [{"id": 2, "name": "b"}]},
    "auth": {"acl": [{"client": "*", "publish": ["#"], "subscribe": ["#"]}],
             "allowed_clients": ["x"]},
    "stats": {"interval_s": 5},
    "log": {"level": "debug"}
  })");
  const auto changed = cfg::changed_keys(before, after);
  const std::vector<std::string> expected = {"gateway.mode", "upstream.uri", "transports",
                                             "topics.predefined", "auth.allowed_clients",
                                             "auth.acl", "stats.interval_s", "log.level"};
  CHECK(changed == expected);
  std::vector<std::string> restart;
  for (const auto& key : changed) {
    if (!cfg::reloadable(key)) restart.push_back(key);
  }
  CHECK(restart == std::vector<std::string>{"gateway.mode", "upstream.uri", "transports"});
  CHECK(cfg::reloadable("auth.acl"));
  CHECK_FALSE(cfg::reloadable("auth.clients"));
  CHECK_FALSE(cfg::reloadable("auth.aclx"));
  CHECK_FALSE(cfg::reloadable("log"));
}

// Issue 14 §4: one description of the configuration.

TEST_CASE("config: configs/README.md's key table is the one generated from configs/schema.json") {
  std::ifstream in(std::filesystem::path(MQTTSN_SOURCE_DIR) / "configs" / "README.md");
  const std::string readme{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  const auto begin = readme.find(cfg::kKeyTableBegin);
  const auto end = readme.find(cfg::kKeyTableEnd);
  REQUIRE(begin != std::string::npos);
  REQUIRE(end != std::string::npos);
  const auto start = readme.find('\n', begin) + 1;
  INFO("the table and the schema disagree: run `cmake --build build --target config-doc`");
  CHECK(readme.substr(start, end - start) == cfg::key_table_markdown());
  // Every key the loader knows has a row: spot checks across sections and transport types.
  for (const char* row : {"| `gateway.id` |", "| `upstream.tls.alpn` |",
                          "| `transports[i].psm` (l2cap) |", "| `auth.acl[i].client` |",
                          "| `transports[i].api_mode` (serial, xbee) |", "| `log.level` |"}) {
    CHECK(readme.find(row) != std::string::npos);
  }
}

TEST_CASE("config: the schema is valid JSON Schema and its defaults are the gateway's") {
  const auto schema = nlohmann::ordered_json::parse(cfg::schema_text());
  CHECK(schema["$schema"] == "http://json-schema.org/draft-07/schema#");
  // Every default the schema states is what render_config() shows for a config without the key.
  // Sections: from `{}`; upstream.tls from a TLS URI; each transport type from its smallest entry.
  const ScratchDir dir;
  dir.write("k.psk", "node:00112233445566778899aabbccddeeff\n");
  const auto rendered = [&](const std::string& text) {
    return nlohmann::json::parse(cfg::render_config(cfg::parse_config(text, dir.path())));
  };
  const auto defaults = rendered("{}");
  const auto tls = rendered(R"({"upstream": {"uri": "ssl://127.0.0.1:8883"}})")["upstream"]["tls"];
  std::size_t compared = 0;
  const auto check_defaults = [&](const nlohmann::ordered_json& object, const nlohmann::json& actual,
                                  const std::string& path) {
    for (const auto& [key, node] : object["properties"].items()) {
      if (!node.contains("default")) continue;
      CAPTURE(path + key);
      REQUIRE(actual.contains(key));
      CHECK(actual[key] == nlohmann::json(node["default"]));
      ++compared;
    }
  };
  for (const auto& [section, node] : schema["properties"].items()) {
    if (node["type"] == "object") check_defaults(node, defaults[section], section + ".");
  }
  check_defaults(schema["properties"]["upstream"]["properties"]["tls"], tls, "upstream.tls.");
  const auto& transports = schema["properties"]["transports"];
  CHECK(defaults["transports"] ==
        rendered(R"({"transports": )" + transports["default"].dump() + "}")["transports"]);
  const auto& entry = transports["items"];
  check_defaults(entry, defaults["transports"][0], "transports[0].");
  const std::map<std::string, std::string> smallest = {
      {"udp", R"({"type": "udp"})"},
      {"dtls", R"({"type": "dtls", "bind": "127.0.0.1:1885", "psk_file": "k.psk"})"},
      {"serial", R"({"type": "serial", "device": "/dev/ttyUSB0"})"},
      {"serial, xbee", R"({"type": "serial", "device": "/dev/ttyUSB0", "framing": "xbee"})"},
      {"rfcomm", R"({"type": "rfcomm", "channel": 1})"},
      {"l2cap", R"({"type": "l2cap", "psm": 128})"}};
  for (const auto& branch : entry["allOf"]) {
    const auto& variant = branch["then"];
    for (const auto& [key, node] : variant["properties"].items()) {
      if (!node.contains("default")) continue;
      const auto which = node.value("x-applies", variant["title"].get<std::string>());
      const auto minimal = smallest.find(which == "serial, raw" ? "serial" : which);
      REQUIRE(minimal != smallest.end());
      CAPTURE(which + ": " + key);
      const auto actual = rendered(R"({"transports": [)" + minimal->second + "]}")["transports"][0];
      REQUIRE(actual.contains(key));
      CHECK(actual[key] == nlohmann::json(node["default"]));
      ++compared;
    }
  }
  CHECK(compared >= 60);
}

TEST_CASE("config: every enum of the schema reads into the gateway and renders back the same") {
  // The schema lists the words; the C++ enums map them (NLOHMANN_JSON_SERIALIZE_ENUM): a word
  // added on one side only fails here.
  const std::vector<std::pair<std::string, std::string>> keys = {
      {"gateway", "mode"},        {"upstream", "client"},     {"persistence", "durability"},
      {"log", "level"}};
  const auto schema = nlohmann::json::parse(cfg::schema_text());
  for (const auto& [section, key] : keys) {
    for (const auto& word : schema["properties"][section]["properties"][key]["enum"]) {
      CAPTURE(section + "." + key + " = " + word.dump());
      const auto text = nlohmann::json{{section, {{key, word}}}}.dump();
      const auto back = nlohmann::json::parse(cfg::render_config(cfg::parse_config(text)));
      CHECK(back[section][key] == word);
    }
  }
  const auto& serial = schema["properties"]["transports"]["items"]["allOf"][2]["then"];
  REQUIRE(serial["title"] == "serial");
  for (const char* key : {"parity", "flow_control", "framing"}) {
    for (const auto& word : serial["properties"][key]["enum"]) {
      CAPTURE(std::string(key) + " = " + word.dump());
      auto entry = nlohmann::json{{"type", "serial"}, {"device", "/dev/ttyS0"}, {key, word}};
      if (word == "xonxoff") entry.update({{"framing", "xbee"}, {"api_mode", 2}});
      const auto text = nlohmann::json{{"transports", {entry}}}.dump();
      const auto back = nlohmann::json::parse(cfg::render_config(cfg::parse_config(text)));
      CHECK(back["transports"][0][key] == word);
    }
  }
}

TEST_CASE("config: any value at any key of the examples is either loaded or refused with a path") {
  // Every key of every example replaced by values of every JSON type, one at a time, and keys
  // added where none is known: parse_config() returns or throws ConfigError naming a path, never
  // anything else (the schema explanation walks valijson's context through the document).
  const std::vector<nlohmann::json> replacements = {
      nullptr, true, -1, 0, 70000, 1.5, "", "x", "/dev/null", nlohmann::json::array(),
      nlohmann::json::array({1, "a"}), nlohmann::json::object(), nlohmann::json{{"k", 1}}};
  const std::filesystem::path directory = std::filesystem::path(MQTTSN_SOURCE_DIR) / "configs";
  std::size_t tried = 0;
  std::size_t refused = 0;
  for (const char* name : {"gateway.json", "multi.json", "bluetooth.json", "zigbee-xbee.json"}) {
    const auto original = nlohmann::json::parse(std::ifstream(directory / name));
    const auto flat = original.flatten();
    for (const auto& [pointer, value] : flat.items()) {
      for (const auto& replacement : replacements) {
        auto changed = original;
        changed[nlohmann::json::json_pointer(pointer)] = replacement;
        const auto text = changed.dump();
        CAPTURE(text);
        ++tried;
        try {
          cfg::parse_config(text);
        } catch (const cfg::ConfigError& error) {
          ++refused;
          CHECK_FALSE(std::string(error.problem()).empty());
        }
      }
      auto added = original;
      const nlohmann::json::json_pointer parent(pointer.substr(0, pointer.rfind('/')));
      if (!added[parent].is_object()) continue;
      added[parent]["no_such_key"] = 1;
      std::string refused_at;
      try {
        cfg::parse_config(added.dump());
      } catch (const cfg::ConfigError& error) {
        refused_at = error.json_path() + ": " + error.problem();
      }
      CHECK(refused_at.ends_with("no_such_key: unknown key"));
    }
  }
  CHECK(tried > 500);
  CHECK(refused > tried / 2);
}
