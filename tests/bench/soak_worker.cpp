#include "soak_worker.hpp"

#include <uv.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "mqtt_clients.hpp"
#include "payload.hpp"
#include "proc_stats.hpp"
#include "sn_protocol/codec.hpp"

namespace bench {
namespace {

using Ns = std::uint64_t;
constexpr Ns kMs = 1'000'000;
constexpr Ns kS = 1000 * kMs;

// What a client does besides publishing (by gid % 10): 60 % stay connected, 20 % sleep, 10 %
// reconnect keeping their session, 10 % reconnect with a clean one.
enum class Role : std::uint8_t { steady, sleeper, reconnect_keep, reconnect_clean };
constexpr std::array<const char*, 4> kRoleNames{"steady", "sleeper", "reconnect_keep", "reconnect_clean"};

Role role_of(std::uint32_t gid) {
  const std::uint32_t r = gid % 10;
  if (r <= 5) return Role::steady;
  if (r <= 7) return Role::sleeper;
  return r == 8 ? Role::reconnect_keep : Role::reconnect_clean;
}

// The role's cycle: active for kActive, then asleep (DISCONNECT with kSleepDuration, a wake-up
// PINGREQ every kWakeEvery, back to active with CONNECT after kWakes wake-ups) or away for kAway.
constexpr Ns kActiveSleeper = 20 * kS;
constexpr Ns kActiveReconnect = 30 * kS;
constexpr std::uint16_t kSleepDurationS = 60;
constexpr Ns kWakeEvery = 15 * kS;
constexpr Ns kDrainWakeEvery = 3 * kS;
constexpr std::uint32_t kWakes = 3;
constexpr Ns kAwayKeep = 10 * kS;
constexpr Ns kAwayClean = 5 * kS;
constexpr Ns kLeaveBound = 20 * kS;   // a clean reconnecter waits this long at most for what it is owed
constexpr Ns kAfterFailure = 5 * kS;  // reconnect after a refusal or a DISCONNECT from the gateway
constexpr std::size_t kMaxPublisherInFlight = 2000;
constexpr std::uint32_t kConnectWindow = 50;
constexpr std::size_t kPayload = 32;

Ns cycle_of(Role role) {
  switch (role) {
    case Role::sleeper: return kActiveSleeper + kWakes * kWakeEvery;
    case Role::reconnect_keep: return kActiveReconnect + kAwayKeep;
    case Role::reconnect_clean: return kActiveReconnect + kAwayClean;
    case Role::steady: break;
  }
  return kActiveReconnect;
}

enum class Phase : std::uint8_t {
  fresh, connecting, registering, subscribing, active,
  leaving,        // clean reconnecter: no longer owed new downlink, waits for what it is owed
  disconnecting,  // DISCONNECT sent, the gateway's answer awaited
  asleep, waking, away, failed,
};

struct Client {
  uv_udp_t udp{};
  class SoakWorker* worker = nullptr;
  std::uint32_t gid = 0;
  Role role = Role::steady;
  Phase phase = Phase::fresh;
  bool session_clean = true;   // CleanSession of the current connection
  bool need_subscribe = true;  // a new session: SUBSCRIBE after REGISTER
  bool subscribed = false;     // downlink published now is owed to this client
  std::uint16_t topic_id = 0;
  std::uint16_t msg_id = 0;
  // The one outstanding request (CONNECT, REGISTER, SUBSCRIBE, PUBLISH, PUBREL, DISCONNECT, PINGREQ).
  sn::Bytes frame;
  sn::MsgType awaited = sn::MsgType::connack;
  std::uint16_t pending_id = 0;
  std::uint32_t attempts = 0;
  Ns retry_at = 0;
  bool up_busy = false;
  std::uint32_t up_seq = 0;
  Ns last_tx = 0, next_up_at = 0, next_dl_at = 0, next_event_at = 0;
  std::uint32_t wakes = 0;
  // Per uplink sequence number: QoS, state (0 sent, 1 acknowledged, 2 refused or given up), arrivals.
  std::vector<std::uint8_t> up_qos, up_state, up_rx;
  // Per downlink sequence number: QoS, state (0 awaiting the broker, 1 accepted, 2 failed), arrivals.
  std::vector<std::uint8_t> dl_qos, dl_state, dl_rx;
  std::uint32_t dl_owed = 0;            // QoS 1/2 published while subscribed, not yet received
  std::vector<std::uint16_t> q2_open;   // QoS 2 PUBLISHes received, PUBREL not yet
};

void bump(std::uint8_t& n) { n = static_cast<std::uint8_t>(std::min(255, n + 1)); }

class SoakWorker {
 public:
  explicit SoakWorker(const Options& o) : o_(o), clients_(o.client_end - o.client_begin) {
    tag_ = o.tag;
    uv_loop_init(&loop_);
    loop_.data = this;
    for (uv_timer_t* t : {&tick_, &mqtt_timer_, &final_}) uv_timer_init(&loop_, t);
    uv_pipe_init(&loop_, &control_, 0);
    const auto colon = o.gateway.rfind(':');
    uv_ip4_addr(o.gateway.substr(0, colon).c_str(), std::stoi(o.gateway.substr(colon + 1)), &gateway_);
    const double n = static_cast<double>(o.clients);
    up_period_ = o.rate > 0 ? static_cast<Ns>(n / o.rate * 1e9) : 0;
    dl_period_ = o.down_rate > 0 ? static_cast<Ns>(n / o.down_rate * 1e9) : 0;
  }

