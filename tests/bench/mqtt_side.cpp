#include "mqtt_side.hpp"

#include <MQTTAsync.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <iostream>

#include <nlohmann/json.hpp>
#include <stdexcept>
#include <thread>

#include "payload.hpp"

namespace bench {
namespace {

// One MQTTAsync handle: created, connected (asynchronously), destroyed with its owner.
class Connection {
 public:
  Connection(const std::string& uri, const std::string& client_id) {
    MQTTAsync_createOptions create = MQTTAsync_createOptions_initializer;
    create.sendWhileDisconnected = 0;
    create.maxBufferedMessages = 1000000;  // the default (100) also caps sends while connected
    if (MQTTAsync_createWithOptions(&handle_, uri.c_str(), client_id.c_str(),
                                    MQTTCLIENT_PERSISTENCE_NONE, nullptr, &create) != MQTTASYNC_SUCCESS) {
      throw std::runtime_error("MQTTAsync_create failed for " + uri);
    }
  }
  ~Connection() {
    if (MQTTAsync_isConnected(handle_)) {
      MQTTAsync_disconnectOptions options = MQTTAsync_disconnectOptions_initializer;
      options.timeout = 1000;
      MQTTAsync_disconnect(handle_, &options);
      for (int i = 0; i < 200 && MQTTAsync_isConnected(handle_); ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
    }
    MQTTAsync_destroy(&handle_);
  }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  MQTTAsync handle() const { return handle_; }

  // Starts connecting; `done` becomes 1 (connected) or -1 (failed).
  void connect_async(int max_inflight) {
    MQTTAsync_connectOptions options = MQTTAsync_connectOptions_initializer;
    options.keepAliveInterval = 60;
    options.cleansession = 1;
    options.maxInflight = max_inflight;
    options.connectTimeout = 10;
    options.context = this;
    options.onSuccess = [](void* context, MQTTAsync_successData*) {
      static_cast<Connection*>(context)->done_.store(1);
    };
    options.onFailure = [](void* context, MQTTAsync_failureData*) {
      static_cast<Connection*>(context)->done_.store(-1);
    };
    if (MQTTAsync_connect(handle_, &options) != MQTTASYNC_SUCCESS) done_.store(-1);
  }
  int connect_state() const { return done_.load(); }

  void disconnect_async() {
    if (!MQTTAsync_isConnected(handle_)) return;
    MQTTAsync_disconnectOptions options = MQTTAsync_disconnectOptions_initializer;
    options.timeout = 1000;
    MQTTAsync_disconnect(handle_, &options);
  }

  bool wait_connected(Ns deadline_ns) const {
    while (done_.load() == 0 && now_ns() < deadline_ns) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return done_.load() == 1;
  }

 private:
  MQTTAsync handle_ = nullptr;
  std::atomic<int> done_{0};
};

void sleep_until_ns(Ns t) {
  const Ns now = now_ns();
  if (t > now) std::this_thread::sleep_for(std::chrono::nanoseconds(t - now));
}

}  // namespace

// ----- Subscriber ---------------------------------------------------------------------------

struct Subscriber::State {
  std::unique_ptr<Connection> connection;
  mutable std::mutex mutex;
  std::string prefix;  // bench/<tag>/
  std::uint32_t clients = 0;
  std::uint32_t messages = 0;
  std::vector<bool> seen;
  Counts counts;
  std::atomic<std::uint64_t> unique{0};
  std::atomic<bool> lost{false};

