#pragma once
// One upstream MQTT connection of the native client as a sans-I/O state machine: requests and the
// broker's bytes go in, bytes to write, Upstream events and one deadline come out. It opens no
// socket, reads no clock (time comes in with every call) and starts no timer. The libuv driver
// (native_upstream.cpp) owns the socket; the unit tests drive this class with a fake clock.
//
// Life: start() writes CONNECT once the TCP connection is up. The session ends with exactly one
// final event (Connected is not final: ConnectFailed, ConnectionLost or Disconnected), after
// every request made on it has completed; finished() then says so and the driver closes the
// socket once the output is written.
//
// Not thread-safe: the loop thread only.

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "mqtt_bridge/upstream.hpp"
#include "mqtt_codec/codec.hpp"

namespace mqtt_bridge::native {

using Time = std::chrono::milliseconds;  // a monotonic clock's reading (uv_now in the driver)

struct SessionOptions {
  mqtt_codec::Version version = mqtt_codec::Version::v311;
  std::string username;
  std::string password;
  // MQTT 5 §3.1.2.11.3 Receive Maximum we announce: QoS 1/2 messages the broker may have
  // unacknowledged towards us at once. With manual_acknowledgement, a new QoS 1/2 PUBLISH that
  // finds this many waiting for acknowledge() is left unread with everything after it (reading()
  // is false: the driver stops reading the socket, TCP's flow control holds the rest at the
  // broker) until an acknowledge() makes room: MQTT 3.1.1 has no Receive Maximum, and a broker
  // may not keep to ours (beyond_window()).
  std::uint16_t receive_maximum = 65535;
  // QoS 1/2 publishes we keep in flight at once. MQTT 5: the lower of this and the broker's
  // Receive Maximum (§3.2.2.3.3). Beyond it they wait in order, bounded by max_queued.
  std::uint16_t send_window = 65535;
  // Publishes that may wait for the window; more are refused (PublishDone ok=false "queue full").
  std::size_t max_queued = 100'000;
  // Largest packet accepted from the broker (MQTT 5 announces it as Maximum Packet Size).
  std::size_t max_packet_size = 1 << 20;
  // QoS 1/2 from the broker: PUBACK/PUBREC wait for acknowledge() (upstream.hpp).
  bool manual_acknowledgement = false;
  // Bounds how far the broker may be behind on this connection before QoS 0 is dropped
  // (PublishDone ok=false, "congestion"); zero: never. Without it, kernel socket buffers
  // (megabytes) queue seconds of messages in front of an overloaded broker. The broker handles a
  // connection's packets in order, so a PINGREQ written among the publishes (at most one at a
  // time, one per kProbeEvery publishes) comes back after everything written before it; its
  // round trip beyond the best one seen (CONNECT/CONNACK, then every PINGRESP) is the queue.
  // QoS 0 is dropped while
  //  - the PINGREQ out has waited longer than the best round trip plus this, or
  //  - the broker is behind (a PINGRESP came this/4 or more late, and since then not 8 in a row
  //    came less than this/10 late) and what waits at the broker is more than it gets through in
  //    this time, or in half this time for kShedMemory (1 s) after drops for delay had gone on
  //    for this time (each less than this after the one before). What waits: the bytes written
  //    since the last answered PINGREQ, less what the broker got through since that answer at
  //    its pace; its pace: bytes per ms over the last 32 answers (a stall among them averaged
  //    out, not taken for the broker's speed; pauses in our writing left out).
  // So a broker that falls behind for a moment and catches up loses nothing unless it falls about
  // the whole bound behind (less what a stall took off its measured pace), while under a lasting
  // overload the queue is held near half the bound (the other half is room for the broker's
  // stalls on a busy box) instead of growing by the overload factor while a probe is out, and a
  // broker that catches up is never starved.
  std::chrono::milliseconds max_broker_delay{50};
};

// The client's half of a session that outlives its connection (MQTT 3.1.1 §4.1, MQTT 5 §4.1):
// the driver keeps it per ClientId for CleanSession=false and hands it to the next connection of
// that ClientId, which completes it when the broker says the session is present (§4.4).
struct SessionState {
  struct Unfinished {
    bool released = false;        // PUBREC came: PUBREL is resent, not the PUBLISH
    mqtt_codec::Publish publish;  // QoS 1 or 2, with its packet id
  };
  std::vector<Unfinished> outgoing;        // in the order they were first sent
  std::set<std::uint16_t> qos2_received;   // PUBREC sent to the broker, PUBREL not yet received
  std::uint16_t next_packet_id = 1;
  bool empty() const { return outgoing.empty() && qos2_received.empty(); }
};

class Session {
 public:
  // `resumed`: what the last connection of this ClientId left unfinished (CleanSession=false).
  Session(ConnectionId id, ConnectRequest request, SessionOptions options,
          SessionState resumed = {});

