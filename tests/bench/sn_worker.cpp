#include "sn_worker.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <uv.h>

#include <algorithm>
#include <cstdio>
#include <deque>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "histogram.hpp"
#include "mqtt_side.hpp"
#include "payload.hpp"
#include "proc_stats.hpp"
#include "dtls_client.hpp"
#include "child_process.hpp"
#include "sn_protocol/codec.hpp"

namespace bench {
namespace {

using Ns = std::uint64_t;
constexpr Ns kMs = 1'000'000;

enum class State : std::uint8_t {
  closed,       // no socket
  handshaking,  // --dtls: socket open, DTLS handshake under way
  fresh,        // socket open (and DTLS established), not connected
  connecting,   // CONNECT sent
  registering,  // REGISTER sent
  subscribing,  // SUBSCRIBE sent
  ready,        // connected (and registered/subscribed): may publish / receive
  busy,         // a QoS 1/2 PUBLISH (or its PUBREL) awaits its acknowledgement
  complete,     // its part of the measured phase is done
  failed,
};

struct Client {
  uv_udp_t udp{};
  class Worker* worker = nullptr;
  std::uint32_t gid = 0;
  State state = State::closed;
  std::uint16_t topic_id = 0;
  std::uint16_t msg_id = 0;
  std::uint16_t pending_id = 0;  // msg id awaited in the next acknowledgement
  sn::MsgType awaited = sn::MsgType::connack;
  std::uint32_t attempts = 0;
  Ns sent_ns = 0;      // first transmission of what is awaited (latency start)
  Ns retry_at = 0;     // 0: nothing to retransmit
  Ns last_tx_ns = 0;   // for the keep-alive
  sn::Bytes frame;     // last frame sent that may need a retransmission
  sn::Bytes publish;   // PUBLISH template: encoded once, seq/time/msg id patched per message
  std::uint32_t next_seq = 0;  // messages started
  std::uint32_t finished = 0;  // messages acknowledged, refused or given up
  std::vector<bool> seen;      // downlink: sequence numbers received
  std::uint32_t rx_unique = 0;
  bool connected = false;
  bool disconnect_acked = false;
  std::unique_ptr<test_common::DtlsClient> dtls;  // --dtls: frames travel as its records
};

class Worker {
 public:
  explicit Worker(const Options& o)
      : o_(o), clients_(o.client_end - o.client_begin) {
    const double share = static_cast<double>(clients_.size()) / static_cast<double>(o.clients);
    rate_ = o.rate * share;
    uv_loop_init(&loop_);
    loop_.data = this;
    uv_timer_init(&loop_, &tick_);
    uv_timer_init(&loop_, &pace_);
    uv_idle_init(&loop_, &idle_);
    uv_timer_init(&loop_, &final_);
    uv_pipe_init(&loop_, &control_, 0);
    const auto colon = o.gateway.rfind(':');
    const std::string host = o.gateway.substr(0, colon);
    const int port = std::stoi(o.gateway.substr(colon + 1));
    if (host.find(':') != std::string::npos || host.front() == '[') {
      std::string h6 = host;
      if (h6.front() == '[') h6 = h6.substr(1, h6.size() - 2);
      uv_ip6_addr(h6.c_str(), port, reinterpret_cast<sockaddr_in6*>(&gateway_));
    } else {
      uv_ip4_addr(host.c_str(), port, reinterpret_cast<sockaddr_in*>(&gateway_));
    }
    ipv6_ = gateway_.ss_family == AF_INET6;
    payload_.resize(o.size, 0x5A);
  }

  int run() {
    start_ns_ = now_ns();
    deadline_ns_ = start_ns_ + static_cast<Ns>(o_.timeout_s * 1e9);
    uv_pipe_open(&control_, 0);
    uv_read_start(
        reinterpret_cast<uv_stream_t*>(&control_),
        [](uv_handle_t*, size_t, uv_buf_t* buf) {
          static char chunk[4096];
          *buf = uv_buf_init(chunk, sizeof chunk);
        },
        [](uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
          static_cast<Worker*>(s->loop->data)->on_control(n, buf);
        });
    open_sockets();
    uv_timer_start(&tick_, [](uv_timer_t* t) { self(t)->on_tick(); }, 50, 50);
    if ((uplink_like() || o_.scenario == Scenario::downlink) && handshaking_ == 0) {
      pump_connects();
    }
    check_setup();
    uv_run(&loop_, UV_RUN_DEFAULT);
    uv_loop_close(&loop_);
    return 0;
  }

