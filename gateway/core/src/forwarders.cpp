#include "forwarders.hpp"

#include <algorithm>
#include <span>

#include "peer_ip.hpp"

namespace gateway::core {
namespace {

bool matches(const AllowedForwarder& rule, const sn::Peer& peer) {
  if (rule.transport_id) return *rule.transport_id == peer.transport_id;
  const std::size_t ip_octets = ip_size(peer.kind);
  if (ip_octets == 0 || peer.address_size < ip_octets + 2) return false;  // no IP address to match
  const auto bytes = peer.address_bytes();
  const auto ip = unmapped(bytes.first(ip_octets));
  const auto wanted = unmapped(rule.address);
  if (!std::equal(ip.begin(), ip.end(), wanted.begin(), wanted.end())) return false;
  if (!rule.port) return true;
  const auto port = static_cast<std::uint16_t>((bytes[ip_octets] << 8) | bytes[ip_octets + 1]);
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
