#include "transports/udp_transport.hpp"

#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <memory>
#include <new>
#include <stdexcept>
#include <utility>
#include <vector>

namespace transports {
namespace {

// libuv (src/unix/udp.c) gives every datagram of a recvmmsg batch a 64 KiB slot and reads at most
// 20 datagrams per call; a buffer shorter than one slot would make it read nothing, forever.
constexpr std::size_t kDatagramSlot = std::size_t{64} * 1024;
constexpr std::size_t kBatchSlots = 20;
// Largest UDP payload over IPv6 without jumbograms, and over IPv4 (65535 - 20 - 8); anything
// longer is refused by send() before it is queued (the kernel would say EMSGSIZE).
constexpr std::size_t kMaxDatagram6 = 65527;
constexpr std::size_t kMaxDatagram4 = 65507;
// What send() gathers for one sendmmsg(2) before it goes out at once rather than at the end of
// the loop iteration.
constexpr std::size_t kMaxBatchDatagrams = 64;
constexpr std::size_t kMaxBatchBytes = std::size_t{256} * 1024;

constexpr std::size_t kIpv4AddressSize = 4 + 2;
constexpr std::size_t kIpv6AddressSize = 16 + 2 + 4;

std::string endpoint_text(const UdpOptions& options) {
  const bool bracket = options.host.find(':') != std::string::npos;
  return "udp " + (bracket ? "[" + options.host + "]" : options.host) + ":" +
         std::to_string(options.port);
}

// Reads the sender's address without aliasing libuv's storage as a different type.
bool peer_from(std::uint16_t transport_id, const sockaddr* addr, sn::Peer& out) {
  if (addr->sa_family == AF_INET) {
    sockaddr_in in{};
    std::memcpy(&in, addr, sizeof in);
    std::array<std::uint8_t, kIpv4AddressSize> bytes{};
    std::memcpy(bytes.data(), &in.sin_addr, 4);
    std::memcpy(bytes.data() + 4, &in.sin_port, 2);  // already network order
    out = sn::Peer::make(transport_id, sn::PeerKind::ipv4, bytes);
    return true;
  }
  if (addr->sa_family == AF_INET6) {
    sockaddr_in6 in6{};
    std::memcpy(&in6, addr, sizeof in6);
    std::array<std::uint8_t, kIpv6AddressSize> bytes{};
    std::memcpy(bytes.data(), &in6.sin6_addr, 16);
    std::memcpy(bytes.data() + 16, &in6.sin6_port, 2);
    const std::uint32_t scope = in6.sin6_scope_id;  // host order in the kernel's struct
    bytes[18] = static_cast<std::uint8_t>(scope >> 24);
    bytes[19] = static_cast<std::uint8_t>(scope >> 16);
    bytes[20] = static_cast<std::uint8_t>(scope >> 8);
    bytes[21] = static_cast<std::uint8_t>(scope);
    out = sn::Peer::make(transport_id, sn::PeerKind::ipv6, bytes);
    return true;
  }
  return false;
}

// The destination for a Peer of the socket's own family; false for anything else.
bool sockaddr_from(const sn::Peer& peer, int family, sockaddr_storage& out) {
  if (family == AF_INET && peer.kind == sn::PeerKind::ipv4 &&
      peer.address_size == kIpv4AddressSize) {
    sockaddr_in in{};
    in.sin_family = AF_INET;
    std::memcpy(&in.sin_addr, peer.address.data(), 4);
    std::memcpy(&in.sin_port, peer.address.data() + 4, 2);
    std::memcpy(&out, &in, sizeof in);
    return true;
  }
  if (family == AF_INET6 && peer.kind == sn::PeerKind::ipv6 &&
      peer.address_size == kIpv6AddressSize) {
    sockaddr_in6 in6{};
    in6.sin6_family = AF_INET6;
    std::memcpy(&in6.sin6_addr, peer.address.data(), 16);
    std::memcpy(&in6.sin6_port, peer.address.data() + 16, 2);
    const auto* s = peer.address.data() + 18;
    in6.sin6_scope_id = (static_cast<std::uint32_t>(s[0]) << 24) |
                        (static_cast<std::uint32_t>(s[1]) << 16) |
                        (static_cast<std::uint32_t>(s[2]) << 8) | static_cast<std::uint32_t>(s[3]);
    std::memcpy(&out, &in6, sizeof in6);
    return true;
  }
  return false;
}

std::uint16_t port_of(const sockaddr_storage& addr) {
  std::array<std::uint8_t, 2> port{};  // network order
  if (addr.ss_family == AF_INET) {
    std::memcpy(port.data(), reinterpret_cast<const char*>(&addr) + offsetof(sockaddr_in, sin_port),
                2);
  } else if (addr.ss_family == AF_INET6) {
    std::memcpy(port.data(),
                reinterpret_cast<const char*>(&addr) + offsetof(sockaddr_in6, sin6_port), 2);
  }
  return static_cast<std::uint16_t>((port[0] << 8) | port[1]);
}

// A datagram uv_udp_send() holds until its callback: the request and a copy of the bytes in one
// allocation, the bytes right after the request.
struct SendRequest {
  uv_udp_send_t req;

