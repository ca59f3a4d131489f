#pragma once
// Private state of gateway::core::Core, shared by the files that implement its handlers.

#include <array>
#include <cstdint>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <queue>
#include <random>
#include <string_view>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "gateway/core/core.hpp"
#include "session_state.hpp"
#include "sn_protocol/codec.hpp"
#include "sn_protocol/packet.hpp"
#include "sn_protocol/peer.hpp"
#include "sn_protocol/topic.hpp"
#include "topic_registry.hpp"

namespace gateway::core {

using SessionId = std::uint64_t;

// Acknowledgements owed to the broker (UpstreamMessage::ack), due at the end of the current call.
struct AckLedger {
  std::vector<UpstreamAck> due;
  bool open = true;  // false while shutting down: nothing undelivered may be acknowledged then
};

// One broker message owed an acknowledgement. Every queued copy of the message (one per client
// that takes it at QoS 1/2) holds a share; when the last share goes, because the message was
// delivered and acknowledged or because it was given up (dropped, its client lost), the
// acknowledgement becomes due. Shares die with what holds them, so no path can forget one.
class AckDebt {
 public:
  AckDebt(AckLedger& ledger, ConnId conn, std::uint32_t ack)
      : ledger_(ledger), conn_(conn), ack_(ack) {}
  AckDebt(const AckDebt&) = delete;
  AckDebt& operator=(const AckDebt&) = delete;
  ~AckDebt() {
    if (ledger_.open && !handed_back_) ledger_.due.push_back(UpstreamAck{conn_, ack_});
  }
  // The message stays the broker's: it sends it again on the session's next connection, so it
  // is not acknowledged when the last share goes.
  void hand_back() { handed_back_ = true; }

 private:
  bool handed_back_ = false;
  AckLedger& ledger_;
  ConnId conn_;
  std::uint32_t ack_;
};
using AckShare = std::shared_ptr<AckDebt>;

// A message from the broker waiting to go down to the client.
struct Outgoing : QueuedMessage {
  AckShare ack;  // set for QoS 1/2 copies of a message the broker waits on
};

struct Session {
  SessionId id = 0;
  std::string client_id;
  sn::Peer peer;
  // Where the client stands (session_state.hpp); changed only by Core::Impl::enter().
  SessionState state{state::Connecting{}};
  bool clean_session = true;
  std::uint16_t keep_alive_s = 0;
  std::optional<Will> will;
  Time last_seen{0};
  TopicRegistry topics;
  // §6.6 QoS 2 uplink: msg ids received and not yet released.
  struct Qos2In {
    bool at_broker = false;    // the broker has it (PUBREC sent)
    std::uint32_t digest = 0;  // of the PUBLISH's content (qos2_digest)
  };
  std::unordered_map<std::uint16_t, Qos2In> qos2_in;
  // The last QoS 2 msg ids released by PUBREL (0: none) with their digests, newest at
  // released_at: a copy of one of those PUBLISHes that the radio delivers late (after PUBREL) is
  // not a new message: a retransmission (DUP set), or a duplicated first copy (same content).
  std::array<std::uint16_t, 4> released_qos2{};
  std::array<std::uint32_t, 4> released_digest{};
  std::uint8_t released_at = 0;
  // std::list rather than std::deque: an empty libstdc++ deque already holds a 512-byte block,
  // which at 50,000 mostly idle clients is most of their memory.
  std::list<Outgoing> queue;
  std::uint64_t next_seq = 1;   // QueuedMessage::seq of the next message queued
  std::uint64_t handed_seq = 0;  // persistence: messages up to this seq went to the store
  std::optional<InFlight> inflight;
  std::uint16_t next_msg_id = 1;
  // §6.10: topic names whose REGISTER the client rejected: an unsubscribe from that name until
  // the client subscribes again.
  std::unordered_set<std::string> rejected_topics;
  // One generation per TimerKind (below qos_minus_one_reconnect): cancel() bumps it, and a timer
  // entry whose generation differs is stale.
  std::array<std::uint32_t, 6> timer_gen{};
  // Filters the broker granted this connection, with the granted QoS: restored on a new upstream
  // connection that starts without them (a will update of a CleanSession=true client).
  std::map<std::string, std::uint8_t> subscriptions;

