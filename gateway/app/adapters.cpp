#include "adapters.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <utility>
#include <variant>

#include "transports/bluetooth_transport.hpp"
#include "transports/dtls_transport.hpp"
#include "transports/serial_transport.hpp"
#include "transports/udp_transport.hpp"

namespace gateway::app {
namespace {

// IPv4 UDP carries at most 65507 octets of payload.
constexpr std::size_t kUdpMaxFrame = 65507;

// The address family a UDP bind host gives the socket (see transports::UdpTransport::start).
bool is_ipv6_bind(const std::string& host) {
  in6_addr v6{};
  return ::inet_pton(AF_INET6, host.c_str(), &v6) == 1;
}

std::string label(std::uint16_t id, const config::TransportConfig& transport) {
  std::string text = "transports[" + std::to_string(id) + "]";
  if (!transport.name.empty()) text += " (" + transport.name + ")";
  return text;
}

class UdpAdapter final : public Adapter {
 public:
  UdpAdapter(uv_loop_t* loop, std::uint16_t id, const config::Config& config,
             const config::UdpTransport& udp, AdapterEvents events)
      : config_(config), udp_(udp) {
    transports::UdpOptions options;
    options.transport_id = id;
    options.host = udp.bind.host;
    options.port = udp.bind.port;
    options.receive_buffer_bytes = static_cast<int>(udp.receive_buffer_bytes);
    options.send_buffer_bytes = static_cast<int>(udp.send_buffer_bytes);
    if (const auto& group = config.discovery.multicast;
        group && group->is_v6 == is_ipv6_bind(udp.bind.host)) {
      options.multicast_group = group->host;
      options.multicast_port = group->port;
      options.multicast_interface = config.discovery.interface;
      options.multicast_ttl = config.discovery.ttl;
    }
    transport_.emplace(loop, options, std::move(events.on_frame));
  }

  void start() override { transport_->start(); }
  bool send(const sn::Peer& to, std::span<const std::uint8_t> bytes) override {
    return transport_->send(to, bytes);
  }
  bool broadcast(std::span<const std::uint8_t> bytes) override {
    return transport_->can_broadcast() && transport_->broadcast(bytes);
  }
  void close(std::function<void()> on_closed) override { transport_->close(std::move(on_closed)); }
  std::size_t max_frame_size() const override { return kUdpMaxFrame; }
  // The socket buffers the kernel granted (Linux reports twice what was set, for its bookkeeping),
  // and the kernel limit when it granted less than asked.
  std::string buffers() const {
    const auto asked = static_cast<int>(udp_.receive_buffer_bytes);
    const int granted = transport_->receive_buffer_size() / 2;
    std::string text = ", receive buffer " + std::to_string(granted) + " B";
    if (asked > 0 && granted < asked) {
      text += " (asked for " + std::to_string(asked) +
              "; capped by net.core.rmem_max: raise it, or run with CAP_NET_ADMIN)";
    }
    return text;
  }
  std::string description() const override {
    return "udp listening on " + udp_.bind.host + ":" + std::to_string(transport_->local_port()) +
           buffers() +
           (transport_->can_broadcast()
                ? ", advertising to " + config::to_string(*config_.discovery.multicast)
                : std::string());
  }

 private:
  const config::Config& config_;
  config::UdpTransport udp_;
  std::optional<transports::UdpTransport> transport_;
};

// DTLS: a datagram carries one record, and a record at most 2^14 octets of plaintext (RFC 6347
// §4.1, RFC 5246 §6.2.1).
constexpr std::size_t kDtlsMaxFrame = 16384;

class DtlsAdapter final : public Adapter {
 public:
  DtlsAdapter(uv_loop_t* loop, std::uint16_t id, const config::DtlsTransport& dtls,
              AdapterEvents events)
      : dtls_(dtls) {
    transports::DtlsOptions options;
    options.udp.transport_id = id;
    options.udp.host = dtls.bind.host;
    options.udp.port = dtls.bind.port;
    options.udp.receive_buffer_bytes = static_cast<int>(dtls.receive_buffer_bytes);
    options.udp.send_buffer_bytes = static_cast<int>(dtls.send_buffer_bytes);
    options.server = dtls.server;
    const bool bind_identity = dtls.psk_identity_is_client_id;
    transport_.emplace(
        loop, std::move(options),
        [bind_identity, deliver = std::move(events.on_proven_frame)](
            const sn::Peer& from, std::span<const std::uint8_t> bytes, std::string_view identity) {
          deliver(from, bytes, bind_identity ? identity : std::string_view());
        },
        std::move(events.on_peer_gone));
  }

