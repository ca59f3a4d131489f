#include "runtime.hpp"

#include <spdlog/spdlog.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <uv.h>

#include <algorithm>
#include <mutex>
#include <optional>
#include <random>
#include <span>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

#include "gateway/core/core.hpp"
#include "gateway/store/session_store.hpp"
#include "mqtt_bridge/upstream.hpp"
#include "adapters.hpp"
#include "service.hpp"

namespace gateway::app {
namespace {

// How long a stop waits for upstream connections to say goodbye before closing anyway.
constexpr std::uint64_t kShutdownGraceMs = 3000;

// An IPv4 or IPv6 literal as its 4 or 16 address octets (empty if it is neither).
sn::Bytes address_octets(const std::string& text) {
  std::uint8_t octets[16] = {};
  if (::inet_pton(AF_INET, text.c_str(), octets) == 1) return sn::Bytes(octets, octets + 4);
  if (::inet_pton(AF_INET6, text.c_str(), octets) == 1) return sn::Bytes(octets, octets + 16);
  return {};
}

// `max_frame_size`: what each transport's adapter can carry, by transport id.
// Config and core each own a LogLevel (the core may not include the config); map them by name.
core::LogLevel to_core(config::LogLevel level) {
  switch (level) {
    case config::LogLevel::trace: return core::LogLevel::trace;
    case config::LogLevel::debug: return core::LogLevel::debug;
    case config::LogLevel::info: return core::LogLevel::info;
    case config::LogLevel::warn: return core::LogLevel::warn;
    case config::LogLevel::error: return core::LogLevel::error;
  }
  return core::LogLevel::info;
}

core::CoreConfig core_config(const config::Config& c, std::vector<std::size_t> max_frame_size) {
  core::CoreConfig out;
  out.gateway_id = c.gateway.id;
  out.mode = c.gateway.mode == config::GatewayMode::aggregating ? core::Mode::aggregating
                                                                : core::Mode::transparent;
  out.random_seed = std::random_device{}();  // reconnect jitter differs from gateway to gateway
  out.max_clients = c.gateway.max_clients;
  out.max_connecting = c.gateway.max_connecting;
  out.connect_rate_per_address = c.gateway.connect_rate_per_address;
  out.connect_burst_per_address = c.gateway.connect_burst_per_address;
  out.reconnect_min = std::chrono::duration_cast<core::Time>(c.upstream.reconnect_min);
  out.reconnect_max = std::chrono::duration_cast<core::Time>(c.upstream.reconnect_max);
  out.max_buffered_messages = c.sleep.max_buffered_messages;
  out.release_sleeper_upstream = c.sleep.release_upstream;
  out.wake_settle = c.sleep.wake_settle;
  out.stats_interval = std::chrono::duration_cast<core::Time>(c.stats.interval);
  out.stats_prefix = config::stats_topic_prefix(c);
  out.client_id_prefix = c.upstream.client_id_prefix;
  out.max_queued_upstream = c.upstream.max_queued_messages;
  for (const auto& topic : c.predefined_topics) out.predefined.push_back({topic.id, topic.name});
  out.qos_minus_one = c.qos_minus_one_enabled;
  out.acl = c.auth.acl;
  if (c.auth.allowed_clients) {
    out.allowed_clients.emplace(c.auth.allowed_clients->begin(), c.auth.allowed_clients->end());
  }
  if (c.auth.allow_qos_minus_one_from) {
    out.qos_minus_one_from.emplace();
    for (const auto& text : *c.auth.allow_qos_minus_one_from) {
      out.qos_minus_one_from->push_back(address_octets(text));  // validated by the loader
    }
  }
  // §6.1: ADVERTISE goes to every transport that can broadcast: serial lines, XBee radios (to
  // their broadcast address) and UDP transports with a multicast group. GWINFO is broadcast too
  // where that reaches more than the searcher: on UDP multicast and on XBee radios (on a raw
  // serial line the searcher is the only listener, and it gets its unicast answer).
  out.advertise_interval = std::chrono::duration_cast<core::Time>(c.discovery.advertise_interval);
  out.gwinfo_broadcast = c.discovery.multicast.has_value() ||
                         std::any_of(c.transports.begin(), c.transports.end(), [](const auto& t) {
                           const auto* serial = std::get_if<config::SerialTransport>(&t.settings);
                           return serial != nullptr &&
                                  serial->framing == config::SerialFraming::xbee;
                         });
  out.retry_interval = std::chrono::duration_cast<core::Time>(c.retry.interval);
  out.max_retries = c.retry.max_attempts;
  out.max_frame_size = std::move(max_frame_size);
  if (c.forwarders.allowed) {
    out.forwarders_allowed.emplace();
    for (const auto& rule : *c.forwarders.allowed) {
      out.forwarders_allowed->push_back(core::AllowedForwarder{
          rule.transport, sn::Bytes(rule.address.begin(), rule.address.end()), rule.port});
    }
  }
  out.log_level = to_core(c.log_level);
  out.persistent = c.persistence.path.has_value();
  return out;
}

spdlog::level::level_enum spd_level(core::LogLevel level) {
  switch (level) {
    case core::LogLevel::trace: return spdlog::level::trace;
    case core::LogLevel::debug: return spdlog::level::debug;
    case core::LogLevel::info: return spdlog::level::info;
    case core::LogLevel::warn: return spdlog::level::warn;
    case core::LogLevel::error: return spdlog::level::err;
  }
  return spdlog::level::info;
}

// The core names the broker's messages with the bridge's tokens, without seeing its headers.
static_assert(std::is_same_v<mqtt_bridge::AckToken, decltype(core::UpstreamMessage::ack)>);
static_assert(std::is_same_v<mqtt_bridge::AckToken, decltype(core::UpstreamAck::ack)>);

// The upstream client's events, in core terms.
core::Event to_core(mqtt_bridge::Event&& event) {
  return std::visit(
      [](auto&& e) -> core::Event {
        using T = std::decay_t<decltype(e)>;
        if constexpr (std::is_same_v<T, mqtt_bridge::Connected>) {
          return core::UpstreamConnected{e.id, e.session_present};
        } else if constexpr (std::is_same_v<T, mqtt_bridge::ConnectFailed>) {
          return core::UpstreamConnectFailed{
              e.id, e.failure == mqtt_bridge::ConnectFailure::refused, std::move(e.reason)};
        } else if constexpr (std::is_same_v<T, mqtt_bridge::ConnectionLost>) {
          return core::UpstreamConnectionLost{e.id, std::move(e.reason)};
        } else if constexpr (std::is_same_v<T, mqtt_bridge::Disconnected>) {
          return core::UpstreamDisconnected{e.id};
        } else if constexpr (std::is_same_v<T, mqtt_bridge::MessageArrived>) {
          return core::UpstreamMessage{e.id, std::move(e.topic), std::move(e.payload),
                                       static_cast<std::uint8_t>(std::clamp(e.qos, 0, 2)),
                                       e.retain, e.ack};
        } else if constexpr (std::is_same_v<T, mqtt_bridge::PublishDone>) {
          return core::UpstreamPublishDone{e.id, e.request, e.ok};
        } else if constexpr (std::is_same_v<T, mqtt_bridge::SubscribeDone>) {
          return core::UpstreamSubscribeDone{e.id, e.request, e.ok,
                                             static_cast<std::uint8_t>(std::clamp(e.granted_qos, 0, 2))};
        } else {
          static_assert(std::is_same_v<T, mqtt_bridge::UnsubscribeDone>);
          return core::UpstreamUnsubscribeDone{e.id, e.request, e.ok};
        }
      },
      std::move(event));
}

}  // namespace

class Runtime::Impl {
 public:
  Impl(const config::Config& config, std::function<config::Config()> reload)
      : config_(config), reload_(std::move(reload)) {
    for (const auto& client : config_.auth.clients) identities_.emplace(client.client_id, &client);
    uv_loop_init(&loop_);
    loop_.data = this;
    uv_async_init(&loop_, &wakeup_, [](uv_async_t* handle) {
      static_cast<Impl*>(handle->loop->data)->drain_upstream();
    });
    uv_timer_init(&loop_, &timer_);
    uv_timer_init(&loop_, &grace_);
    uv_signal_init(&loop_, &sigint_);
    uv_signal_init(&loop_, &sigterm_);
    uv_signal_init(&loop_, &sigusr1_);
    uv_signal_init(&loop_, &sighup_);
    service_.emplace(&loop_, [this] { return status_line(); });
  }

