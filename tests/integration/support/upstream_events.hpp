#pragma once
// Helpers for tests of mqtt_bridge::Upstream: an EventSink that queues events behind a mutex and
// a condition_variable and is read with deadlines, and request builders.

#include <doctest/doctest.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <iterator>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "mqtt_bridge/upstream.hpp"
#include "support/broker.hpp"

namespace test_support {

inline constexpr std::chrono::seconds kEventTimeout{10};

class UpstreamEvents {
 public:
  // Must outlive the Upstream it is given to.
  mqtt_bridge::EventSink sink() {
    return [this](mqtt_bridge::Event event) {
      {
        std::lock_guard lock(mutex_);
        queue_.push_back(std::move(event));
      }
      changed_.notify_all();
    };
  }

  // Removes and returns the first event of type T that satisfies `match`; nullopt at the deadline.
  template <typename T>
  std::optional<T> next(std::chrono::milliseconds timeout = kEventTimeout,
                        const std::function<bool(const T&)>& match = {}) {
    std::unique_lock lock(mutex_);
    std::optional<T> found;
    changed_.wait_for(lock, timeout, [&] {
      for (auto it = queue_.begin(); it != queue_.end(); ++it) {
        const T* event = std::get_if<T>(&*it);
        if (event != nullptr && (!match || match(*event))) {
          found = *event;
          queue_.erase(it);
          return true;
        }
      }
      return false;
    });
    return found;
  }

  // Waits until at least `n` events of type T are queued; false at the deadline.
  template <typename T>
  bool wait_count(std::size_t n, std::chrono::milliseconds timeout = kEventTimeout) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] { return count_locked<T>() >= n; });
  }

  // Removes and returns everything queued, in arrival order.
  std::vector<mqtt_bridge::Event> take_all() {
    std::lock_guard lock(mutex_);
    std::vector<mqtt_bridge::Event> all(std::make_move_iterator(queue_.begin()),
                                        std::make_move_iterator(queue_.end()));
    queue_.clear();
    return all;
  }

  // How many events of type T are queued (not yet taken by next()).
  template <typename T>
  std::size_t count() const {
    std::lock_guard lock(mutex_);
    return count_locked<T>();
  }

 private:
  template <typename T>
  std::size_t count_locked() const {
    std::size_t n = 0;
    for (const auto& event : queue_) n += std::holds_alternative<T>(event) ? 1 : 0;
    return n;
  }

  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<mqtt_bridge::Event> queue_;
};

inline mqtt_bridge::Bytes bytes(const std::string& text) { return {text.begin(), text.end()}; }
inline std::string text(const mqtt_bridge::Bytes& data) { return {data.begin(), data.end()}; }

inline mqtt_bridge::BrokerOptions broker_options(const std::string& uri, int mqtt_version) {
  mqtt_bridge::BrokerOptions options;
  options.uri = uri;
  options.mqtt_version = mqtt_version;
  options.connect_timeout = std::chrono::seconds{3};
  return options;
}

inline mqtt_bridge::ConnectRequest connect_request(
    mqtt_bridge::ConnectionId id, std::optional<mqtt_bridge::Will> will = std::nullopt) {
  mqtt_bridge::ConnectRequest request;
  request.id = id;
  request.client_id = unique_client_id("upstream");
  request.keep_alive = std::chrono::seconds{30};
  request.will = std::move(will);
  return request;
}

// Connects and requires Connected for that id.
inline void connect_ok(mqtt_bridge::Upstream& upstream, UpstreamEvents& events,
                       const mqtt_bridge::ConnectRequest& request) {
  upstream.connect(request);
  const auto connected = events.next<mqtt_bridge::Connected>(
      kEventTimeout, [&](const mqtt_bridge::Connected& e) { return e.id == request.id; });
  REQUIRE_MESSAGE(connected.has_value(), "no Connected for connection " << request.id);
}

// Disconnects and requires Disconnected for that id.
inline void disconnect_ok(mqtt_bridge::Upstream& upstream, UpstreamEvents& events,
                          mqtt_bridge::ConnectionId id, bool fire_will = false) {
  upstream.disconnect(id, fire_will);
  const auto disconnected = events.next<mqtt_bridge::Disconnected>(
      kEventTimeout, [&](const mqtt_bridge::Disconnected& e) { return e.id == id; });
  REQUIRE_MESSAGE(disconnected.has_value(), "no Disconnected for connection " << id);
}

}  // namespace test_support