  StateKind kind() const { return kind_of(state); }
  template <typename T>
  T* in() {
    return std::get_if<T>(&state);
  }
  template <typename T>
  const T* in() const {
    return std::get_if<T>(&state);
  }
  // The session's own upstream connection (transparent mode), in the states that have one.
  std::optional<ConnId> conn() const {
    return std::visit(
        [](const auto& st) -> std::optional<ConnId> {
          if constexpr (requires { st.conn; }) {
            return st.conn;
          } else {
            return std::nullopt;
          }
        },
        state);
  }
  // The connection a will update is closing (§6.4), if any.
  std::optional<ConnId> retiring() const {
    const auto* active = in<state::Active>();
    return active != nullptr && active->change ? active->change->retiring : std::nullopt;
  }
  // A CONNACK accepted was sent at least once: there is a session to keep (§6.3).
  bool established() const {
    return std::visit(
        [](const auto& st) {
          if constexpr (requires { st.resumed; }) {
            return st.resumed;
          } else {
            return true;
          }
        },
        state);
  }
};

// What to answer when an upstream request completes.
struct Pending {
  // resubscribe: restoring a subscription on a new connection; the client is not answered.
  // restore_filter: aggregating mode restoring a filter on the gateway's connection (no session).
  enum class Kind : std::uint8_t { puback, pubrec, suback, unsuback, resubscribe, restore_filter };
  Kind kind;
  SessionId session;
  ConnId conn;  // a completion on an older connection of the session is stale
  std::uint16_t msg_id;
  std::uint16_t topic_id;
  std::string filter;  // suback, unsuback, resubscribe, restore_filter
  std::uint8_t qos = 0;  // suback: what the client asked for
};

// Aggregating mode: one upstream subscription shared by every client subscribed to the filter.
struct FilterEntry {
  std::map<SessionId, std::uint8_t> subscribers;  // client -> QoS granted to it
  std::optional<std::uint8_t> upstream_qos;       // granted by the broker, once it answered
};

// Aggregating mode's filters. A filter without wildcards matches only the topic of its own name
// (MQTT 3.1.1 §4.7), so a message from the broker finds those by name and tests only the
// wildcard filters one by one: routing costs O(log n + wildcard filters), not O(every filter).
class FilterTable {
 public:
  using Map = std::map<std::string, FilterEntry, std::less<>>;
  using iterator = Map::iterator;

  FilterEntry& operator[](const std::string& filter) {
    const auto [it, added] = all_.try_emplace(filter);
    if (added && sn::has_wildcards(it->first)) wildcard_.emplace(it->first, &it->second);
    return it->second;
  }
  iterator find(std::string_view filter) { return all_.find(filter); }
  iterator begin() { return all_.begin(); }
  iterator end() { return all_.end(); }
  void erase(iterator it) {
    wildcard_.erase(it->first);
    all_.erase(it);
  }
  // f(entry) for every filter that matches `topic`.
  template <class F>
  void for_each_match(std::string_view topic, F&& f) const {
    if (const auto it = all_.find(topic); it != all_.end()) f(it->second);
    for (const auto& [filter, entry] : wildcard_) {
      if (sn::matches(filter, topic)) f(*entry);
    }
  }

