#pragma once
// One helper thread per PahoUpstream. It does the two things neither the loop thread nor a Paho
// callback thread may do:
//  - run follow-up Paho calls decided inside a callback (e.g. "connected, but a disconnect was
//    asked for meanwhile": disconnect now). Paho runs its callbacks with its global mutex held,
//    and calling back into Paho from there is not safe;
//  - destroy finished connections. A Paho client must not be destroyed inside one of its
//    callbacks (MQTTAsync.h), and destruction takes Paho's global mutex, which is why it stays off
//    the loop.
//
// Why destroying a retired client needs no grace period. In Paho C 1.3.12 (MQTTAsync.c,
// MQTTAsyncUtils.c) every user callback is dispatched with `mqttasync_mutex` held: the receive
// thread drops it only around MQTTAsync_cycle()'s select, takes it again inside it for message
// arrival, deliveryComplete and the publish acknowledgements, and holds it across the connect,
// SUBACK/UNSUBACK and connectionLost dispatches; the send thread holds it across
// MQTTAsync_processCommand() and MQTTAsync_checkTimeouts(). Whatever Paho does after our
// listener returns (Paho C++'s token::on_success -> async_client::remove_token(), Paho C freeing
// the command, relisting the message queue) happens before that thread releases the mutex.
// MQTTAsync_destroy() -- the first statement of ~async_client -- takes the same mutex for all of
// its work and removes the client from Paho's list of handles, so once it returns no Paho thread
// runs or will run anything for that client. The conditions this rests on:
//  - the destroying thread is not a Paho thread and not inside a Paho callback (this thread);
//  - no callback of ours calls a Paho function that takes the global mutex (is_connected(),
//    reconnect(), set_callback()...): it is an error-checking mutex, the relock would fail and
//    its unlock would release the dispatch's hold. Our callbacks only post follow-up calls here;
//  - what the callbacks reach outlives the client: the client is the Connection's last member
//    (destroyed first, while the listener and everything it touches still live), and the
//    PahoUpstream outlives this reaper.
// The only wait left is for our own side: a retired object is destroyed once no callback of
// ours is running for it (`busy`, counted exactly), so no callback holds the last reference.

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
  Reaper();
  Reaper(const Reaper&) = delete;
  Reaper& operator=(const Reaper&) = delete;
  // Runs every queued task, destroys every retired object once it is not busy, joins.
  ~Reaper();

  // Any thread. The task runs on the reaper thread, never under the caller's locks.
  void post(std::function<void()> task);
  // Any thread. `object` is destroyed on the reaper thread (if this is its last reference),
  // after the tasks posted before it, and not while `busy` (if given) is non-zero.
  void retire(std::shared_ptr<void> object, const std::atomic<int>* busy = nullptr);

 private:
  struct Retired {
    std::shared_ptr<void> object;
    const std::atomic<int>* busy;
  };
  void run();

  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::function<void()>> tasks_;
  std::deque<Retired> retired_;
  bool stopping_ = false;
  std::thread thread_;  // last: starts after, and is joined before, the members above go away
};

}  // namespace mqtt_bridge::detail
