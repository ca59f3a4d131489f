// JSON -> transports (udp, dtls, serial, rfcomm, l2cap) and forwarders.allowed. The schema has
// checked types, ranges and which keys each type may have; here: addresses, files, keys that belong
// to the other framing, and clashes between transports.

#include <arpa/inet.h>
#include <netinet/in.h>

#include <chrono>
#include <fstream>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "load_transports.hpp"
#include "json_types.hpp"

namespace gateway::config::detail {
namespace {

HostPort read_bind(const ObjectReader& entry) {
  const auto* bind = entry.find("bind");
  if (bind == nullptr) return UdpTransport{}.bind;
  auto parsed = parse_host_port(bind->get<std::string>());
  if (!parsed.address) fail(entry.path("bind"), parsed.problem);
  return *parsed.address;
}

SerialTransport read_serial(const ObjectReader& entry) {
  auto serial = entry.value().get<SerialTransport>();
  if (serial.device.find('\0') != std::string::npos) {
    fail(entry.path("device"), R"(expected a device path such as "/dev/ttyUSB0")");
  }
  const bool xbee = serial.framing == SerialFraming::xbee;
  // Keys of the other framing would silently do nothing: refuse them.
  static constexpr std::string_view kRawOnly[] = {"inter_byte_timeout_ms"};
  static constexpr std::string_view kXbeeOnly[] = {"api_mode", "max_payload"};
  for (const auto key : xbee ? std::span<const std::string_view>(kRawOnly)
                             : std::span<const std::string_view>(kXbeeOnly)) {
    if (entry.find(key) != nullptr) {
      fail(entry.path(key), std::string("applies to framing \"") + (xbee ? "raw" : "xbee") +
                                "\" only");
    }
  }
  // XON/XOFF flow control makes the tty eat 0x11 and 0x13, which raw MQTT-SN frames and API
  // mode 1 frames carry freely; API mode 2 escapes them.
  if (serial.flow_control == SerialFlowControl::xonxoff && !(xbee && serial.api_mode == 2)) {
    fail(entry.path("flow_control"),
         R"("xonxoff" needs framing "xbee" with api_mode 2 (otherwise 0x11 and 0x13 in frames )"
         R"(are taken for flow control))");
  }
  return serial;
}

DtlsTransport read_dtls(const ObjectReader& entry, const std::filesystem::path& base) {
  DtlsTransport dtls;
  dtls.bind = read_bind(entry);  // required by the schema
  if (dtls.bind.port == 0) fail(entry.path("bind"), "a dtls transport needs a fixed port");
  dtls.receive_buffer_bytes = entry.get("receive_buffer_bytes", dtls.receive_buffer_bytes);
  dtls.send_buffer_bytes = entry.get("send_buffer_bytes", dtls.send_buffer_bytes);
  dtls.psk_file = read_file_path(entry, "psk_file", false, base);
  if (!dtls.psk_file.empty()) dtls.server.psk = read_psk_file(dtls.psk_file, entry.path("psk_file"));
  dtls.psk_identity_is_client_id =
      entry.get("psk_identity_is_client_id", dtls.psk_identity_is_client_id);
  auto& server = dtls.server;
  server.cert_file = read_file_path(entry, "cert_file", false, base);
  server.key_file = read_file_path(entry, "key_file", false, base);
  server.ca_file = read_file_path(entry, "ca_file", false, base);
  server.require_client_certificate =
      entry.get("require_client_certificate", server.require_client_certificate);
  if (!server.key_file.empty() && server.cert_file.empty()) {
    fail(entry.path("key_file"), "set without cert_file (the certificate it is the key of)");
  }
  if (server.require_client_certificate && server.ca_file.empty()) {
    fail(entry.path("require_client_certificate"),
         "needs ca_file (the authority client certificates are checked against)");
  }
  if (server.cert_file.empty() && dtls.psk_file.empty()) {
    fail(entry.path("psk_file"), "a dtls transport needs psk_file, cert_file, or both");
  }
  server.handshake_timeout = entry.duration("handshake_timeout_ms", server.handshake_timeout);
  server.idle_timeout = entry.duration(
      "idle_timeout_s", std::chrono::duration_cast<std::chrono::seconds>(server.idle_timeout));
  server.max_handshakes = entry.get("max_handshakes", server.max_handshakes);
  server.max_sessions = entry.get("max_sessions", server.max_sessions);
  return dtls;
}

TransportConfig read_transport(const Json& value, const std::string& path,
                               const std::filesystem::path& base) {
  const ObjectReader entry(value, path);
  TransportConfig transport;
  transport.name = entry.get<std::string>("name", {});
  transport.optional = entry.get("optional", transport.optional);
  // The type decides which keys the entry may have (the schema's if/then per type).
  const auto type = entry.get<std::string>("type", "udp");
  if (type == "udp") {
    UdpTransport udp{read_bind(entry)};
    udp.receive_buffer_bytes = entry.get("receive_buffer_bytes", udp.receive_buffer_bytes);
    udp.send_buffer_bytes = entry.get("send_buffer_bytes", udp.send_buffer_bytes);
    transport.settings = udp;
  } else if (type == "serial") {
    transport.settings = read_serial(entry);
  } else if (type == "rfcomm") {
    // RFCOMM server channels are 1..30 (TS 07.10 DLCI 2..61, one direction bit).
    transport.settings = value.get<RfcommTransport>();
  } else if (type == "l2cap") {
    // Bluetooth Core v5.x Vol 3 Part A §4.22: LE_PSM 0x0001..0x007F are SIG-assigned (Linux lets
    // only CAP_NET_BIND_SERVICE bind them), 0x0080..0x00FF are dynamic; nothing above 0x00FF.
    transport.settings = value.get<L2capTransport>();
  } else {
    transport.settings = read_dtls(entry, base);  // the schema allows no other type
  }
  return transport;
}

// Two transports that would claim the same thing: "<problem>" at `key`, or nothing.
std::optional<std::pair<std::string, std::string>> clash(const TransportConfig& a,
                                                         const TransportConfig& b) {
  // UDP and DTLS sockets share the address space. Port 0 binds a fresh ephemeral port each time,
  // so only fixed ports can collide.
  const auto bind_of = [](const TransportConfig& t) -> const HostPort* {
    if (const auto* udp = std::get_if<UdpTransport>(&t.settings)) return &udp->bind;
    if (const auto* dtls = std::get_if<DtlsTransport>(&t.settings)) return &dtls->bind;
    return nullptr;
  };
  if (const HostPort* bind = bind_of(a)) {
    const HostPort* other = bind_of(b);
    if (other != nullptr && bind->port != 0 && *bind == *other) {
      return std::pair{std::string("bind"), "duplicate address " + json_quoted(to_string(*bind))};
    }
  } else if (const auto* serial = std::get_if<SerialTransport>(&a.settings)) {
    const auto* other = std::get_if<SerialTransport>(&b.settings);
    if (other != nullptr && serial->device == other->device) {
      return std::pair{std::string("device"), "duplicate device " + json_quoted(serial->device)};
    }
  } else if (const auto* rfcomm = std::get_if<RfcommTransport>(&a.settings)) {
    const auto* other = std::get_if<RfcommTransport>(&b.settings);
    if (other != nullptr && rfcomm->channel == other->channel) {
      return std::pair{std::string("channel"),
                       "duplicate channel " + std::to_string(rfcomm->channel)};
    }
  } else if (const auto* l2cap = std::get_if<L2capTransport>(&a.settings)) {
    const auto* other = std::get_if<L2capTransport>(&b.settings);
    if (other != nullptr && l2cap->psm == other->psm) {
      return std::pair{std::string("psm"), "duplicate psm " + std::to_string(l2cap->psm)};
    }
  }
  return std::nullopt;
}

// §5.5 forwarders: a transport (index or name: every peer on it) or an IP peer ("ip", "ip:port",
// "[v6]:port"), checked against the transports already read.
AllowedForwarder read_allowed_forwarder(const Json& value, const std::string& path,
                                        const std::vector<TransportConfig>& transports) {
  constexpr auto kExpected =
      R"(expected a transport index or name, an IP address literal, or "ip:port")";
  AllowedForwarder rule;
  if (value.is_number_integer()) {
    rule.transport = static_cast<std::uint16_t>(require_integer(
        value, path, 0, static_cast<std::int64_t>(transports.size()) - 1));
    return rule;
  }
  if (!value.is_string()) fail(path, kExpected);
  rule.text = value.get_ref<const std::string&>();
  for (std::size_t i = 0; i < transports.size(); ++i) {
    if (!rule.text.empty() && transports[i].name == rule.text) {
      rule.transport = static_cast<std::uint16_t>(i);
      return rule;
    }
  }
  rule.address = ip_literal_octets(rule.text);
  if (!rule.address.empty()) return rule;
  auto parsed = parse_host_port(rule.text);
  if (!parsed.address) fail(path, kExpected);
  rule.address = ip_literal_octets(parsed.address->host);
  if (rule.address.empty()) {
    fail(path, json_quoted(parsed.address->host) +
                   " is neither a transport name nor an IP address literal (forwarders are "
                   "matched by address, never by DNS name)");
  }
  if (parsed.address->port == 0) fail(path, "port 0 cannot be a forwarder's port");
  rule.port = parsed.address->port;
  return rule;
}

}  // namespace

std::string ip_literal_octets(const std::string& text) {
  std::string octets(16, '\0');
  if (::inet_pton(AF_INET, text.c_str(), octets.data()) == 1) return octets.substr(0, 4);
  if (::inet_pton(AF_INET6, text.c_str(), octets.data()) == 1) return octets;
  return {};
}

std::map<std::string, std::vector<std::uint8_t>> read_psk_file(const std::string& file,
                                                               const std::string& json_path) {
  std::ifstream in(file);
  if (!in) fail(json_path, json_quoted(file) + " cannot be read");
  std::map<std::string, std::vector<std::uint8_t>> keys;
  const auto hex_value = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    if (line.ends_with('\r')) line.pop_back();
    const auto where = json_quoted(file) + " line " + std::to_string(number) + ": ";
    const auto first = line.find_first_not_of(" \t");
    if (first == std::string::npos || line[first] == '#') continue;
    const auto colon = line.find(':');
    if (colon == std::string::npos) fail(json_path, where + "expected \"identity:hexkey\"");
    std::string identity = line.substr(0, colon);
    const std::string hex = line.substr(colon + 1);
    // RFC 4279 §5.1 allows longer, OpenSSL takes up to 128 octets of identity.
    if (identity.empty() || identity.size() > 128) {
      fail(json_path, where + "the identity has 1 to 128 characters");
    }
    // OpenSSL takes up to 512 octets of key; fewer than 16 is no protection.
    if (hex.size() % 2 != 0 || hex.size() < 32 || hex.size() > 1024) {
      fail(json_path, where + "the key is 16 to 512 octets written as an even number of hex digits");
    }
    std::vector<std::uint8_t> key;
    for (std::size_t i = 0; i < hex.size(); i += 2) {
      const int high = hex_value(hex[i]);
      const int low = hex_value(hex[i + 1]);
      if (high < 0 || low < 0) fail(json_path, where + "the key is not hexadecimal");
      key.push_back(static_cast<std::uint8_t>(high * 16 + low));
    }
    if (!keys.emplace(std::move(identity), std::move(key)).second) {
      fail(json_path, where + "identity " + json_quoted(line.substr(0, colon)) + " given twice");
    }
  }
  if (keys.empty()) fail(json_path, json_quoted(file) + " holds no \"identity:hexkey\" line");
  return keys;
}

