// Worker process of the broker-only scenarios: plain-socket MQTT clients straight to the broker
// (see run_broker_worker in mqtt_side.hpp), all on this one thread.

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <deque>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "histogram.hpp"
#include "mqtt_clients.hpp"
#include "mqtt_side.hpp"
#include "payload.hpp"

namespace bench {
namespace {

constexpr Ns kMs = 1'000'000;
// QoS 0: octets a client may have queued beyond what its socket took (TCP back-pressure), and
// messages one client adds per pass, so every connection gets its turn.
constexpr std::size_t kMaxUnsent = std::size_t{64} * 1024;
constexpr std::uint32_t kBurst = 16;

class BrokerWorker {
 public:
  explicit BrokerWorker(const Options& o)
      : o_(o), clients_(o.client_end - o.client_begin), mqtt_(o.broker, clients_.size(), events()) {
    rate_ = o.rate * static_cast<double>(clients_.size()) / static_cast<double>(o.clients);
    payload_.resize(o.size, 0x5A);
  }

  int run() {
    deadline_ns_ = now_ns() + static_cast<Ns>(o_.timeout_s * 1e9);
    setup_start_ns_ = now_ns();
    mqtt_.watch(0, [this] { on_control(); });
    if (o_.scenario == Scenario::baseline) {
      pump_connects();
    } else {
      emit("ready", {{"connected", 0}});
      ready_sent_ = true;
    }
    while (!exit_) {
      mqtt_.poll(busy() ? 0 : 2);
      step();
    }
    return 0;
  }

 private:
  struct Client {
    std::uint32_t gid = 0;
    bool connecting = false;
    bool connected = false;
    bool complete = false;
    std::uint32_t next_seq = 0;
    std::uint16_t packet_id = 0;
    Ns sent_ns = 0;
    mqtt::Bytes publish;  // PUBLISH template: payload header and packet id patched per message
    std::size_t payload_at = 0;
  };

  MqttClients::Events events() {
    MqttClients::Events e;
    e.connack = [this](std::size_t i, std::uint8_t rc) { connect_finished(i, rc == 0); };
    e.puback = [this](std::size_t i, std::uint16_t id) { acknowledged(i, id); };
    e.pubrec = [this](std::size_t i, std::uint16_t id) {
      mqtt::encode_pubrel(mqtt_.out(i), id);
      mqtt_.flush(i);
    };
    e.pubcomp = [this](std::size_t i, std::uint16_t id) { acknowledged(i, id); };
    e.closed = [this](std::size_t i) {
      Client& c = clients_[i];
      if (c.connecting) {
        connect_finished(i, false);
      } else if (c.connected && !ending_) {
        c.connected = false;
        ++closed_;
        if (measuring() && !c.complete) finish_client(c);
      }
    };
    return e;
  }

  bool measuring() const { return go_ns_ != 0 && !done_sent_; }
  bool busy() const { return measuring() && o_.scenario == Scenario::baseline && o_.qos == 0; }

  bool token_available(std::uint64_t started) const {
    if (rate_ <= 0) return true;
    const double elapsed = static_cast<double>(now_ns() - go_ns_) / 1e9;
    return static_cast<double>(started) < rate_ * elapsed + 1;
  }

  // ----- connecting ------------------------------------------------------------------------
  void pump_connects() {
    const bool storm = o_.scenario == Scenario::broker_storm;
    while (outstanding_ < o_.connect_window && next_connect_ < clients_.size() &&
           (!storm || token_available(next_connect_))) {
      const std::size_t i = next_connect_++;
      Client& c = clients_[i];
      c.gid = o_.client_begin + static_cast<std::uint32_t>(i);
      if (first_connect_ns_ == 0) first_connect_ns_ = now_ns();
      c.sent_ns = now_ns();
      if (!mqtt_.open(i, "m" + client_id(o_.tag, c.gid),
                      static_cast<std::uint16_t>(o_.keepalive_s))) {
        ++socket_errors_;
        ++connect_failed_;
        continue;
      }
      c.connecting = true;
      ++outstanding_;
    }
  }

