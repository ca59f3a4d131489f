// SIGHUP reload (issue 14 §3), end to end: the real gateway reads its file again while a client
// publishes QoS 1, and nothing is lost and nobody is disconnected. "reload: " cases run with both
// clients in both modes (tests/integration/CMakeLists.txt): the traffic goes through the upstream.

#include <doctest/doctest.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "sn_client.hpp"
#include "support/broker.hpp"
#include "support/gateway_process.hpp"

using namespace std::chrono_literals;
using test_support::GatewayOptions;
using test_support::GatewayProcess;
using test_support::Mosquitto;
using test_support::TestSubscriber;

namespace {

nlohmann::json read_json(const std::filesystem::path& file) {
  std::ifstream in(file);
  return nlohmann::json::parse(in);
}

void write_text(const std::filesystem::path& file, const std::string& text) {
  const auto temporary = file.string() + ".new";
  {
    std::ofstream out(temporary);
    out << text;
  }
  std::filesystem::rename(temporary, file);  // the gateway never reads half a file
}

// How many times `text` occurs in `log`.
std::size_t occurrences(const std::string& log, const std::string& text) {
  std::size_t count = 0;
  for (auto at = log.find(text); at != std::string::npos; at = log.find(text, at + text.size())) ++count;
  return count;
}

}  // namespace

TEST_CASE("reload: SIGHUP during QoS 1 traffic loses nothing and disconnects no one - a new "
          "predefined id works at once, a removed one is refused (§5.4.12 PUBACK 0x02), the log "
          "level applies, restart-only changes are named, an invalid file changes nothing") {
  Mosquitto broker;
  TestSubscriber sub(broker.uri(), "reload/#", 1);
  GatewayOptions options;
  options.upstream_uri = broker.uri();
  options.log_level = "info";
  GatewayProcess gateway(options);
  const auto file = gateway.config_file();
  const nlohmann::json original = read_json(file);

  sn_tools::SnUdpClient traffic("127.0.0.1", gateway.port());
  const sn::Bytes garbage{0x02, 0xFF};
  traffic.send_datagram(garbage);  // at info: counted, not logged
  REQUIRE(traffic.connect("reload-traffic", 30, true) == sn::ReturnCode::accepted);
  const auto topic = traffic.register_topic("reload/traffic");
  REQUIRE(topic.has_value());
  constexpr int kMessages = 300;
  std::atomic<int> accepted{0};
  std::atomic<int> sent{0};
  std::thread publisher([&] {
    for (int i = 0; i < kMessages; ++i) {
      const std::string text = "m" + std::to_string(i);
      if (traffic.publish(sn::TopicIdType::normal, *topic, sn::Bytes(text.begin(), text.end()),
                          sn::QoS::qos1, false)) {
        ++accepted;
      }
      ++sent;
      std::this_thread::sleep_for(2ms);  // ~0.6 s of traffic around the reloads
    }
  });

  // 1. Predefined id 1 goes, id 2 comes; debug logging; a second UDP transport (needs a restart).
  while (sent < kMessages / 4) std::this_thread::sleep_for(1ms);
  nlohmann::json next = original;
  next["topics"]["predefined"] = nlohmann::json::array({{{"id", 2}, {"name", "reload/new"}}});
  next["log"]["level"] = "debug";
  next["transports"].push_back({{"type", "udp"}, {"bind", "127.0.0.1:0"}});
  write_text(file, next.dump(2));
  gateway.signal(SIGHUP);
  REQUIRE(gateway.wait_for_log("configuration reloaded: 1 predefined topic(s)", 5s));
  CHECK(gateway.wait_for_log("reload: transports changed: not applied, it needs a restart", 2s));

  // 2. A file that is not valid: the running configuration stays.
  while (sent < kMessages / 2) std::this_thread::sleep_for(1ms);
  write_text(file, R"({"gateway": {"id": 0}})");
  gateway.signal(SIGHUP);
  REQUIRE(gateway.wait_for_log("the running configuration stays", 5s));
  CHECK(gateway.log().find("gateway.id: expected an integer from 1 to 255") != std::string::npos);

  publisher.join();
  CHECK(accepted == kMessages);
  REQUIRE(sub.wait_for(kMessages, 10s));
  std::set<std::string> distinct;
  for (const auto& m : sub.messages()) {
    if (m.topic == "reload/traffic") distinct.insert(m.payload);
  }
  CHECK(distinct.size() == static_cast<std::size_t>(kMessages));
  CHECK(traffic.ping());  // still connected: the reloads told it nothing

  // The new predefined id is usable; the removed one is refused; the invalid file changed none.
  sn_tools::SnUdpClient node("127.0.0.1", gateway.port());
  REQUIRE(node.connect("reload-node", 30, true) == sn::ReturnCode::accepted);
  CHECK(node.publish(sn::TopicIdType::predefined, 2, {'o', 'k'}, sn::QoS::qos1, false));
  CHECK(sub.wait_for_message("reload/new", "ok", 5s));
  sn::Publish old;
  old.qos = sn::QoS::qos1;
  old.topic_id_type = sn::TopicIdType::predefined;
  old.topic_id = 1;
  old.msg_id = 77;
  old.data = {'x'};
  node.send(old);
  const auto puback = node.expect<sn::PubAck>(5s);
  REQUIRE(puback.has_value());
  CHECK(puback->return_code == sn::ReturnCode::invalid_topic_id);
  // Debug level since the first reload: a malformed frame is logged (at info it is only counted).
  node.send_datagram(garbage);
  CHECK(gateway.wait_for_log("[debug] dropped malformed frame", 2s));

  CHECK(gateway.stop() == 0);
  const std::string log = gateway.log();
  // Debug lines only after the first reload.
  CHECK(log.find("[debug]") > log.find("configuration reloaded"));
  CHECK(occurrences(log, "client reload-traffic connected") == 1);
  CHECK(log.find("client reload-traffic disconnected") == std::string::npos);
  CHECK(log.find("client reload-traffic lost") == std::string::npos);
}
