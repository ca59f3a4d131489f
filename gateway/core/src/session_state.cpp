#include "session_state.hpp"

#include <array>
#include <cstddef>

namespace gateway::core {
namespace {

using K = StateKind;
constexpr Targets WT = to(K::will_topic);
constexpr Targets WM = to(K::will_msg);
constexpr Targets C = to(K::connecting);
constexpr Targets A = to(K::active);
constexpr Targets S = to(K::asleep);
constexpr Targets W = to(K::awake);
constexpr Targets D = to(K::disconnected);
constexpr Targets L = to(K::lost);
constexpr Targets G = kGone;

constexpr Rule H(Targets next = 0) { return Rule{Disposition::handle, next}; }
constexpr Rule I{Disposition::ignore, 0};
constexpr Rule X{Disposition::disconnect, 0};
// The will handshake (§6.2) takes only the WILLTOPIC or WILLMSG it asked for: anything else ends
// the attempt with DISCONNECT (a CleanSession=false session from before stays disconnected).
constexpr Rule B{Disposition::abort, D | G};

struct Row {
  Input input;
  // will_topic, will_msg, connecting, active, asleep, awake, disconnected, lost
  std::array<Rule, kStateCount> by_state;
};

// Frames. CONNECT restarts the connection from any state (§6.2): the will handshake, the upstream
// connection, or at once in aggregating mode; a refusal ends the attempt (a CleanSession=false
// session from before stays disconnected). Until CONNACK only the will handshake (and a
// DISCONNECT that abandons it) means anything; after DISCONNECT the client must CONNECT again
// (§6.12); the will handshake is aborted by anything but what it asked for (a WILLTOPIC again
// while WILLMSG is awaited is taken: the WILLMSGREQ was lost). Gateway-to-client messages a
// client sends are not inputs at all.
//
// A sleeping client (§6.14) may wake up with PINGREQ, change its sleep duration or leave with
// DISCONNECT, and come back with CONNECT. It may also settle exchanges already under way (the acks
// of a flush, PUBREL of its own QoS 2 PUBLISH); an ack that empties the flush puts it back asleep.
// Anything it asks of the broker while asleep or awake gets DISCONNECT (§6.12): it has no
// connection to send on until it CONNECTs again (§6.14 "otherwise, it should return to the active
// state by sending a CONNECT"). QoS -1 PUBLISH and SEARCHGW need no session and never reach this
// table; neither does a PINGREQ naming a client that is not asleep here.
//
// Upstream events concern the session's own connection: the one it connects with, the one a will
// update opens (§6.4), the one a sleeper's wake-up opens again, the one an outage reconnects. A
// failure before CONNACK refuses the client; an active client's connection that drops is set up
// again while the client stays (transparent mode); a released sleeper stays asleep (the broker
// keeps its messages); otherwise the session ends with DISCONNECT.
//
// Timers: keep-alive (§6.11) and sleep (§6.14) supervision lose the client, T_retry resends or
// loses it (§6.13), the will handshake times out, and the wake-up backlog settles.
constexpr Targets kConnectTo = WT | C | A | D | G;
constexpr std::array kTable{
    //      will_topic      will_msg        connecting  active        asleep     awake        disconnected lost
    Row{Input::connect, {H(kConnectTo), H(kConnectTo), H(kConnectTo), H(kConnectTo), H(kConnectTo),
                         H(kConnectTo), H(kConnectTo), H(kConnectTo)}},
    // Again in will_msg: the WILLMSGREQ was lost.
    Row{Input::willtopic, {H(WM | C | A | D | G), H(C | A | D | G), I, I, I, I, I, I}},
    Row{Input::willmsg, {B, H(C | A | D | G), I, I, I, I, I, I}},
    Row{Input::reg, {B, B, I, H(), X, X, X, X}},
    Row{Input::regack, {B, B, I, H(), H(), H(S), X, X}},
    Row{Input::publish, {B, B, I, H(), X, X, X, X}},
    Row{Input::puback, {B, B, I, H(), H(), H(S), X, X}},
    Row{Input::pubrec, {B, B, I, H(), H(), H(), X, X}},
    Row{Input::pubrel, {B, B, I, H(), H(), H(), X, X}},
    Row{Input::pubcomp, {B, B, I, H(), H(), H(S), X, X}},
    Row{Input::subscribe, {B, B, I, H(), X, X, X, X}},
    Row{Input::unsubscribe, {B, B, I, H(), X, X, X, X}},
    // Asleep: the wake-up, and PINGRESP at once when nothing is buffered.
    Row{Input::pingreq, {B, B, I, H(), H(W), H(S), X, X}},
    // A duration puts a connected client asleep or changes a sleeper's duration; none ends it.
    Row{Input::disconnect, {H(D | G), H(D | G), H(D | G), H(S | D | G), H(D | G), H(S | D | G),
                            H(), H(D)}},
    Row{Input::willtopicupd, {B, B, I, H(), X, X, X, X}},
    Row{Input::willmsgupd, {B, B, I, H(), X, X, X, X}},

    // Connecting: CONNACK. Active: the connection carrying an updated will is up. Awake: the
    // released connection is up again and the backlog comes.
    Row{Input::upstream_connected, {I, I, H(A), H(), I, H(), I, I}},
    // Asleep and awake: a released sleeper stays asleep; any other sleeper is disconnected.
    Row{Input::upstream_failed, {I, I, H(D | G), H(D | G), H(D | G), H(S | D | G), I, I}},
    Row{Input::upstream_disconnected, {I, I, I, H(), I, I, I, I}},
    // Connecting: queued for after CONNACK. Away: aggregating mode keeps QoS 1/2 for the return.
    Row{Input::upstream_message, {I, I, H(), H(), H(), H(S), H(), H()}},
    Row{Input::upstream_done, {I, I, I, H(), I, I, I, I}},

    Row{Input::keep_alive_timer, {I, I, I, H(L | G), I, I, I, I}},
    Row{Input::retry_timer, {I, I, I, H(L | G), I, H(L | G), I, I}},
    Row{Input::handshake_timer, {H(D | G), H(D | G), I, I, I, I, I, I}},
    Row{Input::sleep_timer, {I, I, I, I, H(L | G), I, I, I}},
    // An active client's upstream connection is tried again after an outage.
    Row{Input::reconnect_timer, {I, I, I, H(), I, I, I, I}},
    Row{Input::settle_timer, {I, I, I, I, I, H(S), I, I}},

    Row{Input::transport_down, {H(L | G), H(L | G), H(L | G), H(L | G), H(L | G), H(L | G), I, I}},
    Row{Input::displaced, {H(D | G), H(D | G), H(D | G), H(D | G), H(D | G), H(D | G), H(D | G),
                           H(D | G)}},
};

constexpr bool one_row_per_input() {
  for (std::size_t i = 0; i < kTable.size(); ++i) {
    if (static_cast<std::size_t>(kTable[i].input) != i) return false;
  }
  return kTable.size() == kInputCount;
}
static_assert(one_row_per_input(), "kTable has one row per Input, in the order of the enum");

}  // namespace

Rule rule(Input input, StateKind k) {
  return kTable[static_cast<std::size_t>(input)].by_state[static_cast<std::size_t>(k)];
}

std::optional<Input> input_of(sn::MsgType type) {
  switch (type) {
    case sn::MsgType::connect: return Input::connect;
    case sn::MsgType::willtopic: return Input::willtopic;
    case sn::MsgType::willmsg: return Input::willmsg;
    case sn::MsgType::reg: return Input::reg;
    case sn::MsgType::regack: return Input::regack;
    case sn::MsgType::publish: return Input::publish;
    case sn::MsgType::puback: return Input::puback;
    case sn::MsgType::pubrec: return Input::pubrec;
    case sn::MsgType::pubrel: return Input::pubrel;
    case sn::MsgType::pubcomp: return Input::pubcomp;
    case sn::MsgType::subscribe: return Input::subscribe;
    case sn::MsgType::unsubscribe: return Input::unsubscribe;
    case sn::MsgType::pingreq: return Input::pingreq;
    case sn::MsgType::disconnect: return Input::disconnect;
    case sn::MsgType::willtopicupd: return Input::willtopicupd;
    case sn::MsgType::willmsgupd: return Input::willmsgupd;
    default: return std::nullopt;
  }
}

const char* to_string(StateKind k) {
  switch (k) {
    case StateKind::will_topic: return "awaiting WILLTOPIC";
    case StateKind::will_msg: return "awaiting WILLMSG";
    case StateKind::connecting: return "connecting upstream";
    case StateKind::active: return "active";
    case StateKind::asleep: return "asleep";
    case StateKind::awake: return "awake";
    case StateKind::disconnected: return "disconnected";
    case StateKind::lost: return "lost";
  }
  return "?";
}

const char* to_string(Input input) {
  switch (input) {
    case Input::connect: return "CONNECT";
    case Input::willtopic: return "WILLTOPIC";
    case Input::willmsg: return "WILLMSG";
    case Input::reg: return "REGISTER";
    case Input::regack: return "REGACK";
    case Input::publish: return "PUBLISH";
    case Input::puback: return "PUBACK";
    case Input::pubrec: return "PUBREC";
    case Input::pubrel: return "PUBREL";
    case Input::pubcomp: return "PUBCOMP";
    case Input::subscribe: return "SUBSCRIBE";
    case Input::unsubscribe: return "UNSUBSCRIBE";
    case Input::pingreq: return "PINGREQ";
    case Input::disconnect: return "DISCONNECT";
    case Input::willtopicupd: return "WILLTOPICUPD";
    case Input::willmsgupd: return "WILLMSGUPD";
    case Input::upstream_connected: return "upstream connected";
    case Input::upstream_failed: return "upstream failed";
    case Input::upstream_disconnected: return "upstream disconnected";
    case Input::upstream_message: return "upstream message";
    case Input::upstream_done: return "upstream request done";
    case Input::keep_alive_timer: return "keep-alive timer";
    case Input::retry_timer: return "retry timer";
    case Input::handshake_timer: return "will handshake timer";
    case Input::sleep_timer: return "sleep timer";
    case Input::reconnect_timer: return "reconnect timer";
    case Input::settle_timer: return "settle timer";
    case Input::transport_down: return "transport down";
    case Input::displaced: return "displaced";
  }
  return "?";
}

}  // namespace gateway::core
