// PahoUpstream: the loop-thread half (requests into Paho). The Paho-thread half, which turns
// Paho's answers into events, is paho_callbacks.cpp.
#include "paho_upstream.hpp"

#include <mqtt/disconnect_options.h>
#include <mqtt/message.h>

#include <algorithm>
#include <chrono>
#include <iterator>
#include <stdexcept>
#include <utility>
#include <vector>

#include "common/broker_uri.hpp"
#include "paho_options.hpp"

namespace mqtt_bridge::detail {

namespace {

// Explaining a failed TLS connect (tls_probe.hpp) takes at most this long.
constexpr std::chrono::milliseconds kTlsProbeTimeout{3000};
// Destruction waits at most this long beyond the connect timeout for connections to close.
constexpr std::chrono::seconds kShutdownMargin{5};
// Tokens of requests that completed before Paho's call returned, released together after one take
// of Paho's global mutex (keep_token()): at most this many, holding at most about this many
// payload octets, whatever the number of connections.
constexpr std::size_t kSpentBatch = 32;
constexpr std::size_t kSpentBytes = std::size_t{64} * 1024;

void* tag_context(std::uintptr_t tag) { return reinterpret_cast<void*>(tag); }

}  // namespace

PahoUpstream::PahoUpstream(BrokerOptions options, EventSink sink)
    : options_(std::move(options)), sink_(std::move(sink)) {
  validate(options_);
  if (!sink_) throw std::invalid_argument("the upstream needs an event sink");
  try {
    anchor_ = std::make_unique<mqtt::async_client>(options_.uri, "mqtt_bridge-anchor",
                                                   make_create_options(options_), nullptr);
  } catch (const mqtt::exception& e) {
    throw std::invalid_argument("broker URI '" + options_.uri + "' refused by Paho: " + e.what());
  }
  if (is_tls_uri(options_.uri)) {
    // Loads the certificates and keys now, so a bad file stops the start rather than every
    // connect; bounded so that explaining a failure never holds Paho's thread for long.
    const Endpoint endpoint = parse_broker_uri(options_.uri);
    tls_probe_ = std::make_unique<tls::Probe>(
        options_.tls, endpoint.host, endpoint.port,
        std::min<std::chrono::milliseconds>(options_.connect_timeout, kTlsProbeTimeout));
  }
  reaper_ = std::make_unique<Reaper>();
}

PahoUpstream::~PahoUpstream() {
  std::vector<ConnectionId> ids;
  {
    std::lock_guard lock(mutex_);
    shutting_down_ = true;
    ids.reserve(connections_.size());
    for (const auto& entry : connections_) ids.push_back(entry.first);
  }
  for (const ConnectionId id : ids) disconnect(id, false);
  std::unique_ptr<Reaper> reaper;
  {
    std::unique_lock lock(mutex_);
    all_finished_.wait_for(lock, options_.connect_timeout + kShutdownMargin,
                           [this] { return connections_.empty(); });
    reaper = std::move(reaper_);  // from here on, finished connections become orphans_
  }
  reaper.reset();  // runs what is queued, then destroys every retired connection
  std::unordered_map<ConnectionId, std::shared_ptr<Connection>> stuck;
  std::vector<std::shared_ptr<Connection>> orphans;
  {
    std::lock_guard lock(mutex_);
    stuck.swap(connections_);  // Paho never answered these; best effort from here
    orphans.swap(orphans_);
  }
  stuck.clear();
  orphans.clear();
  anchor_.reset();
  // Every client is gone, and destroying one takes Paho's global mutex: Paho uses none of these.
  const std::lock_guard lock(mutex_);
  spent_.clear();
}

void PahoUpstream::connect(const ConnectRequest& request) {
  {
    std::lock_guard lock(mutex_);
    if (connections_.contains(request.id)) {
      emit_locked(ConnectFailed{request.id, ConnectFailure::refused,
                                "connection id " + std::to_string(request.id) + " is in use"});
      return;
    }
  }

  auto connection = std::make_shared<Connection>(*this, request);
  Connection* raw = connection.get();
  try {
    if (!request.clean_session) {
      connection->persistence = std::make_unique<ReceivedQos2Persistence>(received_qos2_);
    }
    connection->client = std::make_unique<mqtt::async_client>(options_.uri, request.client_id,
                                                              make_create_options(options_),
                                                              connection->persistence.get());
    connection->client->set_message_callback(
        [raw](mqtt::const_message_ptr message) { raw->owner.on_message(*raw, message); });
    connection->client->set_connection_lost_handler(
        [raw](const std::string& cause) { raw->owner.on_connection_lost(*raw, cause); });
    if (options_.mqtt_version == 5) {
      // MQTT 5 §3.14: the broker may end the connection with a DISCONNECT of its own.
      connection->client->set_disconnected_handler(
          [raw](const mqtt::properties& /*properties*/, mqtt::ReasonCode reason) {
            raw->owner.on_connection_lost(*raw, "broker sent DISCONNECT, reason code " +
                                                    std::to_string(int{reason}) + " (" +
                                                    mqtt::exception::reason_code_str(reason) + ")");
          });
    }
  } catch (const std::exception& e) {
    // No connect was issued, so no callback can come: the client may die right here.
    std::lock_guard lock(mutex_);
    emit_locked(ConnectFailed{request.id, ConnectFailure::refused,
                              std::string("cannot create the MQTT client: ") + e.what()});
    return;
  }

  {
    std::lock_guard lock(mutex_);
    connections_.emplace(request.id, connection);
  }
  try {
    mqtt::token_ptr token =
        connection->client->connect(make_connect_options(options_, request), nullptr, *connection);
    std::lock_guard lock(mutex_);
    connection->connect_token = std::move(token);
  } catch (const std::exception& e) {
    std::lock_guard lock(mutex_);
    finish_locked(*connection, ConnectFailed{request.id, ConnectFailure::refused,
                                             std::string("connect not started: ") + e.what()});
  }
}

void PahoUpstream::disconnect(ConnectionId id, bool fire_will) {
  std::shared_ptr<Connection> connection;
  {
    std::lock_guard lock(mutex_);
    const auto it = connections_.find(id);
    if (it == connections_.end() || it->second->disconnect_requested) return;
    Connection& c = *it->second;
    c.disconnect_requested = true;
    c.fire_will = fire_will;
    // Paho cannot abort a connect in progress: connect_done() continues the close.
    if (c.phase == Phase::connecting) return;
    c.phase = Phase::closing;
    connection = it->second;
  }
  begin_close(connection);
}

void PahoUpstream::begin_close(const std::shared_ptr<Connection>& connection) {
  bool with_will = false;
  std::uintptr_t will_tag = 0;
  {
    std::lock_guard lock(mutex_);
    if (connection->finished) return;
    with_will = connection->fire_will && connection->will;
    if (with_will && options_.mqtt_version != 5) {
      will_tag = connection->next_tag++;
      connection->pending.emplace(will_tag,
                                  PendingRequest{.request = 0, .kind = RequestKind::will});
    }
  }
  if (will_tag == 0) {
    send_disconnect(connection, with_will);
    return;
  }
  // MQTT 3.1.1 has no "disconnect with will", and Paho cannot drop the network connection without
  // sending DISCONNECT (MQTTAsync_closeOnly always sends one while connected), which makes the
  // broker discard the will (§3.14.4). So the will is published here, on the client's own
  // connection; request_done() sends the DISCONNECT once it completed.
  const Will& will = *connection->will;
  try {
    auto message = mqtt::message::create(will.topic, will.payload.data(), will.payload.size(),
                                         will.qos, will.retain);
    // Two statements: the message argument must die before keep_token() (see Token lifetime).
    mqtt::token_ptr token =
        connection->client->publish(std::move(message), tag_context(will_tag), *connection);
    keep_token(*connection, will_tag, std::move(token));
  } catch (const std::exception&) {
    bool still_pending = false;
    {
      std::lock_guard lock(mutex_);
      still_pending = !connection->finished && connection->pending.erase(will_tag) > 0;
    }
    if (still_pending) send_disconnect(connection, false);
  }
}

void PahoUpstream::send_disconnect(const std::shared_ptr<Connection>& connection, bool with_will) {
  try {
    if (!with_will) {
      mqtt::token_ptr token = connection->client->disconnect(0, nullptr, *connection);
      std::lock_guard lock(mutex_);
      connection->disconnect_token = std::move(token);
      return;
    }
    // MQTT 5 §3.14.2.1: reason code 0x04 asks the broker to publish the will.
    const mqtt::disconnect_options options = make_disconnect_with_will_options();
    // Paho 1.2 has no disconnect(options, context, listener): the listener is attached to the
    // token after the request went out. Had the token completed before that, the listener was not
    // called, so complete here; finish_locked() is idempotent if both happen.
    const mqtt::token_ptr token = connection->client->disconnect(options);
    {
      std::lock_guard lock(mutex_);
      connection->disconnect_token = token;
    }
    token->set_action_callback(*connection);
    bool done = false;
    try {
      done = token->try_wait();
    } catch (const mqtt::exception&) {
      done = true;
    }
    if (done) {
      std::lock_guard lock(mutex_);
      finish_locked(*connection, Disconnected{connection->id});
    }
  } catch (const std::exception&) {
    // Paho refused (typically: no longer connected). The connection is gone either way.
    std::lock_guard lock(mutex_);
    finish_locked(*connection, Disconnected{connection->id});
  }
}

std::optional<std::pair<std::shared_ptr<Connection>, std::uintptr_t>> PahoUpstream::start_request(
    ConnectionId id, RequestId request, RequestKind kind, int qos) {
  std::lock_guard lock(mutex_);
  const auto it = connections_.find(id);
  const char* refusal = nullptr;
  if (it == connections_.end()) {
    refusal = "unknown connection";
  } else if (it->second->phase == Phase::connecting) {
    refusal = "not connected yet";
  } else if (it->second->phase == Phase::closing) {
    refusal = "connection is closing";
  }
  if (refusal != nullptr) {
    emit_failure_locked(id, PendingRequest{.request = request, .kind = kind, .qos = qos}, refusal);
    return std::nullopt;
  }
  Connection& c = *it->second;
  const std::uintptr_t tag = c.next_tag++;
  c.pending.emplace(tag, PendingRequest{.request = request, .kind = kind, .qos = qos});
  return std::pair{it->second, tag};
}

void PahoUpstream::fail_request(Connection& connection, std::uintptr_t tag,
                                const std::string& reason) {
  std::lock_guard lock(mutex_);
  if (connection.finished) return;
  const auto it = connection.pending.find(tag);
  if (it == connection.pending.end()) return;
  const PendingRequest pending = it->second;
  connection.pending.erase(it);
  emit_failure_locked(connection.id, pending, reason);
}

void PahoUpstream::publish(ConnectionId id, RequestId request, std::string topic, Bytes payload,
                           int qos, bool retain) {
  auto started = start_request(id, request, RequestKind::publish);
  if (!started) return;
  auto& [connection, tag] = *started;
  try {
    // Paho copies the payload into its own buffer whatever we pass; the topic is moved.
    auto message =
        mqtt::message::create(std::move(topic), payload.data(), payload.size(), qos, retain);
    // Two statements: the message argument must die before keep_token() (see Token lifetime).
    mqtt::token_ptr token =
        connection->client->publish(std::move(message), tag_context(tag), *connection);
    keep_token(*connection, tag, std::move(token), payload.size());
  } catch (const std::exception& e) {
    fail_request(*connection, tag, e.what());
  }
}

void PahoUpstream::subscribe(ConnectionId id, RequestId request, const std::string& filter,
                             int qos) {
  auto started = start_request(id, request, RequestKind::subscribe, qos);
  if (!started) return;
  auto& [connection, tag] = *started;
  try {
    mqtt::token_ptr token =
        connection->client->subscribe(filter, qos, tag_context(tag), *connection);
    keep_token(*connection, tag, std::move(token));
  } catch (const std::exception& e) {
    fail_request(*connection, tag, e.what());
  }
}

void PahoUpstream::unsubscribe(ConnectionId id, RequestId request, const std::string& filter) {
  auto started = start_request(id, request, RequestKind::unsubscribe);
  if (!started) return;
  auto& [connection, tag] = *started;
  try {
    mqtt::token_ptr token = connection->client->unsubscribe(filter, tag_context(tag), *connection);
    keep_token(*connection, tag, std::move(token));
  } catch (const std::exception& e) {
    fail_request(*connection, tag, e.what());
  }
}

void PahoUpstream::keep_token(Connection& connection, std::uintptr_t tag, mqtt::token_ptr token,
                              std::size_t bytes) {
  std::vector<mqtt::token_ptr> released;
  {
    std::lock_guard lock(mutex_);
    if (connection.finished) {
      // finish_locked() may have failed the request before Paho ran our listener, which it may
      // still do: the token goes with the Connection, after its client.
      connection.late_tokens.push_back(std::move(token));
      return;
    }
    if (const auto it = connection.pending.find(tag); it != connection.pending.end()) {
      it->second.token = std::move(token);  // request_done() drops it on Paho's thread
      return;
    }
    spent_.push_back(std::move(token));
    spent_bytes_ += bytes;
    if (spent_.size() < kSpentBatch && spent_bytes_ < kSpentBytes) return;
    released.reserve(kSpentBatch);
    released.swap(spent_);
    spent_bytes_ = 0;
  }
  // Our listener ran for each of these requests before we got here (request_done() erased it,
  // under mutex_), inside a callback dispatch that holds Paho's global mutex until Paho's own
  // epilogue, remove_token() included, is done (reaper.hpp). is_connected() takes that mutex (one
  // for every client), so once it returns Paho holds no reference to any of them and touches them
  // no more: ours can go. The same mutex orders it for ThreadSanitizer, which cannot see the
  // uninstrumented Paho's counting.
  static_cast<void>(connection.client->is_connected());
  released.clear();
}

std::size_t PahoUpstream::connection_count() const {
  std::lock_guard lock(mutex_);
  return connections_.size();
}

}  // namespace mqtt_bridge::detail

namespace mqtt_bridge {

std::unique_ptr<Upstream> make_paho_upstream(BrokerOptions options, EventSink sink) {
  return std::make_unique<detail::PahoUpstream>(std::move(options), std::move(sink));
}

}  // namespace mqtt_bridge