  void start() override { transport_->start(); }
  bool send(const sn::Peer& to, std::span<const std::uint8_t> bytes) override {
    return transport_->send(to, bytes);
  }
  // Never in the clear on a DTLS port: ADVERTISE and GWINFO go out on UDP transports.
  bool broadcast(std::span<const std::uint8_t>) override { return false; }
  void close(std::function<void()> on_closed) override { transport_->close(std::move(on_closed)); }
  std::size_t max_frame_size() const override { return kDtlsMaxFrame; }
  std::string description() const override {
    const auto& server = dtls_.server;
    std::string how;
    if (!server.psk.empty()) how = std::to_string(server.psk.size()) + " PSK identities";
    if (!server.cert_file.empty()) {
      how += std::string(how.empty() ? "" : " and ") + "certificate " + server.cert_file +
             (server.require_client_certificate ? " (client certificates required)" : "");
    }
    return "dtls listening on " + dtls_.bind.host + ":" + std::to_string(transport_->local_port()) +
           " (DTLS 1.2, " + how +
           (dtls_.psk_identity_is_client_id ? ", identity = ClientId)" : ", any ClientId)");
  }
  std::vector<std::pair<std::string, std::uint64_t>> counters() const override {
    const auto* server = transport_->server();
    if (server == nullptr) return {};
    const auto& c = server->counters();
    return {{"dtls/sessions", server->sessions()},
            {"dtls/handshakes_done", c.handshakes_done},
            {"dtls/handshakes_failed", c.handshakes_failed},
            {"dtls/handshakes_refused", c.handshakes_refused},
            {"dtls/cookies_sent", c.cookies_sent},
            {"dtls/plaintext_dropped", c.plaintext_dropped},
            {"dtls/records_dropped", c.records_dropped},
            {"dtls/sessions_replaced", c.sessions_replaced},
            {"dtls/sessions_expired", c.sessions_expired},
            {"dtls/sessions_closed", c.sessions_closed},
            {"dtls/send_refused", transport_->send_refused()}};
  }

 private:
  config::DtlsTransport dtls_;
  std::optional<transports::DtlsTransport> transport_;
};

// The config and the transport each name these settings in their own layer; map them by name, so
// reordering either enum cannot silently turn one setting into another.
transports::Parity to_transport(config::SerialParity parity) {
  switch (parity) {
    case config::SerialParity::none: return transports::Parity::none;
    case config::SerialParity::even: return transports::Parity::even;
    case config::SerialParity::odd: return transports::Parity::odd;
  }
  return transports::Parity::none;
}

transports::FlowControl to_transport(config::SerialFlowControl flow_control) {
  switch (flow_control) {
    case config::SerialFlowControl::none: return transports::FlowControl::none;
    case config::SerialFlowControl::rtscts: return transports::FlowControl::rtscts;
    case config::SerialFlowControl::xonxoff: return transports::FlowControl::xonxoff;
  }
  return transports::FlowControl::none;
}

transports::SerialFraming to_transport(config::SerialFraming framing) {
  switch (framing) {
    case config::SerialFraming::raw: return transports::SerialFraming::raw;
    case config::SerialFraming::xbee: return transports::SerialFraming::xbee;
  }
  return transports::SerialFraming::raw;
}

// The config keeps the radio's AP setting as its number (validated to 1 or 2 at load time).
transports::xbee::ApiMode to_api_mode(std::uint8_t ap) {
  return ap == 2 ? transports::xbee::ApiMode::escaped : transports::xbee::ApiMode::plain;
}

transports::SerialOptions serial_options(std::uint16_t id, const config::SerialTransport& s) {
  transports::SerialOptions options;
  options.transport_id = id;
  options.device = s.device;
  options.baud = s.baud;
  options.data_bits = s.data_bits;
  options.parity = to_transport(s.parity);
  options.stop_bits = s.stop_bits;
  options.flow_control = to_transport(s.flow_control);
  options.framing = to_transport(s.framing);
  options.inter_byte_timeout = std::chrono::milliseconds(s.inter_byte_timeout_ms);
  options.api_mode = to_api_mode(s.api_mode);
  options.max_payload = s.max_payload;
  return options;
}

class SerialAdapter final : public Adapter {
 public:
  SerialAdapter(uv_loop_t* loop, std::uint16_t id, const config::TransportConfig& transport,
                const config::SerialTransport& serial, AdapterEvents events)
      : label_(label(id, transport)) {
    transports::SerialCallbacks callbacks;
    callbacks.on_frame = std::move(events.on_frame);
    callbacks.on_device_lost = [this, id, on_down = std::move(events.on_down)] {
      const std::string reason = "serial " + transport_->options().device + ": device lost";
      spdlog::warn("{}: {}; its clients are lost, reopening with backoff", label_, reason);
      on_down(id, reason);
    };
    callbacks.on_device_back = [this] {
      spdlog::info("{}: serial {} is back", label_, transport_->options().device);
    };
    callbacks.on_transmit_failed = [this](const sn::Peer& to,
                                          const transports::xbee::TransmitStatus& status) {
      spdlog::warn("{}: xbee delivery to {} failed (frame id {}, delivery status 0x{:02x}, {} "
                   "retries)",
                   label_, sn::to_string(to), status.frame_id, status.delivery_status,
                   status.retry_count);
    };
    transport_.emplace(loop, serial_options(id, serial), std::move(callbacks));
  }

