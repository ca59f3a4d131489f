// mqttsn-gateway: command line, configuration and logging set-up. Exit status 0 on success, 2 on
// bad usage or an invalid/unreadable configuration (DESIGN.md, "Contracts other tools rely on").
// --config hands the loaded configuration to gateway::app::Runtime, which serves until SIGTERM.

#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <exception>
#include <memory>
#include <optional>
#include <iostream>
#include <string>
#include <utility>

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>

#include "gateway/config/config.hpp"
#include "runtime.hpp"

namespace {

namespace cfg = gateway::config;

constexpr int kExitOk = 0;
constexpr int kExitUsage = 2;  // bad arguments or bad configuration: the caller must fix something

struct Options {
  std::string config_file;
  std::string check_file;
  std::string print_file;
  std::string log_level;
};

spdlog::level::level_enum to_spdlog(cfg::LogLevel level) {
  switch (level) {
    case cfg::LogLevel::trace: return spdlog::level::trace;
    case cfg::LogLevel::debug: return spdlog::level::debug;
    case cfg::LogLevel::info: return spdlog::level::info;
    case cfg::LogLevel::warn: return spdlog::level::warn;
    case cfg::LogLevel::error: return spdlog::level::err;
  }
  return spdlog::level::info;
}

cfg::LogLevel log_level_from_name(const std::string& name) {
  for (const auto level : {cfg::LogLevel::trace, cfg::LogLevel::debug, cfg::LogLevel::info,
                           cfg::LogLevel::warn, cfg::LogLevel::error}) {
    if (cfg::to_string(level) == name) return level;
  }
  return cfg::LogLevel::info;  // unreachable: CLI11 checked the name against the same list
}

// Whether stderr is connected to journald: systemd sets JOURNAL_STREAM to "device:inode" of the
// stream it gave the service (systemd.exec(5)); a redirected stderr no longer matches.
bool stderr_is_journal() {
  const char* stream = std::getenv("JOURNAL_STREAM");
  if (stream == nullptr) return false;
  unsigned long long device = 0;
  unsigned long long inode = 0;
  if (std::sscanf(stream, "%llu:%llu", &device, &inode) != 2) return false;
  struct stat st {};
  if (::fstat(STDERR_FILENO, &st) != 0) return false;
  return static_cast<unsigned long long>(st.st_dev) == device &&
         static_cast<unsigned long long>(st.st_ino) == inode;
}

// "<N>": the syslog priority of a line, which journald reads off the front of each line of a
// service's stream (sd-daemon(3)) and shows as the line's priority.
class SyslogPriority final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    const char* prefix = "<6>";  // info
    switch (msg.level) {
      case spdlog::level::trace:
      case spdlog::level::debug: prefix = "<7>"; break;
      case spdlog::level::info: prefix = "<6>"; break;
      case spdlog::level::warn: prefix = "<4>"; break;
      case spdlog::level::err: prefix = "<3>"; break;
      case spdlog::level::critical: prefix = "<2>"; break;
      default: break;
    }
    dest.append(prefix, prefix + 3);
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<SyslogPriority>();
  }
};

// Logs go to stderr so that stdout carries only data (the effective config, "FILE: ok"). Under
// journald a line is "<priority>message": the journal keeps its own time stamp and level.
void set_up_logging(cfg::LogLevel level) {
  auto logger = spdlog::stderr_color_mt("mqttsn-gateway");
  if (stderr_is_journal()) {
    auto formatter = std::make_unique<spdlog::pattern_formatter>();
    formatter->add_flag<SyslogPriority>('*').set_pattern("%*%v");
    logger->set_formatter(std::move(formatter));
  }
  spdlog::set_default_logger(std::move(logger));
  spdlog::set_level(to_spdlog(level));
}

int check_config(const std::string& file) {
  try {
    cfg::load_config_file(file);
  } catch (const cfg::ConfigError& error) {
    std::cerr << error.what() << '\n';
    return kExitUsage;
  }
  std::cout << file << ": ok\n";
  return kExitOk;
}

// Loads the file named by --config or --print-config, applies --log-level; nothing on error
// (already reported on stderr).
std::optional<cfg::Config> load(const std::string& file, const Options& options) {
  cfg::Config config;
  try {
    config = cfg::load_config_file(file);
  } catch (const cfg::ConfigError& error) {
    std::cerr << error.what() << '\n';
    return std::nullopt;
  }
  if (!options.log_level.empty()) config.log_level = log_level_from_name(options.log_level);
  set_up_logging(config.log_level);
  spdlog::info("configuration loaded from {}", file);
  return config;
}

