// The integration tests' main: doctest's, plus two options of ours that pick the configuration
// the gateway and the Upstream tests run with (tests/integration/CMakeLists.txt registers the
// suites once per combination):
//   --mqttsn-mode=transparent|aggregating   sets MQTTSN_TEST_MODE   (support/gateway_process.hpp)
//   --mqttsn-client=paho|native             sets MQTTSN_TEST_CLIENT (support/upstream_factory.hpp)
// They are options rather than ctest ENVIRONMENT entries because doctest.cmake passes test
// properties on as a flat list, which splits a list value of two variables.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstdlib>
#include <string_view>

int main(int argc, char** argv) {
  constexpr std::string_view kMode = "--mqttsn-mode=";
  constexpr std::string_view kClient = "--mqttsn-client=";
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg.starts_with(kMode)) ::setenv("MQTTSN_TEST_MODE", argv[i] + kMode.size(), 1);
    if (arg.starts_with(kClient)) ::setenv("MQTTSN_TEST_CLIENT", argv[i] + kClient.size(), 1);
  }
  doctest::Context context(argc, argv);
  return context.run();
}