  void on_recv(Client& c, std::span<const std::uint8_t> bytes);

 private:
  template <typename Handle>
  static Worker* self(Handle* h) {
    return static_cast<Worker*>(h->loop->data);
  }

  bool measuring() const { return go_ns_ != 0; }

  // overload is QoS 0 uplink, bounded in time as well as in count.
  bool uplink_like() const { return o_.scenario == Scenario::uplink || o_.scenario == Scenario::overload; }

  // Clients per IPv4 source address: the kernel's ephemeral UDP ports (32768-60999 by default)
  // run out near 28k per address, so beyond that clients use 127.0.0.2, 127.0.0.3, ... (all of
  // 127/8 is loopback). IPv6 has only ::1.
  static constexpr std::uint32_t kClientsPerAddress = 25000;

  void open_sockets() {
    sockaddr_storage local{};
    if (ipv6_) uv_ip6_addr("::1", 0, reinterpret_cast<sockaddr_in6*>(&local));
    for (std::size_t i = 0; i < clients_.size(); ++i) {
      Client& c = clients_[i];
      c.worker = this;
      c.gid = o_.client_begin + static_cast<std::uint32_t>(i);
      if (!ipv6_) {
        const std::string source = "127.0.0." + std::to_string(1 + c.gid / kClientsPerAddress);
        uv_ip4_addr(source.c_str(), 0, reinterpret_cast<sockaddr_in*>(&local));
      }
      if (uv_udp_init(&loop_, &c.udp) != 0) {
        c.state = State::closed;
        ++socket_errors_;
        continue;
      }
      c.udp.data = &c;
      if (uv_udp_bind(&c.udp, reinterpret_cast<const sockaddr*>(&local), 0) != 0 ||
          uv_udp_connect(&c.udp, reinterpret_cast<const sockaddr*>(&gateway_)) != 0) {
        uv_close(reinterpret_cast<uv_handle_t*>(&c.udp), nullptr);
        c.state = State::failed;
        ++socket_errors_;
        continue;
      }
      // A QoS 0 downlink burst comes at the gateway's pace (about 100,000/s here): with the
      // default 208 KiB a moment of this worker's descheduling overflowed it (udp_rcvbuf_drops),
      // and the load generator's own loss read as the gateway's. Memory is used only while
      // datagrams wait.
      int receive_buffer = 1 << 20;
      uv_recv_buffer_size(reinterpret_cast<uv_handle_t*>(&c.udp), &receive_buffer);
      uv_udp_recv_start(
          &c.udp,
          [](uv_handle_t* h, size_t, uv_buf_t* buf) {
            static char chunk[65536];
            (void)h;
            *buf = uv_buf_init(chunk, sizeof chunk);
          },
          [](uv_udp_t* h, ssize_t n, const uv_buf_t* buf, const sockaddr*, unsigned flags) {
            if (n <= 0 || (flags & UV_UDP_PARTIAL) != 0) return;
            auto* client = static_cast<Client*>(h->data);
            client->worker->on_datagram(*client,
                                        std::span(reinterpret_cast<const std::uint8_t*>(buf->base),
                                                  static_cast<std::size_t>(n)));
          });
      c.state = State::fresh;
      if (o_.dtls) start_handshake(c);
      c.seen.resize(o_.scenario == Scenario::downlink ? o_.messages : 0, false);
    }
  }

  // --dtls: every client's handshake runs before the first CONNECT.
  void start_handshake(Client& c) {
    test_common::DtlsClientOptions options;
    options.psk_identity = kDtlsIdentity;
    for (std::size_t i = 0; i + 1 < std::char_traits<char>::length(kDtlsKey); i += 2) {
      options.psk_key.push_back(
          static_cast<std::uint8_t>(std::stoi(std::string(kDtlsKey + i, 2), nullptr, 16)));
    }
    c.dtls = std::make_unique<test_common::DtlsClient>(options);
    c.state = State::handshaking;
    ++handshaking_;
    c.dtls->handshake();
    flush_dtls(c);
  }

  void flush_dtls(Client& c) {
    for (const auto& datagram : c.dtls->take_datagrams()) send_datagram(c, datagram);
  }

