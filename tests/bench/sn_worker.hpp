#pragma once
// A worker process: simulates clients [client_begin, client_end) over UDP on one libuv loop, one
// socket (own source port) per client. It talks to the coordinator over stdin/stdout, one line
// each way per step:
//   worker -> "ready {json}"   set-up done (uplink: connected + registered; downlink: connected +
//                              subscribed; connect-storm/idle: sockets open)
//   coord  -> "go"             start the measured phase
//   worker -> "done {json}"    the phase finished (all sent/acknowledged, all received, all
//                              connected), or its time ran out
//   coord  -> "end"            report
//   worker -> "result {json}"  counters and histograms; then DISCONNECT every client and exit
// Every wait is bounded by --timeout; a closed stdin ends the worker.

#include "options.hpp"

namespace bench {

int run_worker(const Options& options);

}  // namespace bench
