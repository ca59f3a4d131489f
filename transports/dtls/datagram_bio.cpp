#include "datagram_bio.hpp"

#include <openssl/bio.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>

namespace transports::dtls {
namespace {

DatagramQueue* queue_of(BIO* bio) { return static_cast<DatagramQueue*>(BIO_get_data(bio)); }

int write_datagram(BIO* bio, const char* data, int size) {
  BIO_clear_retry_flags(bio);
  auto* queue = queue_of(bio);
  if (queue == nullptr || size < 0) return -1;
  queue->out.emplace_back(reinterpret_cast<const std::uint8_t*>(data),
                          reinterpret_cast<const std::uint8_t*>(data) + size);
  return size;
}

int read_datagram(BIO* bio, char* buffer, int size) {
  BIO_clear_retry_flags(bio);
  auto* queue = queue_of(bio);
  if (queue == nullptr || size < 0) return -1;
  if (queue->in.empty()) {
    BIO_set_retry_read(bio);
    return -1;
  }
  Bytes datagram = std::move(queue->in.front());
  queue->in.pop_front();
  // A datagram longer than the buffer is cut, as recv() would.
  const auto n = std::min<std::size_t>(datagram.size(), static_cast<std::size_t>(size));
  std::memcpy(buffer, datagram.data(), n);
  return static_cast<int>(n);
}

long control(BIO* bio, int command, long number, void* pointer) {
  auto* queue = queue_of(bio);
  switch (command) {
    case BIO_CTRL_DGRAM_GET_PEER: {
      // Copied through the public API: a BIO_ADDR is opaque.
      if (queue == nullptr || queue->peer == nullptr || pointer == nullptr) return 0;
      unsigned char raw[16];
      std::size_t size = 0;
      if (BIO_ADDR_rawaddress(queue->peer, raw, &size) != 1) return 0;
      auto* to = static_cast<BIO_ADDR*>(pointer);
      if (BIO_ADDR_rawmake(to, BIO_ADDR_family(queue->peer), raw, size,
                           BIO_ADDR_rawport(queue->peer)) != 1) {
        return 0;
      }
      return BIO_ADDR_family(queue->peer) == AF_INET6 ? 28 : 16;  // sizeof sockaddr_in6 / _in
    }
    case BIO_CTRL_DGRAM_SET_PEER:
      return 1;  // replies go back to where the datagram came from
    case BIO_CTRL_PENDING: return queue == nullptr || queue->in.empty() ? 0 : static_cast<long>(queue->in.front().size());
    case BIO_CTRL_WPENDING: return 0;
    case BIO_CTRL_FLUSH: return 1;
    case BIO_CTRL_DGRAM_QUERY_MTU: return 0;  // SSL_set_mtu decides
    case BIO_CTRL_DGRAM_GET_FALLBACK_MTU: return 1200;
    case BIO_CTRL_DGRAM_SET_MTU: return number;
    case BIO_CTRL_DGRAM_MTU_EXCEEDED: return 0;
    case BIO_CTRL_DGRAM_SET_NEXT_TIMEOUT: return 0;  // the owner's timer drives retransmission
    default: return 0;
  }
}

int create(BIO* bio) {
  BIO_set_init(bio, 1);
  return 1;
}

const BIO_METHOD* method() {
  static BIO_METHOD* m = [] {
    BIO_METHOD* made = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "mqttsn datagram");
    BIO_meth_set_write(made, write_datagram);
    BIO_meth_set_read(made, read_datagram);
    BIO_meth_set_ctrl(made, control);
    BIO_meth_set_create(made, create);
    return made;
  }();
  return m;
}

}  // namespace

BIO* new_datagram_bio(DatagramQueue* queue) {
  BIO* bio = BIO_new(method());
  if (bio != nullptr) BIO_set_data(bio, queue);
  return bio;
}

}  // namespace transports::dtls
