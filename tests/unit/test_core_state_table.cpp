// The session transition table (gateway/core/src/session_state.cpp) against the rules of the
// specification it encodes. The handlers' every change of state is checked against the same
// table in every core case (CoreFixture's destructor) and every integration case (the gateway's
// log).

#include <doctest/doctest.h>

#include <array>
#include <cstddef>
#include <set>
#include <string>

#include "session_state.hpp"

using gateway::core::Disposition;
using gateway::core::Input;
using gateway::core::kGone;
using gateway::core::kInputCount;
using gateway::core::kStateCount;
using gateway::core::rule;
using gateway::core::StateKind;
using gateway::core::Targets;
using gateway::core::to;

namespace {

StateKind kind(std::size_t i) { return static_cast<StateKind>(i); }
Input input(std::size_t i) { return static_cast<Input>(i); }

constexpr std::array kFrames{Input::connect,  Input::willtopic,    Input::willmsg,
                             Input::reg,      Input::regack,       Input::publish,
                             Input::puback,   Input::pubrec,       Input::pubrel,
                             Input::pubcomp,  Input::subscribe,    Input::unsubscribe,
                             Input::pingreq,  Input::disconnect,   Input::willtopicupd,
                             Input::willmsgupd};
// What a client asks of the broker.
constexpr std::array kRequests{Input::reg, Input::publish, Input::subscribe, Input::unsubscribe,
                               Input::willtopicupd, Input::willmsgupd};

}  // namespace

TEST_CASE("core state table: §6.2 CONNECT and §6.12 DISCONNECT mean something in every state") {
  for (std::size_t k = 0; k < kStateCount; ++k) {
    CAPTURE(std::string(to_string(kind(k))));
    CHECK(rule(Input::connect, kind(k)).what == Disposition::handle);
    CHECK(rule(Input::disconnect, kind(k)).what == Disposition::handle);
  }
}

TEST_CASE("core state table: §6.2 a session enters the will handshake or connecting only by CONNECT "
          "or the handshake itself") {
  for (std::size_t i = 0; i < kInputCount; ++i) {
    for (std::size_t k = 0; k < kStateCount; ++k) {
      CAPTURE(std::string(to_string(input(i))));
      CAPTURE(std::string(to_string(kind(k))));
      const Targets next = rule(input(i), kind(k)).next;
      if (input(i) != Input::connect) CHECK((next & to(StateKind::will_topic)) == 0);
      if (input(i) != Input::connect && input(i) != Input::willtopic &&
          input(i) != Input::willmsg) {
        CHECK((next & to(StateKind::connecting)) == 0);
        CHECK((next & to(StateKind::will_msg)) == 0);
      }
    }
  }
}

TEST_CASE("core state table: §6.12 requests from a client without a connection get DISCONNECT, "
          "§6.14 a sleeper must CONNECT before it asks the broker anything") {
  for (const Input request : kRequests) {
    CAPTURE(std::string(to_string(request)));
    CHECK(rule(request, StateKind::active).what == Disposition::handle);
    for (const StateKind k : {StateKind::asleep, StateKind::awake, StateKind::disconnected,
                              StateKind::lost}) {
      CAPTURE(std::string(to_string(k)));
      CHECK(rule(request, k).what == Disposition::disconnect);
    }
    // The will handshake takes only what it asked for; while the broker answers CONNECT,
    // nothing else means anything yet.
    CHECK(rule(request, StateKind::will_topic).what == Disposition::abort);
    CHECK(rule(request, StateKind::will_msg).what == Disposition::abort);
    CHECK(rule(request, StateKind::connecting).what == Disposition::ignore);
  }
}

