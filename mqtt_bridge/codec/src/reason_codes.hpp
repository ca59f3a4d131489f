#pragma once
// Which reason/return codes each packet may carry. Anything else decodes as bad_reason_code.

#include <cstdint>

#include "mqtt_codec/packet.hpp"

namespace mqtt_codec::reasons {

// MQTT 5.0: the table in the packet's own section (§3.2.2.2, §3.4.2.1, §3.5.2.1, §3.6.2.1,
// §3.7.2.1, §3.9.3, §3.11.3, §3.14.2.1, §3.15.2.1). MQTT 3.1.1: CONNACK return codes 0..5
// (§3.2.2.3) and SUBACK return codes 0, 1, 2, 0x80 (§3.9.3); the other 3.1.1 packets have none.
bool allowed(PacketType type, Version version, std::uint8_t code);

}  // namespace mqtt_codec::reasons
