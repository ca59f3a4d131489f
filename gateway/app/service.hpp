#pragma once
// Life under systemd (sd-daemon, libsystemd): the unit is Type=notify with WatchdogSec=
// (gateway/packaging/mqttsn-gateway.service).
//  - READY=1 once every transport is bound and the core runs; STOPPING=1 when a stop begins;
//    RELOADING=1 ... READY=1 around a SIGHUP reload.
//  - WATCHDOG=1 every half of WATCHDOG_USEC, from a timer on the loop thread: a loop that is stuck
//    stops the pings and systemd restarts the service.
//  - STATUS= the client counts (and the upstream state), refreshed with the pings or every 5 s.
// Not under systemd (NOTIFY_SOCKET unset), nothing is sent and no timer runs.

#include <uv.h>

#include <chrono>
#include <functional>
#include <string>

namespace gateway::app {

class ServiceNotifier {
 public:
  // `status` is called on the loop thread for each STATUS= line.
  ServiceNotifier(uv_loop_t* loop, std::function<std::string()> status);
  ServiceNotifier(const ServiceNotifier&) = delete;
  ServiceNotifier& operator=(const ServiceNotifier&) = delete;

  void ready();
  void reloading();
  void stopping();
  // Closes the timer (the handle's memory must stay until the loop has run its close callback).
  void close();

 private:
  void tick();
  void send(const std::string& state);

  std::function<std::string()> status_;
  bool active_ = false;  // NOTIFY_SOCKET names a service manager (then the timer exists)
  std::chrono::microseconds watchdog_{0};  // what systemd asked for; 0: no watchdog
  std::string last_status_;
  bool warned_ = false;
  uv_timer_t timer_{};
};

}  // namespace gateway::app