  std::uint8_t* bytes() { return reinterpret_cast<std::uint8_t*>(this + 1); }

  static SendRequest* create(std::span<const std::uint8_t> data) noexcept {
    void* memory = ::operator new(sizeof(SendRequest) + data.size(), std::nothrow);
    if (memory == nullptr) return nullptr;
    auto* request = new (memory) SendRequest{};
    if (!data.empty()) std::memcpy(request->bytes(), data.data(), data.size());
    return request;
  }
  static void destroy(SendRequest* request) noexcept {
    request->~SendRequest();
    ::operator delete(request);
  }
};

}  // namespace

struct UdpTransport::Impl {
  uv_udp_t handle{};
  // End of the loop iteration: the batch leaves before the loop blocks (prepare) and after the
  // poll phase's callbacks queued their datagrams (check). Active only while a batch waits.
  uv_prepare_t prepare{};
  uv_check_t check{};
  int open_handles = 0;           // the three above; the Impl is freed when the last one closed
  UdpTransport* owner = nullptr;  // null once the transport is destroyed before the close ended
  std::unique_ptr<std::uint8_t[]> receive_buffer;  // reused by every read; never given away
  std::size_t receive_buffer_size = 0;
  std::function<void()> on_closed;
  bool started = false;
  bool closing = false;
  int family = AF_UNSPEC;
  std::uint16_t port = 0;
  int receive_buffer_effective = 0;
  int send_buffer_effective = 0;

  // The batch: datagrams send() accepted during this loop iteration, their bytes back to back.
  struct Queued {
    std::size_t offset;
    std::size_t size;
    sockaddr_storage to;
  };
  std::vector<std::uint8_t> batch_bytes;
  std::vector<Queued> batch;
  std::vector<mmsghdr> headers;  // rebuilt by each flush(); capacity kept
  std::vector<iovec> iovs;

  uv_handle_t* as_handle() { return reinterpret_cast<uv_handle_t*>(&handle); }

  socklen_t address_size() const {
    return family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
  }

  void enqueue(std::span<const std::uint8_t> bytes, const sockaddr_storage& to) {
    if (batch.empty()) {
      uv_prepare_start(&prepare, [](uv_prepare_t* h) { static_cast<Impl*>(h->data)->flush(); });
      uv_check_start(&check, [](uv_check_t* h) { static_cast<Impl*>(h->data)->flush(); });
    }
    batch.push_back(Queued{batch_bytes.size(), bytes.size(), to});
    batch_bytes.insert(batch_bytes.end(), bytes.begin(), bytes.end());
    if (batch.size() >= kMaxBatchDatagrams || batch_bytes.size() >= kMaxBatchBytes) flush();
  }

  void count(bool sent) {
    if (owner == nullptr) return;
    ++(sent ? owner->counters_.datagrams_sent : owner->counters_.send_errors);
  }

  // The batch, in the order send() took it: one sendmmsg(2) for as many datagrams as the socket
  // takes; what it does not take waits in libuv's queue (uv_udp_send), which also goes first while
  // it holds anything, so datagrams to one peer never overtake each other.
  void flush() {
    uv_prepare_stop(&prepare);
    uv_check_stop(&check);
    if (batch.empty()) return;
    std::size_t next = 0;
    uv_os_fd_t fd{};
    if (uv_udp_get_send_queue_count(&handle) == 0 && uv_fileno(as_handle(), &fd) == 0) {
      headers.assign(batch.size(), mmsghdr{});
      iovs.resize(batch.size());
      for (std::size_t i = 0; i < batch.size(); ++i) {
        iovs[i] = iovec{batch_bytes.data() + batch[i].offset, batch[i].size};
        msghdr& h = headers[i].msg_hdr;
        h.msg_name = &batch[i].to;
        h.msg_namelen = address_size();
        h.msg_iov = &iovs[i];
        h.msg_iovlen = 1;
      }
      while (next < batch.size()) {
        const int sent = ::sendmmsg(fd, headers.data() + next,
                                    static_cast<unsigned>(batch.size() - next), MSG_DONTWAIT);
        if (sent > 0) {
          for (int i = 0; i < sent; ++i) count(true);
          next += static_cast<std::size_t>(sent);
        } else if (errno == EINTR) {
          continue;
        } else if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) {
          break;  // the socket is full: the rest waits in libuv's queue
        } else {
          count(false);  // this datagram failed (e.g. no route); the next ones go on
          ++next;
        }
      }
    }
    for (; next < batch.size(); ++next) {
      queue(std::span(batch_bytes).subspan(batch[next].offset, batch[next].size), batch[next].to);
    }
    batch.clear();
    batch_bytes.clear();
  }

