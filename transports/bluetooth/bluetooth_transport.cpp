#include "transports/bluetooth_transport.hpp"

#include <bluetooth/bluetooth.h>
#include <bluetooth/l2cap.h>
#include <bluetooth/rfcomm.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <deque>
#include <stdexcept>
#include <unordered_map>
#include <utility>
#include <vector>

#include "transports/stream_deframer.hpp"

namespace transports {

struct BluetoothTransport::State {
  uv_loop_t* loop = nullptr;
  BluetoothTransport* owner = nullptr;  // null once the transport is gone (detached)
  bool closing = false;
  int live_handles = 0;
  std::function<void()> on_closed;
  int listen_fd = -1;
  uv_poll_t* listener = nullptr;
  std::unordered_map<sn::Peer, Connection*, sn::PeerHash> connections;

  void maybe_finish();
  void drop(Connection* connection, const std::string& reason, bool report);
  void close_listener();
};

struct BluetoothTransport::Connection {
  State* state;
  sn::Peer peer;
  int fd;
  bool stream;
  bool closing = false;
  bool watching_writable = false;
  uv_poll_t poll{};
  StreamDeframer deframer;
  std::deque<std::vector<std::uint8_t>> queue;  // whole frames the socket has not taken
  std::size_t front_written = 0;
  std::size_t queued = 0;

  Connection(State* s, const sn::Peer& p, int socket_fd, const BluetoothOptions& options)
      : state(s),
        peer(p),
        fd(socket_fd),
        stream(options.kind == BluetoothKind::rfcomm),
        deframer({.max_frame_size = options.max_frame_size,
                  .inter_byte_timeout = options.inter_byte_timeout}) {}

  BluetoothTransport& owner() const { return *state->owner; }
  void on_poll(int status, int events);
  void read_ready();
  void flush();
  void watch(bool writable);
};

namespace {

std::string errno_text(int error) { return std::strerror(error); }

}  // namespace

void BluetoothTransport::State::maybe_finish() {
  if (!closing || live_handles > 0) return;
  std::function<void()> done = std::move(on_closed);
  if (owner != nullptr) owner->state_ = nullptr;
  delete this;
  if (done) done();  // last: it may destroy the transport
}

// Closes the fd and starts closing the poll handle; the Connection is freed by its close
// callback. `report`: tell the owner (a connection lost, not one we closed on purpose).
void BluetoothTransport::State::drop(Connection* connection, const std::string& reason,
                                     bool report) {
  if (connection->closing) return;
  connection->closing = true;
  const auto it = connections.find(connection->peer);
  if (it != connections.end() && it->second == connection) connections.erase(it);
  if (owner != nullptr && !connection->queue.empty()) ++owner->counters_.send_errors;
  uv_poll_stop(&connection->poll);
  ::close(connection->fd);  // safe once the poll handle is stopped
  connection->fd = -1;
  ++live_handles;  // balanced in the close callback below
  uv_close(reinterpret_cast<uv_handle_t*>(&connection->poll), [](uv_handle_t* handle) {
    auto* c = static_cast<Connection*>(handle->data);
    State* state = c->state;
    delete c;
    --state->live_handles;
    state->maybe_finish();
  });
  if (report && owner != nullptr) {
    ++owner->counters_.closed;
    if (owner->callbacks_.on_disconnected) owner->callbacks_.on_disconnected(connection->peer, reason);
  }
}

void BluetoothTransport::State::close_listener() {
  if (listener == nullptr) return;
  uv_poll_stop(listener);
  ::close(listen_fd);
  listen_fd = -1;
  ++live_handles;
  uv_close(reinterpret_cast<uv_handle_t*>(listener), [](uv_handle_t* handle) {
    auto* state = static_cast<State*>(handle->data);
    delete reinterpret_cast<uv_poll_t*>(handle);
    --state->live_handles;
    state->maybe_finish();
  });
  listener = nullptr;
}

void BluetoothTransport::Connection::on_poll(int status, int events) {
  if (closing) return;
  if (status < 0) {
    state->drop(this, std::string("poll error: ") + uv_strerror(status), true);
    return;
  }
  if ((events & UV_WRITABLE) != 0) flush();
  if (!closing && (events & (UV_READABLE | UV_DISCONNECT)) != 0) read_ready();
}

void BluetoothTransport::Connection::read_ready() {
  BluetoothTransport& transport = owner();
  std::array<std::uint8_t, 4096> chunk{};
  std::vector<std::uint8_t> packet;
  // Bounded: a peer that writes without pause must not starve the loop.
  for (int round = 0; round < 16 && !closing; ++round) {
    ssize_t n = 0;
    bool truncated = false;
    if (stream) {
      n = ::read(fd, chunk.data(), chunk.size());
    } else {
      packet.resize(transport.options_.max_frame_size + 1);
      iovec io{packet.data(), packet.size()};
      msghdr message{};
      message.msg_iov = &io;
      message.msg_iovlen = 1;
      n = ::recvmsg(fd, &message, 0);
      truncated = (message.msg_flags & MSG_TRUNC) != 0 ||
                  (n > 0 && static_cast<std::size_t>(n) > transport.options_.max_frame_size);
    }
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
      state->drop(this, "read failed: " + errno_text(errno), true);
      return;
    }
    if (n == 0) {
      state->drop(this, "closed by the peer", true);
      return;
    }
    const auto size = static_cast<std::size_t>(n);
    if (stream) {
      const auto now = std::chrono::milliseconds(uv_now(state->loop));
      deframer.feed(std::span(chunk.data(), size), now, [&](std::span<const std::uint8_t> frame) {
        if (closing || state->owner == nullptr) return;
        ++transport.counters_.frames_received;
        transport.callbacks_.on_frame(peer, frame);
      });
      transport.counters_.bytes_skipped = deframer.counters().bytes_skipped;
    } else if (truncated) {
      ++transport.counters_.oversize_dropped;
    } else {
      ++transport.counters_.frames_received;
      transport.callbacks_.on_frame(peer, std::span(packet.data(), size));
    }
    if (state->owner == nullptr) return;
  }
}