  void handshake_over(Client& c, bool ok) {
    c.state = ok ? State::fresh : State::failed;
    if (!ok) ++connect_failed_;
    if (--handshaking_ == 0 && (uplink_like() || o_.scenario == Scenario::downlink)) {
      pump_connects();
      check_setup();
    }
  }

 public:
  void on_datagram(Client& c, std::span<const std::uint8_t> bytes) {
    if (!c.dtls) {
      on_recv(c, bytes);
      return;
    }
    c.dtls->receive(bytes);
    flush_dtls(c);
    if (c.state == State::handshaking) {
      if (c.dtls->established()) handshake_over(c, true);
      if (c.dtls->failed()) handshake_over(c, false);
    }
    for (const auto& frame : c.dtls->take_frames()) on_recv(c, frame);
  }

 private:
  // Sends one frame (as a DTLS record with --dtls); false (counted) when the socket buffer is full.
  bool send_bytes(Client& c, const sn::Bytes& bytes) {
    if (!c.dtls) return send_datagram(c, bytes);
    if (!c.dtls->write(bytes)) {
      ++send_errors_;
      return false;
    }
    bool sent = true;
    for (const auto& datagram : c.dtls->take_datagrams()) sent = send_datagram(c, datagram) && sent;
    return sent;
  }

  bool send_datagram(Client& c, const sn::Bytes& bytes) {
    uv_buf_t buf = uv_buf_init(const_cast<char*>(reinterpret_cast<const char*>(bytes.data())),
                               static_cast<unsigned>(bytes.size()));
    const int r = uv_udp_try_send(&c.udp, &buf, 1, nullptr);
    if (r < 0) {
      ++send_errors_;
      return false;
    }
    c.last_tx_ns = now_ns();
    return true;
  }

  // Sends a request whose answer is awaited, keeping it for retransmission.
  void send_request(Client& c, const sn::Message& m, sn::MsgType awaited, std::uint16_t id) {
    c.frame.clear();
    sn::encode_to(m, c.frame);
    c.awaited = awaited;
    c.pending_id = id;
    c.attempts = 0;
    c.sent_ns = now_ns();
    c.retry_at = c.sent_ns + o_.retry_ms * kMs;
    send_bytes(c, c.frame);
  }

  void send_now(Client& c, const sn::Message& m) {
    scratch_.clear();
    sn::encode_to(m, scratch_);
    send_bytes(c, scratch_);
  }

  std::uint16_t next_id(Client& c) {
    c.msg_id = static_cast<std::uint16_t>(c.msg_id == 0xFFFF ? 1 : c.msg_id + 1);
    return c.msg_id;
  }

  // ----- connecting ------------------------------------------------------------------------
  bool connect_token_available() const {
    if (o_.scenario != Scenario::connect_storm && o_.scenario != Scenario::idle) return true;
    if (rate_ <= 0) return true;
    const double elapsed = static_cast<double>(now_ns() - go_ns_) / 1e9;
    return static_cast<double>(connects_started_) < rate_ * elapsed + 1;
  }

  void pump_connects() {
    while (connects_outstanding_ < o_.connect_window && next_connect_ < clients_.size() &&
           connect_token_available()) {
      Client& c = clients_[next_connect_++];
      if (c.state != State::fresh) continue;
      c.state = State::connecting;
      ++connects_started_;
      ++connects_outstanding_;
      if (first_connect_ns_ == 0) first_connect_ns_ = now_ns();
      sn::Connect connect;
      connect.clean_session = o_.clean_session;
      connect.duration_s = static_cast<std::uint16_t>(o_.keepalive_s);
      connect.client_id = client_id(o_.tag, c.gid);
      send_request(c, connect, sn::MsgType::connack, 0);
    }
  }

  void connect_finished(Client& c, bool ok) {
    --connects_outstanding_;
    if (ok) {
      ++connected_;
      c.connected = true;
      last_connack_ns_ = now_ns();
      connect_latency_.record(last_connack_ns_ - c.sent_ns);
    } else {
      ++connect_failed_;
      c.state = State::failed;
    }
    pump_connects();
  }

