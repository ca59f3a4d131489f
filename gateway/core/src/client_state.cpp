#include "client_state.hpp"

#include <array>
#include <cstddef>

namespace gateway::core {
namespace {

using sn::MsgType;
constexpr auto H = Disposition::handle;
constexpr auto I = Disposition::ignore;
constexpr auto D = Disposition::disconnect;

struct Row {
  MsgType type;
  // will_topic, will_msg, connecting, active, asleep, awake, disconnected, lost
  std::array<Disposition, 8> by_state;
};

// Messages a client sends to a gateway. CONNECT restarts the connection from any state (§6.2);
// until CONNACK only the will handshake (and a DISCONNECT that abandons it) means anything; after
// DISCONNECT the client must CONNECT again (§6.12). Everything else a client sends, and every
// gateway-to-client message, is ignored.
//
// A sleeping client (§6.14) may wake up with PINGREQ, change its sleep duration or leave with
// DISCONNECT, and come back with CONNECT. It may also settle exchanges already under way (the acks
// of a flush, PUBREL of its own QoS 2 PUBLISH). Anything it asks of the broker while asleep or
// awake gets DISCONNECT (§6.12): it has no connection to send on until it CONNECTs again (§6.14
// "otherwise, it should return to the active state by sending a CONNECT"). QoS -1 PUBLISH needs no
// connection and never reaches this table.
static_assert(static_cast<std::size_t>(ClientState::lost) + 1 == 8, "one column per state");

constexpr std::array kTable{
    Row{MsgType::connect, {H, H, H, H, H, H, H, H}},
    Row{MsgType::willtopic, {H, H, I, I, I, I, I, I}},  // again in will_msg: WILLMSGREQ was lost
    Row{MsgType::willmsg, {I, H, I, I, I, I, I, I}},
    Row{MsgType::reg, {I, I, I, H, D, D, D, D}},
    Row{MsgType::regack, {I, I, I, H, H, H, D, D}},
    Row{MsgType::publish, {I, I, I, H, D, D, D, D}},
    Row{MsgType::puback, {I, I, I, H, H, H, D, D}},
    Row{MsgType::pubrec, {I, I, I, H, H, H, D, D}},
    Row{MsgType::pubrel, {I, I, I, H, H, H, D, D}},
    Row{MsgType::pubcomp, {I, I, I, H, H, H, D, D}},
    Row{MsgType::subscribe, {I, I, I, H, D, D, D, D}},
    Row{MsgType::unsubscribe, {I, I, I, H, D, D, D, D}},
    Row{MsgType::pingreq, {I, I, I, H, H, H, D, D}},
    Row{MsgType::disconnect, {H, H, H, H, H, H, H, H}},
    Row{MsgType::willtopicupd, {I, I, I, H, D, D, D, D}},
    Row{MsgType::willmsgupd, {I, I, I, H, D, D, D, D}},
};

}  // namespace

Disposition disposition(ClientState state, MsgType type) {
  for (const Row& row : kTable) {
    if (row.type == type) return row.by_state[static_cast<std::size_t>(state)];
  }
  return Disposition::ignore;
}

const char* to_string(ClientState state) {
  switch (state) {
    case ClientState::will_topic: return "awaiting WILLTOPIC";
    case ClientState::will_msg: return "awaiting WILLMSG";
    case ClientState::connecting: return "connecting upstream";
    case ClientState::active: return "active";
    case ClientState::asleep: return "asleep";
    case ClientState::awake: return "awake";
    case ClientState::disconnected: return "disconnected";
    case ClientState::lost: return "lost";
  }
  return "?";
}

}  // namespace gateway::core