 private:
  Map all_;
  // The wildcard filters among all_: its keys and entries, valid while their node lives.
  std::map<std::string_view, const FilterEntry*> wildcard_;
};

enum class TimerKind : std::uint8_t {
  keep_alive,
  retry,
  handshake,
  sleep,
  settle,                   // the broker's backlog at a wake-up has been quiet long enough
  reconnect,                // transparent mode: the next attempt after an outage
  qos_minus_one_reconnect,  // gateway-wide timers from here on (no session)
  advertise,
  stats
};

static_assert(std::tuple_size_v<decltype(Session::timer_gen)> ==
                  static_cast<std::size_t>(TimerKind::qos_minus_one_reconnect),
              "one timer generation per session timer");

// §7.2: how long the gateway waits for a client that announced `duration_s` (keep-alive or sleep):
// plus 50% below one minute, plus 10% above.
Time with_tolerance(std::uint16_t duration_s);

struct TimerEntry {
  Time at;
  SessionId session;
  TimerKind kind;
  std::uint32_t generation;
  bool operator>(const TimerEntry& other) const { return at > other.at; }
};

class Core::Impl {
 public:
  explicit Impl(CoreConfig config);

  void start(Time now, Actions& out);
  void reconfigure(CoreConfig next);
  // What config_ is read through: predefined_by_id_/_by_name_ and acl_ (built again by a reload).
  void index_config();
  void shutdown(Time now, Actions& out);
  void handle(Event event, Time now, Actions& out);
  std::optional<Time> next_deadline() const;

  CoreConfig config_;
  Counters counters_;

 private:
  friend class Core;
  // core.cpp: dispatch, sending, timers, logging.
  void on_frame(const FrameReceived& frame);
  void on_message(const sn::Peer& peer, sn::Message&& message);
  void on_refused(const sn::Peer& from, sn::Refusal&& refusal);
  void abort_handshake(Session& s, Input input);
  void on_timer();
  void send(const sn::Peer& peer, const sn::Message& message);
  void arm(Session& s, TimerKind kind, Time at);
  void cancel(Session& s, TimerKind kind);
  void log(LogLevel level, const std::function<std::string()>& text);
  Session* by_peer(const sn::Peer& peer);
  Session* by_conn(ConnId conn);
  Session* by_id(SessionId id);  // notes the session for the store (touch())
  Session* find(SessionId id);   // does not: for inputs that change nothing the store keeps
  std::size_t max_frame(const sn::Peer& peer) const;
  // The one way a session changes state: refused (counted, logged) unless the table allows it for
  // the input being handled. Same-kind changes (new data in the same state) are always allowed.
  void enter(Session& s, SessionState next);
  // Checks a change of `s` to `to` (kGone when it is about to be forgotten).
  bool allowed(const Session& s, Targets to);
  // What the table says about `input` for `s` now.
  Disposition disposition(const Session& s, Input input) const {
    return rule(input, s.kind()).what;
  }
  // The input being handled, for enter(); nested inputs (held frames replayed, another session
  // displaced) restore the outer one when they end.
  class InputScope {
   public:
    InputScope(Impl& impl, Input input) : impl_(impl), outer_(impl.input_) { impl.input_ = input; }
    ~InputScope() { impl_.input_ = outer_; }
    InputScope(const InputScope&) = delete;
    InputScope& operator=(const InputScope&) = delete;

   private:
    Impl& impl_;
    Input outer_;
  };
  // Lets go of the session's upstream connections: its own gets DISCONNECT (with or without the
  // will), one a will update is retiring is already closing; the session keeps no connection.
  void let_go(Session& s, bool fire_will);
  // Forgets the session's own upstream connection without a word to it (it failed or is gone).
  void forget_conn(Session& s);
  void cancel_session_timers(Session& s);

  // connect.cpp: CONNECT, the will handshake, DISCONNECT, the upstream connection's life.
  void on_connect(const sn::Peer& peer, const sn::Connect& connect);
  void on_will_topic(Session& s, const sn::WillTopic& will_topic);
  void on_will_msg(Session& s, const sn::WillMsg& will_msg);
  void on_disconnect(Session& s, const sn::Disconnect& disconnect);
  void connect_upstream(Session& s, bool resumed);
  void on_upstream_connected(const UpstreamConnected& e);
  void on_upstream_connect_failed(const UpstreamConnectFailed& e);
  void on_upstream_lost(const UpstreamConnectionLost& e);
  void on_keep_alive_timer(Session& s);
  void lose(Session& s, const char* why);
  void upstream_gone(Session& s, const std::string& reason);
  void end_session(Session& s, bool fire_will);
  void on_transport_down(const TransportDown& e);
  void on_peer_gone(const PeerGone& e);

