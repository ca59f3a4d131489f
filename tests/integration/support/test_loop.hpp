#pragma once
// One libuv loop per test and one timer that bounds every wait on it, for the transport adapter
// tests (UDP, serial, Bluetooth). Declare it first in a test so it is destroyed last: it then
// checks that nothing is left alive on the loop.

#include <uv.h>

#include <chrono>
#include <cstdint>

#include <doctest/doctest.h>

namespace test_support {

class TestLoop {
 public:
  TestLoop() {
    REQUIRE(uv_loop_init(&loop_) == 0);
    REQUIRE(uv_timer_init(&loop_, &deadline_) == 0);
    deadline_.data = &expired_;
  }
  TestLoop(const TestLoop&) = delete;
  TestLoop& operator=(const TestLoop&) = delete;
  ~TestLoop() {
    uv_close(reinterpret_cast<uv_handle_t*>(&deadline_), nullptr);
    for (int i = 0; i < 100 && uv_loop_alive(&loop_) != 0; ++i) uv_run(&loop_, UV_RUN_NOWAIT);
    CHECK(uv_loop_close(&loop_) == 0);
  }

  uv_loop_t* get() { return &loop_; }

  // Runs the loop until `done()` holds or `limit` passes; returns done(). Only for events that
  // arrive through the loop (the timer wakes UV_RUN_ONCE at the deadline).
  template <class Done>
  bool run_until(Done done, std::chrono::milliseconds limit = std::chrono::seconds(5)) {
    expired_ = false;
    uv_timer_start(
        &deadline_, [](uv_timer_t* timer) { *static_cast<bool*>(timer->data) = true; },
        static_cast<std::uint64_t>(limit.count()), 0);
    while (!done() && !expired_) uv_run(&loop_, UV_RUN_ONCE);
    uv_timer_stop(&deadline_);
    return done();
  }

 private:
  uv_loop_t loop_{};
  uv_timer_t deadline_{};
  bool expired_ = false;
};

}  // namespace test_support