  void connect_finished(std::size_t i, bool ok) {
    Client& c = clients_[i];
    if (!c.connecting) return;
    c.connecting = false;
    --outstanding_;
    if (ok) {
      c.connected = true;
      ++connected_;
      last_connack_ns_ = now_ns();
      connect_latency_.record(last_connack_ns_ - c.sent_ns);
    } else {
      ++connect_failed_;
    }
    pump_connects();
  }

  // ----- publishing ------------------------------------------------------------------------
  void on_go() {
    if (go_ns_ != 0) return;
    go_ns_ = now_ns();
    if (o_.scenario == Scenario::broker_storm) {
      pump_connects();
      return;
    }
    for (std::size_t i = 0; i < clients_.size(); ++i) {
      Client& c = clients_[i];
      if (!c.connected) continue;
      ++publishing_;
      c.payload_at = mqtt::encode_publish(c.publish, topic_of(o_.tag, c.gid), payload_, o_.qos, 1);
      if (o_.messages == 0) finish_client(c);
    }
    if (o_.qos > 0) {
      for (std::size_t i = 0; i < clients_.size(); ++i) start_next(i);
    }
  }

  // Appends the next message of client i to its connection (not flushed).
  void append_publish(std::size_t i) {
    Client& c = clients_[i];
    const Ns t = now_ns();
    write_header(std::span(c.publish).subspan(c.payload_at), PayloadHeader{c.gid, c.next_seq++, t});
    if (o_.qos > 0) {
      c.packet_id = static_cast<std::uint16_t>(c.packet_id == 0xFFFF ? 1 : c.packet_id + 1);
      c.publish[c.payload_at - 2] = static_cast<std::uint8_t>(c.packet_id >> 8);
      c.publish[c.payload_at - 1] = static_cast<std::uint8_t>(c.packet_id & 0xFF);
      c.sent_ns = t;
    }
    auto& out = mqtt_.out(i);
    out.insert(out.end(), c.publish.begin(), c.publish.end());
    if (first_send_ns_ == 0) first_send_ns_ = t;
    ++sent_;
  }

  // QoS 1/2: one message in flight per client, as the MQTT-SN clients do (MQTT-SN §6.6).
  void start_next(std::size_t i) {
    Client& c = clients_[i];
    if (!c.connected || c.complete || !measuring()) return;
    if (c.next_seq >= o_.messages) {
      finish_client(c);
      return;
    }
    if (!token_available(sent_)) {
      waiting_.push_back(i);
      return;
    }
    append_publish(i);
    mqtt_.flush(i);
  }

  void acknowledged(std::size_t i, std::uint16_t id) {
    Client& c = clients_[i];
    if (!measuring() || id != c.packet_id || c.sent_ns == 0) return;
    rtt_.record(now_ns() - c.sent_ns);
    c.sent_ns = 0;
    ++acknowledged_;
    last_done_ns_ = now_ns();
    start_next(i);
  }

  void pump_qos0() {
    for (std::size_t i = 0; i < clients_.size(); ++i) {
      Client& c = clients_[i];
      if (!c.connected || c.complete) continue;
      for (std::uint32_t k = 0; k < kBurst && c.next_seq < o_.messages &&
                                mqtt_.unsent(i) < kMaxUnsent && token_available(sent_);
           ++k) {
        append_publish(i);
      }
      mqtt_.flush(i);
      if (c.next_seq >= o_.messages && mqtt_.unsent(i) == 0) {
        last_done_ns_ = now_ns();
        finish_client(c);
      }
    }
  }

  void finish_client(Client& c) {
    if (c.complete) return;
    c.complete = true;
    ++complete_;
  }

