// Config -> JSON, the inverse of load.cpp: what the gateway will actually run with, defaults
// included, for `--config` start-up output and for support requests (hence the masked password).

#include <chrono>
#include <string>
#include <variant>

#include <nlohmann/json.hpp>

#include "gateway/config/config.hpp"

namespace gateway::config {
namespace {

// ordered_json keeps the documented key order instead of sorting alphabetically.
using OrderedJson = nlohmann::ordered_json;

OrderedJson render_settings(const UdpTransport& udp) {
  return OrderedJson{{"bind", to_string(udp.bind)},
                     {"receive_buffer_bytes", udp.receive_buffer_bytes},
                     {"send_buffer_bytes", udp.send_buffer_bytes}};
}

// The keys never leave: the PSK file by its path, certificates by theirs.
OrderedJson render_settings(const DtlsTransport& dtls) {
  const auto& server = dtls.server;
  OrderedJson out = {{"bind", to_string(dtls.bind)},
                     {"receive_buffer_bytes", dtls.receive_buffer_bytes},
                     {"send_buffer_bytes", dtls.send_buffer_bytes}};
  if (!dtls.psk_file.empty()) out["psk_file"] = dtls.psk_file;
  out["psk_identity_is_client_id"] = dtls.psk_identity_is_client_id;
  if (!server.cert_file.empty()) out["cert_file"] = server.cert_file;
  if (!server.key_file.empty()) out["key_file"] = server.key_file;
  if (!server.ca_file.empty()) out["ca_file"] = server.ca_file;
  out["require_client_certificate"] = server.require_client_certificate;
  out["handshake_timeout_ms"] = server.handshake_timeout.count();
  out["idle_timeout_s"] =
      std::chrono::duration_cast<std::chrono::seconds>(server.idle_timeout).count();
  out["max_handshakes"] = server.max_handshakes;
  out["max_sessions"] = server.max_sessions;
  return out;
}

OrderedJson render_settings(const SerialTransport& serial) {
  OrderedJson out = {{"device", serial.device},
                     {"baud", serial.baud},
                     {"data_bits", serial.data_bits},
                     {"parity", to_string(serial.parity)},
                     {"stop_bits", serial.stop_bits},
                     {"flow_control", to_string(serial.flow_control)},
                     {"framing", to_string(serial.framing)}};
  // Only the keys of its framing: the loader refuses the others.
  if (serial.framing == SerialFraming::xbee) {
    out["api_mode"] = serial.api_mode;
    out["max_payload"] = serial.max_payload;
  } else {
    out["inter_byte_timeout_ms"] = serial.inter_byte_timeout_ms;
  }
  return out;
}

OrderedJson render_settings(const RfcommTransport& rfcomm) {
  return OrderedJson{{"channel", rfcomm.channel}};
}

OrderedJson render_settings(const L2capTransport& l2cap) {
  return OrderedJson{{"psm", l2cap.psm}};
}

OrderedJson render_transport(const TransportConfig& transport) {
  OrderedJson out = {{"type", type_name(transport.settings)},
                     {"name", transport.name},
                     {"optional", transport.optional}};
  const auto settings =
      std::visit([](const auto& s) { return render_settings(s); }, transport.settings);
  for (const auto& [key, value] : settings.items()) out[key] = value;
  return out;
}

OrderedJson render_forwarders(const ForwarderSettings& forwarders) {
  OrderedJson out = OrderedJson::object();
  if (!forwarders.allowed) return out;  // absent (everyone) stays absent: null would not read back
  OrderedJson allowed = OrderedJson::array();
  for (const auto& rule : *forwarders.allowed) {
    if (rule.transport && rule.text.empty()) {
      allowed.push_back(*rule.transport);  // written as an index
    } else {
      allowed.push_back(rule.text);
    }
  }
  out["allowed"] = allowed;
  return out;
}

// Paths only: the files' contents (keys) never appear.
OrderedJson render_tls(const mqtt_bridge::TlsOptions& tls) {
  return OrderedJson{{"ca_file", tls.ca_file},       {"ca_path", tls.ca_path},
                     {"cert_file", tls.cert_file},   {"key_file", tls.key_file},
                     {"verify", tls.verify},         {"server_name", tls.server_name},
                     {"min_version", to_string(tls.min_version)}, {"alpn", tls.alpn}};
}

}  // namespace

std::string render_config(const Config& config) {
  OrderedJson transports = OrderedJson::array();
  for (const auto& transport : config.transports) transports.push_back(render_transport(transport));

  OrderedJson predefined = OrderedJson::array();
  for (const auto& topic : config.predefined_topics) {
    predefined.push_back(OrderedJson{{"id", topic.id}, {"name", topic.name}});
  }

  // An absent list (everyone allowed) stays absent: null would not read back.
  OrderedJson auth = OrderedJson::object();
  if (config.auth.allowed_clients) auth["allowed_clients"] = *config.auth.allowed_clients;
  if (config.auth.allow_qos_minus_one_from) {
    auth["allow_qos_minus_one_from"] = *config.auth.allow_qos_minus_one_from;
  }

  {
    OrderedJson clients = OrderedJson::array();
    for (const auto& client : config.auth.clients) {
      OrderedJson entry = {{"client_id", client.client_id},
                           {"username", client.credentials.username}};
      // Secrets never leave: a password as "***", a password file by its path.
      if (!client.password_file.empty()) {
        entry["password_file"] = client.password_file;
      } else {
        entry["password"] = client.credentials.password.empty() ? "" : "***";
      }
      clients.push_back(entry);
    }
    auth["clients"] = clients;
  }
  if (config.auth.acl) {
    OrderedJson acl = OrderedJson::array();
    for (const auto& rule : *config.auth.acl) {
      acl.push_back(OrderedJson{{"client", rule.client},
                                {"publish", rule.publish},
                                {"subscribe", rule.subscribe}});
    }
    auth["acl"] = acl;
  }

  OrderedJson discovery = {{"advertise_interval_s", config.discovery.advertise_interval.count()}};
  if (config.discovery.multicast) discovery["multicast"] = to_string(*config.discovery.multicast);
  discovery["interface"] = config.discovery.interface;
  discovery["ttl"] = config.discovery.ttl;

  OrderedJson persistence = OrderedJson::object();
  if (config.persistence.path) persistence["path"] = *config.persistence.path;
  persistence["durability"] = to_string(config.persistence.durability);

  // An unset prefix stays unset (its default follows gateway.id); the effective one is logged.
  OrderedJson stats = {{"interval_s", config.stats.interval.count()}};
  if (!config.stats.topic_prefix.empty()) stats["topic_prefix"] = config.stats.topic_prefix;

  OrderedJson upstream = {{"uri", config.upstream.uri},
                          {"client", to_string(config.upstream.client)},
                          {"mqtt_version", config.upstream.mqtt_version == 5 ? "5" : "3.1.1"},
                          {"max_queued_messages", config.upstream.max_queued_messages},
                          {"max_broker_delay_ms", config.upstream.max_broker_delay.count()},
                          {"client_id_prefix", config.upstream.client_id_prefix},
                          {"username", config.upstream.username},
                          {"password", config.upstream.password.empty() ? "" : "***"}};
  // Only with a TLS URI: the loader refuses `tls` with a plaintext one.
  if (mqtt_bridge::is_tls_uri(config.upstream.uri)) upstream["tls"] = render_tls(config.upstream.tls);
  upstream["reconnect_min_ms"] = config.upstream.reconnect_min.count();
  upstream["reconnect_max_ms"] = config.upstream.reconnect_max.count();

  const OrderedJson document = {
      {"gateway",
       {{"id", config.gateway.id},
        {"mode", to_string(config.gateway.mode)},
        {"max_clients", config.gateway.max_clients},
        {"max_connecting", config.gateway.max_connecting},
        {"connect_rate_per_address", config.gateway.connect_rate_per_address},
        {"connect_burst_per_address", config.gateway.connect_burst_per_address}}},
      {"upstream", upstream},
      {"transports", transports},
      {"topics", {{"predefined", predefined}}},
      {"qos_minus_one", {{"enabled", config.qos_minus_one_enabled}}},
      {"retry",
       {{"interval_ms", config.retry.interval.count()},
        {"max_attempts", config.retry.max_attempts}}},
      {"auth", auth},
      {"discovery", discovery},
      {"forwarders", render_forwarders(config.forwarders)},
      {"sleep",
       {{"max_buffered_messages", config.sleep.max_buffered_messages},
        {"release_upstream", config.sleep.release_upstream},
        {"wake_settle_ms", config.sleep.wake_settle.count()}}},
      {"persistence", persistence},
      {"stats", stats},
      {"log", {{"level", to_string(config.log_level)}}},
  };
  return document.dump(2, ' ', false, OrderedJson::error_handler_t::replace);
}

}  // namespace gateway::config
