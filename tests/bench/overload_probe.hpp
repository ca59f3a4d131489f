#pragma once
// What the overload scenario watches in the gateway besides its CPU: its resident memory over the
// whole measured phase, and its own counters (dumped to its log on SIGUSR1).

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace bench {

class GatewayProcess;

// Samples VmRSS of one process every `period` on a thread of its own, from construction until
// stop() (or destruction). Every method is called from the thread that constructed it.
class RssSampler {
 public:
  RssSampler(pid_t pid, std::chrono::milliseconds period);
  ~RssSampler();
  RssSampler(const RssSampler&) = delete;
  RssSampler& operator=(const RssSampler&) = delete;

  // Stops sampling (after one last sample) and returns the samples in kB, oldest first.
  std::vector<std::uint64_t> stop();

 private:
  void loop();

  pid_t pid_;
  std::chrono::milliseconds period_;
  std::mutex mutex_;
  bool stopping_ = false;
  std::vector<std::uint64_t> samples_;
  std::thread thread_;
};

using GatewayStats = std::map<std::string, std::uint64_t>;

// "stats: a/b=1 c=2 ..." (the gateway's SIGUSR1 line, anywhere in `log_line`) as name -> value;
// nothing when the line has no such text.
std::optional<GatewayStats> parse_stats_line(const std::string& log_line);

// Sends SIGUSR1 to the gateway and waits (at most `timeout`) for the new "stats:" line in its log;
// its counters, or nothing (gateway gone, log level above info, or no answer in time).
std::optional<GatewayStats> request_stats(const GatewayProcess& gateway, std::chrono::milliseconds timeout);

}  // namespace bench