  int run() {
    deadline_ = now_ns() + static_cast<Ns>(o_.timeout_s * 1e9);
    uv_pipe_open(&control_, 0);
    uv_read_start(
        reinterpret_cast<uv_stream_t*>(&control_),
        [](uv_handle_t*, size_t, uv_buf_t* buf) {
          static char chunk[4096];
          *buf = uv_buf_init(chunk, sizeof chunk);
        },
        [](uv_stream_t* s, ssize_t n, const uv_buf_t* buf) { self(s)->on_control(n, buf); });
    if (!open_mqtt()) {
      emit("ready", {{"error", "the soak's subscriber/publisher could not connect to " + o_.broker}});
      return 1;
    }
    open_sockets();
    uv_timer_start(&tick_, [](uv_timer_t* t) { self(t)->on_tick(); }, 10, 10);
    uv_timer_start(&mqtt_timer_, [](uv_timer_t* t) { self(t)->mqtt_->poll(0); }, 2, 2);
    uv_run(&loop_, UV_RUN_DEFAULT);
    uv_loop_close(&loop_);
    return 0;
  }

  void on_recv(Client& c, std::span<const std::uint8_t> bytes);

 private:
  template <typename Handle>
  static SoakWorker* self(Handle* h) {
    return static_cast<SoakWorker*>(h->loop->data);
  }

  std::string up_prefix() const { return "soak/" + tag_ + "/u/"; }
  std::string up_topic(std::uint32_t gid) const { return up_prefix() + std::to_string(gid); }
  std::string dl_topic(std::uint32_t gid) const { return "soak/" + tag_ + "/d/" + std::to_string(gid); }
  bool stopping() const { return stop_at_ != 0 && now_ns() >= stop_at_; }

  // ----- broker side ------------------------------------------------------------------------
  bool open_mqtt() {
    MqttClients::Events ev;
    ev.connack = [this](std::size_t i, std::uint8_t rc) {
      if (rc != 0) {
        mqtt_error_ = "CONNACK refused";
        return;
      }
      if (i == 0) {
        mqtt::encode_subscribe(mqtt_->out(0), 1, up_prefix() + "#", 1);
        mqtt_->flush(0);
      } else {
        publisher_ready_ = true;
        check_setup();
      }
    };
    ev.suback = [this](std::size_t, std::uint16_t) {
      subscriber_ready_ = true;
      check_setup();
    };
    ev.publish = [this](std::size_t i, const mqtt::Publish& p) {
      if (i != 0) return;
      on_uplink_arrival(p);
      if (p.qos == 1) {
        mqtt::encode_puback(mqtt_->out(0), p.packet_id);
        mqtt_->flush(0);
      }
    };
    ev.puback = [this](std::size_t, std::uint16_t id) { broker_accepted(id); };
    ev.pubrec = [this](std::size_t, std::uint16_t id) {
      // QoS 2: the broker owns the message from PUBREC on (MQTT 3.1.1 §4.3.3).
      broker_accepted(id);
      mqtt::encode_pubrel(mqtt_->out(1), id);
      mqtt_->flush(1);
    };
    ev.closed = [this](std::size_t i) {
      mqtt_error_ = i == 0 ? "the uplink subscriber lost its connection" : "the downlink publisher lost its connection";
      if (i == 1) {
        for (auto& [id, at] : publisher_in_flight_) {
          Client& c = clients_[at.first];
          c.dl_state[at.second] = 2;
          if (c.dl_rx[at.second] == 0 && c.dl_owed > 0) --c.dl_owed;
        }
        publisher_in_flight_.clear();
        publisher_ready_ = false;
      }
    };
    mqtt_ = std::make_unique<MqttClients>(o_.broker, 2, std::move(ev));
    return mqtt_->open(0, "soak-sub-" + tag_ + "-" + std::to_string(o_.client_begin), 60) &&
           mqtt_->open(1, "soak-pub-" + tag_ + "-" + std::to_string(o_.client_begin), 60);
  }

