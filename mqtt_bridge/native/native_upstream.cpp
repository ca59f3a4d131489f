// The native Upstream: one Session (session.hpp) per connection, driven on the gateway's own
// libuv loop. No threads, no locks:
//  - bytes read are handed to the session at once; every complete packet in a read is handled
//    before the next read;
//  - what sessions write and the events they emit are collected during the loop iteration and
//    leave at its end (a uv_prepare before the loop blocks, a uv_check after it polled): one
//    write per connection per iteration, uv_try_write first, uv_write for what is left;
//  - events reach the sink from those hooks, never from inside an Upstream call, so the gateway
//    is not re-entered while it executes its actions.
// Lifetimes follow libuv: a connection's memory is freed by the last of its close callbacks (and
// the end of its name lookup, if one is under way), never before.

#include <uv.h>

#include <algorithm>
#include <array>
#include <list>
#include <cstring>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "mqtt_bridge/upstream.hpp"
#include "common/broker_uri.hpp"
#include "session.hpp"
#include "tls/tls.hpp"

namespace mqtt_bridge {
namespace native {
namespace {

std::string uv_error(const char* what, int status) {
  return std::string(what) + ": " + uv_strerror(status);
}

class NativeUpstream;

// One connection: its handles, its session and what is being written. Heap-allocated; freed by
// release() once no handle is open and no name lookup is running.
struct Connection {
  Connection(NativeUpstream* owner_in, const ConnectRequest& request, SessionOptions options,
             SessionState resumed)
      : owner(owner_in), session(request.id, request, std::move(options), std::move(resumed)) {}

  NativeUpstream* owner;  // null once the upstream is destroyed
  Session session;
  uv_tcp_t tcp{};
  uv_timer_t timer{};
  uv_getaddrinfo_t resolve{};
  uv_connect_t connect_req{};
  uv_write_t write_req{};
  int open_handles = 0;
  bool resolving = false;
  bool tcp_up = false;
  bool closing = false;       // uv_close called on the handles
  bool writing = false;       // write_req in progress over `in_write`
  bool dirty = false;         // in the owner's flush list
  bool state_kept = false;    // the finished session's state went to resumable_
  bool waiting = false;       // in the owner's waiting_ list (at wait_pos): no TCP connect yet
  std::list<Connection*>::iterator wait_pos;
  bool connecting = false;    // counted in the owner's connecting_: started, not yet connected
  bool reading = false;       // uv_read_start is in effect (Session::reading())
  Bytes in_write;             // the buffer write_req writes
  // ssl:// and mqtts://: the TLS link between the socket and the session (tls/tls.hpp), and the
  // ciphertext waiting to be written.
  std::unique_ptr<tls::TlsLink> tls;
  Bytes tls_out;
  Time connect_deadline{0};   // until Connected or the final event
  std::optional<Time> armed;  // when `timer` fires, if it runs
};

void release(Connection* c) {
  if (c->open_handles == 0 && !c->resolving) delete c;
}

void on_handle_closed(uv_handle_t* handle) {
  auto* c = static_cast<Connection*>(handle->data);
  --c->open_handles;
  release(c);
}

// The two loop hooks live on the heap so that they can outlive the upstream until their close
// callbacks have run.
struct Hooks {
  uv_prepare_t prepare{};
  uv_check_t check{};
  int open = 2;
};

class NativeUpstream final : public Upstream {
 public:
  NativeUpstream(uv_loop_t* loop, BrokerOptions options, EventSink sink)
      : loop_(loop), options_(std::move(options)), sink_(std::move(sink)),
        endpoint_(parse_broker_uri(options_.uri)) {
    if (!sink_) throw std::invalid_argument("make_native_upstream: empty event sink");
    if (options_.mqtt_version != 4 && options_.mqtt_version != 5) {
      throw std::invalid_argument("mqtt_version must be 4 (MQTT 3.1.1) or 5 (MQTT 5.0), got " +
                                  std::to_string(options_.mqtt_version));
    }
    if (endpoint_.tls) {
      tls_context_ = std::make_unique<tls::TlsContext>(options_.tls, endpoint_.host);
    }
    session_options_.version =
        options_.mqtt_version == 5 ? mqtt_codec::Version::v5 : mqtt_codec::Version::v311;
    session_options_.username = options_.username;
    session_options_.password = options_.password;
    session_options_.manual_acknowledgement = options_.manual_acknowledgement;
    session_options_.receive_maximum = options_.receive_maximum;
    if (options_.max_queued_messages > 0) session_options_.max_queued = options_.max_queued_messages;
    session_options_.max_broker_delay = options_.max_broker_delay;
    // The output of one loop iteration is bounded by what one iteration reads; beyond it, what
    // waits behind a full socket is bounded by max_queued.
    hooks_ = new Hooks;
    uv_prepare_init(loop_, &hooks_->prepare);
    uv_check_init(loop_, &hooks_->check);
    hooks_->prepare.data = this;
    hooks_->check.data = this;
    uv_prepare_start(&hooks_->prepare, [](uv_prepare_t* h) {
      static_cast<NativeUpstream*>(h->data)->end_of_batch();
    });
    uv_check_start(&hooks_->check, [](uv_check_t* h) {
      static_cast<NativeUpstream*>(h->data)->end_of_batch();
    });
    // The hooks alone must not keep the loop running.
    uv_unref(reinterpret_cast<uv_handle_t*>(&hooks_->prepare));
    uv_unref(reinterpret_cast<uv_handle_t*>(&hooks_->check));
  }

