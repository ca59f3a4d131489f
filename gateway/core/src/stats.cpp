// What the gateway has done, as named counters: published upstream every stats_interval
// (retained, so a dashboard subscribing later sees the latest values) and dumped by the app on
// request (SIGUSR1).

#include "core_impl.hpp"

namespace gateway::core {

std::vector<std::pair<std::string, std::uint64_t>> Core::Impl::stats() const {
  std::array<std::uint64_t, kStateCount> by_state{};
  std::uint64_t queued = 0;
  for (const auto& [id, s] : sessions_) {
    ++by_state[s.state.index()];
    queued += s.queue.size();
  }
  const auto state = [&](StateKind k) { return by_state[static_cast<std::size_t>(k)]; };
  const Counters& c = counters_;
  return {
      {"clients/connecting", state(StateKind::will_topic) + state(StateKind::will_msg) +
                                 state(StateKind::connecting)},
      {"clients/active", state(StateKind::active)},
      {"clients/asleep", state(StateKind::asleep)},
      {"clients/awake", state(StateKind::awake)},
      {"clients/disconnected", state(StateKind::disconnected)},
      {"clients/lost", state(StateKind::lost)},
      {"clients/lost_total", c.clients_lost},
      {"messages/in/qos0", c.publish_in[0]},
      {"messages/in/qos1", c.publish_in[1]},
      {"messages/in/qos2", c.publish_in[2]},
      {"messages/in/qos-1", c.publish_in[3]},
      {"messages/out/qos0", c.publish_out[0]},
      {"messages/out/qos1", c.publish_out[1]},
      {"messages/out/qos2", c.publish_out[2]},
      {"messages/out/queued", queued},  // now: waiting for (or in flight to) their clients
      {"frames/in", c.frames_in},
      {"frames/out", c.frames_out},
      {"retransmissions/out", c.retransmissions_out},
      {"duplicates/in", c.duplicates_in},
      {"drops/malformed", c.malformed},
      {"drops/unexpected", c.unexpected},
      {"drops/no_session", c.no_session},
      {"drops/qos-1", c.qos_minus_one_dropped},
      {"drops/acl", c.acl_denied},
      {"drops/rate_limited", c.rate_limited},
      {"drops/connecting_full", c.connecting_full},
      {"log/suppressed", c.log_suppressed},
      {"drops/identity_mismatch", c.identity_mismatch},
      {"drops/downlink", c.downlink_dropped},
      {"drops/sleep_buffer", c.sleep_buffer_dropped},
      {"drops/upstream_publish", c.upstream_publish_failed},
      {"drops/upstream_congestion", c.upstream_congested},
      {"wills/published", c.wills_published},
      {"sleep/upstream_released", c.sleeper_upstream_released},
      {"sleep/upstream_resumed", c.sleeper_upstream_resumed},
      {"upstream/connected", qos_minus_one_up_ ? 1U : 0U},
      {"upstream/reconnects", c.upstream_reconnects},
      {"upstream/client_outages", c.client_upstream_outages},
      {"upstream/client_reconnects", c.client_upstream_reconnects},
      {"discovery/advertise", c.advertise_sent},
      {"discovery/gwinfo", c.gwinfo_sent},
      {"errors/unlisted_transitions", c.unlisted_transitions},
  };
}

void Core::Impl::publish_stats() {
  timers_.push(TimerEntry{now_ + config_.stats_interval, 0, TimerKind::stats, stats_generation_});
  if (!qos_minus_one_up_) return;  // nobody to tell; the next round will
  for (const auto& [name, value] : stats()) {
    const std::string text = std::to_string(value);
    out_->push_back(UpstreamPublish{kQosMinusOneConn, 0, config_.stats_prefix + "/" + name,
                                    sn::Bytes(text.begin(), text.end()), 0, true});
  }
}

}  // namespace gateway::core
