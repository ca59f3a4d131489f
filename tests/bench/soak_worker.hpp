#pragma once
// The worker of the soak scenario (issue 12 §7): clients [client_begin, client_end) over UDP on
// one libuv loop, plus, on the same loop, two plain-socket MQTT connections to the broker: the
// subscriber that checks uplink arrivals and the publisher of the downlink. Keeping the publisher
// beside the clients lets it know, at the moment it publishes, whether the client is owed the
// message (see "What must arrive" in README.md). Same line protocol as sn_worker.hpp:
//   worker -> "ready {json}", coord -> "go", worker -> "progress N"..., worker -> "done {json}",
//   coord -> "end", worker -> "result {json}".
// The traffic phase lasts --duration-s; the drain after it at most --drain-s; every wait is also
// bounded by --timeout.

#include "options.hpp"

namespace bench {

int run_soak_worker(const Options& options);

}  // namespace bench