  void on_uplink_arrival(const mqtt::Publish& p) {
    const auto h = read_header(p.payload);
    if (p.topic.substr(0, up_prefix().size()) != up_prefix() || !h || h->gid < o_.client_begin ||
        h->gid >= o_.client_end) {
      ++foreign_;
      return;
    }
    Client& c = clients_[h->gid - o_.client_begin];
    if (h->seq >= c.up_rx.size()) {
      ++foreign_;
      return;
    }
    bump(c.up_rx[h->seq]);
  }

  void broker_accepted(std::uint16_t id) {
    const auto it = publisher_in_flight_.find(id);
    if (it == publisher_in_flight_.end()) return;
    clients_[it->second.first].dl_state[it->second.second] = 1;
    publisher_in_flight_.erase(it);
  }

  // Publishes the next downlink message to `c` when the publisher has room; false when not now.
  bool publish_downlink(Client& c, std::size_t index) {
    if (!publisher_ready_ || publisher_in_flight_.size() >= kMaxPublisherInFlight) return false;
    const auto seq = static_cast<std::uint32_t>(c.dl_qos.size());
    const int qos = static_cast<int>((seq + c.gid) % 3);
    std::uint16_t id = 0;
    if (qos > 0) {
      do {
        packet_id_ = static_cast<std::uint16_t>(packet_id_ == 0xFFFF ? 1 : packet_id_ + 1);
      } while (publisher_in_flight_.contains(packet_id_));
      id = packet_id_;
      publisher_in_flight_[id] = {index, seq};
      ++c.dl_owed;
    }
    c.dl_qos.push_back(static_cast<std::uint8_t>(qos));
    c.dl_state.push_back(qos == 0 ? 1 : 0);
    c.dl_rx.push_back(0);
    std::array<std::uint8_t, kPayload> payload{};
    write_header(payload, PayloadHeader{c.gid, seq, now_ns()});
    mqtt::encode_publish(mqtt_->out(1), dl_topic(c.gid), payload, qos, id);
    mqtt_->flush(1);
    return true;
  }

  // ----- sockets and requests ----------------------------------------------------------------
  void open_sockets() {
    sockaddr_in local{};
    uv_ip4_addr("127.0.0.1", 0, &local);
    for (std::size_t i = 0; i < clients_.size(); ++i) {
      Client& c = clients_[i];
      c.worker = this;
      c.gid = o_.client_begin + static_cast<std::uint32_t>(i);
      c.role = role_of(c.gid);
      c.session_clean = c.role == Role::steady || c.role == Role::reconnect_clean;
      c.udp.data = &c;
      if (uv_udp_init(&loop_, &c.udp) != 0 ||
          uv_udp_bind(&c.udp, reinterpret_cast<const sockaddr*>(&local), 0) != 0 ||
          uv_udp_connect(&c.udp, reinterpret_cast<const sockaddr*>(&gateway_)) != 0) {
        c.phase = Phase::failed;
        ++socket_errors_;
        continue;
      }
      uv_udp_recv_start(
          &c.udp,
          [](uv_handle_t*, size_t, uv_buf_t* buf) {
            static char chunk[65536];
            *buf = uv_buf_init(chunk, sizeof chunk);
          },
          [](uv_udp_t* h, ssize_t n, const uv_buf_t* buf, const sockaddr*, unsigned flags) {
            if (n <= 0 || (flags & UV_UDP_PARTIAL) != 0) return;
            auto* client = static_cast<Client*>(h->data);
            client->worker->on_recv(*client, std::span(reinterpret_cast<const std::uint8_t*>(buf->base),
                                                        static_cast<std::size_t>(n)));
          });
    }
  }

  void send_bytes(Client& c, const sn::Bytes& bytes) {
    uv_buf_t buf = uv_buf_init(const_cast<char*>(reinterpret_cast<const char*>(bytes.data())),
                               static_cast<unsigned>(bytes.size()));
    if (uv_udp_try_send(&c.udp, &buf, 1, nullptr) < 0) ++send_errors_;
    c.last_tx = now_ns();
  }

  void send_now(Client& c, const sn::Message& m) {
    scratch_.clear();
    sn::encode_to(m, scratch_);
    send_bytes(c, scratch_);
  }

  void send_request(Client& c, const sn::Message& m, sn::MsgType awaited, std::uint16_t id) {
    c.frame.clear();
    sn::encode_to(m, c.frame);
    c.awaited = awaited;
    c.pending_id = id;
    c.attempts = 0;
    c.retry_at = now_ns() + o_.retry_ms * kMs;
    send_bytes(c, c.frame);
  }

