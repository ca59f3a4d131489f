#pragma once
// The translation core: MQTT-SN v1.2 sessions, topic ids, QoS flows, keep-alive and retries, as a
// sans-I/O state machine. It reads no clock (time comes with every call), opens no socket and
// starts no timer: it returns actions and tells when it next needs TimerExpired.
//
// Threads: one thread only (gateway/app's loop thread) may call any member.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include "gateway/core/acl.hpp"
#include "gateway/core/actions.hpp"
#include "gateway/core/events.hpp"

namespace gateway::core {

// Monotonic time since an arbitrary origin; the app uses uv_now(), tests a fake clock.
using Time = std::chrono::milliseconds;

struct PredefinedTopic {
  std::uint16_t id;
  std::string name;
};

// A peer allowed to send §5.5 encapsulated frames (to be a forwarder).
struct AllowedForwarder {
  std::optional<std::uint16_t> transport_id;  // set: every peer of this transport
  sn::Bytes address;                  // otherwise an IP peer with these octets (4 or 16; an
                                      // IPv4-mapped ::ffff:a.b.c.d matches a.b.c.d either way)
  std::optional<std::uint16_t> port;  // and, when set, this UDP port
};

// transparent: one upstream MQTT connection per MQTT-SN client, carrying its will and session.
// aggregating: one upstream connection (the gateway's own) for every client; the gateway keeps
// the subscriptions, routes downlink to every matching client and publishes wills itself.
enum class Mode : std::uint8_t { transparent, aggregating };

struct CoreConfig {
  std::uint8_t gateway_id = 1;
  Mode mode = Mode::transparent;
  std::size_t max_clients = 10000;
  // Clients between CONNECT and CONNACK (will handshake, upstream connect under way) at once;
  // beyond it a CONNECT that would add one gets CONNACK congestion (Counters::connecting_full).
  // Spoofed CONNECTs (their sender never answers) cannot then hold more than this.
  std::size_t max_connecting = 1000;
  // Token bucket per source IP address (port ignored; a forwarded node counts as its
  // forwarder) over CONNECT and SEARCHGW: `connect_rate_per_address` a second, bursts up to
  // `connect_burst_per_address`. Beyond it the frame is dropped unanswered (a client repeats it,
  // §6.13; a spoofer learns nothing), counted in Counters::rate_limited. 0: no limit. Serial and
  // radio peers are not limited (nobody can forge their link).
  std::uint32_t connect_rate_per_address = 100;
  std::uint32_t connect_burst_per_address = 1000;
  std::string client_id_prefix;  // upstream MQTT client id = prefix + MQTT-SN client id
  std::vector<PredefinedTopic> predefined;
  bool qos_minus_one = true;
  // MQTT-SN client ids whose CONNECT is accepted; others get CONNACK "not supported" and nothing
  // goes upstream. nullopt: every client id.
  std::optional<std::unordered_set<std::string>> allowed_clients;
  // Source addresses whose QoS -1 PUBLISH is accepted, as address octets: 4 (IPv4) or 16 (IPv6;
  // an IPv4-mapped ::ffff:a.b.c.d matches a.b.c.d either way). Applies to peers on IP transports
  // (a forwarded client by its forwarder's address). nullopt: every address, unless
  // allowed_clients is set: then none. Serial and radio peers have no IP address: accepted
  // unless allowed_clients is set.
  std::optional<std::vector<sn::Bytes>> qos_minus_one_from;
  // Topic ACL (acl.hpp): REGISTER, PUBLISH (any QoS, any topic id type), SUBSCRIBE and a will's
  // topic outside a client's rules are refused with 0x03 (§5.3.10 "rejected: not supported"),
  // counted in Counters::acl_denied and logged at info. nullopt: everything allowed.
  std::optional<std::vector<AclRule>> acl;
  // §6.1 ADVERTISE period (T_ADV, also its Duration field); zero: no ADVERTISE. Sent only while
  // the gateway's own upstream connection is up ("only if it is connected to a server").
  Time advertise_interval{0};
  // §6.1 "the GWINFO message is broadcast": answer SEARCHGW by Broadcast too, not only to the
  // searcher.
  bool gwinfo_broadcast = false;
  // The gateway's own upstream connection is retried after a delay that doubles from
  // reconnect_min to reconnect_max, each one shortened by a random part of up to a half (jitter,
  // so that gateways restarted together do not hammer a broker in step). `random_seed` makes it
  // reproducible; the app passes a random one.
  Time reconnect_min{1000};
  Time reconnect_max{60000};
  std::uint32_t random_seed = 1;
  Time retry_interval{10000};     // T_retry for gateway-initiated REGISTER/PUBLISH/PUBREL (§6.13)
  unsigned max_retries = 3;       // N_retry: retransmissions before the client is lost
  std::size_t max_topics_per_client = 1000;    // registered topic ids; REGACK congestion beyond
  // QoS 1/2 PUBLISHes handed to one upstream connection and not yet acknowledged by the broker;
  // beyond it a client's QoS 1/2 PUBLISH is answered PUBACK congestion at once (upstream.hpp
  // bounds QoS 0 inside the client library with the same figure).
  std::size_t max_queued_upstream = 10000;
  // Downlink messages waiting for one client; beyond it the oldest one the broker is not waiting
  // on is dropped. A copy the broker waits on (UpstreamMessage::ack) is never dropped for room:
  // the upstream's receive window bounds those (the app sets it to this figure).
  std::size_t max_queued_per_client = 1000;
  // Messages kept for an asleep (or awake) client (§6.14). When full, the oldest QoS 0 message
  // makes room, else the oldest one the broker is not waiting on; a QoS 0 message never pushes
  // out a QoS 1/2 one.
  std::size_t max_buffered_messages = 100;
  // Transparent mode, CleanSession=false clients (§6.14): an asleep client's upstream connection
  // is closed with a clean DISCONNECT (no will), so that what the broker has for it stays in the
  // broker's persistent session, not acknowledged, until the client wakes. The wake-up PINGREQ
  // opens it again; the flush (and PINGRESP) waits until the connection is up and nothing has
  // arrived for `wake_settle`. A sleeper lost meanwhile has its will published by the gateway on
  // its own connection. Needs the gateway's own connection (gateway_connection_wanted()); false:
  // the connection stays open and the gateway buffers, as for CleanSession=true clients.
  bool release_sleeper_upstream = true;
  Time wake_settle{250};
  // Counters published as retained QoS 0 messages `<stats_prefix>/<name>` on the gateway's own
  // connection every stats_interval (zero: never), while it is up.
  Time stats_interval{0};
  std::string stats_prefix = "$SYS/mqttsn/gateway";
  // Largest frame each transport can carry, by transport id; frames the gateway would have to
  // send larger than that are dropped (§6.10). Missing entries: sn::kMaxMessageSize.
  std::vector<std::size_t> max_frame_size;
  // Peers whose encapsulated frames (§5.5) are accepted; others are dropped. nullopt: every peer.
  std::optional<std::vector<AllowedForwarder>> forwarders_allowed;
  LogLevel log_level = LogLevel::info;  // Log actions below this level are not built
  // Sessions survive a restart (persistence.path): the core records which CleanSession=false
  // sessions changed (take_changes) and takes them back (restore). The store then holds their
  // downlink messages: a copy queued for such a session does not wait for the client's
  // acknowledgement before UpstreamMessage::ack is due (the app executes it once the store has
  // the message).
  bool persistent = false;
};

// A downlink message waiting for its client, as queued and as stored.
struct QueuedMessage {
  std::string topic;
  sn::Bytes payload;
  std::uint8_t qos = 0;
  bool retain = false;
  bool reregistered = false;  // the client already rejected our topic id once (§6.10)
  // Numbers the session's messages in the order they were queued, from 1 (persistence: the
  // store keeps each message once, under this number, and forgets it when it leaves the queue).
  std::uint64_t seq = 0;
  bool operator==(const QueuedMessage&) const = default;
};

// The one gateway-initiated exchange awaiting the client's answer (§6.6: one at a time).
struct InFlight {
  enum class Kind : std::uint8_t { reg, publish, pubrel };
  Kind kind;
  std::uint16_t msg_id;
  unsigned retransmissions = 0;
  sn::Message frame;  // what to send again after T_retry
  bool operator==(const InFlight&) const = default;
};

// A CleanSession=false session as the store keeps it (CoreConfig::persistent): what §6.3 says
// outlives a connection, and the sleep state (§6.14). A client connected when it was taken comes
// back as lost: it connects again (its next frame is answered DISCONNECT, §6.12).
struct SessionRecord {
  enum class Status : std::uint8_t { disconnected, lost, asleep };
  std::string client_id;
  sn::Peer peer;
  Status status = Status::lost;
  std::uint16_t keep_alive_s = 0;
  std::uint16_t sleep_s = 0;  // asleep: the duration of its DISCONNECT
  std::optional<Will> will;
  std::vector<std::pair<std::uint16_t, std::string>> topics;  // normal topic ids (§6.5, §6.10)
  std::uint16_t next_topic_id = 1;
  std::vector<std::pair<std::string, std::uint8_t>> subscriptions;  // filter, granted QoS
  // §6.6: QoS 2 PUBLISHes the broker has and whose PUBREL has not come: (msg id, content digest).
  std::vector<std::pair<std::uint16_t, std::uint32_t>> qos2_received;
  // The last ones released by PUBREL, oldest first (a late copy of them is not new).
  std::vector<std::pair<std::uint16_t, std::uint32_t>> qos2_released;
  // The queue, oldest first (the one in flight is the first), by QueuedMessage::seq.
  std::vector<std::uint64_t> queue_seqs;
  // The messages: every one for restore(); from take_changes(), only those queued since the
  // last call (the store has the others).
  std::vector<QueuedMessage> queue;
  std::optional<InFlight> inflight;
  std::uint16_t next_msg_id = 1;
  std::vector<std::string> rejected_topics;  // §6.10
  bool operator==(const SessionRecord&) const = default;
};

// What changed since the last Core::take_changes(): sessions to write (whole), and client ids
// whose stored session is gone (ended, or now CleanSession=true).
struct SessionChanges {
  std::vector<SessionRecord> saved;
  std::vector<std::string> removed;
};

struct Counters {
  std::uint64_t frames_in = 0;
  std::uint64_t frames_out = 0;
  std::uint64_t malformed = 0;           // frames decode() refused
  std::uint64_t unexpected = 0;          // valid frames with no place in the client's state
  std::uint64_t no_session = 0;          // answered with DISCONNECT (§6.12)
  std::uint64_t publish_in[4] = {};      // uplink PUBLISH by QoS 0,1,2,-1 (index 3)
  std::uint64_t publish_out[3] = {};     // downlink PUBLISH by QoS
  std::uint64_t qos_minus_one_dropped = 0;
  std::uint64_t acl_denied = 0;          // requests the topic ACL refused
  std::uint64_t rate_limited = 0;        // CONNECT/SEARCHGW over their address's rate, dropped
  std::uint64_t connecting_full = 0;     // CONNECT refused: max_connecting clients connecting
  std::uint64_t log_suppressed = 0;      // repeated log lines summarised instead of written
  std::uint64_t identity_mismatch = 0;   // a frame whose ClientId or session is not its DTLS identity
  std::uint64_t downlink_dropped = 0;    // too large for the transport, queue full, rejected
  // Of downlink_dropped: pushed out of a sleeping client's full buffer (§6.14).
  std::uint64_t sleep_buffer_dropped = 0;
  std::uint64_t clients_lost = 0;
  std::uint64_t wills_published = 0;     // wills the gateway published itself
  // Transparent mode: upstream connections closed for asleep clients, and opened again at a wake-up.
  std::uint64_t sleeper_upstream_released = 0;
  std::uint64_t sleeper_upstream_resumed = 0;
  std::uint64_t upstream_reconnects = 0;  // the gateway's own connection came back
  // Transparent mode: a client's upstream connection dropped under it, and came back.
  std::uint64_t client_upstream_outages = 0;
  std::uint64_t client_upstream_reconnects = 0;
  std::uint64_t upstream_publish_failed = 0;  // PUBLISH the broker connection did not take
  // QoS 1/2 PUBLISH refused (PUBACK congestion) because max_queued_upstream were under way.
  std::uint64_t upstream_congested = 0;
  // §6.13: frames the gateway sent again (PUBLISH, REGISTER, PUBREL after T_retry or at a
  // CONNACK / wake-up), and copies of a client's frames it recognised as such (a QoS 2 PUBLISH
  // repeated before or after its PUBREL, a CONNECT repeated after its CONNACK).
  std::uint64_t retransmissions_out = 0;
  std::uint64_t duplicates_in = 0;
  std::uint64_t advertise_sent = 0;
  std::uint64_t gwinfo_sent = 0;
  // Changes of a session's state the transition table does not allow (a defect: logged as an
  // error, and the change is made anyway so the session is not stuck).
  std::uint64_t unlisted_transitions = 0;
};

class Core {
 public:
  explicit Core(CoreConfig config);
  ~Core();
  Core(const Core&) = delete;
  Core& operator=(const Core&) = delete;