  NativeUpstream(const NativeUpstream&) = delete;
  NativeUpstream& operator=(const NativeUpstream&) = delete;

  // Only closes handles: connections are dropped without DISCONNECT (the broker sees the TCP
  // connection end, which fires wills of clients still connected). No event is delivered after.
  ~NativeUpstream() override {
    for (Connection* c : all_) {
      c->owner = nullptr;
      if (c->resolving) uv_cancel(reinterpret_cast<uv_req_t*>(&c->resolve));
      close_handles(c);
    }
    all_.clear();
    waiting_.clear();
    for (auto* h : {reinterpret_cast<uv_handle_t*>(&hooks_->prepare),
                    reinterpret_cast<uv_handle_t*>(&hooks_->check)}) {
      h->data = hooks_;
      uv_close(h, [](uv_handle_t* handle) {
        auto* hooks = static_cast<Hooks*>(handle->data);
        if (--hooks->open == 0) delete hooks;
      });
    }
  }

  void connect(const ConnectRequest& request) override {
    if (connections_.contains(request.id)) {
      events_.emplace_back(ConnectFailed{request.id, ConnectFailure::refused,
                                         "connection id " + std::to_string(request.id) +
                                             " is in use"});
      return;
    }
    // MQTT 3.1.1 §3.1.2.4: a clean session discards the last one's state; otherwise the new
    // connection completes what the last one of this ClientId left unfinished.
    SessionState resumed;
    if (request.clean_session) {
      resumable_.erase(request.client_id);
    } else if (auto node = resumable_.extract(request.client_id)) {
      resumed = std::move(node.mapped());
    }
    SessionOptions options = session_options_;
    if (request.credentials) {
      options.username = request.credentials->username;
      options.password = request.credentials->password;
    }
    auto* c = new Connection(this, request, std::move(options), std::move(resumed));
    all_.insert(c);
    connections_.emplace(request.id, c);
    uv_tcp_init(loop_, &c->tcp);
    uv_timer_init(loop_, &c->timer);
    c->tcp.data = c;
    c->timer.data = c;
    c->resolve.data = c;
    c->connect_req.data = c;
    c->write_req.data = c;
    c->open_handles = 2;
    c->connect_deadline = now() + std::chrono::duration_cast<Time>(options_.connect_timeout);
    rearm(c);
    if (connecting_ >= kMaxConnecting) {
      c->waiting = true;
      c->wait_pos = waiting_.insert(waiting_.end(), c);
      return;
    }
    begin(c);
  }

