#pragma once
// The real build/bin/mqttsn-gateway as a child process, with a generated config: bound to a free
// UDP port on 127.0.0.1, pointed at a test broker. Ready once it answers SEARCHGW with GWINFO.

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace test_support {

// "transparent", or what $MQTTSN_TEST_MODE says.
std::string default_mode();
// "paho", or what $MQTTSN_TEST_CLIENT says (ctest runs the suites once per upstream client).
std::string default_client();

struct GatewayOptions {
  std::string upstream_uri;
  // $MQTTSN_TEST_MODE when set (ctest runs the end-to-end suites once per mode), else transparent.
  std::string mode = default_mode();
  // upstream.client: $MQTTSN_TEST_CLIENT when set, else paho.
  std::string client = default_client();
  // upstream.mqtt_version: 4 writes "3.1.1", 5 writes "5".
  int mqtt_version = 4;
  int retry_interval_ms = 500;
  int retry_max_attempts = 2;
  bool qos_minus_one = true;
  int max_clients = 10000;
  std::string client_id_prefix;
  // More members of "upstream", written verbatim, e.g. R"("reconnect_min_ms": 200)".
  std::string upstream_extra;
  std::string log_level = "debug";
  // More top-level members, written verbatim, e.g. R"("auth": {"allowed_clients": ["a"]})".
  std::string extra_sections;
  // More transports after the UDP one (which stays transports[0]: readiness is checked over
  // it), written verbatim, e.g. R"({"type": "serial", "device": "/tmp/x"})".
  std::vector<std::string> extra_transports;
  // The UDP port of transports[0]; 0: a free one. A gateway started again for the same clients
  // (persistence) takes the port of the one before.
  std::uint16_t port = 0;
  // Wait for readiness at all; false: the caller checks start-up itself (wait_exit()).
  bool wait_ready = true;
  // More environment for the gateway process, "NAME=value" each (e.g. NOTIFY_SOCKET).
  std::vector<std::string> environment;
  // Set JOURNAL_STREAM to the device and inode of the gateway's stderr, as systemd does for a
  // service whose output goes to journald.
  bool journal_stream = false;
};

class GatewayProcess {
 public:
  // Starts the gateway and waits (<= 10 s) until it answers; throws std::runtime_error with the
  // gateway's log when it does not.
  explicit GatewayProcess(GatewayOptions options);
  GatewayProcess(const GatewayProcess&) = delete;
  GatewayProcess& operator=(const GatewayProcess&) = delete;
  ~GatewayProcess();  // stops our own process (by PID) if still running

  std::uint16_t port() const { return port_; }
  // The configuration file the gateway was started with (a reload reads it again).
  std::filesystem::path config_file() const { return dir_ / "gateway.json"; }
  // SIGTERM, then wait up to `timeout`; the exit status (exit code, or 128 + signal), -1 if it
  // had to be killed.
  int stop(std::chrono::milliseconds timeout = std::chrono::milliseconds(10000));
  std::string log() const;
  // Sends `signal` to our gateway process (by its PID), if it runs.
  void signal(int signal) const;
  // Waits until `text` appears in the log; false at the deadline.
  bool wait_for_log(const std::string& text,
                    std::chrono::milliseconds timeout = std::chrono::milliseconds(10000)) const;
  // Waits for the process to exit by itself; its status as stop() reports it, -1 at the deadline
  // (the process keeps running).
  int wait_exit(std::chrono::milliseconds timeout);

 private:
  std::filesystem::path dir_;
  std::uint16_t port_ = 0;
  pid_t pid_ = -1;
};

// A UDP port on 127.0.0.1 that nothing is bound to right now.
std::uint16_t free_udp_port();

}  // namespace test_support
