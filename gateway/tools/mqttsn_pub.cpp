// mqttsn-pub: publish one message through an MQTT-SN gateway over UDP, as a sensor node would.
//   mqttsn-pub -t sensors/kitchen -m 21.5 -q 1            (CONNECT, REGISTER, PUBLISH, DISCONNECT)
//   mqttsn-pub --predefined 1 -m 21.5 -q -1               (QoS -1: no connection at all, §6.8)

#include <CLI/CLI.hpp>

#include <cstdio>
#include <exception>
#include <string>

#include "sn_client.hpp"

int main(int argc, char** argv) {
  CLI::App app{"Publish one message through an MQTT-SN gateway over UDP"};
  std::string host = "127.0.0.1";
  std::uint16_t port = 1884;
  std::string client_id = "mqttsn-pub";
  std::string topic;
  int predefined = -1;
  std::string short_name;
  std::string message;
  int qos = 0;
  bool retain = false;
  app.add_option("-H,--host", host, "gateway address (IP literal)");
  app.add_option("-p,--port", port, "gateway UDP port");
  app.add_option("-i,--client-id", client_id, "MQTT-SN client id");
  auto* by_name = app.add_option("-t,--topic", topic, "topic name (registered with REGISTER)");
  auto* by_id = app.add_option("--predefined", predefined, "predefined topic id")->check(CLI::Range(1, 65534));
  auto* by_short = app.add_option("--short", short_name, "two-character short topic name");
  by_name->excludes(by_id)->excludes(by_short);
  by_id->excludes(by_short);
  app.add_option("-m,--message", message, "payload")->required();
  app.add_option("-q,--qos", qos, "QoS: 0, 1, 2 or -1")->check(CLI::Range(-1, 2));
  app.add_flag("-r,--retain", retain, "set the retain flag");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  if (topic.empty() && predefined < 0 && short_name.size() != 2) {
    std::fprintf(stderr, "give --topic, --predefined or a two-character --short name\n");
    return 2;
  }
  try {
    sn_tools::SnUdpClient client(host, port);
    const sn::Bytes payload(message.begin(), message.end());
    const auto sn_qos = qos < 0 ? sn::QoS::minus_one : static_cast<sn::QoS>(qos);
    sn::TopicIdType type = sn::TopicIdType::predefined;
    std::uint16_t id = static_cast<std::uint16_t>(predefined < 0 ? 0 : predefined);
    if (short_name.size() == 2) {
      type = sn::TopicIdType::short_name;
      id = static_cast<std::uint16_t>((static_cast<unsigned char>(short_name[0]) << 8) |
                                      static_cast<unsigned char>(short_name[1]));
    }
    if (sn_qos == sn::QoS::minus_one) {
      if (!topic.empty()) {
        std::fprintf(stderr, "QoS -1 needs --predefined or --short (§6.8)\n");
        return 2;
      }
      client.publish(type, id, payload, sn_qos, retain);
      return 0;
    }
    const auto connack = client.connect(client_id, 60, true);
    if (!connack || *connack != sn::ReturnCode::accepted) {
      std::fprintf(stderr, "CONNECT failed: %s\n",
                   connack ? sn::to_string(*connack) : "no answer from the gateway");
      return 1;
    }
    if (!topic.empty()) {
      const auto registered = client.register_topic(topic);
      if (!registered) {
        std::fprintf(stderr, "REGISTER %s refused or unanswered\n", topic.c_str());
        return 1;
      }
      type = sn::TopicIdType::normal;
      id = *registered;
    }
    const bool ok = client.publish(type, id, payload, sn_qos, retain);
    client.disconnect();
    if (!ok) {
      std::fprintf(stderr, "PUBLISH was not acknowledged\n");
      return 1;
    }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mqttsn-pub: %s\n", e.what());
    return 1;
  }
}