  // Starts the name lookup or the TCP connect of `c`, which counts as connecting until it is
  // connected or finished.
  void begin(Connection* c) {
    c->connecting = true;
    ++connecting_;
    // A literal address needs no lookup (and no thread-pool round trip).
    sockaddr_storage address{};
    const int port = std::stoi(endpoint_.port);
    if (uv_ip4_addr(endpoint_.host.c_str(), port, reinterpret_cast<sockaddr_in*>(&address)) == 0 ||
        uv_ip6_addr(endpoint_.host.c_str(), port, reinterpret_cast<sockaddr_in6*>(&address)) == 0) {
      start_tcp(c, reinterpret_cast<const sockaddr*>(&address));
      return;
    }
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    const int rc = uv_getaddrinfo(loop_, &c->resolve, on_resolved, endpoint_.host.c_str(),
                                  endpoint_.port.c_str(), &hints);
    if (rc != 0) {
      c->session.transport_closed(uv_error("cannot resolve the broker's host", rc));
      after(c);
      return;
    }
    c->resolving = true;
  }

  void disconnect(ConnectionId id, bool fire_will) override {
    Connection* c = find(id);
    if (c == nullptr) return;
    c->session.disconnect(fire_will, now());
    // Still waiting for its turn to connect: there is no outcome to wait for.
    if (c->waiting) c->session.transport_closed("disconnected before connecting");
    after(c);
  }

  void publish(ConnectionId id, RequestId request, std::string topic, Bytes payload, int qos,
               bool retain) override {
    Connection* c = find(id);
    if (c == nullptr) {
      events_.emplace_back(PublishDone{id, request, false, "unknown connection"});
      return;
    }
    c->session.publish(request, std::move(topic), std::move(payload), qos, retain, now());
    after(c);
  }

  void subscribe(ConnectionId id, RequestId request, const std::string& filter, int qos) override {
    Connection* c = find(id);
    if (c == nullptr) {
      events_.emplace_back(SubscribeDone{id, request, false, 0x80});
      return;
    }
    c->session.subscribe(request, filter, qos, now());
    after(c);
  }

  void unsubscribe(ConnectionId id, RequestId request, const std::string& filter) override {
    Connection* c = find(id);
    if (c == nullptr) {
      events_.emplace_back(UnsubscribeDone{id, request, false});
      return;
    }
    c->session.unsubscribe(request, filter, now());
    after(c);
  }

  void acknowledge(ConnectionId id, AckToken ack) override {
    Connection* c = find(id);
    if (c == nullptr) return;
    c->session.acknowledge(ack, now());
    after(c);
  }

  // Nothing here can fail to hand an event over: the sink is called directly, on this thread.
  std::uint64_t dropped_events() const override { return 0; }

  // A connection whose final event is out still counts until its last bytes (a DISCONNECT) are
  // written: destroying the upstream before that would drop them, and the broker would take the
  // closed socket for a lost client and publish its will.
  std::size_t connection_count() const override { return all_.size(); }

 private:
  Time now() const { return Time(uv_now(loop_)); }

  Connection* find(ConnectionId id) const {
    const auto it = connections_.find(id);
    return it == connections_.end() ? nullptr : it->second;
  }

  void start_tcp(Connection* c, const sockaddr* address) {
    const int rc = uv_tcp_connect(&c->connect_req, &c->tcp, address, on_connected);
    if (rc != 0) {
      c->session.transport_closed(uv_error("cannot connect to the broker", rc));
      after(c);
    }
  }