  // Connects the upstream side and opens the transports; throws on a start-up error.
  void open() {
    mqtt_bridge::BrokerOptions broker;
    broker.uri = config_.upstream.uri;
    broker.username = config_.upstream.username;
    broker.password = config_.upstream.password;
    broker.tls = config_.upstream.tls;
    if (mqtt_bridge::is_tls_uri(broker.uri) && !broker.tls.verify) {
      spdlog::warn("upstream.tls.verify is false: the broker's certificate and host name are not "
                   "checked, anyone on the path can pose as the broker");
    }
    broker.mqtt_version = config_.upstream.mqtt_version;
    broker.max_queued_messages = config_.upstream.max_queued_messages;
    broker.max_broker_delay = config_.upstream.max_broker_delay;
    switch (config_.upstream.client) {
      case config::UpstreamClient::paho:
        upstream_ = mqtt_bridge::make_paho_upstream(broker, [this](mqtt_bridge::Event event) {
          {
            const std::lock_guard lock(queue_mutex_);
            queue_.push_back(std::move(event));
          }
          uv_async_send(&wakeup_);  // coalesces: drain_upstream() takes everything queued
        });
        break;
      case config::UpstreamClient::native:
        // End to end: the broker's QoS 1/2 messages stay unacknowledged until the MQTT-SN
        // receivers have them (core::UpstreamAck), so a gateway crash loses none of them.
        broker.manual_acknowledgement = true;
        // As many wait for their receivers as one client's downlink queue holds: the core never
        // gives one of them up to make room (core.hpp, max_queued_per_client), so this bounds it.
        broker.receive_maximum = static_cast<std::uint16_t>(
            std::min<std::size_t>(core::CoreConfig{}.max_queued_per_client, 0xFFFF));
        // Events come on this thread at the end of a loop iteration, never while execute() runs.
        upstream_ = mqtt_bridge::make_native_upstream(
            &loop_, broker, [this](mqtt_bridge::Event event) { on_upstream(std::move(event)); });
        break;
    }

    open_transports();
  }