  // aggregating.cpp: the shared connection, shared subscriptions, routing and wills.
  bool aggregating() const { return config_.mode == Mode::aggregating; }
  // The upstream connection that carries this client's requests.
  ConnId upstream_of(const Session& s) const { return aggregating() ? kQosMinusOneConn : *s.conn(); }
  bool upstream_ready(const Session& s) const {
    return aggregating() ? qos_minus_one_up_ : s.conn().has_value() && !in_outage(s);
  }
  static bool in_outage(const Session& s) {
    const auto* active = s.in<state::Active>();
    return active != nullptr && active->outage != nullptr;
  }
  // Transparent mode: an active client's connection dropped or an attempt failed; the next
  // attempt is timed with backoff and jitter, and the client stays.
  void reconnect_later(Session& s, const std::string& reason);
  void on_reconnect_timer(Session& s);
  void outage_over(Session& s, bool session_present);
  // Ends an outage (an attempt under way no longer counts against the bound).
  void leave_outage(Session& s);
  // Subscribes the new connection of a CleanSession=true client to what it had.
  void restore_subscriptions(Session& s, ConnId conn);
  // reconnect_min doubled `attempts` times, capped at reconnect_max, minus up to a half at random.
  Time backoff(unsigned attempts);
  void accept_connection(Session& s);
  void aggregate_subscribe(Session& s, std::string filter, std::uint16_t topic_id,
                           const sn::Subscribe& subscribe);
  void aggregate_unsubscribe(Session& s, const std::string& filter, std::uint16_t msg_id);
  void aggregate_subscribe_done(const Pending& pending, const UpstreamSubscribeDone& e);
  void drop_subscriptions(Session& s);
  void leave_filter(SessionId id, const std::string& filter);
  void route(UpstreamMessage&& e, const AckShare& ack);
  void restore_filters();
  void publish_will(Session& s);
  void deliver(Session& s, std::string topic, sn::Bytes payload, std::uint8_t qos, bool retain,
               AckShare ack);
  bool make_room(Session& s, bool incoming_owed);
  // Moves the acknowledgements that became due into the actions.
  void settle_acks();
  std::optional<Pending> take_pending(ReqId req);
  Time next_reconnect_delay();

  // will.cpp: WILLTOPICUPD / WILLMSGUPD (§6.4) and the upstream connection switch they need.
  void on_will_topic_upd(Session& s, const sn::WillTopicUpd& upd);
  void on_will_msg_upd(Session& s, const sn::WillMsgUpd& upd);
  void begin_switch(Session& s);
  void on_upstream_disconnected(const UpstreamDisconnected& e);
  void finish_switch(Session& s);
  void close_for_switch(state::Active& active);
  static bool held_during_switch(sn::MsgType type);

  // discovery.cpp: ADVERTISE and SEARCHGW / GWINFO (§6.1), and the gateway's own connection.
  void on_searchgw(const sn::Peer& peer, const sn::SearchGw& search);
  void gateway_connection_up();
  void gateway_connection_down(const std::string& what, const std::string& reason);
  void advertise();
  bool gateway_connection_wanted() const {
    return config_.qos_minus_one || config_.advertise_interval.count() > 0 || aggregating() ||
           config_.stats_interval.count() > 0;
  }
  std::vector<std::pair<std::string, std::uint64_t>> stats() const;
  void publish_stats();
  // persistence.cpp: the sessions the store keeps (CoreConfig::persistent).
  // A CleanSession=false session was looked at or changed: written at the next take_changes()
  // if its record differs from the last one written (the app compares).
  void touch(const Session& s) {
    if (config_.persistent && !s.clean_session) dirty_.insert(s.id);
  }
  void restore(std::vector<SessionRecord> records);
  void take_changes(SessionChanges& out);
  SessionRecord record_of(const Session& s) const;

