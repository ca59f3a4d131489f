#pragma once
// Test fixtures for a real broker: a private mosquitto on a free loopback port, and a small MQTT
// client (Paho C++) that records what it receives. Everything waits with a deadline; nothing
// sleeps a fixed time where an event can be awaited.

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace mqtt {
class async_client;
class token;
}  // namespace mqtt

namespace test_support {

// A TCP port on 127.0.0.1 that nothing listens on right now (bind to port 0, read it, close).
std::uint16_t free_tcp_port();

// True once `port` on 127.0.0.1 accepts a TCP connection, false at the deadline.
bool wait_port_open(std::uint16_t port, std::chrono::milliseconds timeout);

// A mosquitto of our own (/usr/sbin/mosquitto, or $MQTTSN_MOSQUITTO). The constructor starts it and
// throws std::runtime_error with the reason (binary missing, start failed: with mosquitto's log) so
// a test fails loudly rather than skipping. Generated config: `listener PORT 127.0.0.1`,
// `allow_anonymous true`, then `extra_config` lines (which may override it, e.g. allow_anonymous).
// `files` (name -> content) are written into dir() before the start; `{dir}` in a config line is
// replaced by dir(), e.g. {"acl_file {dir}/acl"} with files {{"acl", "topic read open/#\n"}}.
class Mosquitto {
 public:
  explicit Mosquitto(std::vector<std::string> extra_config = {},
                     const std::map<std::string, std::string>& files = {});
  Mosquitto(const Mosquitto&) = delete;
  Mosquitto& operator=(const Mosquitto&) = delete;
  ~Mosquitto();  // stops our own process (by PID) and removes the temp dir

  // Starts again on the same port (after stop()). Waits until the port accepts (<= 10 s).
  void start();
  // SIGTERM, then waitpid (SIGKILL after 5 s). Connected clients see their connection drop.
  void stop();
  bool running() const { return pid_ > 0; }

  std::uint16_t port() const { return port_; }
  std::string uri() const;  // tcp://127.0.0.1:PORT
  const std::filesystem::path& dir() const { return dir_; }
  // Writes dir()/name (readable by the mosquitto user the broker drops to) and returns its path.
  std::filesystem::path write_file(const std::string& name, const std::string& content) const;
  // What mosquitto printed so far (its stdout and stderr), for failure messages.
  std::string log() const;

 private:
  bool try_start();
  void write_config() const;

  std::vector<std::string> extra_config_;
  std::filesystem::path dir_;
  std::uint16_t port_ = 0;
  pid_t pid_ = -1;
};

struct ReceivedMessage {
  std::string topic;
  std::string payload;
  int qos = 0;
  bool retained = false;
};

// An independent MQTT client (its own Paho async_client) on the broker: subscribes to `filter` in
// the constructor (waits for SUBACK, throws on failure) and records every message it receives.
// Can also publish, as another client would.
class TestSubscriber {
 public:
  TestSubscriber(const std::string& uri, const std::string& filter, int qos = 2,
                 int mqtt_version = 4);
  TestSubscriber(const TestSubscriber&) = delete;
  TestSubscriber& operator=(const TestSubscriber&) = delete;
  ~TestSubscriber();

  // Waits until at least `count` messages were received; false at the deadline.
  bool wait_for(std::size_t count, std::chrono::milliseconds timeout);
  // Waits until a message with this topic and payload was received (whatever else arrives, in
  // whatever order); false at the deadline.
  bool wait_for_message(const std::string& topic, const std::string& payload,
                        std::chrono::milliseconds timeout);
  std::vector<ReceivedMessage> messages() const;
  std::size_t count() const;
  // Publishes and waits for completion (throws on failure).
  void publish(const std::string& topic, const std::string& payload, int qos = 1,
               bool retain = false);

 private:
  struct Inbox {
    mutable std::mutex mutex;
    std::condition_variable arrived;
    std::vector<ReceivedMessage> messages;
  };
  std::shared_ptr<Inbox> inbox_;
  // Every token we were handed, kept until client_ is gone. Paho C++ 1.2 (a prebuilt library,
  // invisible to ThreadSanitizer) keeps its own reference and drops it after waking the waiter;
  // were ours the last one, the token would die while Paho may still touch it (and TSan could not
  // see Paho's reference count). Destroying the client first takes Paho's global mutex, which
  // every token callback holds, so all of them are finished before the tokens go.
  std::vector<std::shared_ptr<mqtt::token>> tokens_;
  std::unique_ptr<mqtt::async_client> client_;  // declared last: destroyed before tokens_
};

// A client id no other test in this process (or a parallel one) uses.
std::string unique_client_id(const std::string& prefix);

}  // namespace test_support