int print_config(const Options& options) {
  const auto config = load(options.print_file, options);
  if (!config) return kExitUsage;
  std::cout << cfg::render_config(*config) << std::endl;
  return kExitOk;
}

// Every UDP/serial/Bluetooth client costs no descriptor, but each upstream connection in
// transparent mode is a socket (plus Paho's own): raise the soft limit to the hard one.
void raise_file_limit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur >= limit.rlim_max) return;
  const auto before = limit.rlim_cur;
  limit.rlim_cur = limit.rlim_max;
  if (::setrlimit(RLIMIT_NOFILE, &limit) == 0) {
    spdlog::debug("open file limit raised from {} to {}", before, limit.rlim_cur);
  }
}

int run(const Options& options) {
  const auto config = load(options.config_file, options);
  if (!config) return kExitUsage;
  raise_file_limit();
  // SIGHUP: the same file, and --log-level still overrides it.
  const auto reload = [file = options.config_file, level = options.log_level] {
    cfg::Config next = cfg::load_config_file(file);
    if (!level.empty()) next.log_level = log_level_from_name(level);
    return next;
  };
  try {
    gateway::app::Runtime runtime(*config, reload);
    return runtime.run();
  } catch (const std::exception& error) {
    // Start-up failures (a port in use, a URI the MQTT library refuses) are the caller's to fix.
    spdlog::error("cannot start: {}", error.what());
    return kExitUsage;
  }
}

int gateway_main(int argc, char** argv) {
  CLI::App app{"MQTT-SN v1.2 gateway: relays MQTT-SN clients to an MQTT broker.", "mqttsn-gateway"};
  app.footer(R"(Example: UDP nodes on port 1884 in front of a broker on this machine.
  cat > gateway.json <<'END'
  {
    "gateway": { "id": 1, "mode": "transparent" },
    "upstream": { "uri": "tcp://127.0.0.1:1883" },
    "transports": [ { "type": "udp", "bind": "0.0.0.0:1884" } ],
    "topics": { "predefined": [ { "id": 1, "name": "sensors/temperature" } ] }
  }
  END
  mqttsn-gateway --check-config gateway.json
  mqttsn-gateway --config gateway.json &
  mosquitto_sub -t 'demo/#' -v &
  mqttsn-pub -p 1884 -t demo/kitchen -m 21.5 -q 1     # mosquitto_sub prints: demo/kitchen 21.5

Signals: SIGTERM/SIGINT stop cleanly (no wills); SIGHUP reloads log.level, auth.allowed_clients,
auth.allow_qos_minus_one_from, auth.acl, topics.predefined and stats.interval_s (other changes
are logged as needing a restart); SIGUSR1 writes every counter to the log.
Every key: configs/README.md (installed: /usr/share/doc/mqttsn-gateway/configuration.md).
Exit status: 0 success, 2 bad usage or invalid configuration.)");
  app.set_version_flag("--version", "mqttsn-gateway " MQTTSN_VERSION);

  Options options;
  auto* config_option =
      app.add_option("--config", options.config_file, "Run with this JSON configuration file")
          ->type_name("FILE");
  auto* check_option = app.add_option("--check-config", options.check_file,
                                      "Validate this JSON configuration file and exit")
                           ->type_name("FILE");
  auto* print_option = app.add_option("--print-config", options.print_file,
                                      "Print the effective configuration (defaults filled in) and exit")
                           ->type_name("FILE");
  config_option->excludes(check_option)->excludes(print_option);
  check_option->excludes(print_option);
  app.add_option("--log-level", options.log_level, "Override log.level of the configuration")
      ->type_name("LEVEL")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}));

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    // CLI11 has its own exit code per error kind; our contract is 2 for every usage error.
    return app.exit(error) == kExitOk ? kExitOk : kExitUsage;
  }

  if (check_option->count() > 0) return check_config(options.check_file);
  if (print_option->count() > 0) return print_config(options);
  if (config_option->count() > 0) return run(options);
  std::cerr << "mqttsn-gateway: --config FILE, --check-config FILE or --print-config FILE is required\n"
            << "Run with --help for more information.\n";
  return kExitUsage;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return gateway_main(argc, argv);
  } catch (const std::exception& error) {
    // Start-up failures outside config loading (e.g. the logger) are still the edge (DESIGN.md):
    // report them and exit 2 rather than terminate with a core dump.
    std::cerr << "mqttsn-gateway: " << error.what() << '\n';
    return kExitUsage;
  }
}
