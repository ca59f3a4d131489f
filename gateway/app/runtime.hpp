#pragma once
// The running gateway: one libuv loop thread that owns the core, the transports and the upstream
// bridge (DESIGN.md "One loop thread owns all state"). Paho's threads reach the loop only through
// a mutex-guarded queue and uv_async_send, whose callback drains the whole queue.

#include <functional>
#include <memory>

#include "gateway/config/config.hpp"

namespace gateway::app {

class Runtime {
 public:
  // Throws std::runtime_error (or std::invalid_argument for an upstream URI Paho refuses) when a
  // transport cannot be opened: start-up errors are reported and exit 2.
  // `reload` reads the configuration again for SIGHUP (throws config::ConfigError when the file
  // is invalid: the running configuration then stays).
  Runtime(const config::Config& config, std::function<config::Config()> reload);
  ~Runtime();
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  // Serves until SIGINT or SIGTERM, then shuts down cleanly (DISCONNECT to clients and upstream,
  // no wills); SIGHUP reloads what can change without a restart. Returns the process exit code.
  int run();

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace gateway::app
