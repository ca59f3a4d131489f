#pragma once
// MQTT 5.0 §2.2.2 properties: which packet may carry which (Table 2-4 in §2.2.2.2), how each is
// read and written. MQTT 3.1.1 has no properties: callers skip these functions for it.

#include <cstdint>

#include "mqtt_codec/packet.hpp"
#include "wire.hpp"

namespace mqtt_codec::props {

// Where a property block sits: one per row of Table 2-4's "Packet / Will Properties" column. The
// four publish acknowledgements share one set.
enum class Context : std::uint8_t {
  connect,
  will,
  connack,
  publish,
  ack,
  subscribe,
  suback,
  unsubscribe,
  unsuback,
  disconnect,
  auth,
};

// Reads a Property Length and the properties it covers into `out` (which starts empty).
wire::Status decode(wire::Reader& r, Context context, Properties& out);

// Writes the Property Length and the properties. Asserts that every property is allowed in
// `context` (a caller bug otherwise).
void encode(const Properties& properties, Context context, wire::Sink& sink);

bool empty(const Properties& properties);

}  // namespace mqtt_codec::props