  // Every transport, then the core sized to them. A transport that cannot start fails start-up
  // unless it is `optional`: then it is left out (its id stays unused) with a warning.
  void open_transports() {
    std::vector<std::size_t> max_frame_size(config_.transports.size(), 0);
    for (std::size_t i = 0; i < config_.transports.size(); ++i) {
      const auto id = static_cast<std::uint16_t>(i);
      AdapterEvents events;
      events.on_frame = [this](const sn::Peer& peer, std::span<const std::uint8_t> bytes) {
        feed(core::FrameReceived{peer, bytes});
      };
      events.on_proven_frame = [this](const sn::Peer& peer, std::span<const std::uint8_t> bytes,
                                      std::string_view identity) {
        feed(core::FrameReceived{peer, bytes, identity});
      };
      events.on_peer_gone = [this](const sn::Peer& peer) { feed(core::PeerGone{peer}); };
      events.on_down = [this](std::uint16_t transport_id, const std::string& reason) {
        feed(core::TransportDown{transport_id, reason});
      };
      auto adapter = make_adapter(&loop_, id, config_, std::move(events));
      const std::string where = "transports[" + std::to_string(i) + "]";
      try {
        adapter->start();
      } catch (const std::runtime_error& e) {
        // Closed either way; freed once the loop has run its close callbacks (~Impl).
        adapter->close([] {});
        closing_.push_back(std::move(adapter));
        if (!config_.transports[i].optional) throw std::runtime_error(where + ": " + e.what());
        spdlog::warn("{}: {}; the transport is optional, running without it", where, e.what());
        adapters_.emplace_back();
        continue;
      }
      spdlog::info("{}: {}", where, adapter->description());
      max_frame_size[i] = adapter->max_frame_size();
      adapters_.push_back(std::move(adapter));
    }
    max_frame_size_ = max_frame_size;  // for the core's configuration at a reload
    core_ = std::make_unique<core::Core>(core_config(config_, std::move(max_frame_size)));
    if (config_.persistence.path) open_store(*config_.persistence.path);
  }

