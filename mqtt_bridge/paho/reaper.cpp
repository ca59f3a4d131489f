#include "reaper.hpp"

#include <spdlog/spdlog.h>

#include <exception>
#include <vector>

namespace mqtt_bridge::detail {

namespace {
// How soon to look again at a retired object whose callback is still running.
constexpr std::chrono::milliseconds kBusyRecheck{10};
}  // namespace

Reaper::Reaper(std::chrono::milliseconds grace) : grace_(grace), thread_([this] { run(); }) {}

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
    retired_.push_back({std::chrono::steady_clock::now() + grace_, std::move(object), busy});
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
        wake_.wait_until(lock, retired_.front().due);
      }
    }

    std::deque<std::function<void()>> tasks;
    tasks.swap(tasks_);
    std::vector<std::shared_ptr<void>> dead;
    const auto now = std::chrono::steady_clock::now();
    while (!retired_.empty() && retired_.front().due <= now) {
      Retired& front = retired_.front();
      if (front.busy != nullptr && front.busy->load(std::memory_order_acquire) != 0) {
        front.due = now + kBusyRecheck;  // keeps `due` ordered enough: later entries are >= now
        break;
      }
      dead.push_back(std::move(front.object));
      retired_.pop_front();
    }

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
    dead.clear();  // the destructors run here, outside our lock
    lock.lock();
  }
}

}  // namespace mqtt_bridge::detail
