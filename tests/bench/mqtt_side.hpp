#pragma once
// The MQTT side of the bench on plain sockets (mqtt_clients.hpp), never through Paho: the
// subscriber that counts what reaches the broker, the downlink publisher, and the broker-only
// workers (baseline publishing, broker connect storm). So the broker-only baseline is bound by the
// broker, and the measuring path shares no library with the gateway's upstream client.

#include <cstdint>
#include <memory>
#include <string>

#include "histogram.hpp"
#include "options.hpp"

namespace bench {

using Ns = std::uint64_t;

// Counts messages of one run arriving on bench/<tag>/#: unique (by client and sequence number),
// duplicates, and one-way latency from the time stamp in the payload. Runs one thread of its own
// (one TCP connection on an epoll loop); every method may be called from any other thread.
class Subscriber {
 public:
  // Connects and subscribes to bench/# at `qos` (0 or 1); throws std::runtime_error on failure.
  Subscriber(const std::string& uri, int qos);
  ~Subscriber();
  Subscriber(const Subscriber&) = delete;
  Subscriber& operator=(const Subscriber&) = delete;

  // Starts counting run `tag` of `clients` x `messages`; messages of other runs are "foreign".
  void reset(const std::string& tag, std::uint32_t clients, std::uint32_t messages);

  struct Counts {
    std::uint64_t unique = 0;
    std::uint64_t duplicates = 0;
    std::uint64_t foreign = 0;
    Ns first_ns = 0;
    Ns last_ns = 0;
    Histogram e2e;
  };
  Counts counts() const;
  std::uint64_t unique() const;
  bool connected() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

struct PublishStats {
  std::uint64_t sent = 0;
  std::uint64_t acknowledged = 0;
  std::uint64_t failed = 0;
  std::uint64_t connected = 0;
  std::uint64_t connect_failed = 0;
  Ns go_ns = 0;
  Ns first_send_ns = 0;
  Ns last_done_ns = 0;
  bool timed_out = false;
};

// A worker process of the baseline and broker-storm scenarios (same line protocol as
// sn_worker.hpp): MQTT clients [client_begin, client_end) straight to the broker on one thread.
// baseline: connect during set-up, then publish `messages` each (window 1 at QoS 1/2; QoS 0 as
// fast as TCP takes it, or at `rate`); broker-storm: connect them all after "go".
int run_broker_worker(const Options& options);

// Downlink: one MQTT client publishing `messages` rounds to each of `clients` topics
// bench/<tag>/<gid>, with at most `down_window` QoS 1/2 messages unacknowledged.
PublishStats publish_downlink(const Options& options, const std::string& tag, Ns deadline_ns);

}  // namespace bench