TEST_CASE("core state table: §6.14 a sleeper wakes only by PINGREQ and sleeps again only when "
          "the flush ends") {
  for (std::size_t i = 0; i < kInputCount; ++i) {
    CAPTURE(std::string(to_string(input(i))));
    const bool wakes = (rule(input(i), StateKind::asleep).next & to(StateKind::awake)) != 0;
    CHECK(wakes == (input(i) == Input::pingreq));
  }
  // From awake: an ack or message that empties the flush, the settled backlog, a repeated
  // PINGREQ that finds nothing, a failed fetch, or a DISCONNECT with a new duration.
  const std::set<Input> to_sleep{Input::regack,          Input::puback,
                                 Input::pubcomp,         Input::pingreq,
                                 Input::disconnect,      Input::upstream_failed,
                                 Input::upstream_message, Input::settle_timer};
  for (std::size_t i = 0; i < kInputCount; ++i) {
    CAPTURE(std::string(to_string(input(i))));
    const bool sleeps = (rule(input(i), StateKind::awake).next & to(StateKind::asleep)) != 0;
    CHECK(sleeps == (to_sleep.count(input(i)) != 0));
  }
}

TEST_CASE("core state table: only supervision loses a client (§6.11 keep-alive, §6.13 retries, "
          "§6.14 sleep, a transport gone)") {
  const std::set<Input> losing{Input::keep_alive_timer, Input::retry_timer, Input::sleep_timer,
                               Input::transport_down};
  for (std::size_t i = 0; i < kInputCount; ++i) {
    for (std::size_t k = 0; k < kStateCount; ++k) {
      CAPTURE(std::string(to_string(input(i))));
      CAPTURE(std::string(to_string(kind(k))));
      const bool loses = (rule(input(i), kind(k)).next & to(StateKind::lost)) != 0;
      // A lost client that DISCONNECTs is disconnected; nothing else leads to lost.
      if (loses) CHECK(losing.count(input(i)) != 0);
    }
  }
}

TEST_CASE("core state table: every cell that leads somewhere is handled, and every state is "
          "reachable and can be left") {
  std::array<bool, kStateCount> reachable{};
  std::array<bool, kStateCount> leavable{};
  for (std::size_t i = 0; i < kInputCount; ++i) {
    for (std::size_t k = 0; k < kStateCount; ++k) {
      const auto cell = rule(input(i), kind(k));
      CAPTURE(std::string(to_string(input(i))));
      CAPTURE(std::string(to_string(kind(k))));
      // An aborted will handshake ends the attempt; ignoring or refusing changes nothing.
      if (cell.what == Disposition::abort) {
        CHECK(cell.next == (to(StateKind::disconnected) | kGone));
      } else if (cell.what != Disposition::handle) {
        CHECK(cell.next == 0);
      }
      CHECK(cell.next < (kGone << 1));
      for (std::size_t j = 0; j < kStateCount; ++j) {
        if ((cell.next & to(kind(j))) != 0) reachable[j] = true;
      }
      if (cell.next != 0) leavable[k] = true;
    }
  }
  for (std::size_t k = 0; k < kStateCount; ++k) {
    CAPTURE(std::string(to_string(kind(k))));
    CHECK(reachable[k]);
    CHECK(leavable[k]);
  }
  // Frames only gateways send never reach a session.
  CHECK_FALSE(gateway::core::input_of(sn::MsgType::advertise).has_value());
  CHECK_FALSE(gateway::core::input_of(sn::MsgType::gwinfo).has_value());
  CHECK_FALSE(gateway::core::input_of(sn::MsgType::connack).has_value());
  for (const Input frame : kFrames) CHECK(static_cast<std::size_t>(frame) < kInputCount);
}

TEST_CASE("core state table: §6.2 the will handshake takes only the WILLTOPIC / WILLMSG it asked "
          "for, CONNECT and DISCONNECT, anything else aborts it") {
  for (const Input frame : kFrames) {
    CAPTURE(std::string(to_string(frame)));
    const bool topic_ok = frame == Input::willtopic || frame == Input::connect ||
                          frame == Input::disconnect;
    // WILLTOPIC again while WILLMSG is awaited: the WILLMSGREQ was lost and the client resends.
    const bool msg_ok = topic_ok || frame == Input::willmsg;
    CHECK((rule(frame, StateKind::will_topic).what == Disposition::abort) == !topic_ok);
    CHECK((rule(frame, StateKind::will_msg).what == Disposition::abort) == !msg_ok);
  }
}