  static void on_resolved(uv_getaddrinfo_t* req, int status, addrinfo* result) {
    auto* c = static_cast<Connection*>(req->data);
    c->resolving = false;
    NativeUpstream* self = c->owner;
    if (self == nullptr || c->closing || c->session.finished()) {
      uv_freeaddrinfo(result);
      release(c);
      return;
    }
    if (status != 0 || result == nullptr) {
      c->session.transport_closed(uv_error("cannot resolve the broker's host", status));
    } else {
      self->start_tcp(c, result->ai_addr);
    }
    uv_freeaddrinfo(result);
    self->after(c);
  }

  static void on_connected(uv_connect_t* req, int status) {
    auto* c = static_cast<Connection*>(req->data);
    NativeUpstream* self = c->owner;
    if (self == nullptr || status == UV_ECANCELED || c->closing) return;
    if (status != 0) {
      c->session.transport_closed(uv_error("cannot connect to the broker", status));
      self->after(c);
      return;
    }
    c->tcp_up = true;
    uv_tcp_nodelay(&c->tcp, 1);
    c->reading = true;
    uv_read_start(reinterpret_cast<uv_stream_t*>(&c->tcp), on_alloc, on_read);
    if (self->tls_context_) {
      // CONNECT waits for the handshake (on_read); the connect timeout covers both.
      c->tls = std::make_unique<tls::TlsLink>(*self->tls_context_);
      c->tls->start();
    } else {
      c->session.start(self->now());
    }
    self->after(c);
  }

  static void on_alloc(uv_handle_t*, std::size_t, uv_buf_t* buf) {
    // Every read is handled at once, so one buffer serves all connections.
    static thread_local std::array<char, 64 * 1024> buffer;
    *buf = uv_buf_init(buffer.data(), static_cast<unsigned>(buffer.size()));
  }

  static void on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
    auto* c = static_cast<Connection*>(stream->data);
    NativeUpstream* self = c->owner;
    if (self == nullptr || c->closing) return;
    if (nread > 0) {
      const std::span bytes(reinterpret_cast<const std::uint8_t*>(buf->base),
                            static_cast<std::size_t>(nread));
      if (c->tls) {
        self->receive_tls(c, bytes);
      } else {
        c->session.receive(bytes, self->now());
      }
    } else if (nread < 0) {
      c->session.transport_closed(nread == UV_EOF ? std::string("the broker closed the connection")
                                                  : uv_error("read", static_cast<int>(nread)));
    }
    self->after(c);
  }

  // Ciphertext in; the handshake's end starts the MQTT session, plaintext goes to it.
  void receive_tls(Connection* c, std::span<const std::uint8_t> cipher) {
    static thread_local Bytes plain;
    plain.clear();
    const bool was_established = c->tls->established();
    const bool ok = c->tls->receive(cipher, plain);
    if (!was_established && c->tls->established()) c->session.start(now());
    if (!plain.empty()) c->session.receive(plain, now());
    if (!ok) {
      c->session.transport_closed(c->tls->error(), c->tls->refused() ? ConnectFailure::refused
                                                                     : ConnectFailure::unavailable);
    }
  }

  static void on_timer(uv_timer_t* timer) {
    auto* c = static_cast<Connection*>(timer->data);
    NativeUpstream* self = c->owner;
    c->armed.reset();
    if (self == nullptr || c->closing) return;
    const Time t = self->now();
    if (!c->session.connected() && !c->session.finished() && t >= c->connect_deadline) {
      c->session.transport_closed("no CONNACK within the connect timeout of " +
                                  std::to_string(self->options_.connect_timeout.count()) + " s");
    } else {
      c->session.on_timer(t);
    }
    self->after(c);
  }

