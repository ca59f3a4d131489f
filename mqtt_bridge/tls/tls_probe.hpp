#pragma once
// Why did a TLS connect fail? Paho 1.3 reports a failed TLS handshake as "failure" (-1) and
// nothing else, and its error handler cannot be used (paho_options.hpp). So after a failed Paho
// connect over TLS the bridge runs one handshake of its own with the same options (TlsLink over a
// blocking socket, bounded by a timeout) and reports what it found: the certificate error, the
// broker's alert, or that TLS was not the problem.

#include <chrono>
#include <mutex>
#include <optional>
#include <string>

#include "tls.hpp"

namespace mqtt_bridge::tls {

struct Verdict {
  bool refused = false;  // TlsLink::refused(): certificate, alert, version; retrying will not help
  std::string reason;
};

class Probe {
 public:
  // Loads the options at once (throws std::invalid_argument like TlsContext).
  Probe(const TlsOptions& options, std::string host, std::string port,
        std::chrono::milliseconds timeout);

  // Any thread; blocks for at most the timeout (plus a short wait for an alert after the
  // handshake). Callers within kReuse of the last handshake, or while one runs, get its verdict
  // rather than starting another: a storm of failed connects costs one probe. nullopt: the
  // handshake worked and the broker said nothing against it.
  std::optional<Verdict> explain();

  static constexpr std::chrono::seconds kReuse{5};

 private:
  std::optional<Verdict> run() const;

  const TlsContext context_;
  const std::string host_;
  const std::string port_;
  const std::chrono::milliseconds timeout_;
  std::mutex mutex_;  // one probe at a time; guards the two below
  std::optional<std::chrono::steady_clock::time_point> last_run_;
  std::optional<Verdict> last_verdict_;
};

}  // namespace mqtt_bridge::tls
