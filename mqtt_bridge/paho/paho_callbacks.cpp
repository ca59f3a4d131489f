// PahoUpstream: the Paho-thread half. Every entry point here runs on one of Paho's threads, turns
// what Paho reports into an Event under mutex_, and lets no exception escape into Paho's C code.
#include <mqtt/message.h>
#include <mqtt/server_response.h>
#include <spdlog/spdlog.h>

#include <exception>
#include <vector>

#include "paho_options.hpp"
#include "paho_upstream.hpp"

namespace mqtt_bridge::detail {

namespace {

// MQTT 3.1.1 §3.9.3 (SUBACK "Failure") and MQTT 5 §2.4: codes from 0x80 on are failures.
constexpr int kFirstFailureCode = 0x80;

// Marks one of our callbacks as running for the reaper (it never destroys a busy connection).
class CallbackScope {
 public:
  explicit CallbackScope(std::atomic<int>& running) : running_(running) {
    running_.fetch_add(1, std::memory_order_acq_rel);
  }
  CallbackScope(const CallbackScope&) = delete;
  CallbackScope& operator=(const CallbackScope&) = delete;
  ~CallbackScope() { running_.fetch_sub(1, std::memory_order_acq_rel); }

 private:
  std::atomic<int>& running_;
};

const char* token_kind(mqtt::token::Type type) {
  switch (type) {
    case mqtt::token::Type::CONNECT: return "connect result";
    case mqtt::token::Type::DISCONNECT: return "disconnect result";
    case mqtt::token::Type::PUBLISH: return "publish result";
    case mqtt::token::Type::SUBSCRIBE: return "subscribe result";
    case mqtt::token::Type::UNSUBSCRIBE: return "unsubscribe result";
  }
  return "request result";
}

// Inside a catch handler: what the exception being handled says.
const char* current_exception_text() noexcept {
  try {
    throw;
  } catch (const std::exception& e) {
    return e.what();
  } catch (...) {
    return "an exception not derived from std::exception";
  }
}

std::uintptr_t tag_of(const mqtt::token& token) {
  return reinterpret_cast<std::uintptr_t>(token.get_user_context());
}

// The broker's code for the first (only) filter of a SUBACK/UNSUBACK; nullopt when Paho has none.
template <typename Response>
std::optional<int> first_code(const Response& response) {
  const auto& codes = response.get_reason_codes();
  if (codes.empty()) return std::nullopt;
  return static_cast<int>(codes.front());
}

}  // namespace

Connection::Connection(PahoUpstream& owner_in, const ConnectRequest& request)
    : owner(owner_in), id(request.id), will(request.will) {}

void Connection::on_success(const mqtt::token& token) { owner.on_token(*this, token, true); }

void Connection::on_failure(const mqtt::token& token) { owner.on_token(*this, token, false); }

void PahoUpstream::on_token(Connection& connection, const mqtt::token& token, bool ok) {
  const CallbackScope scope(connection.callbacks_running);
  try {
    switch (token.get_type()) {
      case mqtt::token::Type::CONNECT: connect_done(connection, token, ok); break;
      case mqtt::token::Type::DISCONNECT: {
        // Failed or not, the connection is gone (Paho closes the socket either way).
        std::lock_guard lock(mutex_);
        finish_locked(connection, Disconnected{connection.id});
        break;
      }
      case mqtt::token::Type::PUBLISH:
      case mqtt::token::Type::SUBSCRIBE:
      case mqtt::token::Type::UNSUBSCRIBE: request_done(connection, token, ok); break;
    }
  } catch (...) {  // nothing may unwind into Paho's C threads
    count_dropped(connection, token_kind(token.get_type()));
  }
}

void PahoUpstream::connect_done(Connection& connection, const mqtt::token& token, bool ok) {
  if (!ok) {
    ConnectFailure failure = classify_connect_failure(
        options_.mqtt_version, token.get_return_code(), token.get_reason_code());
    std::string reason = describe_failure(token);
    // Paho says only "failure" when TLS is what failed: a handshake of our own finds out what
    // (tls_probe.hpp), unless the broker's CONNACK already said no.
    if (tls_probe_ && failure == ConnectFailure::unavailable && token.get_return_code() < 0) {
      if (auto verdict = tls_probe_->explain()) {
        if (verdict->refused) failure = ConnectFailure::refused;
        reason = verdict->reason + " (" + reason + ")";
      }
    }
    std::lock_guard lock(mutex_);
    if (connection.disconnect_requested) {
      finish_locked(connection, Disconnected{connection.id});
    } else {
      finish_locked(connection, ConnectFailed{connection.id, failure, std::move(reason)});
    }
    return;
  }

  bool session_present = false;
  try {
    session_present = token.get_connect_response().is_session_present();
  } catch (const mqtt::exception& e) {
    spdlog::debug("upstream connection {}: no CONNACK details ({}): reporting no session present",
                  connection.id, e.what());
  }
  std::lock_guard lock(mutex_);
  if (connection.finished) return;
  if (connection.disconnect_requested) {
    // disconnect() came while connecting: the gateway no longer wants this connection, so it never
    // hears Connected, only the Disconnected that ends the close.
    connection.phase = Phase::closing;
    post_locked(find_locked(connection), &PahoUpstream::begin_close);
  } else {
    connection.phase = Phase::connected;
    emit_locked(Connected{connection.id, session_present});
  }
}

void PahoUpstream::request_done(Connection& connection, const mqtt::token& token, bool ok) {
  const std::uintptr_t tag = tag_of(token);
  std::string reason = ok ? std::string() : describe_failure(token);
  // Read the broker's answer before taking mutex_ (the token has a lock of its own).
  std::optional<int> code;
  try {
    if (ok && token.get_type() == mqtt::token::Type::SUBSCRIBE) {
      code = first_code(token.get_subscribe_response());
    } else if (ok && token.get_type() == mqtt::token::Type::UNSUBSCRIBE &&
               options_.mqtt_version == 5) {
      code = first_code(token.get_unsubscribe_response());
    }
  } catch (const mqtt::exception& e) {
    spdlog::debug("upstream connection {}: acknowledged, but no reason codes to read ({})",
                  connection.id, e.what());
  }
  const bool refused = code && *code >= kFirstFailureCode;

  std::lock_guard lock(mutex_);
  if (connection.finished) return;
  const auto it = connection.pending.find(tag);
  if (it == connection.pending.end()) return;  // already failed by a Paho call that threw
  PendingRequest pending = std::move(it->second);
  connection.pending.erase(it);
  pending.token.reset();  // Paho drops its own reference after we return (see Token lifetime)
  switch (pending.kind) {
    case RequestKind::publish:
      // Request 0 wants to hear only of a failure: a QoS 0 PUBLISH succeeding is the common case,
      // and one event per message back to the loop thread would only cost.
      if (ok && pending.request == 0) break;
      emit_locked(PublishDone{connection.id, pending.request, ok, std::move(reason)});
      break;
    case RequestKind::subscribe:
      emit_locked(SubscribeDone{connection.id, pending.request, ok && !refused,
                                ok ? code.value_or(pending.qos) : kFirstFailureCode});
      break;
    case RequestKind::unsubscribe:
      emit_locked(UnsubscribeDone{connection.id, pending.request, ok && !refused});
      break;
    case RequestKind::will:
      // MQTT 3.1.1 fire_will: the will went out (or could not); now the DISCONNECT.
      post_locked(find_locked(connection), &PahoUpstream::send_plain_disconnect);
      break;
  }
}

void PahoUpstream::on_message(Connection& connection, const mqtt::const_message_ptr& message) {
  const CallbackScope scope(connection.callbacks_running);
  try {
    const mqtt::binary& payload = message->get_payload();
    MessageArrived event{connection.id, message->get_topic(), Bytes(payload.begin(), payload.end()),
                         message->get_qos(), message->is_retained()};
    std::lock_guard lock(mutex_);
    if (connection.finished) return;
    emit_locked(std::move(event));
  } catch (...) {  // nothing may unwind into Paho's C threads
    count_dropped(connection, "downlink message");
  }
}

void PahoUpstream::on_connection_lost(Connection& connection, const std::string& cause) {
  const CallbackScope scope(connection.callbacks_running);
  try {
    std::lock_guard lock(mutex_);
    if (connection.disconnect_requested) {
      finish_locked(connection, Disconnected{connection.id});
    } else {
      finish_locked(connection,
                    ConnectionLost{connection.id, cause.empty() ? "connection lost" : cause});
    }
  } catch (...) {  // nothing may unwind into Paho's C threads
    count_dropped(connection, "connection-lost event");
  }
}

void PahoUpstream::count_dropped(const Connection& connection, const char* what) noexcept {
  const std::uint64_t total = dropped_events_.fetch_add(1, std::memory_order_relaxed) + 1;
  // spdlog catches what formatting or a sink throws and reports it on stderr itself, so this
  // cannot throw either.
  spdlog::error("upstream connection {}: a {} was dropped: {} ({} upstream events dropped so far)",
                connection.id, what, current_exception_text(), total);
}

void PahoUpstream::emit_locked(Event event) {
  if (shutting_down_) return;
  sink_(std::move(event));
}

void PahoUpstream::emit_failure_locked(ConnectionId id, const PendingRequest& pending,
                                       const std::string& reason) {
  switch (pending.kind) {
    case RequestKind::publish: emit_locked(PublishDone{id, pending.request, false, reason}); break;
    case RequestKind::subscribe:
      emit_locked(SubscribeDone{id, pending.request, false, kFirstFailureCode});
      break;
    case RequestKind::unsubscribe: emit_locked(UnsubscribeDone{id, pending.request, false}); break;
    case RequestKind::will: break;  // internal: nobody waits for it
  }
}

void PahoUpstream::post_locked(std::shared_ptr<Connection> connection,
                               void (PahoUpstream::*step)(const std::shared_ptr<Connection>&)) {
  if (!connection || !reaper_) return;
  reaper_->post([this, connection = std::move(connection), step] { (this->*step)(connection); });
}

std::shared_ptr<Connection> PahoUpstream::find_locked(const Connection& connection) const {
  const auto it = connections_.find(connection.id);
  if (it == connections_.end() || it->second.get() != &connection) return nullptr;
  return it->second;
}

void PahoUpstream::finish_locked(Connection& connection, Event final_event) {
  if (connection.finished) return;
  connection.finished = true;
  // State first, events last: a throwing sink must not leave the connection half-finished.
  auto pending = std::move(connection.pending);
  connection.pending.clear();
  // Before retire(): our references must be gone before the reaper may destroy the client.
  for (auto& entry : pending) entry.second.token.reset();
  if (std::shared_ptr<Connection> keep = find_locked(connection)) {
    connections_.erase(connection.id);
    // Never destroyed here: this may be the connection's own callback thread.
    if (reaper_) {
      reaper_->retire(std::move(keep), &connection.callbacks_running);
    } else {
      orphans_.push_back(std::move(keep));  // the destructor is under way and destroys these
    }
  }
  if (connections_.empty()) all_finished_.notify_all();
  for (const auto& entry : pending) {
    emit_failure_locked(connection.id, entry.second, "connection closed");
  }
  emit_locked(std::move(final_event));
}

}  // namespace mqtt_bridge::detail
