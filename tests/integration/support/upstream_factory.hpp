#pragma once
// The Upstream under test: MQTTSN_TEST_CLIENT=paho (default) or native, so that one contract test
// suite runs against both implementations (tests/integration/CMakeLists.txt registers it twice).
//
// The native client lives on a libuv loop; the contract tests call it from the test thread and
// wait for events there. LoopThreadUpstream gives it a loop thread of its own: every call runs on
// that thread and returns once it has run there (as a call on the loop thread would), and events
// reach the test's thread-safe sink from it.

#include <uv.h>

#include <deque>
#include <exception>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>

#include "mqtt_bridge/upstream.hpp"
#include "support/gateway_process.hpp"

namespace test_support {

class LoopThreadUpstream final : public mqtt_bridge::Upstream {
 public:
  LoopThreadUpstream(mqtt_bridge::BrokerOptions options, mqtt_bridge::EventSink sink) {
    uv_loop_init(&loop_);
    uv_async_init(&loop_, &wakeup_, [](uv_async_t* handle) {
      static_cast<LoopThreadUpstream*>(handle->data)->run_tasks();
    });
    wakeup_.data = this;
    thread_ = std::thread([this] { uv_run(&loop_, UV_RUN_DEFAULT); });
    // Made on the loop thread; its exceptions (a bad URI) reach the caller.
    try {
      call([&] { inner_ = mqtt_bridge::make_native_upstream(&loop_, options, sink); });
    } catch (...) {
      stop();
      throw;
    }
  }
  LoopThreadUpstream(const LoopThreadUpstream&) = delete;
  LoopThreadUpstream& operator=(const LoopThreadUpstream&) = delete;
  ~LoopThreadUpstream() override { stop(); }

  void connect(const mqtt_bridge::ConnectRequest& request) override {
    call([&] { inner_->connect(request); });
  }
  void disconnect(mqtt_bridge::ConnectionId id, bool fire_will) override {
    call([&] { inner_->disconnect(id, fire_will); });
  }
  void publish(mqtt_bridge::ConnectionId id, mqtt_bridge::RequestId request, std::string topic,
               mqtt_bridge::Bytes payload, int qos, bool retain) override {
    call([&] { inner_->publish(id, request, std::move(topic), std::move(payload), qos, retain); });
  }
  void subscribe(mqtt_bridge::ConnectionId id, mqtt_bridge::RequestId request,
                 const std::string& filter, int qos) override {
    call([&] { inner_->subscribe(id, request, filter, qos); });
  }
  void unsubscribe(mqtt_bridge::ConnectionId id, mqtt_bridge::RequestId request,
                   const std::string& filter) override {
    call([&] { inner_->unsubscribe(id, request, filter); });
  }
  void acknowledge(mqtt_bridge::ConnectionId id, mqtt_bridge::AckToken ack) override {
    call([&] { inner_->acknowledge(id, ack); });
  }

  std::uint64_t dropped_events() const override {
    std::uint64_t dropped = 0;
    const_cast<LoopThreadUpstream*>(this)->call([&] { dropped = inner_->dropped_events(); });
    return dropped;
  }

  // Runs `calls` on the loop thread in one go: nothing the loop does comes between them, as for
  // the actions the gateway executes in one batch.
  void batch(const std::function<void(mqtt_bridge::Upstream&)>& calls) {
    call([&] { calls(*inner_); });
  }

  std::size_t connection_count() const override {
    std::size_t count = 0;
    const_cast<LoopThreadUpstream*>(this)->call([&] { count = inner_->connection_count(); });
    return count;
  }

 private:
  void post(std::function<void()> task) {
    {
      const std::lock_guard lock(mutex_);
      tasks_.push_back(std::move(task));
    }
    uv_async_send(&wakeup_);
  }

  // Runs `task` on the loop thread and waits for it; rethrows what it threw.
  void call(const std::function<void()>& task) {
    std::promise<void> done;
    auto result = done.get_future();
    post([&] {
      try {
        task();
        done.set_value();
      } catch (...) {
        done.set_exception(std::current_exception());
      }
    });
    result.get();
  }

  void run_tasks() {
    std::deque<std::function<void()>> batch;
    {
      const std::lock_guard lock(mutex_);
      batch.swap(tasks_);
    }
    for (auto& task : batch) task();
  }

  // Destroys the client on its thread, lets the loop run its close callbacks, joins.
  void stop() {
    if (!thread_.joinable()) return;
    post([this] {
      inner_.reset();
      uv_close(reinterpret_cast<uv_handle_t*>(&wakeup_), nullptr);
    });
    thread_.join();
    uv_loop_close(&loop_);
  }

  uv_loop_t loop_{};
  uv_async_t wakeup_{};
  std::mutex mutex_;
  std::deque<std::function<void()>> tasks_;
  std::unique_ptr<mqtt_bridge::Upstream> inner_;  // loop thread only
  std::thread thread_;
};

// The implementation MQTTSN_TEST_CLIENT names, with the contract of upstream.hpp.
inline std::unique_ptr<mqtt_bridge::Upstream> make_upstream(mqtt_bridge::BrokerOptions options,
                                                            mqtt_bridge::EventSink sink) {
  const std::string client = default_client();
  if (client == "paho") return mqtt_bridge::make_paho_upstream(std::move(options), std::move(sink));
  if (client == "native") {
    return std::make_unique<LoopThreadUpstream>(std::move(options), std::move(sink));
  }
  throw std::invalid_argument("MQTTSN_TEST_CLIENT must be paho or native, not " + client);
}

// Makes several calls with nothing in between: for Paho they are simply made (its threads run
// anyway), for the native client in one pass of its loop (a request "while connecting" is then
// really made while connecting, however fast the broker on loopback answers).
inline void one_batch(mqtt_bridge::Upstream& upstream,
                      const std::function<void(mqtt_bridge::Upstream&)>& calls) {
  if (auto* looped = dynamic_cast<LoopThreadUpstream*>(&upstream)) {
    looped->batch(calls);
  } else {
    calls(upstream);
  }
}

}  // namespace test_support
