#pragma once
// The gateway's configuration as plain values, with every default of configs/README.md filled in.
// Loaded once at start-up by the executable and then handed, read-only, to the sans-I/O core and
// the adapters. Nothing here keeps state or does I/O except load_config_file() reading its file,
// so any thread may call these functions.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "gateway/config/host_port.hpp"
#include "dtls/dtls_options.hpp"
#include "gateway/core/acl.hpp"
#include "mqtt_bridge/credentials.hpp"
#include "mqtt_bridge/tls_options.hpp"

namespace gateway::config {

enum class GatewayMode : std::uint8_t { transparent, aggregating };
enum class LogLevel : std::uint8_t { trace, debug, info, warn, error };

struct GatewaySettings {
  std::uint8_t id = 1;  // GwId of ADVERTISE/GWINFO (§5.3.6)
  GatewayMode mode = GatewayMode::transparent;
  std::uint32_t max_clients = 10000;
  // Flood limits (see gateway/core/core.hpp, CoreConfig): clients between CONNECT and CONNACK,
  // and CONNECT/SEARCHGW per source address a second (0: no limit) with its burst.
  std::uint32_t max_connecting = 1000;
  std::uint32_t connect_rate_per_address = 100;
  std::uint32_t connect_burst_per_address = 1000;

  bool operator==(const GatewaySettings&) const = default;
};

enum class UpstreamScheme : std::uint8_t { tcp, ssl, mqtt, mqtts };

// Which MQTT client library talks to the broker (mqtt_bridge/upstream.hpp): Paho MQTT C++, the
// reference and default, or the native client on the gateway's own loop.
enum class UpstreamClient : std::uint8_t { paho, native };

struct UpstreamSettings {
  std::string uri = "tcp://127.0.0.1:1883";  // as written; both clients take it verbatim
  UpstreamClient client = UpstreamClient::paho;
  // The MQTT protocol level towards the broker: 4 (MQTT 3.1.1) or 5 (MQTT 5.0), as in
  // mqtt_bridge::BrokerOptions; written "3.1.1" or "5" in the file.
  int mqtt_version = 4;
  // Messages that may wait on their way to the broker per upstream connection (see configs/README).
  std::uint32_t max_queued_messages = 10000;
  // Native client: QoS 0 is dropped while the broker is this much behind (see configs/README).
  std::chrono::milliseconds max_broker_delay{50};
  UpstreamScheme scheme = UpstreamScheme::tcp;
  HostPort broker{"127.0.0.1", 1883, false};  // the host:port part of `uri`
  std::string client_id_prefix;
  std::string username;
  std::string password;
  // `upstream.tls`: used by ssl:// and mqtts:// (and refused with tcp:// or mqtt://).
  mqtt_bridge::TlsOptions tls;
  // The gateway's own connection is retried after reconnect_min, doubling up to reconnect_max,
  // each delay shortened by a random part of up to a half.
  std::chrono::milliseconds reconnect_min{1000};
  std::chrono::milliseconds reconnect_max{60000};

  bool operator==(const UpstreamSettings&) const = default;
};

struct UdpTransport {
  HostPort bind{"0.0.0.0", 1884, false};
  // Socket buffers asked for (SO_RCVBUF / SO_SNDBUF; 0 keeps the kernel default). The receive
  // buffer holds a burst of datagrams while the gateway is busy: too small, and the kernel drops
  // them. Beyond net.core.rmem_max / wmem_max the gateway forces them when it may (root or
  // CAP_NET_ADMIN) and otherwise logs what it got.
  std::uint32_t receive_buffer_bytes = 4 * 1024 * 1024;
  std::uint32_t send_buffer_bytes = 1024 * 1024;

  bool operator==(const UdpTransport&) const = default;
};

// MQTT-SN over DTLS 1.2 (issue 13 §2): a UDP socket whose every datagram is a DTLS record.
struct DtlsTransport {
  HostPort bind{"0.0.0.0", 0, false};  // required in the file: no well-known port to assume
  std::uint32_t receive_buffer_bytes = 4 * 1024 * 1024;
  std::uint32_t send_buffer_bytes = 1024 * 1024;
  // `psk_file` ("identity:hexkey" lines, mosquitto's format), read at load into server.psk; the
  // path is kept to show where the keys came from (the keys themselves are never shown).
  std::string psk_file;
  // A node may only CONNECT with the ClientId its handshake proved (PSK identity, certificate
  // CN or SAN); false: any ClientId over any session.
  bool psk_identity_is_client_id = true;
  transports::dtls::ServerOptions server;