  std::uint16_t next_id(Client& c) {
    c.msg_id = static_cast<std::uint16_t>(c.msg_id == 0xFFFF ? 1 : c.msg_id + 1);
    return c.msg_id;
  }

  void send_connect(Client& c) {
    c.phase = Phase::connecting;
    c.session_clean = c.role == Role::steady || c.role == Role::reconnect_clean;
    if (c.session_clean) c.need_subscribe = true;
    sn::Connect connect;
    connect.clean_session = c.session_clean;
    connect.duration_s = static_cast<std::uint16_t>(o_.keepalive_s);
    connect.client_id = client_id(tag_, c.gid);
    ++connects_;
    send_request(c, connect, sn::MsgType::connack, 0);
  }

  void send_disconnect(Client& c) {
    c.phase = Phase::disconnecting;
    sn::Disconnect d;
    if (c.role == Role::sleeper) d.duration_s = kSleepDurationS;
    send_request(c, d, sn::MsgType::disconnect, 0);
  }

  // The gateway answered nothing (or refused): start over with a new CONNECT later.
  void start_over(Client& c, Ns now) {
    c.retry_at = 0;
    c.up_busy = false;
    c.phase = Phase::away;
    c.next_event_at = now + kAfterFailure;
    if (c.session_clean) c.subscribed = false;
  }

  // ----- the client's life -------------------------------------------------------------------
  void pump_setup() {
    std::uint32_t outstanding = 0;
    for (const Client& c : clients_) {
      if (c.phase == Phase::connecting || c.phase == Phase::registering || c.phase == Phase::subscribing) {
        ++outstanding;
      }
    }
    for (; next_setup_ < clients_.size() && outstanding < kConnectWindow; ++next_setup_, ++outstanding) {
      if (clients_[next_setup_].phase == Phase::fresh) send_connect(clients_[next_setup_]);
    }
  }

  void check_setup() {
    if (ready_sent_ || !publisher_ready_ || !subscriber_ready_) return;
    std::uint64_t active = 0;
    for (const Client& c : clients_) {
      if (c.phase == Phase::active) {
        ++active;
      } else if (c.phase != Phase::failed) {
        return;
      }
    }
    ready_sent_ = true;
    emit("ready", {{"connected", active}, {"failed", clients_.size() - active}});
  }

  void on_go() {
    if (go_ns_ != 0) return;
    go_ns_ = now_ns();
    stop_at_ = go_ns_ + static_cast<Ns>(o_.duration_s * 1e9);
    drain_until_ = stop_at_ + static_cast<Ns>(o_.drain_s * 1e9);
    // Spread every client's schedule over its period so the load is steady from the start.
    auto phase_of = [](std::uint32_t gid, Ns period) {
      return period == 0 ? 0 : (std::uint64_t{gid} * 2654435761ULL) % period;
    };
    // The first transition is spread over a whole cycle (active + asleep or away), not only the
    // active part: otherwise the roles move in step for the first cycles and the gateway's
    // descriptor count swings by hundreds, which a slope over a short run would read as a trend.
    for (Client& c : clients_) {
      c.next_up_at = go_ns_ + phase_of(c.gid, up_period_);
      c.next_dl_at = go_ns_ + phase_of(c.gid + 7, dl_period_);
      c.next_event_at = go_ns_ + phase_of(c.gid / 10, cycle_of(c.role));
    }
  }

  void on_tick() {
    const Ns now = now_ns();
    if (!ready_sent_) {
      pump_setup();
      if (now >= deadline_) {
        ready_sent_ = true;
        emit("ready", {{"error", "set-up not finished before --timeout"}});
      }
    }
    const bool traffic = go_ns_ != 0 && !stopping();
    const Ns ping_every = std::uint64_t{o_.keepalive_s} * kS / 2;
    for (std::size_t i = 0; i < clients_.size(); ++i) {
      Client& c = clients_[i];
      if (c.phase == Phase::failed || c.phase == Phase::fresh) continue;
      if (c.retry_at != 0 && now >= c.retry_at) retransmit(c, now);
      // Set-up may outlast the keep-alive (1,000 SUBSCRIBEs through one aggregating upstream):
      // keep pinging, and start over a client whose set-up failed, or "ready" never comes.
      if (c.phase == Phase::active && !c.up_busy && c.retry_at == 0 && now - c.last_tx >= ping_every) {
        send_now(c, sn::PingReq{});
      }
      if (go_ns_ == 0) {
        if (c.phase == Phase::away && now >= c.next_event_at) send_connect(c);
        continue;
      }
      if (traffic && dl_period_ != 0 && now >= c.next_dl_at) {
        if (!c.subscribed) {
          ++dl_excluded_;  // not owed (see README.md): not published at all
          c.next_dl_at += dl_period_;
        } else if (publish_downlink(c, i)) {
          c.next_dl_at += dl_period_;
        }
      }
      step(c, now, traffic);
    }
    if (go_ns_ != 0 && !done_sent_ && stopping() && now >= next_drain_check_) {
      next_drain_check_ = now + 200 * kMs;
      if (drained() || now >= drain_until_ || now >= deadline_) {
        done_sent_ = true;
        emit("done", {{"drained", drained()}});
      }
    }
  }

