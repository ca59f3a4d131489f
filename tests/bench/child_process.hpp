#pragma once
// Child processes of the bench, always ended by their own PID: workers (copies of mqttsn-bench
// talking line by line over stdin/stdout) and the gateway under test.

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace bench {

using Clock = std::chrono::steady_clock;

class Child {
 public:
  // Starts `exe args...`. With `pipes`, the child's stdin and stdout are pipes to us (its stderr is
  // ours); otherwise its stdout and stderr go to `log_file` and stdin is /dev/null.
  // Throws std::runtime_error when the process cannot be started.
  Child(const std::string& exe, const std::vector<std::string>& args, bool pipes,
        const std::filesystem::path& log_file = {});
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  ~Child();  // stop() if still running

  pid_t pid() const { return pid_; }
  bool send_line(const std::string& line);
  // The next line the child printed, without its newline; nothing at the deadline or on EOF.
  std::optional<std::string> read_line(Clock::time_point deadline);
  // Polls whether the child has exited (reaps it); its status (exit code or 128 + signal).
  std::optional<int> exited();
  // SIGTERM (unless `wait_first`: wait `grace` for it to exit by itself first), then SIGKILL after
  // `grace`; reaps. The exit status, or -1 if it had to be killed.
  int stop(std::chrono::milliseconds grace, bool wait_first = false);

  int out_fd() const { return out_fd_; }
  // The number in the last "progress N" line the child printed (such lines are never returned
  // by wait_for_word).
  std::uint64_t progress() const { return progress_; }
  void note_progress(std::uint64_t value) { progress_ = value; }
  // Lines already buffered (read_line takes from here first).
  bool has_buffered_line() const;

 private:
  pid_t pid_ = -1;
  int in_fd_ = -1;
  int out_fd_ = -1;
  std::string buffer_;
  std::optional<int> status_;
  std::uint64_t progress_ = 0;
};

// Waits until each child printed a line starting with `word ` (or equal to `word`); fills `found`
// (index-aligned with `children`, entries already set are kept) with the rest of each such line.
// Returns true when every child answered, false at the deadline. Other lines are dropped, except
// "progress N" which updates Child::progress().
bool wait_for_word(const std::vector<Child*>& children, const std::string& word,
                   Clock::time_point deadline, std::vector<std::optional<std::string>>& found);

// A UDP port on 127.0.0.1 that nothing is bound to right now.
std::uint16_t free_udp_port();

// The gateway under test, started with a config we write: UDP on 127.0.0.1:<free port>, upstream
// `broker`. Ready once it answers SEARCHGW with GWINFO.
struct GatewayLaunch {
  std::string binary;
  std::string broker;
  std::string mode = "transparent";
  std::string client = "paho";  // upstream.client; "paho" (the gateway's default) is not written
  std::string log_level = "warn";
  std::string persistence = "none";  // persistence.durability of a store in the scratch dir, or none
  // false: max_connecting and the per-address CONNECT rate are lifted (every bench client shares
  // 127.0.0.1); true: the gateway's defaults, as a deployment runs (the flood bench).
  bool default_limits = false;
  // A DTLS transport (PSK kDtlsIdentity/kDtlsKey, any ClientId) beside the UDP one.
  bool dtls = false;
};

// The PSK every DTLS bench client uses (the gateway takes any ClientId over it).
inline constexpr const char* kDtlsIdentity = "bench";
inline constexpr const char* kDtlsKey = "0f1e2d3c4b5a69788796a5b4c3d2e1f0";

class GatewayProcess {
 public:
  // Throws std::runtime_error (with the gateway's log) when it exits or does not answer in 10 s.
  explicit GatewayProcess(const GatewayLaunch& launch);
  ~GatewayProcess();
  GatewayProcess(const GatewayProcess&) = delete;
  GatewayProcess& operator=(const GatewayProcess&) = delete;

  pid_t pid() const { return child_->pid(); }
  std::uint16_t port() const { return port_; }
  std::uint16_t dtls_port() const { return dtls_port_; }  // 0 without a DTLS transport
  std::string log() const;
  const std::filesystem::path& config_file() const { return config_; }
  int stop();

 private:
  std::filesystem::path dir_;
  std::filesystem::path config_;
  std::uint16_t port_ = 0;
  std::uint16_t dtls_port_ = 0;
  std::unique_ptr<Child> child_;
};

// True when a gateway at 127.0.0.1:port answers SEARCHGW (radius 0) with GWINFO within `timeout`.
bool gateway_answers(const std::string& host, std::uint16_t port, std::chrono::milliseconds timeout);

}  // namespace bench