void BluetoothTransport::Connection::flush() {
  while (!queue.empty()) {
    auto& front = queue.front();
    const ssize_t n = ::send(fd, front.data() + front_written, front.size() - front_written,
                             MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) break;
      state->drop(this, "write failed: " + errno_text(errno), true);
      return;
    }
    front_written += static_cast<std::size_t>(n);
    queued -= static_cast<std::size_t>(n);
    if (front_written < front.size()) break;
    queue.pop_front();
    front_written = 0;
  }
  watch(!queue.empty());
}

void BluetoothTransport::Connection::watch(bool writable) {
  if (writable == watching_writable || closing) return;
  watching_writable = writable;
  uv_poll_start(&poll, UV_READABLE | UV_DISCONNECT | (writable ? UV_WRITABLE : 0),
                [](uv_poll_t* handle, int status, int events) {
                  static_cast<Connection*>(handle->data)->on_poll(status, events);
                });
}

BluetoothTransport::BluetoothTransport(uv_loop_t* loop, BluetoothOptions options,
                                       BluetoothCallbacks callbacks)
    : loop_(loop), options_(options), callbacks_(std::move(callbacks)), state_(new State) {
  state_->loop = loop_;
  state_->owner = this;
}

BluetoothTransport::~BluetoothTransport() {
  if (state_ == nullptr) return;
  close({});
  if (state_ != nullptr) state_->owner = nullptr;  // detach: the loop frees it later
}

sn::Peer BluetoothTransport::make_peer(std::uint16_t transport_id,
                                       std::span<const std::uint8_t, 6> bdaddr,
                                       std::uint16_t channel_or_psm) {
  std::array<std::uint8_t, 8> address{};
  std::copy(bdaddr.begin(), bdaddr.end(), address.begin());
  address[6] = static_cast<std::uint8_t>(channel_or_psm >> 8);
  address[7] = static_cast<std::uint8_t>(channel_or_psm & 0xFFU);
  return sn::Peer::make(transport_id, sn::PeerKind::bluetooth, address);
}