  // ----- phases ----------------------------------------------------------------------------
  void check_setup() {
    if (ready_sent_) return;
    if (uplink_like() || o_.scenario == Scenario::downlink) {
      for (const Client& c : clients_) {
        if (c.state != State::ready && c.state != State::failed) return;
      }
    }
    ready_sent_ = true;
    emit("ready", {{"connected", connected_}, {"failed", connect_failed_},
                   {"socket_errors", socket_errors_}});
  }

  void on_go() {
    if (go_ns_ != 0) return;
    go_ns_ = now_ns();
    switch (o_.scenario) {
      case Scenario::uplink:
      case Scenario::overload:
        for (Client& c : clients_) {
          if (c.state == State::ready) build_publish_template(c);
        }
        if (o_.qos == 0) {
          if (rate_ > 0) {
            uv_timer_start(&pace_, [](uv_timer_t* t) { self(t)->send_qos0(); }, 1, 1);
          } else {
            uv_idle_start(&idle_, [](uv_idle_t* i) { self(i)->send_qos0(); });
          }
        } else {
          for (Client& c : clients_) {
            if (c.state == State::ready) start_next_publish(c);
          }
          if (rate_ > 0) {
            uv_timer_start(&pace_, [](uv_timer_t* t) { self(t)->drain_waiting(); }, 1, 1);
          }
        }
        break;
      case Scenario::connect_storm:
      case Scenario::idle:
        pump_connects();
        if (rate_ > 0) {
          uv_timer_start(&pace_, [](uv_timer_t* t) { self(t)->pump_connects(); }, 1, 1);
        }
        break;
      case Scenario::downlink:
      case Scenario::baseline:
      case Scenario::broker_storm:
      case Scenario::soak:  // soak_worker.cpp
        break;
    }
    check_done();
  }

  void check_done() {
    if (done_sent_ || !measuring()) return;
    bool done = true;
    switch (o_.scenario) {
      case Scenario::uplink:
      case Scenario::overload:
        for (const Client& c : clients_) {
          if (c.state != State::complete && c.state != State::failed && c.state != State::closed) {
            done = false;
            break;
          }
        }
        break;
      case Scenario::downlink:
        for (const Client& c : clients_) {
          if (c.state == State::ready) {
            done = false;
            break;
          }
        }
        break;
      case Scenario::connect_storm:
      case Scenario::idle:
        done = connected_ + connect_failed_ + socket_errors_ >= clients_.size();
        break;
      case Scenario::baseline:
      case Scenario::broker_storm:
      case Scenario::soak:  // soak_worker.cpp
        break;
    }
    if (!done) return;
    finish_phase(false);
  }

  void finish_phase(bool timed_out) {
    if (done_sent_) return;
    done_sent_ = true;
    done_ns_ = now_ns();
    timed_out_ = timed_out;
    uv_idle_stop(&idle_);
    uv_timer_stop(&pace_);
    emit("done", {{"sent", sent_}, {"timed_out", timed_out}});
  }

  // ----- uplink ----------------------------------------------------------------------------
  void build_publish_template(Client& c) {
    sn::Publish p;
    p.qos = static_cast<sn::QoS>(o_.qos);
    p.topic_id_type = sn::TopicIdType::normal;
    p.topic_id = c.topic_id;
    p.msg_id = o_.qos == 0 ? 0 : 1;
    p.data = payload_;
    c.publish = sn::encode(sn::Message{p});
  }

  std::size_t data_offset(const Client& c) const { return c.publish.size() - payload_.size(); }

  // Patches sequence, send time and msg id into the client's PUBLISH template and sends it.
  bool send_publish(Client& c, std::uint32_t seq, std::uint16_t msg_id) {
    const std::size_t data = data_offset(c);
    const Ns t = now_ns();
    write_header(std::span(c.publish).subspan(data), PayloadHeader{c.gid, seq, t});
    c.publish[data - 2] = static_cast<std::uint8_t>(msg_id >> 8);
    c.publish[data - 1] = static_cast<std::uint8_t>(msg_id & 0xFF);
    c.publish[data - 5] = static_cast<std::uint8_t>(c.publish[data - 5] & 0x7F);  // DUP off
    if (!send_bytes(c, c.publish)) return false;
    if (first_send_ns_ == 0) first_send_ns_ = t;
    ++sent_;
    return true;
  }