  // One datagram into libuv's send queue, bounded by max_queued_send_bytes.
  void queue(std::span<const std::uint8_t> bytes, const sockaddr_storage& to) {
    const std::size_t limit =
        owner != nullptr ? owner->options_.max_queued_send_bytes : std::size_t{0};
    if (uv_udp_get_send_queue_size(&handle) + bytes.size() > limit) {
      count(false);
      return;
    }
    SendRequest* request = SendRequest::create(bytes);
    if (request == nullptr) {
      count(false);
      return;
    }
    const uv_buf_t buf = uv_buf_init(reinterpret_cast<char*>(request->bytes()),
                                     static_cast<unsigned>(bytes.size()));
    if (uv_udp_send(&request->req, &handle, &buf, 1, reinterpret_cast<const sockaddr*>(&to),
                    &on_sent) != 0) {
      SendRequest::destroy(request);
      count(false);
    }
    // else counted as sent or failed in on_sent
  }

  // Sends what waits, then closes the three handles; on_handle_closed frees the Impl after the
  // last one.
  void close_handles() {
    flush();
    closing = true;
    uv_udp_recv_stop(&handle);
    uv_close(as_handle(), &on_handle_closed);
    uv_close(reinterpret_cast<uv_handle_t*>(&prepare), &on_handle_closed);
    uv_close(reinterpret_cast<uv_handle_t*>(&check), &on_handle_closed);
  }

  static void on_alloc(uv_handle_t* handle, std::size_t /*suggested*/, uv_buf_t* buf) noexcept {
    auto* impl = static_cast<Impl*>(handle->data);
    // libuv is done with the previous batch before it asks again (single loop thread), so the
    // same buffer serves every read and nobody but the Impl frees it.
    *buf = uv_buf_init(reinterpret_cast<char*>(impl->receive_buffer.get()),
                       static_cast<unsigned>(impl->receive_buffer_size));
  }

  static void on_receive(uv_udp_t* handle, ssize_t nread, const uv_buf_t* buf, const sockaddr* addr,
                         unsigned flags) noexcept {
    auto* impl = static_cast<Impl*>(handle->data);
    UdpTransport* self = impl->owner;
    if (self == nullptr || impl->closing) return;
    if (nread < 0) {
      ++self->counters_.receive_errors;
      return;
    }
    // No address: nothing was waiting (nread 0), or UV_UDP_MMSG_FREE ending a recvmmsg batch;
    // the buffer is ours and reused, so there is nothing to release.
    if (addr == nullptr) return;
    const auto size = static_cast<std::size_t>(nread);
    if ((flags & UV_UDP_PARTIAL) != 0 || size > buf->len) {
      ++self->counters_.truncated_dropped;
      return;
    }
    sn::Peer from;
    if (!peer_from(self->options_.transport_id, addr, from)) {
      ++self->counters_.receive_errors;
      return;
    }
    ++self->counters_.datagrams_received;
    // The handler may close the transport; nothing here touches it after the call.
    if (self->on_frame_) {
      self->on_frame_(from, {reinterpret_cast<const std::uint8_t*>(buf->base), size});
    }
  }

  static void on_sent(uv_udp_send_t* req, int status) noexcept {
    auto* impl = static_cast<Impl*>(req->handle->data);
    if (impl->owner != nullptr) {
      if (status == 0) {
        ++impl->owner->counters_.datagrams_sent;
      } else {
        ++impl->owner->counters_.send_errors;  // includes UV_ECANCELED from close()
      }
    }
    SendRequest::destroy(reinterpret_cast<SendRequest*>(req));
  }