std::string BluetoothTransport::description() const {
  if (options_.kind == BluetoothKind::rfcomm) {
    return "rfcomm listening on channel " + std::to_string(options_.channel_or_psm);
  }
  char psm[8];
  std::snprintf(psm, sizeof psm, "0x%02x", static_cast<unsigned>(options_.channel_or_psm));
  return std::string("l2cap LE listening on psm ") + psm;
}

void BluetoothTransport::start() {
  const bool rfcomm = options_.kind == BluetoothKind::rfcomm;
  const std::string where = rfcomm ? "rfcomm channel " + std::to_string(options_.channel_or_psm)
                                   : "l2cap psm " + std::to_string(options_.channel_or_psm);
  if (state_ == nullptr || state_->closing) throw std::runtime_error(where + ": closed");
  const int fd = ::socket(AF_BLUETOOTH,
                          (rfcomm ? SOCK_STREAM : SOCK_SEQPACKET) | SOCK_NONBLOCK | SOCK_CLOEXEC,
                          rfcomm ? BTPROTO_RFCOMM : BTPROTO_L2CAP);
  if (fd < 0) {
    const int error = errno;
    if (error == EAFNOSUPPORT) {
      throw std::runtime_error("Bluetooth is not available in this kernel (EAFNOSUPPORT)");
    }
    throw std::runtime_error(where + ": socket failed: " + errno_text(error));
  }
  int rc = 0;
  if (rfcomm) {
    sockaddr_rc address{};
    address.rc_family = AF_BLUETOOTH;  // rc_bdaddr all zero: BDADDR_ANY
    address.rc_channel = static_cast<std::uint8_t>(options_.channel_or_psm);
    rc = ::bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address);
  } else {
    // Linux l2cap_sock_bind: an LE PSM must be <= 0x00FF; below 0x0080 needs
    // CAP_NET_BIND_SERVICE. The receive MTU bounds one packet (= one frame).
    const auto mtu = static_cast<std::uint16_t>(options_.max_frame_size);
    ::setsockopt(fd, SOL_BLUETOOTH, BT_RCVMTU, &mtu, sizeof mtu);
    sockaddr_l2 address{};
    address.l2_family = AF_BLUETOOTH;
    address.l2_psm = htobs(options_.channel_or_psm);
    address.l2_bdaddr_type = BDADDR_LE_PUBLIC;
    rc = ::bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address);
  }
  if (rc < 0 || ::listen(fd, 16) < 0) {
    const int error = errno;
    ::close(fd);
    throw std::runtime_error(where + ": " + (rc < 0 ? "bind" : "listen") +
                             " failed: " + errno_text(error));
  }
  state_->listen_fd = fd;
  state_->listener = new uv_poll_t{};
  uv_poll_init(loop_, state_->listener, fd);
  state_->listener->data = state_;
  uv_poll_start(state_->listener, UV_READABLE, [](uv_poll_t* handle, int status, int) {
    auto* state = static_cast<State*>(handle->data);
    BluetoothTransport* self = state->owner;
    if (self == nullptr || state->closing) return;
    if (status < 0) {
      const std::string reason = std::string("listener failed: ") + uv_strerror(status);
      for (auto it = state->connections.begin(); it != state->connections.end();) {
        Connection* c = (it++)->second;
        state->drop(c, reason, false);
      }
      state->close_listener();
      if (self->callbacks_.on_listener_lost) self->callbacks_.on_listener_lost(reason);
      return;
    }
    for (int round = 0; round < 16 && state->listen_fd >= 0; ++round) {
      sockaddr_storage remote{};
      socklen_t size = sizeof remote;
      const int client = ::accept4(state->listen_fd, reinterpret_cast<sockaddr*>(&remote), &size,
                                   SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (client < 0) return;  // EAGAIN, or an aborted connection: nothing to do
      std::array<std::uint8_t, 6> bdaddr{};
      if (self->options_.kind == BluetoothKind::rfcomm) {
        const auto* from = reinterpret_cast<const sockaddr_rc*>(&remote);
        std::memcpy(bdaddr.data(), from->rc_bdaddr.b, bdaddr.size());
      } else {
        const auto* from = reinterpret_cast<const sockaddr_l2*>(&remote);
        std::memcpy(bdaddr.data(), from->l2_bdaddr.b, bdaddr.size());
      }
      self->adopt(client, make_peer(self->options_.transport_id, bdaddr,
                                    self->options_.channel_or_psm));
      if (state->owner == nullptr) return;
    }
  });
}

