#pragma once
// Who may forward (§5.5): CoreConfig::forwarders_allowed applied to the sender of an
// encapsulated frame. Loop thread only, like the rest of the core.

#include "gateway/core/actions.hpp"
#include "gateway/core/core.hpp"
#include "sn_protocol/peer.hpp"

namespace gateway::core {

// True when `forwarder` may send encapsulated frames. When not, appends a debug Log naming it to
// `out` (if config.log_level lets debug through) and returns false: the frame is dropped.
bool admit_forwarder(const CoreConfig& config, const sn::Peer& forwarder, Actions& out);

// The rule alone, without logging.
bool forwarder_allowed(const std::vector<AllowedForwarder>& allowed, const sn::Peer& forwarder);

}  // namespace gateway::core
