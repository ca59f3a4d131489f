#include "mqtt_side.hpp"

#include <unistd.h>

#include <atomic>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

#include "mqtt_clients.hpp"
#include "payload.hpp"

namespace bench {

// ----- Subscriber ---------------------------------------------------------------------------

struct Subscriber::State {
  mutable std::mutex mutex;
  std::string prefix;  // bench/<tag>/
  std::uint32_t clients = 0;
  std::uint32_t messages = 0;
  std::vector<bool> seen;
  Counts counts;
  std::atomic<std::uint64_t> unique{0};
  std::atomic<int> subscribed{0};  // 1 after SUBACK, -1 on failure
  std::atomic<bool> lost{false};
  std::atomic<bool> stop{false};
  std::thread thread;

  void on_message(std::string_view name, std::span<const std::uint8_t> payload) {
    const Ns now = now_ns();
    const std::lock_guard lock(mutex);
    if (prefix.empty() || name.substr(0, prefix.size()) != prefix) {
      ++counts.foreign;
      return;
    }
    if (counts.first_ns == 0) counts.first_ns = now;
    counts.last_ns = now;
    const auto h = read_header(payload);
    if (!h) {  // no header (payload under 16 octets): every arrival counts
      ++counts.unique;
      unique.store(counts.unique);
      return;
    }
    if (h->gid >= clients || h->seq >= messages) {
      ++counts.foreign;
      return;
    }
    const std::size_t i = std::size_t{h->gid} * messages + h->seq;
    if (seen[i]) {
      ++counts.duplicates;
      return;
    }
    seen[i] = true;
    ++counts.unique;
    unique.store(counts.unique);
    counts.e2e.record(now - h->sent_ns);
  }

