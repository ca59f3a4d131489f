#include "transports/serial_transport.hpp"

#include <fcntl.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <deque>
#include <memory>
#include <optional>
#include <stdexcept>
#include <utility>
#include <vector>

#include "transports/stream_deframer.hpp"

namespace transports {
namespace {

constexpr std::size_t kReadChunk = 4096;
// Reads per readable event before yielding to the rest of the loop.
constexpr int kMaxReadsPerEvent = 16;
constexpr std::size_t kXbeeAddressSize = 10;

std::optional<speed_t> speed_for(std::uint32_t baud) {
  switch (baud) {
    case 1200: return B1200;
    case 2400: return B2400;
    case 4800: return B4800;
    case 9600: return B9600;
    case 19200: return B19200;
    case 38400: return B38400;
    case 57600: return B57600;
    case 115200: return B115200;
    case 230400: return B230400;
    case 460800: return B460800;
    case 500000: return B500000;
    case 576000: return B576000;
    case 921600: return B921600;
    default: return std::nullopt;
  }
}

tcflag_t size_flag(std::uint8_t data_bits) {
  switch (data_bits) {
    case 5: return CS5;
    case 6: return CS6;
    case 7: return CS7;
    default: return CS8;
  }
}

std::string errno_text(int error) { return std::strerror(error); }

// Raw mode per the options; returns an error message, empty on success.
std::string configure(int fd, const SerialOptions& options, speed_t speed) {
  termios tio{};
  if (::tcgetattr(fd, &tio) != 0) {
    return errno == ENOTTY ? "is not a terminal" : "tcgetattr failed: " + errno_text(errno);
  }
  ::cfmakeraw(&tio);  // no echo, no line editing, no CR/LF translation, no signals
  tio.c_cflag |= CLOCAL | CREAD;
  tio.c_cflag &= ~static_cast<tcflag_t>(CSIZE | PARENB | PARODD | CSTOPB | CRTSCTS);
  tio.c_cflag |= size_flag(options.data_bits);
  tio.c_iflag &= ~static_cast<tcflag_t>(IXON | IXOFF | IXANY | INPCK | IGNPAR);
  if (options.parity != Parity::none) {
    tio.c_cflag |= PARENB;
    if (options.parity == Parity::odd) tio.c_cflag |= PARODD;
    // Octets with a parity error are dropped; the framers resynchronise over the hole.
    tio.c_iflag |= INPCK | IGNPAR;
  }
  if (options.stop_bits == 2) tio.c_cflag |= CSTOPB;
  if (options.flow_control == FlowControl::rtscts) tio.c_cflag |= CRTSCTS;
  if (options.flow_control == FlowControl::xonxoff) tio.c_iflag |= IXON | IXOFF;
  // MIN 1, TIME 0: with O_NONBLOCK an empty tty then answers EAGAIN. (MIN 0 would make read()
  // return 0, which is indistinguishable from a hang-up.)
  tio.c_cc[VMIN] = 1;
  tio.c_cc[VTIME] = 0;
  if (::cfsetispeed(&tio, speed) != 0 || ::cfsetospeed(&tio, speed) != 0) {
    return "cannot set baud rate " + std::to_string(options.baud);
  }
  if (::tcsetattr(fd, TCSANOW, &tio) != 0) return "tcsetattr failed: " + errno_text(errno);
  return {};
}

// Opens and configures the device; the fd, or -1 with `error` set.
int open_device(const SerialOptions& options, speed_t speed, std::string& error) {
  const int fd = ::open(options.device.c_str(), O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    error = "open failed: " + errno_text(errno);
    return -1;
  }
  error = configure(fd, options, speed);
  if (!error.empty()) {
    ::close(fd);
    return -1;
  }
  return fd;
}

}  // namespace

struct SerialTransport::Impl {
  SerialTransport* owner = nullptr;  // null once the transport is destroyed before the close ended
  uv_loop_t* loop = nullptr;
  uv_timer_t reopen_timer{};
  uv_timer_t idle_timer{};    // the raw framing's inter-byte timeout
  uv_poll_t* poll = nullptr;  // one per open fd; freed in its own close callback
  int fd = -1;
  int live_handles = 0;
  bool started = false;
  bool closing = false;
  bool write_failed = false;  // a send() hit a hard write error: the poll callback checks the fd
  bool watching_writable = false;
  speed_t speed = B115200;
  std::chrono::milliseconds backoff{0};
  std::function<void()> on_closed;

