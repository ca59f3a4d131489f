#include "proc_stats.hpp"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <array>
#include <fstream>
#include <sstream>
#include <string>

#include <stdexcept>

namespace bench {
namespace {

std::optional<std::string> read_all(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

std::uint64_t status_kb(const std::string& status, const std::string& key) {
  const auto at = status.find(key + ":");
  if (at == std::string::npos) return 0;
  return std::stoull(status.substr(at + key.size() + 1));
}

}  // namespace

std::optional<std::uint64_t> rss_kb(pid_t pid) {
  const auto status = read_all("/proc/" + std::to_string(pid) + "/status");
  if (!status || status->find("VmRSS:") == std::string::npos) return std::nullopt;
  return status_kb(*status, "VmRSS");
}

std::optional<ProcSample> sample_process(pid_t pid) {
  const std::string base = "/proc/" + std::to_string(pid);
  const auto stat = read_all(base + "/stat");
  const auto status = read_all(base + "/status");
  if (!stat || !status) return std::nullopt;
  ProcSample s;
  // The command name (field 2) may hold spaces; the fields after its ')' are plain numbers.
  const auto close = stat->rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream fields(stat->substr(close + 2));
  std::array<std::string, 13> skip;  // fields 3..15: state .. stime
  for (auto& f : skip) fields >> f;
  const double ticks = static_cast<double>(::sysconf(_SC_CLK_TCK));
  s.cpu_s = (std::stod(skip[11]) + std::stod(skip[12])) / ticks;
  s.rss_kb = status_kb(*status, "VmRSS");
  s.hwm_kb = status_kb(*status, "VmHWM");
  s.threads = static_cast<std::uint32_t>(status_kb(*status, "Threads"));

  if (DIR* tasks = ::opendir((base + "/task").c_str())) {
    std::uint64_t ns = 0;
    while (const dirent* entry = ::readdir(tasks)) {
      if (entry->d_name[0] == '.') continue;
      if (const auto sched = read_all(base + "/task/" + entry->d_name + "/schedstat")) {
        ns += std::stoull(*sched);
      }
    }
    ::closedir(tasks);
    s.cpu_precise_s = static_cast<double>(ns) / 1e9;
  }
  if (DIR* fds = ::opendir((base + "/fd").c_str())) {
    std::array<char, 64> target{};
    while (const dirent* entry = ::readdir(fds)) {
      if (entry->d_name[0] == '.') continue;
      const std::string link = base + "/fd/" + entry->d_name;
      const auto n = ::readlink(link.c_str(), target.data(), target.size() - 1);
      if (n > 7 && std::string(target.data(), 7) == "socket:") ++s.sockets;
    }
    ::closedir(fds);
  }
  return s;
}

std::optional<std::uint32_t> open_fds(pid_t pid) {
  DIR* fds = ::opendir(("/proc/" + std::to_string(pid) + "/fd").c_str());
  if (fds == nullptr) return std::nullopt;
  std::uint32_t n = 0;
  while (const dirent* entry = ::readdir(fds)) {
    if (entry->d_name[0] != '.') ++n;
  }
  ::closedir(fds);
  return n;
}

namespace {

// A counter of /proc/net/snmp or /proc/net/netstat: two lines starting with `prefix`, the field
// names, then the values.
std::uint64_t proc_net_counter(const char* file, const std::string& prefix, const std::string& field) {
  std::ifstream in(file);
  std::string line, names;
  while (std::getline(in, line)) {
    if (line.rfind(prefix, 0) != 0) continue;
    if (names.empty()) {
      names = line;
      continue;
    }
    std::istringstream n(names), v(line);
    std::string name, value;
    while (n >> name && v >> value) {
      if (name == field) return std::stoull(value);
    }
    return 0;
  }
  return 0;
}

}  // namespace

std::uint64_t udp_receive_buffer_errors() {
  return proc_net_counter("/proc/net/snmp", "Udp: ", "RcvbufErrors");
}

std::uint64_t tcp_listen_overflows() {
  return proc_net_counter("/proc/net/netstat", "TcpExt: ", "ListenOverflows");
}

std::uint64_t raise_nofile_limit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return 1024;
  if (limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &limit);
    ::getrlimit(RLIMIT_NOFILE, &limit);
  }
  return limit.rlim_cur;
}

double own_cpu_s() {
  double total = 0;
  for (const int who : {RUSAGE_SELF, RUSAGE_CHILDREN}) {
    rusage usage{};
    ::getrusage(who, &usage);
    total += static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
             static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
  }
  return total;
}

std::string self_exe() {
  std::string path(4096, '\0');
  const auto n = ::readlink("/proc/self/exe", path.data(), path.size() - 1);
  if (n <= 0) throw std::runtime_error("cannot read /proc/self/exe");
  path.resize(static_cast<std::size_t>(n));
  return path;
}

}  // namespace bench