  void send_qos0() {
    if (done_sent_) return;
    if (o_.scenario == Scenario::overload &&
        now_ns() - go_ns_ >= static_cast<Ns>(o_.duration_s * 1e9)) {
      // The offered load lasts --duration-s; what is left unsent was never offered.
      for (Client& c : clients_) {
        if (c.state == State::ready) c.state = State::complete;
      }
      last_done_ns_ = now_ns();
      check_done();
      return;
    }
    std::uint64_t budget = 256;
    if (rate_ > 0) {
      const double elapsed = static_cast<double>(now_ns() - go_ns_) / 1e9;
      const double allowed = rate_ * elapsed - static_cast<double>(sent_);
      budget = allowed <= 0 ? 0 : std::min<std::uint64_t>(static_cast<std::uint64_t>(allowed), 4096);
    }
    bool any_left = false;
    // At max speed one round over the clients per turn; paced, as many rounds as the budget of
    // this 1 ms tick needs (one round would cap the rate at N messages per ms).
    const std::size_t visits = rate_ > 0 ? clients_.size() * static_cast<std::size_t>(budget) : clients_.size();
    for (std::size_t k = 0; k < visits && budget > 0; ++k) {
      cursor_ = (cursor_ + 1) % clients_.size();
      Client& c = clients_[cursor_];
      if (c.state != State::ready) continue;
      if (c.next_seq >= o_.messages) {
        c.state = State::complete;
        continue;
      }
      if (!send_publish(c, c.next_seq, 0)) break;  // socket buffer full: try again next turn
      --budget;
      ++c.next_seq;
      ++c.finished;
      if (c.next_seq >= o_.messages) c.state = State::complete;
    }
    for (const Client& c : clients_) {
      if (c.state == State::ready) {
        any_left = true;
        break;
      }
    }
    if (!any_left) {
      last_done_ns_ = now_ns();
      check_done();
    }
  }

  bool publish_token_available() const {
    if (rate_ <= 0) return true;
    const double elapsed = static_cast<double>(now_ns() - go_ns_) / 1e9;
    return static_cast<double>(sent_) < rate_ * elapsed + 1;
  }

  void start_next_publish(Client& c) {
    if (c.next_seq >= o_.messages) {
      c.state = State::complete;
      last_done_ns_ = now_ns();
      check_done();
      return;
    }
    if (!publish_token_available()) {
      c.state = State::ready;
      waiting_.push_back(&c);
      return;
    }
    const std::uint16_t id = next_id(c);
    c.state = State::busy;
    c.awaited = o_.qos == 1 ? sn::MsgType::puback : sn::MsgType::pubrec;
    c.pending_id = id;
    c.attempts = 0;
    c.sent_ns = now_ns();
    c.retry_at = c.sent_ns + o_.retry_ms * kMs;
    c.frame.clear();  // a retransmission resends the template (with DUP)
    const std::uint32_t seq = c.next_seq++;
    send_publish(c, seq, id);
  }

  void drain_waiting() {
    while (!waiting_.empty() && publish_token_available()) {
      Client* c = waiting_.front();
      waiting_.pop_front();
      start_next_publish(*c);
    }
  }

  void publish_finished(Client& c, bool accepted) {
    rtt_.record(now_ns() - c.sent_ns);
    if (accepted) {
      ++acknowledged_;
    } else {
      ++refused_;
    }
    ++c.finished;
    c.retry_at = 0;
    start_next_publish(c);
  }

  // ----- timers ----------------------------------------------------------------------------
  std::uint64_t progress() const {
    std::uint64_t rx = 0;
    for (const Client& c : clients_) rx += c.rx_unique;
    return sent_ + acknowledged_ + refused_ + gave_up_ + connected_ + connect_failed_ + rx;
  }

  void on_tick() {
    const Ns now = now_ns();
    if (measuring() && !done_sent_ && now - last_progress_ns_ >= 250 * kMs) {
      last_progress_ns_ = now;
      emit("progress", progress());
    }
    if (!ending_ && now >= deadline_ns_) {
      if (!ready_sent_) {
        ready_sent_ = true;
        emit("ready", {{"connected", connected_}, {"failed", connect_failed_},
                       {"socket_errors", socket_errors_}, {"timed_out", true}});
      }
      if (measuring()) finish_phase(true);
    }
    const Ns ping_every = std::max<Ns>(o_.keepalive_s * 1000 * kMs / 2, 100 * kMs);
    for (Client& c : clients_) {
      if (c.state == State::handshaking) {
        c.dtls->on_timer();  // OpenSSL retransmits a lost flight when its timer is due
        flush_dtls(c);
      }
      if (c.retry_at != 0 && c.retry_at <= now) retransmit(c, now);
      if (c.connected && !ending_ && c.state != State::busy && now - c.last_tx_ns >= ping_every) {
        send_now(c, sn::PingReq{});
        ++pings_;
      }
    }
  }

