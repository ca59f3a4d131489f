#include "transports/dtls_transport.hpp"

#include <memory>
#include <stdexcept>
#include <utility>

namespace transports {
namespace {

// OpenSSL's first retransmission of a handshake flight is due after 1 s (RFC 6347 §4.2.4.1).
constexpr std::uint64_t kHandshakeTickMs = 100;
// Idle sessions need no better than this.
constexpr std::uint64_t kIdleTickMs = 1000;

}  // namespace

struct DtlsTransport::Timer {
  uv_timer_t handle{};
  DtlsTransport* owner = nullptr;  // null once the transport is gone
  std::function<void()> on_closed;
  bool closing = false;

  static void on_fire(uv_timer_t* handle) noexcept {
    auto* timer = static_cast<Timer*>(handle->data);
    if (timer->owner != nullptr) timer->owner->on_tick();
  }
  static void on_handle_closed(uv_handle_t* handle) noexcept {
    auto* timer = static_cast<Timer*>(handle->data);
    auto done = std::move(timer->on_closed);
    delete timer;
    if (done) done();
  }
};

DtlsTransport::DtlsTransport(uv_loop_t* loop, DtlsOptions options, ProvenFrameHandler on_frame,
                             std::function<void(const sn::Peer& peer)> on_session_ended)
    : loop_(loop),
      options_(std::move(options)),
      on_frame_(std::move(on_frame)),
      on_session_ended_(std::move(on_session_ended)),
      udp_(loop, options_.udp, [this](const sn::Peer& from, std::span<const std::uint8_t> bytes) {
        on_datagram(from, bytes);
      }) {
  timer_ = new Timer;
  timer_->owner = this;
  timer_->handle.data = timer_;
  uv_timer_init(loop_, &timer_->handle);
}

DtlsTransport::~DtlsTransport() {
  if (timer_ != nullptr) {
    timer_->owner = nullptr;
    if (!timer_->closing) {
      timer_->closing = true;
      uv_close(reinterpret_cast<uv_handle_t*>(&timer_->handle), &Timer::on_handle_closed);
    }
  }
}

void DtlsTransport::start() {
  try {
    server_.emplace(options_.server);
  } catch (const std::invalid_argument& e) {
    throw std::runtime_error(e.what());
  }
  udp_.start();
  arm();
}

void DtlsTransport::on_datagram(const sn::Peer& from, std::span<const std::uint8_t> datagram) {
  if (!server_) return;
  server_->receive(from, datagram, dtls::Time(uv_now(loop_)), out_);
  flush();
  arm();
}

bool DtlsTransport::send(const sn::Peer& to, std::span<const std::uint8_t> bytes) {
  if (!server_ || !server_->send(to, bytes, out_)) {
    ++send_refused_;
    return false;
  }
  bool sent = true;
  for (auto& [peer, datagram] : out_.datagrams) sent = udp_.send(peer, datagram) && sent;
  out_.datagrams.clear();
  return sent;
}

void DtlsTransport::on_tick() {
  if (!server_) return;
  server_->on_timer(dtls::Time(uv_now(loop_)), out_);
  flush();
  arm();
}

void DtlsTransport::flush() {
  for (auto& [peer, datagram] : out_.datagrams) udp_.send(peer, datagram);
  out_.datagrams.clear();
  // An ended session first: frames of a new session at the same address come after it.
  auto ended = std::move(out_.ended);
  out_.ended.clear();
  for (const auto& peer : ended) on_session_ended_(peer);
  // The handler may send (answers go out at once) but never receives, so the list stays put.
  auto delivered = std::move(out_.delivered);
  out_.delivered.clear();
  for (const auto& delivery : delivered) on_frame_(delivery.from, delivery.frame, delivery.identity);
}

void DtlsTransport::arm() {
  if (timer_ == nullptr || timer_->closing || !server_) return;
  const std::uint64_t want = server_->handshaking() > 0 ? kHandshakeTickMs : kIdleTickMs;
  if (want == tick_ms_) return;
  tick_ms_ = want;
  uv_timer_start(&timer_->handle, &Timer::on_fire, want, want);
}

void DtlsTransport::close(std::function<void()> on_closed) {
  // `on_closed` runs once both the timer and the socket are closed; neither callback touches the
  // transport, which may be gone by then.
  struct Pending {
    int left = 1;
    std::function<void()> on_closed;
  };
  auto pending = std::make_shared<Pending>();
  pending->on_closed = std::move(on_closed);
  const auto one_closed = [pending] {
    if (--pending->left == 0 && pending->on_closed) pending->on_closed();
  };
  if (timer_ != nullptr && !timer_->closing) {
    ++pending->left;
    timer_->closing = true;
    timer_->owner = nullptr;
    timer_->on_closed = one_closed;
    uv_close(reinterpret_cast<uv_handle_t*>(&timer_->handle), &Timer::on_handle_closed);
    timer_ = nullptr;
  }
  udp_.close(one_closed);
}

}  // namespace transports
