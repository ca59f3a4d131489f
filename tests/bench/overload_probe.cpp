#include "overload_probe.hpp"

#include <signal.h>

#include <sstream>

#include "child_process.hpp"
#include "proc_stats.hpp"

namespace bench {
namespace {

constexpr const char* kStatsMark = "stats: ";

std::size_t count_marks(const std::string& log) {
  std::size_t n = 0;
  for (auto at = log.find(kStatsMark); at != std::string::npos; at = log.find(kStatsMark, at + 1)) ++n;
  return n;
}

}  // namespace

RssSampler::RssSampler(pid_t pid, std::chrono::milliseconds period)
    : pid_(pid), period_(period), thread_([this] { loop(); }) {}

RssSampler::~RssSampler() { stop(); }

void RssSampler::loop() {
  auto next = std::chrono::steady_clock::now();
  for (;;) {
    const auto rss = rss_kb(pid_);
    {
      const std::lock_guard lock(mutex_);
      if (rss) samples_.push_back(*rss);
      if (stopping_) return;
    }
    next += period_;
    std::this_thread::sleep_until(next);
  }
}

std::vector<std::uint64_t> RssSampler::stop() {
  {
    const std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
  const std::lock_guard lock(mutex_);
  return samples_;
}

std::optional<GatewayStats> parse_stats_line(const std::string& log_line) {
  const auto at = log_line.find(kStatsMark);
  if (at == std::string::npos) return std::nullopt;
  std::istringstream words(log_line.substr(at + std::char_traits<char>::length(kStatsMark)));
  GatewayStats out;
  for (std::string word; words >> word;) {
    const auto eq = word.find('=');
    if (eq == std::string::npos || eq == 0) continue;
    try {
      out[word.substr(0, eq)] = std::stoull(word.substr(eq + 1));
    } catch (const std::exception&) {
      // not a counter: skip the word
    }
  }
  return out;
}

std::optional<GatewayStats> request_stats(const GatewayProcess& gateway, std::chrono::milliseconds timeout) {
  const std::size_t before = count_marks(gateway.log());
  if (::kill(gateway.pid(), SIGUSR1) != 0) return std::nullopt;
  const auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    const std::string log = gateway.log();
    if (count_marks(log) > before) {
      const auto at = log.rfind(kStatsMark);
      const auto end = log.find('\n', at);
      return parse_stats_line(log.substr(at, end == std::string::npos ? std::string::npos : end - at));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return std::nullopt;
}

}  // namespace bench
