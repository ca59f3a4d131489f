#pragma once
// One helper thread per PahoUpstream. It does the two things neither the loop thread nor a Paho
// callback thread may do:
//  - run follow-up Paho calls decided inside a callback (e.g. "connected, but a disconnect was
//    asked for meanwhile": disconnect now). Paho runs some callbacks with its global mutex held,
//    so calling back into Paho from there is not safe;
//  - destroy finished connections. A Paho client must not be destroyed while one of its callbacks
//    is still running, and Paho's C and C++ layers keep touching the client for a moment after our
//    listener returns (token::on_success calls async_client::remove_token, the C receive thread
//    relocks its mutex and frees the command). Destruction may take Paho's global mutex, which is
//    why it stays off the loop.
//
// Why a grace period, and not a completion signal. Our side of a callback is counted exactly
// (Connection::callbacks_running); what follows it in Paho is not, and Paho 1.2 / Paho C 1.3
// offer nothing that marks its end:
//  - token::wait(), try_wait() and is_complete() turn true *before* our listener even runs
//    (token.h: "the user listener fires after the action is marked complete, but before the token
//    is signaled"), and nothing is signalled after async_client::remove_token();
//  - the C++ client's token lists and their mutex are private, and nothing public says that a
//    given token was removed (get_pending_delivery_tokens() covers publishes only);
//  - Paho C calls messageArrived with its global mutex released and relocks it afterwards to go on
//    using the client's struct (MQTTAsync.h does not say which other callbacks it releases it
//    for); MQTTAsync_destroy() is only documented as not to be called *inside* a callback, and
//    there is no per-client "callbacks done" hook;
//  - the callback threads are Paho's and shared by every client, so we cannot join them.
// The signal that would let this go: a per-client "no callback running or pending" notification
// from Paho (or a destroy that waits for its own callbacks). Until Paho has one, a retired object
// is destroyed only once no callback of ours is running for it *and* the grace period has passed;
// the epilogue takes microseconds and the grace is 500 ms, but that is a margin, not a proof: a
// Paho thread preempted for longer inside the epilogue would still be raced.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>

namespace mqtt_bridge::detail {

class Reaper {
 public:
  explicit Reaper(std::chrono::milliseconds grace);
  Reaper(const Reaper&) = delete;
  Reaper& operator=(const Reaper&) = delete;
  // Runs every queued task, waits out the grace period of every retired object, destroys it, joins.
  ~Reaper();

  // Any thread. The task runs on the reaper thread, never under the caller's locks.
  void post(std::function<void()> task);
  // Any thread. `object` is destroyed on the reaper thread, no sooner than `grace` from now and not
  // while `busy` (if given) is non-zero.
  void retire(std::shared_ptr<void> object, const std::atomic<int>* busy = nullptr);

 private:
  struct Retired {
    std::chrono::steady_clock::time_point due;
    std::shared_ptr<void> object;
    const std::atomic<int>* busy;
  };
  void run();

  const std::chrono::milliseconds grace_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::function<void()>> tasks_;
  std::deque<Retired> retired_;  // `due` is non-decreasing: grace is constant
  bool stopping_ = false;
  std::thread thread_;  // last: starts after, and is joined before, the members above go away
};

}  // namespace mqtt_bridge::detail
