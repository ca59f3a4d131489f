#include "reaper.hpp"

#include <spdlog/spdlog.h>

#include <exception>
#include <vector>

namespace mqtt_bridge::detail {

namespace {
// How soon to look again at a retired object while one of our callbacks for it still runs (our
// callbacks take microseconds; the count itself decides, this only paces the look).
constexpr std::chrono::milliseconds kBusyRecheck{1};
}  // namespace

Reaper::Reaper() : thread_([this] { run(); }) {}

Reaper::~Reaper() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void Reaper::post(std::function<void()> task) {
  {
    std::lock_guard lock(mutex_);
    tasks_.push_back(std::move(task));
  }
  wake_.notify_all();
}

void Reaper::retire(std::shared_ptr<void> object, const std::atomic<int>* busy) {
  {
    std::lock_guard lock(mutex_);
    retired_.push_back({std::move(object), busy});
  }
  wake_.notify_all();
}

void Reaper::run() {
  std::unique_lock lock(mutex_);
  for (;;) {
    if (tasks_.empty() && retired_.empty() && stopping_) return;
    if (tasks_.empty()) {
      if (retired_.empty()) {
        wake_.wait(lock);
      } else {
        wake_.wait_for(lock, kBusyRecheck);  // only a busy object is left
      }
    }

    std::deque<std::function<void()>> tasks;
    tasks.swap(tasks_);
    // Retired before the tasks just taken ran: those tasks may still use them, so they go after.
    std::deque<Retired> retired;
    retired.swap(retired_);

    lock.unlock();
    for (auto& task : tasks) {
      // A task reports its own failures as events, so a throw here is a bug (or out of memory):
      // say so, and keep this thread alive for the tasks and retired objects that follow.
      try {
        task();
      } catch (const std::exception& e) {
        spdlog::error("mqtt_bridge reaper: a follow-up Paho step threw and was abandoned: {}",
                      e.what());
      } catch (...) {
        spdlog::error("mqtt_bridge reaper: a follow-up Paho step threw and was abandoned");
      }
    }
    tasks.clear();
    std::deque<Retired> still_busy;
    for (auto& entry : retired) {
      if (entry.busy != nullptr && entry.busy->load(std::memory_order_acquire) != 0) {
        still_busy.push_back(std::move(entry));
      } else {
        entry.object.reset();  // the destructor runs here, outside our lock
      }
    }
    lock.lock();
    // Busy ones keep their place ahead of anything retired meanwhile.
    for (auto it = still_busy.rbegin(); it != still_busy.rend(); ++it) retired_.push_front(std::move(*it));
  }
}

}  // namespace mqtt_bridge::detail