  // One client's next move in its cycle.
  void step(Client& c, Ns now, bool traffic) {
    switch (c.phase) {
      case Phase::active:
        if (c.up_busy || c.retry_at != 0) return;
        if (traffic && up_period_ != 0 && now >= c.next_up_at) {
          c.next_up_at = std::max(c.next_up_at + up_period_, now);
          publish_uplink(c);
          return;
        }
        if (!traffic || c.role == Role::steady || now < c.next_event_at) return;
        if (c.role == Role::reconnect_clean) {
          // No longer owed new downlink; wait (bounded) for what is owed, then DISCONNECT.
          c.phase = Phase::leaving;
          c.subscribed = false;
          c.next_event_at = now + kLeaveBound;
          return;
        }
        send_disconnect(c);
        return;
      case Phase::leaving:
        if (c.dl_owed == 0 || now >= c.next_event_at) send_disconnect(c);
        return;
      case Phase::asleep:
        if (now >= c.next_event_at) {
          c.phase = Phase::waking;
          ++wakes_;
          send_request(c, sn::PingReq{client_id(tag_, c.gid)}, sn::MsgType::pingresp, 0);
        }
        return;
      case Phase::away:
        if (now >= c.next_event_at || !traffic) send_connect(c);
        return;
      default: return;
    }
  }

  void publish_uplink(Client& c) {
    const auto seq = static_cast<std::uint32_t>(c.up_qos.size());
    const int qos = static_cast<int>((seq + c.gid) % 3);
    c.up_qos.push_back(static_cast<std::uint8_t>(qos));
    c.up_state.push_back(0);
    c.up_rx.push_back(0);
    sn::Publish p;
    p.qos = static_cast<sn::QoS>(qos);
    p.topic_id = c.topic_id;
    p.data.assign(kPayload, 0x5A);
    write_header(p.data, PayloadHeader{c.gid, seq, now_ns()});
    if (qos == 0) {
      c.up_state.back() = 1;
      send_now(c, p);
      return;
    }
    p.msg_id = next_id(c);
    c.up_busy = true;
    c.up_seq = seq;
    send_request(c, p, qos == 1 ? sn::MsgType::puback : sn::MsgType::pubrec, p.msg_id);
  }

  void uplink_finished(Client& c, std::uint8_t state) {
    c.up_state[c.up_seq] = state;
    c.up_busy = false;
    c.retry_at = 0;
  }

  void retransmit(Client& c, Ns now) {
    if (c.attempts >= o_.retries) {
      ++gave_up_;
      if (c.up_busy) {
        uplink_finished(c, 2);
      } else if (c.phase == Phase::waking) {
        ++wake_timeouts_;
        c.retry_at = 0;
        c.phase = Phase::asleep;
        c.next_event_at = now + (stopping() ? kDrainWakeEvery : kWakeEvery);
      } else {
        start_over(c, now);
      }
      return;
    }
    ++c.attempts;
    ++retransmissions_;
    c.retry_at = now + o_.retry_ms * kMs;
    if (c.awaited == sn::MsgType::puback || c.awaited == sn::MsgType::pubrec) {
      c.frame[2] = static_cast<std::uint8_t>(c.frame[2] | 0x80);  // DUP (§5.3.4); frames < 256 octets
    }
    send_bytes(c, c.frame);
  }

  bool drained() const {
    if (!publisher_in_flight_.empty()) return false;
    for (const Client& c : clients_) {
      if (c.phase == Phase::failed) continue;
      if (c.up_busy || c.dl_owed != 0) return false;
      if (c.phase != Phase::active && c.phase != Phase::asleep && c.phase != Phase::waking) return false;
      for (std::size_t s = 0; s < c.up_state.size(); ++s) {
        if (c.up_qos[s] > 0 && c.up_state[s] == 1 && c.up_rx[s] == 0) return false;
      }
    }
    return true;
  }