  // The TCP connection is up: CONNECT goes out.
  void start(Time now);
  // Bytes read from the socket, in order; every complete packet is handled.
  void receive(std::span<const std::uint8_t> bytes, Time now);
  // The socket failed or the peer closed it. `failure`: how a connect that ends this way is
  // reported (refused: TLS said no, retrying will not help).
  void transport_closed(const std::string& reason,
                        ConnectFailure failure = ConnectFailure::unavailable);
  // Time has reached next_deadline() (or passed it): keep-alive.
  void on_timer(Time now);

  // The Upstream requests (see upstream.hpp for their contract).
  void disconnect(bool fire_will, Time now);
  void publish(RequestId request, std::string topic, Bytes payload, int qos, bool retain,
               Time now);
  void subscribe(RequestId request, std::string filter, int qos, Time now);
  void unsubscribe(RequestId request, std::string filter, Time now);
  // The receiver has the message MessageArrived::ack named: PUBACK or PUBREC goes out.
  void acknowledge(AckToken ack, Time now);

  // Output: what to write, in order, and what happened, in order. The caller moves them out.
  Bytes& output() { return output_; }
  // The caller handed output() to the socket: the PUBLISHes in it are no longer waiting.
  void output_taken() { publishes_unsent_ = 0; }
  std::vector<Event>& events() { return events_; }
  // When on_timer() wants to be called; nullopt: never.
  std::optional<Time> next_deadline() const;
  // The final event was emitted: write what is left in output(), then close the socket.
  bool finished() const { return state_ == State::finished; }
  bool connected() const { return state_ == State::connected; }
  // False while the session takes no more packets (SessionOptions::receive_maximum): the driver
  // stops reading the socket until it is true again (after an acknowledge()).
  bool reading() const { return !held(); }
  ConnectionId id() const { return id_; }
  const std::string& client_id() const { return request_.client_id; }
  // Once finished(): what the next connection of this ClientId must complete; empty for
  // CleanSession=true. Leaves nothing behind.
  SessionState take_state() { return std::move(kept_); }
  std::size_t in_flight() const { return in_flight_.size(); }
  std::size_t queued() const { return queued_.size(); }
  std::size_t unacknowledged() const { return unacknowledged_.size(); }

 private:
  enum class State : std::uint8_t {
    idle,         // before start()
    awaiting_connack,
    connected,
    closing,      // MQTT 3.1.1 fire_will: our will publish is out, DISCONNECT follows its ack
    finished,
  };
  // What an in-flight packet id waits for.
  enum class Stage : std::uint8_t { puback, pubrec, pubcomp, suback, unsuback };
  struct InFlight {
    RequestId request = 0;
    std::uint64_t seq = 0;  // order of the requests, for failing them in that order
    Stage stage = Stage::puback;
    mqtt_codec::Publish publish;  // kept to resend with DUP; empty for SUBSCRIBE/UNSUBSCRIBE
    int qos = 0;                  // subscribe: asked for
    bool is_will = false;         // MQTT 3.1.1 fire_will: DISCONNECT follows its acknowledgement
  };
  struct Queued {
    RequestId request;
    mqtt_codec::Publish publish;
  };

  void write(const mqtt_codec::Packet& packet, Time now);
  // Handles the complete packets at the start of `data` up to one beyond_window() (held() then);
  // returns the bytes used.
  std::size_t consume(std::span<const std::uint8_t> data, Time now);
  void consume_input(Time now);  // consume() what input_ holds and keep the rest
  bool beyond_window(const mqtt_codec::Packet& packet) const;
  bool held() const { return held_; }
  void handle(mqtt_codec::Packet&& packet, Time now);
  void on_connack(const mqtt_codec::Connack& connack, Time now);
  void on_publish(mqtt_codec::Publish&& publish, Time now);
  template <typename AckPacket>
  void on_publish_ack(const AckPacket& ack, Stage expected, Time now);
  void on_pubrel(const mqtt_codec::Pubrel& pubrel, Time now);
  void send_acknowledgement(std::uint16_t packet_id, std::uint8_t qos, Time now);
  void on_suback(const mqtt_codec::Suback& suback, Time now);
  void on_unsuback(const mqtt_codec::Unsuback& unsuback, Time now);
  void on_disconnect(const mqtt_codec::Disconnect& disconnect, Time now);
  // disconnect() once connected: MQTT 5 DISCONNECT (0x04 for a will), or for MQTT 3.1.1 with
  // fire_will the will published on this connection first.
  void close_now(Time now);
  // A protocol violation by the broker: MQTT 5 says why in a DISCONNECT, then the connection ends.
  void protocol_error(std::uint8_t reason_code, const std::string& what, Time now);

