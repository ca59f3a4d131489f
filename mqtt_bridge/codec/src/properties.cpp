#include "properties.hpp"

#include <array>
#include <cassert>
#include <optional>
#include <string>
#include <vector>

namespace mqtt_codec::props {
namespace {

using wire::Reader;
using wire::Sink;
using wire::Status;

constexpr std::uint64_t bit(unsigned id) { return std::uint64_t{1} << id; }

// MQTT 5.0 §2.2.2.2 Table 2-4, read by column: the identifiers each context may carry.
constexpr std::uint64_t kUser = bit(0x26);
constexpr std::uint64_t kReason = bit(0x1F);
constexpr std::uint64_t kMessage = bit(0x01) | bit(0x02) | bit(0x03) | bit(0x08) | bit(0x09);
constexpr std::uint64_t kAuth = bit(0x15) | bit(0x16);

constexpr std::uint64_t allowed(Context context) {
  switch (context) {
    case Context::connect:
      return kUser | kAuth | bit(0x11) | bit(0x17) | bit(0x19) | bit(0x21) | bit(0x22) | bit(0x27);
    case Context::will: return kUser | kMessage | bit(0x18);
    case Context::connack:
      return kUser | kReason | kAuth | bit(0x11) | bit(0x12) | bit(0x13) | bit(0x1A) | bit(0x1C) |
             bit(0x21) | bit(0x22) | bit(0x24) | bit(0x25) | bit(0x27) | bit(0x28) | bit(0x29) |
             bit(0x2A);
    case Context::publish: return kUser | kMessage | bit(0x0B) | bit(0x23);
    case Context::ack:
    case Context::suback:
    case Context::unsuback: return kUser | kReason;
    case Context::subscribe: return kUser | bit(0x0B);
    case Context::unsubscribe: return kUser;
    case Context::disconnect: return kUser | kReason | bit(0x11) | bit(0x1C);
    case Context::auth: return kUser | kReason | kAuth;
  }
  return 0;
}

// Calls f(field) with the member that holds property `id`; false for an unknown identifier.
// Templated on constness so decode and encode share the one id -> member table.
template <typename P, typename F>
bool with_field(P& p, std::uint8_t id, F&& f) {
  switch (id) {
    case 0x01: f(p.payload_format_indicator); return true;
    case 0x02: f(p.message_expiry_interval); return true;
    case 0x03: f(p.content_type); return true;
    case 0x08: f(p.response_topic); return true;
    case 0x09: f(p.correlation_data); return true;
    case 0x0B: f(p.subscription_identifiers); return true;
    case 0x11: f(p.session_expiry_interval); return true;
    case 0x12: f(p.assigned_client_identifier); return true;
    case 0x13: f(p.server_keep_alive); return true;
    case 0x15: f(p.authentication_method); return true;
    case 0x16: f(p.authentication_data); return true;
    case 0x17: f(p.request_problem_information); return true;
    case 0x18: f(p.will_delay_interval); return true;
    case 0x19: f(p.request_response_information); return true;
    case 0x1A: f(p.response_information); return true;
    case 0x1C: f(p.server_reference); return true;
    case 0x1F: f(p.reason_string); return true;
    case 0x21: f(p.receive_maximum); return true;
    case 0x22: f(p.topic_alias_maximum); return true;
    case 0x23: f(p.topic_alias); return true;
    case 0x24: f(p.maximum_qos); return true;
    case 0x25: f(p.retain_available); return true;
    case 0x26: f(p.user_properties); return true;
    case 0x27: f(p.maximum_packet_size); return true;
    case 0x28: f(p.wildcard_subscription_available); return true;
    case 0x29: f(p.subscription_identifier_available); return true;
    case 0x2A: f(p.shared_subscription_available); return true;
    default: return false;
  }
}

// Identifiers in the order encode() writes them.
constexpr std::array<std::uint8_t, 27> kIds{0x01, 0x02, 0x03, 0x08, 0x09, 0x0B, 0x11, 0x12, 0x13,
                                            0x15, 0x16, 0x17, 0x18, 0x19, 0x1A, 0x1C, 0x1F, 0x21,
                                            0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28, 0x29, 0x2A};

// Values MQTT 5.0 calls a Protocol Error: every one-octet property is 0 or 1 (§3.1.2.11.6/7,
// §3.2.2.3.4/5/11/12/13, §3.3.2.3.2), and these may not be 0: Subscription Identifier
// (§3.3.2.3.8), Receive Maximum (§3.1.2.11.3), Topic Alias (§3.3.2.3.4), Maximum Packet Size
// (§3.1.2.11.4).
bool must_be_non_zero(std::uint8_t id) {
  return id == 0x0B || id == 0x21 || id == 0x23 || id == 0x27;
}

Status read_value(Reader& r, std::uint8_t, std::optional<std::uint8_t>& out) {
  std::uint8_t v = 0;
  if (auto e = r.u8(v)) return e;
  if (v > 1) return DecodeError::bad_property;
  out = v;
  return std::nullopt;
}

Status read_value(Reader& r, std::uint8_t id, std::optional<std::uint16_t>& out) {
  std::uint16_t v = 0;
  if (auto e = r.u16(v)) return e;
  if (v == 0 && must_be_non_zero(id)) return DecodeError::bad_property;
  out = v;
  return std::nullopt;
}

Status read_value(Reader& r, std::uint8_t id, std::optional<std::uint32_t>& out) {
  std::uint32_t v = 0;
  if (auto e = r.u32(v)) return e;
  if (v == 0 && must_be_non_zero(id)) return DecodeError::bad_property;
  out = v;
  return std::nullopt;
}

Status read_value(Reader& r, std::uint8_t, std::optional<std::string>& out) {
  std::string v;
  if (auto e = r.utf8(v)) return e;
  out = std::move(v);
  return std::nullopt;
}

Status read_value(Reader& r, std::uint8_t, std::optional<Bytes>& out) {
  Bytes v;
  if (auto e = r.binary(v)) return e;
  out = std::move(v);
  return std::nullopt;
}

// Only the Subscription Identifier is a list of variable byte integers.
Status read_value(Reader& r, std::uint8_t id, std::vector<std::uint32_t>& out) {
  std::uint32_t v = 0;
  if (auto e = r.varint(v, DecodeError::bad_property)) return e;
  if (v == 0 && must_be_non_zero(id)) return DecodeError::bad_property;
  out.push_back(v);
  return std::nullopt;
}

Status read_value(Reader& r, std::uint8_t, std::vector<UserProperty>& out) {
  UserProperty v;
  if (auto e = r.utf8(v.name)) return e;
  if (auto e = r.utf8(v.value)) return e;
  out.push_back(std::move(v));
  return std::nullopt;
}

template <typename T>
bool present(const std::optional<T>& field) {
  return field.has_value();
}
template <typename T>
bool present(const std::vector<T>& field) {
  return !field.empty();
}

// §2.2.2.2: "It is a Protocol Error to include [a property] more than once", except user
// properties and the Subscription Identifiers a server puts on one PUBLISH (§3.3.2.3.8).
template <typename T>
bool may_repeat(const std::optional<T>&, Context) {
  return false;
}
inline bool may_repeat(const std::vector<std::uint32_t>&, Context context) {
  return context == Context::publish;
}
inline bool may_repeat(const std::vector<UserProperty>&, Context) { return true; }

void write_value(Sink& s, std::uint8_t id, const std::optional<std::uint8_t>& v) {
  if (!v) return;
  assert(*v <= 1 && "MQTT 5.0 §2.2.2.2: one-octet properties are 0 or 1");
  s.u8(id);
  s.u8(*v);
}
void write_value(Sink& s, std::uint8_t id, const std::optional<std::uint16_t>& v) {
  if (!v) return;
  assert((*v != 0 || !must_be_non_zero(id)) && "MQTT 5.0 §2.2.2.2: this property is never 0");
  s.u8(id);
  s.u16(*v);
}
void write_value(Sink& s, std::uint8_t id, const std::optional<std::uint32_t>& v) {
  if (!v) return;
  assert((*v != 0 || !must_be_non_zero(id)) && "MQTT 5.0 §2.2.2.2: this property is never 0");
  s.u8(id);
  s.u32(*v);
}
void write_value(Sink& s, std::uint8_t id, const std::optional<std::string>& v) {
  if (!v) return;
  s.u8(id);
  s.utf8(*v);
}
void write_value(Sink& s, std::uint8_t id, const std::optional<Bytes>& v) {
  if (!v) return;
  s.u8(id);
  s.binary(*v);
}
void write_value(Sink& s, std::uint8_t id, const std::vector<std::uint32_t>& values) {
  for (const std::uint32_t v : values) {
    assert(v != 0 && "MQTT 5.0 §3.3.2.3.8: a Subscription Identifier is never 0");
    s.u8(id);
    s.varint(v);
  }
}
void write_value(Sink& s, std::uint8_t id, const std::vector<UserProperty>& values) {
  for (const UserProperty& v : values) {
    s.u8(id);
    s.utf8(v.name);
    s.utf8(v.value);
  }
}

void write_all(const Properties& properties, Context context, Sink& sink) {
  assert((context != Context::subscribe || properties.subscription_identifiers.size() <= 1) &&
         "MQTT 5.0 §3.8.2.1.2: SUBSCRIBE carries one Subscription Identifier at most");
  assert((!properties.authentication_data || properties.authentication_method) &&
         "MQTT 5.0 §3.1.2.11.10: Authentication Data needs an Authentication Method");
  for (const std::uint8_t id : kIds) {
    with_field(properties, id, [&](const auto& field) {
      assert((!present(field) || (allowed(context) & bit(id)) != 0) &&
             "MQTT 5.0 §2.2.2.2 Table 2-4: this packet may not carry this property");
      write_value(sink, id, field);
    });
  }
  (void)context;  // read by the asserts only
}

}  // namespace

Status decode(Reader& r, Context context, Properties& out) {
  std::uint32_t length = 0;
  if (auto e = r.varint(length, DecodeError::bad_property)) return e;
  Reader block(wire::Span{});
  if (auto e = r.sub(length, block)) return e;
  while (!block.empty()) {
    // §2.2.2.2: the identifier is a variable byte integer; every defined one fits one octet.
    std::uint32_t id = 0;
    if (auto e = block.varint(id, DecodeError::bad_property)) return e;
    if (id > 0xFF) return DecodeError::bad_property;
    const auto id8 = static_cast<std::uint8_t>(id);
    Status status;
    const bool known = with_field(out, id8, [&](auto& field) {
      if ((allowed(context) & bit(id8)) == 0) {
        status = DecodeError::property_not_allowed;
      } else if (present(field) && !may_repeat(field, context)) {
        status = DecodeError::duplicate_property;
      } else {
        status = read_value(block, id8, field);
      }
    });
    if (!known) return DecodeError::bad_property;
    if (status) return status;
  }
  // §3.1.2.11.10, §3.15.2.2.3: Authentication Data without an Authentication Method.
  if (out.authentication_data && !out.authentication_method) return DecodeError::bad_property;
  return std::nullopt;
}

void encode(const Properties& properties, Context context, Sink& sink) {
  Sink counter(nullptr);
  write_all(properties, context, counter);
  assert(counter.size() <= wire::kMaxVarint);
  sink.varint(static_cast<std::uint32_t>(counter.size()));
  write_all(properties, context, sink);
}

bool empty(const Properties& properties) { return properties == Properties{}; }

}  // namespace mqtt_codec::props
