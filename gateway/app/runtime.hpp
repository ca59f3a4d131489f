#pragma once
// The running gateway: one libuv loop thread that owns the core, the transports and the upstream
// bridge (DESIGN.md "One loop thread owns all state"). Paho's threads reach the loop only through
// a mutex-guarded queue and uv_async_send, whose callback drains the whole queue.

#include <memory>

#include "gateway/config/config.hpp"

namespace gateway::app {

class Runtime {
 public:
  // Throws std::runtime_error (or std::invalid_argument for an upstream URI Paho refuses) when a
  // transport cannot be opened: start-up errors are reported and exit 2.
  explicit Runtime(const config::Config& config);
  ~Runtime();
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  // Serves until SIGINT or SIGTERM, then shuts down cleanly (DISCONNECT to clients and upstream,
  // no wills). Returns the process exit code.
  int run();

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace gateway::app