  // The session store: opened, read and given to the core before anything runs. Its writes are
  // grouped per loop iteration (flush()): the actions of an iteration wait in `deferred_` until
  // the sessions they concern are on disk, so nothing is acknowledged before it is stored.
  void open_store(const std::string& path) {
    auto opened = std::make_unique<store::SessionStore>(
        path, config_.persistence.durability == config::Durability::full ? store::Durability::full
                                                                         : store::Durability::normal);
    auto records = opened->load();
    spdlog::info("session store {}: {} session(s)", path, records.size());
    core_->restore(std::move(records), now(), deferred_);  // done at the first flush()
    store_ = std::move(opened);
    uv_check_init(&loop_, &flush_check_);
    uv_idle_init(&loop_, &flush_idle_);
    uv_check_start(&flush_check_, [](uv_check_t* h) { self(h)->flush(); });
    // The check alone must not keep the loop running.
    uv_unref(reinterpret_cast<uv_handle_t*>(&flush_check_));
  }

  // End of a loop iteration: what the core changed is written in one transaction, then what it
  // asked for during the iteration is done.
  void flush() {
    uv_idle_stop(&flush_idle_);
    core_->take_changes(changes_);
    if (!changes_.saved.empty() || !changes_.removed.empty()) {
      try {
        store_->write(changes_);
        changes_.saved.clear();
        changes_.removed.clear();
      } catch (const store::StoreError& e) {
        // Kept for the next iteration's transaction; the gateway serves on meanwhile (a full
        // disk must not stop the radios), and says so at every failed attempt.
        ++store_failures_;
        spdlog::error("session store: write failed ({} session(s) waiting): {}",
                      changes_.saved.size() + changes_.removed.size(), e.what());
      }
    }
    if (deferred_.empty()) return;
    actions_.swap(deferred_);
    deferred_.clear();
    execute();
  }

  ~Impl() {
    close_everything();
    uv_run(&loop_, UV_RUN_DEFAULT);  // runs the close callbacks
    adapters_.clear();
    closing_.clear();
    uv_loop_close(&loop_);
  }

  int run() {
    uv_signal_start(&sigint_, [](uv_signal_t* h, int) { self(h)->stop(); }, SIGINT);
    uv_signal_start(&sigterm_, [](uv_signal_t* h, int) { self(h)->stop(); }, SIGTERM);
    uv_signal_start(&sigusr1_, [](uv_signal_t* h, int) { self(h)->dump_stats(); }, SIGUSR1);
    uv_signal_start(&sighup_, [](uv_signal_t* h, int) { self(h)->reload(); }, SIGHUP);
    actions_.clear();
    core_->start(now(), actions_);
    execute();
    spdlog::info("gateway {} running ({} mode, upstream {} via {})", config_.gateway.id,
                 config::to_string(config_.gateway.mode), config_.upstream.uri,
                 config::to_string(config_.upstream.client));
    service_->ready();  // every transport is bound (open()) and the core runs
    uv_run(&loop_, UV_RUN_DEFAULT);
    return 0;
  }

 private:
  template <typename Handle>
  static Impl* self(Handle* h) {
    return static_cast<Impl*>(h->loop->data);
  }