  // Opens the gateway's own upstream connection (kQosMinusOneConn) when QoS -1 or ADVERTISE needs
  // it: it carries QoS -1 PUBLISH (§6.8) and tells whether the broker is reachable (§6.1).
  void start(Time now, Actions& out);
  // Feeds one event; appends what must be done to `out` (which it does not clear).
  void handle(Event event, Time now, Actions& out);
  // Administrative stop (SIGTERM/SIGINT): every connected client gets DISCONNECT and every
  // upstream connection a clean DISCONNECT. No will fires: a stopped gateway has not lost its
  // clients. The core is empty afterwards.
  void shutdown(Time now, Actions& out);
  // Persistence (CoreConfig::persistent), before start(): takes back the stored sessions.
  // Asleep ones sleep on (their sleep timer starts now), the others are away until their client
  // connects again. Beyond max_clients the rest are left out (and logged).
  void restore(std::vector<SessionRecord> records, Time now, Actions& out);
  // SIGHUP reload: takes from `next` what can change while clients are served, and ignores the
  // rest (the app logs those as needing a restart). Applied at once, to every session, without
  // disconnecting anyone: log_level; allowed_clients and qos_minus_one_from (checked at the next
  // CONNECT or QoS -1 PUBLISH); acl (the next REGISTER, PUBLISH, SUBSCRIBE or will); predefined
  // (a new id is usable at once, a removed one is refused from then on: PUBLISH gets PUBACK
  // 0x02, SUBSCRIBE SUBACK 0x02); stats_interval (the next round is due one new interval from
  // now; 0 stops them).
  void reconfigure(CoreConfig next, Time now, Actions& out);
  // Persistence: the CleanSession=false sessions changed since the last call (appended to `out`).
  // The app writes them before it executes the actions of the same calls.
  void take_changes(SessionChanges& out);
  // When handle(TimerExpired{}) is next due, if ever. Changes after every call.
  std::optional<Time> next_deadline() const;

  const Counters& counters() const;
  std::size_t session_count() const;
  // Every counter and the clients by state, as (name, value): "clients/active",
  // "messages/in/qos1", "drops/malformed", ... The names under stats_prefix.
  std::vector<std::pair<std::string, std::uint64_t>> stats() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace gateway::core
