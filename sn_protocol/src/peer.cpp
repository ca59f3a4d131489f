#include "sn_protocol/peer.hpp"

#include <algorithm>
#include <cstdio>
#include <string>

namespace sn {
namespace {

std::string hex(std::span<const std::uint8_t> bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  static constexpr char kDigits[] = "0123456789abcdef";
  for (const std::uint8_t b : bytes) {
    out.push_back(kDigits[b >> 4]);
    out.push_back(kDigits[b & 0x0FU]);
  }
  return out;
}

unsigned port_at(const Peer& p, std::size_t offset) {
  return (static_cast<unsigned>(p.address[offset]) << 8) | p.address[offset + 1];
}

std::string address_text(const Peer& p) {
  char buf[96];
  switch (p.kind) {
    case PeerKind::ipv4:
      if (p.address_size < 6) break;
      std::snprintf(buf, sizeof buf, "%u.%u.%u.%u:%u", p.address[0], p.address[1], p.address[2],
                    p.address[3], port_at(p, 4));
      return buf;
    case PeerKind::ipv6: {
      if (p.address_size < 18) break;
      std::string text = "[";
      for (std::size_t i = 0; i < 16; i += 2) {
        if (i > 0) text.push_back(':');
        std::snprintf(buf, sizeof buf, "%x", port_at(p, i));
        text += buf;
      }
      std::snprintf(buf, sizeof buf, "]:%u", port_at(p, 16));
      return text + buf;
    }
    case PeerKind::xbee:
      if (p.address_size < 10) break;
      return hex(p.address_bytes().first(8)) + "/" + hex(p.address_bytes().subspan(8, 2));
    case PeerKind::bluetooth:
      if (p.address_size < 8) break;
      std::snprintf(buf, sizeof buf, "%02x:%02x:%02x:%02x:%02x:%02x/%u", p.address[5], p.address[4],
                    p.address[3], p.address[2], p.address[1], p.address[0], port_at(p, 6));
      return buf;
    case PeerKind::serial:
    case PeerKind::none:
      break;
  }
  return hex(p.address_bytes());
}

const char* kind_text(PeerKind kind) {
  switch (kind) {
    case PeerKind::ipv4:
    case PeerKind::ipv6: return "udp";
    case PeerKind::serial: return "serial";
    case PeerKind::xbee: return "xbee";
    case PeerKind::bluetooth: return "bt";
    case PeerKind::none: break;
  }
  return "peer";
}

}  // namespace

Peer Peer::make(std::uint16_t transport, PeerKind peer_kind, std::span<const std::uint8_t> bytes) {
  Peer p;
  p.transport_id = transport;
  p.kind = peer_kind;
  const std::size_t n = std::min(bytes.size(), kMaxAddress);
  std::copy_n(bytes.begin(), n, p.address.begin());
  p.address_size = static_cast<std::uint8_t>(n);
  return p;
}

bool Peer::set_node_id(std::span<const std::uint8_t> id) {
  if (id.empty() || id.size() > kMaxNodeId) return false;
  node_id = {};
  std::copy(id.begin(), id.end(), node_id.begin());
  node_id_size = static_cast<std::uint8_t>(id.size());
  return true;
}

Peer Peer::forwarder() const {
  Peer p = *this;
  p.node_id = {};
  p.node_id_size = 0;
  return p;
}

std::size_t PeerHash::operator()(const Peer& p) const noexcept {
  // 64-bit FNV-1a over the meaningful octets; unused array tails are always zero. Computed in 64
  // bits whatever size_t is: on 32-bit targets (armhf) the high half is folded into the result.
  std::uint64_t h = 14695981039346656037ULL;
  auto mix = [&h](std::uint8_t b) { h = (h ^ b) * 1099511628211ULL; };
  mix(static_cast<std::uint8_t>(p.transport_id >> 8));
  mix(static_cast<std::uint8_t>(p.transport_id & 0xFFU));
  mix(static_cast<std::uint8_t>(p.kind));
  for (const std::uint8_t b : p.address_bytes()) mix(b);
  mix(p.node_id_size);
  for (const std::uint8_t b : p.node_id_bytes()) mix(b);
  return static_cast<std::size_t>(h ^ (h >> 32U));
}

std::string to_string(const Peer& p) {
  std::string text = std::string(kind_text(p.kind)) + "#" + std::to_string(p.transport_id) + " " +
                     address_text(p);
  if (p.forwarded()) text += " node " + hex(p.node_id_bytes());
  return text;
}

}  // namespace sn