  void start() override { transport_->start(); }
  bool send(const sn::Peer& to, std::span<const std::uint8_t> bytes) override {
    return transport_->send(to, bytes);
  }
  bool broadcast(std::span<const std::uint8_t> bytes) override {
    return transport_->broadcast(bytes);
  }
  void close(std::function<void()> on_closed) override { transport_->close(std::move(on_closed)); }
  std::size_t max_frame_size() const override {
    const auto& options = transport_->options();
    return options.framing == transports::SerialFraming::xbee ? options.max_payload
                                                               : options.max_frame_size;
  }
  std::string description() const override {
    const auto& options = transport_->options();
    if (options.framing == transports::SerialFraming::xbee) {
      return "serial " + options.device + " at " + std::to_string(options.baud) +
             " baud, xbee api_mode " + std::to_string(static_cast<int>(options.api_mode)) +
             ", max_payload " + std::to_string(options.max_payload);
    }
    return "serial " + options.device + " at " + std::to_string(options.baud) +
           " baud, raw MQTT-SN framing";
  }

 private:
  std::string label_;
  std::optional<transports::SerialTransport> transport_;
};

class BluetoothAdapter final : public Adapter {
 public:
  BluetoothAdapter(uv_loop_t* loop, std::uint16_t id, const config::TransportConfig& transport,
                   transports::BluetoothOptions options, AdapterEvents events)
      : label_(label(id, transport)) {
    options.transport_id = id;
    transports::BluetoothCallbacks callbacks;
    callbacks.on_frame = std::move(events.on_frame);
    callbacks.on_connected = [this](const sn::Peer& peer) {
      spdlog::info("{}: {} connected", label_, sn::to_string(peer));
    };
    callbacks.on_disconnected = [this](const sn::Peer& peer, const std::string& reason) {
      // No per-client event in the core: the client's keep-alive (§6.11) loses it.
      spdlog::info("{}: {} disconnected ({})", label_, sn::to_string(peer), reason);
    };
    callbacks.on_listener_lost = [this, id, on_down = std::move(events.on_down)](
                                     const std::string& reason) {
      spdlog::warn("{}: {}; its clients are lost", label_, reason);
      on_down(id, reason);
    };
    transport_.emplace(loop, options, std::move(callbacks));
  }

  void start() override { transport_->start(); }
  bool send(const sn::Peer& to, std::span<const std::uint8_t> bytes) override {
    return transport_->send(to, bytes);
  }
  bool broadcast(std::span<const std::uint8_t>) override { return false; }
  void close(std::function<void()> on_closed) override { transport_->close(std::move(on_closed)); }
  std::size_t max_frame_size() const override { return transport_->options().max_frame_size; }
  std::string description() const override { return transport_->description(); }

 private:
  std::string label_;
  std::optional<transports::BluetoothTransport> transport_;
};

}  // namespace

std::unique_ptr<Adapter> make_adapter(uv_loop_t* loop, std::uint16_t id,
                                      const config::Config& config, AdapterEvents events) {
  const auto& transport = config.transports.at(id);
  return std::visit(
      [&](const auto& settings) -> std::unique_ptr<Adapter> {
        using T = std::decay_t<decltype(settings)>;
        if constexpr (std::is_same_v<T, config::UdpTransport>) {
          return std::make_unique<UdpAdapter>(loop, id, config, settings, std::move(events));
        } else if constexpr (std::is_same_v<T, config::SerialTransport>) {
          return std::make_unique<SerialAdapter>(loop, id, transport, settings, std::move(events));
        } else if constexpr (std::is_same_v<T, config::DtlsTransport>) {
          return std::make_unique<DtlsAdapter>(loop, id, settings, std::move(events));
        } else if constexpr (std::is_same_v<T, config::RfcommTransport>) {
          transports::BluetoothOptions options;
          options.kind = transports::BluetoothKind::rfcomm;
          options.channel_or_psm = settings.channel;
          return std::make_unique<BluetoothAdapter>(loop, id, transport, options,
                                                    std::move(events));
        } else {
          static_assert(std::is_same_v<T, config::L2capTransport>);
          transports::BluetoothOptions options;
          options.kind = transports::BluetoothKind::l2cap;
          options.channel_or_psm = settings.psm;
          return std::make_unique<BluetoothAdapter>(loop, id, transport, options,
                                                    std::move(events));
        }
      },
      transport.settings);
}

}  // namespace gateway::app
