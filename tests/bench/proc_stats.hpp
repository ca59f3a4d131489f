#pragma once
// What /proc says about a process (the gateway under test): CPU time, memory, sockets. Linux only.

#include <sys/types.h>

#include <cstdint>
#include <optional>

#include <string>

namespace bench {

struct ProcSample {
  double cpu_s = 0;           // utime + stime of all threads (/proc/PID/stat, clock ticks)
  double cpu_precise_s = 0;   // sum of the threads' run time in /proc/PID/task/*/schedstat (ns)
  std::uint64_t rss_kb = 0;   // VmRSS
  std::uint64_t hwm_kb = 0;   // VmHWM: peak RSS
  std::uint32_t threads = 0;
  std::uint32_t sockets = 0;  // open socket descriptors (upstream TCP connections + UDP)
};

// Nothing when the process is gone or /proc is unreadable.
std::optional<ProcSample> sample_process(pid_t pid);

// VmRSS of `pid` in kB (/proc/PID/status only: cheap enough to sample every 200 ms); nothing
// when the process is gone.
std::optional<std::uint64_t> rss_kb(pid_t pid);

// Open file descriptors of `pid` (entries of /proc/PID/fd); nothing when the process is gone.
std::optional<std::uint32_t> open_fds(pid_t pid);

// System-wide UDP counters (/proc/net/snmp): datagrams dropped because a socket's receive buffer
// was full. On a quiet machine, the delta over a run is the gateway's (and the clients') drops.
std::uint64_t udp_receive_buffer_errors();

// System-wide TCP counter (/proc/net/netstat): connections dropped because a listen queue (e.g.
// the broker's backlog) was full; their SYN is retried a second later, which dominates a storm.
std::uint64_t tcp_listen_overflows();

// Raises the soft RLIMIT_NOFILE to the hard limit; returns the soft limit now in force.
std::uint64_t raise_nofile_limit();

// CPU seconds this process and its reaped children used (getrusage), for the bench's own cost.
double own_cpu_s();

// The path of the running executable (/proc/self/exe), to start workers as copies of it.
std::string self_exe();

}  // namespace bench
