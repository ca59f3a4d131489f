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
  active,        // CONNACK accepted sent; supervised by the keep-alive timer (§6.11)
  asleep,        // DISCONNECT with a duration acknowledged; supervised by the sleep timer (§6.14)
  awake,         // wake-up PINGREQ seen: buffered messages are going out, PINGRESP closes (§6.14)
  disconnected,  // plain DISCONNECT; kept only for CleanSession=false (§6.3)
  lost,          // keep-alive or sleep timer expired, or retries exhausted; as disconnected
};

enum class Disposition : std::uint8_t {
  handle,      // run the message's handler
  ignore,      // drop it (counted as unexpected): it has no meaning in this state
  disconnect,  // answer DISCONNECT: the gateway has no connection for this client (§6.12)
};

// Asleep or awake (§6.14): the session, its upstream connection and subscriptions live on, and
// messages from the broker wait in the sleep buffer.
constexpr bool is_sleeping(ClientState state) {
  return state == ClientState::asleep || state == ClientState::awake;
}

Disposition disposition(ClientState state, sn::MsgType type);
const char* to_string(ClientState state);

}  // namespace gateway::core