std::vector<TransportConfig> read_transports(const Json& value, const std::string& path,
                                             const std::filesystem::path& base) {
  std::vector<TransportConfig> transports;
  for (std::size_t i = 0; i < value.size(); ++i) {
    const auto entry_path = element_path(path, i);
    auto transport = read_transport(value[i], entry_path, base);
    for (std::size_t earlier = 0; earlier < transports.size(); ++earlier) {
      const auto earlier_path = element_path(path, earlier);
      if (!transport.name.empty() && transport.name == transports[earlier].name) {
        fail(entry_path + ".name", "duplicate name " + json_quoted(transport.name) +
                                       " (already used by " + earlier_path + ")");
      }
      if (const auto problem = clash(transport, transports[earlier])) {
        fail(entry_path + "." + problem->first,
             problem->second + " (already used by " + earlier_path + ")");
      }
    }
    transports.push_back(std::move(transport));
  }
  return transports;
}

ForwarderSettings read_forwarders(const ObjectReader& section,
                                  const std::vector<TransportConfig>& transports) {
  ForwarderSettings forwarders;
  const auto* allowed = section.find("allowed");
  if (allowed == nullptr) return forwarders;
  const auto path = section.path("allowed");
  forwarders.allowed.emplace();
  for (std::size_t i = 0; i < allowed->size(); ++i) {
    const auto entry_path = element_path(path, i);
    auto rule = read_allowed_forwarder((*allowed)[i], entry_path, transports);
    for (std::size_t earlier = 0; earlier < forwarders.allowed->size(); ++earlier) {
      const auto& other = (*forwarders.allowed)[earlier];
      if (rule.transport == other.transport && rule.address == other.address &&
          rule.port == other.port) {
        fail(entry_path, "duplicate entry (already given by " +
                             element_path(path, earlier) + ")");
      }
    }
    forwarders.allowed->push_back(std::move(rule));
  }
  return forwarders;
}

}  // namespace gateway::config::detail