  core::Time now() const { return core::Time(uv_now(&loop_)); }

  void feed(core::Event event) {
    if (stopping_ || !core_) return;
    drive([&](core::Actions& out) { core_->handle(std::move(event), now(), out); });
  }

  // Runs one call of the core with the action list it appends to. With a store, the actions are
  // done at the end of the iteration (flush()), once the store has what they concern; the idle
  // handle keeps the loop from blocking before it gets there. Without one, at once.
  template <typename Call>
  void drive(Call&& call) {
    if (store_) {
      call(deferred_);
      uv_idle_start(&flush_idle_, [](uv_idle_t*) {});
      rearm_timer();
      return;
    }
    actions_.clear();
    call(actions_);
    execute();
  }

  void drain_upstream() {
    std::vector<mqtt_bridge::Event> batch;
    {
      const std::lock_guard lock(queue_mutex_);
      batch.swap(queue_);
    }
    for (auto& event : batch) on_upstream(std::move(event));
  }

  void on_upstream(mqtt_bridge::Event&& event) {
    feed(to_core(std::move(event)));
    // Not finish() itself: the native client is calling us, and finish() destroys it.
    if (stopping_ && upstream_->connection_count() == 0) {
      uv_timer_start(&grace_, [](uv_timer_t* h) { self(h)->finish(); }, 0, 0);
    }
  }

  void execute() {
    for (auto& action : actions_) {
      std::visit([this](auto& a) { run_action(a); }, action);
    }
    rearm_timer();
  }

  void run_action(core::SendFrame& a) {
    if (a.peer.transport_id < adapters_.size() && adapters_[a.peer.transport_id]) {
      adapters_[a.peer.transport_id]->send(a.peer, a.bytes);
    }
  }
  void run_action(core::Broadcast& a) {
    for (std::size_t i = 0; i < adapters_.size(); ++i) {
      if ((a.transport && *a.transport != i) || !adapters_[i]) continue;
      adapters_[i]->broadcast(a.bytes);
    }
  }
  // auth.clients by the MQTT-SN ClientId, else upstream.username/password with %c expanded (the
  // gateway's own connection: its MQTT ClientId); nullopt: the broker options' as they are.
  std::optional<mqtt_bridge::Credentials> credentials_for(const core::UpstreamConnect& a) const {
    const std::string& id = a.sn_client_id.empty() ? a.client_id : a.sn_client_id;
    if (!a.sn_client_id.empty()) {
      if (const auto it = identities_.find(id); it != identities_.end()) return it->second->credentials;
    }
    const auto& upstream = config_.upstream;
    if (upstream.username.find("%c") == std::string::npos &&
        upstream.password.find("%c") == std::string::npos) {
      return std::nullopt;
    }
    return mqtt_bridge::Credentials{mqtt_bridge::expand_client_id(upstream.username, id),
                                    mqtt_bridge::expand_client_id(upstream.password, id)};
  }

  void run_action(core::UpstreamConnect& a) {
    mqtt_bridge::ConnectRequest request;
    request.id = a.conn;
    request.client_id = a.client_id;
    request.keep_alive = std::chrono::seconds(a.keep_alive_s);
    request.clean_session = a.clean_session;
    request.credentials = credentials_for(a);
    if (a.will) {
      request.will = mqtt_bridge::Will{a.will->topic, a.will->payload, a.will->qos, a.will->retain};
    }
    upstream_->connect(request);
  }
  void run_action(core::UpstreamDisconnect& a) { upstream_->disconnect(a.conn, a.fire_will); }
  void run_action(core::UpstreamPublish& a) {
    upstream_->publish(a.conn, a.req, std::move(a.topic), std::move(a.payload), a.qos, a.retain);
  }
  void run_action(core::UpstreamSubscribe& a) {
    upstream_->subscribe(a.conn, a.req, a.filter, a.qos);
  }
  void run_action(core::UpstreamUnsubscribe& a) { upstream_->unsubscribe(a.conn, a.req, a.filter); }
  void run_action(core::UpstreamAck& a) { upstream_->acknowledge(a.conn, a.ack); }
  void run_action(core::Log& a) { spdlog::log(spd_level(a.level), "{}", a.text); }