  StreamDeframer deframer;
  xbee::FrameDecoder decoder;
  std::deque<std::vector<std::uint8_t>> queue;  // whole encoded frames the tty has not taken
  std::size_t queue_front_written = 0;          // octets of queue.front() already written
  std::size_t queued = 0;                       // octets in the queue not yet written
  std::vector<std::uint8_t> scratch;            // encode buffer, reused
  std::uint8_t next_frame_id = 1;
  std::array<sn::Peer, 256> frame_peers{};  // who each 0x10 frame id went to

  explicit Impl(const SerialOptions& options)
      : deframer({.max_frame_size = options.max_frame_size,
                  .inter_byte_timeout = options.inter_byte_timeout}),
        decoder(options.api_mode, options.max_api_frame) {}

  bool alive() const { return owner != nullptr && !closing; }
  const SerialOptions& options() const { return owner->options_; }
  SerialCounters& counters() const { return owner->counters_; }
  std::chrono::milliseconds now() const { return std::chrono::milliseconds(uv_now(loop)); }

  void sync_counters() {
    SerialCounters& c = counters();
    c.bytes_skipped = deframer.counters().bytes_skipped + decoder.counters().bytes_skipped;
    c.timeouts = deframer.counters().timeouts;
    c.bad_api_frames = decoder.counters().bad_frames;
  }

  static void on_handle_closed(uv_handle_t* handle) noexcept {
    auto* impl = static_cast<Impl*>(handle->data);
    if (handle->type == UV_POLL) delete reinterpret_cast<uv_poll_t*>(handle);
    --impl->live_handles;
    impl->maybe_finish();
  }

  void maybe_finish() {
    if (!closing || live_handles > 0) return;
    std::function<void()> done = std::move(on_closed);
    if (owner != nullptr) owner->impl_ = nullptr;
    delete this;
    if (done) done();  // last: it may destroy the transport
  }

  // Stops polling and closes the fd; the poll handle is freed by its close callback.
  void close_device() {
    if (poll != nullptr) {
      uv_poll_stop(poll);
      uv_close(reinterpret_cast<uv_handle_t*>(poll), &Impl::on_handle_closed);
      poll = nullptr;
    }
    if (fd >= 0) {
      ::close(fd);  // safe once the poll handle is stopped (libuv uv_poll_t docs)
      fd = -1;
    }
    uv_timer_stop(&idle_timer);
    watching_writable = false;
    write_failed = false;
  }

  void drop_queue() {
    if (owner != nullptr) counters().send_errors += queue.size();
    queue.clear();
    queue_front_written = 0;
    queued = 0;
  }

  // Starts polling a freshly opened fd; false (fd closed) if libuv refuses it.
  bool attach(int new_fd) {
    auto handle = std::make_unique<uv_poll_t>();
    if (uv_poll_init(loop, handle.get(), new_fd) != 0) {
      ::close(new_fd);
      return false;
    }
    handle->data = this;
    ++live_handles;
    poll = handle.release();
    fd = new_fd;
    deframer.reset();
    decoder.reset();
    update_poll();
    return true;
  }

  void update_poll() {
    if (poll == nullptr) return;
    const bool writable = !queue.empty() || write_failed;
    int events = UV_READABLE | UV_DISCONNECT;
    if (writable) events |= UV_WRITABLE;
    watching_writable = writable;
    uv_poll_start(poll, events, &Impl::on_poll);
  }

  void lose_device() {
    close_device();
    drop_queue();
    deframer.reset();
    decoder.reset();
    ++counters().device_lost;
    backoff = options().reopen_initial;
    uv_timer_start(&reopen_timer, &Impl::on_reopen_timer,
                   static_cast<std::uint64_t>(backoff.count()), 0);
    // A copy: the callback may destroy the transport, and with it the original.
    if (const auto lost = owner->callbacks_.on_device_lost) lost();
  }

