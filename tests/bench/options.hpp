#pragma once
// Command line of mqttsn-bench. The same structure drives the coordinator (the process the user
// starts) and its workers (copies of the executable it starts with --worker and a client range):
// worker_args() turns the options back into the argument list a worker parses.

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace bench {

enum class Scenario : std::uint8_t { uplink, downlink, connect_storm, idle, baseline, broker_storm, overload, soak };

const char* to_string(Scenario scenario);

struct Options {
  Scenario scenario = Scenario::uplink;
  // A CONNECT flood during the run: this many UDP sockets on 127.0.0.10 (a spoofer's source
  // ports) sending CONNECTs with ClientIds of their own at flood_rate a second, never answering.
  std::uint32_t flood_ports = 0;
  std::uint32_t flood_rate = 5000;
  bool default_limits = false;
  bool dtls = false;  // clients speak DTLS 1.2 (PSK) to a DTLS transport of the gateway  // --start-gateway with the gateway's own flood limits
  std::uint32_t clients = 1;         // N simulated MQTT-SN clients (MQTT clients for baseline, broker-storm)
  std::uint32_t messages = 100;      // M per client
  std::uint32_t size = 32;           // S payload octets
  int qos = 1;                       // 0, 1 or 2
  double rate = 0;                   // total msgs/s (connects/s for connect-storm); 0 = max speed
  double timeout_s = 60;             // bound on one run, set-up included
  int runs = 1;
  std::uint32_t workers = 0;         // 0 = as few as the descriptor limit allows
  std::uint32_t max_clients_per_worker = 0;  // 0 = from RLIMIT_NOFILE
  std::string gateway = "127.0.0.1:1884";    // UDP address of the gateway under test
  pid_t gateway_pid = 0;             // measure this gateway process (CPU, RSS)
  bool start_gateway = false;        // start our own gateway with a generated config
  std::string gateway_bin;           // default: mqttsn-gateway beside this executable
  std::string mode = "transparent";  // gateway.mode of the generated config
  std::string client = "paho";       // upstream.client of the generated config ("paho": key left out)
  std::string as_client;             // the client named in the JSON when not --client (a reference build)
  bool fresh_gateway = false;        // --start-gateway: a new gateway for every run, not one per invocation
  std::string perf_file;             // perf record of the gateway during one extra, unmeasured run
  std::string gateway_log_level = "warn";
  std::string broker = "tcp://127.0.0.1:1883";
  std::string json_file;             // append one JSON line per run and one summary line
  std::string label;                 // free text copied into the JSON
  std::uint32_t keepalive_s = 60;    // CONNECT Duration of the simulated clients
  bool clean_session = true;         // CONNECT CleanSession of the simulated clients
  std::string persistence = "none";  // --start-gateway: persistence.durability, or none (no store)
  double duration_s = 10;            // idle: how long the connected clients are held; overload: how long they send
  double baseline_per_s = 0;         // overload: broker-only QoS 0 msgs/s the rate was derived from (recorded only)
  std::uint32_t retry_ms = 3000;     // client retransmission timeout (MQTT-SN T_retry)
  std::uint32_t retries = 3;         // N_retry
  std::uint32_t connect_window = 512;  // outstanding CONNECTs per worker
  int sub_qos = 0;                   // QoS of the counting subscriber's subscription (0 or 1)
  std::uint32_t down_window = 1000;  // downlink publisher: messages in flight
  std::uint32_t drain_ms = 3000;     // end a run when nothing arrived for this long
  bool quiet = false;                // no table on stdout
  bool expect_no_loss = false;       // exit 1 when a run lost a message or timed out
  pid_t broker_pid = 0;              // also measure the broker's CPU (e.g. mosquitto)

  // soak (issue 12 §7): --rate is the total uplink msgs/s, --duration-s the traffic phase.
  double down_rate = 100;            // total downlink msgs/s published on the broker side
  double sample_s = 5;               // gateway RSS / open fds sampled this often
  double warmup_s = 60;              // samples before go + warm-up stay out of the slope
  double drain_s = 60;               // after the traffic phase: bound on delivering what is owed
  double rss_slope_tol_kib_min = 128;  // |RSS slope| at most this: "flat"
  std::string keep_gateway_log;      // soak: copy the started gateway's log here at the end
  double fd_slope_tol_min = 2;       // |open fds slope| at most this: "flat"

  // Worker mode (internal): serve clients [client_begin, client_end) of run `tag`.
  bool worker = false;
  std::uint32_t client_begin = 0;
  std::uint32_t client_end = 0;
  std::string tag;
};

// Parses argv; on --help or a usage error prints and exits (status 0 or 2).
Options parse_options(int argc, char** argv);

// The arguments a worker for clients [begin, end) of run `tag` is started with.
std::vector<std::string> worker_args(const Options& options, std::uint32_t begin, std::uint32_t end,
                                     const std::string& tag);

}  // namespace bench