bool BluetoothTransport::adopt(int fd, const sn::Peer& peer) {
  if (state_ == nullptr || state_->closing) {
    ::close(fd);
    return false;
  }
  if (state_->connections.size() >= options_.max_connections &&
      state_->connections.count(peer) == 0) {
    ++counters_.refused;
    ::close(fd);
    return false;
  }
  if (const auto it = state_->connections.find(peer); it != state_->connections.end()) {
    state_->drop(it->second, "replaced by a new connection", true);
  }
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
    ::close(fd);
    return false;
  }
  auto* connection = new Connection(state_, peer, fd, options_);
  connection->poll.data = connection;
  if (uv_poll_init(loop_, &connection->poll, fd) != 0) {
    ::close(fd);
    delete connection;
    return false;
  }
  state_->connections[peer] = connection;
  ++counters_.accepted;
  connection->watch(false);
  uv_poll_start(&connection->poll, UV_READABLE | UV_DISCONNECT,
                [](uv_poll_t* handle, int status, int events) {
                  static_cast<Connection*>(handle->data)->on_poll(status, events);
                });
  if (callbacks_.on_connected) callbacks_.on_connected(peer);
  return true;
}

bool BluetoothTransport::send(const sn::Peer& to, std::span<const std::uint8_t> bytes) {
  if (state_ == nullptr || state_->closing || bytes.empty()) {
    ++counters_.send_errors;
    return false;
  }
  const auto it = state_->connections.find(to);
  if (it == state_->connections.end()) {
    ++counters_.send_errors;
    return false;
  }
  if (bytes.size() > options_.max_frame_size) {
    ++counters_.oversize_dropped;
    ++counters_.send_errors;
    return false;
  }
  Connection* c = it->second;
  std::size_t written = 0;
  if (c->queue.empty()) {
    const ssize_t n = ::send(c->fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
      ++counters_.send_errors;
      state_->drop(c, "write failed: " + errno_text(errno), true);
      return false;
    }
    if (n > 0) written = static_cast<std::size_t>(n);
  }
  if (written == bytes.size()) {
    ++counters_.frames_sent;
    return true;
  }
  // A packet socket takes a packet whole or not at all; a stream may take part of it.
  const std::size_t rest = bytes.size() - written;
  if (c->queued + rest > options_.max_queued_bytes) {
    if (written > 0) {
      // Half a frame is on the stream: the stream is out of step for good.
      state_->drop(c, "output queue overflow", true);
    }
    ++counters_.send_errors;
    return false;
  }
  c->queue.emplace_back(bytes.begin() + static_cast<std::ptrdiff_t>(written), bytes.end());
  c->queued += rest;
  c->watch(true);
  ++counters_.frames_sent;
  return true;
}

bool BluetoothTransport::disconnect(const sn::Peer& peer) {
  if (state_ == nullptr) return false;
  const auto it = state_->connections.find(peer);
  if (it == state_->connections.end()) return false;
  state_->drop(it->second, "closed by the gateway", false);
  return true;
}

void BluetoothTransport::close(std::function<void()> on_closed) {
  if (state_ == nullptr) {
    if (on_closed) on_closed();
    return;
  }
  if (state_->closing) {
    auto earlier = std::move(state_->on_closed);
    state_->on_closed = [earlier = std::move(earlier), later = std::move(on_closed)] {
      if (earlier) earlier();
      if (later) later();
    };
    return;
  }
  State* state = state_;
  state->on_closed = std::move(on_closed);
  for (auto it = state->connections.begin(); it != state->connections.end();) {
    Connection* c = (it++)->second;
    state->drop(c, "transport closed", false);
  }
  state->close_listener();
  state->closing = true;
  state->maybe_finish();  // nothing was open: done now
}

std::size_t BluetoothTransport::connection_count() const {
  return state_ == nullptr ? 0 : state_->connections.size();
}

}  // namespace transports
