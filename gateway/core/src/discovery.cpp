// Gateway advertisement and discovery (§6.1): ADVERTISE every T_ADV while the broker is reachable,
// GWINFO for every SEARCHGW. The gateway's own upstream connection (kQosMinusOneConn, which also
// carries QoS -1 PUBLISH, §6.8) is what "connected to a server" means here.

#include "core_impl.hpp"

namespace gateway::core {

void Core::Impl::on_searchgw(const sn::Peer& peer, const sn::SearchGw& search) {
  ++counters_.gwinfo_sent;
  // A gateway answers with its id only; GwAdd is for clients answering for a gateway (§5.4.3).
  const sn::Message gwinfo = sn::GwInfo{config_.gateway_id, {}};
  send(peer, gwinfo);  // the searcher, even when it is not listening to the broadcast
  if (config_.gwinfo_broadcast) {
    // §6.1: "the GWINFO message is broadcast with the same radius Rb" as the SEARCHGW. A
    // forwarded searcher is reached through its forwarder's transport.
    out_->push_back(Broadcast{peer.transport_id, sn::encode(gwinfo), search.radius});
  }
}

void Core::Impl::gateway_connection_up() {
  qos_minus_one_up_ = true;
  reconnect_attempts_ = 0;
  if (gateway_connection_was_up_) ++counters_.upstream_reconnects;
  gateway_connection_was_up_ = true;
  log(LogLevel::info, [] { return std::string("gateway upstream connection is up"); });
  if (aggregating()) restore_filters();
  if (config_.advertise_interval.count() > 0) advertise();
}

void Core::Impl::gateway_connection_down(const std::string& what, const std::string& reason) {
  qos_minus_one_up_ = false;
  ++advertise_generation_;  // §6.1: no ADVERTISE while not connected to a server
  const Time delay = next_reconnect_delay();
  log(LogLevel::warn, [&] {
    return "gateway upstream connection " + what + ": " + reason + "; next attempt in " +
           std::to_string(delay.count()) + " ms";
  });
  timers_.push(TimerEntry{now_ + delay, 0, TimerKind::qos_minus_one_reconnect,
                          ++qos_minus_one_generation_});
}

// reconnect_min doubled per failure in a row, capped at reconnect_max, minus up to a half at
// random ("equal jitter").
Time Core::Impl::backoff(unsigned attempts) {
  const auto lo = std::max<std::int64_t>(1, config_.reconnect_min.count());
  const auto hi = std::max<std::int64_t>(lo, config_.reconnect_max.count());
  std::int64_t ceiling = lo;
  for (unsigned i = 0; i < attempts && ceiling < hi; ++i) ceiling *= 2;
  ceiling = std::min(ceiling, hi);
  std::uniform_int_distribution<std::int64_t> jitter(0, ceiling / 2);
  return Time(ceiling - jitter(random_));
}

Time Core::Impl::next_reconnect_delay() { return backoff(reconnect_attempts_++); }

void Core::Impl::advertise() {
  ++counters_.advertise_sent;
  ++counters_.frames_out;
  const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(config_.advertise_interval);
  const auto duration = static_cast<std::uint16_t>(std::min<std::int64_t>(seconds.count(), 0xFFFF));
  const sn::Message advertise = sn::Advertise{config_.gateway_id, duration};
  out_->push_back(Broadcast{std::nullopt, sn::encode(advertise), 0});
  timers_.push(TimerEntry{now_ + config_.advertise_interval, 0, TimerKind::advertise,
                          ++advertise_generation_});
}

}  // namespace gateway::core