  // sleep.cpp: sleeping clients (§6.14): asleep, awake, the sleep buffer and the sleep timer.
  void on_pingreq(Session& s);
  bool on_named_pingreq(const sn::Peer& peer, const std::string& client_id);
  void fall_asleep(Session& s, std::uint16_t duration_s);
  void wake(Session& s, const sn::Peer& peer);
  void end_flush(Session& s);
  void end_flush_if_done(Session& s);
  // A sleeper without its upstream connection (transparent mode): the broker holds its messages.
  bool released(const Session& s) const {
    return !aggregating() && is_sleeping(s.kind()) && !s.conn();
  }
  void on_sleep_timer(Session& s);
  bool make_room_while_asleep(Session& s, std::uint8_t incoming_qos, bool incoming_owed);
  bool releasable(const Session& s) const;
  bool may_release(const Session& s) const;
  void release_upstream(Session& s);
  void resume_upstream(Session& s);
  void on_backlog_message(Session& s);
  void on_settle_timer(Session& s);
  bool resume_failed(Session& s, const std::string& reason);

  // uplink.cpp: what the client asks of the broker.
  void on_register(Session& s, const sn::Register& reg);
  // The payload is moved on to the broker.
  void on_publish(Session& s, sn::Publish&& publish);
  void on_publish_minus_one(const sn::Peer& peer, sn::Publish&& publish);
  bool qos_minus_one_allowed_from(const sn::Peer& peer) const;
  // The upstream connection of a client's session, as the app is asked to open it.
  UpstreamConnect connect_action(const Session& s, ConnId conn) const {
    return UpstreamConnect{conn, config_.client_id_prefix + s.client_id, s.keep_alive_s,
                           s.clean_session, s.will, s.client_id};
  }
  // False when `peer`'s address has used up its CONNECT/SEARCHGW allowance (counted).
  bool within_rate(const sn::Peer& peer);
  enum class LogKey : std::uint8_t { max_clients, connecting_full, rate_limited, not_allowed, acl };
  // Lines a second per key: one for the refusals a flood repeats; more for ACL denials, which
  // name different clients and topics and are each worth reading until they come in a flood.
  static constexpr std::uint32_t kLogBudget[] = {1, 1, 1, 1, 20};
  // log(), at most kLogBudget[key] times a second; the lines left out meanwhile are counted and
  // the next line written says how many.
  template <typename MakeText>
  void log_limited(LogKey key, LogLevel level, MakeText&& make_text) {
    auto& window = log_windows_[static_cast<std::size_t>(key)];
    if (!window.open || now_ - window.since >= Time(1000)) {
      window.open = true;
      window.since = now_;
      window.written = 0;
    }
    if (window.written >= kLogBudget[static_cast<std::size_t>(key)]) {
      ++window.suppressed;
      ++counters_.log_suppressed;
      return;
    }
    ++window.written;
    const std::uint64_t suppressed = std::exchange(window.suppressed, 0);
    log(level, [&] {
      std::string text = make_text();
      if (suppressed > 0) text += " (and " + std::to_string(suppressed) + " more like it before)";
      return text;
    });
  }
  // The topic ACL's answer for this client; a refusal is counted and logged.
  enum class AclAction : std::uint8_t { reg, publish, subscribe, will };
  bool acl_allows(const Session& s, AclAction action, const std::string& topic);
  void on_pubrel(Session& s, const sn::PubRel& pubrel);
  void on_subscribe(Session& s, const sn::Subscribe& subscribe);
  void on_unsubscribe(Session& s, const sn::Unsubscribe& unsubscribe);
  void on_publish_done(const UpstreamPublishDone& e);
  void on_subscribe_done(const UpstreamSubscribeDone& e);
  void on_unsubscribe_done(const UpstreamUnsubscribeDone& e);
  std::optional<std::string> topic_for_publish(const Session* s, sn::TopicIdType type,
                                               std::uint16_t id) const;

