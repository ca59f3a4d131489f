// Config -> JSON, the inverse of load.cpp: what the gateway will actually run with, defaults
// included, for `--config` start-up output and for support requests (hence the masked password).
// Values are built as plain JSON (json_types.hpp where a struct's members are its keys) and put in
// the schema's key order at the end.

#include <chrono>
#include <string>
#include <variant>

#include <nlohmann/json.hpp>

#include "gateway/config/config.hpp"
#include "json_types.hpp"
#include "schema.hpp"

namespace gateway::config {
namespace {

using Json = nlohmann::json;

Json render_settings(const UdpTransport& udp) {
  return Json{{"bind", to_string(udp.bind)},
                     {"receive_buffer_bytes", udp.receive_buffer_bytes},
                     {"send_buffer_bytes", udp.send_buffer_bytes}};
}

// The keys never leave: the PSK file by its path, certificates by theirs.
Json render_settings(const DtlsTransport& dtls) {
  const auto& server = dtls.server;
  Json out = {{"bind", to_string(dtls.bind)},
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

Json render_settings(const SerialTransport& serial) {
  Json out = serial;
  // Only the keys of its framing: the loader refuses the others.
  if (serial.framing == SerialFraming::xbee) {
    out.erase("inter_byte_timeout_ms");
  } else {
    out.erase("api_mode");
    out.erase("max_payload");
  }
  return out;
}

Json render_settings(const RfcommTransport& rfcomm) { return rfcomm; }

Json render_settings(const L2capTransport& l2cap) { return l2cap; }

Json render_transport(const TransportConfig& transport) {
  Json out = {{"type", type_name(transport.settings)},
                     {"name", transport.name},
                     {"optional", transport.optional}};
  const auto settings =
      std::visit([](const auto& s) { return render_settings(s); }, transport.settings);
  for (const auto& [key, value] : settings.items()) out[key] = value;
  return out;
}

Json render_forwarders(const ForwarderSettings& forwarders) {
  Json out = Json::object();
  if (!forwarders.allowed) return out;  // absent (everyone) stays absent: null would not read back
  Json allowed = Json::array();
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

}  // namespace

std::string render_config(const Config& config) {
  Json transports = Json::array();
  for (const auto& transport : config.transports) transports.push_back(render_transport(transport));

  const Json predefined = config.predefined_topics;

  // An absent list (everyone allowed) stays absent: null would not read back.
  Json auth = Json::object();
  if (config.auth.allowed_clients) auth["allowed_clients"] = *config.auth.allowed_clients;
  if (config.auth.allow_qos_minus_one_from) {
    auth["allow_qos_minus_one_from"] = *config.auth.allow_qos_minus_one_from;
  }

  {
    Json clients = Json::array();
    for (const auto& client : config.auth.clients) {
      Json entry = {{"client_id", client.client_id},
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
  if (config.auth.acl) auth["acl"] = *config.auth.acl;

  Json discovery = {{"advertise_interval_s", config.discovery.advertise_interval.count()}};
  if (config.discovery.multicast) discovery["multicast"] = to_string(*config.discovery.multicast);
  discovery["interface"] = config.discovery.interface;
  discovery["ttl"] = config.discovery.ttl;

  Json persistence = Json::object();
  if (config.persistence.path) persistence["path"] = *config.persistence.path;
  persistence["durability"] = config.persistence.durability;

  // An unset prefix stays unset (its default follows gateway.id); the effective one is logged.
  Json stats = {{"interval_s", config.stats.interval.count()}};
  if (!config.stats.topic_prefix.empty()) stats["topic_prefix"] = config.stats.topic_prefix;

  Json upstream = {{"uri", config.upstream.uri},
                          {"client", config.upstream.client},
                          {"mqtt_version", config.upstream.mqtt_version == 5 ? "5" : "3.1.1"},
                          {"max_queued_messages", config.upstream.max_queued_messages},
                          {"max_broker_delay_ms", config.upstream.max_broker_delay.count()},
                          {"client_id_prefix", config.upstream.client_id_prefix},
                          {"username", config.upstream.username},
                          {"password", config.upstream.password.empty() ? "" : "***"}};
  // Only with a TLS URI: the loader refuses `tls` with a plaintext one. Paths only: the files'
  // contents (keys) never appear.
  if (mqtt_bridge::is_tls_uri(config.upstream.uri)) upstream["tls"] = config.upstream.tls;
  upstream["reconnect_min_ms"] = config.upstream.reconnect_min.count();
  upstream["reconnect_max_ms"] = config.upstream.reconnect_max.count();

  const Json document = {
      {"gateway", config.gateway},
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
      {"log", {{"level", config.log_level}}},
  };
  return detail::in_schema_order(document).dump(2, ' ', false,
                                                nlohmann::ordered_json::error_handler_t::replace);
}

}  // namespace gateway::config