  // The core asks for one wake-up at its earliest deadline; one uv timer serves them all.
  void rearm_timer() {
    const auto deadline = core_->next_deadline();
    if (deadline == armed_) return;
    armed_ = deadline;
    if (!deadline) {
      uv_timer_stop(&timer_);
      return;
    }
    const auto delay = std::max<std::int64_t>(0, (*deadline - now()).count());
    uv_timer_start(
        &timer_,
        [](uv_timer_t* h) {
          Impl* impl = self(h);
          impl->armed_.reset();
          impl->feed(core::TimerExpired{});
        },
        static_cast<std::uint64_t>(delay), 0);
  }

  // SIGUSR1: every counter to the log, one line, names as under the stats topic prefix; then the
  // events the upstream client lost to exceptions on its own threads (log only, not published).
  void dump_stats() {
    if (!core_) return;
    std::string line;
    for (const auto& [name, value] : core_->stats()) {
      line += (line.empty() ? "" : " ") + name + "=" + std::to_string(value);
    }
    if (store_) {
      line += " store/rows_written=" + std::to_string(store_->rows_written()) +
              " store/rows_deleted=" + std::to_string(store_->rows_deleted()) +
              " store/write_failures=" + std::to_string(store_failures_);
    }
    for (std::size_t i = 0; i < adapters_.size(); ++i) {
      if (!adapters_[i]) continue;
      for (const auto& [name, value] : adapters_[i]->counters()) {
        line += " transports/" + std::to_string(i) + "/" + name + "=" + std::to_string(value);
      }
    }
    if (upstream_) {
      line += (line.empty() ? "" : " ") + std::string("upstream/dropped_events=") +
              std::to_string(upstream_->dropped_events());
    }
    spdlog::info("stats: {}", line);
  }

  // SIGHUP: the file again. What can change while clients are served goes to the core (and the
  // log level to spdlog) at once; every other key that changed is named as needing a restart.
  // An invalid file changes nothing.
  void reload() {
    if (stopping_ || !core_) return;
    service_->reloading();
    spdlog::info("reload: reading the configuration again (SIGHUP)");
    config::Config next;
    try {
      next = reload_();
    } catch (const config::ConfigError& e) {
      spdlog::error("reload: {}; the running configuration stays", e.what());
      service_->ready();
      return;
    }
    for (const auto& path : config::changed_keys(config_, next)) {
      if (!config::reloadable(path)) {
        spdlog::warn("reload: {} changed: not applied, it needs a restart", path);
      }
    }
    spdlog::set_level(spd_level(to_core(next.log_level)));
    drive([&](core::Actions& out) {
      core_->reconfigure(core_config(next, max_frame_size_), now(), out);
    });
    service_->ready();
  }

  // systemd's STATUS= line: the clients by state.
  std::string status_line() const {
    if (!core_) return "starting";
    std::uint64_t active = 0, asleep = 0, awake = 0, connecting = 0;
    for (const auto& [name, value] : core_->stats()) {
      if (name == "clients/active") active = value;
      if (name == "clients/asleep") asleep = value;
      if (name == "clients/awake") awake = value;
      if (name == "clients/connecting") connecting = value;
    }
    return std::to_string(active) + " clients active, " + std::to_string(asleep) + " asleep, " +
           std::to_string(awake) + " awake, " + std::to_string(connecting) + " connecting";
  }