  void loop(const std::string& uri, int qos) {
    MqttClients* self = nullptr;
    MqttClients::Events events;
    events.connack = [&](std::size_t, std::uint8_t rc) {
      if (rc != 0) {
        subscribed.store(-1);
        return;
      }
      mqtt::encode_subscribe(self->out(0), 1, "bench/#", qos);
      self->flush(0);
    };
    events.suback = [&](std::size_t, std::uint16_t) { subscribed.store(1); };
    events.publish = [&](std::size_t, const mqtt::Publish& p) {
      on_message(p.topic, p.payload);
      if (p.qos == 1) {
        mqtt::encode_puback(self->out(0), p.packet_id);
        self->flush(0);
      }
    };
    events.closed = [&](std::size_t) {
      lost.store(true);
      if (subscribed.load() == 0) subscribed.store(-1);
    };
    try {
      MqttClients connection(uri, 1, events);
      self = &connection;
      if (!connection.open(0, "bench-sub-" + std::to_string(::getpid()), 60)) {
        subscribed.store(-1);
        return;
      }
      while (!stop.load()) connection.poll(20);
      connection.disconnect_all();
    } catch (const std::exception&) {
      subscribed.store(-1);
    }
  }
};

Subscriber::Subscriber(const std::string& uri, int qos) : state_(std::make_unique<State>()) {
  if (qos < 0 || qos > 1) throw std::runtime_error("subscriber QoS must be 0 or 1");
  state_->thread = std::thread([state = state_.get(), uri, qos] { state->loop(uri, qos); });
  const Ns deadline = now_ns() + 15'000'000'000ULL;
  while (state_->subscribed.load() == 0 && now_ns() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  if (state_->subscribed.load() != 1) {
    state_->stop.store(true);
    state_->thread.join();
    throw std::runtime_error("subscriber cannot connect to " + uri + " and subscribe to bench/#");
  }
}

Subscriber::~Subscriber() {
  state_->stop.store(true);
  if (state_->thread.joinable()) state_->thread.join();
}

void Subscriber::reset(const std::string& tag, std::uint32_t clients, std::uint32_t messages) {
  const std::lock_guard lock(state_->mutex);
  state_->prefix = "bench/" + tag + "/";
  state_->clients = clients;
  state_->messages = messages;
  state_->seen.assign(std::size_t{clients} * messages, false);
  state_->counts = Counts{};
  state_->unique.store(0);
}

Subscriber::Counts Subscriber::counts() const {
  const std::lock_guard lock(state_->mutex);
  return state_->counts;
}

std::uint64_t Subscriber::unique() const { return state_->unique.load(); }

bool Subscriber::connected() const { return !state_->lost.load(); }

// ----- Downlink publisher -------------------------------------------------------------------

PublishStats publish_downlink(const Options& o, const std::string& tag, Ns deadline_ns) {
  PublishStats stats;
  std::uint32_t in_flight = 0;
  int connack = 0;  // 1 accepted, -1 refused or closed
  MqttClients* self = nullptr;
  MqttClients::Events events;
  auto completed = [&](bool ok) {
    --in_flight;
    ++(ok ? stats.acknowledged : stats.failed);
    stats.last_done_ns = now_ns();
  };
  events.connack = [&](std::size_t, std::uint8_t rc) { connack = rc == 0 ? 1 : -1; };
  events.puback = [&](std::size_t, std::uint16_t) { completed(true); };
  events.pubrec = [&](std::size_t, std::uint16_t id) {
    mqtt::encode_pubrel(self->out(0), id);
    self->flush(0);
  };
  events.pubcomp = [&](std::size_t, std::uint16_t) { completed(true); };
  events.closed = [&](std::size_t) {
    if (connack == 0) connack = -1;
    stats.failed += in_flight;
    in_flight = 0;
  };
  MqttClients connection(o.broker, 1, events);
  self = &connection;
  if (!connection.open(0, "bench-pub-" + tag, 60)) connack = -1;
  while (connack == 0 && now_ns() < deadline_ns) connection.poll(5);
  if (connack != 1) {
    stats.connect_failed = 1;
    return stats;
  }
  stats.connected = 1;
  stats.go_ns = now_ns();
  std::vector<std::uint8_t> payload(o.size, 0x5A);
  const Ns interval = o.rate > 0 ? static_cast<Ns>(1e9 / o.rate) : 0;
  // QoS 0 has no acknowledgement: TCP's back-pressure (octets the kernel has not taken) bounds it.
  constexpr std::size_t kMaxUnsent = std::size_t{256} * 1024;
  std::uint16_t packet_id = 0;
  std::uint64_t n = 0;
  for (std::uint32_t seq = 0; seq < o.messages && !stats.timed_out; ++seq) {
    for (std::uint32_t gid = 0; gid < o.clients && !stats.timed_out; ++gid, ++n) {
      for (;;) {
        const bool room =
            o.qos == 0 ? connection.unsent(0) < kMaxUnsent : in_flight < o.down_window;
        const bool due = interval == 0 || now_ns() >= stats.go_ns + n * interval;
        if (room && due && connection.is_open(0)) break;
        if (now_ns() >= deadline_ns || !connection.is_open(0)) {
          stats.timed_out = true;
          break;
        }
        connection.flush(0);
        connection.poll(room ? 0 : 1);
      }
      if (stats.timed_out) break;
      packet_id = static_cast<std::uint16_t>(packet_id == 0xFFFF ? 1 : packet_id + 1);
      write_header(payload, PayloadHeader{gid, seq, now_ns()});
      mqtt::encode_publish(connection.out(0), topic_of(tag, gid), payload, o.qos, packet_id);
      ++stats.sent;
      if (stats.first_send_ns == 0) stats.first_send_ns = now_ns();
      if (o.qos > 0) {
        ++in_flight;
      } else {
        ++stats.acknowledged;
      }
      if (connection.unsent(0) >= std::size_t{16} * 1024 || interval > 0) connection.flush(0);
      connection.poll(0);
    }
  }
  connection.flush(0);
  const Ns until = std::max<Ns>(deadline_ns, now_ns() + 5'000'000'000ULL);
  while ((in_flight > 0 || connection.unsent(0) > 0) && connection.is_open(0) && now_ns() < until) {
    connection.poll(5);
  }
  if (o.qos == 0) stats.last_done_ns = now_ns();
  connection.disconnect_all();
  return stats;
}

}  // namespace bench
