#pragma once
// MQTT 3.1.1 and 5.0 control packets as values: one struct per packet type with operator==, one
// std::variant over them. What a field means and when it is present is MQTT 5.0 §3 (3.1.1 §3 is
// the same minus properties and reason codes). Pure C++20; links to nothing.

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace mqtt_codec {

using Bytes = std::vector<std::uint8_t>;

// The protocol level octet of CONNECT (3.1.1 §3.1.2.2, 5.0 §3.1.2.2). Every packet but CONNECT
// is decoded and encoded for the version the connection negotiated.
enum class Version : std::uint8_t { v311 = 4, v5 = 5 };

// Fixed header packet types (5.0 §2.1.2, Table 2-1).
enum class PacketType : std::uint8_t {
  connect = 1,
  connack = 2,
  publish = 3,
  puback = 4,
  pubrec = 5,
  pubrel = 6,
  pubcomp = 7,
  subscribe = 8,
  suback = 9,
  unsubscribe = 10,
  unsuback = 11,
  pingreq = 12,
  pingresp = 13,
  disconnect = 14,
  auth = 15,
};

// Reason codes used by the bridge by name (5.0 §2.4, Table 2-6); any other value passes through
// as the integer it is.
namespace reason {
inline constexpr std::uint8_t success = 0x00;  // also normal disconnection, granted QoS 0
inline constexpr std::uint8_t granted_qos_1 = 0x01;
inline constexpr std::uint8_t granted_qos_2 = 0x02;
inline constexpr std::uint8_t disconnect_with_will = 0x04;
inline constexpr std::uint8_t no_matching_subscribers = 0x10;
inline constexpr std::uint8_t unspecified_error = 0x80;
inline constexpr std::uint8_t malformed_packet = 0x81;
inline constexpr std::uint8_t protocol_error = 0x82;
inline constexpr std::uint8_t not_authorized = 0x87;
inline constexpr std::uint8_t server_unavailable = 0x88;
inline constexpr std::uint8_t server_busy = 0x89;
inline constexpr std::uint8_t bad_username_or_password = 0x86;
inline constexpr std::uint8_t keep_alive_timeout = 0x8D;
inline constexpr std::uint8_t session_taken_over = 0x8E;
inline constexpr std::uint8_t packet_id_not_found = 0x92;
inline constexpr std::uint8_t receive_maximum_exceeded = 0x93;
inline constexpr std::uint8_t quota_exceeded = 0x97;
}  // namespace reason

struct UserProperty {
  std::string name;
  std::string value;
  bool operator==(const UserProperty&) const = default;
};

// MQTT 5.0 §2.2.2.2 properties, by identifier. Absent = not sent. Decoding rejects a property the
// packet may not carry (5.0 §2.2.2.2: "MUST NOT" -> malformed) and a repeated one that may appear
// only once; only user properties (0x26) and, in PUBLISH, subscription identifiers (0x0B) repeat.
// In MQTT 3.1.1 every packet's properties are empty and nothing of them is on the wire.
struct Properties {
  std::optional<std::uint8_t> payload_format_indicator;           // 0x01 PUBLISH, will
  std::optional<std::uint32_t> message_expiry_interval;           // 0x02 PUBLISH, will
  std::optional<std::string> content_type;                        // 0x03 PUBLISH, will
  std::optional<std::string> response_topic;                      // 0x08 PUBLISH, will
  std::optional<Bytes> correlation_data;                          // 0x09 PUBLISH, will
  std::vector<std::uint32_t> subscription_identifiers;            // 0x0B PUBLISH (n), SUBSCRIBE (1)
  std::optional<std::uint32_t> session_expiry_interval;           // 0x11 CONNECT, CONNACK, DISCONNECT
  std::optional<std::string> assigned_client_identifier;          // 0x12 CONNACK
  std::optional<std::uint16_t> server_keep_alive;                 // 0x13 CONNACK
  std::optional<std::string> authentication_method;               // 0x15 CONNECT, CONNACK, AUTH
  std::optional<Bytes> authentication_data;                       // 0x16 CONNECT, CONNACK, AUTH
  std::optional<std::uint8_t> request_problem_information;        // 0x17 CONNECT
  std::optional<std::uint32_t> will_delay_interval;               // 0x18 will
  std::optional<std::uint8_t> request_response_information;       // 0x19 CONNECT
  std::optional<std::string> response_information;                // 0x1A CONNACK
  std::optional<std::string> server_reference;                    // 0x1C CONNACK, DISCONNECT
  std::optional<std::string> reason_string;                       // 0x1F acks, CONNACK, DISCONNECT, AUTH
  std::optional<std::uint16_t> receive_maximum;                   // 0x21 CONNECT, CONNACK
  std::optional<std::uint16_t> topic_alias_maximum;               // 0x22 CONNECT, CONNACK
  std::optional<std::uint16_t> topic_alias;                       // 0x23 PUBLISH
  std::optional<std::uint8_t> maximum_qos;                        // 0x24 CONNACK
  std::optional<std::uint8_t> retain_available;                   // 0x25 CONNACK
  std::vector<UserProperty> user_properties;                      // 0x26 all but PINGs
  std::optional<std::uint32_t> maximum_packet_size;               // 0x27 CONNECT, CONNACK
  std::optional<std::uint8_t> wildcard_subscription_available;    // 0x28 CONNACK
  std::optional<std::uint8_t> subscription_identifier_available;  // 0x29 CONNACK
  std::optional<std::uint8_t> shared_subscription_available;      // 0x2A CONNACK

  bool operator==(const Properties&) const = default;
};

struct Will {
  std::string topic;
  Bytes payload;
  std::uint8_t qos = 0;
  bool retain = false;
  Properties properties;  // 5.0 §3.1.3.2 will properties
  bool operator==(const Will&) const = default;
};

struct Connect {
  Version version = Version::v311;
  bool clean_start = true;  // 3.1.1: CleanSession
  std::uint16_t keep_alive = 0;
  std::string client_id;
  std::optional<Will> will;
  std::optional<std::string> username;
  std::optional<Bytes> password;
  Properties properties;
  bool operator==(const Connect&) const = default;
};

// 3.1.1: reason_code is the return code 0..5.
struct Connack {
  bool session_present = false;
  std::uint8_t reason_code = reason::success;
  Properties properties;
  bool operator==(const Connack&) const = default;
};

struct Publish {
  std::string topic;  // may be empty in MQTT 5 when a topic alias stands for it
  Bytes payload;
  std::uint8_t qos = 0;
  bool retain = false;
  bool dup = false;
  std::uint16_t packet_id = 0;  // QoS 1/2 only; never 0 there
  Properties properties;
  bool operator==(const Publish&) const = default;
};

// PUBACK, PUBREC, PUBREL, PUBCOMP (5.0 §3.4-§3.7): a packet id, and in MQTT 5 a reason code and
// properties, both left out on the wire when the code is 0x00 and there are no properties.
template <PacketType kType>
struct Ack {
  static constexpr PacketType type = kType;
  std::uint16_t packet_id = 0;
  std::uint8_t reason_code = reason::success;
  Properties properties;
  bool operator==(const Ack&) const = default;
};
using Puback = Ack<PacketType::puback>;
using Pubrec = Ack<PacketType::pubrec>;
using Pubrel = Ack<PacketType::pubrel>;
using Pubcomp = Ack<PacketType::pubcomp>;

// One topic filter with its subscription options (5.0 §3.8.3.1; 3.1.1 has only the QoS).
struct Subscription {
  std::string filter;
  std::uint8_t qos = 0;
  bool no_local = false;
  bool retain_as_published = false;
  std::uint8_t retain_handling = 0;  // 0..2
  bool operator==(const Subscription&) const = default;
};

struct Subscribe {
  std::uint16_t packet_id = 0;
  std::vector<Subscription> subscriptions;  // at least one
  Properties properties;
  bool operator==(const Subscribe&) const = default;
};

struct Suback {
  std::uint16_t packet_id = 0;
  std::vector<std::uint8_t> reason_codes;  // one per filter: granted QoS, or >= 0x80 a failure
  Properties properties;
  bool operator==(const Suback&) const = default;
};

struct Unsubscribe {
  std::uint16_t packet_id = 0;
  std::vector<std::string> filters;  // at least one
  Properties properties;
  bool operator==(const Unsubscribe&) const = default;
};

// 3.1.1 UNSUBACK has the packet id only: reason_codes stays empty.
struct Unsuback {
  std::uint16_t packet_id = 0;
  std::vector<std::uint8_t> reason_codes;
  Properties properties;
  bool operator==(const Unsuback&) const = default;
};

struct Pingreq {
  bool operator==(const Pingreq&) const = default;
};
struct Pingresp {
  bool operator==(const Pingresp&) const = default;
};

// 3.1.1 DISCONNECT has no variable header: reason_code stays 0 and properties empty.
struct Disconnect {
  std::uint8_t reason_code = reason::success;
  Properties properties;
  bool operator==(const Disconnect&) const = default;
};

// MQTT 5 only (5.0 §3.15).
struct Auth {
  std::uint8_t reason_code = reason::success;
  Properties properties;
  bool operator==(const Auth&) const = default;
};

using Packet = std::variant<Connect, Connack, Publish, Puback, Pubrec, Pubrel, Pubcomp, Subscribe,
                            Suback, Unsubscribe, Unsuback, Pingreq, Pingresp, Disconnect, Auth>;

PacketType type_of(const Packet& packet);
const char* to_string(PacketType type);

}  // namespace mqtt_codec
