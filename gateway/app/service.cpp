#include "service.hpp"

#include <spdlog/spdlog.h>
#include <systemd/sd-daemon.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>

namespace gateway::app {
namespace {
// STATUS= is refreshed at least this often under systemd, watchdog or not.
constexpr std::chrono::milliseconds kStatusRefresh{5000};
}  // namespace

ServiceNotifier::ServiceNotifier(uv_loop_t* loop, std::function<std::string()> status)
    : status_(std::move(status)) {
  const char* socket = std::getenv("NOTIFY_SOCKET");
  active_ = socket != nullptr && *socket != '\0';
  if (!active_) return;
  std::uint64_t usec = 0;
  // > 0: WATCHDOG_USEC is set (and WATCHDOG_PID, if set, is ours). Environment kept: a child
  // process of ours is not the service.
  if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0) watchdog_ = std::chrono::microseconds(usec);
  uv_timer_init(loop, &timer_);
  timer_.data = this;
}

void ServiceNotifier::ready() {
  if (!active_) return;
  last_status_ = status_();
  send("READY=1\nSTATUS=" + last_status_);
  // Half the watchdog interval, as sd_watchdog_enabled(3) advises; no slower than the status.
  auto period = std::chrono::duration_cast<std::chrono::milliseconds>(kStatusRefresh);
  if (watchdog_.count() > 0) {
    period = std::min(period, std::max(std::chrono::milliseconds(1),
                                       std::chrono::duration_cast<std::chrono::milliseconds>(watchdog_ / 2)));
    send("WATCHDOG=1");
  }
  const auto ms = static_cast<std::uint64_t>(period.count());
  uv_timer_start(&timer_, [](uv_timer_t* t) { static_cast<ServiceNotifier*>(t->data)->tick(); }, ms, ms);
  spdlog::debug("systemd: READY=1 sent{}", watchdog_.count() > 0
                                               ? ", watchdog every " + std::to_string(ms) + " ms"
                                               : std::string());
}

void ServiceNotifier::reloading() {
  if (active_) send("RELOADING=1\nSTATUS=reloading the configuration");
}

void ServiceNotifier::stopping() {
  if (!active_) return;
  uv_timer_stop(&timer_);
  send("STOPPING=1\nSTATUS=stopping");
}

void ServiceNotifier::close() {
  auto* handle = reinterpret_cast<uv_handle_t*>(&timer_);
  if (active_ && !uv_is_closing(handle)) uv_close(handle, nullptr);
}

void ServiceNotifier::tick() {
  std::string message = watchdog_.count() > 0 ? "WATCHDOG=1" : "";
  std::string status = status_();
  if (status != last_status_) {
    last_status_ = std::move(status);
    message += (message.empty() ? "" : "\n") + ("STATUS=" + last_status_);
  }
  if (!message.empty()) send(message);
}

void ServiceNotifier::send(const std::string& state) {
  const int rc = sd_notify(0, state.c_str());
  if (rc < 0 && !warned_) {
    // The manager went away or the socket is wrong: said once; the gateway keeps serving.
    warned_ = true;
    spdlog::warn("systemd: sd_notify to NOTIFY_SOCKET failed: {}", std::strerror(-rc));
  }
}

}  // namespace gateway::app