  // After anything changed a session: collect its events, schedule its output, rearm its timer.
  void after(Connection* c) {
    auto& produced = c->session.events();
    if (!produced.empty()) {
      for (auto& event : produced) events_.push_back(std::move(event));
      produced.clear();
    }
    if (c->connecting && (c->session.connected() || c->session.finished())) {
      c->connecting = false;
      --connecting_;
      start_waiting();
    }
    if (c->session.finished()) {
      // The id is free again the moment the final event is queued (upstream.hpp).
      const auto it = connections_.find(c->session.id());
      if (it != connections_.end() && it->second == c) connections_.erase(it);
      if (!c->state_kept) {
        c->state_kept = true;
        // The latest connection of a ClientId wins: the broker, too, keeps one session per id.
        if (auto state = c->session.take_state(); !state.empty()) {
          resumable_.insert_or_assign(c->session.client_id(), std::move(state));
        }
      }
      uv_timer_stop(&c->timer);
      c->armed.reset();
    } else {
      rearm(c);
      follow_reading(c);
    }
    if (!c->dirty) {
      c->dirty = true;
      dirty_.push_back(c);
    }
  }

  // Connections wait for their TCP connect while kMaxConnecting others are connecting. One that
  // finishes meanwhile (disconnect(), connect timeout) leaves the list when it retires, which is
  // before its memory goes.
  void start_waiting() {
    while (connecting_ < kMaxConnecting && !waiting_.empty()) {
      Connection* next = waiting_.front();
      waiting_.pop_front();
      next->waiting = false;
      if (next->session.finished()) continue;  // timed out while waiting: retires by itself
      begin(next);
    }
  }

  // Lazily: a deadline that moved later (every write moves the keep-alive's) leaves the timer
  // where it is, and the early wake-up finds nothing due and arms the real deadline. That keeps
  // a timer restart off the path of every message.
  void rearm(Connection* c) {
    std::optional<Time> deadline = c->session.next_deadline();
    if (!c->session.connected()) {
      deadline = deadline ? std::min(*deadline, c->connect_deadline) : c->connect_deadline;
    }
    if (!deadline) {
      if (c->armed) uv_timer_stop(&c->timer);
      c->armed.reset();
      return;
    }
    if (c->armed && *c->armed <= *deadline) return;
    c->armed = deadline;
    const auto delay = std::max<std::int64_t>(0, (*deadline - now()).count());
    uv_timer_start(&c->timer, on_timer, static_cast<std::uint64_t>(delay), 0);
  }

  // The end of a batch (prepare: before the loop blocks; check: after it polled): write what the
  // sessions produced, then hand the events over. The sink may make new requests, whose output
  // and events are handled in the same pass.
  void end_of_batch() {
    while (!dirty_.empty() || !events_.empty()) {
      auto dirty = std::move(dirty_);
      dirty_.clear();
      for (Connection* c : dirty) {
        c->dirty = false;
        flush(c);
      }
      auto events = std::move(events_);
      events_.clear();
      for (auto& event : events) sink_(std::move(event));
    }
  }

  // With TLS, the session's plaintext becomes records in tls_out first; a finished session's
  // last records end with close_notify.
  Bytes& wire_output(Connection* c) {
    if (!c->tls) return c->session.output();
    Bytes& plain = c->session.output();
    if (!plain.empty() && c->tls->established() && !c->tls->failed()) {
      if (!c->tls->send(plain)) {
        c->session.transport_closed(c->tls->error());
        after(c);  // its events; the next pass of end_of_batch() writes what is left
      }
    }
    if (c->tls->established()) plain.clear();  // before it, only the handshake is written
    if (c->session.finished()) c->tls->close();
    c->tls->take_output(c->tls_out);
    return c->tls_out;
  }

  void flush(Connection* c) {
    if (c->closing) return;
    Bytes& out = wire_output(c);
    if (!c->writing && !out.empty() && c->tcp_up) {
      c->session.output_taken();
      uv_buf_t buf = uv_buf_init(reinterpret_cast<char*>(out.data()), static_cast<unsigned>(out.size()));
      int written = uv_try_write(reinterpret_cast<uv_stream_t*>(&c->tcp), &buf, 1);
      if (written == UV_EAGAIN) written = 0;
      if (written < 0) {
        out.clear();
        c->session.transport_closed(uv_error("write", written));
        after(c);
        return;
      }
      if (static_cast<std::size_t>(written) == out.size()) {
        out.clear();
      } else {
        c->in_write.assign(out.begin() + written, out.end());
        out.clear();
        uv_buf_t rest = uv_buf_init(reinterpret_cast<char*>(c->in_write.data()),
                                    static_cast<unsigned>(c->in_write.size()));
        const int rc = uv_write(&c->write_req, reinterpret_cast<uv_stream_t*>(&c->tcp), &rest, 1,
                                on_written);
        if (rc != 0) {
          c->in_write.clear();
          c->session.transport_closed(uv_error("write", rc));
          after(c);
          return;
        }
        c->writing = true;
      }
    }
    // A finished session closes once its last bytes (a DISCONNECT) are out.
    if (c->session.finished() && !c->writing && (out.empty() || !c->tcp_up)) retire(c);
  }