  void retransmit(Client& c, Ns now) {
    if (c.attempts >= o_.retries) {
      c.retry_at = 0;
      switch (c.state) {
        case State::connecting: connect_finished(c, false); break;
        case State::registering:
        case State::subscribing:
          c.state = State::failed;
          ++setup_failed_;
          break;
        case State::busy:
          ++gave_up_;
          ++c.finished;
          start_next_publish(c);
          break;
        default: break;
      }
      check_setup();
      check_done();
      return;
    }
    ++c.attempts;
    ++retransmissions_;
    c.retry_at = now + o_.retry_ms * kMs;
    if (c.state == State::busy && c.frame.empty()) {
      // The PUBLISH itself, again, with DUP (§5.3.4); its payload and time stay as first sent.
      c.publish[data_offset(c) - 5] = static_cast<std::uint8_t>(c.publish[data_offset(c) - 5] | 0x80);
      send_bytes(c, c.publish);
      return;
    }
    send_bytes(c, c.frame);
  }

  // ----- control ---------------------------------------------------------------------------
  void on_control(ssize_t n, const uv_buf_t* buf) {
    if (n < 0) {  // the coordinator is gone
      begin_end(false);
      return;
    }
    control_buffer_.append(buf->base, static_cast<std::size_t>(n));
    for (auto nl = control_buffer_.find('\n'); nl != std::string::npos;
         nl = control_buffer_.find('\n')) {
      const std::string line = control_buffer_.substr(0, nl);
      control_buffer_.erase(0, nl + 1);
      if (line == "go") on_go();
      if (line == "end") begin_end(true);
    }
  }

  void begin_end(bool report) {
    if (ending_) return;
    ending_ = true;
    if (!done_sent_ && measuring()) finish_phase(true);
    if (report) emit("result", result());
    uv_idle_stop(&idle_);
    uv_timer_stop(&pace_);
    uv_read_stop(reinterpret_cast<uv_stream_t*>(&control_));
    // Say goodbye so the gateway frees the sessions (and upstream connections) before the next run.
    for (Client& c : clients_) {
      c.retry_at = 0;
      if (c.connected) {
        send_now(c, sn::Disconnect{});
        ++disconnects_sent_;
      }
    }
    if (disconnects_sent_ == 0) {
      close_all();
      return;
    }
    uv_timer_start(&final_, [](uv_timer_t* t) { self(t)->close_all(); }, 1500, 0);
  }

  void close_all() {
    for (Client& c : clients_) {
      if (c.state != State::closed && !uv_is_closing(reinterpret_cast<uv_handle_t*>(&c.udp))) {
        uv_close(reinterpret_cast<uv_handle_t*>(&c.udp), nullptr);
      }
    }
    for (uv_handle_t* h : {reinterpret_cast<uv_handle_t*>(&tick_), reinterpret_cast<uv_handle_t*>(&pace_),
                           reinterpret_cast<uv_handle_t*>(&idle_), reinterpret_cast<uv_handle_t*>(&final_),
                           reinterpret_cast<uv_handle_t*>(&control_)}) {
      if (!uv_is_closing(h)) uv_close(h, nullptr);
    }
  }

  void emit(const char* word, const nlohmann::json& body) {
    const std::string line = std::string(word) + " " + body.dump() + "\n";
    std::fwrite(line.data(), 1, line.size(), stdout);
    std::fflush(stdout);
  }

