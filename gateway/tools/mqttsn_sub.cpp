// mqttsn-sub: subscribe through an MQTT-SN gateway over UDP and print what arrives, one line per
// message ("topic payload"), answering REGISTER/PUBLISH/PUBREL as a sensor node must (§6.10).
//   mqttsn-sub -t 'actuators/#' -q 1 -C 1

#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdio>
#include <exception>
#include <string>

#include "sn_client.hpp"

int main(int argc, char** argv) {
  CLI::App app{"Subscribe through an MQTT-SN gateway over UDP and print messages"};
  std::string host = "127.0.0.1";
  std::uint16_t port = 1884;
  std::string client_id = "mqttsn-sub";
  std::string filter;
  int qos = 0;
  int count = 0;
  int timeout_s = 0;
  std::uint16_t keep_alive = 30;
  app.add_option("-H,--host", host, "gateway address (IP literal)");
  app.add_option("-p,--port", port, "gateway UDP port");
  app.add_option("-i,--client-id", client_id, "MQTT-SN client id");
  app.add_option("-t,--topic", filter, "topic filter (wildcards allowed)")->required();
  app.add_option("-q,--qos", qos, "QoS: 0, 1 or 2")->check(CLI::Range(0, 2));
  app.add_option("-C,--count", count, "exit after this many messages (0: never)");
  app.add_option("-W,--timeout", timeout_s, "exit after this many seconds (0: never)");
  app.add_option("-k,--keep-alive", keep_alive, "keep-alive in seconds");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  try {
    sn_tools::SnUdpClient client(host, port);
    const auto connack = client.connect(client_id, keep_alive, true);
    if (!connack || *connack != sn::ReturnCode::accepted) {
      std::fprintf(stderr, "CONNECT failed: %s\n",
                   connack ? sn::to_string(*connack) : "no answer from the gateway");
      return 1;
    }
    const auto suback = client.subscribe(filter, static_cast<sn::QoS>(qos));
    if (!suback || suback->return_code != sn::ReturnCode::accepted) {
      std::fprintf(stderr, "SUBSCRIBE %s refused or unanswered\n", filter.c_str());
      return 1;
    }
    std::fprintf(stderr, "subscribed to %s (granted QoS %d)\n", filter.c_str(),
                 static_cast<int>(suback->qos));
    const auto start = std::chrono::steady_clock::now();
    auto last_ping = start;
    const auto ping_every = std::chrono::seconds(keep_alive > 1 ? keep_alive / 2 : 1);
    int received = 0;
    while (count == 0 || received < count) {
      const auto now = std::chrono::steady_clock::now();
      if (timeout_s > 0 && now - start >= std::chrono::seconds(timeout_s)) break;
      if (keep_alive > 0 && now - last_ping >= ping_every) {
        client.send(sn::PingReq{});
        last_ping = now;
      }
      if (auto message = client.next_publish(std::chrono::milliseconds(200))) {
        std::printf("%s %.*s\n", message->topic.c_str(), static_cast<int>(message->payload.size()),
                    reinterpret_cast<const char*>(message->payload.data()));
        std::fflush(stdout);
        ++received;
      }
    }
    client.disconnect();
    return count > 0 && received < count ? 1 : 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mqttsn-sub: %s\n", e.what());
    return 1;
  }
}