  // downlink.cpp: what the broker sends the client (§6.10).
  void on_upstream_message(UpstreamMessage&& e);
  void pump(Session& s);
  void resume_delivery(Session& s);
  void on_regack(Session& s, const sn::RegAck& regack);
  void on_puback(Session& s, const sn::PubAck& puback);
  void on_pubrec(Session& s, const sn::PubRec& pubrec);
  void on_pubcomp(Session& s, const sn::PubComp& pubcomp);
  void on_retry_timer(Session& s);
  Session* pending_session(ReqId req, Pending& pending);
  void send_inflight(Session& s);
  std::uint16_t next_msg_id(Session& s);

  Time now_{0};
  Actions* out_ = nullptr;
  Input input_ = Input::connect;
  // Before the sessions: their queued messages hold shares that report to it as they go.
  AckLedger ack_ledger_;
  SessionId next_session_ = 1;
  ConnId next_conn_ = kQosMinusOneConn + 1;
  ReqId next_req_ = 1;
  bool qos_minus_one_up_ = false;
  std::unordered_map<SessionId, Session> sessions_;
  std::unordered_map<sn::Peer, SessionId, sn::PeerHash> peers_;
  std::unordered_map<std::string, SessionId> client_ids_;
  std::unordered_map<ConnId, SessionId> conns_;
  std::unordered_map<ReqId, Pending> pending_;
  // QoS 1/2 UpstreamPublish per connection whose UpstreamPublishDone has not come yet (every
  // request completes before its connection's final event, upstream.hpp).
  std::unordered_map<ConnId, std::size_t> publishes_under_way_;
  std::unordered_map<std::uint16_t, std::string> predefined_by_id_;
  std::optional<Acl> acl_;  // config_.acl, ready to ask
  std::string_view frame_identity_;  // FrameReceived::identity of the frame being handled
  // Sessions in the will handshake or connecting upstream (CoreConfig::max_connecting).
  std::unordered_set<SessionId> connecting_ids_;
  // CONNECT/SEARCHGW token buckets by source IP (CoreConfig::connect_rate_per_address).
  struct Bucket {
    double tokens = 0;
    Time at{0};
  };
  std::unordered_map<std::string, Bucket> buckets_;
  static constexpr std::size_t kMaxBuckets = 65536;
  // Log lines that a flood repeats (LogKey): at most a few a second each (kLogBudget), the rest
  // counted and summed up in the next one written.
  struct LogWindow {
    Time since{0};
    std::uint32_t written = 0;
    std::uint64_t suppressed = 0;
    bool open = false;
  };
  std::array<LogWindow, std::size(kLogBudget)> log_windows_{};  // by LogKey
  std::unordered_map<std::string, std::uint16_t> predefined_by_name_;
  std::priority_queue<TimerEntry, std::vector<TimerEntry>, std::greater<>> timers_;
  std::uint32_t qos_minus_one_generation_ = 0;
  std::uint32_t advertise_generation_ = 0;
  std::uint32_t stats_generation_ = 0;  // bumped when a reload changes stats_interval
  FilterTable filters_;                         // aggregating mode
  unsigned reconnect_attempts_ = 0;             // failures of the gateway connection in a row
  // Transparent mode: outage attempts under way, at most kMaxReconnectsInFlight (a broker restart
  // must not bring every client's connect at once).
  std::size_t reconnects_in_flight_ = 0;
  static constexpr std::size_t kMaxReconnectsInFlight = 64;
  bool gateway_connection_was_up_ = false;
  std::string qos_minus_one_client_id_;  // upstream client id of the shared QoS -1 connection
  // Persistence: sessions touched since the last take_changes(), and client ids whose session
  // ended (the store forgets them, if it had them).
  std::unordered_set<SessionId> dirty_;
  std::vector<std::string> removed_;
  std::minstd_rand random_;              // reconnect jitter
};

}  // namespace gateway::core
