#pragma once
// A TCP listening socket on 127.0.0.1 and a free port, for the test servers (ScriptedBroker,
// TcpProxy).

#include <cstdint>

namespace test_support {

struct TcpListener {
  int fd = -1;
  std::uint16_t port = 0;
};

// Throws std::system_error naming `who` when the socket cannot be made, bound or listened on.
TcpListener listen_on_loopback(const char* who);

}  // namespace test_support