  bool operator==(const DtlsTransport&) const = default;
};

enum class SerialParity : std::uint8_t { none, even, odd };
enum class SerialFlowControl : std::uint8_t { none, rtscts, xonxoff };
enum class SerialFraming : std::uint8_t { raw, xbee };

// Baud rates a serial transport accepts (termios standard rates).
inline constexpr std::uint32_t kSerialBaudRates[] = {1200,   2400,   4800,   9600,   19200,
                                                     38400,  57600,  115200, 230400, 460800,
                                                     500000, 576000, 921600};

// A serial line: raw MQTT-SN frames back to back, or a Digi XBee (Zigbee) radio in API mode.
struct SerialTransport {
  std::string device;  // required, e.g. "/dev/ttyUSB0"
  std::uint32_t baud = 115200;
  std::uint8_t data_bits = 8;  // 5..8
  SerialParity parity = SerialParity::none;
  std::uint8_t stop_bits = 1;  // 1 or 2
  SerialFlowControl flow_control = SerialFlowControl::none;  // xonxoff: xbee api_mode 2 only
  SerialFraming framing = SerialFraming::raw;
  std::uint8_t api_mode = 1;         // xbee: the radio's AP setting, 1 or 2
  std::uint32_t max_payload = 72;    // xbee: largest MQTT-SN frame in one Transmit Request
  std::uint32_t inter_byte_timeout_ms = 500;  // raw: a partial frame is dropped after this silence

  bool operator==(const SerialTransport&) const = default;
};

// Bluetooth Classic serial port profile: an RFCOMM listener; every connection is a client.
struct RfcommTransport {
  std::uint8_t channel = 1;  // 1..30

  bool operator==(const RfcommTransport&) const = default;
};

// Bluetooth LE connection-oriented channel: an L2CAP listener on an LE PSM; every connection is
// a client.
struct L2capTransport {
  std::uint16_t psm = 0x80;  // 0x01..0xFF (LE_PSM); 0x80..0xFF are the dynamic ones

  bool operator==(const L2capTransport&) const = default;
};

// One alternative per transport type.
using TransportSettings =
    std::variant<UdpTransport, SerialTransport, RfcommTransport, L2capTransport, DtlsTransport>;

struct TransportConfig {
  std::string name;  // optional label for logs; empty when not configured
  TransportSettings settings;
  // When it cannot start (no such device, no Bluetooth in the kernel): true logs a warning and
  // runs without it; false (the default) makes start-up fail.
  bool optional = false;

  bool operator==(const TransportConfig&) const = default;
};

struct PredefinedTopic {
  std::uint16_t id = 0;  // 0x0001..0xFFFE; 0x0000 and 0xFFFF are reserved (§5.3.11)
  std::string name;

  bool operator==(const PredefinedTopic&) const = default;
};

struct RetrySettings {
  std::chrono::milliseconds interval{10000};  // T_retry (§6.13)
  std::uint32_t max_attempts = 3;             // N_retry (§6.13)

  bool operator==(const RetrySettings&) const = default;
};

// Who may use the gateway. Absent lists (nullopt) allow everyone; an empty list allows no one.
// auth.clients: one MQTT-SN client's own identity at the broker (transparent mode).
struct ClientIdentity {
  std::string client_id;                // the MQTT-SN ClientId
  mqtt_bridge::Credentials credentials;  // the password read from password_file when that is set
  std::string password_file;            // as resolved; empty: the password was in the file itself

  bool operator==(const ClientIdentity&) const = default;
};

struct AuthSettings {
  // MQTT-SN client ids whose CONNECT is accepted; unique, non-empty.
  std::optional<std::vector<std::string>> allowed_clients;
  // IPv4/IPv6 address literals (as written) whose QoS -1 PUBLISH is accepted; unique addresses.
  std::optional<std::vector<std::string>> allow_qos_minus_one_from;
  // Per-client credentials towards the broker, overriding upstream.username/password.
  std::vector<ClientIdentity> clients;
  // Topic ACL (gateway/core/acl.hpp); absent: every client may publish and subscribe anywhere.
  std::optional<std::vector<core::AclRule>> acl;

  bool operator==(const AuthSettings&) const = default;
};

// Gateway advertisement and discovery (§6.1).
struct DiscoverySettings {
  std::chrono::seconds advertise_interval{900};  // T_ADV; the spec suggests more than 15 min
  // Multicast group and port that ADVERTISE, and GWINFO besides its unicast answer, go to on
  // every UDP transport of the same address family. Absent: no ADVERTISE on UDP, GWINFO only to
  // the searcher.
  std::optional<HostPort> multicast;
  // Outgoing interface: an IPv4 address literal of a local interface (IPv4 group) or an interface
  // name (IPv6 group). Empty: the system's choice (the route to the group).
  std::string interface;
  std::uint8_t ttl = 1;  // IP_MULTICAST_TTL / IPV6_MULTICAST_HOPS: one hop, the local network

  bool operator==(const DiscoverySettings&) const = default;
};

// A peer allowed to send §5.5 encapsulated frames (be a forwarder).
struct AllowedForwarder {
  std::string text;  // as written, for rendering
  // Every peer of this transport (written as its index or its name).
  std::optional<std::uint16_t> transport;
  // Otherwise an IP peer on any transport: these address octets (4 or 16) ...
  std::string address;
  // ... and, when set, this port.
  std::optional<std::uint16_t> port;

  bool operator==(const AllowedForwarder&) const = default;
};

struct ForwarderSettings {
  // Absent (nullopt): every peer may forward; an empty list: no one may.
  std::optional<std::vector<AllowedForwarder>> allowed;

