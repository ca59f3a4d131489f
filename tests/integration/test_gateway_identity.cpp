// Issue 13 §3, per-client identity upstream (transparent mode), end to end: mosquitto with a
// password file (hashed by mosquitto_passwd) accepts a client only with its own user name and
// password: "%c" in upstream.username/password, or an auth.clients entry. A wrong one is
// refused, which shows the credentials are the ones sent. No secret reaches the log or the
// printed configuration.

#include <doctest/doctest.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>

#include "scratch_dir.hpp"
#include "sn_client.hpp"
#include "support/broker.hpp"
#include "support/gateway_process.hpp"

using namespace std::chrono_literals;
using test_support::GatewayOptions;
using test_support::GatewayProcess;
using test_support::Mosquitto;
using test_support::TestSubscriber;

namespace {

// "user:password" lines, hashed the way mosquitto wants them.
std::string password_file(const std::string& plain) {
  const test_common::ScratchDir dir("mqttsn-passwd");
  const std::string file = dir.write("passwd", plain);
  const std::string command = "mosquitto_passwd -U " + file + " 2>&1";
  REQUIRE_MESSAGE(std::system(command.c_str()) == 0, "mosquitto_passwd -U failed");
  std::ifstream in(file);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

}  // namespace

TEST_CASE("identity: %c in upstream.username and password, and auth.clients, are each client's "
          "own credentials at the broker") {
  // Anonymous clients stay welcome (the test's subscriber is one); a client that names a user
  // must have its password.
  Mosquitto broker({"password_file {dir}/passwd"},
                   {{"passwd", password_file("node-a:pw-node-a\n"
                                             "mqttsn-gw-7-qos-1:pw-mqttsn-gw-7-qos-1\n"
                                             "carol:carol-from-file\n"
                                             "walter:right\n")}});
  const test_common::ScratchDir secrets("mqttsn-secrets");
  const std::string carol_file = secrets.write("carol.pw", "carol-from-file\n");
  TestSubscriber sub(broker.uri(), "id/#", 1);
  for (const char* client : {"paho", "native"}) {
    CAPTURE(client);
    GatewayOptions options;
    options.upstream_uri = broker.uri();
    options.mode = "transparent";
    options.client = client;
    options.upstream_extra = R"("username": "%c", "password": "pw-%c")";
    options.extra_sections = R"("auth": {"clients": [
        {"client_id": "node-c", "username": "carol", "password_file": ")" + carol_file + R"("},
        {"client_id": "node-w", "username": "walter", "password": "wrong"}]})";
    GatewayProcess gateway(options);  // its own connection got in as mqttsn-gw-7-qos-1

    sn_tools::SnUdpClient a("127.0.0.1", gateway.port());
    REQUIRE(a.connect("node-a", 30, true) == sn::ReturnCode::accepted);
    const auto topic = a.register_topic("id/a");
    REQUIRE(topic.has_value());
    const std::size_t before = sub.messages().size();
    REQUIRE(a.publish(sn::TopicIdType::normal, *topic, {'a'}, sn::QoS::qos1, false));
    CHECK(sub.wait_for(before + 1, 5s));

    sn_tools::SnUdpClient c("127.0.0.1", gateway.port());
    CHECK(c.connect("node-c", 30, true) == sn::ReturnCode::accepted);
    // %c gives node-x the user "node-x", which the broker does not know.
    sn_tools::SnUdpClient x("127.0.0.1", gateway.port());
    CHECK(x.connect("node-x", 30, true) == sn::ReturnCode::not_supported);
    sn_tools::SnUdpClient w("127.0.0.1", gateway.port());
    CHECK(w.connect("node-w", 30, true) == sn::ReturnCode::not_supported);

    CHECK(gateway.stop() == 0);
    const std::string log = gateway.log();
    for (const char* secret : {"pw-node-a", "pw-mqttsn", "carol-from-file", "wrong"}) {
      CAPTURE(secret);
      CHECK(log.find(secret) == std::string::npos);
    }
  }

  // --print-config masks them too.
  const std::string config = secrets.write(
      "gateway.json", R"({"upstream": {"username": "%c", "password": "pw-%c"}, "auth": {"clients": [
        {"client_id": "node-c", "username": "carol", "password_file": ")" + carol_file + R"("},
        {"client_id": "node-w", "username": "walter", "password": "wrong"}]}})");
  const std::string command =
      std::string(MQTTSN_BINARY_DIR) + "/bin/mqttsn-gateway --print-config " + config + " 2>&1";
  std::FILE* pipe = ::popen(command.c_str(), "r");
  REQUIRE(pipe != nullptr);
  std::string printed;
  char buffer[4096];
  while (const std::size_t n = std::fread(buffer, 1, sizeof buffer, pipe)) printed.append(buffer, n);
  CHECK(::pclose(pipe) == 0);
  CAPTURE(printed);
  for (const char* secret : {"pw-%c", "carol-from-file", "wrong"}) {
    CAPTURE(secret);
    CHECK(printed.find(secret) == std::string::npos);
  }
  CHECK(printed.find(R"("password": "***")") != std::string::npos);
  CHECK(printed.find(carol_file) != std::string::npos);
}