  void on_message(const char* topic, int topic_len, const MQTTAsync_message* m) {
    const Ns now = now_ns();
    const std::string_view name(topic, topic_len > 0 ? static_cast<std::size_t>(topic_len) : std::strlen(topic));
    const auto payload = std::span(static_cast<const std::uint8_t*>(m->payload),
                                   static_cast<std::size_t>(std::max(0, m->payloadlen)));
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
};

Subscriber::Subscriber(const std::string& uri, int qos) : state_(std::make_unique<State>()) {
  state_->connection = std::make_unique<Connection>(uri, "bench-sub-" + std::to_string(::getpid()));
  MQTTAsync h = state_->connection->handle();
  MQTTAsync_setCallbacks(
      h, state_.get(),
      [](void* context, char*) { static_cast<State*>(context)->lost.store(true); },
      [](void* context, char* topic, int topic_len, MQTTAsync_message* m) -> int {
        static_cast<State*>(context)->on_message(topic, topic_len, m);
        MQTTAsync_freeMessage(&m);
        MQTTAsync_free(topic);
        return 1;
      },
      nullptr);
  state_->connection->connect_async(65535);
  if (!state_->connection->wait_connected(now_ns() + 15'000'000'000ULL)) {
    throw std::runtime_error("subscriber cannot connect to " + uri);
  }
  struct Ack {
    std::atomic<int> done{0};
  } ack;
  MQTTAsync_responseOptions options = MQTTAsync_responseOptions_initializer;
  options.context = &ack;
  options.onSuccess = [](void* c, MQTTAsync_successData*) { static_cast<Ack*>(c)->done.store(1); };
  options.onFailure = [](void* c, MQTTAsync_failureData*) { static_cast<Ack*>(c)->done.store(-1); };
  if (MQTTAsync_subscribe(h, "bench/#", qos, &options) != MQTTASYNC_SUCCESS) {
    throw std::runtime_error("subscribe failed");
  }
  const Ns deadline = now_ns() + 10'000'000'000ULL;
  while (ack.done.load() == 0 && now_ns() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  if (ack.done.load() != 1) throw std::runtime_error("subscriber: no SUBACK for bench/#");
}

Subscriber::~Subscriber() = default;

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

// ----- Baseline -----------------------------------------------------------------------------

struct Baseline::Impl {
  struct Client {
    Impl* impl = nullptr;
    std::uint32_t gid = 0;
    std::unique_ptr<Connection> connection;
    std::string topic;
    std::uint32_t next_seq = 0;
    std::uint32_t in_flight = 0;
    Ns sent_ns = 0;
  };

  const Options& o;
  std::string tag;
  std::vector<Client> clients;
  std::mutex mutex;
  std::condition_variable finished;
  PublishStats stats;
  std::uint64_t total = 0;
  std::uint32_t window = 1;

  double rate = 0;

  Impl(const Options& options, std::string t)
      : o(options), tag(std::move(t)), clients(options.client_end - options.client_begin) {
    window = o.qos == 0 ? o.qos0_window : 1;
    total = std::uint64_t{clients.size()} * o.messages;
    rate = o.rate * static_cast<double>(clients.size()) / static_cast<double>(o.clients);
  }

  bool token_available() const {
    if (rate <= 0) return true;
    const double elapsed = static_cast<double>(now_ns() - stats.go_ns) / 1e9;
    return static_cast<double>(stats.sent) < rate * elapsed + 1;
  }

  // Sends what the window (and rate) allow for this client.
  void pump(Client& c) {
    std::vector<std::uint8_t> payload(o.size, 0x5A);
    for (;;) {
      std::uint32_t seq = 0;
      {
        const std::lock_guard lock(mutex);
        if (c.next_seq >= o.messages || c.in_flight >= window || !token_available()) return;
        seq = c.next_seq++;
        ++c.in_flight;
        ++stats.sent;
        c.sent_ns = now_ns();
        if (stats.first_send_ns == 0) stats.first_send_ns = c.sent_ns;
      }
      write_header(payload, PayloadHeader{c.gid, seq, now_ns()});
      MQTTAsync_responseOptions options = MQTTAsync_responseOptions_initializer;
      options.context = &c;
      options.onSuccess = [](void* context, MQTTAsync_successData*) {
        auto* client = static_cast<Client*>(context);
        client->impl->completed(*client, true);
      };
      options.onFailure = [](void* context, MQTTAsync_failureData*) {
        auto* client = static_cast<Client*>(context);
        client->impl->completed(*client, false);
      };
      if (MQTTAsync_send(c.connection->handle(), c.topic.c_str(), static_cast<int>(payload.size()),
                         payload.data(), o.qos, 0, &options) != MQTTASYNC_SUCCESS) {
        completed(c, false);
        return;
      }
    }
  }

  void completed(Client& c, bool ok) {
    {
      const std::lock_guard lock(mutex);
      --c.in_flight;
      const Ns now = now_ns();
      if (ok) {
        ++stats.acknowledged;
        if (o.qos > 0) stats.rtt.record(now - c.sent_ns);
      } else {
        ++stats.failed;
      }
      stats.last_done_ns = now;
      if (stats.acknowledged + stats.failed >= total) finished.notify_all();
    }
    pump(c);
  }
};

Baseline::Baseline(const Options& options, std::string tag)
    : impl_(std::make_unique<Impl>(options, std::move(tag))) {}

Baseline::~Baseline() {
  // Disconnect everyone at once, then destroy (each destructor then finds its client closed).
  for (auto& c : impl_->clients) {
    if (c.connection) c.connection->disconnect_async();
  }
  const Ns until = now_ns() + 3'000'000'000ULL;
  for (auto& c : impl_->clients) {
    while (c.connection && MQTTAsync_isConnected(c.connection->handle()) && now_ns() < until) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  }
}

bool Baseline::connect_all(Ns deadline_ns) {
  for (std::size_t i = 0; i < impl_->clients.size(); ++i) {
    auto& c = impl_->clients[i];
    const auto gid = static_cast<std::uint32_t>(impl_->o.client_begin + i);
    c.impl = impl_.get();
    c.gid = gid;
    c.topic = topic_of(impl_->tag, gid);
    c.connection = std::make_unique<Connection>(impl_->o.broker, "m" + client_id(impl_->tag, gid));
    c.connection->connect_async(65535);
  }
  bool all = true;
  for (auto& c : impl_->clients) {
    if (c.connection->wait_connected(deadline_ns)) {
      ++impl_->stats.connected;
    } else {
      ++impl_->stats.connect_failed;
      all = false;
    }
  }
  // Clients that could not connect never publish: the run waits only for the others.
  impl_->total = impl_->stats.connected * impl_->o.messages;
  return all;
}

PublishStats Baseline::run(Ns deadline_ns) {
  Impl& impl = *impl_;
  impl.stats.go_ns = now_ns();
  const bool paced = impl.rate > 0;
  for (auto& c : impl.clients) {
    if (c.connection->connect_state() == 1) impl.pump(c);
  }
  std::unique_lock lock(impl.mutex);
  while (impl.stats.acknowledged + impl.stats.failed < impl.total && now_ns() < deadline_ns) {
    if (paced) {
      lock.unlock();
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
      for (auto& c : impl.clients) {
        if (c.connection->connect_state() == 1) impl.pump(c);
      }
      lock.lock();
    } else {
      impl.finished.wait_for(lock, std::chrono::milliseconds(50));
    }
  }
  impl.stats.timed_out = impl.stats.acknowledged + impl.stats.failed < impl.total;
  return impl.stats;
}

// ----- Baseline worker ----------------------------------------------------------------------

namespace {

void emit(const char* word, const nlohmann::json& body) {
  const std::string line = std::string(word) + " " + body.dump() + "\n";
  std::fwrite(line.data(), 1, line.size(), stdout);
  std::fflush(stdout);
}

// The next control line from the coordinator; false on EOF (the coordinator is gone).
bool wait_for_line(const std::string& wanted) {
  std::string line;
  while (std::getline(std::cin, line)) {
    if (line == wanted) return true;
  }
  return false;
}

}  // namespace

int run_baseline_worker(const Options& o) {
  const Ns deadline = now_ns() + static_cast<Ns>(o.timeout_s * 1e9);
  Baseline baseline(o, o.tag);
  const Ns connect_start = now_ns();
  baseline.connect_all(deadline);
  emit("ready", {{"connect_all_s", static_cast<double>(now_ns() - connect_start) / 1e9}});
  if (!wait_for_line("go")) return 1;
  const PublishStats stats = baseline.run(deadline);
  emit("done", {{"sent", stats.sent}, {"timed_out", stats.timed_out}});
  if (!wait_for_line("end")) return 1;
  emit("result", {{"clients", o.client_end - o.client_begin},
                  {"connected", stats.connected},
                  {"connect_failed", stats.connect_failed},
                  {"connect_all_s", static_cast<double>(stats.go_ns - connect_start) / 1e9},
                  {"sent", stats.sent},
                  {"acknowledged", stats.acknowledged},
                  {"refused", stats.failed},
                  {"go_ns", stats.go_ns},
                  {"first_send_ns", stats.first_send_ns},
                  {"last_done_ns", stats.last_done_ns},
                  {"timed_out", stats.timed_out},
                  {"rtt", stats.rtt.to_json()}});
  return 0;
}

// ----- Downlink publisher -------------------------------------------------------------------

PublishStats publish_downlink(const Options& o, const std::string& tag, Ns deadline_ns) {
  struct Shared {
    std::mutex mutex;
    std::condition_variable changed;
    std::uint32_t in_flight = 0;
    PublishStats stats;
  } shared;
  Connection connection(o.broker, "bench-pub-" + tag);
  connection.connect_async(static_cast<int>(o.down_window));
  if (!connection.wait_connected(deadline_ns)) {
    shared.stats.connect_failed = 1;
    return shared.stats;
  }
  shared.stats.connected = 1;
  shared.stats.go_ns = now_ns();
  std::vector<std::uint8_t> payload(o.size, 0x5A);
  const Ns interval = o.rate > 0 ? static_cast<Ns>(1e9 / o.rate) : 0;
  std::uint64_t n = 0;
  bool out_of_time = false;
  for (std::uint32_t seq = 0; seq < o.messages && !out_of_time; ++seq) {
    for (std::uint32_t gid = 0; gid < o.clients && !out_of_time; ++gid, ++n) {
      if (interval > 0) sleep_until_ns(shared.stats.go_ns + n * interval);
      {
        std::unique_lock lock(shared.mutex);
        while (shared.in_flight >= o.down_window && now_ns() < deadline_ns) {
          shared.changed.wait_for(lock, std::chrono::milliseconds(10));
        }
        if (now_ns() >= deadline_ns) {
          shared.stats.timed_out = true;
          out_of_time = true;
          continue;
        }
        ++shared.in_flight;
        ++shared.stats.sent;
        if (shared.stats.first_send_ns == 0) shared.stats.first_send_ns = now_ns();
      }
      write_header(payload, PayloadHeader{gid, seq, now_ns()});
      MQTTAsync_responseOptions options = MQTTAsync_responseOptions_initializer;
      options.context = &shared;
      options.onSuccess = [](void* context, MQTTAsync_successData*) {
        auto* s = static_cast<Shared*>(context);
        const std::lock_guard lock(s->mutex);
        --s->in_flight;
        ++s->stats.acknowledged;
        s->stats.last_done_ns = now_ns();
        s->changed.notify_all();
      };
      options.onFailure = [](void* context, MQTTAsync_failureData* failure) {
        auto* s = static_cast<Shared*>(context);
        const std::lock_guard lock(s->mutex);
        if (s->stats.failed == 0) {
          std::fprintf(stderr, "downlink publisher: send failed: %d %s\n", failure ? failure->code : 0,
                       failure && failure->message ? failure->message : "");
        }
        --s->in_flight;
        ++s->stats.failed;
        s->changed.notify_all();
      };
      if (const int rc = MQTTAsync_send(connection.handle(), topic_of(tag, gid).c_str(),
                                        static_cast<int>(payload.size()), payload.data(), o.qos, 0,
                                        &options);
          rc != MQTTASYNC_SUCCESS) {
        const std::lock_guard lock(shared.mutex);
        --shared.in_flight;
        if (shared.stats.failed++ == 0) std::fprintf(stderr, "downlink publisher: MQTTAsync_send: %d\n", rc);
      }
    }
  }
  // Paho still holds pointers to `shared` in its callbacks: wait for all of them (bounded).
  std::unique_lock lock(shared.mutex);
  const Ns until = std::max<Ns>(deadline_ns, now_ns() + 5'000'000'000ULL);
  while (shared.in_flight > 0 && now_ns() < until) {
    shared.changed.wait_for(lock, std::chrono::milliseconds(10));
  }
  return shared.stats;
}

}  // namespace bench
