#pragma once
// The MQTT side of the bench, on the Paho C asynchronous client (MQTTAsync): the subscriber that
// counts what reaches the broker, the downlink publisher, and the broker-only baseline (the uplink
// load published by plain MQTT clients, no gateway). Paho calls back on its own threads; every
// shared counter is behind a mutex, and no Paho call is made while holding it.

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "histogram.hpp"
#include "options.hpp"

namespace bench {

using Ns = std::uint64_t;

// Counts messages of one run arriving on bench/<tag>/#: unique (by client and sequence number),
// duplicates, and one-way latency from the time stamp in the payload.
class Subscriber {
 public:
  // Connects and subscribes to bench/# at `qos`; throws std::runtime_error on failure.
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
  Histogram rtt;  // QoS 1/2: send -> PUBACK/PUBCOMP (Paho's onSuccess)
};

// Clients [client_begin, client_end) of `clients` MQTT clients publishing `messages` each straight to the broker, window 1 per client at
// QoS 1/2 (qos0_window at QoS 0), paced at `rate` or as fast as possible, on topics
// bench/<tag>/<gid> with the same payloads as the MQTT-SN uplink.
class Baseline {
 public:
  Baseline(const Options& options, std::string tag);
  ~Baseline();
  Baseline(const Baseline&) = delete;
  Baseline& operator=(const Baseline&) = delete;

  // Connects every client (in parallel); false when some did not connect before the deadline.
  bool connect_all(Ns deadline_ns);
  // Publishes everything; returns when all are acknowledged/failed or at the deadline.
  PublishStats run(Ns deadline_ns);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// A worker process of the baseline scenario (same line protocol as sn_worker.hpp): the Baseline
// for clients [client_begin, client_end).
int run_baseline_worker(const Options& options);

// Downlink: one MQTT client publishing `messages` rounds to each of `clients` topics
// bench/<tag>/<gid>, with at most `window` messages unacknowledged.
PublishStats publish_downlink(const Options& options, const std::string& tag, Ns deadline_ns);

}  // namespace bench