  static void on_handle_closed(uv_handle_t* handle) noexcept {
    auto* impl = static_cast<Impl*>(handle->data);
    if (--impl->open_handles > 0) return;
    std::function<void()> done = std::move(impl->on_closed);
    if (impl->owner != nullptr) impl->owner->impl_ = nullptr;
    delete impl;
    // Last: the callback may destroy the transport.
    if (done) done();
  }
};

static_assert(offsetof(SendRequest, req) == 0, "on_sent casts the request back to its holder");

UdpTransport::UdpTransport(uv_loop_t* loop, UdpOptions options, FrameHandler on_frame)
    : loop_(loop), options_(std::move(options)), on_frame_(std::move(on_frame)) {
  auto impl = std::make_unique<Impl>();
  impl->owner = this;
  // AF_UNSPEC: the socket is created by the bind in start(), with the family of `host`.
  const int rc =
      uv_udp_init_ex(loop_, &impl->handle, static_cast<unsigned>(AF_UNSPEC) | UV_UDP_RECVMMSG);
  if (rc != 0) {
    throw std::runtime_error(endpoint_text(options_) + ": init failed: " + uv_strerror(rc));
  }
  impl->handle.data = impl.get();
  uv_prepare_init(loop_, &impl->prepare);
  uv_check_init(loop_, &impl->check);
  impl->prepare.data = impl.get();
  impl->check.data = impl.get();
  impl->open_handles = 3;
  impl_ = impl.release();
}

UdpTransport::~UdpTransport() {
  if (impl_ == nullptr) return;
  impl_->owner = nullptr;
  if (!impl_->closing) impl_->close_handles();
}

void UdpTransport::start() {
  const std::string where = endpoint_text(options_);
  if (impl_ == nullptr || impl_->closing) throw std::runtime_error(where + ": transport is closed");
  if (impl_->started) throw std::runtime_error(where + ": already started");

  const std::string host = options_.host == "localhost" ? "127.0.0.1" : options_.host;
  sockaddr_storage addr{};
  unsigned bind_flags = 0;
  sockaddr_in in{};
  sockaddr_in6 in6{};
  if (uv_ip4_addr(host.c_str(), options_.port, &in) == 0) {
    std::memcpy(&addr, &in, sizeof in);
  } else if (uv_ip6_addr(host.c_str(), options_.port, &in6) == 0) {
    std::memcpy(&addr, &in6, sizeof in6);
    // "::" keeps the system's dual-stack default; a specific address only ever speaks IPv6.
    if (std::memcmp(&in6.sin6_addr, &in6addr_any, sizeof in6addr_any) != 0) {
      bind_flags |= UV_UDP_IPV6ONLY;
    }
  } else {
    throw std::runtime_error(where +
                             ": invalid host (expected an IPv4 or IPv6 literal, or localhost)");
  }

  int rc = uv_udp_bind(&impl_->handle, reinterpret_cast<const sockaddr*>(&addr), bind_flags);
  if (rc != 0) throw std::runtime_error(where + ": bind failed: " + uv_strerror(rc));
  impl_->family = addr.ss_family;

  // Best effort: the kernel caps these at net.core.{r,w}mem_max, which SO_{RCV,SND}BUFFORCE may
  // pass (root or CAP_NET_ADMIN); the accessors tell the truth.
  set_buffer(options_.receive_buffer_bytes, SO_RCVBUFFORCE, &uv_recv_buffer_size);
  set_buffer(options_.send_buffer_bytes, SO_SNDBUFFORCE, &uv_send_buffer_size);
  int value = 0;
  if (uv_recv_buffer_size(impl_->as_handle(), &value) == 0) impl_->receive_buffer_effective = value;
  value = 0;
  if (uv_send_buffer_size(impl_->as_handle(), &value) == 0) impl_->send_buffer_effective = value;

  sockaddr_storage bound{};
  int bound_size = sizeof bound;
  rc = uv_udp_getsockname(&impl_->handle, reinterpret_cast<sockaddr*>(&bound), &bound_size);
  if (rc != 0) throw std::runtime_error(where + ": getsockname failed: " + uv_strerror(rc));
  impl_->port = port_of(bound);

  impl_->receive_buffer_size =
      uv_udp_using_recvmmsg(&impl_->handle) != 0 ? kDatagramSlot * kBatchSlots : kDatagramSlot;
  impl_->receive_buffer =
      std::make_unique_for_overwrite<std::uint8_t[]>(impl_->receive_buffer_size);

  if (!options_.multicast_group.empty()) set_up_multicast(where);

  rc = uv_udp_recv_start(&impl_->handle, &Impl::on_alloc, &Impl::on_receive);
  if (rc != 0) throw std::runtime_error(where + ": receive failed: " + uv_strerror(rc));
  impl_->started = true;
}

