#pragma once
// The client state machine of MQTT-SN v1.2 as one table: for each state, what the gateway does
// with each message a client can send. Transitions themselves happen in the handlers the table
// selects (connect.cpp, uplink.cpp, downlink.cpp).

#include <cstdint>

#include "sn_protocol/packet.hpp"

namespace gateway::core {

enum class ClientState : std::uint8_t {
  will_topic,    // CONNECT with Will flag seen, WILLTOPICREQ sent (§6.2)
  will_msg,      // WILLTOPIC seen, WILLMSGREQ sent
  connecting,    // waiting for the upstream connection before CONNACK
  active,        // CONNACK accepted sent
  disconnected,  // DISCONNECT or lost; kept only for CleanSession=false (§6.3)
};

enum class Disposition : std::uint8_t {
  handle,      // run the message's handler
  ignore,      // drop it (counted as unexpected): it has no meaning in this state
  disconnect,  // answer DISCONNECT: the gateway has no connection for this client (§6.12)
};

Disposition disposition(ClientState state, sn::MsgType type);
const char* to_string(ClientState state);

}  // namespace gateway::core