  // SIGINT/SIGTERM: stop reading, tell everyone goodbye, wait (bounded) for upstream to close.
  void stop() {
    if (stopping_) return;
    spdlog::info("stopping: disconnecting clients and upstream connections (no wills)");
    service_->stopping();
    if (store_) flush();  // the sessions as they are now stay in the store
    actions_.clear();
    core_->shutdown(now(), actions_);
    execute();
    stopping_ = true;
    transports_closed_ = true;
    close_transports();
    uv_signal_stop(&sigint_);
    uv_signal_stop(&sigterm_);
    uv_signal_stop(&sigusr1_);
    uv_signal_stop(&sighup_);
    if (upstream_->connection_count() == 0) {
      finish();
      return;
    }
    uv_timer_start(&grace_, [](uv_timer_t* h) { self(h)->finish(); }, kShutdownGraceMs, 0);
  }

  void finish() {
    if (finished_) return;
    finished_ = true;
    close_everything();
    spdlog::info("stopped");
  }

  void close_transports() {
    for (auto& adapter : adapters_) {
      if (adapter) adapter->close([] {});
    }
  }

  // Upstream first (joins Paho's threads, so the sink never touches a closed async handle), then
  // the transports and our own handles. Safe to call more than once.
  void close_everything() {
    upstream_.reset();
    service_->close();
    if (!transports_closed_) {
      transports_closed_ = true;
      close_transports();
    }
    if (store_) {
      for (uv_handle_t* h : {reinterpret_cast<uv_handle_t*>(&flush_check_),
                             reinterpret_cast<uv_handle_t*>(&flush_idle_)}) {
        if (!uv_is_closing(h)) uv_close(h, nullptr);
      }
    }
    for (uv_handle_t* h : {reinterpret_cast<uv_handle_t*>(&wakeup_),
                           reinterpret_cast<uv_handle_t*>(&timer_),
                           reinterpret_cast<uv_handle_t*>(&grace_),
                           reinterpret_cast<uv_handle_t*>(&sigint_),
                           reinterpret_cast<uv_handle_t*>(&sigterm_),
                           reinterpret_cast<uv_handle_t*>(&sigusr1_),
                           reinterpret_cast<uv_handle_t*>(&sighup_)}) {
      if (!uv_is_closing(h)) uv_close(h, nullptr);
    }
  }

  const config::Config& config_;
  // auth.clients by MQTT-SN ClientId (entries of config_).
  std::unordered_map<std::string, const config::ClientIdentity*> identities_;
  uv_loop_t loop_{};
  uv_async_t wakeup_{};
  uv_timer_t timer_{};
  uv_timer_t grace_{};
  uv_signal_t sigint_{};
  uv_signal_t sigterm_{};
  uv_signal_t sigusr1_{};
  uv_signal_t sighup_{};
  const std::function<config::Config()> reload_;
  std::vector<std::size_t> max_frame_size_;  // by transport id, as the core was built with
  std::optional<ServiceNotifier> service_;  // sd_notify; inert when not under systemd
  std::unique_ptr<core::Core> core_;  // built once the transports are open (their frame sizes)
  core::Actions actions_;
  // Persistence (persistence.path): the store, the actions waiting for its next transaction,
  // and the changes a failed transaction left to write.
  std::unique_ptr<store::SessionStore> store_;
  core::Actions deferred_;
  core::SessionChanges changes_;
  std::uint64_t store_failures_ = 0;
  uv_check_t flush_check_{};
  uv_idle_t flush_idle_{};
  std::optional<core::Time> armed_;
  std::unique_ptr<mqtt_bridge::Upstream> upstream_;
  // By transport id; null for an optional transport that did not start.
  std::vector<std::unique_ptr<Adapter>> adapters_;
  std::vector<std::unique_ptr<Adapter>> closing_;  // optional ones that failed, closing
  std::mutex queue_mutex_;
  std::vector<mqtt_bridge::Event> queue_;
  bool stopping_ = false;
  bool finished_ = false;
  bool transports_closed_ = false;
};

Runtime::Runtime(const config::Config& config, std::function<config::Config()> reload)
    : impl_(std::make_unique<Impl>(config, std::move(reload))) {
  impl_->open();
}
Runtime::~Runtime() = default;
int Runtime::run() { return impl_->run(); }

}  // namespace gateway::app
