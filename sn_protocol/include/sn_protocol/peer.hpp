#pragma once
// Who sent a frame, or where one goes: a small, trivially copyable value that names a UDP endpoint
// (IPv4/IPv6 + port), a serial line, an XBee radio (64-bit + 16-bit address), a Bluetooth peer
// (address + channel/PSM), optionally behind a forwarder (§5.5: + Wireless Node Id). Transports
// build and read the address octets; the gateway core only compares, hashes and logs peers.
// Any thread may use these values.

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

namespace sn {

enum class PeerKind : std::uint8_t {
  none,
  ipv4,       // address: 4 octets IPv4, 2 octets port (network order)
  ipv6,       // address: 16 octets IPv6, 2 octets port, 4 octets scope id (network order)
  serial,     // address: empty (one client per line unless forwarded)
  xbee,       // address: 8 octets 64-bit, 2 octets 16-bit network address
  bluetooth,  // address: 6 octets BD_ADDR (as sent on air), 2 octets channel or PSM
};

struct Peer {
  static constexpr std::size_t kMaxAddress = 24;
  // Wireless Node Ids longer than this are refused as peers (the spec allows up to 252 octets;
  // real forwarders use 1..8).
  static constexpr std::size_t kMaxNodeId = 16;

  std::uint16_t transport_id = 0;  // index into the configured transports
  PeerKind kind = PeerKind::none;
  std::uint8_t address_size = 0;
  std::uint8_t node_id_size = 0;  // > 0: a forwarded client, the forwarder being `address`
  std::array<std::uint8_t, kMaxAddress> address{};
  std::array<std::uint8_t, kMaxNodeId> node_id{};

  bool operator==(const Peer&) const = default;

  std::span<const std::uint8_t> address_bytes() const { return {address.data(), address_size}; }
  std::span<const std::uint8_t> node_id_bytes() const { return {node_id.data(), node_id_size}; }
  bool forwarded() const { return node_id_size > 0; }

  // A peer of the given kind; `bytes` longer than kMaxAddress is a caller bug and is cut.
  static Peer make(std::uint16_t transport_id, PeerKind kind, std::span<const std::uint8_t> bytes);
  // The same peer behind its forwarder with this node id; false when the id is empty or longer
  // than kMaxNodeId.
  bool set_node_id(std::span<const std::uint8_t> id);
  // The forwarder itself (node id removed).
  Peer forwarder() const;
};

struct PeerHash {
  std::size_t operator()(const Peer& peer) const noexcept;
};

// "udp#0 127.0.0.1:5000", "udp#0 [::1]:5000", "xbee#1 0013a20041a1b2c3/fffe",
// "udp#0 127.0.0.2:5000 node 0a0b" ... for logs.
std::string to_string(const Peer& peer);

}  // namespace sn