  static void on_written(uv_write_t* req, int status) {
    auto* c = static_cast<Connection*>(req->data);
    c->writing = false;
    c->in_write.clear();
    NativeUpstream* self = c->owner;
    if (self == nullptr || status == UV_ECANCELED || c->closing) return;
    if (status < 0) {
      c->session.output().clear();
      c->tls_out.clear();
      c->session.transport_closed(uv_error("write", status));
    }
    self->after(c);
  }

  // The session takes no packets while its receivers owe too many acknowledgements
  // (BrokerOptions::receive_maximum): the socket is not read until they come.
  static void follow_reading(Connection* c) {
    if (!c->tcp_up || c->closing || c->reading == c->session.reading()) return;
    auto* stream = reinterpret_cast<uv_stream_t*>(&c->tcp);
    c->reading = c->session.reading();
    if (c->reading) {
      uv_read_start(stream, on_alloc, on_read);
    } else {
      uv_read_stop(stream);
    }
  }

  void retire(Connection* c) {
    all_.erase(c);
    if (c->waiting) {
      waiting_.erase(c->wait_pos);
      c->waiting = false;
    }
    if (c->resolving) uv_cancel(reinterpret_cast<uv_req_t*>(&c->resolve));
    close_handles(c);
  }

  static void close_handles(Connection* c) {
    if (c->closing) return;
    c->closing = true;
    uv_close(reinterpret_cast<uv_handle_t*>(&c->tcp), on_handle_closed);
    uv_close(reinterpret_cast<uv_handle_t*>(&c->timer), on_handle_closed);
  }

  uv_loop_t* const loop_;
  const BrokerOptions options_;
  const EventSink sink_;
  const Endpoint endpoint_;
  std::unique_ptr<tls::TlsContext> tls_context_;  // ssl:// and mqtts:// only
  SessionOptions session_options_;
  Hooks* hooks_ = nullptr;
  std::unordered_map<ConnectionId, Connection*> connections_;  // by id, until the final event
  std::unordered_set<Connection*> all_;                        // every one not yet closing
  std::vector<Connection*> dirty_;
  // A connect storm (every node reconnecting after a power cut) would open thousands of TCP
  // connections at once; a broker's listen backlog (mosquitto: 100) overflows, and every SYN
  // beyond it waits one second or more for its retransmission. So at most kMaxConnecting
  // connections are between their TCP connect and their CONNACK; the rest wait in order.
  static constexpr std::size_t kMaxConnecting = 64;
  std::size_t connecting_ = 0;
  std::list<Connection*> waiting_;
  std::vector<Event> events_;  // the loop-local queue: delivered at the end of the batch
  // CleanSession=false sessions whose connection ended with something unfinished, by ClientId,
  // until the next connection of that ClientId takes it. In memory only: a gateway restart loses
  // it (the broker's half stays; see the README).
  std::unordered_map<std::string, SessionState> resumable_;
};

}  // namespace
}  // namespace native

std::unique_ptr<Upstream> make_native_upstream(uv_loop_s* loop, BrokerOptions options,
                                               EventSink sink) {
  return std::make_unique<native::NativeUpstream>(loop, std::move(options), std::move(sink));
}

}  // namespace mqtt_bridge
