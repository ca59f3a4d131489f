#pragma once
// The gateway's narrow view of the upstream MQTT broker. The translation core never sees this
// header (it emits actions); gateway/app turns actions into these calls and these events back into
// core events.
//
// Threads: every Upstream method is called from the loop thread only and never blocks.
//  - Paho: events are delivered through the EventSink from Paho's own threads; that sink must be
//    thread-safe and must not call back into Upstream (gateway/app queues the event and wakes the
//    loop with uv_async_send). A call may also deliver an event synchronously, from the loop
//    thread, when it is decided on the spot (a request on an unknown connection, a bad argument).
//  - native: everything runs on the loop the upstream was made with; events reach the sink on that
//    thread at the end of the loop iteration that produced them, never from inside an Upstream
//    call, so the sink may call Upstream methods (but must not destroy the upstream).
//
// Ordering: one connection's events reach the sink one at a time, in order. Its final event
// (ConnectFailed, ConnectionLost or Disconnected) comes after the completion of every request made
// on it, and nothing follows it; the id may then be connected again.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "mqtt_bridge/credentials.hpp"
#include "mqtt_bridge/tls_options.hpp"

struct uv_loop_s;  // libuv's loop (uv_loop_t); only the native client needs it

namespace mqtt_bridge {

using Bytes = std::vector<std::uint8_t>;
// One upstream MQTT connection. Chosen by the caller, unique while the connection exists.
using ConnectionId = std::uint64_t;
// Matches a request (publish/subscribe/unsubscribe) with its completion event.
using RequestId = std::uint64_t;
// Names a QoS 1/2 message from the broker that waits for acknowledge(); 0: nothing to acknowledge.
using AckToken = std::uint32_t;

struct Will {
  std::string topic;
  Bytes payload;
  int qos = 0;
  bool retain = false;
};

struct ConnectRequest {
  ConnectionId id = 0;
  std::string client_id;
  std::chrono::seconds keep_alive{60};
  bool clean_session = true;
  std::optional<Will> will;
  // This connection's own identity at the broker; nullopt: BrokerOptions::username/password.
  std::optional<Credentials> credentials;
};

struct BrokerOptions {
  std::string uri = "tcp://127.0.0.1:1883";
  std::string username;
  std::string password;
  // Used by ssl:// and mqtts:// URIs (tls_options.hpp); there is no fallback to plaintext.
  TlsOptions tls;
  int mqtt_version = 4;  // 4 = MQTT 3.1.1, 5 = MQTT 5.0
  std::chrono::seconds connect_timeout{10};
  // Per connection, what may wait on its way to the broker; beyond it a publish fails at once
  // (PublishDone ok=false, also for request 0), never queueing without bound. Paho: messages in
  // its send buffer. Native: QoS 1/2 waiting for the broker's in-flight window, and QoS 0
  // written while the socket is full. 0: the client's default.
  std::size_t max_queued_messages = 0;
  // Native client: a QoS 1/2 message from the broker is acknowledged to it (PUBACK / PUBREC) only
  // when acknowledge() is called with its MessageArrived::ack, so the broker keeps it until its
  // receiver has it. false: acknowledged on arrival. Paho always acknowledges on arrival (its
  // API has no manual acknowledgement) and hands out no tokens.
  bool manual_acknowledgement = false;
  // Native client with manual_acknowledgement: how many of the broker's QoS 1/2 messages may wait
  // for acknowledge() on one connection. MQTT 5 announces it as Receive Maximum; MQTT 3.1.1 has
  // none, so a QoS 1/2 PUBLISH that arrives while this many wait stops the reading there, until
  // an acknowledge() makes room (TCP's flow control then holds the broker's further packets, and
  // keep-alive goes on). A broker that overruns our MQTT 5 Receive Maximum is held the same way.
  // The receiver's queue can then hold every message it was handed without ever giving one up
  // unacknowledged.
  std::uint16_t receive_maximum = 0xFFFF;
  // Native client: QoS 0 is dropped (PublishDone ok=false) while the broker is this much further
  // behind than its best round trip, as a PINGREQ among the publishes shows (native/session.hpp).
  // Zero: never. Paho has no such bound (its send buffer is bounded by max_queued_messages).
  std::chrono::milliseconds max_broker_delay{50};
};

// Why a connection attempt failed, in the terms the gateway answers its client with.
enum class ConnectFailure {
  refused,      // the broker said no (bad client id, not authorized, ...): CONNACK not_supported
  unavailable,  // no answer, network error, server unavailable: CONNACK congestion
};

struct Connected {
  ConnectionId id;
  bool session_present;
};
struct ConnectFailed {
  ConnectionId id;
  ConnectFailure failure;
  std::string reason;
};
// The connection dropped without our asking (broker gone, network error).
struct ConnectionLost {
  ConnectionId id;
  std::string reason;
};
// Our disconnect() completed (or failed; the connection is gone either way).
struct Disconnected {
  ConnectionId id;
};
// retain is the flag as received: set for retained messages sent on subscription. ack: see
// BrokerOptions::manual_acknowledgement (0 when the message was acknowledged on arrival or is
// QoS 0).
struct MessageArrived {
  ConnectionId id;
  std::string topic;
  Bytes payload;
  int qos;
  bool retain;
  AckToken ack = 0;
};
// QoS 0: the message left the client; QoS 1/2: the broker acknowledged it (PUBACK / PUBCOMP).
// Native, CleanSession=false: a QoS 2 message in flight when the connection ends is ok as well:
// it is kept and completed exactly once when the session resumes (README, "When the link to the
// broker breaks").
struct PublishDone {
  ConnectionId id;
  RequestId request;
  bool ok;
  std::string reason;
};
struct SubscribeDone {
  ConnectionId id;
  RequestId request;
  bool ok;          // false also when the broker returned 0x80 (failure) for the filter
  int granted_qos;  // valid when ok; otherwise the broker's failure code, or 0x80
};
struct UnsubscribeDone {
  ConnectionId id;
  RequestId request;
  bool ok;
};

using Event = std::variant<Connected, ConnectFailed, ConnectionLost, Disconnected, MessageArrived,
                           PublishDone, SubscribeDone, UnsubscribeDone>;
using EventSink = std::function<void(Event)>;

class Upstream {
 public:
  virtual ~Upstream() = default;
  // Starts connecting; ends with Connected or ConnectFailed (or only Disconnected, if disconnect()
  // came first). Connecting an id that exists is a bug: it gets ConnectFailed{refused} and the
  // existing connection is left alone.
  virtual void connect(const ConnectRequest& request) = 0;
  // Ends the connection; ends with Disconnected. fire_will=false: a clean DISCONNECT, the broker
  // discards the will. fire_will=true: the will is published (a lost client): MQTT 5 sends
  // DISCONNECT with reason code 0x04 so the broker does it; MQTT 3.1.1 has no such DISCONNECT, so
  // the will is published on the connection itself, then a clean DISCONNECT follows. While still
  // connecting, the close waits for the connect's outcome. Unknown ids are ignored.
  virtual void disconnect(ConnectionId id, bool fire_will) = 0;
  // Each ends with exactly one completion event carrying `request`, also when the connection is
  // unknown, not connected yet, closing or lost meanwhile (ok=false then): nothing is ever silently
  // dropped. Exception: a publish with request 0 reports only its failure (the gateway's QoS 0 and
  // -1 publishes, where success needs no answer).
  // The topic and payload are moved in: the message is not copied on its way to the socket.
  virtual void publish(ConnectionId id, RequestId request, std::string topic, Bytes payload,
                       int qos, bool retain) = 0;
  virtual void subscribe(ConnectionId id, RequestId request, const std::string& filter,
                         int qos) = 0;
  virtual void unsubscribe(ConnectionId id, RequestId request, const std::string& filter) = 0;
  // The receiver has the message MessageArrived::ack named: the broker gets its PUBACK (QoS 1) or
  // PUBREC (QoS 2) now. Unknown ids and tokens (a connection that ended meanwhile: the broker
  // sends the message again when the session resumes) are ignored. Emits nothing.
  virtual void acknowledge(ConnectionId id, AckToken ack) = 0;
  // How many connections exist (connected or connecting).
  virtual std::size_t connection_count() const = 0;
  // Any thread. How many events were lost because building or delivering them threw on the
  // implementation's own thread (out of memory, a throwing sink). Each loss is also logged.
  virtual std::uint64_t dropped_events() const = 0;
};

// The Paho MQTT C++ implementation: one Paho async_client per connection, nothing persisted to
// disk, no automatic reconnect. Throws std::invalid_argument for a URI Paho refuses, an
// mqtt_version other than 4 or 5, or an empty sink. Its destructor blocks: it disconnects what is
// left (no will), waits for that (at most connect_timeout + 5 s) and delivers no more events.
std::unique_ptr<Upstream> make_paho_upstream(BrokerOptions options, EventSink sink);

// The native implementation (mqtt_bridge/native/): a sans-I/O MQTT 3.1.1/5 session per connection
// driven on `loop` (uv_tcp, uv_getaddrinfo for names, connect timeout, TCP_NODELAY), no threads,
// no locks, one write per connection per loop iteration. Loop thread only. Throws
// std::invalid_argument for a URI it cannot use, TLS options it cannot load (a file that does not
// read, a key that does not match its certificate), an mqtt_version other than 4 or 5, or an
// empty sink. TLS runs on the loop thread too (OpenSSL over memory BIOs, native/tls.hpp). Its destructor only closes handles (without
// DISCONNECT) and delivers no more events; the loop must run afterwards for the close callbacks,
// which free the memory.
std::unique_ptr<Upstream> make_native_upstream(uv_loop_s* loop, BrokerOptions options,
                                               EventSink sink);

}  // namespace mqtt_bridge
