#pragma once
// The callback every transport adapter delivers frames through. The same alias as in
// udp_transport.hpp (a redeclaration naming the same type is allowed), so either header may be
// included first.

#include <cstdint>
#include <functional>
#include <span>

#include "sn_protocol/peer.hpp"

namespace transports {

// Called for every frame received whole; `bytes` is valid only during the call. The handler
// may call send() and close() on the transport; it must not throw (it runs inside libuv).
using FrameHandler = std::function<void(const sn::Peer& from, std::span<const std::uint8_t> bytes)>;

}  // namespace transports
