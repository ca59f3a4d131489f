// JSON -> Config. The document is validated against configs/schema.json first (types, ranges,
// known and required keys); the readers here take its values (json_types.hpp where a struct's
// members are its keys) and check what a schema cannot state: addresses, files, duplicates, keys
// that depend on others. ConfigError at the first problem (config loading is an edge, DESIGN.md).
// Transports and forwarders are read in load_transports.cpp.

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "gateway/config/config.hpp"
#include "json_document.hpp"
#include "json_fields.hpp"
#include "json_types.hpp"
#include "load_transports.hpp"
#include "schema.hpp"
#include "sn_protocol/topic.hpp"

namespace gateway::config {
namespace {

using detail::fail;
using detail::Json;
using detail::json_quoted;
using detail::ObjectReader;
using detail::read_file_path;
using detail::ip_literal_octets;

// MQTT 3.1.1 §1.5.3: UTF-8 strings on the wire must not contain U+0000.
std::string read_mqtt_string(const ObjectReader& section, std::string_view key) {
  auto text = section.get<std::string>(key, {});
  if (text.find('\0') != std::string::npos) {
    fail(section.path(key), "must not contain U+0000 (MQTT 3.1.1 §1.5.3)");
  }
  return text;
}

void parse_upstream_uri(UpstreamSettings& upstream, const std::string& path) {
  static const std::map<std::string, UpstreamScheme, std::less<>> kSchemes = {
      {"tcp", UpstreamScheme::tcp},
      {"ssl", UpstreamScheme::ssl},
      {"mqtt", UpstreamScheme::mqtt},
      {"mqtts", UpstreamScheme::mqtts}};
  const std::string_view uri = upstream.uri;
  const auto separator = uri.find("://");
  if (separator == std::string_view::npos) {
    fail(path, R"(expected "scheme://host:port" (schemes: tcp, ssl, mqtt, mqtts))");
  }
  const auto scheme = uri.substr(0, separator);
  const auto found = kSchemes.find(scheme);
  if (found == kSchemes.end()) {
    fail(path, "unsupported scheme " + json_quoted(std::string(scheme)) +
                   " (supported: tcp, ssl, mqtt, mqtts)");
  }
  auto parsed = parse_host_port(uri.substr(separator + 3));
  if (!parsed.address) {
    fail(path, parsed.problem == kExpectedHostPort
                   ? "expected \"" + std::string(scheme) + "://host:port\""
                   : parsed.problem);
  }
  if (parsed.address->port == 0) fail(path, "port 0 is not a broker port (1 to 65535)");
  upstream.scheme = found->second;
  upstream.broker = std::move(*parsed.address);
}


mqtt_bridge::TlsOptions read_tls(const ObjectReader& section, const UpstreamSettings& upstream,
                                 const std::filesystem::path& base) {
  auto tls = section.value().get<mqtt_bridge::TlsOptions>();
  tls.ca_file = read_file_path(section, "ca_file", false, base);
  tls.ca_path = read_file_path(section, "ca_path", true, base);
  tls.cert_file = read_file_path(section, "cert_file", false, base);
  tls.key_file = read_file_path(section, "key_file", false, base);
  if (!tls.key_file.empty() && tls.cert_file.empty()) {
    fail(section.path("key_file"), "set without upstream.tls.cert_file (the certificate it is the key of)");
  }
  if (tls.server_name.find_first_of(" \t/") != std::string::npos ||
      tls.server_name.find('\0') != std::string::npos) {
    fail(section.path("server_name"), json_quoted(tls.server_name) + " is not a host name");
  }
  // RFC 7301 §3.1: 1 to 255 bytes (the schema counts characters).
  for (std::size_t i = 0; i < tls.alpn.size(); ++i) {
    if (tls.alpn[i].size() > 255) {
      fail(detail::element_path(section.path("alpn"), i),
           "an ALPN protocol name has 1 to 255 bytes (RFC 7301)");
    }
  }
  // What Paho 1.3 (MQTTAsync_SSLOptions) cannot do: say so rather than connect differently.
  if (upstream.client == UpstreamClient::paho) {
    if (!tls.server_name.empty() && tls.server_name != upstream.broker.host) {
      fail(section.path("server_name"),
           "upstream.client \"paho\" sends and checks the URI's host (" +
               json_quoted(upstream.broker.host) +
               "); another server_name needs upstream.client \"native\"");
    }
    if (tls.min_version == mqtt_bridge::TlsVersion::v1_3) {
      fail(section.path("min_version"),
           "upstream.client \"paho\" cannot require TLS 1.3 (Paho 1.3 has no such option); "
           "use upstream.client \"native\"");
    }
  }
  return tls;
}

UpstreamSettings read_upstream(const ObjectReader& section, const std::filesystem::path& base) {
  UpstreamSettings upstream;
  upstream.uri = section.get("uri", upstream.uri);
  parse_upstream_uri(upstream, section.path("uri"));
  upstream.client = section.get("client", upstream.client);
  // The protocol level: "3.1.1" is 4, "5" and "5.0" are 5 (the schema allows only these).
  upstream.mqtt_version = section.get<std::string>("mqtt_version", "3.1.1") == "3.1.1" ? 4 : 5;
  upstream.max_queued_messages = section.get("max_queued_messages", upstream.max_queued_messages);
  upstream.max_broker_delay = section.duration("max_broker_delay_ms", upstream.max_broker_delay);
  upstream.client_id_prefix = read_mqtt_string(section, "client_id_prefix");
  upstream.username = read_mqtt_string(section, "username");
  // The password is binary data in MQTT (§3.1.3.5), so any string goes.
  upstream.password = section.get<std::string>("password", {});
  // MQTT 3.1.1 §3.1.2.9: the password flag may only be set together with the user name flag.
  if (!upstream.password.empty() && upstream.username.empty()) {
    fail(section.path("password"), "set without upstream.username (MQTT 3.1.1 §3.1.2.9)");
  }
  const bool tls_uri =
      upstream.scheme == UpstreamScheme::ssl || upstream.scheme == UpstreamScheme::mqtts;
  if (const auto* tls = section.find("tls")) {
    // Never a silent fallback to plaintext: TLS settings with a plaintext URI are a mistake.
    if (!tls_uri) {
      fail(section.path("tls"), "set, but upstream.uri is " + std::string(to_string(upstream.scheme)) +
                                    ":// (plaintext); use ssl:// or mqtts://");
    }
    upstream.tls = read_tls(ObjectReader(*tls, section.path("tls")), upstream, base);
  }
  upstream.reconnect_min = section.duration("reconnect_min_ms", upstream.reconnect_min);
  upstream.reconnect_max = section.duration("reconnect_max_ms", upstream.reconnect_max);
  if (upstream.reconnect_max < upstream.reconnect_min) {
    fail(section.path("reconnect_max_ms"), "must not be less than upstream.reconnect_min_ms (" +
                                               std::to_string(upstream.reconnect_min.count()) +
                                               ")");
  }
  return upstream;
}

std::vector<PredefinedTopic> read_predefined_topics(const Json& value, const std::string& path) {
  std::vector<PredefinedTopic> topics;
  std::map<std::uint16_t, std::string> path_by_id;
  std::map<std::string, std::string, std::less<>> path_by_name;
  for (std::size_t i = 0; i < value.size(); ++i) {
    // §5.3.11: topic ids 0x0000 and 0xFFFF are reserved (the schema's range).
    auto topic = value[i].get<PredefinedTopic>();
    const ObjectReader entry(value[i], detail::element_path(path, i));
    const auto id = topic.id;
    const auto& name = topic.name;
    if (!sn::is_valid_topic_name(name)) {
      fail(entry.path("name"),
           json_quoted(name) +
               " is not a valid topic name (non-empty UTF-8 without '+', '#' or NUL)");
    }
    if (const auto [it, added] = path_by_id.emplace(id, entry.path()); !added) {
      fail(entry.path("id"),
           "duplicate id " + std::to_string(id) + " (already used by " + it->second + ")");
    }
    if (const auto [it, added] = path_by_name.emplace(name, entry.path()); !added) {
      fail(entry.path("name"),
           "duplicate name " + json_quoted(name) + " (already used by " + it->second + ")");
    }
    topics.push_back(std::move(topic));
  }
  return topics;
}

std::vector<std::string> read_allowed_clients(const Json& value, const std::string& path) {
  std::vector<std::string> clients;
  std::map<std::string, std::string, std::less<>> path_by_id;
  for (std::size_t i = 0; i < value.size(); ++i) {
    const auto entry_path = detail::element_path(path, i);
    const auto& id = value[i].get_ref<const std::string&>();
    if (const auto [it, added] = path_by_id.emplace(id, entry_path); !added) {
      fail(entry_path, "duplicate client id " + json_quoted(id) + " (already used by " +
                           it->second + ")");
    }
    clients.push_back(id);
  }
  return clients;
}

std::vector<std::string> read_address_list(const Json& value, const std::string& path) {
  std::vector<std::string> addresses;
  // By octets, so "::1" and "0:0::1" are the same address.
  std::map<std::string, std::string, std::less<>> path_by_octets;
  for (std::size_t i = 0; i < value.size(); ++i) {
    const auto entry_path = detail::element_path(path, i);
    constexpr auto kExpected = "expected an IPv4 or IPv6 address literal (no port, no brackets)";
    const auto& text = value[i].get_ref<const std::string&>();
    const auto octets = ip_literal_octets(text);
    if (octets.empty()) fail(entry_path, kExpected);
    if (const auto [it, added] = path_by_octets.emplace(octets, entry_path); !added) {
      fail(entry_path,
           "duplicate address " + json_quoted(text) + " (already used by " + it->second + ")");
    }
    addresses.push_back(text);
  }
  return addresses;
}

// Refuses an entry of a list of MQTT topic filters that is not one (MQTT 3.1.1 §4.7); `%c` (the
// ClientId) is allowed anywhere a character is. The values are read with the rule.
void check_filter_list(const ObjectReader& rule, std::string_view key) {
  const auto* value = rule.find(key);
  if (value == nullptr) return;
  const auto path = rule.path(key);
  for (std::size_t i = 0; i < value->size(); ++i) {
    const auto& filter = (*value)[i].get_ref<const std::string&>();
    if (!sn::is_valid_topic_filter(filter)) {
      fail(detail::element_path(path, i),
           json_quoted(filter) + " is not a valid topic filter (MQTT 3.1.1 §4.7)");
    }
  }
}

std::vector<core::AclRule> read_acl(const Json& value, const std::string& path) {
  std::vector<core::AclRule> rules;
  for (std::size_t i = 0; i < value.size(); ++i) {
    const ObjectReader entry(value[i], detail::element_path(path, i));
    check_filter_list(entry, "publish");
    check_filter_list(entry, "subscribe");
    rules.push_back(value[i].get<core::AclRule>());
  }
  return rules;
}

// The password in a file, without the line end a text editor leaves.
std::string read_secret_file(const std::string& file, const std::string& path) {
  std::ifstream in(file, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  if (!in && !in.eof()) fail(path, json_quoted(file) + " cannot be read");
  std::string secret = text.str();
  if (secret.ends_with("\r\n")) {
    secret.resize(secret.size() - 2);
  } else if (secret.ends_with('\n')) {
    secret.pop_back();
  }
  return secret;
}

std::vector<ClientIdentity> read_client_identities(const Json& value, const std::string& path,
                                                   const std::filesystem::path& base) {
  std::vector<ClientIdentity> clients;
  std::map<std::string, std::string, std::less<>> path_by_id;
  for (std::size_t i = 0; i < value.size(); ++i) {
    const ObjectReader entry(value[i], detail::element_path(path, i));
    ClientIdentity client;
    client.client_id = entry.get<std::string>("client_id", {});
    if (const auto [it, added] = path_by_id.emplace(client.client_id, entry.path()); !added) {
      fail(entry.path("client_id"), json_quoted(client.client_id) + " is already given at " + it->second);
    }
    client.credentials.username = read_mqtt_string(entry, "username");
    if (client.credentials.username.empty()) {
      fail(entry.path("username"), "required (MQTT 3.1.1 §3.1.2.9: no password without a user name)");
    }
    if (entry.find("password") != nullptr && entry.find("password_file") != nullptr) {
      fail(entry.path("password_file"), "set together with password: give one of them");
    }
    client.credentials.password = entry.get<std::string>("password", {});
    client.password_file = read_file_path(entry, "password_file", false, base);
    if (!client.password_file.empty()) {
      client.credentials.password = read_secret_file(client.password_file, entry.path("password_file"));
    }
    clients.push_back(std::move(client));
  }
  return clients;
}

AuthSettings read_auth(const ObjectReader& section, const std::filesystem::path& base) {
  AuthSettings auth;
  if (const auto* clients = section.find("clients")) {
    auth.clients = read_client_identities(*clients, section.path("clients"), base);
  }
  if (const auto* acl = section.find("acl")) auth.acl = read_acl(*acl, section.path("acl"));
  if (const auto* clients = section.find("allowed_clients")) {
    auth.allowed_clients = read_allowed_clients(*clients, section.path("allowed_clients"));
  }
  if (const auto* addresses = section.find("allow_qos_minus_one_from")) {
    auth.allow_qos_minus_one_from =
        read_address_list(*addresses, section.path("allow_qos_minus_one_from"));
  }
  return auth;
}

DiscoverySettings read_discovery(const ObjectReader& section) {
  DiscoverySettings discovery;
  discovery.advertise_interval =
      section.duration("advertise_interval_s", discovery.advertise_interval);
  discovery.ttl = section.get("ttl", discovery.ttl);
  discovery.interface = section.get<std::string>("interface", {});
  if (const auto* multicast = section.find("multicast")) {
    const auto path = section.path("multicast");
    auto parsed = parse_host_port(multicast->get<std::string>());
    if (!parsed.address) fail(path, parsed.problem);
    const auto octets = ip_literal_octets(parsed.address->host);
    const bool is_group = (octets.size() == 4 && (static_cast<std::uint8_t>(octets[0]) >> 4) == 0xE) ||
                          (octets.size() == 16 && static_cast<std::uint8_t>(octets[0]) == 0xFF);
    if (!is_group) {
      fail(path, "expected a multicast group literal and port (224.0.0.0/4 or ff00::/8), e.g. "
                 "\"239.255.18.83:1884\" or \"[ff02::1]:1884\"");
    }
    if (parsed.address->port == 0) fail(path, "port 0 cannot be sent to");
    discovery.multicast = parsed.address;
  }
  if (!discovery.interface.empty()) {
    const auto path = section.path("interface");
    if (!discovery.multicast) fail(path, "set without discovery.multicast");
    if (!discovery.multicast->is_v6 && ip_literal_octets(discovery.interface).size() != 4) {
      fail(path, "expected the IPv4 address of a local interface (the group is IPv4)");
    }
    if (discovery.multicast->is_v6 &&
        (discovery.interface.size() >= 16 ||
         discovery.interface.find_first_of("/ \t") != std::string::npos)) {
      fail(path, "expected an interface name such as \"eth0\" (the group is IPv6)");
    }
  }
  return discovery;
}

Config config_from_json(const Json& document, const std::filesystem::path& base) {
  // Types, ranges, known and required keys first (configs/schema.json); the readers below
  // check what a schema cannot say (addresses, files, duplicates, keys that depend on others).
  detail::validate_against_schema(document);
  const ObjectReader root(document, {});
  Config config;
  if (const auto* section = root.find("gateway")) config.gateway = section->get<GatewaySettings>();
  if (const auto* section = root.find("upstream")) {
    config.upstream = read_upstream(ObjectReader(*section, "upstream"), base);
  }
  if (const auto* section = root.find("transports")) {
    config.transports = detail::read_transports(*section, "transports", base);
  }
  if (const auto* section = root.find("topics")) {
    const ObjectReader topics(*section, "topics");
    if (const auto* predefined = topics.find("predefined")) {
      config.predefined_topics = read_predefined_topics(*predefined, topics.path("predefined"));
    }
  }
  if (const auto* section = root.find("qos_minus_one")) {
    config.qos_minus_one_enabled =
        ObjectReader(*section, "qos_minus_one").get("enabled", config.qos_minus_one_enabled);
  }
  if (const auto* section = root.find("retry")) {
    const ObjectReader retry(*section, "retry");
    config.retry.interval = retry.duration("interval_ms", config.retry.interval);
    config.retry.max_attempts = retry.get("max_attempts", config.retry.max_attempts);
  }
  if (const auto* section = root.find("auth")) {
    config.auth = read_auth(ObjectReader(*section, "auth"), base);
    if (!config.auth.clients.empty() && config.gateway.mode == GatewayMode::aggregating) {
      fail("auth.clients", "per-client credentials need gateway.mode \"transparent\" (aggregating "
                           "mode has one upstream connection for every client)");
    }
  }
  if (const auto* section = root.find("discovery")) {
    config.discovery = read_discovery(ObjectReader(*section, "discovery"));
  }
  // After transports: entries may name them.
  if (const auto* section = root.find("forwarders")) {
    config.forwarders =
        detail::read_forwarders(ObjectReader(*section, "forwarders"), config.transports);
  }
  if (const auto* section = root.find("sleep")) {
    const ObjectReader sleep(*section, "sleep");
    config.sleep.max_buffered_messages =
        sleep.get("max_buffered_messages", config.sleep.max_buffered_messages);
    config.sleep.release_upstream = sleep.get("release_upstream", config.sleep.release_upstream);
    config.sleep.wake_settle = sleep.duration("wake_settle_ms", config.sleep.wake_settle);
  }
  if (const auto* section = root.find("persistence")) {
    const ObjectReader persistence(*section, "persistence");
    if (const auto* path = persistence.find("path")) config.persistence.path = path->get<std::string>();
    config.persistence.durability = persistence.get("durability", config.persistence.durability);
  }
  if (const auto* section = root.find("stats")) {
    const ObjectReader stats(*section, "stats");
    config.stats.interval = stats.duration("interval_s", config.stats.interval);
    config.stats.topic_prefix = stats.get<std::string>("topic_prefix", {});
    const auto& prefix = config.stats.topic_prefix;
    if (stats.find("topic_prefix") != nullptr &&
        (!sn::is_valid_topic_name(prefix) || prefix.back() == '/')) {
      fail(stats.path("topic_prefix"),
           json_quoted(prefix) +
               " is not a valid topic prefix (a topic name without '+', '#', NUL or a trailing '/')");
    }
  }
  if (const auto* section = root.find("log")) {
    config.log_level = ObjectReader(*section, "log").get("level", config.log_level);
  }
  return config;
}

}  // namespace

Config parse_config(std::string_view json_text, const std::filesystem::path& base_dir) {
  return config_from_json(detail::parse_json_document(json_text), base_dir);
}

Config load_config_file(const std::filesystem::path& file) {
  const auto name = file.string();
  std::error_code ec;
  if (std::filesystem::is_directory(file, ec)) throw ConfigError({}, "is a directory", name);
  std::ifstream in(file, std::ios::binary);
  if (!in) throw ConfigError({}, std::string("cannot open: ") + std::strerror(errno), name);
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw ConfigError({}, std::string("cannot read: ") + std::strerror(errno), name);
  try {
    return parse_config(text.str(), file.parent_path());
  } catch (const ConfigError& error) {
    throw ConfigError(error.json_path(), error.problem(), name);
  }
}

}  // namespace gateway::config