  nlohmann::json result() const {
    std::uint64_t rx_unique = 0;
    for (const Client& c : clients_) rx_unique += c.rx_unique;
    return {{"clients", clients_.size()},
            {"connected", connected_},
            {"connect_failed", connect_failed_},
            {"setup_failed", setup_failed_},
            {"socket_errors", socket_errors_},
            {"sent", sent_},
            {"acknowledged", acknowledged_},
            {"refused", refused_},
            {"gave_up", gave_up_},
            {"retransmissions", retransmissions_},
            {"send_errors", send_errors_},
            {"rx_unique", rx_unique},
            {"rx_dup", rx_dup_},
            {"rx_foreign", rx_foreign_},
            {"pings", pings_},
            {"pongs", pongs_},
            {"gateway_disconnects", gateway_disconnects_},
            {"bad_frames", bad_frames_},
            {"go_ns", go_ns_},
            {"first_send_ns", first_send_ns_},
            {"last_done_ns", last_done_ns_},
            {"done_ns", done_ns_},
            {"first_connect_ns", first_connect_ns_},
            {"last_connack_ns", last_connack_ns_},
            {"last_rx_ns", last_rx_ns_},
            {"timed_out", timed_out_},
            {"rtt", rtt_.to_json()},
            {"connect_latency", connect_latency_.to_json()},
            {"e2e", e2e_.to_json()}};
  }

  void on_publish(Client& c, const sn::Publish& p);

  const Options& o_;
  uv_loop_t loop_{};
  uv_timer_t tick_{};
  uv_timer_t pace_{};
  uv_idle_t idle_{};
  uv_timer_t final_{};
  uv_pipe_t control_{};
  sockaddr_storage gateway_{};
  bool ipv6_ = false;
  std::vector<Client> clients_;
  std::size_t handshaking_ = 0;  // --dtls: handshakes not yet over
  std::deque<Client*> waiting_;
  sn::Bytes payload_;
  sn::Bytes scratch_;
  std::string control_buffer_;
  double rate_ = 0;
  std::size_t cursor_ = 0;
  std::size_t next_connect_ = 0;
  std::uint32_t connects_outstanding_ = 0;

