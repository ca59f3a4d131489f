#pragma once
// One shape over every transport adapter (transports/*), so the runtime keeps one vector of them
// and executes SendFrame/Broadcast without knowing the medium. Loop thread only: every method,
// and every callback runs on it.

#include <uv.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "gateway/config/config.hpp"
#include "sn_protocol/peer.hpp"
#include "transports/frame_handler.hpp"

namespace gateway::app {

struct AdapterEvents {
  transports::FrameHandler on_frame;
  // A frame from a transport that proves who sent it (DTLS): the identity must be the ClientId
  // (core::FrameReceived::identity). Empty identity: no binding.
  std::function<void(const sn::Peer& from, std::span<const std::uint8_t> bytes,
                     std::string_view identity)>
      on_proven_frame;
  // The whole medium is gone (serial device unplugged, Bluetooth listener failed): every client
  // behind the transport is lost (core::TransportDown).
  std::function<void(std::uint16_t transport_id, const std::string& reason)> on_down;
  // One client's link ended while the transport lives on (a DTLS session closed, expired or
  // replaced): core::PeerGone.
  std::function<void(const sn::Peer& peer)> on_peer_gone;
};

class Adapter {
 public:
  virtual ~Adapter() = default;

  // Opens the medium. Throws std::runtime_error with a message that the runtime prefixes with
  // "transports[i]: ", e.g. "Bluetooth is not available in this kernel (EAFNOSUPPORT)".
  virtual void start() = 0;
  // One frame to one peer of this transport; false when it cannot go (counted by the adapter).
  virtual bool send(const sn::Peer& to, std::span<const std::uint8_t> bytes) = 0;
  // One frame to everyone on the medium (ADVERTISE, GWINFO); false when the medium has no
  // broadcast (UDP without discovery.multicast, Bluetooth).
  virtual bool broadcast(std::span<const std::uint8_t> bytes) = 0;
  // Stops and closes; `on_closed` runs on the loop once every handle is closed.
  virtual void close(std::function<void()> on_closed) = 0;
  // The largest MQTT-SN frame send() takes (core::CoreConfig::max_frame_size).
  virtual std::size_t max_frame_size() const = 0;
  // What start() opened, for the start-up log ("udp listening on 127.0.0.1:1884").
  virtual std::string description() const = 0;
  // The transport's own counters for the SIGUSR1 dump, named "<kind>/<counter>" (none by default).
  virtual std::vector<std::pair<std::string, std::uint64_t>> counters() const { return {}; }
};

// The adapter for config.transports[id]; nothing is opened until start().
std::unique_ptr<Adapter> make_adapter(uv_loop_t* loop, std::uint16_t id,
                                      const config::Config& config, AdapterEvents events);

}  // namespace gateway::app
