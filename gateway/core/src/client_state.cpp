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
  // will_topic, will_msg, connecting, active, disconnected
  std::array<Disposition, 5> by_state;
};

// Messages a client sends to a gateway. CONNECT restarts the connection from any state (§6.2);
// until CONNACK only the will handshake (and a DISCONNECT that abandons it) means anything; after
// DISCONNECT the client must CONNECT again (§6.12). Everything else a client sends, and every
// gateway-to-client message, is ignored.
constexpr std::array kTable{
    Row{MsgType::connect, {H, H, H, H, H}},
    Row{MsgType::willtopic, {H, H, I, I, I}},  // again in will_msg: our WILLMSGREQ was lost
    Row{MsgType::willmsg, {I, H, I, I, I}},
    Row{MsgType::reg, {I, I, I, H, D}},
    Row{MsgType::regack, {I, I, I, H, D}},
    Row{MsgType::publish, {I, I, I, H, D}},
    Row{MsgType::puback, {I, I, I, H, D}},
    Row{MsgType::pubrec, {I, I, I, H, D}},
    Row{MsgType::pubrel, {I, I, I, H, D}},
    Row{MsgType::pubcomp, {I, I, I, H, D}},
    Row{MsgType::subscribe, {I, I, I, H, D}},
    Row{MsgType::unsubscribe, {I, I, I, H, D}},
    Row{MsgType::pingreq, {I, I, I, H, D}},
    Row{MsgType::disconnect, {H, H, H, H, H}},
    Row{MsgType::willtopicupd, {I, I, I, H, D}},
    Row{MsgType::willmsgupd, {I, I, I, H, D}},
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
    case ClientState::disconnected: return "disconnected";
  }
  return "?";
}

}  // namespace gateway::core
