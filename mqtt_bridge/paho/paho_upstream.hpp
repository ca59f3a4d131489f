#pragma once
// The Paho implementation of Upstream. Private to mqtt_bridge.
//
// Threads and locks:
//  - The loop thread calls the Upstream methods (paho_upstream.cpp).
//  - Paho's send and receive threads call the listeners and handlers (paho_callbacks.cpp).
//  - The reaper thread runs follow-up Paho calls and destroys finished connections (reaper.hpp).
// `mutex_` guards the connection map and every Connection field marked "guarded". Events are
// handed to the sink with `mutex_` held, so a connection's events are totally ordered and none
// follows its final event (Connected/ConnectFailed/ConnectionLost/Disconnected).
// Lock order: Paho's internal mutexes -> mutex_ -> the reaper's and the sink's mutexes. Paho runs
// some callbacks with its global mutex held, so nothing here calls into Paho while holding mutex_.
//
// Token lifetime: Paho C++ hands back a shared_ptr to each request's token and keeps one itself,
// which it drops in async_client::remove_token() right after our listener returns, inside the
// same callback dispatch, with Paho's global mutex held (reaper.hpp). As libpaho-mqttpp3 is not
// instrumented, ThreadSanitizer cannot see its reference counting, so our reference is dropped
// only where Paho's global mutex orders it after Paho's last use:
//  - by our listener, on Paho's own thread, inside the dispatch (request_done());
//  - when our listener had run before Paho's call returned (keep_token()): kept in `spent_`,
//    and released in batches on the loop or reaper thread, each after taking that mutex once
//    (one call into Paho per batch rather than per request: a QoS 0 publish often completes
//    that fast, and each extra take of Paho's global mutex contends with Paho's own threads);
//  - when the connection had finished before Paho's call returned, so that Paho may not have run
//    our listener yet: in Connection::late_tokens, released with the Connection;
//  - with the Connection, after its client: destroying the client takes that same mutex.
// The same goes for what a token owns (the message of a publish): our copies die before we hand
// the token over under mutex_, so Paho's final release is ordered after them.

#include <mqtt/async_client.h>
#include <mqtt/iaction_listener.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "mqtt_bridge/upstream.hpp"
#include "reaper.hpp"
#include "received_qos2.hpp"
#include "tls/tls_probe.hpp"

namespace mqtt_bridge::detail {

class PahoUpstream;

enum class RequestKind : std::uint8_t { publish, subscribe, unsubscribe, will };

struct PendingRequest {
  RequestId request;
  RequestKind kind;
  int qos = 0;  // subscribe: what was asked for, reported if the broker's answer has none
  mqtt::token_ptr token{};  // our reference to Paho's token, see "Token lifetime" below
};

enum class Phase : std::uint8_t {
  connecting,  // connect token outstanding
  connected,   // Connected was emitted
  closing,     // our disconnect is under way (will publish, DISCONNECT)
};

// One upstream MQTT connection. Paho's action listener for all of its tokens; the token's user
// context carries the request's tag (a per-connection counter, never a pointer, so a late callback
// can never be mistaken for a newer request).
struct Connection final : mqtt::iaction_listener {
  Connection(PahoUpstream& owner_in, const ConnectRequest& request);

  void on_failure(const mqtt::token& token) override;
  void on_success(const mqtt::token& token) override;

  PahoUpstream& owner;
  const ConnectionId id;
  const std::optional<Will> will;
  // How many of our callbacks are running for this connection; the reaper waits for 0.
  std::atomic<int> callbacks_running{0};

  // Guarded by owner.mutex_.
  Phase phase = Phase::connecting;
  bool finished = false;  // the final event was emitted
  bool disconnect_requested = false;
  bool fire_will = false;
  std::uintptr_t next_tag = 1;
  std::map<std::uintptr_t, PendingRequest> pending;  // by tag: failed in the order they were sent
  mqtt::token_ptr connect_token;                     // kept until destruction, see "Token lifetime"
  mqtt::token_ptr disconnect_token;                  // likewise
  std::vector<mqtt::token_ptr> late_tokens;          // likewise: returned after `finished`

  // CleanSession=false: the QoS 2 messages this connection received and has not delivered yet
  // (received_qos2.hpp), for the next connection of the same ClientId. Paho uses it until the
  // client below is destroyed, so it is declared before it.
  std::unique_ptr<ReceivedQos2Persistence> persistence;
  // Set once on the loop thread before the connection is shared with any other thread. Declared
  // last so it is destroyed first: no callback can run once the members above are gone.
  std::unique_ptr<mqtt::async_client> client;
};

class PahoUpstream final : public Upstream {
 public:
  PahoUpstream(BrokerOptions options, EventSink sink);
  PahoUpstream(const PahoUpstream&) = delete;
  PahoUpstream& operator=(const PahoUpstream&) = delete;
  // Blocks: disconnects what is left (no will), waits for it (bounded), destroys every client.
  // No event is delivered once destruction began.
  ~PahoUpstream() override;