  std::optional<std::uint16_t> allocate_packet_id();
  void send_publish(RequestId request, mqtt_codec::Publish&& publish, Time now);
  void pump_queue(Time now);
  void complete(InFlight&& flight, bool ok, const std::string& reason, Time now);
  // CONNACK accepted a CleanSession=false connection: complete what the last one left (§4.4).
  void resume(bool session_present, Time now);
  // Fails every request still open, then emits `final_event`. Idempotent.
  void finish(Event final_event);
  std::size_t window() const;

  const ConnectionId id_;
  ConnectRequest request_;
  const SessionOptions options_;
  State state_ = State::idle;
  bool disconnect_requested_ = false;
  bool fire_will_ = false;

  Bytes input_;  // a packet cut by the stream, until its rest arrives; what waits while held()
  bool held_ = false;  // input_ starts with a PUBLISH beyond_window()
  Bytes output_;
  std::vector<Event> events_;

  std::size_t publishes_unsent_ = 0;  // PUBLISHes in output_ (output_taken() resets)
  std::uint16_t next_packet_id_ = 1;
  std::uint64_t next_seq_ = 0;
  std::map<std::uint16_t, InFlight> in_flight_;  // by packet id
  std::size_t publishes_in_flight_ = 0;          // QoS 1/2 PUBLISH among in_flight_
  std::deque<Queued> queued_;                    // publishes waiting for the window
  std::set<std::uint16_t> qos2_received_;        // PUBREC sent, PUBREL not yet received
  std::map<std::uint16_t, std::uint8_t> unacknowledged_;  // delivered, acknowledge() pending: QoS
  // The last connection's unfinished exchanges, until CONNACK says what the broker kept.
  std::vector<SessionState::Unfinished> resumed_;
  SessionState kept_;     // for the next connection, filled by finish()
  std::uint16_t broker_receive_maximum_ = 65535;
  std::optional<std::size_t> broker_max_packet_size_;
  std::uint8_t broker_maximum_qos_ = 2;

  std::chrono::seconds keep_alive_{0};
  Time last_sent_{0};
  std::optional<Time> ping_sent_;  // the latest PINGREQ (keep-alive or delay probe) unanswered
  std::size_t pings_out_ = 0;      // PINGREQs without their PINGRESP (more than one: held())
  bool ping_blind_ = false;        // a PINGREQ out was sent or waited while held(): not a probe
  // The broker-delay probe (SessionOptions::max_broker_delay).
  Time connect_sent_{0};
  std::optional<Time> best_round_trip_;
  Time last_probe_{0};
  std::size_t published_since_probe_ = 0;
  std::uint64_t written_total_ = 0;     // bytes written on this connection
  std::uint64_t ping_mark_ = 0;         // written_total_ when the PINGREQ out was written
  std::uint64_t confirmed_ = 0;         // the mark of the last answered PINGREQ
  std::optional<Time> confirmed_at_;    // when it was answered
  // The last answers (mark, when, busy): the broker's pace is what it got through from the oldest
  // of them to the latest divided by the time it had work for it (plus the millisecond the clock
  // may have cut off), long enough (kPaceAnswers answers, at least kProbeGap apart) to average
  // out a stall. `busy` is a clock that stops while we gave the broker nothing (idle_): counted,
  // a pause of 100 ms in 300 ms made a broker that kept up look a third slower than the flow that
  // followed, which the bound then took for an overload.
  // Allocated by the first delay probe: a connection that never publishes QoS 0 (most of them in
  // transparent mode, one per client) does not carry its 768 bytes.
  struct Answer {
    std::uint64_t mark;
    Time at;
    Time busy;
  };
  static constexpr std::size_t kPaceAnswers = 32;
  struct Pace {
    std::array<Answer, kPaceAnswers> answers{};
    std::size_t seen = 0;
  };
  std::unique_ptr<Pace> pace_;
  double drain_bytes_per_ms_ = 0;       // over pace_; 0: not known
  bool behind_ = false;                 // see SessionOptions::max_broker_delay
  // The last QoS 0 dropped for the broker's delay, the first of the run of drops it belongs to
  // (drops less than max_broker_delay apart), and the last drop of a run that had gone on for
  // max_broker_delay by then.
  std::optional<Time> last_delay_drop_;
  Time run_since_{0};
  std::optional<Time> long_run_drop_;
  // Time in which we wrote nothing and were given nothing to publish (a QoS 0 dropped for delay
  // is work the broker is still busy with) for more than half of max_broker_delay, less that
  // half: the broker had nothing of ours left to do (the bound keeps its queue about that short).
  // The pace leaves it out.
  Time idle_{0};
  Time last_active_{0};
  Time pause_before(Time now) const;  // the part of the time since last_active_ that is idle
  void active(Time now);
  int quick_answers_ = 0;               // PINGRESPs in a row that came in time while behind_
  bool broker_behind(Time now) const;
  void send_pingreq(Time now);
  void probe(Time now);
  void send_probe(Time now);  // a PINGREQ that also restarts the probe's count and gap
  void on_pingresp(Time now);
};

}  // namespace mqtt_bridge::native