  // ----- control and report ------------------------------------------------------------------
  void on_control(ssize_t n, const uv_buf_t* buf) {
    if (n < 0) {
      begin_end(false);
      return;
    }
    control_buffer_.append(buf->base, static_cast<std::size_t>(n));
    for (auto nl = control_buffer_.find('\n'); nl != std::string::npos; nl = control_buffer_.find('\n')) {
      const std::string line = control_buffer_.substr(0, nl);
      control_buffer_.erase(0, nl + 1);
      if (line == "go") on_go();
      if (line == "end") begin_end(true);
    }
  }

  void begin_end(bool report) {
    if (ending_) return;
    ending_ = true;
    if (report) emit("result", result());
    uv_read_stop(reinterpret_cast<uv_stream_t*>(&control_));
    for (Client& c : clients_) {
      c.retry_at = 0;
      if (c.phase != Phase::failed && c.phase != Phase::fresh && c.phase != Phase::away) send_now(c, sn::Disconnect{});
    }
    uv_timer_start(&final_, [](uv_timer_t* t) { self(t)->close_all(); }, 1500, 0);
  }

  void close_all() {
    mqtt_->disconnect_all();
    for (Client& c : clients_) {
      auto* h = reinterpret_cast<uv_handle_t*>(&c.udp);
      if (c.udp.loop != nullptr && !uv_is_closing(h)) uv_close(h, nullptr);
    }
    for (uv_handle_t* h : {reinterpret_cast<uv_handle_t*>(&tick_), reinterpret_cast<uv_handle_t*>(&mqtt_timer_),
                           reinterpret_cast<uv_handle_t*>(&final_), reinterpret_cast<uv_handle_t*>(&control_)}) {
      if (!uv_is_closing(h)) uv_close(h, nullptr);
    }
  }

  void emit(const char* word, const nlohmann::json& body) {
    const std::string line = std::string(word) + " " + body.dump() + "\n";
    std::fwrite(line.data(), 1, line.size(), stdout);
    std::fflush(stdout);
  }

  nlohmann::json result() const;

  void on_publish(Client& c, const sn::Publish& p);