  void connect(const ConnectRequest& request) override;
  void disconnect(ConnectionId id, bool fire_will) override;
  void publish(ConnectionId id, RequestId request, std::string topic, Bytes payload, int qos,
               bool retain) override;
  void subscribe(ConnectionId id, RequestId request, const std::string& filter, int qos) override;
  void unsubscribe(ConnectionId id, RequestId request, const std::string& filter) override;
  // Paho acknowledged every message on arrival and handed out no token: nothing to do.
  void acknowledge(ConnectionId, AckToken) override {}
  std::size_t connection_count() const override;
  std::uint64_t dropped_events() const override {
    return dropped_events_.load(std::memory_order_relaxed);
  }

  // Paho threads (paho_callbacks.cpp).
  void on_token(Connection& connection, const mqtt::token& token, bool ok);
  void on_message(Connection& connection, const mqtt::const_message_ptr& message);
  void on_connection_lost(Connection& connection, const std::string& cause);
  // Paho threads, inside a catch: counts and logs an event lost to an exception, which must not
  // unwind into Paho's C code. Never throws.
  void count_dropped(const Connection& connection, const char* what) noexcept;

 private:
  // Any thread, without mutex_: starts the close of a connection that reached Phase::closing.
  void begin_close(const std::shared_ptr<Connection>& connection);
  void send_disconnect(const std::shared_ptr<Connection>& connection, bool with_will);
  void send_plain_disconnect(const std::shared_ptr<Connection>& connection) {
    send_disconnect(connection, false);
  }
  // Tags a request and registers it; nullopt (and a failure event) when it cannot be sent now.
  std::optional<std::pair<std::shared_ptr<Connection>, std::uintptr_t>> start_request(
      ConnectionId id, RequestId request, RequestKind kind, int qos = 0);
  // A request whose Paho call threw: completes it as failed unless already completed.
  void fail_request(Connection& connection, std::uintptr_t tag, const std::string& reason);
  // Loop or reaper thread, after a Paho call returned `token` for the request tagged `tag`;
  // `bytes`: the payload the token holds (a publish's).
  void keep_token(Connection& connection, std::uintptr_t tag, mqtt::token_ptr token,
                  std::size_t bytes = 0);

  void connect_done(Connection& connection, const mqtt::token& token, bool ok);
  void request_done(Connection& connection, const mqtt::token& token, bool ok);

  // mutex_ held. Emits nothing once the upstream is being destroyed.
  void emit_locked(Event event);
  // mutex_ held. Fails what is pending, emits `final_event`, drops the connection from the map and
  // retires it to the reaper. Idempotent.
  void finish_locked(Connection& connection, Event final_event);
  void emit_failure_locked(ConnectionId id, const PendingRequest& pending,
                           const std::string& reason);
  std::shared_ptr<Connection> find_locked(const Connection& connection) const;
  // mutex_ held. Runs `step` for `connection` on the reaper thread (nothing if either is gone).
  void post_locked(std::shared_ptr<Connection> connection,
                   void (PahoUpstream::*step)(const std::shared_ptr<Connection>&));

  const BrokerOptions options_;
  const EventSink sink_;
  // Shared by the connections of every CleanSession=false ClientId (received_qos2.hpp).
  const std::shared_ptr<ReceivedQos2Store> received_qos2_ = std::make_shared<ReceivedQos2Store>();
  // ssl:// and mqtts:// only: explains a failed connect (Paho says only "failure"). Any thread.
  std::unique_ptr<tls::Probe> tls_probe_;
  std::atomic<std::uint64_t> dropped_events_{0};

  mutable std::mutex mutex_;
  std::condition_variable all_finished_;  // signalled when `connections_` becomes empty
  std::unordered_map<ConnectionId, std::shared_ptr<Connection>> connections_;  // guarded
  bool shutting_down_ = false;                                                 // guarded
  std::vector<std::shared_ptr<Connection>> orphans_;  // guarded; finished while destroying
  // Guarded. Tokens of requests whose listener had run before Paho's call returned, waiting for
  // the next take of Paho's global mutex (keep_token(); released at the latest with the upstream,
  // after every client is destroyed), and the payload octets they hold.
  std::vector<mqtt::token_ptr> spent_;
  std::size_t spent_bytes_ = 0;

  // Never connected. Validates the URI at construction and keeps Paho's client count above zero:
  // destroying the last Paho client stops Paho's shared threads (MQTTAsync_terminate), which would
  // block the destroying thread for up to seconds and race with a new client starting them again.
  std::unique_ptr<mqtt::async_client> anchor_;
  // Guarded (callbacks use it under mutex_); the destructor takes it out to stop it.
  std::unique_ptr<Reaper> reaper_;
};

}  // namespace mqtt_bridge::detail
