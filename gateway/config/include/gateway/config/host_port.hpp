#pragma once
// "host:port" and "[v6]:port" addresses as they appear in the config (transports[i].bind and the
// host part of upstream.uri). Parsing is purely textual: no DNS lookup ever happens here, so a
// config can be checked on a machine that cannot resolve the production names. Any thread may call.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace gateway::config {

struct HostPort {
  std::string host;  // without the brackets of a "[v6]" literal
  std::uint16_t port = 0;
  bool is_v6 = false;

  bool operator==(const HostPort&) const = default;
};

// The problem text for every shape that is not "host:port" at all (no port, no host, junk).
inline constexpr std::string_view kExpectedHostPort = R"(expected "host:port")";

// The parsed address, or the reason there is none in words a JSON path can be put in front of.
struct HostPortResult {
  std::optional<HostPort> address;
  std::string problem;
};

// Accepts "host:port" (host an IPv4 literal or an RFC 1123 hostname such as "localhost") and
// "[v6-literal]:port"; port 0..65535 (0 means "any free port" for a bind).
HostPortResult parse_host_port(std::string_view text);

// An RFC 1123 hostname: dot-separated labels of letters, digits and '-', each 1..63 octets, not
// starting or ending with '-', 253 octets at most, and a last label that is not all digits (so
// "300.1.1.1" is a bad IPv4 literal, not a hostname).
bool is_valid_hostname(std::string_view host);

// Renders back to the text form, with brackets around an IPv6 literal.
std::string to_string(const HostPort& address);

}  // namespace gateway::config
