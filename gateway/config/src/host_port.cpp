#include "gateway/config/host_port.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <charconv>
#include <string>
#include <utility>

namespace gateway::config {
namespace {

HostPortResult failure(std::string problem) { return {std::nullopt, std::move(problem)}; }

HostPortResult malformed() { return failure(std::string(kExpectedHostPort)); }

bool is_ipv4_literal(const std::string& host) {
  in_addr out{};
  return ::inet_pton(AF_INET, host.c_str(), &out) == 1;
}

bool is_ipv6_literal(const std::string& host) {
  in6_addr out{};
  return ::inet_pton(AF_INET6, host.c_str(), &out) == 1;
}

bool is_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

bool is_valid_label(std::string_view label) {
  if (label.empty() || label.size() > 63) return false;
  if (label.front() == '-' || label.back() == '-') return false;
  return std::all_of(label.begin(), label.end(), [](char c) { return is_alnum(c) || c == '-'; });
}

}  // namespace

bool is_valid_hostname(std::string_view host) {
  if (host.empty() || host.size() > 253) return false;
  std::string_view last_label;
  std::string_view rest = host;
  while (true) {
    const auto dot = rest.find('.');
    const auto label = rest.substr(0, dot);
    if (!is_valid_label(label)) return false;
    if (dot == std::string_view::npos) {
      last_label = label;
      break;
    }
    rest.remove_prefix(dot + 1);
  }
  // RFC 1123 §2.1: a top-level label is never all-numeric, which keeps "1.2.3.999" out.
  return !std::all_of(last_label.begin(), last_label.end(), is_digit);
}

HostPortResult parse_host_port(std::string_view text) {
  std::string host;
  std::string_view port_text;
  bool is_v6 = false;

  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return malformed();
    }
    host = std::string(text.substr(1, close - 1));
    port_text = text.substr(close + 2);
    is_v6 = true;
  } else {
    const auto colon = text.find(':');
    // A second ':' means an IPv6 literal without brackets; its port cannot be told apart.
    if (colon == std::string_view::npos || text.find(':', colon + 1) != std::string_view::npos) {
      return malformed();
    }
    host = std::string(text.substr(0, colon));
    port_text = text.substr(colon + 1);
  }

  if (host.empty() || port_text.empty() ||
      !std::all_of(port_text.begin(), port_text.end(), is_digit)) {
    return malformed();
  }
  unsigned long port = 0;
  const auto parsed = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (parsed.ec != std::errc{} || port > 65535) {
    return failure("port " + std::string(port_text) + " is out of range (0 to 65535)");
  }

  if (is_v6 ? !is_ipv6_literal(host) : !(is_ipv4_literal(host) || is_valid_hostname(host))) {
    return failure("\"" + host + "\" is not " +
                   (is_v6 ? "an IPv6 address" : "an IPv4 address or a hostname"));
  }
  return {HostPort{std::move(host), static_cast<std::uint16_t>(port), is_v6}, {}};
}

std::string to_string(const HostPort& address) {
  const auto port = std::to_string(address.port);
  return address.is_v6 ? "[" + address.host + "]:" + port : address.host + ":" + port;
}

}  // namespace gateway::config
