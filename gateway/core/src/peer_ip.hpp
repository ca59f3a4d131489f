#pragma once
// The IP address in a Peer, for the rules that go by address (QoS -1 senders, forwarders, the
// CONNECT rate per address). Internal to the core.

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "sn_protocol/peer.hpp"

namespace gateway::core {

// Octets of the IP address at the start of a peer's address bytes (the port follows): 4 for
// IPv4, 16 for IPv6, 0 for peers without one (serial, radio, Bluetooth).
inline std::size_t ip_size(sn::PeerKind kind) {
  if (kind == sn::PeerKind::ipv4) return 4;
  if (kind == sn::PeerKind::ipv6) return 16;
  return 0;
}

// An IPv4-mapped IPv6 address (::ffff:a.b.c.d, RFC 4291 §2.5.5.2) as its IPv4 octets: a
// dual-stack socket reports IPv4 senders that way. Anything else unchanged.
inline std::span<const std::uint8_t> unmapped(std::span<const std::uint8_t> ip) {
  static constexpr std::array<std::uint8_t, 12> kMappedPrefix = {0, 0, 0, 0, 0, 0,
                                                                 0, 0, 0, 0, 0xFF, 0xFF};
  if (ip.size() == 16 && std::equal(kMappedPrefix.begin(), kMappedPrefix.end(), ip.begin())) {
    return ip.subspan(12);
  }
  return ip;
}

}  // namespace gateway::core
