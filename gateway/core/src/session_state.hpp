#pragma once
// A client session's state as one value, and its transitions as one table (STYLE.md §1, as h11's
// _state.py): SessionState is a variant of per-state structs, each holding exactly what that state
// needs; kTable (session_state.cpp) says, for every (state, input) pair, whether the input means
// anything there and which states it may lead to. Inputs are the frames a client sends, the
// upstream events of the session's connection, its timers, and the loss of its transport.
//
// The handlers (connect.cpp, uplink.cpp, downlink.cpp, sleep.cpp, will.cpp) choose among the
// states the table allows, from the content of the input; every change of state goes through
// Core::Impl::enter(), which refuses (counts and logs) any change the table does not list.

#include <chrono>
#include <cstdint>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <variant>
#include <vector>

#include "gateway/core/events.hpp"
#include "sn_protocol/packet.hpp"

namespace gateway::core {

namespace state {

// §6.2: CONNECT with the Will flag seen, WILLTOPICREQ sent. `resumed`: a CleanSession=false
// session from an earlier connection exists (kept as disconnected if this attempt fails).
struct WillTopic {
  bool resumed = false;
};
// WILLTOPIC seen, WILLMSGREQ sent.
struct WillMsg {
  bool resumed = false;
};
// Waiting for the upstream connection before CONNACK. Transparent mode only: aggregating mode
// answers at once from the shared connection.
struct Connecting {
  bool resumed = false;
  std::optional<ConnId> conn;  // none only for a session just made, before it is asked for
};

// §6.4, transparent mode: the upstream connection is replaced to carry an updated will.
//   closing  the old connection (`retiring`) gets a clean DISCONNECT; the session has no other;
//   opening  a new one with the new will is connecting (the session's `conn`).
struct WillChange {
  enum class Stage : std::uint8_t { closing, opening };
  Stage stage = Stage::closing;
  std::optional<ConnId> retiring;      // closing only
  bool dirty = false;                  // opening: the will changed again meanwhile
  std::vector<sn::Message> resps;      // WILLTOPICRESP / WILLMSGRESP sent once done
  std::list<sn::Message> held;         // frames that need the new connection, in order
};

// Transparent mode: the client's upstream connection dropped (a broker restart, a network cut)
// and is being set up again with the same ClientId, will and CleanSession, with backoff. The
// client keeps its session meanwhile; what needs the broker is answered with congestion.
struct Outage {
  unsigned attempts = 0;     // failed attempts so far (the backoff's exponent)
  bool connecting = false;   // an attempt is under way (the session's `conn`)
  // CleanSession=false: filters the client unsubscribed from meanwhile, to undo at the broker.
  std::vector<std::string> unsubscribe_later;
};

// CONNACK accepted sent; supervised by the keep-alive timer (§6.11).
// The will change and the outage are rare and short: held by pointer, so that the state of the
// many idle clients stays small (aggregating mode: 100,000 clients at <= 1 KiB each).
struct Active {
  // Transparent mode; none while a will change closes the old one or while an outage waits for
  // its next attempt.
  std::optional<ConnId> conn;
  std::unique_ptr<WillChange> change;
  std::unique_ptr<Outage> outage;
  std::chrono::milliseconds since{0};  // when CONNACK accepted went out
};

// §6.14, transparent mode, CleanSession=false with release_sleeper_upstream: how the upstream
// connection of a sleeping client stands.
enum class Fetch : std::uint8_t {
  none,        // no backlog expected
  connecting,  // awake: the released connection is being opened again
  draining,    // awake: the broker's backlog is arriving until it has been quiet for wake_settle
};

// DISCONNECT with a duration acknowledged; supervised by the sleep timer (§6.14).
struct Asleep {
  std::uint16_t duration_s = 0;
  std::optional<ConnId> conn;  // transparent mode; none once released
};
// Wake-up PINGREQ seen: buffered messages are going out, PINGRESP closes the flush (§6.14).
struct Awake {
  std::uint16_t duration_s = 0;
  std::optional<ConnId> conn;  // transparent mode; none while released
  Fetch fetch = Fetch::none;
};

// Plain DISCONNECT; kept only for CleanSession=false (§6.3).
struct Disconnected {};
// Keep-alive or sleep timer expired, retries exhausted or the transport gone; kept as
// disconnected.
struct Lost {};

}  // namespace state

using SessionState =
    std::variant<state::WillTopic, state::WillMsg, state::Connecting, state::Active, state::Asleep,
                 state::Awake, state::Disconnected, state::Lost>;

// The variant's index, named: the columns of the table and the statistics' buckets.
enum class StateKind : std::uint8_t {
  will_topic,
  will_msg,
  connecting,
  active,
  asleep,
  awake,
  disconnected,
  lost,
};
inline constexpr std::size_t kStateCount = std::variant_size_v<SessionState>;
static_assert(kStateCount == static_cast<std::size_t>(StateKind::lost) + 1);
template <StateKind K, typename T>
constexpr bool kind_is =
    std::is_same_v<std::variant_alternative_t<static_cast<std::size_t>(K), SessionState>, T>;
static_assert(kind_is<StateKind::will_topic, state::WillTopic> &&
              kind_is<StateKind::will_msg, state::WillMsg> &&
              kind_is<StateKind::connecting, state::Connecting> &&
              kind_is<StateKind::active, state::Active> &&
              kind_is<StateKind::asleep, state::Asleep> && kind_is<StateKind::awake, state::Awake> &&
              kind_is<StateKind::disconnected, state::Disconnected> &&
              kind_is<StateKind::lost, state::Lost>,
              "StateKind names the alternatives of SessionState in order");

inline StateKind kind_of(const SessionState& s) { return static_cast<StateKind>(s.index()); }

// Asleep or awake (§6.14): the session, its subscriptions and (unless released) its upstream
// connection live on, and messages from the broker wait in the sleep buffer.
inline bool is_sleeping(StateKind k) { return k == StateKind::asleep || k == StateKind::awake; }
// Disconnected or lost: a CleanSession=false session kept for the client's return.
inline bool is_away(StateKind k) { return k == StateKind::disconnected || k == StateKind::lost; }
// Between CONNECT and CONNACK: what CoreConfig::max_connecting bounds.
inline bool is_connecting(StateKind k) {
  return k == StateKind::will_topic || k == StateKind::will_msg || k == StateKind::connecting;
}

// What drives a session: a frame from its client, an event of its upstream connection, one of its
// timers, or the loss of its transport.
enum class Input : std::uint8_t {
  // frames (§5.4)
  connect,
  willtopic,
  willmsg,
  reg,
  regack,
  publish,
  puback,
  pubrec,
  pubrel,
  pubcomp,
  subscribe,
  unsubscribe,
  pingreq,
  disconnect,
  willtopicupd,
  willmsgupd,
  // upstream events of the session's own connection (a connection it let go of is not its input)
  upstream_connected,
  upstream_failed,  // UpstreamConnectFailed or UpstreamConnectionLost
  upstream_disconnected,
  upstream_message,
  upstream_done,  // a publish, subscribe or unsubscribe request completed
  // timers
  keep_alive_timer,
  retry_timer,
  handshake_timer,
  sleep_timer,
  reconnect_timer,
  settle_timer,
  // the client's transport went down
  transport_down,
  // another client took over this client's address, or this client's id woke elsewhere
  displaced,
};
inline constexpr std::size_t kInputCount = static_cast<std::size_t>(Input::displaced) + 1;

enum class Disposition : std::uint8_t {
  handle,      // run the handler
  ignore,      // drop it (a frame is counted as unexpected): it has no meaning in this state
  disconnect,  // a frame: answer DISCONNECT, the gateway has no connection for it (§6.12)
  abort,       // a frame out of turn in the will handshake: DISCONNECT, and the attempt ends
};

// Where a transition may lead: a set of StateKind, plus `gone` (the session is forgotten).
using Targets = std::uint16_t;
inline constexpr Targets kGone = Targets{1} << kStateCount;
constexpr Targets to(StateKind k) { return static_cast<Targets>(Targets{1} << static_cast<unsigned>(k)); }

struct Rule {
  Disposition what = Disposition::ignore;
  Targets next = 0;  // the states (other than its own) the input may lead to from this state
};

// The table's cell for `input` in state `k`.
Rule rule(Input input, StateKind k);
// A frame's input, or nullopt for frames that never reach a session (SEARCHGW, GWINFO, ...).
std::optional<Input> input_of(sn::MsgType type);
const char* to_string(StateKind k);
const char* to_string(Input input);

}  // namespace gateway::core