  static void on_reopen_timer(uv_timer_t* timer) noexcept {
    auto* impl = static_cast<Impl*>(timer->data);
    if (!impl->alive() || impl->fd >= 0) return;
    SerialCounters& c = impl->counters();
    ++c.reopen_attempts;
    std::string error;
    const int new_fd = open_device(impl->options(), impl->speed, error);
    if (new_fd < 0 || !impl->attach(new_fd)) {
      impl->backoff = std::min(impl->backoff * 2, impl->options().reopen_max);
      uv_timer_start(&impl->reopen_timer, &Impl::on_reopen_timer,
                     static_cast<std::uint64_t>(impl->backoff.count()), 0);
      return;
    }
    ++c.reopened;
    if (const auto back = impl->owner->callbacks_.on_device_back) back();
  }

  static void on_poll(uv_poll_t* handle, int status, int events) noexcept {
    auto* impl = static_cast<Impl*>(handle->data);
    if (!impl->alive() || handle != impl->poll) return;
    if (status < 0 || impl->write_failed) {
      impl->lose_device();
      return;
    }
    if ((events & UV_WRITABLE) != 0 && !impl->flush()) {
      impl->lose_device();
      return;
    }
    if ((events & (UV_READABLE | UV_DISCONNECT)) != 0) impl->read_all();
  }

