#pragma once
// The callback every transport adapter (UDP, serial, Bluetooth) delivers frames through.

#include <cstdint>
#include <functional>
#include <span>

#include "sn_protocol/peer.hpp"

namespace transports {

// Called for every frame (for UDP: every datagram) received whole; `bytes` is valid only during the call. The handler
// may call send() and close() on the transport; it must not throw (it runs inside libuv).
using FrameHandler = std::function<void(const sn::Peer& from, std::span<const std::uint8_t> bytes)>;

}  // namespace transports