  bool operator==(const ForwarderSettings&) const = default;
};

// Sleeping clients (§6.14).
struct SleepSettings {
  std::uint32_t max_buffered_messages = 100;  // per asleep client; see README for the policy
  // Transparent mode, CleanSession=false: close an asleep client's upstream connection so the
  // broker keeps its messages until it wakes; the flush waits wake_settle after the last one.
  bool release_upstream = true;
  std::chrono::milliseconds wake_settle{250};

  bool operator==(const SleepSettings&) const = default;
};

// When a write of the session store is on disk: `normal` survives the gateway being killed,
// `full` a power cut too (an fsync per transaction).
enum class Durability : std::uint8_t { normal, full };

// The session store: CleanSession=false sessions survive a restart (README "Persistence").
struct PersistenceSettings {
  std::optional<std::string> path;  // the SQLite file; absent: nothing is stored
  Durability durability = Durability::normal;

  bool operator==(const PersistenceSettings&) const = default;
};

// Counters published upstream (retained, QoS 0) and dumped on SIGUSR1.
struct StatsSettings {
  std::chrono::seconds interval{60};  // 0: never published (SIGUSR1 still dumps them)
  std::string topic_prefix;           // empty: "$SYS/mqttsn/gateway-<gateway.id>"

  bool operator==(const StatsSettings&) const = default;
};

// The effective stats topic prefix.
std::string stats_topic_prefix(const struct Config& config);

struct Config {
  GatewaySettings gateway;
  UpstreamSettings upstream;
  std::vector<TransportConfig> transports{TransportConfig{}};
  std::vector<PredefinedTopic> predefined_topics;
  bool qos_minus_one_enabled = true;
  RetrySettings retry;
  AuthSettings auth;
  DiscoverySettings discovery;
  ForwarderSettings forwarders;
  SleepSettings sleep;
  PersistenceSettings persistence;
  StatsSettings stats;
  LogLevel log_level = LogLevel::info;

  bool operator==(const Config&) const = default;
};

// A config that cannot be used. `json_path` names the offending value ("transports[0].bind"),
// empty when the problem is the whole document (unreadable file, JSON syntax, not an object);
// `file` is set by load_config_file(). what() is "file: json_path: problem" without empty parts.
class ConfigError : public std::runtime_error {
 public:
  ConfigError(std::string json_path, std::string problem, std::string file = {});

  const std::string& json_path() const { return json_path_; }
  const std::string& problem() const { return problem_; }
  const std::string& file() const { return file_; }

 private:
  std::string json_path_;
  std::string problem_;
  std::string file_;
};

// Parses and validates a JSON document; throws ConfigError on the first problem found. Relative
// paths of files the gateway reads (upstream.tls) are taken from `base_dir`; empty: as written,
// from the current directory.
Config parse_config(std::string_view json_text, const std::filesystem::path& base_dir = {});

// Reads and parses a file; throws ConfigError (with file() set) when it cannot be read or is bad.
// Relative paths in it are taken from the file's directory.
Config load_config_file(const std::filesystem::path& file);

// The effective configuration as pretty JSON (2-space indent), every default written out, keys in
// the documented order, and a non-empty password shown as "***". parse_config() accepts the
// output and yields the same Config (but for the masked password).
std::string render_config(const Config& config);

// configs/schema.json as built into the gateway (JSON Schema draft 7): every key's type, range,
// default and meaning. parse_config() validates against it before anything else.
std::string_view schema_text();
// The key table of configs/README.md (with the sentence naming the keys a reload applies),
// generated from the schema: `cmake --build build --target config-doc` writes it there.
std::string key_table_markdown();
// The lines between which configs/README.md holds that table.
inline constexpr std::string_view kKeyTableBegin =
    "<!-- key table: generated from schema.json by `cmake --build build --target config-doc`; "
    "edit the schema, not the table -->";
inline constexpr std::string_view kKeyTableEnd = "<!-- end of the generated key table -->";

// SIGHUP reload: the keys whose effective value differs between two configurations, as JSON
// paths in the documented order ("upstream.uri", "transports": an array is one value; a password
// change shows only if one of them is empty, the rendering masks it).
std::vector<std::string> changed_keys(const Config& before, const Config& after);
// Whether a reload applies a change of the key at `path` while clients are served: the keys the
// schema marks "x-reload" (topics.predefined, the auth lists and ACL, stats.interval_s,
// log.level). Any other change needs a restart.
bool reloadable(std::string_view path);

std::string_view to_string(GatewayMode mode);
std::string_view to_string(LogLevel level);
std::string_view to_string(UpstreamScheme scheme);
std::string_view to_string(UpstreamClient client);
std::string_view to_string(Durability durability);
std::string_view to_string(SerialParity parity);
std::string_view to_string(SerialFlowControl flow_control);
std::string_view to_string(SerialFraming framing);
// "udp", "serial", "rfcomm", "l2cap".
std::string_view type_name(const TransportSettings& settings);

}  // namespace gateway::config
