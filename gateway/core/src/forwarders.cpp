#include "forwarders.hpp"

#include <algorithm>
#include <array>
#include <span>

namespace gateway::core {
namespace {

constexpr std::array<std::uint8_t, 12> kV4MappedPrefix = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};

// ::ffff:a.b.c.d as a.b.c.d; anything else unchanged.
std::span<const std::uint8_t> unmapped(std::span<const std::uint8_t> ip) {
  if (ip.size() == 16 && std::equal(kV4MappedPrefix.begin(), kV4MappedPrefix.end(), ip.begin())) {
    return ip.subspan(12);
  }
  return ip;
}

bool matches(const AllowedForwarder& rule, const sn::Peer& peer) {
  if (rule.transport_id) return *rule.transport_id == peer.transport_id;
  std::size_t ip_size = 0;
  if (peer.kind == sn::PeerKind::ipv4) ip_size = 4;
  if (peer.kind == sn::PeerKind::ipv6) ip_size = 16;
  if (ip_size == 0 || peer.address_size < ip_size + 2) return false;  // no IP address to match
  const auto bytes = peer.address_bytes();
  const auto ip = unmapped(bytes.first(ip_size));
  const auto wanted = unmapped(rule.address);
  if (!std::equal(ip.begin(), ip.end(), wanted.begin(), wanted.end())) return false;
  if (!rule.port) return true;
  const auto port = static_cast<std::uint16_t>((bytes[ip_size] << 8) | bytes[ip_size + 1]);
  return port == *rule.port;
}

}  // namespace

bool forwarder_allowed(const std::vector<AllowedForwarder>& allowed, const sn::Peer& forwarder) {
  return std::any_of(allowed.begin(), allowed.end(),
                     [&](const AllowedForwarder& rule) { return matches(rule, forwarder); });
}

bool admit_forwarder(const CoreConfig& config, const sn::Peer& forwarder, Actions& out) {
  if (!config.forwarders_allowed || forwarder_allowed(*config.forwarders_allowed, forwarder)) {
    return true;
  }
  if (config.log_level <= LogLevel::debug) {
    out.push_back(Log{LogLevel::debug, "dropped encapsulated frame from " +
                                           sn::to_string(forwarder) +
                                           ": not in forwarders.allowed (§5.5)"});
  }
  return false;
}

}  // namespace gateway::core