  const Options& o_;
  std::string tag_;
  uv_loop_t loop_{};
  uv_timer_t tick_{}, mqtt_timer_{}, final_{};
  uv_pipe_t control_{};
  sockaddr_in gateway_{};
  std::vector<Client> clients_;
  std::unique_ptr<MqttClients> mqtt_;
  std::unordered_map<std::uint16_t, std::pair<std::size_t, std::uint32_t>> publisher_in_flight_;
  std::uint16_t packet_id_ = 0;
  bool publisher_ready_ = false, subscriber_ready_ = false;
  std::string mqtt_error_;
  sn::Bytes scratch_;
  std::string control_buffer_;
  Ns up_period_ = 0, dl_period_ = 0;
  Ns deadline_ = 0, go_ns_ = 0, stop_at_ = 0, drain_until_ = 0, next_drain_check_ = 0;
  std::size_t next_setup_ = 0;
  bool ready_sent_ = false, done_sent_ = false, ending_ = false;
  std::uint64_t socket_errors_ = 0, send_errors_ = 0, retransmissions_ = 0, gave_up_ = 0;
  std::uint64_t connects_ = 0, connack_refused_ = 0, setup_refused_ = 0, sleeps_ = 0, wakes_ = 0;
  std::uint64_t wake_timeouts_ = 0, reconnects_ = 0, gateway_disconnects_ = 0, bad_frames_ = 0;
  std::uint64_t dl_excluded_ = 0, dl_retransmitted_ = 0, foreign_ = 0;
};

void SoakWorker::on_publish(Client& c, const sn::Publish& p) {
  if (p.qos == sn::QoS::qos2) {
    // §6.7: until PUBREL, a PUBLISH with the same MsgId is the same message again.
    if (std::find(c.q2_open.begin(), c.q2_open.end(), p.msg_id) != c.q2_open.end()) {
      ++dl_retransmitted_;
      send_now(c, sn::PubRec{p.msg_id});
      return;
    }
    c.q2_open.push_back(p.msg_id);
  }
  const auto h = read_header(p.data);
  if (h && h->gid == c.gid && h->seq < c.dl_rx.size()) {
    if (c.dl_rx[h->seq] == 0 && c.dl_qos[h->seq] > 0 && c.dl_owed > 0) --c.dl_owed;
    bump(c.dl_rx[h->seq]);
  } else {
    ++foreign_;
  }
  if (p.qos == sn::QoS::qos1) send_now(c, sn::PubAck{p.topic_id, p.msg_id, sn::ReturnCode::accepted});
  if (p.qos == sn::QoS::qos2) send_now(c, sn::PubRec{p.msg_id});
}

void SoakWorker::on_recv(Client& c, std::span<const std::uint8_t> bytes) {
  auto decoded = sn::decode_message(bytes);
  if (!decoded) {
    ++bad_frames_;
    return;
  }
  const Ns now = now_ns();
  std::visit(
      [&](auto& m) {
        using T = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<T, sn::ConnAck>) {
          if (c.phase != Phase::connecting) return;
          c.retry_at = 0;
          if (m.return_code != sn::ReturnCode::accepted) {
            ++connack_refused_;
            start_over(c, now);
            return;
          }
          if (go_ns_ != 0) ++reconnects_;
          c.phase = Phase::registering;
          const std::uint16_t id = next_id(c);
          send_request(c, sn::Register{0, id, up_topic(c.gid)}, sn::MsgType::regack, id);
        } else if constexpr (std::is_same_v<T, sn::RegAck>) {
          if (c.phase != Phase::registering || m.msg_id != c.pending_id) return;
          c.retry_at = 0;
          if (m.return_code != sn::ReturnCode::accepted) {
            ++setup_refused_;
            start_over(c, now);
            return;
          }
          c.topic_id = m.topic_id;
          if (!c.need_subscribe) {
            c.phase = Phase::active;
            c.next_event_at = now + (c.role == Role::sleeper ? kActiveSleeper : kActiveReconnect);
            check_setup();
            return;
          }
          c.phase = Phase::subscribing;
          sn::Subscribe s;
          s.qos = sn::QoS::qos2;
          s.msg_id = next_id(c);
          s.topic_name = dl_topic(c.gid);
          send_request(c, s, sn::MsgType::suback, s.msg_id);
        } else if constexpr (std::is_same_v<T, sn::SubAck>) {
          if (c.phase != Phase::subscribing || m.msg_id != c.pending_id) return;
          c.retry_at = 0;
          if (m.return_code != sn::ReturnCode::accepted) {
            ++setup_refused_;
            start_over(c, now);
            return;
          }
          c.need_subscribe = false;
          c.subscribed = true;
          c.phase = Phase::active;
          c.next_event_at = now + (c.role == Role::sleeper ? kActiveSleeper : kActiveReconnect);
          check_setup();
        } else if constexpr (std::is_same_v<T, sn::PubAck>) {
          if (!c.up_busy || m.msg_id != c.pending_id) return;
          if (c.awaited == sn::MsgType::puback && m.return_code == sn::ReturnCode::accepted) {
            uplink_finished(c, 1);
          } else if (c.awaited == sn::MsgType::puback || c.awaited == sn::MsgType::pubrec) {
            uplink_finished(c, 2);  // refused (e.g. congestion), or a QoS 2 PUBLISH refused (§6.12)
          }
        } else if constexpr (std::is_same_v<T, sn::PubRec>) {
          if (!c.up_busy || m.msg_id != c.pending_id) return;
          if (c.awaited == sn::MsgType::pubrec) {
            send_request(c, sn::PubRel{m.msg_id}, sn::MsgType::pubcomp, m.msg_id);
          } else if (c.awaited == sn::MsgType::pubcomp) {
            send_bytes(c, c.frame);  // our PUBREL was lost: repeat it
          }
        } else if constexpr (std::is_same_v<T, sn::PubComp>) {
          if (c.up_busy && c.awaited == sn::MsgType::pubcomp && m.msg_id == c.pending_id) uplink_finished(c, 1);
        } else if constexpr (std::is_same_v<T, sn::Publish>) {
          on_publish(c, m);
        } else if constexpr (std::is_same_v<T, sn::PubRel>) {
          std::erase(c.q2_open, m.msg_id);
          send_now(c, sn::PubComp{m.msg_id});
        } else if constexpr (std::is_same_v<T, sn::Register>) {
          send_now(c, sn::RegAck{m.topic_id, m.msg_id, sn::ReturnCode::accepted});
        } else if constexpr (std::is_same_v<T, sn::PingResp>) {
          if (c.phase != Phase::waking) return;
          // §6.14: PINGRESP closes the flush of what was buffered; back to sleep.
          c.retry_at = 0;
          c.phase = Phase::asleep;
          ++c.wakes;
          c.next_event_at = now + (stopping() ? kDrainWakeEvery : kWakeEvery);
          if (c.wakes >= kWakes && !stopping()) send_connect(c);
        } else if constexpr (std::is_same_v<T, sn::Disconnect>) {
          if (c.phase == Phase::disconnecting) {
            c.retry_at = 0;
            if (c.role == Role::sleeper) {
              ++sleeps_;
              c.phase = Phase::asleep;
              c.wakes = 0;
              c.next_event_at = now + (stopping() ? kDrainWakeEvery : kWakeEvery);
            } else {
              c.phase = Phase::away;
              c.next_event_at = now + (c.role == Role::reconnect_clean ? kAwayClean : kAwayKeep);
              if (c.session_clean) c.subscribed = false;
            }
            return;
          }
          if (ending_) return;
          ++gateway_disconnects_;  // the gateway dropped this client: it starts over
          start_over(c, now);
        } else if constexpr (std::is_same_v<T, sn::PingReq>) {
          send_now(c, sn::PingResp{});
        }
      },
      decoded.value());
}

nlohmann::json SoakWorker::result() const {
  using nlohmann::json;
  std::array<std::uint64_t, 3> up_sent{}, up_acked{}, up_refused{}, up_lost{}, up_dup{}, up_rx{};
  std::array<std::uint64_t, 3> dl_sent{}, dl_accepted{}, dl_unacked{}, dl_lost{}, dl_dup{}, dl_rx{};
  std::array<std::uint64_t, 4> dl_lost_by_role{}, up_lost_by_role{}, roles{};
  json examples = json::array();
  std::uint64_t failed = 0;
  for (const Client& c : clients_) {
    const auto role = static_cast<std::size_t>(c.role);
    ++roles[role];
    if (c.phase == Phase::failed) ++failed;
    for (std::size_t s = 0; s < c.up_qos.size(); ++s) {
      const std::size_t q = c.up_qos[s];
      ++up_sent[q];
      if (c.up_rx[s] > 0) ++up_rx[q];
      if (q == 0) continue;
      if (c.up_state[s] == 2) ++up_refused[q];
      if (c.up_state[s] != 1) continue;
      ++up_acked[q];
      if (c.up_rx[s] > 1) ++up_dup[q];
      if (c.up_rx[s] == 0) {
        ++up_lost[q];
        ++up_lost_by_role[role];
        if (examples.size() < 20) examples.push_back({{"dir", "up"}, {"gid", c.gid}, {"seq", s}, {"qos", q}, {"role", kRoleNames[role]}});
      }
    }
    for (std::size_t s = 0; s < c.dl_qos.size(); ++s) {
      const std::size_t q = c.dl_qos[s];
      ++dl_sent[q];
      if (c.dl_rx[s] > 0) ++dl_rx[q];
      if (q == 0) continue;
      if (c.dl_state[s] != 1) {
        ++dl_unacked[q];
        continue;
      }
      ++dl_accepted[q];
      if (c.dl_rx[s] > 1) ++dl_dup[q];
      if (c.dl_rx[s] == 0) {
        ++dl_lost[q];
        ++dl_lost_by_role[role];
        if (examples.size() < 20) examples.push_back({{"dir", "down"}, {"gid", c.gid}, {"seq", s}, {"qos", q}, {"role", kRoleNames[role]}});
      }
    }
  }
  auto by_role = [](const std::array<std::uint64_t, 4>& a) {
    json out;
    for (std::size_t r = 0; r < a.size(); ++r) out[kRoleNames[r]] = a[r];
    return out;
  };
  return {{"clients", clients_.size()}, {"roles", by_role(roles)}, {"failed_clients", failed},
          {"up_sent", up_sent}, {"up_acked", up_acked}, {"up_refused", up_refused}, {"up_rx", up_rx},
          {"up_lost", up_lost}, {"up_dup", up_dup}, {"up_lost_by_role", by_role(up_lost_by_role)},
          {"dl_sent", dl_sent}, {"dl_accepted", dl_accepted}, {"dl_unacked", dl_unacked}, {"dl_rx", dl_rx},
          {"dl_lost", dl_lost}, {"dl_dup", dl_dup}, {"dl_lost_by_role", by_role(dl_lost_by_role)},
          {"dl_excluded", dl_excluded_}, {"dl_retransmitted", dl_retransmitted_},
          {"connects", connects_}, {"reconnects", reconnects_}, {"sleeps", sleeps_}, {"wakes", wakes_},
          {"wake_timeouts", wake_timeouts_}, {"connack_refused", connack_refused_},
          {"setup_refused", setup_refused_}, {"gateway_disconnects", gateway_disconnects_},
          {"retransmissions", retransmissions_}, {"gave_up", gave_up_}, {"send_errors", send_errors_},
          {"socket_errors", socket_errors_}, {"bad_frames", bad_frames_}, {"foreign", foreign_},
          {"drained", drained()}, {"mqtt_error", mqtt_error_}, {"lost_examples", examples}};
}

}  // namespace

int run_soak_worker(const Options& options) {
  raise_nofile_limit();
  SoakWorker worker(options);
  return worker.run();
}

}  // namespace bench