void UdpTransport::set_buffer(int bytes, int force_option, int (*accessor)(uv_handle_t*, int*)) {
  if (bytes <= 0) return;
  int value = bytes;
  accessor(impl_->as_handle(), &value);
  int granted = 0;
  if (accessor(impl_->as_handle(), &granted) != 0 || granted / 2 >= bytes) return;
  uv_os_fd_t fd{};
  if (uv_fileno(impl_->as_handle(), &fd) != 0) return;
  // Fails with EPERM without CAP_NET_ADMIN; the granted size then stays what it is.
  ::setsockopt(fd, SOL_SOCKET, force_option, &bytes, sizeof bytes);
}

void UdpTransport::set_up_multicast(const std::string& where) {
  const std::string what = where + ": multicast " + options_.multicast_group + ": ";
  sockaddr_storage group{};
  sockaddr_in in{};
  sockaddr_in6 in6{};
  std::string interface = options_.multicast_interface;
  if (impl_->family == AF_INET &&
      uv_ip4_addr(options_.multicast_group.c_str(), options_.multicast_port, &in) == 0) {
    std::memcpy(&group, &in, sizeof in);
  } else if (impl_->family == AF_INET6 &&
             uv_ip6_addr(options_.multicast_group.c_str(), options_.multicast_port, &in6) == 0) {
    std::memcpy(&group, &in6, sizeof in6);
    // libuv takes an IPv6 interface as an address whose zone names it.
    if (!interface.empty()) interface = "::%" + interface;
  } else {
    throw std::runtime_error(what + "not a group of the socket's address family");
  }
  int rc = uv_udp_set_multicast_ttl(&impl_->handle, options_.multicast_ttl);
  if (rc == 0) rc = uv_udp_set_multicast_loop(&impl_->handle, 1);
  if (rc != 0) throw std::runtime_error(what + "cannot set TTL/loop: " + uv_strerror(rc));
  if (!interface.empty()) {
    rc = uv_udp_set_multicast_interface(&impl_->handle, interface.c_str());
    if (rc != 0) {
      throw std::runtime_error(what + "interface " + options_.multicast_interface + ": " +
                               uv_strerror(rc));
    }
  }
  sn::Peer peer;
  if (!peer_from(options_.transport_id, reinterpret_cast<const sockaddr*>(&group), peer)) {
    throw std::runtime_error(what + "unusable address");
  }
  group_ = peer;
}

bool UdpTransport::broadcast(std::span<const std::uint8_t> bytes) {
  if (!group_) {
    ++counters_.send_errors;
    return false;
  }
  return send(*group_, bytes);
}

bool UdpTransport::send(const sn::Peer& to, std::span<const std::uint8_t> bytes) {
  sockaddr_storage addr{};
  if (impl_ == nullptr || !impl_->started || impl_->closing ||
      to.transport_id != options_.transport_id || to.forwarded() ||
      bytes.size() > (impl_->family == AF_INET ? kMaxDatagram4 : kMaxDatagram6) ||
      !sockaddr_from(to, impl_->family, addr)) {
    ++counters_.send_errors;
    return false;
  }
  // Gathered for one sendmmsg(2) at the end of the loop iteration (Impl::flush()).
  impl_->enqueue(bytes, addr);
  return true;
}

void UdpTransport::close(std::function<void()> on_closed) {
  if (impl_ == nullptr) {
    if (on_closed) on_closed();
    return;
  }
  if (impl_->closing) {
    impl_->on_closed = [first = std::move(impl_->on_closed), second = std::move(on_closed)] {
      if (first) first();
      if (second) second();
    };
    return;
  }
  impl_->on_closed = std::move(on_closed);
  impl_->close_handles();
}

std::uint16_t UdpTransport::local_port() const { return impl_ != nullptr ? impl_->port : 0; }

int UdpTransport::receive_buffer_size() const {
  return impl_ != nullptr ? impl_->receive_buffer_effective : 0;
}

int UdpTransport::send_buffer_size() const {
  return impl_ != nullptr ? impl_->send_buffer_effective : 0;
}

bool UdpTransport::using_recvmmsg() const {
  return impl_ != nullptr && impl_->started && uv_udp_using_recvmmsg(&impl_->handle) != 0;
}

}  // namespace transports