  Ns start_ns_ = 0, deadline_ns_ = 0, go_ns_ = 0, done_ns_ = 0;
  Ns first_send_ns_ = 0, last_done_ns_ = 0, first_connect_ns_ = 0, last_connack_ns_ = 0;
  Ns last_rx_ns_ = 0, last_progress_ns_ = 0;
  bool ready_sent_ = false, done_sent_ = false, ending_ = false, timed_out_ = false;
  std::uint64_t connects_started_ = 0, connected_ = 0, connect_failed_ = 0, setup_failed_ = 0;
  std::uint64_t socket_errors_ = 0, sent_ = 0, acknowledged_ = 0, refused_ = 0, gave_up_ = 0;
  std::uint64_t retransmissions_ = 0, send_errors_ = 0, rx_dup_ = 0, rx_foreign_ = 0;
  std::uint64_t pings_ = 0, pongs_ = 0, gateway_disconnects_ = 0, bad_frames_ = 0;
  std::uint64_t disconnects_sent_ = 0, disconnect_acks_ = 0;
  Histogram rtt_, connect_latency_, e2e_;

};

void Worker::on_publish(Client& c, const sn::Publish& p) {
  const Ns now = now_ns();
  last_rx_ns_ = now;
  if (const auto h = read_header(p.data); h && h->gid == c.gid && h->seq < c.seen.size()) {
    if (c.seen[h->seq]) {
      ++rx_dup_;
    } else {
      c.seen[h->seq] = true;
      ++c.rx_unique;
      e2e_.record(now - h->sent_ns);
    }
  } else {
    ++rx_foreign_;
  }
  if (p.qos == sn::QoS::qos1) send_now(c, sn::PubAck{p.topic_id, p.msg_id, sn::ReturnCode::accepted});
  if (p.qos == sn::QoS::qos2) send_now(c, sn::PubRec{p.msg_id});
  if (c.state == State::ready && c.rx_unique >= o_.messages && measuring()) {
    c.state = State::complete;
    last_done_ns_ = now;
    check_done();
  }
}

void Worker::on_recv(Client& c, std::span<const std::uint8_t> bytes) {
  auto decoded = sn::decode_message(bytes);
  if (!decoded) {
    ++bad_frames_;
    return;
  }
  std::visit(
      [this, &c](auto& m) {
        using T = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<T, sn::ConnAck>) {
          if (c.state != State::connecting) return;
          c.retry_at = 0;
          const bool ok = m.return_code == sn::ReturnCode::accepted;
          connect_finished(c, ok);
          if (!ok) {
            check_setup();
            check_done();
            return;
          }
          if (uplink_like()) {
            c.state = State::registering;
            const std::uint16_t id = next_id(c);
            send_request(c, sn::Register{0, id, topic_of(o_.tag, c.gid)}, sn::MsgType::regack, id);
          } else if (o_.scenario == Scenario::downlink) {
            c.state = State::subscribing;
            const std::uint16_t id = next_id(c);
            sn::Subscribe s;
            s.qos = static_cast<sn::QoS>(o_.qos);
            s.msg_id = id;
            s.topic_name = topic_of(o_.tag, c.gid);
            send_request(c, s, sn::MsgType::suback, id);
          } else {
            c.state = State::ready;
            check_done();
          }
        } else if constexpr (std::is_same_v<T, sn::RegAck>) {
          if (c.state != State::registering || m.msg_id != c.pending_id) return;
          c.retry_at = 0;
          if (m.return_code != sn::ReturnCode::accepted) {
            c.state = State::failed;
            ++setup_failed_;
          } else {
            c.topic_id = m.topic_id;
            c.state = State::ready;
          }
          check_setup();
        } else if constexpr (std::is_same_v<T, sn::SubAck>) {
          if (c.state != State::subscribing || m.msg_id != c.pending_id) return;
          c.retry_at = 0;
          if (m.return_code != sn::ReturnCode::accepted) {
            c.state = State::failed;
            ++setup_failed_;
          } else {
            c.topic_id = m.topic_id;
            c.state = State::ready;
          }
          check_setup();
        } else if constexpr (std::is_same_v<T, sn::PubAck>) {
          if (c.state == State::busy && c.awaited == sn::MsgType::puback && m.msg_id == c.pending_id) {
            publish_finished(c, m.return_code == sn::ReturnCode::accepted);
          } else if (c.state == State::busy && c.awaited == sn::MsgType::pubrec &&
                     m.msg_id == c.pending_id) {
            publish_finished(c, false);  // a QoS 2 PUBLISH refused with PUBACK (§6.12)
          }
        } else if constexpr (std::is_same_v<T, sn::PubRec>) {
          if (c.state != State::busy || m.msg_id != c.pending_id) return;
          if (c.awaited == sn::MsgType::pubrec) {
            const Ns first_sent = c.sent_ns;
            send_request(c, sn::PubRel{m.msg_id}, sn::MsgType::pubcomp, m.msg_id);
            c.sent_ns = first_sent;  // the round trip counts from the PUBLISH
          } else if (c.awaited == sn::MsgType::pubcomp) {
            send_bytes(c, c.frame);  // our PUBREL was lost: repeat it
          }
        } else if constexpr (std::is_same_v<T, sn::PubComp>) {
          if (c.state == State::busy && c.awaited == sn::MsgType::pubcomp && m.msg_id == c.pending_id) {
            publish_finished(c, true);
          }
        } else if constexpr (std::is_same_v<T, sn::Publish>) {
          on_publish(c, m);
        } else if constexpr (std::is_same_v<T, sn::PubRel>) {
          send_now(c, sn::PubComp{m.msg_id});
        } else if constexpr (std::is_same_v<T, sn::Register>) {
          // The gateway names a topic before it publishes on it (§6.10): accept.
          send_now(c, sn::RegAck{m.topic_id, m.msg_id, sn::ReturnCode::accepted});
        } else if constexpr (std::is_same_v<T, sn::PingResp>) {
          ++pongs_;
        } else if constexpr (std::is_same_v<T, sn::Disconnect>) {
          if (ending_) {
            if (!c.disconnect_acked) ++disconnect_acks_;
            c.disconnect_acked = true;
            c.connected = false;
            if (disconnect_acks_ >= disconnects_sent_) close_all();
            return;
          }
          ++gateway_disconnects_;
          c.connected = false;
          c.retry_at = 0;
          if (c.state != State::complete) c.state = State::failed;
          check_done();
        } else if constexpr (std::is_same_v<T, sn::PingReq>) {
          send_now(c, sn::PingResp{});
        }
      },
      decoded.value());
}

}  // namespace

int run_worker(const Options& options) {
  raise_nofile_limit();
  if (options.scenario == Scenario::baseline || options.scenario == Scenario::broker_storm) {
    return run_broker_worker(options);
  }
  Worker worker(options);
  return worker.run();
}

}  // namespace bench
