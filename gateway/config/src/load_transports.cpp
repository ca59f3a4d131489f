// JSON -> transports (udp, serial, rfcomm, l2cap) and forwarders.allowed, checking types, ranges,
// keys that belong to another type or framing, and clashes between transports.

#include <arpa/inet.h>
#include <netinet/in.h>

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "load_transports.hpp"

namespace gateway::config::detail {
namespace {

HostPort read_bind(const ObjectReader& entry) {
  const auto* bind = entry.find("bind");
  if (bind == nullptr) return UdpTransport{}.bind;
  const auto& text = require_string(*bind, entry.path("bind"));
  auto parsed = parse_host_port(text);
  if (!parsed.address) fail(entry.path("bind"), parsed.problem);
  return *parsed.address;
}

// One of the named choices of an enum-like string key; fails listing them.
template <typename Enum, std::size_t N>
Enum read_choice(const ObjectReader& entry, std::string_view key, std::string_view what,
                 const std::pair<std::string_view, Enum> (&choices)[N], Enum fallback) {
  const auto* member = entry.find(key);
  if (member == nullptr) return fallback;
  const auto& text = require_string(*member, entry.path(key));
  std::string supported;
  for (const auto& [name, value] : choices) {
    if (name == text) return value;
    supported += (supported.empty() ? "" : ", ") + std::string(name);
  }
  fail(entry.path(key), "unsupported " + std::string(what) + " " + json_quoted(text) +
                            " (supported: " + supported + ")");
}

std::uint32_t read_baud(const ObjectReader& entry) {
  const auto* member = entry.find("baud");
  if (member == nullptr) return SerialTransport{}.baud;
  std::string supported;
  for (const auto rate : kSerialBaudRates) {
    supported += (supported.empty() ? "" : ", ") + std::to_string(rate);
  }
  if (member->is_number_integer()) {
    const auto value = member->get<std::int64_t>();
    for (const auto rate : kSerialBaudRates) {
      if (value == static_cast<std::int64_t>(rate)) return rate;
    }
  }
  fail(entry.path("baud"), "expected a standard baud rate (" + supported + ")");
}

SerialTransport read_serial(const ObjectReader& entry) {
  static constexpr std::pair<std::string_view, SerialParity> kParities[] = {
      {"none", SerialParity::none}, {"even", SerialParity::even}, {"odd", SerialParity::odd}};
  static constexpr std::pair<std::string_view, SerialFlowControl> kFlowControls[] = {
      {"none", SerialFlowControl::none},
      {"rtscts", SerialFlowControl::rtscts},
      {"xonxoff", SerialFlowControl::xonxoff}};
  static constexpr std::pair<std::string_view, SerialFraming> kFramings[] = {
      {"raw", SerialFraming::raw}, {"xbee", SerialFraming::xbee}};

  SerialTransport serial;
  serial.device = require_string(entry.require("device"), entry.path("device"));
  if (serial.device.empty() || serial.device.find('\0') != std::string::npos) {
    fail(entry.path("device"), R"(expected a device path such as "/dev/ttyUSB0")");
  }
  serial.baud = read_baud(entry);
  serial.data_bits = static_cast<std::uint8_t>(entry.integer("data_bits", 5, 8, serial.data_bits));
  serial.parity = read_choice(entry, "parity", "parity", kParities, serial.parity);
  serial.stop_bits = static_cast<std::uint8_t>(entry.integer("stop_bits", 1, 2, serial.stop_bits));
  serial.flow_control =
      read_choice(entry, "flow_control", "flow control", kFlowControls, serial.flow_control);
  serial.framing = read_choice(entry, "framing", "framing", kFramings, serial.framing);
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
  serial.api_mode = static_cast<std::uint8_t>(entry.integer("api_mode", 1, 2, serial.api_mode));
  // A Transmit Request carries at most 255 RF data octets (with fragmentation); below 16 not even
  // a GWINFO or REGISTER fits.
  serial.max_payload =
      static_cast<std::uint32_t>(entry.integer("max_payload", 16, 255, serial.max_payload));
  serial.inter_byte_timeout_ms = static_cast<std::uint32_t>(
      entry.integer("inter_byte_timeout_ms", 0, 60000, serial.inter_byte_timeout_ms));
  // XON/XOFF flow control makes the tty eat 0x11 and 0x13, which raw MQTT-SN frames and API
  // mode 1 frames carry freely; API mode 2 escapes them.
  if (serial.flow_control == SerialFlowControl::xonxoff && !(xbee && serial.api_mode == 2)) {
    fail(entry.path("flow_control"),
         R"("xonxoff" needs framing "xbee" with api_mode 2 (otherwise 0x11 and 0x13 in frames )"
         R"(are taken for flow control))");
  }
  return serial;
}

TransportConfig read_transport(const Json& value, const std::string& path) {
  require_object(value, path);
  // The type decides which keys are known, so it is checked before them.
  std::string type = "udp";
  if (const auto it = value.find("type"); it != value.end()) {
    type = require_string(*it, member_path(path, "type"));
  }
  TransportConfig transport;
  if (type == "udp") {
    const ObjectReader entry(
        value, path,
        {"type", "name", "optional", "bind", "receive_buffer_bytes", "send_buffer_bytes"});
    UdpTransport udp{read_bind(entry)};
    constexpr std::int64_t kMaxBuffer = std::int64_t{1} << 30;
    udp.receive_buffer_bytes = static_cast<std::uint32_t>(
        entry.integer("receive_buffer_bytes", 0, kMaxBuffer, udp.receive_buffer_bytes));
    udp.send_buffer_bytes = static_cast<std::uint32_t>(
        entry.integer("send_buffer_bytes", 0, kMaxBuffer, udp.send_buffer_bytes));
    transport.settings = udp;
    transport.name = entry.string("name", {});
    transport.optional = entry.boolean("optional", false);
  } else if (type == "serial") {
    const ObjectReader entry(value, path,
                             {"type", "name", "optional", "device", "baud", "data_bits", "parity",
                              "stop_bits", "flow_control", "framing", "api_mode", "max_payload",
                              "inter_byte_timeout_ms"});
    transport.settings = read_serial(entry);
    transport.name = entry.string("name", {});
    transport.optional = entry.boolean("optional", false);
  } else if (type == "rfcomm") {
    const ObjectReader entry(value, path, {"type", "name", "optional", "channel"});
    // RFCOMM server channels are 1..30 (TS 07.10 DLCI 2..61, one direction bit).
    transport.settings = RfcommTransport{
        static_cast<std::uint8_t>(require_integer(entry.require("channel"),
                                                          entry.path("channel"), 1, 30))};
    transport.name = entry.string("name", {});
    transport.optional = entry.boolean("optional", false);
  } else if (type == "l2cap") {
    const ObjectReader entry(value, path, {"type", "name", "optional", "psm"});
    // Bluetooth Core v5.x Vol 3 Part A §4.22: LE_PSM 0x0001..0x007F are SIG-assigned (Linux lets
    // only CAP_NET_BIND_SERVICE bind them), 0x0080..0x00FF are dynamic; nothing above 0x00FF.
    transport.settings = L2capTransport{static_cast<std::uint16_t>(
        require_integer(entry.require("psm"), entry.path("psm"), 1, 255))};
    transport.name = entry.string("name", {});
    transport.optional = entry.boolean("optional", false);
  } else {
    fail(member_path(path, "type"),
         "unsupported transport " + json_quoted(type) + " (supported: udp, serial, rfcomm, l2cap)");
  }
  return transport;
}

// Two transports that would claim the same thing: "<problem>" at `key`, or nothing.
std::optional<std::pair<std::string, std::string>> clash(const TransportConfig& a,
                                                         const TransportConfig& b) {
  if (const auto* udp = std::get_if<UdpTransport>(&a.settings)) {
    const auto* other = std::get_if<UdpTransport>(&b.settings);
    // Port 0 binds a fresh ephemeral port each time, so only fixed ports can collide.
    if (other != nullptr && udp->bind.port != 0 && udp->bind == other->bind) {
      return std::pair{std::string("bind"), "duplicate address " + json_quoted(to_string(udp->bind))};
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

std::vector<TransportConfig> read_transports(const Json& value, const std::string& path) {
  require_array(value, path);
  if (value.empty()) fail(path, "expected at least one transport");
  if (value.size() > 0xFFFF) fail(path, "expected at most 65535 transports");
  std::vector<TransportConfig> transports;
  for (std::size_t i = 0; i < value.size(); ++i) {
    const auto entry_path = element_path(path, i);
    auto transport = read_transport(value[i], entry_path);
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
  require_array(*allowed, path);
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