  void read_all() {
    std::array<std::uint8_t, kReadChunk> buffer{};
    for (int i = 0; i < kMaxReadsPerEvent && alive() && fd >= 0; ++i) {
      const ssize_t n = ::read(fd, buffer.data(), buffer.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
      if (n <= 0) {  // 0: hang-up; EIO: unplugged, or the PTY's other side closed
        lose_device();
        return;
      }
      counters().bytes_received += static_cast<std::uint64_t>(n);
      deliver({buffer.data(), static_cast<std::size_t>(n)});
    }
  }

  void deliver(std::span<const std::uint8_t> bytes) {
    if (options().framing == SerialFraming::raw) {
      const sn::Peer line = owner->line_peer();
      deframer.feed(bytes, now(), [this, &line](std::span<const std::uint8_t> frame) {
        if (!alive()) return;  // the handler closed the transport: drop the rest
        ++counters().frames_received;
        if (owner->callbacks_.on_frame) owner->callbacks_.on_frame(line, frame);
      });
      if (alive()) {
        sync_counters();
        arm_idle_timer();
      }
    } else {
      decoder.feed(bytes, [this](std::span<const std::uint8_t> frame_data) {
        if (alive()) on_api_frame(frame_data);
      });
      if (alive()) sync_counters();
    }
  }

  void on_api_frame(std::span<const std::uint8_t> frame_data) {
    SerialCounters& c = counters();
    if (const auto packet = xbee::parse_receive_packet(frame_data)) {
      if (packet->rf_data.empty()) {
        ++c.ignored_api_frames;
        return;
      }
      const auto address = xbee::address_bytes(packet->source64, packet->source16);
      const sn::Peer from =
          sn::Peer::make(owner->options_.transport_id, sn::PeerKind::xbee, address);
      ++c.frames_received;
      if (owner->callbacks_.on_frame) owner->callbacks_.on_frame(from, packet->rf_data);
      return;
    }
    if (const auto status = xbee::parse_transmit_status(frame_data)) {
      if (status->delivered()) return;
      ++c.transmit_failures;
      if (owner->callbacks_.on_transmit_failed) {
        owner->callbacks_.on_transmit_failed(frame_peers[status->frame_id], *status);
      }
      return;
    }
    ++c.ignored_api_frames;
  }

  void arm_idle_timer() {
    if (!deframer.has_partial() || options().inter_byte_timeout.count() <= 0) {
      uv_timer_stop(&idle_timer);
      return;
    }
    // tick() drops a partial frame only once the silence is strictly longer than the timeout.
    const auto due = deframer.partial_deadline() + std::chrono::milliseconds(1) - now();
    uv_timer_start(&idle_timer, &Impl::on_idle_timer,
                   static_cast<std::uint64_t>(std::max<std::int64_t>(due.count(), 0)), 0);
  }

  static void on_idle_timer(uv_timer_t* timer) noexcept {
    auto* impl = static_cast<Impl*>(timer->data);
    if (!impl->alive()) return;
    impl->deframer.tick(impl->now());
    impl->sync_counters();
    impl->arm_idle_timer();
  }

  // Writes what the tty takes now; false on a hard error (the device is gone).
  bool flush() {
    while (!queue.empty()) {
      const auto& front = queue.front();
      const std::size_t left = front.size() - queue_front_written;
      const ssize_t n = ::write(fd, front.data() + queue_front_written, left);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
      if (n < 0) return false;
      const auto written = static_cast<std::size_t>(n);
      queued -= written;
      if (written < left) {
        queue_front_written += written;
        break;
      }
      queue.pop_front();
      queue_front_written = 0;
    }
    if (watching_writable != !queue.empty()) update_poll();
    return true;
  }

  // Writes or queues one encoded frame.
  bool write_frame(std::span<const std::uint8_t> frame) {
    SerialCounters& c = counters();
    if (queued + frame.size() > options().max_queued_bytes) {
      ++c.queue_full_dropped;
      ++c.send_errors;
      return false;
    }
    std::size_t written = 0;
    while (queue.empty() && written < frame.size()) {
      const ssize_t n = ::write(fd, frame.data() + written, frame.size() - written);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
      if (n < 0) {
        // Device loss is handled on the loop (never inside the caller's send): the poll callback
        // sees write_failed and closes the device.
        write_failed = true;
        update_poll();
        ++c.send_errors;
        return false;  // a frame cut in half is garbage the far side resynchronises over
      }
      written += static_cast<std::size_t>(n);
    }
    if (written < frame.size()) {
      queue.emplace_back(frame.begin() + static_cast<std::ptrdiff_t>(written), frame.end());
      queued += frame.size() - written;
      if (!watching_writable) update_poll();
    }
    ++c.frames_sent;
    return true;
  }
};

SerialTransport::SerialTransport(uv_loop_t* loop, SerialOptions options, SerialCallbacks callbacks)
    : loop_(loop), options_(std::move(options)), callbacks_(std::move(callbacks)) {
  auto impl = std::make_unique<Impl>(options_);
  impl->owner = this;
  impl->loop = loop_;
  if (uv_timer_init(loop_, &impl->reopen_timer) != 0 ||
      uv_timer_init(loop_, &impl->idle_timer) != 0) {
    throw std::runtime_error("serial " + options_.device + ": timer init failed");
  }
  impl->reopen_timer.data = impl.get();
  impl->idle_timer.data = impl.get();
  impl->live_handles = 2;
  impl_ = impl.release();
}

SerialTransport::~SerialTransport() {
  if (impl_ == nullptr) return;
  Impl* impl = impl_;
  impl->owner = nullptr;
  impl_ = nullptr;
  if (!impl->closing) {
    impl->closing = true;
    impl->close_device();
    impl->queue.clear();
    uv_close(reinterpret_cast<uv_handle_t*>(&impl->reopen_timer), &Impl::on_handle_closed);
    uv_close(reinterpret_cast<uv_handle_t*>(&impl->idle_timer), &Impl::on_handle_closed);
  } else {
    impl->on_closed = nullptr;  // nobody left to call back
  }
}

void SerialTransport::start() {
  const std::string where = "serial " + options_.device;
  if (impl_ == nullptr || impl_->closing) throw std::runtime_error(where + ": transport is closed");
  if (impl_->started) throw std::runtime_error(where + ": already started");
  const auto speed = speed_for(options_.baud);
  if (!speed) {
    throw std::runtime_error(where + ": unsupported baud rate " + std::to_string(options_.baud) +
                             " (expected one of 1200 2400 4800 9600 19200 38400 57600 115200 "
                             "230400 460800 500000 576000 921600)");
  }
  if (options_.data_bits < 5 || options_.data_bits > 8) {
    throw std::runtime_error(where + ": unsupported data bits " +
                             std::to_string(options_.data_bits) + " (expected 5..8)");
  }
  if (options_.stop_bits != 1 && options_.stop_bits != 2) {
    throw std::runtime_error(where + ": unsupported stop bits " +
                             std::to_string(options_.stop_bits) + " (expected 1 or 2)");
  }
  if (options_.framing == SerialFraming::xbee &&
      (options_.max_payload == 0 ||
       options_.max_payload > 65535 - xbee::kTransmitRequestOverhead)) {
    throw std::runtime_error(where + ": max_payload must be 1.." +
                             std::to_string(65535 - xbee::kTransmitRequestOverhead));
  }
  if (options_.reopen_initial.count() <= 0 || options_.reopen_max < options_.reopen_initial) {
    throw std::runtime_error(where + ": reopen backoff must be positive and initial <= max");
  }
  std::string error;
  const int fd = open_device(options_, *speed, error);
  if (fd < 0) throw std::runtime_error(where + ": " + error);
  impl_->speed = *speed;
  if (!impl_->attach(fd)) throw std::runtime_error(where + ": cannot poll the device");
  impl_->started = true;
}

bool SerialTransport::send(const sn::Peer& to, std::span<const std::uint8_t> bytes) {
  const bool xbee_framing = options_.framing == SerialFraming::xbee;
  const bool right_peer =
      to.transport_id == options_.transport_id && !to.forwarded() &&
      (xbee_framing ? to.kind == sn::PeerKind::xbee && to.address_size == kXbeeAddressSize
                    : to.kind == sn::PeerKind::serial);
  if (impl_ == nullptr || impl_->closing || impl_->fd < 0 || !right_peer || bytes.empty()) {
    ++counters_.send_errors;
    return false;
  }
  if (bytes.size() > (xbee_framing ? options_.max_payload : options_.max_frame_size)) {
    ++counters_.oversize_dropped;
    ++counters_.send_errors;
    return false;
  }
  if (!xbee_framing) return impl_->write_frame(bytes);

  xbee::TransmitRequest request;
  xbee::address_from_bytes(to.address_bytes(), request.destination64, request.destination16);
  request.frame_id = impl_->next_frame_id;
  request.rf_data = bytes;
  impl_->frame_peers[request.frame_id] = to;
  impl_->next_frame_id =
      static_cast<std::uint8_t>(impl_->next_frame_id == 255 ? 1 : impl_->next_frame_id + 1);
  impl_->scratch.clear();
  xbee::encode_transmit_request_to(request, options_.api_mode, impl_->scratch);
  return impl_->write_frame(impl_->scratch);
}

bool SerialTransport::broadcast(std::span<const std::uint8_t> bytes) {
  if (options_.framing == SerialFraming::raw) return send(line_peer(), bytes);
  if (impl_ == nullptr || impl_->closing || impl_->fd < 0 || bytes.empty()) {
    ++counters_.send_errors;
    return false;
  }
  if (bytes.size() > options_.max_payload) {
    ++counters_.oversize_dropped;
    ++counters_.send_errors;
    return false;
  }
  xbee::TransmitRequest request;
  request.frame_id = 0;  // broadcasts are never acknowledged: no Transmit Status wanted
  request.destination64 = xbee::kBroadcast64;
  request.destination16 = xbee::kUnknown16;
  request.rf_data = bytes;
  impl_->scratch.clear();
  xbee::encode_transmit_request_to(request, options_.api_mode, impl_->scratch);
  return impl_->write_frame(impl_->scratch);
}

void SerialTransport::close(std::function<void()> on_closed) {
  if (impl_ == nullptr) {
    if (on_closed) on_closed();
    return;
  }
  Impl* impl = impl_;
  if (impl->closing) {
    impl->on_closed = [first = std::move(impl->on_closed), second = std::move(on_closed)] {
      if (first) first();
      if (second) second();
    };
    return;
  }
  impl->closing = true;
  impl->on_closed = std::move(on_closed);
  impl->close_device();
  impl->drop_queue();
  uv_close(reinterpret_cast<uv_handle_t*>(&impl->reopen_timer), &Impl::on_handle_closed);
  uv_close(reinterpret_cast<uv_handle_t*>(&impl->idle_timer), &Impl::on_handle_closed);
}

sn::Peer SerialTransport::line_peer() const {
  return sn::Peer::make(options_.transport_id, sn::PeerKind::serial, {});
}

bool SerialTransport::device_open() const { return impl_ != nullptr && impl_->fd >= 0; }

std::size_t SerialTransport::queued_bytes() const { return impl_ != nullptr ? impl_->queued : 0; }

}  // namespace transports