  // ----- loop ------------------------------------------------------------------------------
  void step() {
    const Ns now = now_ns();
    if (!ready_sent_ && next_connect_ >= clients_.size() && outstanding_ == 0) {
      ready_sent_ = true;
      emit("ready", {{"connected", connected_}, {"failed", connect_failed_}});
    }
    if (measuring()) {
      if (o_.scenario == Scenario::baseline && o_.qos == 0) pump_qos0();
      while (!waiting_.empty() && token_available(sent_)) {
        const std::size_t i = waiting_.front();
        waiting_.pop_front();
        start_next(i);
      }
      const bool done = o_.scenario == Scenario::broker_storm
                            ? connected_ + connect_failed_ >= clients_.size()
                            : complete_ >= publishing_;
      if (done) finish_phase(false);
      if (now - last_progress_ns_ >= 250 * kMs) {
        last_progress_ns_ = now;
        emit("progress", sent_ + acknowledged_ + connected_ + connect_failed_);
      }
    }
    if (now >= deadline_ns_ && !ending_) {
      if (!ready_sent_) {
        ready_sent_ = true;
        emit("ready",
             {{"connected", connected_}, {"failed", connect_failed_}, {"timed_out", true}});
      }
      if (measuring()) finish_phase(true);
    }
  }

  void finish_phase(bool timed_out) {
    if (done_sent_) return;
    done_sent_ = true;
    timed_out_ = timed_out;
    emit("done", {{"sent", sent_}, {"timed_out", timed_out}});
  }

  void on_control() {
    char chunk[4096];
    const auto n = ::read(0, chunk, sizeof chunk);
    if (n <= 0) {  // the coordinator is gone
      end(false);
      return;
    }
    control_.append(chunk, static_cast<std::size_t>(n));
    for (auto nl = control_.find('\n'); nl != std::string::npos; nl = control_.find('\n')) {
      const std::string line = control_.substr(0, nl);
      control_.erase(0, nl + 1);
      if (line == "go") on_go();
      if (line == "end") end(true);
    }
  }

  void end(bool report) {
    if (ending_) return;
    ending_ = true;
    if (measuring()) finish_phase(true);
    if (report) {
      emit("result",
           {{"clients", clients_.size()},
            {"connected", connected_},
            {"connect_failed", connect_failed_},
            {"socket_errors", socket_errors_},
            {"gateway_disconnects", closed_},
            {"connect_all_s", static_cast<double>(last_connack_ns_ - setup_start_ns_) / 1e9},
            {"sent", sent_},
            {"acknowledged", acknowledged_},
            {"go_ns", go_ns_},
            {"first_send_ns", first_send_ns_},
            {"last_done_ns", last_done_ns_},
            {"first_connect_ns", first_connect_ns_},
            {"last_connack_ns", last_connack_ns_},
            {"timed_out", timed_out_},
            {"rtt", rtt_.to_json()},
            {"connect_latency", connect_latency_.to_json()},
            {"e2e", Histogram{}.to_json()}});
    }
    mqtt_.disconnect_all();
    exit_ = true;
  }

  static void emit(const char* word, const nlohmann::json& body) {
    const std::string line = std::string(word) + " " + body.dump() + "\n";
    std::fwrite(line.data(), 1, line.size(), stdout);
    std::fflush(stdout);
  }

  const Options& o_;
  std::vector<Client> clients_;
  MqttClients mqtt_;
  std::deque<std::size_t> waiting_;
  mqtt::Bytes payload_;
  std::string control_;
  double rate_ = 0;
  std::size_t next_connect_ = 0;
  std::uint32_t outstanding_ = 0;
  Ns deadline_ns_ = 0, setup_start_ns_ = 0, go_ns_ = 0, first_send_ns_ = 0, last_done_ns_ = 0;
  Ns first_connect_ns_ = 0, last_connack_ns_ = 0, last_progress_ns_ = 0;
  bool ready_sent_ = false, done_sent_ = false, ending_ = false, exit_ = false, timed_out_ = false;
  std::uint64_t connected_ = 0, connect_failed_ = 0, socket_errors_ = 0, closed_ = 0;
  std::uint64_t sent_ = 0, acknowledged_ = 0, publishing_ = 0, complete_ = 0;
  Histogram rtt_, connect_latency_;
};

}  // namespace

int run_broker_worker(const Options& options) {
  BrokerWorker worker(options);
  return worker.run();
}

}  // namespace bench
